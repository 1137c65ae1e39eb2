"""istio, enrollment `sidecar`: the pod as Istio's injector leaves it, made offline.

The injector's own inputs drive it (the cluster's `values` and `mesh`, see
meshform.model.injector_inputs), with the pod's own overrides (`sidecar.istio.io/*`,
`proxy.istio.io/config`, `traffic.sidecar.istio.io/*`, `status.sidecar.istio.io/port`). The sidecar,
its init container, volumes and metadata come from templates/istio/<version>/sidecar.yaml.j2; what the
injector does to the rest of the pod is done here, as Istio documents it:

- Prometheus merge: the pod's `prometheus.io/*` annotations move into the proxy's
  ISTIO_PROMETHEUS_ANNOTATIONS and point at the agent's port instead;
- probe rewrite: HTTP, TCP and gRPC probes (and HTTP/TCP lifecycle hooks) of the app's containers
  go through the agent (`/app-health/<container>/<kind>` on the status port), their originals in the
  proxy's ISTIO_KUBE_APP_PROBERS;
- `sidecar.istio.io/status` names what was added, so istiod and `istioctl kube-inject` recognise
  the pod as injected;
- placement: a native sidecar runs right after istio-init, before the app's init containers; a
  classic proxy is the last container (the first with holdApplicationUntilProxyStarts), istio-init
  the last init container, istio-validation (CNI) the first.

Everything lands in an Enrollment, so meshform's status record can take it all back exactly.
"""

from __future__ import annotations

import json
import marshal
import os
import re
from collections.abc import Iterator, Mapping
from functools import cache, lru_cache
from typing import Any

from meshform.modes import istio_proxy_config as proxy_config
from meshform.modes.base import EnrollContext, Enrollment

MESH = "istio"
PROXY = "istio-proxy"
STATUS = "sidecar.istio.io/status"
PROXY_CONFIG = "proxy.istio.io/config"
PROBERS_ENV = "ISTIO_KUBE_APP_PROBERS"
PROMETHEUS_ENV = "ISTIO_PROMETHEUS_ANNOTATIONS"
PROMETHEUS_KEYS = ("prometheus.io/scrape", "prometheus.io/path", "prometheus.io/port")
SCRAPE_TARGETS = "prometheus.istio.io/scrape-targets"
DEFAULT_STATUS_PORT = 15020
# Every pod key the injector writes (or clears) besides enrolling: meshform's record may name them.
SIDECAR_KEYS = (
    STATUS,
    "istio.io/rev",
    "kubectl.kubernetes.io/default-container",
    "kubectl.kubernetes.io/default-logs-container",
    *PROMETHEUS_KEYS,
    SCRAPE_TARGETS,
    "security.istio.io/tlsMode",
    "service.istio.io/canonical-name",
    "service.istio.io/canonical-revision",
    "networking.istio.io/tunnel",
    "sidecar.istio.io/interceptionMode",
    "traffic.sidecar.istio.io/includeOutboundIPRanges",
    "traffic.sidecar.istio.io/excludeOutboundIPRanges",
    "traffic.sidecar.istio.io/includeInboundPorts",
    "traffic.sidecar.istio.io/excludeInboundPorts",
    "traffic.sidecar.istio.io/includeOutboundPorts",
    "traffic.sidecar.istio.io/excludeOutboundPorts",
    "traffic.sidecar.istio.io/kubevirtInterfaces",
    "istio.io/reroute-virtual-interfaces",
    "traffic.sidecar.istio.io/excludeInterfaces",
)
# What Istio's templates may add, by name, under any inputs (classic and native proxies, istio-init or
# CNI's istio-validation, every volume of this and older releases); meshform's record of a
# pre-injection may name these, and an Istio status naming anything else is not Istio's.
ISTIO_CONTAINERS = frozenset({PROXY, "istio-init", "istio-validation"})
ISTIO_VOLUMES = frozenset(
    {
        "istio-envoy",
        "istio-data",
        "istio-podinfo",
        "istio-token",
        "istiod-ca-cert",
        "istio-ca-crl",
        "istio-certs",
        "workload-socket",
        "credential-socket",
        "workload-certs",
        "gke-workload-certificate",
    }
)
SIDECAR_NAMES = ISTIO_CONTAINERS | ISTIO_VOLUMES
PATCHED_FIELDS = ("readinessProbe", "livenessProbe", "startupProbe", "lifecycle")
PROBE_KINDS = (("readinessProbe", "readyz"), ("livenessProbe", "livez"), ("startupProbe", "startupz"))
HOOK_KINDS = (("preStop", "prestopz"), ("postStart", "poststartz"))
# Pod annotations that change the pod in ways meshform does not reproduce: refused (MF323), never
# silently left out.
UNSUPPORTED = (
    "sidecar.istio.io/userVolume",
    "sidecar.istio.io/userVolumeMount",
    "sidecar.istio.io/bootstrapOverride",
    "sidecar.istio.io/templates",
    "inject.istio.io/templates",
)
# Kinds whose apiVersion istioctl names when the workload carries none.
_DEFAULT_API = {"Pod": "v1", "ReplicationController": "v1", "Job": "batch/v1", "CronJob": "batch/v1"}


# ------------------------------------------------------------------------------------------- inputs


@cache
def _defaults(version: str) -> dict[str, Any]:
    import yaml

    from meshform.resources import mesh_template

    # libyaml's safe loader when PyYAML has it: the pure-Python one takes ~5 ms of every run on this file
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loaded: dict[str, Any] = yaml.load(mesh_template(MESH, version, "defaults.yaml"), Loader=loader)
    return loaded


@cache
def _stock_config(version: str) -> dict[str, Any]:
    import yaml

    from meshform.resources import mesh_template

    loaded: dict[str, Any] = yaml.safe_load(mesh_template(MESH, version, "injector-config.yaml"))
    return loaded


# keys of the injector's data.config that decide whether and how a pod is injected, compared as data
# (a null and an empty list or mapping read alike, as Go's zero values)
_CONFIG_KEYS = (
    "policy",
    "defaultTemplates",
    "alwaysInjectSelector",
    "neverInjectSelector",
    "injectedAnnotations",
)


def config_problems(config: Mapping[str, Any], version: str) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path in data.config, message) per setting of the cluster's istio-sidecar-injector data.config
    that differs from the stock config of `version` (templates/istio/<version>/injector-config.yaml,
    what `istioctl manifest generate` writes) in a way that changes a sidecar injection: meshform
    renders its own copy of the stock templates, so such a cluster's webhook injects another pod."""
    import hashlib

    stock = _stock_config(version)
    # a key left out is not judged: a ConfigMap trimmed to what the user meant to give (its values)
    for key in (k for k in _CONFIG_KEYS if k in config):
        if (config.get(key) or None) != (stock.get(key) or None):
            yield (
                (key,),
                (
                    f"the injector's data.config {key} differs from Istio {version}'s stock config "
                    f"({stock.get(key)!r}): meshform pre-injects with the stock one"
                ),
            )
    templates = config.get("templates")
    if "templates" not in config:
        return
    for name, digest in (stock.get("templates") or {}).items():
        text = templates.get(name) if isinstance(templates, Mapping) else None
        if not isinstance(text, str) or hashlib.sha256(text.encode()).hexdigest() != digest:
            yield (
                (("templates", name) if text is not None else ("templates",)),
                (
                    f"the injector's data.config templates.{name} is not Istio {version}'s stock "
                    "template (customised): meshform pre-injects with its own copy of the stock one"
                ),
            )


# ---------------------------------------------------------------------------------- input types

# google.protobuf.Value fields: any scalar unmarshals (Istio's global.tag may be 1.31 or "1.31-dev").
_ANY_SCALAR = frozenset({("values", "global", "tag")})
_UINT32, _INT32 = 2**32, 2**31
_DIGITS = re.compile(r"-?[0-9]+")


def input_problems(options: Mapping[str, Any]) -> Iterator[tuple[str, tuple[str, ...], str]]:
    """(input key, path in it, message) per value in the user's `values` / `meshConfig` that Istio's
    injector cannot unmarshal into its Values / MeshConfig types (protojson: a string field takes only a
    string, an integer a number or its digits, a bool field a bool, a message or struct a mapping,
    null leaves the default). The type of each key is the one of meshform's defaults for the version
    (ProxyConfig's for meshConfig.defaultConfig); keys meshform does not read are not checked."""
    from meshform.modes import injection

    version = injection.version_for(MESH, options)
    defaults = _defaults(version)
    schema = {
        "values": defaults["values"],
        "meshConfig": {k: v for k, v in defaults["meshConfig"].items() if k != "defaultConfig"},
    }
    for key, expected in schema.items():
        given = options.get(key)
        if isinstance(given, Mapping):
            yield from ((key, path[1:], message) for path, message in _typed(expected, given, (key,)))
    keys = [key for key, alone in foreign_values(options) if alone]
    if keys:
        from meshform.suggest import did_you_mean

        shown = ", ".join(f"{k!r:.60}{did_you_mean(k, VALUES_KEYS)}" for k in keys[:3])
        message = (
            "values hold none of Istio's values keys (global, pilot, sidecarInjectorWebhook, revision, ...), "
            f"only {shown}{', ...' if len(keys) > 3 else ''}: not the injector's values "
            "(istioctl kube-inject fails on them)"
        )
        yield "values", (), message

    values = options.get("values")
    if isinstance(values, Mapping):
        yield from (("values", path, message) for path, message in template_text_problems(values))
    mesh = options.get("meshConfig")
    if isinstance(mesh, Mapping):
        yield from _mesh_problems(mesh, version)
    if isinstance(mesh, Mapping):
        try:
            proxy_config.decode(mesh.get("defaultConfig"), version)
        except proxy_config.ProxyConfigError as exc:
            at = tuple(part for part in exc.where.split(".") if part and not part.endswith("]"))
            message = f"meshConfig defaultConfig: {exc}; Istio refuses to unmarshal it"
            yield "meshConfig", ("defaultConfig", *at), message
        else:
            for problem in proxy_config.problems(_default_config(mesh, version)):
                field = problem.split(" ")[0].rstrip(":").split(".")[0]  # problems name their field first
                given = mesh.get("defaultConfig")
                yield (
                    "meshConfig",
                    ("defaultConfig", field)
                    if isinstance(given, Mapping) and field in given
                    else ("defaultConfig",),
                    f"meshConfig defaultConfig: {problem} (Istio's mesh validation refuses it)",
                )


