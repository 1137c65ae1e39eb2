"""What istio --enrollment sidecar must not pre-inject: pods Istio's injector skips, pods it refuses,
and inputs meshform does not reproduce. Each is compared with what the real `istioctl kube-inject`
does (tests/test_istio_preinject.py builds and drives it) where istioctl decides it, and is a located
diagnostic where meshform declines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import invoke
from test_istio_preinject import config, installs, istioctl, kube_inject_run

__all__ = ["installs", "istioctl"]  # module fixtures shared with the differential test

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: ks
  namespace: {namespace}
spec:
  containers:
  - name: app
    image: busybox
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: agent
  namespace: {namespace}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec:
      containers: [{{name: app, image: busybox}}]
"""


def _transform(cfg: Path, text: str) -> tuple[int, str, str]:
    return invoke("transform", "--config", str(cfg), "-", stdin=text.encode())


@pytest.mark.parametrize("namespace", ["kube-system", "kube-public", "kube-node-lease", "local-path-storage"])
def test_a_pod_in_a_namespace_istio_ignores_is_skipped_with_a_warning_as_istioctl_does(
    istioctl: str, installs: dict[str, Path], tmp_path: Path, namespace: str
) -> None:
    inputs = installs["default"]
    text = POD.format(namespace=namespace)
    theirs = kube_inject_run(istioctl, inputs, text)
    assert theirs.returncode == 0 and "Skipping injection" in theirs.stderr
    pod = next(d for d in yaml.safe_load_all(theirs.stdout) if d)
    assert [c["name"] for c in pod["spec"]["containers"]] == ["app"] and "initContainers" not in pod["spec"]
    assert "sidecar.istio.io/status" not in str(pod["metadata"])
    cfg = config(tmp_path, True, str(inputs / "values.json"), str(inputs / "mesh.yaml"))
    code, out, err = _transform(cfg, text)
    assert code == 0, err
    assert out == text  # nothing added, nothing recorded
    assert f"<stdin>:1:1: warning MF606 istio never injects pods in namespace {namespace}" in err


def test_a_controller_in_an_ignored_namespace_is_skipped_as_the_webhook_skips_its_pods(
    installs: dict[str, Path], tmp_path: Path
) -> None:
    # the webhook reads the pod's namespace, which is its controller's (kube-inject reads only a
    # namespace written on the pod template itself)
    inputs = installs["default"]
    cfg = config(tmp_path, False, str(inputs / "values.json"), str(inputs / "mesh.yaml"))
    code, out, err = _transform(cfg, DEPLOYMENT.format(namespace="kube-system"))
    assert code == 0 and out == DEPLOYMENT.format(namespace="kube-system")
    assert "warning MF606" in err
    code, out, err = _transform(cfg, DEPLOYMENT.format(namespace="apps"))
    assert code == 0 and "istio-proxy" in out and "MF606" not in err


def test_labels_enrollment_in_an_ignored_namespace_stays_an_error() -> None:
    text = POD.format(namespace="kube-system")
    code, _, err = invoke("transform", "--mode", "istio", "-", stdin=text.encode())
    assert code == 1 and "error MF606 istio never injects pods in namespace kube-system" in err


# ------------------------------------------------------------- fields of the wrong type, nameless containers

WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      {pod}
      containers:
      - name: app
        image: nginx
        ports: [{{name: http, containerPort: {port}}}]
        readinessProbe: {{tcpSocket: {{port: {probe}}}}}
        lifecycle: {{preStop: {{httpGet: {{path: /q, port: {hook}}}}}}}
        securityContext: {{runAsUser: {uid}}}
