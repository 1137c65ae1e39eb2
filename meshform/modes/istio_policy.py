"""Istio's objects for one component's traffic policy (istio.io/api v1.32.0).

- DestinationRule (networking.istio.io/v1): connection pool from `circuitBreaker`, outlier detection,
  one subset per weighted version (labels {version: v}).
- VirtualService (networking.istio.io/v1) for the component's host: timeout, retries, fault and the
  weighted routes to the subsets. Istio applies one VirtualService per host to sidecars (several are
  not merged outside gateways), so a caller's override (`dependencies[].traffic`) is not an object of
  the caller's but a route in the provider's VirtualService, matched by the caller's pod labels,
  namespace and port and placed before the default route. Connection pool, outlier detection and rate
  limit are per destination in Istio and cannot differ by caller (ModeFacts.edge_features).
- PeerAuthentication STRICT + AuthorizationPolicy ALLOW (security.istio.io/v1) for `authorization:
  {allow: dependents}`: the dependents' SPIFFE principals `<trustDomain>/ns/<ns>/sa/<sa>`, the trust
  domain from `modeOptions.<mode>.trustDomain`, default `cluster.local` (Istio's default; a mesh
  installed with another one refuses every caller until it is set).
- EnvoyFilter (networking.istio.io/v1alpha3) for `rateLimit`: Envoy's local rate limit inserted
  before the router of the sidecar's inbound HTTP chain, both enforcement fractions at 100% (as in
  Istio's rate-limit task; Envoy's default of 0% would do nothing).

Only what is declared is rendered: Istio's own defaults (its 2 implicit retries among them) stay in
force for what the model leaves out, and `retries: {attempts: 0}` is written out, because saying
nothing means Istio's 2 retries. Durations are protobuf style (`0.500s`); a zero duration means "off"
and is left out (the CRDs refuse anything under 1ms).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from meshform.policy import records as r
from meshform.policy.bucket import token_bucket
from meshform.policy.context import CallerEdge, PolicyContext
from meshform.policy.durations import go_style, proto_style

NETWORKING = "networking.istio.io/v1"
SECURITY = "security.istio.io/v1"
ENVOY_FILTER = "networking.istio.io/v1alpha3"
LOCAL_RATE_LIMIT = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
DEFAULT_TRUST_DOMAIN = "cluster.local"
# Envoy multiplies the base by 10 for the cap; Istio's `backoff` sets only the base.
ENVOY_BACKOFF_CAP = 10


def obj(api: str, kind: str, ctx: PolicyContext, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One object in the component's namespace with meshform's labels."""
    labels = {
        "app.kubernetes.io/part-of": ctx.app,
        "app.kubernetes.io/managed-by": "meshform",
        "app.kubernetes.io/name": ctx.component.component,
    }
    meta = {"name": name, "namespace": ctx.component.namespace, "labels": labels}
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}


def _duration(ms: int | None) -> str | None:
    """Protobuf duration, or None for unset and for zero (off: Istio's CRDs need at least 1ms)."""
    return proto_style(ms) if ms else None


def _percent(value: float) -> int | float:
    return int(value) if value == int(value) else value


def _clean(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None and v != {}}


# ---------------------------------------------------------------------------------- DestinationRule


def _connection_pool(cb: r.CircuitBreaker | None) -> dict[str, Any] | None:
    if cb is None:
        return None
    tcp = _clean({"maxConnections": cb.max_connections})
    http = _clean(
        {
            "http1MaxPendingRequests": cb.max_pending_requests,
            "http2MaxRequests": cb.max_requests,
            "maxRetries": cb.max_retries,
        }
    )
    return _clean({"tcp": tcp, "http": http}) or None


def _outlier_detection(od: r.OutlierDetection | None) -> dict[str, Any] | None:
    if od is None:
        return None
    percent = od.max_ejection_percent
    out = _clean(
        {
            "consecutive5xxErrors": od.consecutive_5xx,
            "interval": _duration(od.interval_ms),
            "baseEjectionTime": _duration(od.base_ejection_time_ms),
            "maxEjectionPercent": None if percent is None else math.floor(percent),  # an int32 in Istio
        }
    )
    return out or None


def destination_rule(ctx: PolicyContext) -> dict[str, Any] | None:
    """Connection pool and outlier detection for every caller, and a subset per weighted version."""
    traffic = ctx.policy.traffic
    policy = _clean(
        {
            "connectionPool": _connection_pool(traffic.circuit_breaker),
            "outlierDetection": _outlier_detection(traffic.outlier_detection),
        }
    )
    subsets = [{"name": v.name, "labels": dict(v.labels)} for v in ctx.versions]
    if not policy and not subsets:
        return None
    spec: dict[str, Any] = {"host": ctx.component.host}
    if policy:
        spec["trafficPolicy"] = policy
    if subsets:
        spec["subsets"] = subsets
    return obj(NETWORKING, "DestinationRule", ctx, ctx.component.service, spec)


