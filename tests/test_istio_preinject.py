"""istio --enrollment sidecar is exactly what Istio's injector does: a differential test against the real
`istioctl kube-inject` (tests/tools/build.sh istioctl, inputs from `istioctl manifest generate`) over
meshform's own corpus (tests/fixtures/istio-inject/), classic and native sidecars, default and CNI
installs; the recorded real outputs in ../shared/injectors/istio/ too. Then: istioctl recognises
meshform's output as injected, meshform's un-injection and switching are exact, every front end
pre-injects, and bad inputs are located errors.

A CronJob is compared as istiod's webhook sees it: `istioctl kube-inject` takes a CronJob's
`spec.jobTemplate.metadata` for the pod's (it reads the labels and annotations there, and writes its
own there, so the Jobs carry them, not their pods), while the webhook, which injects the pods
themselves, reads and writes the pod's own metadata, as meshform does. So the pod template's metadata
is handed to kube-inject in jobTemplate.metadata, and its answer put back on the pod template; what
kube-inject wrote there (keys it added or changed) and the Istio keys it read (`...istio.io/`) stay on
jobTemplate.metadata as well, where meshform puts them too, so that kube-inject, like the webhook,
sees meshform's CronJob as injected: a second `istioctl kube-inject` of meshform's output, as of its
own, changes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, built_tool, invoke
from istio_diff import differences, documents

FIXTURES = ROOT / "tests" / "fixtures" / "istio-inject"
CORPUS = sorted(FIXTURES.glob("*.yaml"))
SHARED = ROOT.parent.parent / "shared" / "injectors"
HUB, TAG = "docker.io/istio", "1.31-dev"


def _istioctl() -> str:
    path = built_tool("istioctl")
    if path is None:
        reason = "istioctl is not built: run `bash tests/tools/build.sh istioctl` (~13 min)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " — required on CI")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def istioctl() -> str:
    return _istioctl()


def _generate(istioctl: str, where: Path, *settings: str) -> Path:
    """The injector's inputs as `istioctl manifest generate` makes them: the two ConfigMaps (what a
    user gives meshform) and the bare config / values / mesh (what kube-inject reads)."""
    where.mkdir(parents=True, exist_ok=True)
    args = [istioctl, "manifest", "generate", "--set", f"hub={HUB}", "--set", f"tag={TAG}", *settings]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout
    maps = {
        d["metadata"]["name"]: d
        for d in yaml.safe_load_all(out)
        if isinstance(d, dict) and d.get("kind") == "ConfigMap"
    }
    injector, mesh = maps["istio-sidecar-injector"], maps["istio"]
    (where / "inject-config.yaml").write_text(injector["data"]["config"])
    (where / "values.json").write_text(injector["data"]["values"])
    (where / "mesh.yaml").write_text(mesh["data"]["mesh"])
    (where / "istio-sidecar-injector.yaml").write_text(yaml.safe_dump(injector))
    (where / "istio.yaml").write_text(yaml.safe_dump(mesh))
    return where


@pytest.fixture(scope="module")
def installs(istioctl: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("istio-inputs")
    return {
        "default": _generate(istioctl, base / "default"),
        "cni": _generate(istioctl, base / "cni", "--set", "components.cni.enabled=true"),
        # pull secrets, a variant for every image and an image type for the proxy's alone
        "extras": _generate(
            istioctl,
            base / "extras",
            *("--set", "values.global.imagePullSecrets[0]=barSecret"),
            *("--set", "values.global.imagePullSecrets[1]=bazSecret"),
            *("--set", "values.global.variant=distroless"),
            *("--set", "meshConfig.defaultConfig.image.imageType=debug"),
            # a defaultConfig for proxy.istio.io/config to merge over (proxy-config-merge.yaml)
            *("--set", "meshConfig.defaultConfig.proxyMetadata.A=install"),
            *("--set", "meshConfig.defaultConfig.proxyMetadata.B=install"),
            *("--set", "meshConfig.defaultConfig.tracing.sampling=5"),
            *("--set", "meshConfig.defaultConfig.tracing.zipkin.address=zipkin.install:9411"),
            *("--set", "meshConfig.defaultConfig.concurrency=0"),
            *("--set", "meshConfig.defaultConfig.holdApplicationUntilProxyStarts=true"),
            *("--set", "meshConfig.defaultConfig.extraStatTags[0]=tag_a"),
            *("--set", "meshConfig.defaultConfig.proxyHeaders.server.value=install"),
        ),
    }


def kube_inject_run(
    istioctl: str, inputs: Path, text: str, native: bool = True, revision: str = "default"
) -> Any:
    """`istioctl kube-inject` of `text` with the install's bare inputs (never a cluster: --revision)."""
    return subprocess.run(
        [
            *(istioctl, "kube-inject", "--injectConfigFile", str(inputs / "inject-config.yaml")),
            *("--meshConfigFile", str(inputs / "mesh.yaml"), "--valuesFile", str(inputs / "values.json")),
            *("--revision", revision, "-f", "-"),
        ],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "ENABLE_NATIVE_SIDECARS": "true" if native else "false"},
    )


def kube_inject(istioctl: str, inputs: Path, native: bool, text: str) -> str:
    proc = kube_inject_run(istioctl, inputs, text, native)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def config(where: Path, native: bool, values: str, mesh: str) -> Path:
    path = where / f"meshform-{'native' if native else 'classic'}.yaml"
    options = {"valuesFile": values, "meshConfigFile": mesh, "nativeSidecar": native}
    spec = {"mode": "istio", "enrollment": "sidecar", "modeOptions": {"istio": options}}
    doc = {"apiVersion": "meshform.dev/v1alpha1", "kind": "MeshTransformer", "metadata": {"name": "t"}}
    path.write_text(yaml.safe_dump({**doc, "spec": spec}))
    return path


def preinject(cfg: Path, text: str) -> str:
    code, out, err = invoke("transform", "--config", str(cfg), "-", stdin=text.encode())
    assert code == 0, err
    assert "error" not in err, err
    return out


def _cronjobs(text: str, move: Any) -> str:
    docs = documents(text)
    for doc in docs:
        for item in doc.get("items", [doc]) if isinstance(doc, dict) else []:
            if isinstance(item, dict) and item.get("kind") == "CronJob":
                move(item["spec"]["jobTemplate"])
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


