"""Istio ambient's objects for one component's traffic policy.

ztunnel speaks L4 only, so every HTTP policy (timeout, retries, faults, split) and the destination's
connection pool and outlier detection need a waypoint: meshform emits one per component that needs it,
a Gateway `<service>-waypoint` (class `istio-waypoint`, listener `mesh` 15008/HBONE, label
`istio.io/waypoint-for: service`), and the mode enrolls the component's Service in it with the label
`istio.io/use-waypoint` (recorded in the Service's status, so switching removes it). A per-component
waypoint is owned by exactly one workload's record, so switching one component never strands another's
traffic; `modeOptions.istio-ambient.waypoint` names a shared waypoint instead, which meshform uses but
does not emit (no single workload could own it).

The L7 policy itself is the same DestinationRule and VirtualService as in sidecar mode, applied by
the waypoint. Why not Gateway API HTTPRoute, the waypoint's Beta API: it has no fault injection at all,
and its `retry` is Experimental through Gateway API v1.6.3 (absent from the standard CRDs, attempts >= 1,
status codes only, no reset/connect-failure); and Istio leaves mixing HTTPRoute and VirtualService for
one host undefined. One VirtualService per host carries all of it, with the semantics sidecar mode
has, at the price of an API Istio calls Alpha for ambient (said in `meshform modes --capabilities`).
EnvoyFilter is not supported with waypoints, so there is no rate limit; a waypoint applies one policy to
every caller, so there are no per-caller overrides.

`authorization: {allow: dependents}`: PeerAuthentication STRICT and an AuthorizationPolicy with a
`selector` and principals only (L4, enforced by ztunnel). With a waypoint, the destination's ztunnel
sees the waypoint's identity, not the caller's: the dependents are then allowed at the waypoint
(`targetRefs` to the Service), and ztunnel admits only the waypoint (`<service>-ztunnel`), so the
waypoint cannot be bypassed. A waypoint runs as the ServiceAccount named after its Gateway.
"""

from __future__ import annotations

from typing import Any

from meshform.modes import istio_policy as istio
from meshform.policy import records as r
from meshform.policy.context import PolicyContext

GATEWAY_API = "gateway.networking.k8s.io/v1"
USE_WAYPOINT = "istio.io/use-waypoint"
HBONE_PORT = 15008
# Features a waypoint enforces; ztunnel alone does authorization (L4).
_WAYPOINT_FEATURES = frozenset(
    {r.TIMEOUT, r.RETRIES, r.CIRCUIT_BREAKER, r.OUTLIER_DETECTION, r.FAULT_DELAY, r.FAULT_ABORT}
)


def needs_waypoint(ctx: PolicyContext) -> bool:
    return bool(ctx.versions) or any(f in _WAYPOINT_FEATURES for f in ctx.policy.traffic.features())


def waypoint_name(ctx: PolicyContext) -> str:
    return str(ctx.options.get("waypoint") or f"{ctx.component.service}-waypoint")


def service_labels(ctx: PolicyContext) -> dict[str, dict[str, str]]:
    """Service name → the labels that send its traffic through the waypoint (none if not needed)."""
    if not needs_waypoint(ctx):
        return {}
    return {ctx.component.service: {USE_WAYPOINT: waypoint_name(ctx)}}


def waypoint(ctx: PolicyContext) -> dict[str, Any]:
    name = waypoint_name(ctx)
    out = istio.obj(
        GATEWAY_API,
        "Gateway",
        ctx,
        name,
        {
            "gatewayClassName": "istio-waypoint",
            "listeners": [{"name": "mesh", "port": HBONE_PORT, "protocol": "HBONE"}],
        },
    )
    out["metadata"]["labels"]["istio.io/waypoint-for"] = "service"
    return out


def authorization(ctx: PolicyContext) -> list[dict[str, Any]]:
    """PeerAuthentication and the AuthorizationPolicies that admit only the dependents."""
    out = [istio.peer_authentication(ctx)]
    if not needs_waypoint(ctx):
        out.append(istio.authorization_policy(ctx))  # selector + principals: ztunnel enforces it
        return out
    service = ctx.component.service
    at_waypoint = {
        "targetRefs": [{"group": "", "kind": "Service", "name": service}],
        **istio.allow_from(istio.dependents_principals(ctx)),
    }
    only_waypoint = {
        "selector": {"matchLabels": istio.selector(ctx)},
        # a waypoint runs as the ServiceAccount named after its Gateway
        **istio.allow_from([istio.principal(ctx, ctx.component.namespace, waypoint_name(ctx))]),
    }
    out.append(istio.obj(istio.SECURITY, "AuthorizationPolicy", ctx, service, at_waypoint))
    out.append(istio.obj(istio.SECURITY, "AuthorizationPolicy", ctx, f"{service}-ztunnel", only_waypoint))
    return out


def render(ctx: PolicyContext) -> list[dict[str, Any]]:
    """Every ambient object for this component, in a stable order."""
    out = []
    if needs_waypoint(ctx) and not ctx.options.get("waypoint"):
        out.append(waypoint(ctx))
    out += istio.traffic_objects(ctx)
    if ctx.policy.authorization == r.ALLOW_DEPENDENTS:
        out += authorization(ctx)
    return out