# The fields of Istio's Values (operator/pkg/apis/values_types.proto, message Values) by their JSON
# names (protojson takes a field's proto name too: istio_cni). Unmarshalling drops any other key.
VALUES_KEYS = frozenset(
    {
        "cni",
        "gateways",
        "global",
        "pilot",
        "ztunnel",
        "telemetry",
        "sidecarInjectorWebhook",
        "istio_cni",
        "istioCni",
        "revision",
        "ownerName",
        "meshConfig",
        "base",
        "istiodRemote",
        "revisionTags",
        "defaultRevision",
        "profile",
        "compatibilityVersion",
        "experimental",
        "gatewayClasses",
    }
)


def foreign_values(options: Mapping[str, Any]) -> Iterator[tuple[str, bool]]:
    """(key, alone) per top-level key of the user's `values` that is none of Istio's Values fields.
    `alone`: the values hold no Istio key at all, so they are not Istio's values (a ConfigMap's other
    data, another file): `istioctl kube-inject` fails on them (its template renders a broken pod).
    Otherwise Istio drops the key silently, as a typo (`globl:`) would be dropped."""
    given = options.get("values")
    if not isinstance(given, Mapping) or not given:
        return
    alone = not any(str(key) in VALUES_KEYS for key in given)
    for key in given:
        if str(key) not in VALUES_KEYS:
            yield str(key), alone


def _mesh_problems(mesh: Mapping[str, Any], version: str) -> Iterator[tuple[str, tuple[str, ...], str]]:
    """The first MeshConfig field outside defaultConfig Istio refuses to unmarshal (an unknown enum
    value, a bad duration, a wrong type), at that field. The fields the values' types check
    (meshform's defaults: trustDomain, enablePrometheusMerge) are left to them."""
    typed = _defaults(version)["meshConfig"]
    rest = {k: v for k, v in mesh.items() if k != "defaultConfig" and k not in typed}
    try:
        proxy_config.decode_mesh(rest, version)
    except proxy_config.ProxyConfigError as exc:
        at = tuple(part for part in exc.where.split(".") if part and not part.endswith("]"))
        message = f"meshConfig {exc}; Istio refuses to unmarshal it (istioctl: failed to convert to proto)"
        yield "meshConfig", at, message


# The values Istio's injection template writes into its YAML as text, by where: inside a double-quoted
# scalar (`- "{{ .Values.global.proxy.excludeIPRanges }}"`, the proxy image built from hub, image and
# tag) or after other text in a plain one (`- --proxyLogLevel={{ ... }}`). The rendered YAML is then
# read: a value that breaks that scalar makes istioctl fail ("failed applying injection overlay"), and
# one YAML reads differently (a line break folded to a space, an escape, a comment) is written as
# something else than given. meshform renders values as data, so it checks them here (MF322).
_TEMPLATE_TEXT: dict[tuple[str, ...], bool] = {
    **{
        ("global", "proxy", name): True
        for name in (
            "excludeIPRanges",
            "includeIPRanges",
            "excludeInboundPorts",
            "includeInboundPorts",
            "excludeOutboundPorts",
            "includeOutboundPorts",
            "image",
        )
    },
    **{("global", name): True for name in ("hub", "tag", "meshID", "network", "trustDomain")},
    ("global", "multiCluster", "clusterName"): True,
    ("global", "proxy_init", "image"): True,
    **{
        ("global", "proxy", name): False
        for name in ("logLevel", "componentLogLevel", "clusterDomain", "outlierLogPath")
    },
    **{
        ("global", name): False
        for name in ("istioNamespace", "caAddress", "pilotCertProvider", "trustBundleName", "imagePullPolicy")
    },
    ("global", "logging", "level"): False,
    ("global", "sds", "token", "aud"): False,
}


def template_text_problems(values: Mapping[str, Any]) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path, message) per text value of `values` that Istio's injection template cannot write as
    given (see _TEMPLATE_TEXT): istioctl refuses it, or writes something else."""
    for path, quoted in _TEMPLATE_TEXT.items():
        node = _value_at(values, path)
        if not isinstance(node, str):
            continue  # absent, or of another type (_typed says so)
        written = _as_template_writes(node, quoted)
        name = f"values {'.'.join(path)}"
        if written is None:
            yield (
                path,
                (
                    f"{name} {node[:60]!r} breaks the YAML Istio's injection template writes it into "
                    "(a double quote, a control character): istioctl refuses these values"
                ),
            )
        elif written != node:
            yield (
                path,
                (
                    f"{name} {node[:60]!r} is written by Istio's injection template as {written[:60]!r} "
                    "(YAML reads the text it is put into: a line break folds, an escape or a comment "
                    "changes it): give the value as it should reach the pod"
                ),
            )


def _value_at(values: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at `path` in nested mappings (None where a key is absent or a parent no mapping)."""
    node: Any = values
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _as_template_writes(text: str, quoted: bool) -> str | None:
    """`text` as Istio's template writes it (None: the YAML it makes does not parse)."""
    import yaml

    line = f'- "{text}"' if quoted else f"- x{text}"
    try:
        found = yaml.safe_load(line)
    except yaml.YAMLError:
        return None
    if not (isinstance(found, list) and len(found) == 1 and isinstance(found[0], str)):
        return None
    return found[0] if quoted else found[0][1:]


# Values whose null istioctl refuses (the template dereferences a null mapping, or a null lands in a
# typed field: a null privileged, readiness* or startupProbe.failureThreshold) or prints into the pod
# as Go's "<nil>" / "<no value>" (--proxyLogLevel=<nil>, an image tag <nil>, istiod.<no value>.svc):
# MF322, meshform does not write such a pod. Any other null is no value, as the injector reads it
# (no resources, no startup probe, an empty hub, no probe rewrite, ...).
_NULL_REFUSED = frozenset(
    ("values", *path.split("."))
    for path in (
        "global",
        "global.logging",
        "global.logging.level",
        "global.multiCluster",
        "global.proxy",
        "global.proxy.clusterDomain",
        "global.proxy.componentLogLevel",
        "global.proxy.excludeIPRanges",
        "global.proxy.excludeInboundPorts",
        "global.proxy.excludeOutboundPorts",
        "global.proxy.includeIPRanges",
        "global.proxy.includeInboundPorts",
        "global.proxy.includeOutboundPorts",
        "global.proxy.logLevel",
        "global.proxy.privileged",
        "global.proxy.readinessFailureThreshold",
        "global.proxy.readinessInitialDelaySeconds",
        "global.proxy.readinessPeriodSeconds",
        "global.proxy.startupProbe",
        "global.proxy.startupProbe.failureThreshold",
        "global.proxy.statusPort",
        "global.proxy_init",
        "global.sds",
        "global.sds.token",
        "global.sds.token.aud",
        "global.sts",
        "global.tag",
        "global.istioNamespace",
        "global.pilotCertProvider",
        "pilot",
        "pilot.cni",
        "revision",
    )
)


def _typed(expected: Any, given: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path, message) per value of `given` not of the type of `expected`'s (path[0] names the input)."""
    if given is None:
        if path in _NULL_REFUSED:
            yield (
                path,
                (
                    f"values {'.'.join(path[1:])} is null; Istio's injector template cannot use a null "
                    "there (istioctl fails, or writes <nil> into the pod): give it a value, or leave the "
                    "key out for the default"
                ),
            )
        return
    wanted = _type_wanted(expected, given, path)
    if wanted is not None:
        shown = json.dumps(given)[:60] if not isinstance(given, str) else repr(given[:60])
        yield (
            path,
            (
                f"{path[0]} {'.'.join(path[1:])} is {shown} ({type(given).__name__}); Istio's injector "
                f"reads {wanted} there and refuses to unmarshal anything else"
            ),
        )
    elif isinstance(expected, Mapping) and isinstance(given, Mapping):
        for name, value in given.items():
            if name in expected:
                yield from _typed(expected[name], value, (*path, str(name)))