def _pod_metadata_up(job: dict[str, Any]) -> dict[str, Any]:
    """Where kube-inject reads a CronJob's pod metadata: jobTemplate.metadata, the pod's keys over
    the Jobs' own. Returns a copy of both, as they were."""
    pod = job["spec"]["template"].get("metadata") or {}
    up = job.setdefault("metadata", {})
    was = json.loads(json.dumps({"job": up, "pod": pod}))
    for key in ("labels", "annotations"):
        if key in pod:
            up[key] = {**(up.get(key) or {}), **pod.pop(key)}
    return was


def _istio_key(key: str) -> bool:
    return key.partition("/")[0].endswith("istio.io")


def _pod_metadata_down(job: dict[str, Any], was: dict[str, Any]) -> None:
    """Back where the webhook writes it: the pod template, the pod's own keys and what kube-inject
    added or changed. On jobTemplate.metadata stay the Jobs' own keys, what kube-inject wrote and the
    Istio keys (`...istio.io/`) it read."""
    up = job.pop("metadata", None) or {}
    pod = job["spec"]["template"].setdefault("metadata", {})
    kept: dict[str, Any] = {}
    for key in ("labels", "annotations"):
        found, jobs, pods = up.get(key) or {}, was["job"].get(key) or {}, was["pod"].get(key) or {}
        written = {k for k, v in found.items() if {**jobs, **pods}.get(k) != v}
        on_pod = {k: v for k, v in found.items() if k in pods or k in written}
        on_job = {k: v for k, v in found.items() if k in jobs or k in written or _istio_key(k)}
        if on_pod:
            pod[key] = {**(pod.get(key) or {}), **on_pod}
        if on_job:
            kept[key] = on_job
    if kept:
        job["metadata"] = kept


def as_the_webhook_injects(istioctl: str, inputs: Path, native: bool, text: str) -> str:
    """kube-inject's answer for `text`, each CronJob's pod metadata read and written on its pod."""
    if "CronJob" not in text:
        return kube_inject(istioctl, inputs, native, text)
    given: list[dict[str, Any]] = []
    raised = _cronjobs(text, lambda job: given.append(_pod_metadata_up(job)))
    out = kube_inject(istioctl, inputs, native, raised)
    order = iter(given)
    return _cronjobs(out, lambda job: _pod_metadata_down(job, next(order)))


def all_differences(ours: str, theirs: str) -> list[str]:
    a, b = documents(ours), documents(theirs)
    found = [f"document count: meshform {len(a)}, istioctl {len(b)}"] if len(a) != len(b) else []
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        found += [f"document {i}: {d}" for d in differences(x, y)]
    return found


VARIANTS = [
    ("default", False),
    ("default", True),
    ("cni", False),
    ("cni", True),
    ("extras", False),
    ("extras", True),
]


@pytest.mark.parametrize(
    ("install", "native"), VARIANTS, ids=[f"{i}-{'native' if n else 'classic'}" for i, n in VARIANTS]
)
@pytest.mark.parametrize("fixture", CORPUS, ids=[p.stem for p in CORPUS])
def test_meshform_injects_what_istioctl_injects(
    istioctl: str, installs: dict[str, Path], install: str, native: bool, fixture: Path
) -> None:
    inputs = installs[install]
    text = fixture.read_text()
    cfg = config(inputs, native, "istio-sidecar-injector.yaml", "istio.yaml")
    ours = preinject(cfg, text)
    assert all_differences(ours, as_the_webhook_injects(istioctl, inputs, native, text)) == []
    assert "istio-proxy" in ours


@pytest.mark.parametrize("native", [False, True], ids=["classic", "native"])
@pytest.mark.parametrize("fixture", CORPUS, ids=[p.stem for p in CORPUS])
def test_istioctl_sees_meshforms_pod_as_injected(
    istioctl: str, installs: dict[str, Path], native: bool, fixture: Path
) -> None:
    """kube-inject of meshform's output changes nothing: the marker makes Istio strip and re-add the
    very same sidecar. The real kube-inject, as is: a CronJob's marker is where it reads it too."""
    inputs = installs["default"]
    ours = preinject(config(inputs, native, "istio-sidecar-injector.yaml", "istio.yaml"), fixture.read_text())
    assert all_differences(ours, kube_inject(istioctl, inputs, native, ours)) == []


@pytest.mark.parametrize("native", [False, True], ids=["classic", "native"])
def test_a_second_kube_inject_of_a_cronjob_changes_nothing_of_istioctls_nor_of_meshforms(
    istioctl: str, installs: dict[str, Path], native: bool
) -> None:
    """The fact meshform follows: kube-inject reads a CronJob's pod metadata on jobTemplate.metadata,
    finds its own sidecar.istio.io/status there and re-injects nothing; meshform puts Istio's markers
    there too, so the same holds of its output. Without them (on the pod template alone, as the
    webhook wants them) kube-inject would take meshform's proxy for the user's own container and
    record it as an override: not a no-op."""
    inputs, text = installs["default"], (FIXTURES / "cronjob-overrides.yaml").read_text()
    once = kube_inject(istioctl, inputs, native, text)
    assert kube_inject(istioctl, inputs, native, once) == once
    ours = preinject(config(inputs, native, "istio-sidecar-injector.yaml", "istio.yaml"), text)
    assert all_differences(ours, kube_inject(istioctl, inputs, native, ours)) == []
    job = yaml.safe_load(ours)
    del job["spec"]["jobTemplate"]["metadata"]
    again = documents(kube_inject(istioctl, inputs, native, yaml.safe_dump(job)))[0]
    assert "proxy.istio.io/overrides" in again["spec"]["jobTemplate"]["metadata"]["annotations"]


