"""Linkerd's form of one component's traffic policy (Linkerd 2.16+; rate limits 2.17+).

Timeouts, retries and failure accrual are *annotations on the component's Services* (every caller's
proxy reads them from there; an HTTPRoute without its own annotations inherits them), so they travel
in the enrollment (`service_annotations`) and are recorded on each Service for exact removal. The
objects are a Gateway API HTTPRoute per HTTP port for a version split (parent: the Service, backends:
the per-version Services), and per port a Server that authorization and rate limits attach to.

Facts from linkerd2 `version-2.18` (policy-controller/k8s/index/src/outbound/index.rs and http.rs):
- durations are parsed as *one* number and unit (`90s`, `1500ms`; `1m30s` is refused);
- `retry.linkerd.io/limit: "0"` is read as "unset" (then 1), so "no retries" means no retry keys;
- a Server denies every client it does not authorize (`accessPolicy` defaults to `deny`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshform.modes.base import Dropped
from meshform.modes.policy_objects import policy_object
from meshform.policy import records as r
from meshform.policy.context import Peer, PolicyContext, PolicyPort

GATEWAY_API = "gateway.networking.k8s.io/v1"
SERVER_API = "policy.linkerd.io/v1beta3"
POLICY_API = "policy.linkerd.io/v1alpha1"
POLICY_GROUP = "policy.linkerd.io"

TIMEOUT = "timeout.linkerd.io/request"
RETRY_HTTP = "retry.linkerd.io/http"
RETRY_LIMIT = "retry.linkerd.io/limit"
RETRY_TIMEOUT = "retry.linkerd.io/timeout"
ACCRUAL = "balancer.linkerd.io/failure-accrual"
ACCRUAL_MAX_FAILURES = "balancer.linkerd.io/failure-accrual-consecutive-max-failures"
ACCRUAL_MIN_PENALTY = "balancer.linkerd.io/failure-accrual-consecutive-min-penalty"
ACCRUAL_MAX_PENALTY = "balancer.linkerd.io/failure-accrual-consecutive-max-penalty"
SERVICE_KEYS = (
    TIMEOUT,
    RETRY_HTTP,
    RETRY_LIMIT,
    RETRY_TIMEOUT,
    ACCRUAL,
    ACCRUAL_MAX_FAILURES,
    ACCRUAL_MIN_PENALTY,
    ACCRUAL_MAX_PENALTY,
)
DEFAULT_MAX_PENALTY_MS = 60_000  # Linkerd refuses a min penalty above the max (default 1m)

# Retry conditions Linkerd can select: response statuses only (`retriable-4xx` is Envoy's name for 409).
# `reset` and `connect-failure` are not selectable; Linkerd retries refused streams and per-try
# timeouts of any retried route by itself.
_STATUS_CONDITIONS = {"5xx": "5xx", "gateway-error": "gateway-error", "retriable-4xx": "409"}
_PROXY_PROTOCOL = {"http": "HTTP/1", "http2": "HTTP/2", "grpc": "gRPC"}
_UNITS_MS = (("h", 3_600_000), ("m", 60_000), ("s", 1_000))


def duration(ms: int) -> str:
    """90000 → `90s`, 1500 → `1500ms`, 7200000 → `2h`: the largest unit that holds it whole, since
    Linkerd's annotation parser takes a single number and unit."""
    for unit, size in _UNITS_MS:
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


# ------------------------------------------------------------------------------ Service annotations


def service_annotations(ctx: PolicyContext) -> dict[str, str]:
    """The annotations the component's Services carry: timeout, retries, failure accrual."""
    traffic = ctx.policy.traffic
    out: dict[str, str] = {}
    if traffic.timeout_ms is not None:
        out[TIMEOUT] = duration(traffic.timeout_ms)
    if traffic.retries is not None:
        out |= _retry_annotations(traffic.retries)
    if traffic.outlier_detection is not None:
        out |= _accrual_annotations(traffic.outlier_detection)
    return out


def _retry_annotations(retries: r.Retries) -> dict[str, str]:
    if retries.attempts == 0:
        return {}  # Linkerd's default is no retries; a limit of "0" would read as the default 1
    out = {RETRY_LIMIT: str(retries.attempts)}
    statuses = [_STATUS_CONDITIONS.get(c, c) for c in retries.on if c in _STATUS_CONDITIONS or c.isdigit()]
    if statuses:
        out[RETRY_HTTP] = ",".join(dict.fromkeys(statuses))
    if retries.per_try_timeout_ms is not None:
        out[RETRY_TIMEOUT] = duration(retries.per_try_timeout_ms)
    return out


def _accrual_annotations(od: r.OutlierDetection) -> dict[str, str]:
    """Outlier detection as consecutive-failure accrual. The ejection time is the first penalty; a
    longer one than Linkerd's 1m maximum raises the maximum with it (else Linkerd drops the config).
    Linkerd has no detection interval and no maximum ejection percent."""
    out = {ACCRUAL: "consecutive"}
    if od.consecutive_5xx is not None:
        out[ACCRUAL_MAX_FAILURES] = str(od.consecutive_5xx)
    if od.base_ejection_time_ms is not None:
        out[ACCRUAL_MIN_PENALTY] = duration(od.base_ejection_time_ms)
        if od.base_ejection_time_ms > DEFAULT_MAX_PENALTY_MS:
            out[ACCRUAL_MAX_PENALTY] = duration(od.base_ejection_time_ms)
    return out


# ------------------------------------------------------------------------------------------ objects