def _type_wanted(expected: Any, given: Any, path: tuple[str, ...]) -> str | None:
    """What the field wants, in words, when `given` is not it (None: it is)."""
    if path in _ANY_SCALAR:
        return None if isinstance(given, (str, int, float)) else "a scalar"
    if isinstance(expected, Mapping):
        return None if isinstance(given, Mapping) else "a mapping"
    if isinstance(expected, list):
        ok = isinstance(given, list) and all(isinstance(item, str) for item in given)
        return None if ok else "a list of strings"
    if isinstance(expected, bool):
        return None if isinstance(given, bool) else "true or false"
    if isinstance(expected, int):
        number = given if isinstance(given, int) and not isinstance(given, bool) else None
        if isinstance(given, str) and _DIGITS.fullmatch(given):
            number = int(given)
        low, high = (0, _UINT32) if path[0] == "values" else (-_INT32, _INT32)  # uint32 / int32 fields
        return (
            None
            if number is not None and low <= number < high
            else f"a whole number from {low} to {high - 1}"
        )
    return None if isinstance(given, str) else "a string"


# Values whose type in Istio's values.proto is a Kubernetes object or a free map (ResourceRequirements,
# SeccompProfile, Lifecycle, pilot.env): the one the cluster gives is the whole value its template
# reads. The ConfigMap's values are Helm's merge already, so `resources: {requests: {cpu: "1"}}` means
# no limits and `resources: {}` none at all: meshform's defaults never fill inside them.
_WHOLE = frozenset(
    {
        ("global", "proxy", "resources"),
        ("global", "proxy", "seccompProfile"),
        ("global", "proxy", "lifecycle"),
        ("global", "proxy_init", "resources"),
        ("pilot", "env"),
    }
)


def _merged(base: Any, over: Any, null_is_unset: bool = False, path: tuple[str, ...] = ()) -> Any:
    """`over` on top of `base`, Istio's own (message) mappings merged key by key: a key the values
    leave out altogether takes meshform's default, a key they give is theirs (a `_WHOLE` map whole,
    never filled from `base`). A key of the values `over` sets to null has no value, as the injector
    reads a null (and Helm's null removes a default): it is not filled from `base`. In the meshConfig
    (`null_is_unset`), protobuf JSON takes a null as not set: the default."""
    if isinstance(base, Mapping) and isinstance(over, Mapping) and path not in _WHOLE:
        out = dict(base)
        for key, value in over.items():
            out[key] = _merged(base.get(key), value, null_is_unset, (*path, str(key)))
        return out
    return base if over is None and null_is_unset else over


def _proxy_override(annotations: Mapping[str, Any], version: str) -> dict[str, Any]:
    """The pod's proxy.istio.io/config as Istio unmarshals it ({} when absent or refused: findings
    report that)."""
    raw = annotations.get(PROXY_CONFIG)
    if not isinstance(raw, str):
        return {}
    try:
        return _annotation_proxy_config(raw, version)
    except proxy_config.ProxyConfigError:
        return {}


@lru_cache(maxsize=256)
def _annotation_proxy_config(raw: str, version: str) -> dict[str, Any]:
    """proxy.istio.io/config decoded (ApplyYAML: YAML to JSON, then protobuf JSON); shared by every
    pod with the same text, so never changed by its callers. Raises ProxyConfigError."""
    import yaml

    try:
        found = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise proxy_config.ProxyConfigError(f"is not YAML ({str(exc).splitlines()[0]})") from None
    return proxy_config.decode(found, version)


def _uint(text: str, bits: int) -> bool:
    """Go's strconv.ParseUint(text, 10, bits) succeeds."""
    return re.fullmatch(r"[0-9]+", text) is not None and int(text) < 2**bits


def _ports(text: str) -> bool:
    """Istio's parsePorts: empty, or comma-separated ports (each trimmed) of 0..65535."""
    text = _go_trim_space(text)
    return not text or all(_uint(_go_trim_space(port), 16) for port in text.split(","))


def _cidrs(text: str) -> bool:
    """Istio's validateCIDRList: empty, or comma-separated address/bits prefixes (Go's netip)."""
    import ipaddress

    for cidr in text.split(",") if text else []:
        address, _, bits = cidr.partition("/")
        try:
            network = ipaddress.ip_network(f"{address}/{bits}", strict=False)
        except ValueError:
            return False
        if not re.fullmatch(r"[0-9]+", bits) or network.prefixlen != int(bits) or "%" in address:
            return False
    return True


_GO_BOOLS = frozenset({"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"})
# The pod annotations Istio's injector validates before it injects (pkg/kube/inject/validate.go), each
# with the check it applies and what it wants, in words; it refuses the pod when one fails.
_ANNOTATION_RULES: dict[str, tuple[Any, str]] = {
    "sidecar.istio.io/interceptionMode": (
        lambda v: v in ("REDIRECT", "TPROXY", "NONE"),
        "REDIRECT, TPROXY or NONE",
    ),
    "status.sidecar.istio.io/port": (lambda v: _uint(_go_trim_space(v), 16), "a port from 0 to 65535"),
    "readiness.status.sidecar.istio.io/initialDelaySeconds": (lambda v: _uint(v, 32), "a whole number"),
    "readiness.status.sidecar.istio.io/periodSeconds": (lambda v: _uint(v, 32), "a whole number"),
    "readiness.status.sidecar.istio.io/failureThreshold": (lambda v: _uint(v, 32), "a whole number"),
    "traffic.sidecar.istio.io/includeOutboundIPRanges": (lambda v: v == "*" or _cidrs(v), "* or CIDRs"),
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": (_cidrs, "comma-separated CIDRs"),
    "traffic.sidecar.istio.io/includeInboundPorts": (lambda v: v == "*" or _ports(v), "* or ports"),
    "traffic.sidecar.istio.io/excludeInboundPorts": (_ports, "comma-separated ports"),
    "traffic.sidecar.istio.io/excludeOutboundPorts": (_ports, "comma-separated ports"),
    "prometheus.istio.io/merge-metrics": (lambda v: v in _GO_BOOLS, "true or false"),
}


def override_problems(
    annotations: Mapping[str, Any], options: Mapping[str, Any]
) -> Iterator[tuple[str, str]]:
    """(annotation, what is wrong in words) per pod annotation meshform cannot pre-inject as the
    injector would, or that Istio refuses (MF323, located at that annotation)."""
    from meshform.modes import injection

    version = injection.version_for(MESH, options)
    for key in UNSUPPORTED:
        if key in annotations:
            yield key, f"annotation {key} is not pre-injected by meshform; use enrollment labels for this pod"
    raw = annotations.get(PROXY_CONFIG)
    if raw is not None:
        try:
            given = _annotation_proxy_config(str(raw), version)
        except proxy_config.ProxyConfigError as exc:
            yield (
                PROXY_CONFIG,
                (
                    f"annotation {PROXY_CONFIG} must hold a ProxyConfig mapping (YAML or JSON) with the "
                    f"types Istio declares: {exc} (istioctl refuses the pod: could not parse proxy config)"
                ),
            )
        else:  # Istio validates the annotation over its DefaultProxyConfig, not the mesh's
            applied = proxy_config.merged(proxy_config.default_proxy_config(), given, version)
            for problem in proxy_config.problems(applied):
                yield (
                    PROXY_CONFIG,
                    f"annotation {PROXY_CONFIG}: {problem} (Istio's validation refuses the pod)",
                )
    for key, (valid, wanted) in _ANNOTATION_RULES.items():
        if key in annotations and not valid(str(annotations[key])):
            yield (
                key,
                f"annotation {key} must be {wanted}, not {annotations[key]!r} (istioctl refuses it too)",
            )
    for key in (
        "sidecar.istio.io/proxyCPU",
        "sidecar.istio.io/proxyMemory",
        "sidecar.istio.io/proxyCPULimit",
        "sidecar.istio.io/proxyMemoryLimit",
    ):
        if key in annotations and _quantity(annotations[key]) is None:
            yield key, f"annotation {key} must be a resource quantity, not {annotations[key]!r}"
    yield from _prometheus_problems(annotations, _status_port(_proxy_override(annotations, version), {}))


# The values a pod annotation overrides that Istio validates when it is the annotation (the rules of
# _ANNOTATION_RULES), but passes to istio-iptables unchecked as a value: the pod's init container (or
# the CNI plugin) then fails on a list it cannot read.
_VALUE_LISTS: dict[tuple[str, ...], str] = {
    ("global", "proxy", "excludeIPRanges"): "traffic.sidecar.istio.io/excludeOutboundIPRanges",
    ("global", "proxy", "includeIPRanges"): "traffic.sidecar.istio.io/includeOutboundIPRanges",
    ("global", "proxy", "excludeInboundPorts"): "traffic.sidecar.istio.io/excludeInboundPorts",
    ("global", "proxy", "includeInboundPorts"): "traffic.sidecar.istio.io/includeInboundPorts",
    ("global", "proxy", "excludeOutboundPorts"): "traffic.sidecar.istio.io/excludeOutboundPorts",
}