def test_meshform_sees_its_pre_injected_cronjob_as_injected(tmp_path: Path) -> None:
    """meshform's own second run, un-injection and check read the CronJob as injected: no second
    sidecar, the markers on jobTemplate.metadata removed exactly (the Jobs' own label kept), and
    check satisfied."""
    text = (FIXTURES / "cronjob-overrides.yaml").read_text()
    args = ("--mode", "istio", "--enrollment", "sidecar")
    once = _mode(text, *args)
    assert _mode(once, *args) == once
    job = yaml.safe_load(once)["spec"]["jobTemplate"]
    pod = job["spec"]["template"]
    names = [c["name"] for c in [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]]
    assert names.count("istio-proxy") == 1
    assert job["metadata"]["labels"]["team"] == "billing"
    assert (
        job["metadata"]["annotations"]["sidecar.istio.io/status"]
        == (pod["metadata"]["annotations"]["sidecar.istio.io/status"])
    )
    assert job["metadata"]["annotations"]["sidecar.istio.io/proxyCPU"] == "200m"
    assert yaml.safe_load(_mode(once, "--mode", "kubernetes-native")) == yaml.safe_load(text)
    cfg = _transformer(tmp_path, "      nativeSidecar: false\n")
    (tmp_path / "injected.yaml").write_text(once)
    code, _, err = invoke("check", "--config", str(cfg), str(tmp_path / "injected.yaml"))
    assert code == 0, err
    (tmp_path / "bare.yaml").write_text(text)
    code, _, err = invoke("check", "--config", str(cfg), str(tmp_path / "bare.yaml"))
    assert code == 1 and "MF801" in err, err


def test_the_bare_values_and_mesh_work_as_well_as_the_configmaps(installs: dict[str, Path]) -> None:
    inputs = installs["cni"]
    text = (FIXTURES / "probes.yaml").read_text()
    from_maps = preinject(config(inputs, True, "istio-sidecar-injector.yaml", "istio.yaml"), text)
    assert preinject(config(inputs, True, "values.json", "mesh.yaml"), text) == from_maps
    assert "istio-validation" in from_maps


# ------------------------------------------------------------- recorded real outputs (no istioctl)


def _shared_cases() -> list[tuple[str, str]]:
    istio = SHARED / "istio"
    return [(kind, p.name) for kind in ("classic", "native") for p in sorted((istio / kind).glob("*.yaml"))]


@pytest.mark.parametrize(("kind", "name"), _shared_cases() or [("classic", "absent")])
def test_meshform_matches_the_recorded_kube_inject_outputs(tmp_path: Path, kind: str, name: str) -> None:
    if not (SHARED / "istio" / kind / name).is_file():
        pytest.skip("../shared/injectors/istio is not on this machine")
    given = SHARED / "istio" / "config"
    cfg = config(tmp_path, kind == "native", str(given / "values.json"), str(given / "mesh.yaml"))
    ours = preinject(cfg, (SHARED / "corpus" / name).read_text())
    recorded = (SHARED / "istio" / kind / name).read_text()  # kube-inject of the bare CronJob, whose
    # jobTemplate had no metadata of its own: only its answer moves to the pod (module docstring)
    nothing = {"job": {}, "pod": {}}
    assert all_differences(ours, _cronjobs(recorded, lambda job: _pod_metadata_down(job, nothing))) == []


# --------------------------------------------------------------------- un-injection and switching


def _mode(text: str, *args: str) -> str:
    code, out, err = invoke("transform", *args, "-", stdin=text.encode())
    assert code == 0, err
    return out


@pytest.mark.parametrize("native", [False, True], ids=["classic", "native"])
@pytest.mark.parametrize("fixture", CORPUS, ids=[p.stem for p in CORPUS])
def test_switching_away_and_back_is_exact(tmp_path: Path, native: bool, fixture: Path) -> None:
    """pre-injected → labels → kubernetes-native → pre-injected gives the same bytes; leaving the
    sidecar gives back what meshform gives the untouched input."""
    text = fixture.read_text()
    cfg = _inline_config(tmp_path, native)
    injected = _mode(text, "--config", str(cfg))
    labels = _mode(injected, "--mode", "istio", "--enrollment", "labels")
    plain = _mode(labels, "--mode", "kubernetes-native")
    assert _mode(plain, "--config", str(cfg)) == injected
    left = documents(_mode(injected, "--mode", "kubernetes-native"))
    assert left == documents(_mode(text, "--mode", "kubernetes-native"))  # as data: a changed
    # document is written out again, an untouched one keeps its own text
    assert _mode(injected, "--config", str(cfg)) == injected  # a re-run is a no-op


# (probes.yaml is not among them: Istio itself keeps no original of a probe on a port name the
# container does not declare, so nothing can restore that one)
REWRITTEN = [
    FIXTURES / name for name in ("lifecycle-hooks.yaml", "init-volumes.yaml", "proxy-config-status-port.yaml")
]


@pytest.mark.parametrize("native", [False, True], ids=["classic", "native"])
@pytest.mark.parametrize("fixture", REWRITTEN, ids=[p.stem for p in REWRITTEN])
def test_un_injecting_kube_injects_pod_gives_back_its_probes_and_hooks(
    istioctl: str, installs: dict[str, Path], native: bool, fixture: Path
) -> None:
    """istioctl rewrites probes and httpGet/tcpSocket lifecycle hooks of containers and init
    containers alike, keeping the originals in ISTIO_KUBE_APP_PROBERS: leaving Istio restores all of
    them, so the pod is what it was before kube-inject."""
    text = fixture.read_text()
    injected = as_the_webhook_injects(istioctl, installs["default"], native, text)
    assert "/app-lifecycle/" in injected or "lifecycle" not in text
    left = _mode(injected, "--mode", "kubernetes-native")
    assert "app-health" not in left and "app-lifecycle" not in left
    assert _pods(left) == _pods(_mode(text, "--mode", "kubernetes-native"))


def _pods(text: str) -> list[Any]:
    """Each workload's pod template (kube-inject also adds Go's empty `status: {}` stubs elsewhere).
    A restored port comes back by name where the container names that port (foreign._named_port):
    the corpus probes by name wherever a port has one."""
    return [d["spec"]["template"] for d in documents(text)]


