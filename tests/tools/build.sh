#!/usr/bin/env bash
# Build the real tools meshform's tests run, from the Go module proxy, into a cache
# outside the checkout (reused by every clone on this machine, like Go's own caches):
#
#   ${MESHFORM_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/meshform/tools}/<tool>-<version>/<binary>
#
# Data comes the same way: the CRDs the policy objects are proven against (tests/policy/crds.py) are
# copied out of their Go modules into <tool>-<version>/ (istio-crds: customresourcedefinitions.gen.yaml;
# gateway-api-crds: standard/*.yaml and experimental/*.yaml), with a SHA256SUMS written last.
#
# Usage:
#   build.sh [TOOL...]          build what is missing; default: kustomize helm
#                               TOOL: kustomize | helm (= helm3 helm4) | helm3 | helm4
#                                     | kube (= etcd kube-apiserver) | etcd | kube-apiserver
#                                     | crds (= istio-crds gateway-api-crds) | istio-crds
#                                     | gateway-api-crds | istioctl | all
#                               (istioctl is never built by default: ~13 min cold on 2 cores)
#   build.sh --print-path TOOL  print the binary's path (TOOL: kustomize helm3 helm4 etcd
#                               kube-apiserver istioctl), or the directory of a data tool (istio-crds,
#                               gateway-api-crds); exit 1 if it is not built
#   build.sh --list             print every tool, version, state (built/missing) and path
#
# Environment:
#   MESHFORM_TOOLS        cache root (see above)
#   MESHFORM_TOOLS_JOBS   parallel package builds, `go build -p` (default 2; 1 = gentlest)
#
# Idempotent: a tool whose binary exists is not rebuilt. Builds go to a temporary
# directory and are renamed into place, so an interrupted build leaves nothing half-done.
# To bump a version, change it below (kube: also run kube/update-gomod.sh; etcd: edit
# etcd/go.mod and `go mod tidy`); the new version gets a new directory.
set -euo pipefail

KUSTOMIZE_VERSION=v5.8.2   # v5.8.3 needs go >= 1.27.0
HELM3_VERSION=v3.22.0
HELM4_VERSION=v4.3.1
KUBE_VERSION=v1.37.2       # must match kube/go.mod (k8s.io/kubernetes + staging v0.37.2)
ETCD_VERSION=v3.7.3        # must match etcd/go.mod
ISTIO_API_VERSION=v1.32.0  # istio.io/api: kubernetes/customresourcedefinitions.gen.yaml
GATEWAY_API_VERSION=v1.6.3 # sigs.k8s.io/gateway-api: config/crd/{standard,experimental}/*.yaml
# istio.io/istio: the module proxy serves no v1.x tags; this master pseudo-version (VERSION 1.31) is
# the one whose dependencies all resolve. Linked as 1.31-dev from docker.io/istio, like a release.
ISTIOCTL_VERSION=v0.0.0-20260827124520-eed52ebb66ad
ISTIOCTL_TAG=1.31-dev
ISTIOCTL_HUB=docker.io/istio

ALL_TOOLS=(kustomize helm3 helm4 etcd kube-apiserver istio-crds gateway-api-crds istioctl)
DEFAULT_TOOLS=(kustomize helm)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MESHFORM_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/meshform/tools}
JOBS=${MESHFORM_TOOLS_JOBS:-2}

die() { echo "build.sh: $*" >&2; exit 2; }

tool_version() {
  case $1 in
    kustomize) echo "$KUSTOMIZE_VERSION" ;;
    helm3) echo "$HELM3_VERSION" ;;
    helm4) echo "$HELM4_VERSION" ;;
    kube-apiserver) echo "$KUBE_VERSION" ;;
    etcd) echo "$ETCD_VERSION" ;;
    istio-crds) echo "$ISTIO_API_VERSION" ;;
    gateway-api-crds) echo "$GATEWAY_API_VERSION" ;;
    istioctl) echo "$ISTIOCTL_VERSION" ;;
    *) die "unknown tool: $1 (known: ${ALL_TOOLS[*]})" ;;
  esac
}
tool_binary() { # the file whose presence means "built" (for data: the checksums, written last)
  case $1 in
    helm3 | helm4) echo helm ;;
    *-crds) echo SHA256SUMS ;;
    *) echo "$1" ;;
  esac
}
is_data() { [[ $1 == *-crds ]]; }
tool_dir() { echo "$CACHE/$1-$(tool_version "$1")"; }
tool_path() { # what tests use: the binary, or a data tool's directory
  if is_data "$1"; then tool_dir "$1"; else echo "$(tool_dir "$1")/$(tool_binary "$1")"; fi
}
is_built() {
  local done_file
  done_file="$(tool_dir "$1")/$(tool_binary "$1")"
  if is_data "$1"; then [[ -f $done_file ]]; else [[ -x $done_file ]]; fi
}

