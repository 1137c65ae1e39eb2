"""`meshform status`: per workload, the mode the manifests give it and why, what meshform added, other
injectors' marks, meshform's objects next to it and its problems (issue 12, item 11)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, run_cli

FIXTURES = ROOT / "tests" / "fixtures"
MIXED = FIXTURES / "status" / "mixed.yaml"
RULES = FIXTURES / "status" / "rules.yaml"
POLICY_APP = FIXTURES / "policy" / "others" / "app.yaml"


def _status(*args: str, stdin: bytes | None = None) -> dict[str, Any]:
    proc = run_cli("status", *args, "-o", "json", stdin=stdin)
    report: dict[str, Any] = json.loads(proc.stdout)
    # like check: exit 1 exactly when a finding shown is an error, the view written either way
    failed = any(p["level"] == "error" for w in report["workloads"] for p in w["problems"])
    assert proc.returncode == int(failed), proc.stderr.decode()
    return report


def _by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in report["workloads"]}


def _rendered(app: Path, mode: str) -> bytes:
    proc = run_cli("render", str(app), "--mode", mode)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def test_each_reason_for_a_mode_is_named() -> None:
    found = _by_name(_status(str(MIXED), str(FIXTURES / "injected" / "istio-kube-inject.yaml")))
    assert found["by-namespace"]["mode"] == "istio"
    assert found["by-namespace"]["why"] == [
        "namespace meshed enrolls every pod in istio (istio-injection=enabled)"
    ]
    # the pod's own opt-out beats its namespace
    assert found["opted-out"]["mode"] is None
    assert "the pod opts out (sidecar.istio.io/inject=false)" in found["opted-out"]["why"][0]
    assert found["by-pod-key"]["mode"] == "linkerd"
    assert found["by-pod-key"]["why"] == ["pod keys linkerd.io/inject=enabled"]
    assert found["ignored"]["why"][0] == "annotated meshform.dev/ignore: true (meshform leaves it alone)"
    assert found["plain"]["mode"] is None
    # istioctl kube-inject output: Istio's proxy runs, and its marks are reported as another injector's
    assert found["reviews"]["mode"] == "istio"
    assert found["reviews"]["otherInjectors"] == ["istio (sidecar.istio.io/status)"]
    assert all(w["selected"] is None for w in found.values())  # no --mode/--config: nothing selected
    # Istio's injector never touches a hostNetwork pod, whatever its namespace says
    assert found["host-agent"]["mode"] is None
    assert found["host-agent"]["why"][0] == (
        "namespace meshed enrolls istio, whose injector skips hostNetwork pods"
    )


def test_a_record_that_is_not_true_of_its_workload_is_mf251() -> None:
    """A builtin record whose proxy is gone (removed by hand, or the record copied from elsewhere):
    what it lists is not there, so it is not meshform's record of this workload."""
    rendered = _rendered(POLICY_APP, "builtin").decode()
    forged = rendered.replace("name: meshform-proxy", "name: someone-elses-proxy")
    found = _by_name(_status("-", stdin=forged.encode()))
    web = found["web"]
    assert [p["code"] for p in web["problems"]] == ["MF251"]
    assert "not meshform's record of this workload" in web["problems"][0]["message"]
    assert web["added"] == {}  # a record that cannot be meshform's says nothing about what it added


def test_a_status_that_is_not_meshforms_is_a_located_problem() -> None:
    bad = _by_name(_status(str(MIXED)))["bad-record"]
    assert bad["mode"] is None
    [problem] = bad["problems"]
    assert (problem["code"], problem["line"], problem["level"]) == ("MF250", 48, "error")
    assert problem["file"].endswith("tests/fixtures/status/mixed.yaml")


