"""`authorization: {allow: dependents}` in a mode that authorizes by mesh identity (istio and
istio-ambient share Istio's; linkerd, kuma and consul each their own): a dependent governed by a mode
that presents none of those identities (another mesh, kubernetes-native, builtin) would be locked out.
Refused (MF929) under strict, a warning with the authorization left out under best-effort, in render
and in transform (with rules governing the two workloads in different modes). kubernetes-native's
NetworkPolicy admits pods by labels: any dependent passes."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest
import yaml
from conftest import ROOT, invoke, transform_text

from meshform.model.config import Rule, TransformConfig

TEMPLATE = (ROOT / "tests" / "fixtures" / "policy" / "owned" / "mixed-meshes.yaml").read_text()
AUTHORIZATION_KINDS = {
    "AuthorizationPolicy",
    "PeerAuthentication",
    "MeshTrafficPermission",
    "ServiceIntentions",
    "MeshTLSAuthentication",
    "NetworkPolicy",
}
IDENTITY = {
    "istio": "istio",
    "istio-ambient": "istio",
    "linkerd": "linkerd",
    "kuma": "kuma",
    "consul": "consul",
}
CALLERS = ("istio", "istio-ambient", "linkerd", "kuma", "consul", "builtin", "kubernetes-native")


def _app(tmp_path: Path, provider: str, caller: str, enforcement: str = "strict") -> Path:
    text = TEMPLATE.replace("MODE_OF_PROVIDER", provider).replace("MODE_OF_CALLER", caller)
    path = tmp_path / "app.yaml"
    path.write_text(text.replace("ENFORCEMENT", enforcement))
    return path


def _authorization(text: str) -> list[str]:
    return sorted(o["kind"] for o in yaml.safe_load_all(text) if o and o["kind"] in AUTHORIZATION_KINDS)


@pytest.mark.parametrize("provider", sorted(IDENTITY))
@pytest.mark.parametrize("caller", CALLERS)
def test_render_refuses_a_dependent_that_cannot_present_the_identity(
    provider: str, caller: str, tmp_path: Path
) -> None:
    code, out, err = invoke("render", str(_app(tmp_path, provider, caller)))
    if IDENTITY.get(caller) == IDENTITY[provider]:
        assert "MF929" not in err
        assert code == 0 and _authorization(out), err
        return
    assert (code, out) == (1, "")
    assert (
        f"app.yaml:17:5: error MF929 {provider} allows only callers with {IDENTITY[provider]} workload "
        f"identities to reach 'reviews', but its dependents 'productpage' ({caller}) cannot present one: "
        "they would be refused [$.spec.components[1].authorization]"
    ) in err


@pytest.mark.parametrize(
    ("provider", "caller"), [("istio", "linkerd"), ("kuma", "builtin"), ("linkerd", "kubernetes-native")]
)
def test_best_effort_leaves_the_authorization_out(provider: str, caller: str, tmp_path: Path) -> None:
    code, out, err = invoke("render", str(_app(tmp_path, provider, caller, "best-effort")))
    assert code == 0, err
    assert "warning MF929" in err and "authorization left out (best-effort)" in err
    assert _authorization(out) == []
    # the neutral policy keeps it: switching both to the provider's mesh renders it again
    back, diags = transform_text(out, provider)
    assert not [d for d in diags if d.code == "MF929"]
    assert _authorization(back)


@pytest.mark.parametrize("caller", CALLERS)
def test_kubernetes_native_admits_any_dependent(caller: str, tmp_path: Path) -> None:
    code, out, err = invoke("render", str(_app(tmp_path, "kubernetes-native", caller)))
    assert "MF929" not in err
    assert code == 0 and _authorization(out) == ["NetworkPolicy"], err


def _mixed(provider: str, caller: str) -> TransformConfig:
    rule = Rule(names=("productpage",), mode=caller)
    return TransformConfig(mode=provider, rules=(rule,), mode_options=MappingProxyType({}))


@pytest.mark.parametrize("enforcement", ["strict", "best-effort"])
def test_transform_says_it_where_rules_split_the_meshes(enforcement: str, tmp_path: Path) -> None:
    code, rendered, err = invoke("render", str(_app(tmp_path, "istio", "istio", enforcement)))
    assert code == 0, err
    out, diags = transform_text(rendered, _mixed("istio", "linkerd"))
    found = [d for d in diags if d.code == "MF929"]
    assert len(found) == 1
    assert found[0].level == ("error" if enforcement == "strict" else "warning")
    assert "dependents 'productpage' (linkerd) cannot present one" in found[0].message
    if enforcement == "best-effort":
        assert _authorization(out) == []
    # both in one mesh again: no finding, the authorization is back
    again, diags = transform_text(rendered, _mixed("istio", "istio-ambient"))
    assert not [d for d in diags if d.code == "MF929"]
    assert _authorization(again)
