"""What a mode reads to render one component's traffic policy, and what it says it can render.

A component's policy is rendered once, by the mode that governs the component, into that mode's own
objects (DestinationRule, MeshTimeout, ServiceRouter, ...) or, for the builtin mesh, into its Envoy
config. Everything a renderer needs is in `PolicyContext`, so the same context comes from the
application model (`render`) or from a status record (`transform` of rendered output).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from meshform.policy.records import (
    ComponentPolicy,
    Traffic,
    policy_from_json,
    policy_to_json,
    traffic_from_json,
    traffic_to_json,
)


class Support(StrEnum):
    """How far a mode can carry a policy feature (meshform modes --capabilities)."""

    YES = "yes"
    PARTIAL = "partial"  # rendered, with a documented difference (said in the note)
    NO = "no"


@dataclass(frozen=True)
class Capability:
    support: Support
    note: str = ""  # what differs, or why not
    requires_option: str = ""  # a modeOptions flag that must be true (Consul `enterprise`)
    # The mode enforces it by reading HTTP (Linkerd's failure accrual counts HTTP responses), so not
    # on a component whose ports are all TCP, where another mesh does it at L4 (connect failures).
    http_only: bool = False


@dataclass(frozen=True)
class PolicyPort:
    name: str
    port: int
    protocol: str  # http | http2 | grpc | tcp | udp


@dataclass(frozen=True)
class Peer:
    """A component as the other end of a policy sees it."""

    component: str
    namespace: str
    service: str  # its Service's name
    host: str  # its Service's cluster DNS name
    service_account: str
    selector: Mapping[str, str]  # pod labels every version of it carries


@dataclass(frozen=True)
class VersionTarget:
    """One version of a split: its weight and the per-version Service that selects only it."""

    name: str
    weight: int
    service: str
    labels: Mapping[str, str]  # pod labels that select exactly this version (e.g. {"version": "v1"})


@dataclass(frozen=True)
class Edge:
    """One dependency of this component, as its caller's proxy sees it."""

    to: Peer
    port: PolicyPort
    override: Traffic  # the edge's own fields (empty: the provider's traffic applies as it is)
    effective: Traffic  # the provider's traffic with the override laid over it
    versions: tuple[VersionTarget, ...] = ()  # the dependency's weighted versions, if it splits


@dataclass(frozen=True)
class CallerEdge:
    """A dependent's edge to this component that overrides this component's traffic. Meshes that
    keep one routing object per host (Istio: one VirtualService) render it on the provider's side,
    as a route only this caller's requests match."""

    caller: Peer
    port: PolicyPort
    override: Traffic  # the caller's own fields
    effective: Traffic  # this component's traffic with the override laid over it


@dataclass(frozen=True)
class PolicyContext:
    """One component's policy, with everything needed to name and target the objects."""

    app: str
    component: Peer
    ports: tuple[PolicyPort, ...]
    policy: ComponentPolicy
    versions: tuple[VersionTarget, ...] = ()
    dependents: tuple[Peer, ...] = ()  # components that declare this one as a dependency
    edges: tuple[Edge, ...] = ()
    callers: tuple[CallerEdge, ...] = ()  # dependents' overrides of this component's traffic
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def http_ports(self) -> tuple[PolicyPort, ...]:
        return tuple(p for p in self.ports if p.protocol in ("http", "http2", "grpc"))


# ------------------------------------------------------------------------- JSON, for the status record


def _peer_json(p: Peer) -> dict[str, Any]:
    return {
        "component": p.component,
        "namespace": p.namespace,
        "service": p.service,
        "host": p.host,
        "serviceAccount": p.service_account,
        "selector": dict(p.selector),
    }


def _peer(raw: Mapping[str, Any]) -> Peer:
    return Peer(
        raw["component"],
        raw["namespace"],
        raw["service"],
        raw["host"],
        raw["serviceAccount"],
        MappingProxyType(dict(raw["selector"])),
    )


def _port_json(p: PolicyPort) -> dict[str, Any]:
    return {"name": p.name, "port": p.port, "protocol": p.protocol}


def _version_json(v: VersionTarget) -> dict[str, Any]:
    return {"name": v.name, "weight": v.weight, "service": v.service, "labels": dict(v.labels)}


def _version(raw: Mapping[str, Any]) -> VersionTarget:
    return VersionTarget(raw["name"], raw["weight"], raw["service"], MappingProxyType(dict(raw["labels"])))


def _edge_json(e: Edge) -> dict[str, Any]:
    out: dict[str, Any] = {"to": _peer_json(e.to), "port": _port_json(e.port)}
    out["effective"] = traffic_to_json(e.effective)
    if not e.override.is_empty():
        out["override"] = traffic_to_json(e.override)
    if e.versions:
        out["versions"] = [_version_json(v) for v in e.versions]
    return out


def _edge(raw: Mapping[str, Any]) -> Edge:
    return Edge(
        _peer(raw["to"]),
        PolicyPort(**raw["port"]),
        traffic_from_json(raw.get("override")),
        traffic_from_json(raw.get("effective")),
        tuple(_version(v) for v in raw.get("versions", ())),
    )


def _caller_json(c: CallerEdge) -> dict[str, Any]:
    return {
        "caller": _peer_json(c.caller),
        "port": _port_json(c.port),
        "override": traffic_to_json(c.override),
        "effective": traffic_to_json(c.effective),
    }


def _caller(raw: Mapping[str, Any]) -> CallerEdge:
    return CallerEdge(
        _peer(raw["caller"]),
        PolicyPort(**raw["port"]),
        traffic_from_json(raw.get("override")),
        traffic_from_json(raw.get("effective")),
    )


def context_to_json(ctx: PolicyContext) -> dict[str, Any]:
    """Everything needed to render the policy again in another mode, as plain JSON data."""
    out: dict[str, Any] = {
        "app": ctx.app,
        "component": _peer_json(ctx.component),
        "ports": [_port_json(p) for p in ctx.ports],
        "policy": policy_to_json(ctx.policy),
    }
    if ctx.versions:
        out["versions"] = [_version_json(v) for v in ctx.versions]
    if ctx.dependents:
        out["dependents"] = [_peer_json(p) for p in ctx.dependents]
    if ctx.edges:
        out["edges"] = [_edge_json(e) for e in ctx.edges]
    if ctx.callers:
        out["callers"] = [_caller_json(c) for c in ctx.callers]
    return out


def context_from_json(raw: Mapping[str, Any], options: Mapping[str, Any]) -> PolicyContext:
    """The inverse of context_to_json. Raises KeyError/TypeError/ValueError on a malformed record."""
    return PolicyContext(
        app=raw["app"],
        component=_peer(raw["component"]),
        ports=tuple(PolicyPort(**p) for p in raw["ports"]),
        policy=policy_from_json(raw["policy"]),
        versions=tuple(_version(v) for v in raw.get("versions", ())),
        dependents=tuple(_peer(p) for p in raw.get("dependents", ())),
        edges=tuple(_edge(e) for e in raw.get("edges", ())),
        callers=tuple(_caller(c) for c in raw.get("callers", ())),
        options=MappingProxyType(dict(options)),
    )