def test_config_says_which_rule_selects_and_what_is_unmet() -> None:
    found = _by_name(_status(str(MIXED), "--config", str(RULES)))
    assert found["plain"]["selected"] == {"mode": None, "by": "rule 1 (kinds: [DaemonSet]) skips it"}
    assert found["by-pod-key"]["selected"] == {"mode": "linkerd", "by": "rule 2 (namespaces: [plain])"}
    assert found["by-namespace"]["selected"] == {"mode": "istio", "by": "the default mode"}
    assert found["ignored"]["selected"] == {"mode": None, "by": "meshform.dev/ignore: true"}
    # selected linkerd, carries nothing: what `check` fails on; met or opted-out workloads have none
    assert [p["code"] for p in found["bad-record"]["problems"]] == ["MF250", "MF801"]
    assert found["by-pod-key"]["problems"] == []
    assert found["opted-out"]["problems"] == []  # the user's own opt-out of istio is theirs to keep


def test_rendered_workloads_show_what_meshform_added_and_their_policy_objects() -> None:
    found = _by_name(_status("-", stdin=_rendered(POLICY_APP, "istio")))
    reviews = found["reviews-v1"]
    assert reviews["mode"] == "istio"
    assert reviews["why"] == ["meshform.dev/status records istio, labels (meshform 0.1.0)"]
    assert reviews["added"]["labels"] == ["sidecar.istio.io/inject"]
    assert "split" in reviews["added"]["policy"] and "rateLimit" in reviews["added"]["policy"]
    policy = [
        "AuthorizationPolicy/reviews",
        "DestinationRule/reviews",
        "EnvoyFilter/reviews",
        "PeerAuthentication/reviews",
        "VirtualService/reviews",
    ]
    assert reviews["objects"] == policy
    assert found["reviews-v2"]["objects"] == policy  # the component's policy serves every version
    assert found["ratings"]["objects"] == ["AuthorizationPolicy/ratings", "PeerAuthentication/ratings"]
    assert found["loadgen"]["objects"] == []


def test_builtin_bootstrap_config_maps_belong_to_their_own_workload() -> None:
    found = _by_name(_status("-", stdin=_rendered(POLICY_APP, "builtin")))
    assert found["reviews-v1"]["objects"] == ["ConfigMap/reviews-v1-meshform-envoy"]
    assert found["reviews-v2"]["objects"] == ["ConfigMap/reviews-v2-meshform-envoy"]
    assert found["reviews-v1"]["added"]["initContainers"] == ["meshform-proxy"]
    assert found["reviews-v1"]["why"] == ["meshform.dev/status records builtin, sidecar (meshform 0.1.0)"]


def test_namespace_traps_reach_the_problems() -> None:
    text = _rendered(POLICY_APP, "istio").decode()
    namespace = (
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    istio-injection: disabled\n"
    )
    found = _by_name(_status("-", stdin=(namespace + "---\n" + text).encode()))
    codes = {p["code"] for p in found["web"]["problems"]}
    assert codes, "istio-injection=disabled keeps Istio away: status must say so"
    assert all(p["level"] in ("error", "warning") for p in found["web"]["problems"])


def test_table_fits_and_lists_problems_located() -> None:
    proc = run_cli("status", str(MIXED), "--config", str(RULES))
    assert proc.returncode == 1  # its MF801 is an error
    out = proc.stdout.decode()
    lines = out.splitlines()
    assert lines[0].split() == ["WORKLOAD", "MODE", "MESHFORM", "ADDED", "OBJECTS", "PROBLEMS"]
    assert "  selected: linkerd by rule 2 (namespaces: [plain])" in lines
    assert "2 problem(s):" in lines
    assert any(line.startswith(f"{MIXED}:48:1: error MF801 ") for line in lines)
    assert max(len(line) for line in lines if not line.startswith((str(ROOT), "  hint"))) <= 100


