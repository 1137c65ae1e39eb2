"""User-defined modes carry policy through templates in the modes file (`modes[].policy[]`): sandboxed
Jinja like a sidecar template, each claiming some features; the rendered objects are validated, made
meshform's (namespace, labels), recorded in the workload's status and removed exactly by a switch. A
feature no template claims stays unsupported (MF910 under strict)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, invoke

FIXTURES = ROOT / "tests" / "fixtures" / "policy" / "custom"
MODES = FIXTURES / "modes.yaml"  # mymesh: Route (timeout, retries), Allow (authorization)
APP = FIXTURES / "app.yaml"
LABELS = {
    "app.kubernetes.io/managed-by": "meshform",
    "app.kubernetes.io/name": "reviews",
    "app.kubernetes.io/part-of": "shop",
}


def _render(app: Path, modes: Path = MODES) -> tuple[int, str, str]:
    return invoke("render", str(app), "--mode", "mymesh", "--modes-file", str(modes))


def _objects(text: str, *kinds: str) -> list[dict[str, Any]]:
    return [o for o in yaml.safe_load_all(text) if o and o["kind"] in kinds]


def test_templates_render_the_policy_as_meshforms_objects() -> None:
    code, out, err = _render(APP)
    assert code == 0, err
    route, allow = _objects(out, "Route", "Allow")
    assert route == {
        "apiVersion": "mymesh.io/v1",
        "kind": "Route",
        "metadata": {"name": "reviews", "labels": {"team": "mesh", **LABELS}, "namespace": "shop"},
        "spec": {"host": "reviews.shop.svc.cluster.local", "timeout": "2s", "retries": 0},
    }
    assert allow["metadata"] == {"name": "reviews-from-productpage", "namespace": "shop", "labels": LABELS}
    assert allow["spec"] == {"to": "reviews", "from": "productpage"}
    # recorded on the workload that owns them, emitted right after it
    docs = [o for o in yaml.safe_load_all(out) if o]
    owner = next(
        i for i, o in enumerate(docs) if o["kind"] == "Deployment" and o["metadata"]["name"] == "reviews"
    )
    assert [o["kind"] for o in docs[owner + 1 : owner + 3]] == ["Route", "Allow"]
    status = docs[owner]["spec"]["template"]["metadata"]["annotations"]["meshform.dev/status"]
    assert '"objects":["Route/reviews","Allow/reviews-from-productpage"]' in status


def test_the_capabilities_list_what_the_templates_carry() -> None:
    code, out, _ = invoke("modes", "--capabilities", "-o", "json", "--modes-file", str(MODES))
    assert code == 0
    assert '"template templates/route.yaml.j2"' in out and '"template templates/allow.yaml.j2"' in out


@pytest.mark.parametrize("other", ["istio", "linkerd", "kuma", "consul"])
def test_switching_removes_exactly_the_template_objects_and_back(other: str, tmp_path: Path) -> None:
    _, rendered, _ = _render(APP)
    first = tmp_path / "a.yaml"
    first.write_text(rendered)
    code, there, err = invoke("transform", str(first), "--mode", other, "--modes-file", str(MODES))
    assert code == 0, err
    assert _objects(there, "Route", "Allow") == []
    second = tmp_path / "b.yaml"
    second.write_text(there)
    code, back, err = invoke("transform", str(second), "--mode", "mymesh", "--modes-file", str(MODES))
    assert code == 0, err
    assert back == rendered
    code, _, err = invoke("check", str(first), "--mode", "mymesh", "--modes-file", str(MODES))
    assert code == 0 and " MF92" not in err, err


def test_a_feature_no_template_claims_is_unsupported(tmp_path: Path) -> None:
    app = tmp_path / "app.yaml"
    text = APP.read_text().replace("traffic: {", "traffic: {circuitBreaker: {maxConnections: 5}, ")
    app.write_text(text)
    code, out, err = _render(app)
    assert (code, out) == (1, "")
    assert "error MF910 mymesh cannot enforce circuitBreaker for 'reviews'" in err
    assert "MF910 mymesh cannot enforce timeout" not in err


def _modes_with(tmp_path: Path, template: str, features: str = "[timeout, retries]") -> Path:
    (tmp_path / "t").mkdir(exist_ok=True)
    (tmp_path / "t" / "p.j2").write_text(template)
    shutil.copy(FIXTURES / "templates" / "allow.yaml.j2", tmp_path / "t" / "allow.j2")
    modes = tmp_path / "modes.yaml"
    modes.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: GovernanceModes\nmodes:\n- name: mymesh\n"
        '  podLabels: {mymesh.io/inject: "true"}\n  policy:\n'
        f"  - template: t/p.j2\n    features: {features}\n"
        "  - template: t/allow.j2\n    features: [authorization]\n"
    )
    return modes


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ component.__class__ }}", "template refused by the sandbox"),
        ("{% for i in range(10**9) %}x{% endfor %}", "template failed: OverflowError"),
        ("- a\n- b\n", "template must render YAML documents of objects, not a sequence"),
        ("kind: X\nmetadata: {name: x}\n", "policy template object 1: needs a string 'apiVersion'"),
        ("apiVersion: v1\nkind: X\nmetadata: {name: Bad_Name}\n", "X needs a metadata.name of lower-case"),
        ("apiVersion: v1\nkind: X\nmetadata: {name: x, labels: {a: 1}}\n", "metadata.labels must map names"),
        ("{% if %}", "template syntax"),
    ],
)
def test_a_bad_policy_template_is_a_located_error(template: str, message: str, tmp_path: Path) -> None:
    code, out, err = _render(APP, _modes_with(tmp_path, template))
    assert (code, out) == (1, ""), err
    assert "Traceback" not in err and "internal error" not in err
    assert "error MF302" in err and message in err, err
    assert "t/p.j2:" in err
    assert "hint: fix the policy template: it must render a YAML stream of Kubernetes objects" in err


def test_a_feature_claimed_twice_is_refused_at_the_second_claim(tmp_path: Path) -> None:
    modes = _modes_with(tmp_path, "", "[timeout, authorization]")
    code, _, err = _render(APP, modes)
    assert code == 1
    assert f"{modes}:10:16: error MF301 feature 'authorization' already has a template (policy[0])" in err


@pytest.mark.parametrize("path", ["../outside.j2", "/etc/passwd"])
def test_a_template_outside_the_modes_file_directory_is_refused(path: str, tmp_path: Path) -> None:
    modes = _modes_with(tmp_path, "")
    modes.write_text(modes.read_text().replace("t/p.j2", path))
    code, _, err = _render(APP, modes)
    assert code == 1 and "error MF303" in err, err


def test_a_feature_listed_twice_in_one_template_is_refused(tmp_path: Path) -> None:
    modes = _modes_with(tmp_path, "", "[timeout, retries, timeout]")
    code, _, err = _render(APP, modes)
    assert code == 1
    assert f"{modes}:8:34: error MF301 feature 'timeout' is listed twice" in err