def value_list_problems(
    values: Mapping[str, Any], annotations: Mapping[str, Any]
) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path, message) per CIDR or port list of the values this pod gets (no annotation of its own
    overrides it) that is not such a list: a warning, as Istio does not check the values either."""
    for path, annotation in _VALUE_LISTS.items():
        node = _value_at(values, path)
        if not isinstance(node, str) or annotation in annotations:
            continue
        valid, wanted = _ANNOTATION_RULES[annotation]
        if not valid(node) and _as_template_writes(node, True) == node:  # else MF322 already
            name = f"values {'.'.join(path)} {node[:60]!r}"
            yield (
                path,
                (
                    f"{name} is not {wanted}: Istio passes it to istio-iptables unchecked (as the annotation "
                    f"{annotation} it refuses the pod), and the pod's traffic redirection fails to start"
                ),
            )


def install_problems(
    options: Mapping[str, Any], annotations: Mapping[str, Any]
) -> Iterator[tuple[str, tuple[str | int, ...], str]]:
    """(input, path in it, message) per thing the cluster's values and meshConfig (with this pod's
    annotations) make the injector do that meshform does not reproduce (MF323): refused, never
    silently left out, located at the user's value. See TEMPLATE_READS for every input of the
    injector's template and what meshform does with it."""
    version, values, mesh = _install(options)
    cni = (values.get("pilot") or {}).get("cni") or {}
    if cni.get("enabled") and cni.get("provider") == "multus":
        message = "values.pilot.cni.provider multus (the injector adds k8s.v1.cni.cncf.io/networks) "
        yield "values", ("pilot", "cni", "provider"), message + _LABELS
    if ((values.get("pilot") or {}).get("env") or {}).get("COMPLIANCE_POLICY"):
        message = "values.pilot.env.COMPLIANCE_POLICY (the proxy's COMPLIANCE_POLICY, GODEBUG) "
        yield "values", ("pilot", "env", "COMPLIANCE_POLICY"), message + _LABELS
    tracer = ("global", "proxy", "tracer")
    traced = ((values.get("global") or {}).get("proxy") or {}).get("tracer")
    if traced == "datadog" and "apm.datadoghq.com/env" in annotations:
        yield (
            "values",
            tracer,
            "annotation apm.datadoghq.com/env with values.global.proxy.tracer datadog " + _LABELS,
        )
    if traced == "lightstep" and _tracing_tls(mesh, annotations, version):
        yield (
            "values",
            tracer,
            "ProxyConfig tracing.tlsSettings with values.global.proxy.tracer lightstep " + _LABELS,
        )
    for i, provider in enumerate(mesh.get("extensionProviders") or []):
        otel = provider.get("opentelemetry") if isinstance(provider, Mapping) else None
        if (
            isinstance(otel, Mapping)
            and otel.get("serviceAttributeEnrichment") == "OTEL_SEMANTIC_CONVENTIONS"
        ):
            message = "meshConfig OpenTelemetry serviceAttributeEnrichment (OTEL_RESOURCE_ATTRIBUTES) "
            where: tuple[str | int, ...] = (
                "extensionProviders",
                i,
                "opentelemetry",
                "serviceAttributeEnrichment",
            )
            yield "meshConfig", where, message + _LABELS
            break


def _tracing_tls(mesh: Mapping[str, Any], annotations: Mapping[str, Any], version: str) -> bool:
    proxy = proxy_config.merged(mesh["defaultConfig"], _proxy_override(annotations, version), version)
    return bool((proxy.get("tracing") or {}).get("tlsSettings"))


_LABELS = "is not pre-injected by meshform; use enrollment labels for this pod"
# Every input the injector's sidecar template reads (Istio 1.31, manifests/charts/istio-control/
# istio-discovery/files/injection-template.yaml), and what meshform does with it: "template" (the
# template or this module reproduces it), "refused" (install_problems / override_problems report it,
# MF323), "fixed" (what istioctl kube-inject uses, which has no cluster to ask). A read in neither
# fails tests/test_istio_template_reads.py, so a new release's input cannot be ignored silently.
TEMPLATE_READS: Mapping[str, str] = {
    **dict.fromkeys(
        (
            ".CompliancePolicy",  # istiod's COMPLIANCE_POLICY, i.e. values.pilot.env
            "Values.pilot.cni.provider",
            "Values.global.proxy.tracer",
            "ProxyConfig.GetTracing.GetTlsSettings",
            "ProxyConfig.GetTracing.GetTlsSettings.GetCaCertificates",
            "Annotations:apm.datadoghq.com/env",
            "Annotations:k8s.v1.cni.cncf.io/networks",
            ".MeshConfig",  # whole, by otelResourceAttributes (extensionProviders)
            "Annotations:sidecar.istio.io/userVolume",
            "Annotations:sidecar.istio.io/userVolumeMount",
            "Annotations:sidecar.istio.io/bootstrapOverride",
        ),
        "refused",
    ),
    **dict.fromkeys((".ProxyUID", ".ProxyGID"), "fixed"),  # 1337: no namespace to read a UID range of
    **dict.fromkeys(
        (
            *(
                f".{name}"
                for name in [
                    "DeploymentMeta",
                    "InboundTrafficPolicyMode",
                    "NativeSidecars",
                    "ObjectMeta",
                    "ProxyConfig",
                    "ProxyImage",
                    "ProxyInitImage",
                    "Revision",
                    "Spec",
                    "TypeMeta",
                    "Values",
                ]
            ),
            *(
                f"Annotations:{key}"
                for key in (
                    "istio.io/reroute-virtual-interfaces",
                    "kubectl.kubernetes.io/default-container",
                    "kubectl.kubernetes.io/default-logs-container",
                    "readiness.status.sidecar.istio.io/failureThreshold",
                    "readiness.status.sidecar.istio.io/initialDelaySeconds",
                    "readiness.status.sidecar.istio.io/periodSeconds",
                    "sidecar.istio.io/agentLogLevel",
                    "sidecar.istio.io/capNetBindService",
                    "sidecar.istio.io/componentLogLevel",
                    "sidecar.istio.io/interceptionMode",
                    "sidecar.istio.io/logLevel",
                    "sidecar.istio.io/nativeSidecar",
                    "sidecar.istio.io/proxyCPU",
                    "sidecar.istio.io/proxyCPULimit",
                    "sidecar.istio.io/proxyImage",
                    "sidecar.istio.io/proxyMemory",
                    "sidecar.istio.io/proxyMemoryLimit",
                    "status.sidecar.istio.io/port",
                    "traffic.sidecar.istio.io/excludeInboundPorts",
                    "traffic.sidecar.istio.io/excludeInterfaces",
                    "traffic.sidecar.istio.io/excludeOutboundIPRanges",
                    "traffic.sidecar.istio.io/excludeOutboundPorts",
                    "traffic.sidecar.istio.io/includeInboundPorts",
                    "traffic.sidecar.istio.io/includeOutboundIPRanges",
                    "traffic.sidecar.istio.io/includeOutboundPorts",
                    "traffic.sidecar.istio.io/kubevirtInterfaces",
                )
            ),
            *(
                f"Labels:{key}"
                for key in (
                    "app",
                    "app.kubernetes.io/name",
                    "app.kubernetes.io/version",
                    "networking.istio.io/tunnel",
                    "security.istio.io/tlsMode",
                    "service.istio.io/canonical-name",
                    "service.istio.io/canonical-revision",
                    "service.istio.io/workload-name",
                    "version",
                )
            ),
            "MeshConfig.ProxyInboundListenPort",
            "MeshConfig.ProxyListenPort",
            "MeshConfig.TrustDomain",
            "ProxyConfig.HoldApplicationUntilProxyStarts.GetValue",
            "ProxyConfig.InterceptionMode",
            "ProxyConfig.InterceptionMode.String",
            "ProxyConfig.ProxyMetadata",
            "Values.revision",
            "Values.pilot.cni.enabled",
            "Values.pilot.crlConfigMapName",
            "Values.pilot.env",  # ENABLE_CLUSTER_TRUST_BUNDLE_API; COMPLIANCE_POLICY is refused
            *(
                f"Values.global.{key}"
                for key in [
                    "caAddress",
                    "caName",
                    "imagePullPolicy",
                    "imagePullSecrets",
                    "istioNamespace",
                    "logAsJson",
                    "logging.level",
                    "meshID",
                    "mountMtlsCerts",
                    "multiCluster.clusterName",
                    "nativeNftables",
                    "network",
                    "pilotCertProvider",
                    "proxy_init.forceApplyIptables",
                    "proxy_init.image",
                    "sds.token.aud",
                    "sts.servicePort",
                    "trustBundleName",
                    "trustDomain",
                ]
            ),
            *(
                f"Values.global.proxy.{key}"
                for key in [
                    "capNetBindService",
                    "clusterDomain",
                    "componentLogLevel",
                    "excludeIPRanges",
                    "excludeInboundPorts",
                    "excludeOutboundPorts",
                    "holdApplicationUntilProxyStarts",
                    "image",
                    "includeIPRanges",
                    "includeInboundPorts",
                    "includeOutboundPorts",
                    "lifecycle",
                    "logLevel",
                    "outlierLogPath",
                    "privileged",
                    "readinessFailureThreshold",
                    "readinessInitialDelaySeconds",
                    "readinessPeriodSeconds",
                    "resources",
                    "seccompProfile",
                    "startupProbe.enabled",
                    "startupProbe.failureThreshold",
                    "statusPort",
                ]
            ),
        ),
        "template",
    ),
}


def _quantity(value: Any) -> str | None:
    from meshform.modes.quantity import canonical

    return canonical(value)


# --------------------------------------------------------------------------------------------- facts


def _annotation(annotations: Mapping[str, Any], key: str, default: Any) -> str:
    """Istio's `annotation` lookup: the pod's value, else the default, as text."""
    value = annotations.get(key)
    return str(value) if value is not None else _text(default)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _status_port(proxy: Mapping[str, Any], mesh_default: Mapping[str, Any]) -> int:
    port = proxy.get("statusPort", mesh_default.get("statusPort", DEFAULT_STATUS_PORT))
    try:
        return int(port)
    except (TypeError, ValueError):
        return DEFAULT_STATUS_PORT