def _inline_config(where: Path, native: bool) -> Path:
    """Inline values (the ConfigMap's text pasted as is) instead of files."""
    secrets = ["barSecret", "bazSecret"]  # what meshform adds of them, and only that, must go again
    given = {"hub": HUB, "tag": TAG, "proxy": {"logLevel": "info"}, "imagePullSecrets": secrets}
    values = json.dumps({"global": given})
    path = where / "inline.yaml"
    mesh = {"trustDomain": "example.org", "defaultConfig": {"image": {"imageType": "debug"}}}
    options = {"values": values, "meshConfig": mesh, "nativeSidecar": native}
    spec = {"mode": "istio", "enrollment": "sidecar", "modeOptions": {"istio": options}}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "meshform.dev/v1alpha1",
                "kind": "MeshTransformer",
                "metadata": {"name": "t"},
                "spec": spec,
            }
        )
    )
    return path


def test_an_injected_pod_still_knows_what_it_replaced(tmp_path: Path) -> None:
    """The probes and Prometheus annotations the injector rewrote come back exactly."""
    text = (FIXTURES / "probes.yaml").read_text()
    injected = _mode(text, "--config", str(_inline_config(tmp_path, True)))
    pod = yaml.safe_load(injected)["spec"]["template"]
    api = pod["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"] == {
        "path": "/app-health/api/readyz",
        "port": 15020,
        "httpHeaders": [{"name": "X-Probe", "value": "yes"}],
    }
    assert api["startupProbe"] == {
        "httpGet": {"path": "/app-health/api/startupz", "port": 15020},
        "failureThreshold": 30,
    }
    back = yaml.safe_load(_mode(injected, "--mode", "kubernetes-native"))["spec"]["template"]["spec"]
    assert back["containers"][0]["startupProbe"] == {"tcpSocket": {"port": "grpc"}, "failureThreshold": 30}


# ------------------------------------------------------------------------------------ front ends

APP = """\
apiVersion: meshform.dev/v1alpha1
kind: Application
metadata: {name: shop, namespace: shop}
spec:
  governanceMode: istio
  enrollment: sidecar
  modeOptions:
    istio: {valuesFile: values.json, meshConfigFile: mesh.yaml}
  components:
  - name: web
    image: ghcr.io/example/web:1
    ports: [{name: http, port: 8080, protocol: http}]
"""


def _shared_inputs(tmp_path: Path) -> None:
    given = SHARED / "istio" / "config"
    if not given.is_dir():
        pytest.skip("../shared/injectors/istio/config is not on this machine")
    (tmp_path / "values.json").write_text((given / "values.json").read_text())
    (tmp_path / "mesh.yaml").write_text((given / "mesh.yaml").read_text())


def test_render_pre_injects(tmp_path: Path) -> None:
    _shared_inputs(tmp_path)
    (tmp_path / "app.yaml").write_text(APP)
    code, out, err = invoke("render", str(tmp_path / "app.yaml"))
    assert code == 0, err
    deploy = next(d for d in documents(out) if d["kind"] == "Deployment")
    names = [c["name"] for c in deploy["spec"]["template"]["spec"]["initContainers"]]
    assert names == ["istio-init", "istio-proxy"]
    assert "sidecar.istio.io/status" in deploy["spec"]["template"]["metadata"]["annotations"]


def test_krm_and_helm_postrender_pre_inject(tmp_path: Path) -> None:
    _shared_inputs(tmp_path)
    workload = yaml.safe_load((FIXTURES / "init-volumes.yaml").read_text())
    cfg = yaml.safe_load(
        config(tmp_path, False, str(tmp_path / "values.json"), str(tmp_path / "mesh.yaml")).read_text()
    )
    resource_list = {
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": [workload],
        "functionConfig": cfg,
    }
    code, out, err = invoke("krm", stdin=yaml.safe_dump(resource_list).encode())
    assert code == 0, err
    item = yaml.safe_load(out)["items"][0]
    assert item["spec"]["template"]["spec"]["containers"][-1]["name"] == "istio-proxy"
    cfg_path = config(tmp_path, False, str(tmp_path / "values.json"), str(tmp_path / "mesh.yaml"))
    code, out, err = invoke(
        "helm-postrender", "--config", str(cfg_path), stdin=yaml.safe_dump(workload).encode()
    )
    assert code == 0, err
    assert yaml.safe_load(out)["spec"]["template"]["spec"]["initContainers"][-1]["name"] == "istio-init"


# ------------------------------------------------------------------------------------ bad inputs


def _transformer(tmp_path: Path, istio: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nmetadata: {name: t}\nspec:\n"
        f"  mode: istio\n  enrollment: sidecar\n  modeOptions:\n    istio:\n{istio}"
    )
    return path


def test_a_version_without_templates_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "values.json").write_text(json.dumps({"global": {"tag": "1.24.3"}}))
    cfg = _transformer(tmp_path, "      valuesFile: values.json\n")
    code, out, err = invoke("transform", "--config", str(cfg), str(FIXTURES / "cronjob.yaml"))
    assert (code, out) == (1, "")
    assert f"{tmp_path / 'values.json'}:1:13: error MF320" in err  # at "tag", the user's own key
    assert "'1.24.3'" in err and "it has: 1.31" in err


def test_a_version_meshform_knows_is_matched_by_its_minor(tmp_path: Path) -> None:
    (tmp_path / "values.json").write_text(
        json.dumps({"global": {"tag": "1.31.4-distroless", "hub": "r.io/x"}})
    )
    cfg = _transformer(tmp_path, "      valuesFile: values.json\n")
    code, out, err = invoke("transform", "--config", str(cfg), str(FIXTURES / "cronjob.yaml"))
    assert code == 0, err
    assert "image: r.io/x/proxyv2:1.31.4-distroless" in out


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ("sidecar.istio.io/userVolume: '{}'", "sidecar.istio.io/userVolume is not pre-injected"),
        ("proxy.istio.io/config: '[1'", "proxy.istio.io/config must hold a ProxyConfig mapping"),
        ("status.sidecar.istio.io/port: abc", "must be a port from 0 to 65535"),
        ("sidecar.istio.io/proxyCPU: lots", "must be a resource quantity"),
        ("prometheus.io/port: '15090'", "reserved for Istio"),
        ("proxy.istio.io/config: 'drainDuration: 1.5s'", "durations to seconds precision"),
        ("proxy.istio.io/config: 'concurrency: 1.5'", "concurrency must be a whole number"),
    ],
)
def test_an_override_meshform_cannot_reproduce_is_refused_located(
    tmp_path: Path, annotation: str, message: str
) -> None:
    workload = tmp_path / "w.yaml"
    workload.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
        f"    {annotation}\nspec:\n  containers: [{{name: c, image: busybox}}]\n"
    )
    code, out, err = invoke("transform", "--mode", "istio", "--enrollment", "sidecar", str(workload))
    assert (code, out) == (1, "")
    at = 5 + len(annotation.partition(": ")[0]) + 2  # the annotation's value, what the user wrote
    assert f"{workload}:6:{at}: error MF323" in err and message in err


