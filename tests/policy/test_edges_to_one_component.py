"""Two dependencies of one caller on one component (two of its ports), each with its own override:
every mode renders both without naming two objects alike. Kuma names an override
`<caller>-to-<dependency>`, so the edges share one object per kind, one `to[]` entry per port; a
fault Kuma can select only by caller, so a second, different fault is an approximation (MF930)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from conftest import ROOT, invoke, transform_text

from meshform.frontends.emit import render_stream
from tests.policy.crds import vendored
from tests.policy.kuma_admission import admission_errors

APP = ROOT / "tests" / "fixtures" / "policy" / "owned" / "two-ports.yaml"


def _render(mode: str) -> tuple[str, str]:
    code, out, err = invoke("render", str(APP), "--mode", mode)
    assert code == 0, err
    return out, err


def _objects(text: str, kind: str) -> list[dict[str, Any]]:
    return [o for o in yaml.safe_load_all(text) if o and o["kind"] == kind]


@pytest.mark.parametrize("mode", ["builtin", "istio", "kuma"])
def test_every_mode_that_takes_edge_overrides_renders_both_edges(mode: str) -> None:
    out, err = _render(mode)
    assert "MF178" not in err
    names = [
        (o["kind"], o["metadata"]["name"]) for o in yaml.safe_load_all(out) if o and o["kind"] != "Deployment"
    ]
    assert len(names) == len(set(names))


def test_kuma_gives_each_port_its_entry_in_one_object() -> None:
    out, err = _render("kuma")
    (timeout,) = [o for o in _objects(out, "MeshTimeout") if o["metadata"]["name"] != "reviews"]
    assert timeout["spec"]["targetRef"] == {
        "kind": "Dataplane",
        "labels": {"app": "productpage", "app.kubernetes.io/part-of": "shop"},
    }
    assert timeout["metadata"]["name"] == "productpage-to-reviews"
    entries = timeout["spec"]["to"]
    assert [(t["targetRef"]["name"], t["default"]["http"]["requestTimeout"]) for t in entries] == [
        ("reviews_shop_svc_9080", "1s"),
        ("reviews_shop_svc_9090", "3s"),
    ]
    (retry,) = [o for o in _objects(out, "MeshRetry") if o["metadata"]["name"] == "productpage-to-reviews"]
    assert [(t["targetRef"]["name"], t["default"]["http"]["numRetries"]) for t in retry["spec"]["to"]] == [
        ("reviews_shop_svc_9090", 2)
    ]
    (breaker,) = _objects(out, "MeshCircuitBreaker")
    assert [t["targetRef"]["name"] for t in breaker["spec"]["to"]] == ["reviews_shop_svc_9090"]
    assert breaker["spec"]["to"][0]["default"]["connectionLimits"]["maxConnections"] == 7
    (fault,) = _objects(out, "MeshFaultInjection")
    assert fault["metadata"]["name"] == "productpage-to-reviews"
    assert [f["abort"] for f in fault["spec"]["from"][0]["default"]["http"]] == [
        {"httpStatus": 503, "percentage": 5}
    ]
    assert (
        "warning MF930 Kuma injects a fault per caller, not per port: the fault towards reviews port admin "
        "left out (port http's applies to both)"
    ) in err
    for obj in yaml.safe_load_all(render_stream([*yaml.safe_load_all(out)], "yaml")):
        if obj and obj["apiVersion"].startswith("kuma.io"):
            assert vendored("kuma").errors(obj) == [], obj["kind"]
            assert admission_errors(obj) == [], obj["kind"]


def test_kuma_edges_to_one_component_switch_back_exactly() -> None:
    out, _ = _render("kuma")
    there, diags = transform_text(out, "istio")
    assert not [d for d in diags if d.level == "error"], diags
    assert _objects(there, "MeshTimeout") == []
    back, diags = transform_text(there, "kuma")
    assert not [d for d in diags if d.level == "error"], diags
    assert back == out