# Expand group names (helm, kube, all) into TOOLS, keeping order, without duplicates.
expand() {
  local name t
  local -a members
  TOOLS=()
  for name in "$@"; do
    case $name in
      all) members=("${ALL_TOOLS[@]}") ;;
      helm) members=(helm3 helm4) ;;
      kube) members=(etcd kube-apiserver) ;;
      crds) members=(istio-crds gateway-api-crds) ;;
      *) tool_version "$name" >/dev/null; members=("$name") ;;
    esac
    for t in "${members[@]}"; do
      [[ " ${TOOLS[*]-} " == *" $t "* ]] || TOOLS+=("$t")
    done
  done
}

# Run go politely: lowest-but-one CPU priority, at most $JOBS packages at once.
gorun() { nice -n 10 go "$@"; }

# One field (GoMod, Dir, ...) of `go mod download -json module@version` (downloads it if needed).
gomod_field() {
  GOFLAGS=-mod=mod go mod download -json "$2" | sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p"
}
gomod_file() { gomod_field GoMod "$1"; }

# Copy files out of a module's unpacked tree (read-only in the module cache) as plain 0644 data.
copy_from_module() { # $1 = module@version, $2 = output dir, $3... = paths (globs) inside the module
  local dir out=$2 pattern file n=0
  dir=$(gomod_field Dir "$1")
  [[ -n $dir && -d $dir ]] || die "go mod download $1 gave no module directory"
  shift 2
  for pattern in "$@"; do
    mkdir -p "$out/$(dirname "$pattern")"
    for file in "$dir"/$pattern; do
      [[ -f $file ]] || die "$1 has no $pattern"
      install -m 644 "$file" "$out/${file#"$dir"/}"
      n=$((n + 1))
    done
  done
  ((n > 0)) || die "$1: nothing copied"
}

# The checksums list every copied file; written last, it is what marks the data as complete.
seal() { # $1 = output dir
  (cd "$1" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | sed 's|^\./||' |
    xargs sha256sum >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
}

fetch_istio_crds() { # $1 = output dir
  copy_from_module "istio.io/api@$ISTIO_API_VERSION" "$1" kubernetes/customresourcedefinitions.gen.yaml
  mv "$1/kubernetes/customresourcedefinitions.gen.yaml" "$1/" && rmdir "$1/kubernetes"
  seal "$1"
}

fetch_gateway_api_crds() { # $1 = output dir
  copy_from_module "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" "$1" \
    'config/crd/standard/*.yaml' 'config/crd/experimental/*.yaml'
  mv "$1/config/crd/standard" "$1/config/crd/experimental" "$1/" && rm -r "$1/config"
  seal "$1"
}

build_kustomize() { # $1 = output dir
  GOBIN=$1 CGO_ENABLED=0 gorun install -p "$JOBS" -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
}

build_helm() { # $1 = major (3|4), $2 = version, $3 = output dir
  local major=$1 version=$2 out=$3 pkg="helm.sh/helm/v$1"
  local ldflags="-s -w -X $pkg/internal/version.version=$version"
  ldflags+=" -X $pkg/internal/version.metadata= -X $pkg/internal/version.gitTreeState=clean"
  if [[ $major == 3 ]]; then
    # Like helm's Makefile: default .Capabilities.KubeVersion / lint target from the
    # k8s.io/client-go it is built with (v0.37.x -> 1.37); helm 4 reads it from build info.
    local client_go major_k minor_k
    client_go=$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$(gomod_file "$pkg@$version")")
    [[ $client_go =~ ^v([0-9]+)\.([0-9]+)\. ]] || die "cannot find k8s.io/client-go in $pkg@$version go.mod"
    major_k=$((BASH_REMATCH[1] + 1)) minor_k=${BASH_REMATCH[2]}
    local var
    for var in pkg/chartutil pkg/lint/rules; do
      ldflags+=" -X $pkg/$var.k8sVersionMajor=$major_k -X $pkg/$var.k8sVersionMinor=$minor_k"
    done
  fi
  GOBIN=$out CGO_ENABLED=0 gorun install -p "$JOBS" -trimpath -ldflags "$ldflags" "$pkg/cmd/helm@$version"
}

build_kube_apiserver() { # $1 = output dir
  grep -q "^require k8s.io/kubernetes $KUBE_VERSION\$\|^[[:space:]]k8s.io/kubernetes $KUBE_VERSION\b" \
    "$HERE/kube/go.mod" || die "kube/go.mod does not require k8s.io/kubernetes $KUBE_VERSION (run kube/update-gomod.sh $KUBE_VERSION)"
  [[ $KUBE_VERSION =~ ^v([0-9]+)\.([0-9]+)\. ]] || die "bad KUBE_VERSION $KUBE_VERSION"
  local major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]} release_date ldflags="-s -w" p
  # Build date = the release's publication time on the proxy (reproducible builds).
  release_date=$(cd "$HERE/kube" && go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean${release_date:+ -X $p.buildDate=$release_date}"
  done
  (cd "$HERE/kube" && CGO_ENABLED=0 gorun build -mod=readonly -p "$JOBS" -trimpath -pgo=off \
    -ldflags "$ldflags" -o "$1/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
}

build_istioctl() { # $1 = output dir
  local v=istio.io/istio/pkg/version
  GOBIN=$1 CGO_ENABLED=0 gorun install -p "$JOBS" -trimpath \
    -ldflags "-s -w -X $v.buildTag=$ISTIOCTL_TAG -X $v.buildHub=$ISTIOCTL_HUB" \
    "istio.io/istio/istioctl/cmd/istioctl@$ISTIOCTL_VERSION"
}

build_etcd() { # $1 = output dir
  grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION\b" "$HERE/etcd/go.mod" ||
    die "etcd/go.mod does not require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  (cd "$HERE/etcd" && CGO_ENABLED=0 gorun build -mod=readonly -p "$JOBS" -trimpath \
    -ldflags "-s -w" -o "$1/etcd" go.etcd.io/etcd/server/v3)
}

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

build_one() {
  local tool=$1 version dir bin tmp start
  version=$(tool_version "$tool") dir=$(tool_dir "$tool") bin=$(tool_path "$tool")
  if is_built "$tool"; then
    printf '%-16s %-8s cached  (0s)      %s\n' "$tool" "$version" "$bin"
    return 0
  fi
  printf '%-16s %-8s building ...\n' "$tool" "$version"
  start=$(date +%s)
  tmp=$(mktemp -d "$CACHE/.$tool-$version.XXXXXX")
  TMPDIRS+=("$tmp")
  case $tool in
    kustomize) build_kustomize "$tmp" ;;
    helm3) build_helm 3 "$HELM3_VERSION" "$tmp" ;;
    helm4) build_helm 4 "$HELM4_VERSION" "$tmp" ;;
    kube-apiserver) build_kube_apiserver "$tmp" ;;
    etcd) build_etcd "$tmp" ;;
    istio-crds) fetch_istio_crds "$tmp" ;;
    gateway-api-crds) fetch_gateway_api_crds "$tmp" ;;
    istioctl) build_istioctl "$tmp" ;;
  esac
  [[ -e $tmp/$(tool_binary "$tool") ]] || die "$tool: build produced no $(tool_binary "$tool")"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  chmod 755 "$dir"
  printf '%-16s %-8s built   (%s) %s\n' "$tool" "$version" "$(fmt_secs $(($(date +%s) - start)))" "$bin"
}