# ----------------------------------------------------------------------------------- VirtualService


def _retries(retries: r.Retries) -> dict[str, Any]:
    if retries.attempts == 0:  # Istio reads nothing else once attempts is 0
        return {"attempts": 0}
    backoff = retries.backoff
    return _clean(
        {
            "attempts": retries.attempts,
            "perTryTimeout": _duration(retries.per_try_timeout_ms),
            "retryOn": ",".join(retries.on) or None,  # Envoy conditions and bare status codes
            "backoff": _duration(backoff.base_interval_ms) if backoff else None,
        }
    )


def _fault(fault: r.FaultInjection | None) -> dict[str, Any] | None:
    if fault is None:
        return None
    delay = fault.delay
    abort = fault.abort
    out = _clean(
        {
            "delay": None
            if delay is None or not delay.fixed_delay_ms
            else {
                "fixedDelay": proto_style(delay.fixed_delay_ms),
                "percentage": {"value": _percent(delay.percent)},
            },
            "abort": None
            if abort is None
            else {"httpStatus": abort.http_status, "percentage": {"value": _percent(abort.percent)}},
        }
    )
    return out or None


def _route_fields(traffic: r.Traffic) -> dict[str, Any]:
    """What an Istio HTTP route carries of a traffic block (the rest is per destination)."""
    return _clean(
        {
            "timeout": _duration(traffic.timeout_ms),
            "retries": None if traffic.retries is None else _retries(traffic.retries),
            "fault": _fault(traffic.fault_injection),
        }
    )


def _destinations(ctx: PolicyContext) -> list[dict[str, Any]]:
    host = ctx.component.host
    if not ctx.versions:
        return [{"destination": {"host": host}}]
    return [{"destination": {"host": host, "subset": v.name}, "weight": v.weight} for v in ctx.versions]


def _caller_route(ctx: PolicyContext, edge: CallerEdge) -> dict[str, Any]:
    """The route only this caller's requests to this port match, with its effective traffic."""
    match = {
        "sourceLabels": dict(sorted(edge.caller.selector.items())),
        "sourceNamespace": edge.caller.namespace,
        "port": edge.port.port,
    }
    return {"match": [match], "route": _destinations(ctx), **_route_fields(edge.effective)}


def virtual_service(ctx: PolicyContext) -> dict[str, Any] | None:
    """The host's routes: callers' own routes first (most specific), then everyone else's."""
    default = _route_fields(ctx.policy.traffic)
    callers = sorted(ctx.callers, key=lambda e: (e.caller.component, e.port.port))
    if not default and not ctx.versions and not callers:
        return None
    http = [_caller_route(ctx, e) for e in callers]
    http.append({"route": _destinations(ctx), **default})
    spec = {"hosts": [ctx.component.host], "http": http}
    return obj(NETWORKING, "VirtualService", ctx, ctx.component.service, spec)


# ---------------------------------------------------------------------------------------- security


def principal(ctx: PolicyContext, namespace: str, service_account: str) -> str:
    """A workload's SPIFFE identity as AuthorizationPolicy `principals` spell it (no spiffe://)."""
    return f"{trust_domain(ctx)}/ns/{namespace}/sa/{service_account}"


def trust_domain(ctx: PolicyContext) -> str:
    return str(ctx.options.get("trustDomain") or DEFAULT_TRUST_DOMAIN)


def selector(ctx: PolicyContext) -> dict[str, str]:
    return dict(sorted(ctx.component.selector.items()))


def peer_authentication(ctx: PolicyContext) -> dict[str, Any]:
    spec = {"selector": {"matchLabels": selector(ctx)}, "mtls": {"mode": "STRICT"}}
    return obj(SECURITY, "PeerAuthentication", ctx, ctx.component.service, spec)


def allow_from(principals: list[str]) -> dict[str, Any]:
    """ALLOW these principals; with none, an ALLOW policy without rules, which admits nobody."""
    spec: dict[str, Any] = {"action": "ALLOW"}
    if principals:
        spec["rules"] = [{"from": [{"source": {"principals": principals}}]}]
    return spec


def dependents_principals(ctx: PolicyContext) -> list[str]:
    return sorted({principal(ctx, p.namespace, p.service_account) for p in ctx.dependents})


