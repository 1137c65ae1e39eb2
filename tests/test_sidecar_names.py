"""A user's containers named like a mesh's sidecar are the user's: nothing removes them without proof
(meshform's own record, or the injector's marker), and nothing adds a second item of the same name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import run_cli, transform_text

from meshform.modes import MODES

SIDECAR_NAMES = [
    "linkerd-proxy",
    "linkerd-init",
    "linkerd-network-validator",
    "kuma-sidecar",
    "kuma-init",
    "consul-dataplane",
    "consul-connect-inject-init",
    "istio-proxy",
    "istio-init",
    "meshform-proxy",
]

WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: shop}}
spec:
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}{annotations}
    spec:
      initContainers:
      - {{name: {name}, image: my/own-init:1, restartPolicy: Always}}
      containers:
      - {{name: web, image: nginx}}
      - {{name: {name}, image: my/own:1}}
"""


def workload(name: str, annotations: str = "") -> str:
    return WORKLOAD.format(name=name, annotations=annotations)


def transform(text: str, *args: str) -> tuple[int, str, str]:
    proc = run_cli("transform", "-", *args, stdin=text.encode())
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def images(text: str) -> list[str]:
    (obj,) = [d for d in yaml.safe_load_all(text) if d is not None]
    spec = obj["spec"]["template"]["spec"]
    return sorted(c["image"] for c in spec.get("initContainers", []) + spec["containers"])


USER_IMAGES = ["my/own-init:1", "my/own:1", "nginx"]


@pytest.mark.parametrize("mode", [m for m in MODES if m != "builtin"])
@pytest.mark.parametrize("name", SIDECAR_NAMES)
def test_containers_merely_named_like_a_sidecar_are_kept(name: str, mode: str) -> None:
    out, diags = transform_text(workload(name), mode)
    assert not [d for d in diags if d.level == "error"], diags
    assert images(out) == USER_IMAGES
    assert transform_text(out, mode)[0] == out  # f(f(x)) == f(x)
    assert images(transform_text(out, "kubernetes-native")[0]) == USER_IMAGES


def test_containers_named_like_a_sidecar_are_kept_by_the_cli() -> None:
    """The case as reported: `meshform transform` deleted both, with exit 0."""
    for name in ("linkerd-proxy", "kuma-sidecar", "consul-dataplane"):
        code, out, err = transform(workload(name), "--mode", "kubernetes-native")
        assert code == 0, err
        assert images(out) == USER_IMAGES


MARKERS = {
    "linkerd-proxy": "\n      annotations: {linkerd.io/proxy-version: edge-26.8.3}",
    "kuma-sidecar": "\n      annotations: {kuma.io/sidecar-injected: 'true'}",
    "consul-dataplane": "\n      annotations: {consul.hashicorp.com/connect-inject-status: injected}",
    "istio-proxy": (
        "\n      annotations:\n        sidecar.istio.io/status: "
        """'{"initContainers":["istio-proxy"],"containers":["istio-proxy"],"volumes":null}'"""
    ),
}


@pytest.mark.parametrize("name", MARKERS)
def test_the_injectors_marker_proves_the_sidecar_is_its_own(name: str) -> None:
    code, out, err = transform(workload(name, MARKERS[name]), "--mode", "kubernetes-native")
    assert code == 0, err
    assert images(out) == ["nginx"]


def test_an_istio_status_removes_only_the_containers_it_lists() -> None:
    status = """\n      annotations:\n        sidecar.istio.io/status: '{"containers":["istio-proxy"]}'"""
    text = workload("istio-proxy", status).replace(
        "- {name: istio-proxy, image: my/own-init:1", "- {name: istio-init, image: my/own-init:1"
    )
    code, out, err = transform(text, "--mode", "linkerd")
    assert code == 0, err
    assert images(out) == ["my/own-init:1", "nginx"]  # istio-init is not in the status: the user's


@pytest.mark.parametrize("field", ["initContainers", "containers"])
def test_builtin_refuses_to_add_a_second_meshform_proxy(field: str) -> None:
    text = workload("meshform-proxy")
    if field == "initContainers":
        text = text.replace("      - {name: meshform-proxy, image: my/own:1}\n", "")
    else:
        text = text.replace(
            "      - {name: meshform-proxy, image: my/own-init:1, restartPolicy: Always}\n",
            "      - {name: setup, image: my/own-init:1}\n",
        )
    code, out, err = transform(text, "--mode", "builtin")
    assert (code, out) == (1, "")
    assert "<stdin>:1:1: error MF255 Deployment/shop/web already has container meshform-proxy" in err


