"""A fault next to a timeout or retries on one route: Envoy's fault filter runs before the router (Istio's
pilot sets the fault as the route's per-filter config and the timeout and retry policy on the same
route), so in the modes that inject in the calling proxy (builtin, istio, istio-ambient's waypoint)
the injected delay is not counted by the timeout and injected aborts are never retried: MF928 says so,
once per route. Kuma and Consul inject on the provider's side: nothing to say."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, invoke

APP = ROOT / "tests" / "fixtures" / "policy" / "owned" / "app.yaml"  # faults, timeouts, retries


def _mf928(path: Path, mode: str) -> list[str]:
    code, _, err = invoke("render", str(path), "--mode", mode)
    assert code == 0, err
    return sorted(line.split(": warning MF928 ")[1] for line in err.splitlines() if " MF928 " in line)


@pytest.mark.parametrize(("mode", "mesh"), [("istio", "Istio"), ("builtin", "Envoy")])
def test_a_fault_with_a_timeout_or_retries_is_said(mode: str, mesh: str) -> None:
    assert _mf928(APP, mode) == [
        f"{mesh} injects the fault of calls to reviews in the calling proxy before it routes: the injected "
        "delay is not counted by the timeout and injected aborts are never retried "
        "[$.spec.components[1].traffic]",
        # the edge's override keeps the provider's fault; its retries are `attempts: 0`
        f"{mesh} injects the fault of productpage's calls to reviews in the calling proxy before it routes: "
        "the injected delay is not counted by the timeout [$.spec.components[0].dependencies]",
    ]


def test_ambient_says_it_for_the_waypoint_route() -> None:
    assert [m.split(":")[0] for m in _mf928(APP, "istio-ambient")] == [
        "Istio injects the fault of calls to reviews in the calling proxy before it routes"
    ]


@pytest.mark.parametrize("mode", ["kuma", "linkerd", "kubernetes-native"])
def test_modes_that_do_not_inject_before_the_callers_router_say_nothing(mode: str) -> None:
    assert _mf928(APP, mode) == []


@pytest.mark.parametrize(
    ("traffic", "said"),
    [
        ("{faultInjection: {delay: {fixedDelay: 1s, percent: 5}}}", []),
        ("{faultInjection: {abort: {httpStatus: 503, percent: 5}}, timeout: 2s}", []),
        ("{faultInjection: {abort: {httpStatus: 503, percent: 5}}, retries: {attempts: 0}}", []),
        (
            "{faultInjection: {delay: {fixedDelay: 1s, percent: 5}}, "
            "retries: {attempts: 2, perTryTimeout: 1s}}",
            ["the injected delay is not counted by the timeout"],
        ),
        (
            "{faultInjection: {abort: {httpStatus: 503, percent: 5}}, retries: {attempts: 2}}",
            ["injected aborts are never retried"],
        ),
    ],
)
def test_only_what_the_route_combines_is_said(traffic: str, said: list[str], tmp_path: Path) -> None:
    app = tmp_path / "app.yaml"
    app.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: Application\nmetadata: {name: shop, namespace: shop}\n"
        "spec:\n  components:\n  - name: productpage\n    image: ex/pp:1\n"
        "    dependencies: [{name: reviews}]\n"
        "  - name: reviews\n    image: ex/rev:1\n    ports: [{name: http, port: 9080}]\n"
        f"    traffic: {traffic}\n"
    )
    found = _mf928(app, "istio")
    assert [m.split("before it routes: ")[1].split(" [")[0] for m in found] == (
        [" and ".join(said)] if said else []
    )


def test_the_capabilities_say_it_for_builtin_and_istio() -> None:
    code, text, _ = invoke("modes", "--capabilities")
    assert code == 0
    out = " ".join(text.split())  # the notes wrap at 100 columns
    assert "the delay does not count against the timeout" in out
    assert "aborted requests are never retried" in out