def authorization_policy(ctx: PolicyContext) -> dict[str, Any]:
    spec = {"selector": {"matchLabels": selector(ctx)}, **allow_from(dependents_principals(ctx))}
    return obj(SECURITY, "AuthorizationPolicy", ctx, ctx.component.service, spec)


# ----------------------------------------------------------------------------------- rate limiting


def _fraction_100(runtime_key: str) -> dict[str, Any]:
    return {"runtime_key": runtime_key, "default_value": {"numerator": 100, "denominator": "HUNDRED"}}


def envoy_filter(ctx: PolicyContext) -> dict[str, Any] | None:
    """Envoy's local rate limit in the sidecar's inbound HTTP chain, just before the router."""
    limit = ctx.policy.traffic.rate_limit
    if limit is None:
        return None
    bucket = token_bucket(limit)
    config = {
        "stat_prefix": "http_local_rate_limiter",
        "token_bucket": {
            "max_tokens": bucket.max_tokens,
            "tokens_per_fill": bucket.tokens_per_fill,
            "fill_interval": proto_style(bucket.fill_interval_ms),
        },
        "filter_enabled": _fraction_100("local_rate_limit_enabled"),
        "filter_enforced": _fraction_100("local_rate_limit_enforced"),
    }
    hcm = {
        "name": "envoy.filters.network.http_connection_manager",
        "subFilter": {"name": "envoy.filters.http.router"},
    }
    patch = {
        "applyTo": "HTTP_FILTER",
        "match": {"context": "SIDECAR_INBOUND", "listener": {"filterChain": {"filter": hcm}}},
        "patch": {
            "operation": "INSERT_BEFORE",
            "value": {
                "name": "envoy.filters.http.local_ratelimit",
                "typed_config": {
                    "@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
                    "type_url": LOCAL_RATE_LIMIT,
                    "value": config,
                },
            },
        },
    }
    spec = {"workloadSelector": {"labels": selector(ctx)}, "configPatches": [patch]}
    return obj(ENVOY_FILTER, "EnvoyFilter", ctx, ctx.component.service, spec)


# ------------------------------------------------------------------------------------------ render


def traffic_objects(ctx: PolicyContext) -> list[dict[str, Any]]:
    """DestinationRule and VirtualService, where the policy needs them (istio and istio-ambient)."""
    return [o for o in (destination_rule(ctx), virtual_service(ctx)) if o is not None]


def render(ctx: PolicyContext) -> list[dict[str, Any]]:
    """Every Istio sidecar object for this component, in a stable order."""
    out = traffic_objects(ctx)
    if ctx.policy.authorization == r.ALLOW_DEPENDENTS:
        out += [peer_authentication(ctx), authorization_policy(ctx)]
    limiter = envoy_filter(ctx)
    if limiter is not None:
        out.append(limiter)
    return out


# MF920 where a value is rounded (as the builtin mode reports it), MF930 where Istio cannot say it.
ROUNDED, APPROXIMATED = "MF920", "MF930"


def _route_approximations(traffic: r.Traffic, where: str) -> Iterator[tuple[str, str]]:
    retries = traffic.retries
    backoff = retries.backoff if retries and retries.attempts else None
    if backoff is None:
        return
    cap = backoff.base_interval_ms * ENVOY_BACKOFF_CAP
    if backoff.max_interval_ms is not None and backoff.max_interval_ms != cap:
        yield (
            APPROXIMATED,
            f"Istio sets only the backoff's base interval{where}: maxInterval "
            f"{go_style(backoff.max_interval_ms)} becomes Envoy's 10 x base, {go_style(cap)}",
        )


def _destination_approximations(traffic: r.Traffic) -> Iterator[tuple[str, str]]:
    od = traffic.outlier_detection
    if od and od.max_ejection_percent is not None and od.max_ejection_percent != int(od.max_ejection_percent):
        yield (
            ROUNDED,
            f"Istio takes a whole maxEjectionPercent: {_percent(od.max_ejection_percent)} "
            f"becomes {math.floor(od.max_ejection_percent)}",
        )
    limit = traffic.rate_limit
    bucket = token_bucket(limit) if limit else None
    if bucket and bucket.burst_raised:
        yield APPROXIMATED, bucket.raised_note()


def approximations(ctx: PolicyContext) -> Iterator[tuple[str, str]]:
    """(code, message) for what Istio carries only approximately of what this component renders."""
    yield from _route_approximations(ctx.policy.traffic, "")
    for edge in sorted(ctx.callers, key=lambda e: (e.caller.component, e.port.port)):
        yield from _route_approximations(edge.effective, f" on {edge.caller.component}'s route")
    yield from _destination_approximations(ctx.policy.traffic)