def test_builtin_refuses_a_volume_of_its_name() -> None:
    text = workload("app").replace(
        "    spec:\n      initContainers:",
        "    spec:\n      volumes: [{name: meshform-envoy, emptyDir: {}}]\n      initContainers:",
    )
    code, out, err = transform(text, "--mode", "builtin")
    assert (code, out) == (1, "") and "volume meshform-envoy" in err and "MF255" in err


def _builtin_output() -> str:
    code, out, err = transform(workload("app"), "--mode", "builtin")
    assert code == 0, err
    return out


def test_a_configmap_of_the_proxys_name_that_is_not_meshforms_is_refused() -> None:
    user_cm = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-meshform-envoy, namespace: shop}\n"
        "data: {a: b}\n"
    )
    code, out, err = transform(workload("app") + "---\n" + user_cm, "--mode", "builtin")
    assert (code, out) == (1, "") and "ConfigMap web-meshform-envoy" in err and "MF255" in err


def test_meshforms_own_configmap_without_a_record_is_replaced() -> None:
    """The status was lost (hand-edited away), the ConfigMap still names its workload: it is ours."""
    governed = [d for d in yaml.safe_load_all(_builtin_output()) if d]
    template = governed[0]["spec"]["template"]
    del template["metadata"]["annotations"]
    template["spec"]["initContainers"] = [
        c for c in template["spec"]["initContainers"] if c["name"] != "meshform-proxy"
    ]
    template["spec"]["volumes"] = [v for v in template["spec"]["volumes"] if v["name"] != "meshform-envoy"]
    code, out, err = transform(yaml.safe_dump_all(governed), "--mode", "builtin")
    assert code == 0, err
    kinds = [d["kind"] for d in yaml.safe_load_all(out) if d]
    assert kinds == ["Deployment", "ConfigMap"]


def test_render_refuses_a_component_named_like_the_proxy(tmp_path: Path) -> None:
    app = tmp_path / "app.yaml"
    app.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: Application\nmetadata: {name: shop, namespace: shop}\n"
        "spec:\n  governanceMode: builtin\n  components:\n  - name: meshform-proxy\n    image: my/app:1\n"
        "    ports: [{name: http, port: 8080}]\n"
    )
    for command in ("render", "validate"):
        proc = run_cli(command, str(app))
        err = proc.stderr.decode()
        assert (proc.returncode, proc.stdout) == (1, b""), command
        assert f"{app}:7:5: error MF255 component 'meshform-proxy' has container meshform-proxy" in err
        assert "[$.spec.components[0].name]" in err
    assert run_cli("render", str(app), "--mode", "istio").returncode == 0  # only where the proxy is added


MODES_FILE = """\
apiVersion: meshform.dev/v1alpha1
kind: GovernanceModes
modes:
- name: acme-mesh
  podLabels: {acme.io/mesh: enabled}
  sidecar: {template: acme-proxy.yaml.j2}
"""


def test_a_user_defined_sidecar_of_an_existing_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "acme-proxy.yaml.j2").write_text("name: acme-proxy\nimage: acme/proxy:2\n")
    (tmp_path / "modes.yaml").write_text(MODES_FILE)
    args = ("--mode", "acme-mesh", "--modes-file", str(tmp_path / "modes.yaml"), "--enrollment", "sidecar")
    code, out, err = transform(workload("acme-proxy"), *args)
    assert (code, out) == (1, "") and "container acme-proxy" in err and "MF255" in err
    code, out, err = transform(workload("app"), *args)
    assert code == 0, err
    code, back, err = transform(
        out, "--mode", "kubernetes-native", "--modes-file", str(tmp_path / "modes.yaml")
    )
    assert code == 0, err
    assert images(back) == ["my/own-init:1", "my/own:1", "nginx"]
    code, _, err = transform(out, "--mode", "kubernetes-native")  # the record names a mode this run lacks
    assert code == 1 and "MF251" in err and "--modes-file" in err