def _exclude_inbound(status_port: str, excluded: str) -> str:
    """Istio's excludeInboundPort: the excluded inbound ports with the (trimmed) status port added,
    unless 0 or already there; Istio compares it with each port as written, before trimming."""
    port = _go_trim_space(status_port)
    if not port or port == "0":
        return excluded
    if port in excluded.split(","):
        return excluded
    return ",".join([p for p in map(_go_trim_space, excluded.split(",")) if p] + [port])


# Go's unicode.IsSpace below U+0100 and the Unicode spaces above (strings.TrimSpace trims them);
# Python's str.strip() trims more (U+001C..U+001F), so it is not used where Go's trim decides.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(
    map(chr, range(0x2000, 0x200B))
)


def _go_trim_space(text: str) -> str:
    return text.strip(_GO_SPACE)


def _go_atoi(text: str) -> int:
    """Go's strconv.Atoi as the probe rewrite uses it: an optional sign and digits, nothing around
    them; anything else is an error, which Istio logs and then uses the port 0."""
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else 0


def _image(v: Mapping[str, Any], name: str, annotations: Mapping[str, Any], image_type: str) -> str:
    """An image as the injector names it: the pod's sidecar.istio.io/proxyImage when it is a full
    reference, else hub/name:tag with the image type (`image_type`, else values.global.variant; the
    pod's sidecar.istio.io/proxyImageType over both) replacing a known one the tag ends in."""
    wanted = _annotation(annotations, "sidecar.istio.io/proxyImage", name)
    if "/" in wanted:
        return wanted
    image_type = image_type or _text(v.get("variant"))
    if "sidecar.istio.io/proxyImageType" in annotations:
        image_type = _text(annotations["sidecar.istio.io/proxyImageType"])
    tag = _text(v.get("tag"))
    if image_type:
        for known in ("distroless", "debug"):
            if tag.endswith(f"-{known}"):
                tag = tag[: -len(known) - 1]
                break
        if image_type != "default":
            tag = f"{tag}-{image_type}"
    return f"{_text(v.get('hub'))}/{name}:{tag}"


def _proxy_image_type(proxy: Mapping[str, Any]) -> str:
    """ProxyConfig image.imageType (meshConfig.defaultConfig under the pod's proxy.istio.io/config):
    the proxy's image type; the init container's ignores it, as the injector does."""
    image = proxy.get("image")
    return _text(image.get("imageType")) if isinstance(image, Mapping) else ""


# One encoder for every call: json.dumps with options builds a new JSONEncoder each time.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _go_json(value: Any) -> str:
    """JSON as Go's encoding/json writes it: compact, with <, > and & escaped."""
    text = _COMPACT.encode(value)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _port_json(port: Mapping[str, Any]) -> str:
    """A ContainerPort as Go serializes it (its fields in declaration order, empty ones left out)."""
    out: dict[str, Any] = {}
    for key in ("name", "hostPort", "containerPort", "protocol", "hostIP"):
        if key in port and (port[key] or key == "containerPort"):
            out[key] = port[key]
    return _go_json(out)


def _pod_ports(containers: list[dict[str, Any]]) -> str:
    lines = ["["]
    first = True
    for container in containers:
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                lines.append(("    " if first else "    ,") + _port_json(port))
                first = False
    lines.append("]")
    return "\n".join(lines)


def _canonical_name(labels: Mapping[str, Any], workload: str) -> str:
    for key in ("service.istio.io/canonical-name", "app.kubernetes.io/name", "app"):
        if labels.get(key):
            name = str(labels[key])
            break
    else:
        name = workload
    return name[:63].strip("-_.")


def _canonical_revision(labels: Mapping[str, Any]) -> str:
    for key in ("service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"):
        if labels.get(key):
            return str(labels[key])
    return "latest"


def _resources(annotations: Mapping[str, Any], v: Mapping[str, Any]) -> dict[str, Any]:
    """The proxy's resources: the pod's proxyCPU/proxyMemory(+Limit) annotations, else the values'."""
    keys = {
        ("requests", "cpu"): "sidecar.istio.io/proxyCPU",
        ("requests", "memory"): "sidecar.istio.io/proxyMemory",
        ("limits", "cpu"): "sidecar.istio.io/proxyCPULimit",
        ("limits", "memory"): "sidecar.istio.io/proxyMemoryLimit",
    }
    out: dict[str, dict[str, str]] = {}
    if any(key in annotations for key in keys.values()):
        for (group, resource), key in keys.items():
            found = _quantity(annotations.get(key)) if key in annotations else None
            if found is not None:
                out.setdefault(group, {})[resource] = found
        return out
    for group, amounts in ((v.get("proxy") or {}).get("resources") or {}).items():
        if isinstance(amounts, Mapping):
            for resource, amount in amounts.items():
                found = _quantity(amount)
                if found is not None:
                    out.setdefault(group, {})[resource] = found
    return out


def _flag(annotations: Mapping[str, Any], key: str) -> bool | None:
    """An annotation read as Go's strconv.ParseBool (None when absent or not a boolean)."""
    raw = annotations.get(key)
    if raw is None:
        return None
    text = str(raw)
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


# ------------------------------------------------------------------------------------------- enroll


def own_container(spec: Mapping[str, Any]) -> tuple[str, str, int] | None:
    """Where the pod's own container named like one Istio injects is (("spec", "containers", 2)),
    if it has one: `istio-proxy` is Istio's documented way to customise the injected proxy, and the
    injector merges any container of the pod named like one of its template's into it
    (reapplyOverwrittenContainers). meshform does not reproduce that merge: refused as MF323."""
    for field in ("containers", "initContainers"):
        for i, container in enumerate(spec.get(field) or ()):
            if isinstance(container, Mapping) and container.get("name") in ISTIO_CONTAINERS:
                return ("spec", field, i)
    return None


OVERRIDES = "proxy.istio.io/overrides"


def overrides_problem(annotations: Mapping[str, Any], native: bool) -> str:
    """Why the pod's proxy.istio.io/overrides (the containers Istio remembers a pod's own istio-proxy
    by, and merges over what it injects) keeps meshform from pre-injecting it; "" when Istio would
    not apply it either (it merges only containers its template injects, in the list it injects
    them in: a classic proxy in `containers`, a native one and istio-init in `initContainers`)."""
    raw = annotations.get(OVERRIDES)
    if raw is None:
        return ""
    try:
        given = json.loads(str(raw))
    except ValueError:
        given = None
    if not isinstance(given, dict) or any(
        not isinstance(given.get(k) or [], list) for k in ("containers", "initContainers")
    ):
        return (
            f"annotation {OVERRIDES} must be JSON of containers and initContainers lists "
            "(istioctl refuses it)"
        )
    injected = {
        "containers": set() if native else {PROXY},
        "initContainers": (ISTIO_CONTAINERS if native else ISTIO_CONTAINERS - {PROXY}),
    }
    for field, names in injected.items():
        for container in given.get(field) or []:
            name = container.get("name") if isinstance(container, dict) else None
            if name in names:
                return (
                    f"annotation {OVERRIDES} customises the injected {name} (in {field}), which Istio "
                    "merges into the container it injects; meshform does not pre-inject that merge"
                )
    return ""


def enroll(ctx: EnrollContext) -> Enrollment:
    """The Enrollment that turns ctx's pod into the pod Istio's injector makes of it (nothing for a
    pod meshform refuses to pre-inject: its own istio-proxy or proxy.istio.io/overrides, MF323)."""
    if own_container(ctx.pod_spec) is not None or overrides_problem(ctx.pod_annotations, native_of(ctx)):
        return Enrollment()
    version, values, installed = _install(ctx.options)
    annotations = {str(k): v for k, v in ctx.pod_annotations.items()}
    proxy = proxy_config.merged(installed["defaultConfig"], _proxy_override(annotations, version), version)
    mesh = {**installed, "defaultConfig": proxy}
    spec = ctx.pod_spec
    native = _native(ctx, annotations)
    pod = _pod_facts(ctx, annotations)
    # p and i follow from the install, the pod's annotations and `native` alone; the pod's flags
    # shape the output; everything else of the pod is bound late
    key = (
        version,
        id(values),
        id(installed),
        native,
        tuple(sorted((k, str(v)) for k, v in annotations.items())),
        tuple(bool(pod[name]) if name in _LATE else pod[name] for name in sorted(pod)),
    )
    skeleton = _SKELETONS.get(key)
    if skeleton is None:
        skeleton = _skeleton(
            key, version, {**_template_values(ctx, version, values, mesh, native), "pod": pod}
        )
    rendered = _bind(skeleton, pod)
    enrollment = Enrollment(
        labels=rendered.get("labels") or {}, annotations=rendered.get("annotations") or {}
    )
    init, sidecar = rendered.get("init"), rendered["proxy"]
    _prometheus(enrollment, annotations, mesh, sidecar)
    if _rewrites_probes(annotations, values):
        _rewrite_probes(enrollment, spec, annotations, mesh, sidecar)
    volumes = rendered.get("volumes") or []
    inits = ([init] if init else []) + ([sidecar] if native else [])
    status = {
        "initContainers": [c["name"] for c in inits] or None,
        "containers": None if native else [PROXY],
        "volumes": [v["name"] for v in volumes] or None,
        "imagePullSecrets": list(rendered.get("pullSecrets") or []) or None,
        "revision": _injector_revision(ctx.options, values),
    }
    enrollment.annotations[STATUS] = _go_json(status)
    enrollment.leading_volumes = volumes
    enrollment.image_pull_secrets = [str(name) for name in rendered.get("pullSecrets") or []]
    if native:
        enrollment.init_containers = inits
    else:
        if init is not None and init["name"] == "istio-validation":
            enrollment.init_containers = [init]
        elif init is not None:
            enrollment.trailing_init_containers = [init]
        hold = bool(proxy.get("holdApplicationUntilProxyStarts")) or bool(
            (values["global"].get("proxy") or {}).get("holdApplicationUntilProxyStarts")
        )
        if hold:
            enrollment.leading_containers = [sidecar]
        else:
            enrollment.containers = [sidecar]
    if ctx.kind == "CronJob":
        enrollment.job_labels = _for_kube_inject(ctx.pod_labels, enrollment.labels)
        enrollment.job_annotations = _for_kube_inject(annotations, enrollment.annotations)
    return enrollment