case ${1-} in
  --print-path)
    [[ $# -eq 2 ]] || die "usage: build.sh --print-path TOOL"
    [[ $2 == helm ]] && die "--print-path needs helm3 or helm4"
    tool_version "$2" >/dev/null
    bin=$(tool_path "$2")
    is_built "$2" || { echo "build.sh: $2 is not built (expected $bin); run: bash $HERE/build.sh $2" >&2; exit 1; }
    echo "$bin"
    exit 0 ;;
  --list)
    for t in "${ALL_TOOLS[@]}"; do
      state=missing; is_built "$t" && state=built
      printf '%-16s %-8s %-8s %s\n' "$t" "$(tool_version "$t")" "$state" "$(tool_path "$t")"
    done
    exit 0 ;;
  -h | --help)
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 0 ;;
  -*) die "unknown option: $1 (see --help)" ;;
esac

command -v go >/dev/null || die "go is not installed (Go >= 1.26 is needed to build the test tools)"
(($# > 0)) || set -- "${DEFAULT_TOOLS[@]}"
expand "$@"
((${#TOOLS[@]} > 0)) || die "nothing to build"

mkdir -p "$CACHE"
TMPDIRS=()
cleanup() { local d; for d in "${TMPDIRS[@]-}"; do [[ -n $d && -d $d ]] && rm -rf "$d"; done; return 0; }
trap cleanup EXIT

# One build at a time per cache (parallel CI runs / a second shell wait here).
if command -v flock >/dev/null; then
  exec 9>"$CACHE/.build.lock"
  flock -n 9 || { echo "build.sh: waiting for another build.sh using $CACHE ..." >&2; flock 9; }
fi

echo "meshform test tools -> $CACHE ($(go version | awk '{print $3}'), -p $JOBS)"
total_start=$(date +%s)
for t in "${TOOLS[@]}"; do build_one "$t"; done
echo "done in $(fmt_secs $(($(date +%s) - total_start)))"
