"""`--policy-enforcement strict|best-effort` chooses, for one run, what happens to traffic policy a
mode cannot enforce, without editing the model: on every command that renders policy (render,
validate, transform, helm-postrender, verify's rendering of a model) and in the transformer config
(MeshTransformer `spec.policyEnforcement`, the KRM/kpt ConfigMap's `data.policyEnforcement`).

The flag overrides `spec.policyEnforcement` (or, for manifests, what the status recorded) for that
run only: the status keeps the model's own choice, so the output of a strict run that succeeds is
the best-effort run's, byte for byte, and a later `transform` without the flag does as the model says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, render, run_cli

from meshform.core import status
from meshform.core.workloads import pod_template
from meshform.diagnostics import MeshformError
from meshform.frontends.emit import render_stream
from meshform.modes import DEFAULT
from meshform.verify import targets

BOOKINFO = "examples/bookinfo/app.yaml"  # best-effort; faults and an edge override linkerd cannot do
STRICT_APP = "tests/fixtures/policy/tcp/app.yaml"  # strict (the default); linkerd cannot do its policy


def _stderr(proc: object) -> str:
    return proc.stderr.decode()  # type: ignore[attr-defined,no-any-return]


# ------------------------------------------------------------------------------- render, validate


def test_render_strict_flag_refuses_what_a_best_effort_model_would_leave_out() -> None:
    proc = run_cli("render", BOOKINFO, "--mode", "linkerd", "--policy-enforcement", "strict")
    assert proc.returncode == 1 and proc.stdout == b""
    err = _stderr(proc)
    assert f"{BOOKINFO}:46:9: error MF910 linkerd cannot enforce faultInjection.delay for 'details'" in err
    assert "MF911" not in err


def test_render_best_effort_flag_renders_a_strict_model_without_what_the_mode_cannot_do() -> None:
    assert run_cli("render", STRICT_APP, "--mode", "linkerd").returncode == 1
    proc = run_cli("render", STRICT_APP, "--mode", "linkerd", "--policy-enforcement", "best-effort")
    assert proc.returncode == 0, _stderr(proc)
    assert "warning MF911 linkerd cannot enforce circuitBreaker for 'db'" in _stderr(proc)
    assert "MF910" not in _stderr(proc)
    assert b"kind: StatefulSet" in proc.stdout


def test_validate_takes_the_flag_as_render_does() -> None:
    refused = run_cli("validate", BOOKINFO, "--mode", "linkerd", "--policy-enforcement", "strict")
    assert refused.returncode == 1 and "error MF910" in _stderr(refused)
    accepted = run_cli("validate", STRICT_APP, "--mode", "linkerd", "--policy-enforcement", "best-effort")
    assert accepted.returncode == 0, _stderr(accepted)


def test_an_unknown_enforcement_is_a_usage_error() -> None:
    proc = run_cli("render", BOOKINFO, "--policy-enforcement", "lenient")
    assert proc.returncode == 2 and "strict" in _stderr(proc) and "best-effort" in _stderr(proc)


def _recorded_enforcements(objects: list[dict[str, object]]) -> set[str]:
    found = set()
    for obj in objects:
        template = pod_template(obj)
        record = status.read(template) if template is not None else None
        if record is not None and record.policy:
            found.add(str(record.policy.get("enforcement", "strict")))
    return found


@pytest.mark.parametrize(
    ("app", "flag", "declared"), [(BOOKINFO, "strict", "best-effort"), (STRICT_APP, "best-effort", "strict")]
)
def test_the_status_records_the_models_enforcement_not_the_flags(app: str, flag: str, declared: str) -> None:
    plain = render(ROOT / app, "istio")
    flagged = render(ROOT / app, "istio", policy_enforcement=flag)
    assert plain.ok and flagged.ok
    assert _recorded_enforcements(flagged.objects) == {declared}
    assert render_stream(flagged.objects, "yaml") == render_stream(plain.objects, "yaml")


# ------------------------------------------------------------------------------ transform and friends


@pytest.fixture(scope="module")
def istio_strict() -> bytes:
    """The strict model rendered for istio, which enforces all of it."""
    proc = run_cli("render", STRICT_APP, "--mode", "istio")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_transform_flag_overrides_the_recorded_enforcement_both_ways(istio_strict: bytes) -> None:
    refused = run_cli("transform", "--mode", "linkerd", stdin=istio_strict)
    assert refused.returncode == 1 and refused.stdout == b""
    assert "error MF910 linkerd cannot enforce circuitBreaker" in _stderr(refused)
    lenient = run_cli(
        "transform", "--mode", "linkerd", "--policy-enforcement", "best-effort", stdin=istio_strict
    )
    assert lenient.returncode == 0, _stderr(lenient)
    assert "warning MF911 linkerd cannot enforce circuitBreaker" in _stderr(lenient)
    # The record still says strict: switching back without the flag gives istio byte for byte.
    back = run_cli("transform", "--mode", "istio", stdin=lenient.stdout)
    assert back.returncode == 0, _stderr(back)
    assert back.stdout == istio_strict


def test_transform_strict_flag_refuses_a_best_effort_record() -> None:
    rendered = run_cli("render", BOOKINFO, "--mode", "istio").stdout
    assert run_cli("transform", "--mode", "linkerd", stdin=rendered).returncode == 0
    proc = run_cli("transform", "--mode", "linkerd", "--policy-enforcement", "strict", stdin=rendered)
    assert proc.returncode == 1 and proc.stdout == b""
    assert (
        "error MF910 linkerd cannot enforce faultInjection.delay for Deployment/bookinfo/details"
        in _stderr(proc)
    )


def test_helm_postrender_takes_the_flag(istio_strict: bytes) -> None:
    args = ("helm-postrender", "--mode", "linkerd")
    assert run_cli(*args, stdin=istio_strict).returncode == 1
    proc = run_cli(*args, "--policy-enforcement", "best-effort", stdin=istio_strict)
    assert proc.returncode == 0, _stderr(proc)


def _transformer(tmp_path: Path, enforcement: str) -> Path:
    path = tmp_path / "mesh.yaml"
    spec = {"mode": "linkerd", "policyEnforcement": enforcement}
    path.write_text(
        yaml.safe_dump({"apiVersion": "meshform.dev/v1alpha1", "kind": "MeshTransformer", "spec": spec})
    )
    return path


def test_meshtransformer_policy_enforcement_and_the_flag_over_it(tmp_path: Path, istio_strict: bytes) -> None:
    config = str(_transformer(tmp_path, "best-effort"))
    assert run_cli("transform", "--config", config, stdin=istio_strict).returncode == 0
    flagged = run_cli("transform", "--config", config, "--policy-enforcement", "strict", stdin=istio_strict)
    assert flagged.returncode == 1 and "error MF910" in _stderr(flagged)


def test_meshtransformer_refuses_an_unknown_enforcement(tmp_path: Path, istio_strict: bytes) -> None:
    proc = run_cli("transform", "--config", str(_transformer(tmp_path, "lenient")), stdin=istio_strict)
    assert proc.returncode == 1 and proc.stdout == b""
    assert "mesh.yaml:5:3: error MF104 'lenient' is not one of ['strict', 'best-effort']" in _stderr(proc)


def _resource_list(rendered: bytes, data: dict[str, str]) -> bytes:
    items = [d for d in yaml.safe_load_all(rendered) if d is not None]
    function_config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fn"}, "data": data}
    payload = {
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": items,
        "functionConfig": function_config,
    }
    return json.dumps(payload).encode()  # JSON is YAML: exact strings, whatever their text


@pytest.mark.parametrize(("enforcement", "code"), [("best-effort", 0), ("strict", 1)])
def test_krm_function_config_data_policy_enforcement(
    istio_strict: bytes, enforcement: str, code: int
) -> None:
    stdin = _resource_list(istio_strict, {"mode": "linkerd", "policyEnforcement": enforcement})
    proc = run_cli("krm", stdin=stdin)
    assert proc.returncode == code, _stderr(proc)
    text = json.dumps(yaml.safe_load(proc.stdout)["results"])
    assert ("MF911" in text) == (enforcement == "best-effort")
    assert ("MF910" in text) == (enforcement == "strict")


def test_krm_function_config_refuses_an_unknown_enforcement(istio_strict: bytes) -> None:
    stdin = _resource_list(istio_strict, {"mode": "linkerd", "policyEnforcement": "lenient"})
    proc = run_cli("krm", stdin=stdin)
    assert proc.returncode == 1
    assert "MF104" in proc.stdout.decode() + _stderr(proc)
    assert "policyEnforcement 'lenient' is not strict or best-effort" in proc.stdout.decode() + _stderr(proc)


# ---------------------------------------------------------------------------------------- verify


def test_verify_renders_a_model_with_the_flag() -> None:
    """verify renders an application model before asking the cluster; the flag decides there too
    (offline: the rendering step alone)."""
    path = str(ROOT / BOOKINFO)
    with pytest.raises(MeshformError) as refused:
        targets.load([path], DEFAULT, "linkerd", "default", "strict")
    assert {d.code for d in refused.value.diagnostics} == {"MF910"}
    inputs = targets.load([path], DEFAULT, "linkerd", "default", "best-effort")
    assert {t.name for t in inputs.targets} >= {"productpage", "reviews-v1", "ratings"}