def _for_kube_inject(own: Mapping[str, Any], injected: Mapping[str, Any]) -> dict[str, Any]:
    """A CronJob's pod labels or annotations that go on its spec.jobTemplate.metadata too: Istio's
    (a key of an `...istio.io/` domain: the pod's own overrides and Istio's markers) and every key
    the injection adds or changes. `istioctl kube-inject` reads and writes a CronJob's pod metadata
    there (pkg/kube/inject IntoObject: `case *batch.CronJob: metadata =
    &job.Spec.JobTemplate.ObjectMeta`), while the webhook, which injects the pods, reads the pod
    template's: with both, each sees the pod as injected (sidecar.istio.io/status), and a second
    injection by either changes nothing."""
    after = {**own, **injected}
    return {
        k: v
        for k, v in after.items()
        if v is not None and (str(k).partition("/")[0].endswith("istio.io") or own.get(k) != v)
    }


_INSTALLS: dict[tuple[int, int], tuple[Any, Any, str, dict[str, Any], dict[str, Any]]] = {}


def _install(options: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The template version and the user's values and meshConfig over its defaults. Every workload
    of a run shares the same loaded inputs (the same objects): merged once, kept with them."""
    from meshform.modes import injection

    given_values, given_mesh = options.get("values") or {}, options.get("meshConfig") or {}
    key = (id(given_values), id(given_mesh))
    found = _INSTALLS.get(key)
    if found is None or found[0] is not given_values or found[1] is not given_mesh:
        version = injection.version_for(MESH, options)
        defaults = _defaults(version)
        values = _merged(defaults["values"], given_values)
        mesh = _merged(defaults["meshConfig"], given_mesh, null_is_unset=True)
        mesh["defaultConfig"] = _default_config(given_mesh, version)
        if len(_INSTALLS) > 64:  # skeletons are keyed by an install's identity: they go with it
            _INSTALLS.clear()
            _SKELETONS.clear()
        found = _INSTALLS[key] = (given_values, given_mesh, version, values, mesh)
    return found[2], found[3], found[4]


def _default_config(given_mesh: Mapping[str, Any], version: str) -> Mapping[str, Any]:
    """meshConfig.defaultConfig merged over Istio's DefaultProxyConfig as ApplyMeshConfig does
    (refused input is MF322 before any pod is enrolled)."""
    try:
        given = proxy_config.decode(given_mesh.get("defaultConfig"), version)
    except proxy_config.ProxyConfigError:
        given = {}
    return proxy_config.merged(proxy_config.default_proxy_config(), given, version)


def _injector_revision(options: Mapping[str, Any], values: Mapping[str, Any]) -> str:
    """The revision of the injector that injects the pod (its template's `.Revision`: the pod's
    istio.io/rev and the status record's revision): modeOptions.istio.revision, as `istioctl
    kube-inject --revision` takes it, else the one the values' istiod runs as, else "default". The
    values' own `revision` still names the istiod the proxy talks to (caAddress), as in Istio."""
    return str(options.get("revision") or values.get("revision") or "default")


def native_of(ctx: EnrollContext) -> bool:
    """Does this pod get a native sidecar (see _native)?"""
    return _native(ctx, {str(k): v for k, v in ctx.pod_annotations.items()})


def _native(ctx: EnrollContext, annotations: Mapping[str, Any]) -> bool:
    """Native sidecar: the pod's sidecar.istio.io/nativeSidecar, else modeOptions.istio.nativeSidecar,
    else the cluster's istiod setting (cluster_native), else true. istiod's ENABLE_NATIVE_SIDECARS
    defaults to "auto": native when the pod's node runs Kubernetes >= 1.33 (the sidecar feature's
    GA). Offline `istioctl kube-inject` sees no node and injects classic sidecars unless
    ENABLE_NATIVE_SIDECARS=true: nativeSidecar: false reproduces that (and older nodes)."""
    found = annotations.get("sidecar.istio.io/nativeSidecar")
    if found is not None:
        return str(found) != "false"
    if "nativeSidecar" in ctx.options:
        return ctx.options["nativeSidecar"] is not False
    cluster = cluster_native(ctx.options)
    return True if cluster is None else cluster


NATIVE_ENV = ("pilot", "env", "ENABLE_NATIVE_SIDECARS")


def cluster_native(options: Mapping[str, Any]) -> bool | None:
    """What the values' `pilot.env.ENABLE_NATIVE_SIDECARS` (istiod's own environment: the chart puts
    pilot.env there) makes istiod do: "true" native, "false" classic, "auto" or absent None (the
    node decides); any other value classic, as istiod reads it ("Unknown value ..., defaulting to
    false")."""
    env = ((options.get("values") or {}).get("pilot") or {}).get("env")
    raw = env.get(NATIVE_ENV[-1]) if isinstance(env, Mapping) else None
    if raw is None:
        return None
    text = _text(raw)  # the chart quotes the value: a YAML true is "true"
    return None if text == "auto" else text == "true"


def native_conflict(options: Mapping[str, Any]) -> str | None:
    """The message when modeOptions.istio.nativeSidecar says otherwise than the cluster's istiod
    setting (the option is followed), else None."""
    given, cluster = options.get("nativeSidecar"), cluster_native(options)
    if not isinstance(given, bool) or cluster is None or given == cluster:
        return None
    raw = _text(((options.get("values") or {}).get("pilot") or {}).get("env", {}).get(NATIVE_ENV[-1]))
    kind = "native" if given else "classic"
    return (
        f"modeOptions.istio.nativeSidecar {_text(given)}, but the cluster's values set "
        f"pilot.env.ENABLE_NATIVE_SIDECARS {raw!r} (istiod injects {'native' if cluster else 'classic'} "
        f"sidecars): injecting {kind} sidecars as the option says"
    )


def _template_values(
    ctx: EnrollContext, version: str, values: Mapping[str, Any], mesh: Mapping[str, Any], native: bool
) -> dict[str, Any]:
    v: Mapping[str, Any] = values["global"]
    proxy: Mapping[str, Any] = mesh["defaultConfig"]
    a = {str(k): v for k, v in ctx.pod_annotations.items()}
    vp: Mapping[str, Any] = v.get("proxy") or {}
    mode = _annotation(a, "sidecar.istio.io/interceptionMode", proxy.get("interceptionMode") or "REDIRECT")
    tproxy = mode == "TPROXY"
    cni = bool((values.get("pilot") or {}).get("cni", {}).get("enabled"))
    status_port = _annotation(a, "status.sidecar.istio.io/port", vp.get("statusPort"))
    metadata = sorted((str(k), _text(val)) for k, val in (proxy.get("proxyMetadata") or {}).items())
    revision = str(values.get("revision") or "")
    trust = str(mesh.get("trustDomain") or v.get("trustDomain") or "")
    readiness = [
        (
            "initialDelaySeconds",
            _annotation(
                a,
                "readiness.status.sidecar.istio.io/initialDelaySeconds",
                vp.get("readinessInitialDelaySeconds"),
            ),
        ),
        (
            "periodSeconds",
            _annotation(
                a, "readiness.status.sidecar.istio.io/periodSeconds", vp.get("readinessPeriodSeconds")
            ),
        ),
        (
            "failureThreshold",
            _annotation(
                a, "readiness.status.sidecar.istio.io/failureThreshold", vp.get("readinessFailureThreshold")
            ),
        ),
    ]
    include_out = _annotation(
        a, "traffic.sidecar.istio.io/includeOutboundPorts", vp.get("includeOutboundPorts")
    )
    exclude_out = _annotation(
        a, "traffic.sidecar.istio.io/excludeOutboundPorts", vp.get("excludeOutboundPorts")
    )
    passed = [
        (k, str(a[k]))
        for k in (
            "traffic.sidecar.istio.io/kubevirtInterfaces",
            "istio.io/reroute-virtual-interfaces",
            "traffic.sidecar.istio.io/excludeInterfaces",
        )
        if a.get(k)
    ]
    return {
        "v": v,
        "p": {
            "hbone": (proxy.get("proxyMetadata") or {}).get("ISTIO_META_ENABLE_HBONE") == "true",
            "revision": _injector_revision(ctx.options, values),
            "native": native,
            "image": _image(v, str(vp.get("image") or "proxyv2"), a, _proxy_image_type(proxy)),
            "init_image": _image(v, str((v.get("proxy_init") or {}).get("image") or "proxyv2"), a, ""),
            "log_level": _annotation(a, "sidecar.istio.io/logLevel", vp.get("logLevel")),
            "component_log_level": _annotation(
                a, "sidecar.istio.io/componentLogLevel", vp.get("componentLogLevel")
            ),
            "agent_log_level": _annotation(
                a, "sidecar.istio.io/agentLogLevel", (v.get("logging") or {}).get("level")
            ),
            "hold": bool(
                proxy.get("holdApplicationUntilProxyStarts") or vp.get("holdApplicationUntilProxyStarts")
            )
            and not native,
            "status_port": status_port,
            # Istio writes this argument as a plain YAML scalar: its trailing blanks do not survive
            "drain_debug_port": f"--debug-port={status_port}".rstrip(" \t"),
            "localhost_inbound": ((mesh.get("inboundTrafficPolicy") or {}).get("mode") == "LOCALHOST"),
            "ca_address": str(
                v.get("caAddress")
                or f"istiod{'-' + revision if revision else ''}.{v.get('istioNamespace')}.svc:15012"
            ),
            "proxy_config_json": proxy_config.to_json(proxy, version),
            "mesh_id": str(v.get("meshID") or trust),
            "trust_domain": trust,
            "metadata": metadata,
            "readiness": [(k, int(x)) for k, x in readiness if x.strip().isdigit() and int(x)],
            "cap_net_bind": _annotation(a, "sidecar.istio.io/capNetBindService", vp.get("capNetBindService"))
            == "true",
            "uid": 1337,
            "gid": 1337,
            "resources": _resources(a, v),
            "cluster_trust_bundle": ((values.get("pilot") or {}).get("env") or {}).get(
                "ENABLE_CLUSTER_TRUST_BUNDLE_API"
            )
            is True,
            "crl_config_map": str((values.get("pilot") or {}).get("crlConfigMapName") or ""),
        },
        "i": {
            "cni": cni,
            "mode": mode,
            "tproxy": tproxy,
            "init_container": mode != "NONE",
            "outbound_port": str(mesh.get("proxyListenPort") or "15001"),
            "inbound_port": str(mesh.get("proxyInboundListenPort") or "15006"),
            "uid": "1337",
            "include_ip_ranges": _annotation(
                a, "traffic.sidecar.istio.io/includeOutboundIPRanges", vp.get("includeIPRanges")
            ),
            "exclude_ip_ranges": _annotation(
                a, "traffic.sidecar.istio.io/excludeOutboundIPRanges", vp.get("excludeIPRanges")
            ),
            "include_inbound_ports": _annotation(
                a, "traffic.sidecar.istio.io/includeInboundPorts", vp.get("includeInboundPorts")
            ),
            "exclude_inbound_ports": _exclude_inbound(
                status_port,
                _annotation(a, "traffic.sidecar.istio.io/excludeInboundPorts", vp.get("excludeInboundPorts")),
            ),
            "has_include_outbound_ports": "traffic.sidecar.istio.io/includeOutboundPorts" in a
            or bool(include_out),
            "include_outbound_ports": include_out,
            "has_exclude_outbound_ports": "traffic.sidecar.istio.io/excludeOutboundPorts" in a
            or bool(exclude_out),
            "exclude_outbound_ports": exclude_out,
            "reroute_interfaces": str(
                a.get("istio.io/reroute-virtual-interfaces")
                or a.get("traffic.sidecar.istio.io/kubevirtInterfaces")
                or ""
            ),
            "exclude_interfaces": str(a.get("traffic.sidecar.istio.io/excludeInterfaces") or ""),
            "passed_annotations": passed,
        },
    }


def _pod_facts(ctx: EnrollContext, a: Mapping[str, Any]) -> dict[str, Any]:
    """What the template reads of this one pod. Flags shape the output; the strings are bound late
    (see _skeleton), so one rendering serves every pod of an install."""
    labels = ctx.pod_labels
    containers = [c for c in ctx.pod_spec.get("containers") or [] if isinstance(c, dict)]
    app = [str(c.get("name")) for c in containers if c.get("name") != PROXY]
    name, kind, api = _deploy_meta(ctx)
    workload = str(labels.get("service.istio.io/workload-name") or name)
    owner = ""
    if name and api:
        namespace = ctx.namespace or "default"
        owner = f"kubernetes://apis/{api}/namespaces/{namespace}/{kind.lower()}s/{name}"
    return {
        "has_apps": bool(app),
        "has_default_container": "kubectl.kubernetes.io/default-container" in a,
        "has_default_logs_container": "kubectl.kubernetes.io/default-logs-container" in a,
        "tls_mode": str(labels.get("security.istio.io/tlsMode") or "istio"),
        "tunnel": str(labels.get("networking.istio.io/tunnel") or "http"),
        "canonical_name": _canonical_name(labels, name),
        "canonical_revision": _canonical_revision(labels),
        "default_container": app[0] if app else "",
        "app_list": ",".join(app),
        "ports_json": _pod_ports(containers),
        "workload_name": workload,
        "owner": owner,
        "secret_name": "istio." + str(ctx.pod_spec.get("serviceAccountName") or "default"),
    }


_CRONJOB_JOB = re.compile(r"(.+)-[0-9]{8,10}")


def _deploy_meta(ctx: EnrollContext) -> tuple[str, str, str]:
    """The workload's name, kind and apiVersion as the injector derives them. A bare Pod whose name
    is generated (generateName) is named after its controller (the ownerReference marked
    controller): a ReplicaSet carrying the pod's pod-template-hash is its Deployment (Argo's
    rollouts-pod-template-hash: a Rollout), a ReplicationController with a `deploymentconfig` label an
    OpenShift DeploymentConfig, a Job named `<name>-<8 to 10 digits>` its CronJob."""
    api = ctx.api_version or _DEFAULT_API.get(ctx.kind, "apps/v1")
    if ctx.kind != "Pod" or not ctx.generate_name:
        return ctx.workload_name, ctx.kind, api
    ref = next((r for r in ctx.owner_references if r.get("controller") is True), None)
    if ref is None:
        return ctx.workload_name, ctx.kind, api
    name, kind, api = _text(ref.get("name")), _text(ref.get("kind")), _text(ref.get("apiVersion"))
    labels = ctx.pod_labels
    if kind == "ReplicaSet" and _suffixed(name, labels.get("pod-template-hash")):
        name, kind = name.removesuffix("-" + str(labels["pod-template-hash"])), "Deployment"
    elif kind == "ReplicaSet" and _suffixed(name, labels.get("rollouts-pod-template-hash")):
        name = name.removesuffix("-" + str(labels["rollouts-pod-template-hash"]))
        kind, api = "Rollout", "v1alpha1"
    elif kind == "ReplicationController" and labels.get("deploymentconfig"):
        name, kind = str(labels["deploymentconfig"]), "DeploymentConfig"
    elif kind == "Job" and (job := _CRONJOB_JOB.fullmatch(name)):
        name, kind, api = job.group(1), "CronJob", "batch/v1"
    return name or ctx.workload_name, kind, api


def _suffixed(name: str, suffix: Any) -> bool:
    return bool(suffix) and name.endswith(str(suffix))


# Pod facts the template writes as whole values (bound late); the rest of "pod" are flags.
_LATE = (
    "tls_mode",
    "tunnel",
    "canonical_name",
    "canonical_revision",
    "default_container",
    "app_list",
    "ports_json",
    "workload_name",
    "owner",
    "secret_name",
)
# A per-process nonce: a token no input value can equal, so binding replaces only what it put there.
# os.urandom is what secrets.token_hex reads, without importing secrets (hmac, random: ~4 ms a run).
_NONCE = os.urandom(12).hex()
_TOKENS = {name: f"meshform-{_NONCE}-{name}" for name in _LATE}
_BY_TOKEN = {token: name for name, token in _TOKENS.items()}
Skeleton = tuple[bytes, list[tuple[tuple[Any, ...], str]]]
_SKELETONS: dict[tuple[Any, ...], Skeleton] = {}
MAX_SKELETONS = 512


def _skeleton(key: tuple[Any, ...], version: str, template_values: dict[str, Any]) -> Skeleton:
    """The template rendered with each late pod fact a token: the rendered data, marshalled, and
    where each token sits. Kept under `key`, for every later pod of the same install and settings.

    Rendering and parsing dominate a large stream, and all but a few strings are the same for every
    pod of an install: those few (names, ports, owner) are written by the template as tokens and bound
    per pod as data (_bind), never spliced into text."""
    from meshform.modes import injection

    pod = template_values["pod"]
    bound = {**pod, **{name: _TOKENS[name] if pod[name] else "" for name in _LATE}}
    rendered = injection.render(MESH, version, "sidecar.yaml.j2", {**template_values, "pod": bound})
    if len(_SKELETONS) >= MAX_SKELETONS:
        _SKELETONS.clear()
    # marshal, not JSON: the copy per pod is the cost that remains, and marshal.loads is several times
    # faster. Format 2 has no back-references, so no two places of a copy ever share one object.
    found = _SKELETONS[key] = (marshal.dumps(rendered, 2), list(_token_paths(rendered, ())))
    return found


def _token_paths(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _token_paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _token_paths(value, (*path, i))
    elif isinstance(node, str) and node in _BY_TOKEN:
        yield path, _BY_TOKEN[node]


def _bind(skeleton: Skeleton, pod: Mapping[str, Any]) -> dict[str, Any]:
    """A fresh copy of a skeleton with its tokens replaced by this pod's values."""
    frozen, paths = skeleton
    data: dict[str, Any] = marshal.loads(frozen)
    for path, name in paths:
        node: Any = data
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = pod[name]
    return data


# --------------------------------------------------------------------------------------- Prometheus


_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


def _sanitized(key: str) -> str:
    """A key as Prometheus label names read it (what the injector compares): other characters → _."""
    return _UNSAFE.sub("_", key)


# (sanitized key, key, value) of a pod's annotations that may be Prometheus' ones, in their order:
# sanitized once per pod, then looked up by the sanitized keys the injector asks for.
Scraping = list[tuple[str, str, Any]]
_SCRAPE, _PATH, _PORT = (_sanitized(f"prometheus.io/{key}") for key in ("scrape", "path", "port"))


def _scraping(annotations: Mapping[str, Any]) -> Scraping:
    return [(_sanitized(k), k, v) for k, v in annotations.items() if "prometheus" in k]


def _prometheus_value(scraping: Scraping, wanted: str) -> tuple[str, str] | None:
    """The first annotation whose sanitized key is `wanted` (a sanitized key), as the injector finds it."""
    for sanitized, key, value in scraping:
        if sanitized == wanted:
            return key, str(value)
    return None


def _scrapes(scraping: Scraping) -> bool:
    found = _prometheus_value(scraping, _SCRAPE)
    if found is None:
        return True
    parsed = _flag({"x": found[1]}, "x")
    return True if parsed is None else parsed


def _merges(annotations: Mapping[str, Any], scraping: Scraping, mesh: Mapping[str, Any]) -> bool:
    if not _scrapes(scraping):
        return False
    found = _flag(annotations, "prometheus.istio.io/merge-metrics")
    return found if found is not None else mesh.get("enablePrometheusMerge", True) is not False


def _prometheus_problems(annotations: Mapping[str, Any], status_port: int) -> Iterator[tuple[str, str]]:
    if SCRAPE_TARGETS in annotations:
        yield (
            SCRAPE_TARGETS,
            f"annotation {SCRAPE_TARGETS} is not pre-injected by meshform; use enrollment labels",
        )
        return
    scraping = _scraping(annotations)
    found = _prometheus_value(scraping, _PORT)
    if found is None or not _scrapes(scraping) or found[1] == str(status_port):
        return
    port = found[1]
    if not (port.isdigit() and 1 <= int(port) <= 65535):
        yield found[0], f"annotation {found[0]}: {port!r} is not a port (Istio refuses to inject this pod)"
    elif int(port) in (15000, 15001, 15004, 15006, 15008, 15020, 15021, 15053, 15090):
        yield (
            found[0],
            f"annotation {found[0]}: port {port} is reserved for Istio (Istio refuses to inject this pod)",
        )


_PROMETHEUS_SANITIZED = frozenset(_sanitized(k) for k in (*PROMETHEUS_KEYS, SCRAPE_TARGETS))


def _prometheus(
    enrollment: Enrollment, annotations: Mapping[str, Any], mesh: Mapping[str, Any], sidecar: dict[str, Any]
) -> None:
    """Metrics merge: the app's scrape settings move into the proxy, Prometheus scrapes the agent."""
    scraping = _scraping(annotations)
    if not _merges(annotations, scraping, mesh):
        return
    target = str(_status_port(mesh["defaultConfig"], {}))
    port = _prometheus_value(scraping, _PORT)
    if port is not None and port[1] == target:
        return
    scrape = {
        key: (found[1] if (found := _prometheus_value(scraping, wanted)) else "")
        for key, wanted in (("scrape", _SCRAPE), ("path", _PATH), ("port", _PORT))
    }
    if any(scrape.values()):
        sidecar.setdefault("env", []).append({"name": PROMETHEUS_ENV, "value": _go_json(scrape)})
    for sanitized, key, _ in scraping:
        if sanitized in _PROMETHEUS_SANITIZED:
            enrollment.annotations[key] = None
    enrollment.annotations.update(
        {
            "prometheus.io/port": target,
            "prometheus.io/path": "/stats/prometheus",
            "prometheus.io/scrape": "true",
        }
    )


# ------------------------------------------------------------------------------------------- probes


def _rewrites_probes(annotations: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    found = _flag(annotations, "sidecar.istio.io/rewriteAppHTTPProbers")
    if found is not None:
        return found
    # Istio reads the typed values: a null (or a null sidecarInjectorWebhook) is false, no rewrite
    return (values.get("sidecarInjectorWebhook") or {}).get("rewriteAppHTTPProbe") is True


def _action_json(action: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """A probe action as Go serializes it: its fields in declaration order, empty ones left out."""
    return {k: action[k] for k in fields if k in action and (action[k] not in ("", None, []) or k == "port")}


def _prober(handler: Any, named: Mapping[str, Any], target: int, with_timeout: bool) -> dict[str, Any] | None:
    """One entry of ISTIO_KUBE_APP_PROBERS (None: the injector leaves this probe out)."""
    if not isinstance(handler, Mapping):
        return None
    out: dict[str, Any] = {}
    if isinstance(handler.get("httpGet"), Mapping):
        key, action = (
            "httpGet",
            _action_json(handler["httpGet"], ("path", "port", "host", "scheme", "httpHeaders")),
        )
    elif isinstance(handler.get("tcpSocket"), Mapping):
        key, action = "tcpSocket", _action_json(handler["tcpSocket"], ("port", "host"))
    elif with_timeout and isinstance(handler.get("grpc"), Mapping):
        grpc = handler["grpc"]
        out["grpc"] = {"port": grpc.get("port"), "service": grpc.get("service")}
        if with_timeout and handler.get("timeoutSeconds"):
            out["timeoutSeconds"] = handler["timeoutSeconds"]
        return out
    else:
        return None
    port = action.get("port")
    if isinstance(port, str):
        if port not in named:
            return None
        action["port"] = named[port]
    elif port == target:
        return None
    out[key] = action
    if with_timeout and handler.get("timeoutSeconds"):
        out["timeoutSeconds"] = handler["timeoutSeconds"]
    return out


def _converted(handler: Any, url: str, port: int, probe: bool) -> dict[str, Any] | None:
    """The handler pointed at the agent (None: the injector leaves it as it is)."""
    if not isinstance(handler, Mapping):
        return None
    out = dict(handler)
    if isinstance(handler.get("httpGet"), Mapping):
        action = dict(handler["httpGet"])
        if action.get("scheme") == "HTTPS":
            action["scheme"] = "HTTP"
    elif isinstance(handler.get("tcpSocket"), Mapping):
        del out["tcpSocket"]
        action = {}
    elif probe and isinstance(handler.get("grpc"), Mapping):
        del out["grpc"]
        action = {}
    else:
        return None
    action.update(path=url, port=port)
    out["httpGet"] = action
    return out


def _rewrite_probes(
    enrollment: Enrollment,
    spec: Mapping[str, Any],
    annotations: Mapping[str, Any],
    mesh: Mapping[str, Any],
    sidecar: dict[str, Any],
) -> None:
    # Probes move to the pod's status.sidecar.istio.io/port, else to the statusPort of the mesh's
    # defaultConfig with the pod's proxy.istio.io/config applied (kube-inject applies it before the
    # rewrite), not to a fixed 15020. The annotation is read with Go's Atoi, untrimmed: " 15021"
    # passes Istio's validation (it trims) but not Atoi, and Istio then rewrites to port 0.
    target = _status_port(mesh["defaultConfig"], {})
    given = annotations.get("status.sidecar.istio.io/port")
    port = target if given is None else _go_atoi(str(given))
    probers: dict[str, Any] = {}
    every = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for container in every:
        if not isinstance(container, dict) or container.get("name") == PROXY:
            continue
        name = str(container.get("name"))
        named = {
            str(p["name"]): p.get("containerPort")
            for p in container.get("ports") or []
            if isinstance(p, dict) and p.get("name")
        }
        fields: dict[str, Any] = {}
        for field, kind in PROBE_KINDS:
            url = f"/app-health/{name}/{kind}"
            found = _prober(container.get(field), named, target, True)
            if found is not None:
                probers[url] = found
            converted = _converted(container.get(field), url, port, True)
            if converted is not None:
                fields[field] = converted
        lifecycle = container.get("lifecycle")
        if isinstance(lifecycle, Mapping):
            hooks = dict(lifecycle)
            for hook, kind in HOOK_KINDS:
                url = f"/app-lifecycle/{name}/{kind}"
                found = _prober(lifecycle.get(hook), named, target, False)
                if found is not None:
                    probers[url] = found
                converted = _converted(lifecycle.get(hook), url, port, False)
                if converted is not None:
                    hooks[hook] = converted
            if hooks != lifecycle:
                fields["lifecycle"] = hooks
        if fields:
            enrollment.container_fields[name] = fields
    if probers:
        text = _go_json(dict(sorted(probers.items())))
        sidecar.setdefault("env", []).append({"name": PROBERS_ENV, "value": text})
