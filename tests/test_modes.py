"""Per-mode behaviour in one line each, plus the builtin mesh's corner cases and user-defined modes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import render, run_cli

from meshform.core import status
from meshform.core.workloads import pod_template

APP = """\
apiVersion: meshform.dev/v1alpha1
kind: Application
metadata: {{name: demo, namespace: demo}}
spec:
  governanceMode: {mode}
  modeOptions: {options}
  components:
  - name: web
    image: web:1
    ports: [{{name: http, port: {port}}}]
    dependencies: {deps}
  - name: dns
    image: dns:1
    ports: [{{name: dns, port: 53, protocol: udp}}]
  - name: api
    image: api:1
    ports: [{{name: http, port: 80}}]
"""


def write_app(tmp_path: Path, mode: str, options: str = "{}", port: int = 8080, deps: str = "[api]") -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(APP.format(mode=mode, options=options, port=port, deps=deps))
    return path


def template_of(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (obj,) = [o for o in objects if o["metadata"]["name"] == name and pod_template(o) is not None]
    template = pod_template(obj)
    assert template is not None
    return template


@pytest.mark.parametrize(
    ("mode", "options", "labels", "annotations"),
    [
        ("istio", "{}", {"sidecar.istio.io/inject": "true"}, {}),
        ("istio", "{istio: {revision: canary}}", {"istio.io/rev": "canary"}, {}),
        ("ISTIO_SERVICE_MESH", "{}", {"sidecar.istio.io/inject": "true"}, {}),
        ("istio-ambient", "{}", {"istio.io/dataplane-mode": "ambient"}, {}),
        (
            "istio-ambient",
            "{istio-ambient: {waypoint: wp}}",
            {"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "wp"},
            {},
        ),
        ("linkerd", "{}", {}, {"linkerd.io/inject": "enabled"}),
        ("linkerd", "{linkerd: {ingress: true}}", {}, {"linkerd.io/inject": "ingress"}),
        (
            "kuma",
            "{kuma: {mesh: payments}}",
            {"kuma.io/sidecar-injection": "enabled", "kuma.io/mesh": "payments"},
            {},
        ),
        ("consul", "{}", {}, {"consul.hashicorp.com/connect-inject": "true"}),
    ],
)
def test_mode_enrolls_the_pod_template(
    tmp_path: Path, mode: str, options: str, labels: dict[str, str], annotations: dict[str, str]
) -> None:
    result = render(write_app(tmp_path, mode, options))
    assert result.ok, result.diagnostics
    template = template_of(result.objects, "web")
    assert labels.items() <= template["metadata"]["labels"].items()
    assert annotations.items() <= template["metadata"].get("annotations", {}).items()
    record = status.read(template)
    assert record is not None
    assert set(record.labels) == set(labels)
    assert set(record.annotations) == set(annotations)


def test_native_adds_nothing(tmp_path: Path) -> None:
    """Nothing that enrolls or changes the pod: only meshform's status record of web's dependency,
    all that a later `transform --mode builtin` can know of it to route it."""
    result = render(write_app(tmp_path, "KUBERNETES_NATIVE_SERVICE"))
    template = template_of(result.objects, "web")
    assert set(template["metadata"]["annotations"]) == {status.STATUS}
    record = status.read(template)
    assert record is not None and record.mode == "kubernetes-native"
    assert not (record.labels or record.annotations or record.env or record.objects)
    assert [e["to"]["component"] for e in record.policy["context"]["edges"]] == ["api"]
    env = {e["name"]: e["value"] for e in template["spec"]["containers"][0]["env"]}
    assert env == {"API_HOST": "api.demo.svc.cluster.local", "API_PORT": "80"}


def test_builtin_routes_privileged_and_clashing_ports_to_free_local_ports(tmp_path: Path) -> None:
    result = render(write_app(tmp_path, "BUILD_IN_SERVICE_MESH"))
    assert result.ok, result.diagnostics
    env = {e["name"]: e["value"] for e in template_of(result.objects, "web")["spec"]["containers"][0]["env"]}
    assert env == {"API_HOST": "127.0.0.1", "API_PORT": "20000"}  # 80 is privileged for uid 1337


def test_builtin_leaves_udp_dependencies_at_their_service(tmp_path: Path) -> None:
    result = render(write_app(tmp_path, "builtin", deps="[dns, api]"))
    assert result.ok
    env = {e["name"]: e["value"] for e in template_of(result.objects, "web")["spec"]["containers"][0]["env"]}
    assert env["DNS_HOST"] == "dns.demo.svc.cluster.local" and env["DNS_PORT"] == "53"
    assert [d.code for d in result.diagnostics if "dependency dns" in d.message] == ["MF402"]


def test_builtin_refuses_app_ports_the_proxy_needs(tmp_path: Path) -> None:
    result = render(write_app(tmp_path, "builtin", port=15021))
    assert not result.ok
    assert [d.code for d in result.diagnostics if d.level == "error"] == ["MF212"]


MODES_FILE = """\
apiVersion: meshform.dev/v1alpha1
kind: GovernanceModes
modes:
- name: acme-mesh
  summary: ACME's in-house mesh
  aliases: [ACME]
  podLabels: {acme.io/mesh: enabled}
  podAnnotations: {acme.io/proxy-config: '{"x": 1}'}
  namespaceLabels: {acme.io/mesh: enabled}
  sidecar:
    template: acme-proxy.yaml.j2
    values: {image: "acme/proxy:2"}
