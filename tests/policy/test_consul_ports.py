"""Consul (Community Edition) registers a pod as one service on its first port; ServiceDefaults'
protocol is that service's. A TCP port after an HTTP first one is not a port of the service (MF927,
a warning); L7 policy behind a TCP first port cannot act (MF926: an error under strict, a warning and
left out under best-effort), in render and in transform alike. Other modes are unaffected."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import ROOT, invoke, transform_text

FIXTURES = ROOT / "tests" / "fixtures" / "policy" / "consul"
HTTP_FIRST = FIXTURES / "http-then-tcp.yaml"
TCP_FIRST = FIXTURES / "tcp-then-http.yaml"


def _kinds(text: str) -> list[str]:
    return [o["kind"] for o in yaml.safe_load_all(text) if o]


def test_a_tcp_port_after_an_http_first_one_is_said() -> None:
    code, out, err = invoke("render", str(HTTP_FIRST), "--mode", "consul")
    assert code == 0, err
    (defaults,) = [
        o
        for o in yaml.safe_load_all(out)
        if o and o["kind"] == "ServiceDefaults" and o["metadata"]["name"] == "reviews"
    ]
    assert defaults["spec"]["protocol"] == "http"
    warnings = sorted(line for line in err.splitlines() if " MF927 " in line)
    assert warnings == [
        f"{HTTP_FIRST}:13:5: warning MF927 Consul registers 'reviews' on its first port only (http, 9080): "
        f"protocol http is that service's, and port {name} ({port}, {proto}) is not one of its ports "
        "[$.spec.components[1].ports]"
        for name, port, proto in (("dns", 53, "udp"), ("pg", 5432, "tcp"))
    ]
    # the same warning when the policy comes from the status record
    _, diags = transform_text(invoke("render", str(HTTP_FIRST), "--mode", "istio")[1], "consul")
    assert len([d for d in diags if d.code == "MF927" and d.level == "warning"]) == 2


def test_other_modes_do_not_say_it() -> None:
    for mode in ("istio", "kuma", "linkerd"):
        code, _, err = invoke("render", str(HTTP_FIRST), "--mode", mode)
        assert code == 0 and "MF927" not in err, (mode, err)
        code, _, err = invoke("render", str(TCP_FIRST), "--mode", mode)
        assert "MF926" not in err, (mode, err)


def test_l7_policy_behind_a_tcp_first_port_is_refused_under_strict() -> None:
    code, out, err = invoke("render", str(TCP_FIRST), "--mode", "consul")
    assert (code, out) == (1, "")
    refused = sorted(line.split(" error MF926 ")[0] for line in err.splitlines() if " error MF926 " in line)
    assert refused == sorted(
        f"{TCP_FIRST}:{line}:{col}:" for line, col in ((15, 5), (17, 7), (18, 7))
    )  # versions (split), timeout, retries; the circuit breaker and authorization are L4
    assert (
        "consul registers 'reviews' on its first port only (pg, 5432, tcp), so the service is tcp and "
        "timeout cannot act on its HTTP port [$.spec.components[1].traffic.timeout]"
    ) in err


def test_l7_policy_behind_a_tcp_first_port_is_left_out_under_best_effort(tmp_path: Path) -> None:
    app = tmp_path / "app.yaml"
    app.write_text(
        TCP_FIRST.read_text().replace("policyEnforcement: strict", "policyEnforcement: best-effort")
    )
    code, out, err = invoke("render", str(app), "--mode", "consul")
    assert code == 0, err
    assert err.count(" warning MF926 ") == 3 and "left out (best-effort)" in err
    kinds = _kinds(out)
    assert "ServiceRouter" not in kinds and "ServiceSplitter" not in kinds and "ServiceResolver" not in kinds
    assert "ServiceIntentions" in kinds
    (defaults,) = [
        o
        for o in yaml.safe_load_all(out)
        if o and o["kind"] == "ServiceDefaults" and o["metadata"]["name"] == "reviews"
    ]
    assert defaults["spec"]["protocol"] == "tcp"


def test_switching_to_consul_refuses_it_too() -> None:
    code, istio, err = invoke("render", str(TCP_FIRST), "--mode", "istio")
    assert code == 0, err
    _, diags = transform_text(istio, "consul")
    refused = sorted(
        {(d.code, str(d.level), d.message.split(" for ")[0]) for d in diags if d.code == "MF926"}
    )
    assert refused == [
        ("MF926", "error", f"consul cannot enforce {feature}") for feature in ("retries", "split", "timeout")
    ]
    assert (
        "registers the pod on its first port only (pg, tcp)"
        in next(d for d in diags if d.code == "MF926").message
    )