"""
GOOD = {"pod": "hostNetwork: false", "port": "8080", "probe": "http", "hook": "8080", "uid": "1000"}

WRONG = [
    ("pod", 'hostNetwork: "true"', 9, 7, "hostNetwork is a string, not true or false"),
    ("pod", "securityContext: {runAsUser: '1337'}", 9, 25, "runAsUser is a string"),
    ("port", '"8080"', 13, 30, "containerPort is a string, not a whole number"),
    ("probe", "80.5", 14, 38, "port is a number, not a port number or a port name"),
    ("hook", "8.5", 15, 51, "port is a number, not a port number or a port name"),
    ("uid", "'1337'", 16, 27, "runAsUser is a string, not a whole number"),
]


@pytest.mark.parametrize(("field", "value", "line", "col", "message"), WRONG)
def test_a_pod_field_of_a_type_istioctl_cannot_unmarshal_is_a_located_mf150(
    istioctl: str,
    installs: dict[str, Path],
    tmp_path: Path,
    field: str,
    value: str,
    line: int,
    col: int,
    message: str,
) -> None:
    inputs = installs["default"]
    text = WORKLOAD.format(**{**GOOD, field: value})
    theirs = kube_inject_run(istioctl, inputs, text)
    assert theirs.returncode == 1 and "cannot unmarshal" in theirs.stderr
    cfg = config(tmp_path, True, str(inputs / "values.json"), str(inputs / "mesh.yaml"))
    code, out, err = _transform(cfg, text)
    assert (code, out) == (1, "")
    found = next(x for x in err.splitlines() if "MF150" in x)
    assert found.startswith("<stdin>:") and message in found
    assert found.startswith(f"<stdin>:{line}:{col}:"), found  # at the field's key


def test_the_right_types_are_pre_injected(installs: dict[str, Path], tmp_path: Path) -> None:
    inputs = installs["default"]
    cfg = config(tmp_path, True, str(inputs / "values.json"), str(inputs / "mesh.yaml"))
    code, out, err = _transform(cfg, WORKLOAD.format(**GOOD))
    assert code == 0 and "istio-proxy" in out, err


@pytest.mark.parametrize(
    "mode", [("istio", "sidecar"), ("linkerd", "sidecar"), ("builtin", "sidecar"), ("istio", "labels")]
)
def test_a_container_without_a_name_is_refused_located_never_named_none(mode: tuple[str, str]) -> None:
    text = WORKLOAD.format(**GOOD).replace("      - name: app\n        image: nginx", "      - image: nginx")
    code, out, err = invoke("transform", "--mode", mode[0], "--enrollment", mode[1], "-", stdin=text.encode())
    assert (code, out) == (1, "")
    assert "<stdin>:11:9: error MF150 spec.template.spec.containers[0].name is missing" in err
    assert "None" not in err


# ----------------------------------------------------------- annotations over the API server's 256 KiB

LIMIT = 256 * 1024


def _big_pod(filler: int, path: int) -> str:
    """A valid pod (its annotations under the limit) whose prometheus.io/path Istio's injection
    replaces (so meshform's record keeps the user's value: the pod's annotations grow by it)."""
    return (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\n  annotations:\n"
        f"    example.com/big: {'a' * filler}\n    prometheus.io/scrape: 'true'\n"
        f"    prometheus.io/path: /{'p' * path}\n"
        "spec:\n  containers: [{name: app, image: busybox, ports: [{containerPort: 8080}]}]\n"
    )


def test_an_enrollment_that_pushes_the_annotations_over_256_kib_is_a_located_error() -> None:
    text = _big_pod(161_000, 100_000)
    size = sum(len(k) + len(v) for k, v in yaml.safe_load(text)["metadata"]["annotations"].items())
    assert size <= LIMIT  # the API server takes the input
    code, out, err = invoke(
        "transform", "--mode", "istio", "--enrollment", "sidecar", "-", stdin=text.encode()
    )
    assert (code, out) == (1, "")
    assert "<stdin>:5:3: error MF172 Pod/big under istio: once enrolled, annotations total" in err
    # a smaller pod is pre-injected, and its output stays under the limit
    code, out, err = invoke(
        "transform",
        "--mode",
        "istio",
        "--enrollment",
        "sidecar",
        "-",
        stdin=_big_pod(1_000, 100_000).encode(),
    )
    assert code == 0, err
    annotations = yaml.safe_load(out)["metadata"]["annotations"]
    assert sum(len(k) + len(v) for k, v in annotations.items()) <= LIMIT


@pytest.mark.parametrize(
    ("mode", "strategy"), [("istio", "labels"), ("builtin", "sidecar"), ("linkerd", "labels")]
)
def test_every_mode_refuses_an_enrollment_over_256_kib(mode: str, strategy: str) -> None:
    # the record alone (no replaced value) pushes a pod just under the limit over it
    text = _big_pod(LIMIT - 59 - 10, 1)  # 10 bytes under the limit
    code, out, err = invoke("transform", "--mode", mode, "--enrollment", strategy, "-", stdin=text.encode())
    assert (code, out) == (1, ""), err
    assert f"<stdin>:5:3: error MF172 Pod/big under {mode}: once enrolled" in err


def test_render_refuses_a_component_whose_enrollment_exceeds_256_kib(tmp_path: Path) -> None:
    app = tmp_path / "app.yaml"
    app.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: Application\nmetadata: {name: shop, namespace: shop}\n"
        "spec:\n  governanceMode: istio\n  components:\n  - name: web\n    image: ghcr.io/example/web:1\n"
        f"    annotations:\n      example.com/big: {'a' * (LIMIT - 15 - 10)}\n"
    )
    code, out, err = invoke("render", str(app))
    assert (code, out) == (1, ""), err
    assert "error MF172 component 'web' under istio: once enrolled" in err


# ------------------------------------------- the pod's own istio-proxy, proxy.istio.io/overrides

