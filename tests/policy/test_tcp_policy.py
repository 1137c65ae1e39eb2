"""Traffic policy on a TCP-only component (a database): what a proxy can apply to TCP connections
(connection limits, ejecting an endpoint whose connections fail) renders wherever the mesh does it
at L4; what counts HTTP requests or responses is refused, located: request-counting circuit-breaker
limits in every mode (MF906), Linkerd's failure accrual (MF910 strict, MF911 best-effort), in
`render` and in `transform` alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, render, run_cli, transform_text

from meshform.diagnostics import Diagnostic, Level
from meshform.frontends.emit import render_stream
from meshform.model.config import TransformConfig

APP = ROOT / "tests" / "fixtures" / "policy" / "tcp" / "app.yaml"
L4_MODES = ("builtin", "istio", "istio-ambient", "kuma", "consul")
ACCRUAL = "balancer.linkerd.io/failure-accrual"


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = APP.read_text()
    assert old in text
    path = tmp_path / "app.yaml"
    path.write_text(text.replace(old, new))
    return path


def _codes(diags: list[Diagnostic], level: Level) -> list[tuple[str, str]]:
    return [(d.code, d.path) for d in diags if d.level is level]


def _service(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == name)


@pytest.mark.parametrize("mode", L4_MODES)
def test_connection_limits_and_outlier_detection_render_on_tcp(mode: str) -> None:
    result = render(APP, mode)
    assert result.ok, result.diagnostics
    assert not [d for d in result.diagnostics if d.code in ("MF906", "MF910", "MF911")]


def test_istio_and_kuma_carry_them_at_l4() -> None:
    istio = render(APP, "istio").objects
    rule = next(o for o in istio if o["kind"] == "DestinationRule")["spec"]["trafficPolicy"]
    assert rule["connectionPool"]["tcp"] == {"maxConnections": 20}
    assert rule["outlierDetection"]["consecutive5xxErrors"] == 3  # connect failures, on TCP
    kuma = render(APP, "kuma").objects
    breaker = next(o for o in kuma if o["kind"] == "MeshCircuitBreaker")["spec"]["to"][0]["default"]
    assert breaker["connectionLimits"] == {"maxConnections": 20, "maxPendingRequests": 5}
    assert breaker["outlierDetection"]["detectors"] == {"totalFailures": {"consecutive": 3}}


def test_linkerd_failure_accrual_is_refused_on_tcp_strict(tmp_path: Path) -> None:
    app = _variant(tmp_path, "      circuitBreaker: {maxConnections: 20, maxPendingRequests: 5}\n", "")
    result = render(app, "linkerd")
    assert not result.ok and not result.objects
    assert _codes(result.diagnostics, Level.ERROR) == [
        ("MF910", "$.spec.components[1].traffic.outlierDetection")
    ]
    found = next(d for d in result.diagnostics if d.code == "MF910")
    assert (found.line, found.col) == (27, 7)
    assert "outlierDetection on TCP for 'db'" in found.message
    assert "modes that can: builtin, istio, istio-ambient, kuma, consul" in found.message


def test_linkerd_failure_accrual_is_left_out_on_tcp_best_effort(tmp_path: Path) -> None:
    app = _variant(tmp_path, "      circuitBreaker: {maxConnections: 20, maxPendingRequests: 5}\n", "")
    result = render(app, "linkerd", policy_enforcement="best-effort")
    assert result.ok, result.diagnostics
    assert ("MF911", "$.spec.components[1].traffic.outlierDetection") in _codes(
        result.diagnostics, Level.WARNING
    )
    annotations = _service(result.objects, "db")["metadata"].get("annotations") or {}
    assert not [k for k in annotations if k.startswith(ACCRUAL)]


def test_linkerd_failure_accrual_still_renders_on_http(tmp_path: Path) -> None:
    """The sibling: the same policy on an HTTP port is what failure accrual is for (less the interval
    and maxEjectionPercent, which Linkerd cannot carry: MF931 under strict, policy_checks.dropped_values)."""
    app = _variant(tmp_path, "      protocol: tcp\n", "      protocol: http\n")
    text = app.read_text().replace("      circuitBreaker: {maxConnections: 20, maxPendingRequests: 5}\n", "")
    app.write_text(text.replace("interval: 10s, ", "").replace(", maxEjectionPercent: 50}", "}"))
    result = render(app, "linkerd")
    assert result.ok, result.diagnostics
    annotations = _service(result.objects, "db")["metadata"]["annotations"]
    assert annotations[ACCRUAL] == "consecutive"


@pytest.mark.parametrize("field", ["maxRequests", "maxRetries"])
@pytest.mark.parametrize("enforcement", ["strict", "best-effort"])
def test_request_counting_limits_need_http(tmp_path: Path, field: str, enforcement: str) -> None:
    app = _variant(tmp_path, "maxPendingRequests: 5}", f"maxPendingRequests: 5, {field}: 3}}")
    for mode in L4_MODES:
        result = render(app, mode, policy_enforcement=enforcement)
        assert not result.ok
        assert _codes(result.diagnostics, Level.ERROR) == [
            ("MF906", f"$.spec.components[1].traffic.circuitBreaker.{field}")
        ]


def test_request_counting_limits_on_an_edge_to_a_tcp_port(tmp_path: Path) -> None:
    app = _variant(
        tmp_path,
        "    - name: db\n      port: 5432\n",
        "    - name: db\n      port: 5432\n"
        "      traffic: {circuitBreaker: {maxConnections: 5, maxRetries: 1}}\n",
    )
    result = render(app, "builtin")
    assert _codes(result.diagnostics, Level.ERROR) == [
        ("MF906", "$.spec.components[0].dependencies[0].traffic.circuitBreaker.maxRetries")
    ]


@pytest.mark.parametrize("enforcement", ["strict", "best-effort"])
def test_transform_to_linkerd_judges_tcp_alike(enforcement: str) -> None:
    """Switching rendered istio output to linkerd: the recorded outlier detection on the TCP
    database is refused (strict) or left out (best-effort), as `render --mode linkerd` does."""
    rendered = render_stream(render(APP, "istio").objects, "yaml")
    config = TransformConfig(mode="linkerd", policy_enforcement=enforcement)
    out, diags = transform_text(rendered, config)
    lost = [d for d in diags if d.code in ("MF910", "MF911")]
    [accrual] = [d for d in lost if "outlierDetection" in d.message]
    # said as render says it, and the modes it names can do it on TCP (linkerd is not one of them)
    assert "linkerd cannot enforce outlierDetection on TCP" in accrual.message
    assert "modes that can: builtin, istio, istio-ambient, kuma, consul" in accrual.message
    assert not [d for d in diags if d.code in ("MF931", "MF932")]  # its values: not reported twice
    assert {d.level for d in lost} == {Level.ERROR if enforcement == "strict" else Level.WARNING}
    if enforcement == "best-effort":
        assert ACCRUAL not in out


def test_the_capability_matrix_says_which_feature_needs_http_in_which_mode() -> None:
    proc = run_cli("modes", "--capabilities", "-o", "json")
    assert proc.returncode == 0
    by_mode = {m["mode"]: m["features"] for m in json.loads(proc.stdout)}
    assert by_mode["linkerd"]["outlierDetection"]["httpOnly"] is True
    assert "not on TCP-only ports" in by_mode["linkerd"]["outlierDetection"]["note"]
    assert all("httpOnly" not in by_mode[m]["outlierDetection"] for m in L4_MODES)
    text = run_cli("modes", "--capabilities").stdout.decode()
    assert "outlierDetection: partial, failure accrual: consecutive HTTP failures" in text
