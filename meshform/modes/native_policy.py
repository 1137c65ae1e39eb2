"""kubernetes-native's form of traffic policy: `authorization: {allow: dependents}` as a NetworkPolicy
admitting the dependents' pods on the component's ports. It is the only policy a plain Service can
carry, and only in part: an L3/L4 allow-list by pod label, not by workload identity, enforced only
where the cluster's CNI enforces NetworkPolicy (the mode says so with a warning, MF940)."""

from __future__ import annotations

from typing import Any

from meshform.modes.policy_objects import policy_object
from meshform.policy import records as r
from meshform.policy.context import PolicyContext

API = "networking.k8s.io/v1"
WARNING = (
    "kubernetes-native enforces authorization of {component!r} with a NetworkPolicy: by pod labels at "
    "L3/L4, not by workload identity, and only where the cluster's CNI enforces NetworkPolicy"
)


def render(ctx: PolicyContext) -> list[dict[str, Any]]:
    if ctx.policy.authorization != r.ALLOW_DEPENDENTS:
        return []
    return [_network_policy(ctx)]


def _network_policy(ctx: PolicyContext) -> dict[str, Any]:
    """Ingress from the dependents' pods only, to the component's ports; no dependents: no ingress."""
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": dict(ctx.component.selector)},
        "policyTypes": ["Ingress"],
        "ingress": [],
    }
    peers = {(p.namespace, p.component): p for p in ctx.dependents}
    if peers:
        sources = []
        for key in sorted(peers):
            source: dict[str, Any] = {"podSelector": {"matchLabels": dict(peers[key].selector)}}
            if peers[key].namespace != ctx.component.namespace:
                source["namespaceSelector"] = {
                    "matchLabels": {"kubernetes.io/metadata.name": peers[key].namespace}
                }
            sources.append(source)
        ports = [{"protocol": "UDP" if p.protocol == "udp" else "TCP", "port": p.port} for p in ctx.ports]
        rule: dict[str, Any] = {"from": sources}
        if ports:
            rule["ports"] = ports
        spec["ingress"] = [rule]
    return policy_object(ctx, API, "NetworkPolicy", ctx.component.service, spec)