def render(ctx: PolicyContext) -> list[dict[str, Any]]:
    """HTTPRoutes for a split, then per port its Server with what attaches to it, then the
    MeshTLSAuthentication naming the dependents."""
    out = [_http_route(ctx, port) for port in ctx.http_ports if ctx.versions]
    for port in _server_ports(ctx):
        out.append(_server(ctx, port))
        if ctx.policy.authorization == r.ALLOW_DEPENDENTS and ctx.dependents:
            out.append(_authorization_policy(ctx, port))
        if ctx.policy.traffic.rate_limit is not None and port in ctx.http_ports:
            out.append(_rate_limit(ctx, port, ctx.policy.traffic.rate_limit))
    if ctx.policy.authorization == r.ALLOW_DEPENDENTS and ctx.dependents:
        out.append(_mesh_tls_authentication(ctx))
    return out


def _per_port(ctx: PolicyContext, port: PolicyPort) -> str:
    return f"{ctx.component.service}-{port.name}"


def _server_ports(ctx: PolicyContext) -> tuple[PolicyPort, ...]:
    """Ports that need a Server: every port when only dependents may call, HTTP ports for a rate limit."""
    if ctx.policy.authorization == r.ALLOW_DEPENDENTS:
        return ctx.ports
    return ctx.http_ports if ctx.policy.traffic.rate_limit is not None else ()


def _http_route(ctx: PolicyContext, port: PolicyPort) -> dict[str, Any]:
    parent = {"group": "core", "kind": "Service", "name": ctx.component.service, "port": port.port}
    backends = [{"name": v.service, "port": port.port, "weight": v.weight} for v in ctx.versions]
    spec = {"parentRefs": [parent], "rules": [{"backendRefs": backends}]}
    return policy_object(ctx, GATEWAY_API, "HTTPRoute", _per_port(ctx, port), spec)


def _server(ctx: PolicyContext, port: PolicyPort) -> dict[str, Any]:
    # A Server turns away every client it does not authorize: without `dependents`, open it the way a
    # default Linkerd install leaves unserved ports (all-unauthenticated), so a rate limit adds no authz.
    access = "deny" if ctx.policy.authorization == r.ALLOW_DEPENDENTS else "all-unauthenticated"
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": dict(ctx.component.selector)},
        "port": port.port,
        "accessPolicy": access,
    }
    if port.protocol in _PROXY_PROTOCOL:
        spec["proxyProtocol"] = _PROXY_PROTOCOL[port.protocol]
    return policy_object(ctx, SERVER_API, "Server", _per_port(ctx, port), spec)


def _server_ref(ctx: PolicyContext, port: PolicyPort) -> dict[str, str]:
    return {"group": POLICY_GROUP, "kind": "Server", "name": _per_port(ctx, port)}


def _authorization_policy(ctx: PolicyContext, port: PolicyPort) -> dict[str, Any]:
    authn = {"group": POLICY_GROUP, "kind": "MeshTLSAuthentication", "name": ctx.component.service}
    spec = {"targetRef": _server_ref(ctx, port), "requiredAuthenticationRefs": [authn]}
    return policy_object(ctx, POLICY_API, "AuthorizationPolicy", _per_port(ctx, port), spec)


def _identity_ref(ctx: PolicyContext, peer: Peer) -> dict[str, str]:
    ref = {"kind": "ServiceAccount", "name": peer.service_account}
    if peer.namespace != ctx.component.namespace:
        ref["namespace"] = peer.namespace
    return ref


def _mesh_tls_authentication(ctx: PolicyContext) -> dict[str, Any]:
    refs = {(p.namespace, p.service_account): _identity_ref(ctx, p) for p in ctx.dependents}
    spec = {"identityRefs": [refs[k] for k in sorted(refs)]}
    return policy_object(ctx, POLICY_API, "MeshTLSAuthentication", ctx.component.service, spec)


def _rate_limit(ctx: PolicyContext, port: PolicyPort, limit: r.RateLimit) -> dict[str, Any]:
    # Linkerd's limit is a per-second rate with no separate burst size.
    spec = {"targetRef": _server_ref(ctx, port), "total": {"requestsPerSecond": limit.requests_per_second}}
    return policy_object(ctx, POLICY_API, "HTTPLocalRateLimitPolicy", _per_port(ctx, port), spec)


# ------------------------------------------------------------------------- values it cannot carry


def dropped(traffic: r.Traffic) -> Iterator[Dropped]:
    """What Linkerd cannot carry of a traffic block (ModeFacts.dropped): it would be left out."""
    retries = traffic.retries
    if retries is not None and retries.attempts:
        if retries.backoff is not None:
            yield Dropped(("retries", "backoff"), "Linkerd has no retry backoff")
        unselectable = ", ".join(c for c in retries.conditions if c not in _STATUS_CONDITIONS)
        if unselectable:
            itself = "it retries a refused stream or a per-try timeout of a retried request by itself"
            yield Dropped(("retries", "on"), f"Linkerd cannot select retries on {unselectable}: {itself}")
    od = traffic.outlier_detection
    accrual = "Linkerd's failure accrual has no"
    if od is not None and od.interval_ms is not None:
        yield Dropped(("outlierDetection", "interval"), f"{accrual} detection interval")
    if od is not None and od.max_ejection_percent is not None:
        yield Dropped(("outlierDetection", "maxEjectionPercent"), f"{accrual} ejection cap")
    if traffic.rate_limit is not None and traffic.rate_limit.burst is not None:
        yield Dropped(("rateLimit", "burst"), "Linkerd limits a rate, not a burst")