BAD_SHAPES = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: a, namespace: x}
spec:
  template:
    metadata:
      labels: [1, 2]
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: b, namespace: x}
spec:
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: c, image: i}]}
"""


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["nosuch.yaml"], b"", "nosuch.yaml"),
        (["-"], b"", "<stdin>: error MF703 no documents in the input"),
        (["-"], b"[1, 2]\n", "error MF008"),
        (["-"], BAD_SHAPES.encode(), "<stdin>:7:7: error MF150 spec.template.metadata.labels is a list"),
    ],
    ids=["missing-file", "empty-stdin", "sequence-document", "one-bad-shape-among-good"],
)
def test_input_that_cannot_be_shown_whole_fails_with_nothing_on_stdout(
    args: list[str], stdin: bytes, expected: str
) -> None:
    proc = run_cli("status", *args, stdin=stdin)
    assert proc.returncode == 1
    assert proc.stdout == b""
    assert expected in proc.stderr.decode()


def test_names_with_control_characters_are_escaped() -> None:
    hostile = BAD_SHAPES.split("---\n")[1].replace("name: b,", 'name: "b\\e]0;owned\\a",')
    proc = run_cli("status", "-", stdin=hostile.encode())
    assert proc.returncode == 0, proc.stderr.decode()
    assert "x/Deployment/b\\x1b]0;owned\\x07" in proc.stdout.decode()
    assert "\x1b" not in proc.stdout.decode()


def test_unknown_mode_is_a_usage_error() -> None:
    proc = run_cli("status", str(MIXED), "--mode", "nosuch")
    assert proc.returncode == 2
    assert b"MF204" in proc.stderr
    assert proc.stdout == b""


ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: canary, namespace: shop}
spec:
  selector: {matchLabels: {app: canary}}
  template:
    metadata: {labels: {app: canary}}
    spec: {containers: [{name: app, image: app:1}]}
"""


def test_declared_workload_kinds_are_shown_and_selected_by_kind_and_group(tmp_path: Path) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nmetadata: {name: m}\n"
        "spec:\n  mode: istio\n  rules:\n  - kinds: [Rollout.argoproj.io]\n    mode: linkerd\n"
    )
    found = _by_name(_status("-", "--config", str(config), stdin=ROLLOUT.encode()))
    assert found["canary"]["kind"] == "Rollout"
    assert found["canary"]["selected"] == {"mode": "linkerd", "by": "rule 1 (kinds: [Rollout.argoproj.io])"}
    assert [p["code"] for p in found["canary"]["problems"]] == ["MF801"]


BLOCKED = FIXTURES / "status" / "blocked.yaml"


def test_a_mode_its_namespace_keeps_out_is_not_shown_as_the_mode() -> None:
    """istio-injection=disabled beats the pod's sidecar.istio.io/inject=true: the pod gets no proxy,
    so MODE says none (with the reason), the MF602 error is shown and status fails like check."""
    found = _by_name(_status(str(BLOCKED)))  # _status asserts exit 1 for the error
    assert found["a"]["mode"] is None
    assert found["a"]["why"] == [
        "pod keys sidecar.istio.io/inject=true",
        "but its namespace keeps istio's data plane from the pod (MF602): none",
    ]
    assert [p["code"] for p in found["a"]["problems"]] == ["MF602"]
    assert found["b"]["mode"] == "linkerd" and found["b"]["problems"] == []  # nothing blocks it
    proc = run_cli("status", str(BLOCKED))
    assert proc.returncode == 1
    row = next(line for line in proc.stdout.decode().splitlines() if line.startswith("shop/Deployment/a"))
    assert row.split()[1:] == ["none", "-", "-", "MF602"]


def test_warnings_alone_keep_status_at_zero(tmp_path: Path) -> None:
    """istio-injection=enabled with the pod's istio.io/rev: the default revision's sidecar still
    arrives (MF605, a warning): the mode stands and the exit is 0."""
    text = BLOCKED.read_text().replace("istio-injection: disabled", "istio-injection: enabled")
    text = text.replace('sidecar.istio.io/inject: "true"', "istio.io/rev: canary")
    found = _by_name(_status("-", stdin=text.encode()))
    assert found["a"]["mode"] == "istio"
    assert [(p["code"], p["level"]) for p in found["a"]["problems"]] == [("MF605", "warning")]