def test_sidecar_stays_refused_for_a_mode_that_does_not_pre_inject() -> None:
    code, out, err = invoke(
        "transform", "--mode", "kuma", "--enrollment", "sidecar", str(FIXTURES / "cronjob.yaml")
    )
    assert (code, out) == (1, "") and "MF205" in err


def test_render_and_validate_locate_a_missing_values_file(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(APP)
    for command in ("render", "validate"):
        code, out, err = invoke(command, str(tmp_path / "app.yaml"))
        assert (code, out) == (1, ""), err
        assert f"{tmp_path / 'app.yaml'}:8:13: error MF321 valuesFile" in err, err
        assert f"{tmp_path / 'app.yaml'}:8:38: error MF321 meshConfigFile" in err, err  # every one


def test_a_transformer_option_of_the_wrong_type_is_located(tmp_path: Path) -> None:
    cfg = _transformer(tmp_path, "      nativeSidecar: 'no'\n")
    code, out, err = invoke("transform", "--config", str(cfg), str(FIXTURES / "cronjob.yaml"))
    assert (code, out) == (1, "")
    assert f"{cfg}:9:7: error MF103" in err and "nativeSidecar" in err, err


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("2000m", "2"),
        ("1024Mi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("0.5", "500m"),
        ("100m", "100m"),
        ("1.5Gi", "1536Mi"),
        ("512", "512"),
        ("1500", "1500"),
        ("2048Ki", "2Mi"),
        ("1000Mi", "1000Mi"),
    ],
)
def test_quantities_take_the_form_the_api_server_stores(given: str, canonical: str) -> None:
    from meshform.modes.quantity import canonical as form

    assert form(given) == canonical


# ------------------------------------------------------------------ injector inputs of the wrong type

WRONG_TYPES = [
    ("values.json", ("global",), []),
    ("values.json", ("global", "proxy", "resources"), "abc"),
    ("values.json", ("global", "proxy", "resources", "limits", "cpu"), ["2"]),
    ("values.json", ("global", "proxy", "image"), ["x"]),
    ("values.json", ("global", "proxy", "includeIPRanges"), 12),
    ("values.json", ("global", "proxy", "statusPort"), "15020\n  evil: 1"),
    ("values.json", ("global", "proxy", "statusPort"), -1),
    ("values.json", ("global", "proxy", "privileged"), "yes"),
    ("values.json", ("global", "imagePullSecrets"), "regcred"),
    ("values.json", ("sidecarInjectorWebhook", "rewriteAppHTTPProbe"), "true"),
    ("mesh.yaml", ("defaultConfig", "statusPort"), "status"),
    ("mesh.yaml", ("enablePrometheusMerge",), "yes"),
    # a null the injector's template prints or dereferences (istioctl fails)
    ("values.json", ("global", "proxy", "privileged"), None),
    ("values.json", ("global", "proxy", "startupProbe"), None),
    # ProxyConfig values in meshConfig.defaultConfig, as protobuf JSON reads them
    ("mesh.yaml", ("defaultConfig", "concurrency"), "lots"),
    ("mesh.yaml", ("defaultConfig", "tracing", "sampling"), "high"),
    ("mesh.yaml", ("defaultConfig", "drainDuration"), "1.5s"),
    ("mesh.yaml", ("defaultConfig", "discoveryAddress"), "istiod"),
]
RIGHT_TYPES = [
    ("values.json", ("global", "proxy", "statusPort"), "15020"),  # protojson takes an integer's digits
    ("values.json", ("global", "sts", "servicePort"), "0"),
    # a null the template tests first is no value, not meshform's default
    ("values.json", ("global", "proxy", "resources"), None),
    ("values.json", ("global", "proxy", "lifecycle"), None),
    ("values.json", ("global", "proxy", "seccompProfile"), None),
    ("values.json", ("global", "imagePullSecrets"), None),
    ("values.json", ("global", "hub"), None),
    ("values.json", ("global", "proxy", "resources", "limits"), None),
    ("values.json", ("global", "proxy", "startupProbe", "enabled"), None),
    ("values.json", ("pilot", "env"), None),
    ("values.json", ("sidecarInjectorWebhook", "rewriteAppHTTPProbe"), None),  # typed: false
    # a Kubernetes object / free map the cluster gives is its whole value: meshform's defaults never
    # fill inside it (no limits the cluster removed, no resources at all for {})
    ("values.json", ("global", "proxy", "resources"), {"requests": {"cpu": "1"}}),
    ("values.json", ("global", "proxy", "resources"), {"requests": {"cpu": "1"}, "limits": None}),
    ("values.json", ("global", "proxy", "resources"), {}),
    ("values.json", ("global", "proxy", "resources", "limits"), {"memory": "2Gi"}),
    ("values.json", ("global", "proxy", "lifecycle"), {"preStop": {"exec": {"command": ["sleep", "5"]}}}),
    ("values.json", ("global", "proxy", "seccompProfile"), {"type": "RuntimeDefault"}),
    # a null in the meshConfig is not set: the default (protobuf JSON)
    ("mesh.yaml", ("trustDomain",), None),
    ("mesh.yaml", ("defaultConfig", "concurrency"), None),
    # unknown and reserved defaultConfig fields are dropped; explicit zeros kept
    ("mesh.yaml", ("defaultConfig", "parentShutdownDuration"), "60s"),
    ("mesh.yaml", ("defaultConfig", "holdApplicationUntilProxyStarts"), False),
]


def _with(inputs: Path, where: Path, name: str, path: tuple[str, ...], value: Any) -> None:
    """Copies of the install's bare values and mesh, `path` in `name` set to `value`."""
    for each in ("inject-config.yaml", "values.json", "mesh.yaml"):
        (where / each).write_text((inputs / each).read_text())
    doc = yaml.safe_load((where / name).read_text())
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    (where / name).write_text(json.dumps(doc, indent=2) if name.endswith(".json") else yaml.safe_dump(doc))