CUSTOM = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: cust, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: cust}}}}
  template:
    metadata:
      labels: {{app: cust}}
      annotations: {annotations}
    spec:
      containers:
      - name: app
        image: nginx
      - name: {name}
        image: auto
        resources: {{requests: {{cpu: 300m}}}}
"""


@pytest.mark.parametrize("name", ["istio-proxy", "istio-init"])
def test_a_pods_own_istio_container_is_refused_with_labels_advice_where_istioctl_merges_it(
    istioctl: str, installs: dict[str, Path], tmp_path: Path, name: str
) -> None:
    inputs = installs["default"]
    text = CUSTOM.format(annotations="{}", name=name)
    if name == "istio-proxy":  # Istio's documented customisation: istioctl merges it into its proxy
        theirs = kube_inject_run(istioctl, inputs, text)
        assert theirs.returncode == 0, theirs.stderr
        pod = next(d for d in yaml.safe_load_all(theirs.stdout) if d)["spec"]["template"]["spec"]
        proxy = next(c for c in pod["initContainers"] if c["name"] == "istio-proxy")
        assert proxy["resources"]["requests"]["cpu"] == "300m"
    cfg = config(tmp_path, True, str(inputs / "values.json"), str(inputs / "mesh.yaml"))
    code, out, err = _transform(cfg, text)
    assert (code, out) == (1, "")
    assert f"<stdin>:14:9: error MF323 cust has its own {name} container" in err
    assert "hint: use enrollment labels" in err and "rename" not in err and "MF255" not in err
    # the webhook merges it: enrollment labels takes the pod as it is
    code, out, err = invoke("transform", "--mode", "istio", "-", stdin=text.encode())
    assert code == 0, err


OVERRIDDEN = [
    # (annotation, native, refused): Istio merges only what its template injects, where it injects it
    ('{"containers":[{"name":"istio-proxy","image":"x"}]}', False, True),
    ('{"containers":[{"name":"istio-proxy","image":"x"}]}', True, False),
    ('{"initContainers":[{"name":"istio-proxy","image":"x"}]}', True, True),
    ('{"initContainers":[{"name":"istio-init","image":"x"}]}', False, True),
    ('{"containers":[{"name":"app","image":"x"}]}', False, False),
    ("not json", False, True),
]


@pytest.mark.parametrize(("overrides", "native", "refused"), OVERRIDDEN)
def test_proxy_istio_io_overrides_is_refused_located_where_istioctl_applies_it(
    istioctl: str, installs: dict[str, Path], tmp_path: Path, overrides: str, native: bool, refused: bool
) -> None:
    inputs = installs["default"]
    text = CUSTOM.format(annotations=f"{{proxy.istio.io/overrides: '{overrides}'}}", name="worker")
    theirs = kube_inject_run(istioctl, inputs, text, native)
    if overrides != "not json":
        assert theirs.returncode == 0, theirs.stderr
        images = [
            c["image"]
            for d in yaml.safe_load_all(theirs.stdout)
            if d
            for key in ("containers", "initContainers")
            for c in d["spec"]["template"]["spec"].get(key, [])
        ]
        assert ("x" in images) is refused  # istioctl applied it exactly where meshform refuses
    else:
        assert theirs.returncode == 1
    cfg = config(tmp_path, native, str(inputs / "values.json"), str(inputs / "mesh.yaml"))
    code, out, err = _transform(cfg, text)
    if refused:
        assert (code, out) == (1, "")
        assert "<stdin>:9:47: error MF323 annotation proxy.istio.io/overrides" in err, err
    else:
        assert code == 0 and "istio-proxy" in out, err


# ------------------------------- the cluster's injector config (istio-sidecar-injector data.config)


def _injector_map(inputs: Path, where: Path, change: Any) -> Path:
    """The install's istio-sidecar-injector ConfigMap (as `kubectl get -o yaml` prints it) with its
    data.config changed by `change` (a function of the parsed config)."""
    cm = yaml.safe_load((inputs / "istio-sidecar-injector.yaml").read_text())
    config = yaml.safe_load(cm["data"]["config"])
    change(config)
    cm["data"]["config"] = yaml.safe_dump(config)
    path = where / "istio-sidecar-injector.yaml"
    path.write_text(yaml.safe_dump(cm))
    (where / "inject-config.yaml").write_text(cm["data"]["config"])
    return path


def _add_env(config: dict[str, Any]) -> None:
    config["templates"]["sidecar"] = config["templates"]["sidecar"].replace(
        "  {{- end }}\n    env:\n",
        '  {{- end }}\n    env:\n    - name: CUSTOM_FROM_TEMPLATE\n      value: "yes"\n',
        1,
    )


CUSTOMISED = [
    (_add_env, "templates.sidecar is not Istio 1.31's stock template"),
    (lambda c: c.update(policy="disabled"), "data.config policy differs"),
    (lambda c: c.update(neverInjectSelector=[{"matchLabels": {"a": "b"}}]), "neverInjectSelector differs"),
    (lambda c: c.update(alwaysInjectSelector=[{"matchLabels": {"a": "b"}}]), "alwaysInjectSelector differs"),
    (lambda c: c.update(injectedAnnotations={"x.io/y": "z"}), "injectedAnnotations differs"),
    (lambda c: c.update(defaultTemplates=["sidecar", "spire"]), "defaultTemplates differs"),
    (lambda c: c["templates"].pop("sidecar"), "templates.sidecar is not"),
]


@pytest.mark.parametrize(("change", "message"), CUSTOMISED)
def test_a_customised_injector_config_is_refused_located_in_the_configmap(
    installs: dict[str, Path], tmp_path: Path, change: Any, message: str
) -> None:
    inputs = installs["default"]
    values = _injector_map(inputs, tmp_path, change)
    cfg = config(tmp_path, True, str(values), str(inputs / "mesh.yaml"))
    code, out, err = _transform(cfg, WORKLOAD.format(**GOOD))
    assert (code, out) == (1, "")
    assert f"{values}:" in err and "error MF323" in err and message in err, err
    assert "hint: use enrollment labels" in err


def test_the_stock_injector_config_istioctl_generates_is_accepted(
    installs: dict[str, Path], tmp_path: Path
) -> None:
    # the ConfigMaps `istioctl manifest generate` writes (default and CNI installs): meshform's stored
    # stock config is the built istioctl's
    for name in ("default", "cni", "extras"):
        inputs = installs[name]
        cfg = config(tmp_path, True, str(inputs / "istio-sidecar-injector.yaml"), str(inputs / "istio.yaml"))
        code, out, err = _transform(cfg, WORKLOAD.format(**GOOD))
        assert code == 0 and "istio-proxy" in out and "MF323" not in err, err


def test_a_template_meshform_never_renders_may_differ(
    istioctl: str, installs: dict[str, Path], tmp_path: Path
) -> None:
    inputs = installs["default"]
    values = _injector_map(inputs, tmp_path, lambda c: c["templates"].update(gateway="{}"))
    cfg = config(tmp_path, True, str(values), str(inputs / "mesh.yaml"))
    code, _, err = _transform(cfg, WORKLOAD.format(**GOOD))
    assert code == 0 and "MF323" not in err, err


def test_the_refused_template_change_is_one_istioctl_would_inject(
    istioctl: str, installs: dict[str, Path], tmp_path: Path
) -> None:
    # the refusal is not spurious: the cluster's injector puts the customisation in the pod
    inputs = installs["default"]
    _injector_map(inputs, tmp_path, _add_env)
    for name in ("values.json", "mesh.yaml"):
        (tmp_path / name).write_text((inputs / name).read_text())
    theirs = kube_inject_run(istioctl, tmp_path, WORKLOAD.format(**GOOD))
    assert theirs.returncode == 0 and "CUSTOM_FROM_TEMPLATE" in theirs.stdout, theirs.stderr


# ------------------------------------------------------------- istioctl kube-inject's own CronJob output

CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata: {{name: nightly, namespace: batch}}
spec:
  schedule: "0 2 * * *"
  jobTemplate:
    spec:
      template:
        metadata:
          labels: {{app: nightly}}
          annotations: {annotations}
        spec:
          restartPolicy: OnFailure
          containers: [{{name: job, image: busybox}}]
"""


def test_kube_injects_cronjob_is_not_re_injected_silently_with_overrides_it_ignored(
    istioctl: str, installs: dict[str, Path], tmp_path: Path
) -> None:
    inputs = installs["default"]
    cfg = config(tmp_path, True, str(inputs / "values.json"), str(inputs / "mesh.yaml"))
    ignored = kube_inject_run(
        istioctl, inputs, CRONJOB.format(annotations="{sidecar.istio.io/proxyCPU: 50m}")
    )
    assert ignored.returncode == 0, ignored.stderr
    code, out, err = _transform(cfg, ignored.stdout)
    assert code == 0 and "cpu: 50m" in out, err  # the pod template's override, as the webhook reads it
    assert "<stdin>:1:1: warning MF437 CronJob/batch/nightly was injected by istioctl kube-inject" in err
    assert "ignored the pod template's sidecar.istio.io/proxyCPU" in err
    # without an override kube-inject ignored, nothing to say; meshform's own output neither
    plain = kube_inject_run(istioctl, inputs, CRONJOB.format(annotations="{}"))
    code, out, err = _transform(cfg, plain.stdout)
    assert code == 0 and "MF437" not in err, err
    code, _, err = _transform(cfg, out)
    assert code == 0 and "MF437" not in err, err
