"""From a component's PolicyContext to what one mode can enforce of it, and how a status record carries
it. (The contexts themselves are built from the application model by meshform.core.contexts, which
`transform` never imports: it reads contexts back from status records.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from meshform.modes.base import Enrollment, Mode, Port, Upstream
from meshform.policy import records as r
from meshform.policy.context import (
    CallerEdge,
    PolicyContext,
    PolicyPort,
    context_to_json,
)


def _supported(
    traffic: r.Traffic, mode: Mode, options: Mapping[str, Any], tcp: bool, edge: bool = False
) -> r.Traffic:
    """`traffic` less what `mode` cannot enforce (`tcp`: where no port speaks HTTP; `edge`: for one
    caller alone)."""
    can = mode.facts.supports_on_edge if edge else mode.facts.supports
    for feature in traffic.features():
        if not can(feature, options, tcp):
            traffic = traffic.without(feature)
    return traffic


def _tcp(port: PolicyPort) -> bool:
    return r.tcp_only((port.protocol,))


def tcp_sides(ctx: PolicyContext) -> tuple[bool, dict[str, bool]]:
    """(no port of the component speaks HTTP, the same for each dependency's port by its component
    name): where a mode's http_only capabilities cannot hold."""
    return r.tcp_only(p.protocol for p in ctx.ports), {e.to.component: _tcp(e.port) for e in ctx.edges}


def _callers(ctx: PolicyContext, traffic: r.Traffic, mode: Mode) -> tuple[CallerEdge, ...]:
    """The dependents' overrides this (provider's) mode can give each caller alone, laid over the
    provider traffic it enforces; overrides left with nothing are dropped."""
    out = []
    for c in ctx.callers:
        override = _supported(c.override, mode, ctx.options, _tcp(c.port), edge=True)
        if not override.is_empty():
            out.append(replace(c, override=override, effective=traffic.overridden_by(override)))
    return tuple(out)


def enforceable(ctx: PolicyContext, mode: Mode) -> PolicyContext:
    """The part of a context this mode can enforce (best-effort drops the rest; strict never gets
    here with anything unsupported, because validation refused it)."""
    facts, options = mode.facts, ctx.options
    policy = ctx.policy
    edges_ok = facts.supports(r.EDGE_OVERRIDES, options)
    tcp, edge_tcp = tcp_sides(ctx)
    policy = r.ComponentPolicy(
        traffic=_supported(policy.traffic, mode, options, tcp),
        authorization=policy.authorization if facts.supports(r.AUTHORIZATION, options) else None,
        weights=policy.weights if facts.supports(r.SPLIT, options) else (),
        edges=MappingProxyType(
            {
                k: _supported(v, mode, options, edge_tcp.get(k, False), edge=True)
                for k, v in policy.edges.items()
            }
            if edges_ok
            else {}
        ),
    )
    edges = tuple(
        replace(
            e,
            override=_supported(e.override, mode, options, _tcp(e.port), edge=True)
            if edges_ok
            else r.Traffic(),
            effective=_supported(e.effective, mode, options, _tcp(e.port)),
            versions=e.versions if facts.supports(r.SPLIT, options) else (),
        )
        for e in ctx.edges
    )
    versions = ctx.versions if facts.supports(r.SPLIT, options) else ()
    if not l7_service(ctx, mode):
        policy = replace(policy, traffic=_without_l7(policy.traffic), weights=())
        versions = ()
    callers = _callers(ctx, policy.traffic, mode)
    return replace(ctx, policy=policy, edges=edges, versions=versions, callers=callers)


def l7_service(ctx: PolicyContext, mode: Mode) -> bool:
    """Can `mode` act on HTTP for this component? Not where the mesh registers the pod on its first
    port only (Consul) and that port is TCP or UDP: the service's protocol is then tcp."""
    first = ctx.ports[0].protocol if ctx.ports else None
    return not (mode.facts.first_port_service and first is not None and first not in r.HTTP_PROTOCOLS)


def _without_l7(traffic: r.Traffic) -> r.Traffic:
    for feature in traffic.features():
        if feature in r.L7_FEATURES:
            traffic = traffic.without(feature)
    return traffic


def recorded_ports(ctx: PolicyContext) -> tuple[Port, ...]:
    """The component's ports as the model declared them (protocols included, not guessed from names)."""
    return tuple(Port(p.name, p.port, p.protocol) for p in ctx.ports)


def recorded_upstreams(ctx: PolicyContext) -> tuple[Upstream, ...]:
    """The component's dependencies as a recorded policy names them (every edge is recorded, in
    dependency order): `transform` has no application model, and the builtin proxy needs them for
    its outbound listeners, exactly as `render` built them."""
    from meshform.model.semantics import env_prefix  # only a run with a recorded policy needs it

    return tuple(
        Upstream(
            e.to.component,
            env_prefix(e.to.component),
            e.to.host,
            Port(e.port.name, e.port.port, e.port.protocol),
        )
        for e in ctx.edges
    )


def has_policy(ctx: PolicyContext) -> bool:
    """Anything declared that some mode would render: the component's own policy, a caller's
    override the provider's side renders (Istio's per-caller routes), or any dependency at all. A
    dependency counts even without traffic on it: the record is all `transform` knows of it, and the
    builtin proxy routes every dependency (an outbound listener, <DEP>_HOST/<DEP>_PORT), so without
    the record a switch to builtin, or builtin transformed again, would lose the route."""
    return not ctx.policy.is_empty() or bool(ctx.edges) or bool(ctx.callers)


def attach(
    enrollment: Enrollment,
    mode: Mode,
    declared: PolicyContext,
    usable: PolicyContext,
    owner: bool,
    enforcement: str | None,
) -> None:
    """Record the declared (neutral) policy on the workload, so another mode can render all of it
    later, and add this mode's objects to the workload that owns them (the component's first version)."""
    enrollment.policy = {"owner": owner, "context": context_to_json(declared)}
    if enforcement == "best-effort":
        enrollment.policy["enforcement"] = enforcement
    if owner:
        enrollment.objects += mode.render_policy(usable)