def key_position(text: str, path: tuple[str, ...], step: int) -> str:
    """`line:col` of the last key of `path` in block-indented YAML or JSON `text` (`step` spaces a
    level; JSON's keys sit one level deeper, inside its outer braces): each key found at its level
    below its parent's line, as a reader of the file would."""
    lines, at = text.split("\n"), -1
    depth = 1 if text.lstrip().startswith("{") else 0
    for level, key in enumerate(path, start=depth):
        pad = " " * (step * level)
        heads = (f'{pad}"{key}":', f"{pad}{key}:")
        at = next(i for i in range(at + 1, len(lines)) if lines[i].startswith(heads))
    return f"{at + 1}:{step * (len(path) - 1 + depth) + 1}"


@pytest.mark.parametrize(("name", "path", "value"), WRONG_TYPES, ids=[".".join(p) for _, p, _ in WRONG_TYPES])
def test_an_input_value_istioctl_cannot_unmarshal_is_mf322(
    istioctl: str, installs: dict[str, Path], tmp_path: Path, name: str, path: tuple[str, ...], value: Any
) -> None:
    """Every value meshform reads is type-checked as Istio's protojson unmarshal checks it: what
    istioctl refuses, meshform refuses located in the input's file, exit 1, nothing on stdout."""
    _with(installs["default"], tmp_path, name, path, value)
    text = (FIXTURES / "kinds.yaml").read_text()
    refused = kube_inject_run(istioctl, tmp_path, text)
    assert refused.returncode != 0, refused.stdout[:300]
    cfg = config(tmp_path, True, "values.json", "mesh.yaml")
    code, out, err = invoke("transform", "--config", str(cfg), "-", stdin=text.encode())
    assert (code, out) == (1, "")
    where = key_position((tmp_path / name).read_text(), path, 2)  # the user's own key, exactly
    assert f"{tmp_path / name}:{where}: error MF322" in err and ".".join(path[1:] or path) in err, err


@pytest.mark.parametrize(
    ("name", "path", "value"), RIGHT_TYPES, ids=[f"{'.'.join(p)}={json.dumps(v)}" for _, p, v in RIGHT_TYPES]
)
def test_an_input_value_of_a_type_istioctl_takes_is_taken(
    istioctl: str, installs: dict[str, Path], tmp_path: Path, name: str, path: tuple[str, ...], value: Any
) -> None:
    _with(installs["default"], tmp_path, name, path, value)
    text = (FIXTURES / "probes.yaml").read_text()
    ours = preinject(config(tmp_path, True, "values.json", "mesh.yaml"), text)
    assert all_differences(ours, kube_inject(istioctl, tmp_path, True, text)) == []


NULLS_PRINTED = [
    ("global", "proxy", "logLevel"),
    ("global", "proxy", "statusPort"),
    ("global", "tag"),
    ("global", "istioNamespace"),
]


@pytest.mark.parametrize("path", NULLS_PRINTED, ids=[".".join(p) for p in NULLS_PRINTED])
def test_a_null_istioctl_would_print_into_the_pod_is_mf322(
    istioctl: str, installs: dict[str, Path], tmp_path: Path, path: tuple[str, ...]
) -> None:
    """Where Istio's template prints a value, a null comes out as Go's "<nil>" / "<no value>"
    (--proxyLogLevel=<nil>, an image tagged <nil>): istioctl writes that broken pod, meshform
    refuses the input instead (MF322), as it refuses the nulls istioctl fails on."""
    _with(installs["default"], tmp_path, "values.json", path, None)
    text = (FIXTURES / "probes.yaml").read_text()
    theirs = kube_inject(istioctl, tmp_path, True, text)
    assert "<nil>" in theirs or "<no value>" in theirs
    cfg = config(tmp_path, True, "values.json", "mesh.yaml")
    code, out, err = invoke("transform", "--config", str(cfg), "-", stdin=text.encode())
    assert (code, out) == (1, "")
    assert "error MF322" in err and ".".join(path) + " is null" in err, err


# ------------------------------------------------------------------ pod annotations Istio validates