"""

TEMPLATE = """\
name: acme-proxy
image: {{ values.image | tojson }}
env:
- name: ACME_WORKLOAD
  value: {{ workload | tojson }}
"""


def _modes_dir(tmp_path: Path, template: str = TEMPLATE, modes: str = MODES_FILE) -> Path:
    (tmp_path / "acme-proxy.yaml.j2").write_text(template)
    (tmp_path / "modes.yaml").write_text(modes)
    return tmp_path / "modes.yaml"


def test_user_defined_mode_by_labels_and_by_sidecar(tmp_path: Path) -> None:
    modes = _modes_dir(tmp_path)
    app = write_app(tmp_path, "ACME")
    by_labels = run_cli("render", str(app), "--modes-file", str(modes), "--format", "json")
    assert by_labels.returncode == 0, by_labels.stderr
    items = json.loads(by_labels.stdout)["items"]
    template = template_of(items, "web")
    assert template["metadata"]["labels"]["acme.io/mesh"] == "enabled"
    assert template["metadata"]["annotations"]["acme.io/proxy-config"] == '{"x": 1}'
    by_sidecar = run_cli(
        "render", str(app), "--modes-file", str(modes), "--enrollment", "sidecar", "--format", "json"
    )
    assert by_sidecar.returncode == 0, by_sidecar.stderr
    template = template_of(json.loads(by_sidecar.stdout)["items"], "web")
    (proxy,) = template["spec"]["initContainers"]
    assert proxy == {
        "name": "acme-proxy",
        "image": "acme/proxy:2",
        "restartPolicy": "Always",
        "env": [{"name": "ACME_WORKLOAD", "value": "web"}],
    }
    listed = run_cli("modes", "--modes-file", str(modes), "-o", "json")
    assert "acme-mesh" in [m["mode"] for m in json.loads(listed.stdout)]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("name: x\nimage: {{ ''.__class__.__mro__ }}\n", "MF302 template refused by the sandbox"),
        ("name: x\nimage: {{ values|attr('__class__') }}\n", "MF302 template refused by the sandbox"),
        ("name: x\nimage: {{ '{0.__class__}'.format(values) }}\n", "MF302 template refused by the sandbox"),
        ("{% for i in range(10**9) %}xxxxxxxx{% endfor %}", "MF302 template failed: OverflowError: Range"),
        ("{% for i in range(100000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}", "MF030 template over"),
        ("name: x\nimage: {{ nope }}\n", "MF302 template error: 'nope' is undefined"),
        ("name: x\n  image: [\n", "MF302 template output line 2"),
        ("- a\n- b\n", "MF302 template must render one YAML mapping"),
    ],
    ids=["dunder", "attr", "format", "huge-range", "huge-output", "undefined", "bad-yaml", "not-a-mapping"],
)
def test_hostile_templates_are_refused(tmp_path: Path, template: str, message: str) -> None:
    modes = _modes_dir(tmp_path, template=template)
    proc = run_cli(
        "render", str(write_app(tmp_path, "acme-mesh")), "--modes-file", str(modes), "--enrollment", "sidecar"
    )
    assert proc.returncode == 1
    assert proc.stdout == b""
    err = proc.stderr.decode()
    assert message in err, err
    assert "Traceback" not in err


def test_values_with_yaml_syntax_stay_one_scalar(tmp_path: Path) -> None:
    hostile = "x\\n- name: LD_PRELOAD\\n  value: /evil.so"
    modes = _modes_dir(tmp_path, modes=MODES_FILE.replace('"acme/proxy:2"', f'"{hostile}"'))
    proc = run_cli(
        "render",
        str(write_app(tmp_path, "acme-mesh")),
        "--modes-file",
        str(modes),
        "--enrollment",
        "sidecar",
        "--format",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    (proxy,) = template_of(json.loads(proc.stdout)["items"], "web")["spec"]["initContainers"]
    assert proxy["image"] == "x\n- name: LD_PRELOAD\n  value: /evil.so"
    assert [e["name"] for e in proxy["env"]] == ["ACME_WORKLOAD"]


@pytest.mark.parametrize("path", ["../outside.j2", "/etc/passwd", "link.j2"])
def test_template_paths_cannot_leave_the_modes_directory(tmp_path: Path, path: str) -> None:
    inner = tmp_path / "modes"
    inner.mkdir()
    (tmp_path / "outside.j2").write_text(TEMPLATE)
    os.symlink(tmp_path / "outside.j2", inner / "link.j2")
    modes = _modes_dir(inner, modes=MODES_FILE.replace("acme-proxy.yaml.j2", path))
    proc = run_cli("modes", "--modes-file", str(modes))
    assert proc.returncode == 1
    assert "MF303" in proc.stderr.decode()


def test_bad_modes_file_is_located(tmp_path: Path) -> None:
    modes = _modes_dir(tmp_path, modes=MODES_FILE.replace("podLabels", "podLabel"))
    proc = run_cli("modes", "--modes-file", str(modes))
    assert proc.returncode == 1
    assert f"{modes}:7:3: error MF301 unknown field 'podLabel'" in proc.stderr.decode()


def test_modes_cannot_shadow_built_in_ones(tmp_path: Path) -> None:
    modes = _modes_dir(tmp_path, modes=MODES_FILE.replace("acme-mesh", "istio"))
    proc = run_cli("modes", "--modes-file", str(modes))
    assert proc.returncode == 1 and "MF301" in proc.stderr.decode()