HOSTILE = [
    ("sidecar.istio.io/interceptionMode", "BOGUS"),
    ("status.sidecar.istio.io/port", "99999"),
    ("status.sidecar.istio.io/port", "-1"),
    ("readiness.status.sidecar.istio.io/periodSeconds", "4294967296"),
    ("traffic.sidecar.istio.io/excludeOutboundPorts", '1"\n privileged: true'),
    ("traffic.sidecar.istio.io/excludeInboundPorts", "80,http"),
    ("traffic.sidecar.istio.io/includeInboundPorts", "70000"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0"),
    ("traffic.sidecar.istio.io/excludeOutboundIPRanges", "10.0.0.0/33"),
    ("prometheus.istio.io/merge-metrics", "yes"),
    ("status.sidecar.istio.io/port", "+15020"),  # Atoi takes a sign, Istio's ParseUint check does not
    ("status.sidecar.istio.io/port", ""),
    ("status.sidecar.istio.io/port", "1_5020"),
    ("status.sidecar.istio.io/port", "0x3aac"),
    ("status.sidecar.istio.io/port", "15020.0"),
    ("status.sidecar.istio.io/port", "15020\x1f"),  # Python's strip() trims U+001F, Go's TrimSpace not
    ("proxy.istio.io/config", "concurrency: lots"),
    ("proxy.istio.io/config", "statusPort: [1]"),
    # ProxyConfig values protobuf JSON refuses, at any depth (the unknown fields around them do not help)
    ("proxy.istio.io/config", "concurrency: 1.5"),
    ("proxy.istio.io/config", "concurrency: 4294967296"),
    ("proxy.istio.io/config", "holdApplicationUntilProxyStarts: 'true'"),
    ("proxy.istio.io/config", "tracing: []"),
    ("proxy.istio.io/config", "tracing: {sampling: high}"),
    ("proxy.istio.io/config", "tracing: {zipkin: {address: 9411}, bogus: 1}"),
    ("proxy.istio.io/config", "interceptionMode: BOGUS"),
    ("proxy.istio.io/config", "drainDuration: 5"),
    ("proxy.istio.io/config", "drainDuration: 5x"),
    ("proxy.istio.io/config", "proxyMetadata: {A: 1}"),
    ("proxy.istio.io/config", "extraStatTags: a"),
    ("proxy.istio.io/config", "- statusPort: 15021"),
    ("proxy.istio.io/config", "just text"),
    # well-typed ProxyConfigs Istio's validation (ValidateMeshConfigProxyConfig) refuses
    ("proxy.istio.io/config", "drainDuration: 1.5s"),
    ("proxy.istio.io/config", "drainDuration: 0s"),
    ("proxy.istio.io/config", "statusPort: 0"),
    ("proxy.istio.io/config", "proxyAdminPort: 70000"),
    ("proxy.istio.io/config", "configPath: ''"),
    ("proxy.istio.io/config", "serviceCluster: ''"),
    ("proxy.istio.io/config", "controlPlaneAuthPolicy: INHERIT"),
    ("proxy.istio.io/config", "discoveryAddress: istiod"),
    ("proxy.istio.io/config", "discoveryAddress: ''"),
    ("proxy.istio.io/config", "discoveryAddress: 'istiod.123:15012'"),
    ("proxy.istio.io/config", "statsdUdpAddress: 'statsd:0'"),
    ("proxy.istio.io/config", "tracing: {zipkin: {}}"),
    ("proxy.istio.io/config", "tracing: {zipkin: {address: 'zip_kin:9411'}}"),
    ("proxy.istio.io/config", "tracing: {lightstep: {address: 'ls.example:443'}}"),
    ("proxy.istio.io/config", "tracing: {tlsSettings: {mode: MUTUAL}}"),
    ("proxy.istio.io/config", "privateKeyProvider: {}"),
    ("proxy.istio.io/config", "privateKeyProvider: {cryptomb: {pollDelay: 0s}}"),
]
ACCEPTED = [
    ("status.sidecar.istio.io/port", "15021"),
    ("status.sidecar.istio.io/port", " 15020 "),  # more spellings in status-port-spellings.yaml
    ("status.sidecar.istio.io/port", "0015020"),
    ("proxy.istio.io/config", "notAField: 1\nparentShutdownDuration: 60s\nconcurrency: 0"),
    (
        "proxy.istio.io/config",
        "drainDuration: 1h2m3s\nfileFlushInterval: 1500us\nterminationDrainDuration: 2.5s",
    ),
    ("proxy.istio.io/config", "tracing: {sampling: 1e-7, customTags: {a: null}}"),
    ("proxy.istio.io/config", "extraStatTags: [null, b]\nproxyMetadata: {A: null}"),
    ("proxy.istio.io/config", "interceptionMode: 0\nconcurrency: ' 3'"),
    ("proxy.istio.io/config", "drainDuration: 2m\ndiscoveryAddress: 'istiod.istio-system.svc:+15012'"),
    ("proxy.istio.io/config", "discoveryAddress: '[fd00::1]:15012'\nstatsdUdpAddress: '10.0.0.1:8125'"),
    ("proxy.istio.io/config", "tracing: {datadog: {address: '$(HOST_IP):8126'}}"),
    ("proxy.istio.io/config", "tracing: {zipkin: {address: 'Zipkin.Tracing:9411'}}"),
    ("proxy.istio.io/config", "privateKeyProvider: {qat: {pollDelay: 10ms}}"),
    ("traffic.sidecar.istio.io/excludeOutboundPorts", " 25, 587"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/8,fd00::/8"),
    ("prometheus.istio.io/merge-metrics", "F"),
]


def _annotated(key: str, value: str) -> str:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop", "annotations": {key: value}},
        "spec": {"containers": [{"name": "app", "image": "ghcr.io/example/app:1"}]},
    }
    return yaml.safe_dump(pod)


@pytest.mark.parametrize(("key", "value"), HOSTILE, ids=[f"{k}={v!r}" for k, v in HOSTILE])
def test_an_annotation_istioctl_refuses_is_refused(
    istioctl: str, installs: dict[str, Path], key: str, value: str
) -> None:
    """Istio validates its pod annotations before injecting (ports, CIDRs, modes, bools, the
    ProxyConfig's types); what istioctl refuses, meshform refuses: MF323 at the annotation's value (the
    pod's metadata.annotations, sorted by safe_dump, on line 5), exit 1, no output."""
    inputs, text = installs["default"], _annotated(key, value)
    theirs = kube_inject_run(istioctl, inputs, text)
    assert theirs.returncode != 0, theirs.stdout[:300]
    cfg = config(inputs, True, "istio-sidecar-injector.yaml", "istio.yaml")
    code, out, err = invoke("transform", "--config", str(cfg), "-", stdin=text.encode())
    assert (code, out) == (1, "")
    assert f"<stdin>:5:{5 + len(key) + 2}: error MF323" in err and key in err, err


@pytest.mark.parametrize(("key", "value"), ACCEPTED, ids=[f"{k}={v!r}" for k, v in ACCEPTED])
def test_an_annotation_istioctl_takes_is_pre_injected_as_istioctl_does(
    istioctl: str, installs: dict[str, Path], key: str, value: str
) -> None:
    inputs, text = installs["default"], _annotated(key, value)
    ours = preinject(config(inputs, True, "istio-sidecar-injector.yaml", "istio.yaml"), text)
    assert all_differences(ours, kube_inject(istioctl, inputs, True, text)) == []


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringData: {values: '{}'}\n",
            ":2:1:",
            "not a Secret",
        ),
        ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", ":2:1:", "not a Deployment"),
        (
            "global: {hub: h}\npad: '" + "x" * (5 * 1024 * 1024) + "'\n",
            "cfg.yaml:9:",
            "larger than a ConfigMap",
        ),
    ],
    ids=["secret", "deployment", "huge"],
)
def test_a_values_file_that_is_no_configmap_nor_value_is_mf322(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    (tmp_path / "values.yaml").write_text(text)
    cfg = _transformer(tmp_path, "      valuesFile: values.yaml\n")
    code, out, err = invoke("transform", "--config", str(cfg), "-", stdin=b"apiVersion: v1\nkind: Pod\n")
    assert (code, out) == (1, "")
    assert "error MF322" in err and message in err and where in err, err


# --------------------------------------------------------------------- values that are not Istio's


def test_values_with_none_of_istios_keys_are_refused_as_istioctl_fails_on_them(
    istioctl: str, installs: dict[str, Path], tmp_path: Path
) -> None:
    """A mapping with no key of Istio's Values (a typo of `global` alone, another file read as
    YAML): istioctl's template renders a pod it cannot unmarshal; meshform refuses the values, at
    them, with the key it probably means."""
    for each in ("inject-config.yaml", "mesh.yaml"):
        (tmp_path / each).write_text((installs["default"] / each).read_text())
    (tmp_path / "values.json").write_text('{"globl": {"tag": "1.31.4"}}')
    text = (FIXTURES / "kinds.yaml").read_text()
    assert kube_inject_run(istioctl, tmp_path, text).returncode != 0
    cfg = config(tmp_path, True, "values.json", "mesh.yaml")
    code, out, err = invoke("transform", "--config", str(cfg), "-", stdin=text.encode())
    assert (code, out) == (1, "")
    assert f"{tmp_path / 'values.json'}:1:1: error MF322" in err and "did you mean 'global'?" in err, err


def test_an_unknown_top_level_values_key_is_ignored_as_istioctl_ignores_it_with_a_warning(
    istioctl: str, installs: dict[str, Path], tmp_path: Path
) -> None:
    """istioctl drops a key its Values do not have, silently: meshform injects the same pod and warns
    (MF336) at the key, once, with the key it probably means."""
    _with(installs["default"], tmp_path, "values.json", ("globl",), {"tag": "1.29.0"})
    text = (FIXTURES / "kinds.yaml").read_text()
    cfg = config(tmp_path, True, "values.json", "mesh.yaml")
    code, out, err = invoke("transform", "--config", str(cfg), "-", stdin=text.encode())
    assert code == 0, err
    assert all_differences(out, kube_inject(istioctl, tmp_path, True, text)) == []
    where = key_position((tmp_path / "values.json").read_text(), ("globl",), 2)
    warning = f"{tmp_path / 'values.json'}:{where}: warning MF336 values key 'globl'"
    assert err.count(warning) == 1 and "did you mean 'global'?" in err, err


@pytest.mark.parametrize("native", [False, True], ids=["classic", "native"])
def test_a_revision_in_the_options_is_the_injectors_as_kube_inject_revision_takes_it(
    istioctl: str, installs: dict[str, Path], native: bool
) -> None:
    """modeOptions.istio.revision with enrollment sidecar: the pod's istio.io/rev and the status
    record's revision are that revision's, as `istioctl kube-inject --revision canary` writes them
    (and as enrollment labels label the pod), not the default's."""
    inputs, text = installs["default"], (FIXTURES / "kinds.yaml").read_text()
    cfg = config(inputs, native, "istio-sidecar-injector.yaml", "istio.yaml")
    doc = yaml.safe_load(cfg.read_text())
    doc["spec"]["modeOptions"]["istio"]["revision"] = "canary"
    canary = inputs / f"meshform-canary-{native}.yaml"  # beside the inputs it names
    canary.write_text(yaml.safe_dump(doc))
    ours = preinject(canary, text)
    theirs = kube_inject_run(istioctl, inputs, text, native, revision="canary")
    assert theirs.returncode == 0, theirs.stderr
    assert all_differences(ours, theirs.stdout) == []
    pod = documents(ours)[0]  # the bare Pod
    assert pod["metadata"]["annotations"]["istio.io/rev"] == "canary"
    assert json.loads(pod["metadata"]["annotations"]["sidecar.istio.io/status"])["revision"] == "canary"


def _without_native_option(cfg: Path) -> Path:
    doc = yaml.safe_load(cfg.read_text())
    del doc["spec"]["modeOptions"]["istio"]["nativeSidecar"]
    out = cfg.with_name("meshform-cluster-native.yaml")
    out.write_text(yaml.safe_dump(doc))
    return out


@pytest.mark.parametrize(
    ("setting", "native"), [("false", False), ("true", True), (False, False), ("off", False)]
)
def test_the_clusters_enable_native_sidecars_decides_the_default(
    istioctl: str, installs: dict[str, Path], tmp_path: Path, setting: Any, native: bool
) -> None:
    """istiod takes ENABLE_NATIVE_SIDECARS from pilot.env (in the injector's values): without
    modeOptions.istio.nativeSidecar meshform injects what istiod with that setting injects (an unknown
    value is classic, as istiod reads it), compared with kube-inject run with that environment."""
    _with(installs["default"], tmp_path, "values.json", NATIVE_PATH, setting)
    text = (FIXTURES / "probes.yaml").read_text()
    ours = preinject(_without_native_option(config(tmp_path, True, "values.json", "mesh.yaml")), text)
    assert all_differences(ours, kube_inject(istioctl, tmp_path, native, text)) == []


NATIVE_PATH = ("pilot", "env", "ENABLE_NATIVE_SIDECARS")


@pytest.mark.parametrize(("setting", "option"), [("false", True), ("true", False)])
def test_a_native_sidecar_option_against_the_clusters_setting_is_a_located_warning(
    istioctl: str, installs: dict[str, Path], tmp_path: Path, setting: str, option: bool
) -> None:
    """The option still wins (it is the user's word), but the pod is not what the cluster's istiod
    would make: MF337 at the values' setting, once."""
    _with(installs["default"], tmp_path, "values.json", NATIVE_PATH, setting)
    text = (FIXTURES / "kinds.yaml").read_text()
    cfg = config(tmp_path, option, "values.json", "mesh.yaml")
    code, out, err = invoke("transform", "--config", str(cfg), "-", stdin=text.encode())
    assert code == 0, err
    assert all_differences(out, kube_inject(istioctl, tmp_path, option, text)) == []
    where = key_position((tmp_path / "values.json").read_text(), NATIVE_PATH, 2)
    assert err.count(f"{tmp_path / 'values.json'}:{where}: warning MF337") == 1, err
    quiet = config(tmp_path, setting == "true", "values.json", "mesh.yaml")
    code, _, err = invoke("transform", "--config", str(quiet), "-", stdin=text.encode())
    assert code == 0 and "MF337" not in err, err
