"""Consul's form of one component's traffic policy: `consul.hashicorp.com/v1alpha1` config entries
(consul-k8s 1.9), each named after the Consul service (the component's Service).

- ServiceDefaults: the service's `protocol` (L7 routing, splitting and timeouts need http, http2 or
  grpc; Consul's default is tcp), the limits and passive health checks this component's proxy applies
  to each dependency (`upstreamConfig.overrides`: circuit breaking is the *caller's* setting in
  Consul), and with `modeOptions.consul.enterprise` the fault-injection extension and rate limit.
- ServiceRouter: timeout and retries. Consul has no per-try timeout or backoff, and it retries only on
  the conditions it is given (`numRetries: 0` with no conditions means no retry policy at all).
- ServiceResolver subsets by `Service.Meta.version` + ServiceSplitter weights, for a version split;
  the pods carry the version as service metadata (consul_enrollment adds the annotation).
- ServiceIntentions: allow each dependent and deny `*`. Whether Consul denies unlisted callers by
  itself depends on the ACL default policy; the explicit `*` deny makes "only dependents" hold either
  way (an exact source name takes precedence over the wildcard).

Facts: consul-k8s v1.9.11 CRDs; consul agent/xds/routes.go (getRetryPolicyForDestination).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshform.modes.base import Dropped, Finding
from meshform.modes.policy_objects import (
    ROUNDED,
    as_is,
    declared_fields,
    percent_text,
    policy_object,
    whole_cap,
    whole_share,
)
from meshform.policy import records as r
from meshform.policy.context import Edge, PolicyContext, VersionTarget
from meshform.policy.durations import go_style

API = "consul.hashicorp.com/v1alpha1"
META_VERSION = "consul.hashicorp.com/service-meta-version"
KUBERNETES_SERVICE = "consul.hashicorp.com/kubernetes-service"
_PROTOCOL = {"http": "http", "http2": "http2", "grpc": "grpc", "tcp": "tcp"}
_L7 = ("http", "http2", "grpc")


def protocol(ctx: PolicyContext) -> str:
    """The Consul service's protocol: that of the port Consul registers (the first one)."""
    return _PROTOCOL.get(ctx.ports[0].protocol, "tcp") if ctx.ports else "tcp"


# ------------------------------------------------------------------------------------ enrollment


def pod_annotations(ctx: PolicyContext, pod_labels: dict[str, str]) -> dict[str, str]:
    """For a split: the pod's version as Consul service metadata (the resolver's subsets filter on it),
    and the one Kubernetes Service Consul registers the pod under (the per-version Services select it
    too, and each would otherwise become a Consul service of its own)."""
    version = next((v for v in ctx.versions if _selects(v, pod_labels)), None)
    if version is None:
        return {}
    return {META_VERSION: version.name, KUBERNETES_SERVICE: ctx.component.service}


def _selects(version: VersionTarget, pod_labels: dict[str, str]) -> bool:
    return all(pod_labels.get(k) == v for k, v in version.labels.items())


# ------------------------------------------------------------------------------------ objects


def render(ctx: PolicyContext) -> list[dict[str, Any]]:
    """ServiceDefaults first (the protocol the others need), then router, resolver, splitter and
    intentions, each only when the policy asks for it."""
    l7 = protocol(ctx) in _L7
    out = []
    if l7 and _router_destination(ctx.policy.traffic):
        out.append(_router(ctx))
    if l7 and ctx.versions:
        out += [_resolver(ctx), _splitter(ctx)]
    if ctx.policy.authorization == r.ALLOW_DEPENDENTS:
        out.append(_intentions(ctx))
    defaults = _defaults_spec(ctx, l7)
    if out or len(defaults) > 1:
        out.insert(0, policy_object(ctx, API, "ServiceDefaults", ctx.component.service, defaults))
    return out


def _defaults_spec(ctx: PolicyContext, l7: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"protocol": protocol(ctx)}
    overrides = [o for o in (_upstream(e) for e in ctx.edges) if len(o) > 1]
    if overrides:
        spec["upstreamConfig"] = {"overrides": sorted(overrides, key=lambda o: str(o["name"]))}
    traffic = ctx.policy.traffic
    if l7 and traffic.fault_injection is not None:
        spec["envoyExtensions"] = [_fault_extension(traffic.fault_injection)]
    if l7 and traffic.rate_limit is not None:
        level = {"requestsPerSecond": traffic.rate_limit.requests_per_second}
        if traffic.rate_limit.burst is not None:
            level["requestsMaxBurst"] = traffic.rate_limit.burst
        spec["rateLimits"] = {"instanceLevel": level}
    return spec


def _upstream(edge: Edge) -> dict[str, Any]:
    """This component's proxy's limits and passive health check towards one dependency (Consul has no
    limit on concurrent retries)."""
    out: dict[str, Any] = {"name": edge.to.service}
    cb, od = edge.effective.circuit_breaker, edge.effective.outlier_detection
    if cb is not None:
        limits = {
            "maxConnections": cb.max_connections,
            "maxPendingRequests": cb.max_pending_requests,
            "maxConcurrentRequests": cb.max_requests,
        }
        limits = {k: v for k, v in limits.items() if v is not None}
        if limits:
            out["limits"] = limits
    if od is not None:
        out["passiveHealthCheck"] = _passive_health_check(od)
    return out


def _passive_health_check(od: r.OutlierDetection) -> dict[str, Any]:
    return declared_fields(
        ("interval", od.interval_ms, go_style),
        ("maxFailures", od.consecutive_5xx, as_is),
        ("baseEjectionTime", od.base_ejection_time_ms, go_style),
        ("maxEjectionPercent", od.max_ejection_percent, whole_cap),
    )


def _fault_extension(fault: r.FaultInjection) -> dict[str, Any]:
    """Consul Enterprise's `builtin/fault-injection`: the delay in milliseconds, whole percentages."""
    config: dict[str, Any] = {}
    if fault.delay is not None:
        config["delay"] = {
            "duration": fault.delay.fixed_delay_ms,
            "percentage": whole_share(fault.delay.percent),
        }
    if fault.abort is not None:
        config["abort"] = {
            "httpStatus": fault.abort.http_status,
            "percentage": whole_share(fault.abort.percent),
        }
    return {"name": "builtin/fault-injection", "arguments": {"config": config}}


def _router_destination(traffic: r.Traffic) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if traffic.timeout_ms:  # 0s is unset to Consul (see dropped): left out
        out["requestTimeout"] = go_style(traffic.timeout_ms)
    if traffic.retries is not None:
        out |= _retry_fields(traffic.retries)
    return out


def _retry_fields(retries: r.Retries) -> dict[str, Any]:
    """`numRetries: 0` and no conditions: Consul builds no retry policy, so nothing is retried. With
    attempts but no `on`, Consul would retry nothing either; meshform then retries connect failures,
    the one condition safe for any request (it never reached the application)."""
    out: dict[str, Any] = {"numRetries": retries.attempts}
    if retries.attempts == 0:
        return out
    conditions = [c for c in retries.conditions if c != "connect-failure"]
    if conditions:
        out["retryOn"] = conditions
    if retries.status_codes:
        out["retryOnStatusCodes"] = list(retries.status_codes)
    if "connect-failure" in retries.conditions or not retries.on:
        out["retryOnConnectFailure"] = True
    return out


def _router(ctx: PolicyContext) -> dict[str, Any]:
    route = {"match": {"http": {"pathPrefix": "/"}}, "destination": _router_destination(ctx.policy.traffic)}
    return policy_object(ctx, API, "ServiceRouter", ctx.component.service, {"routes": [route]})


def _resolver(ctx: PolicyContext) -> dict[str, Any]:
    subsets = {v.name: {"filter": f'Service.Meta.version == "{v.name}"'} for v in ctx.versions}
    return policy_object(ctx, API, "ServiceResolver", ctx.component.service, {"subsets": subsets})


def _splitter(ctx: PolicyContext) -> dict[str, Any]:
    splits = [{"weight": v.weight, "serviceSubset": v.name} for v in ctx.versions]
    return policy_object(ctx, API, "ServiceSplitter", ctx.component.service, {"splits": splits})


def _intentions(ctx: PolicyContext) -> dict[str, Any]:
    names = sorted({p.service for p in ctx.dependents})
    sources = [{"name": n, "action": "allow"} for n in names] + [{"name": "*", "action": "deny"}]
    spec = {"destination": {"name": ctx.component.service}, "sources": sources}
    return policy_object(ctx, API, "ServiceIntentions", ctx.component.service, spec)


# ------------------------------------------------------------------------------- approximations


def other_ports(ctx: PolicyContext) -> Iterator[Finding]:
    """MF927: Consul (Community Edition) registers the pod as one service on its first port, whose
    protocol ServiceDefaults gives the whole service; a TCP or UDP port after an HTTP first one is not
    a port of that service, so nothing of the policy (nor Consul's mTLS) covers it."""
    if protocol(ctx) not in _L7:
        return
    first = ctx.ports[0]
    for port in ctx.ports[1:]:
        if port.protocol not in _L7:
            yield Finding(
                "MF927",
                "warning",
                f"Consul registers {ctx.component.service!r} on its first port only ({first.name}, "
                f"{first.port}): protocol {protocol(ctx)} is that service's, and port {port.name} "
                f"({port.port}, {port.protocol}) is not one of its ports",
                "ports",
            )


def approximations(ctx: PolicyContext) -> Iterator[tuple[str, str]]:
    """(code, message) for what Consul rounds (MF920) or cannot say (MF930) of this component's policy."""
    fault = ctx.policy.traffic.fault_injection if protocol(ctx) in _L7 else None
    for name, share in (
        ("delay", fault.delay.percent if fault and fault.delay else None),
        ("abort", fault.abort.percent if fault and fault.abort else None),
    ):
        if share is not None and share != whole_share(share):
            whole = f"{percent_text(share)}% becomes {whole_share(share)}%"
            yield ROUNDED, f"Consul takes whole percents: faultInjection.{name} {whole}"
    for edge in ctx.edges:
        yield from _upstream_approximations(edge)


def dropped(t: r.Traffic) -> Iterator[Dropped]:
    """What Consul cannot carry of a traffic block (ModeFacts.dropped): it would be left out."""
    if t.timeout_ms == 0:
        # agent/xds/routes.go sets the route timeout only when requestTimeout > 0: 0s leaves Envoy's
        # 15s default, the opposite of "no timeout" that 0s means to Envoy, Istio, Kuma and Linkerd
        # (only the experimental v2 proxystate path reads a negative requestTimeout as "off").
        yield Dropped(("timeout",), "Consul reads requestTimeout 0s as unset, so Envoy's 15s default applies")
    retries = t.retries
    if retries is not None and retries.attempts:
        if retries.per_try_timeout_ms is not None:
            yield Dropped(("retries", "perTryTimeout"), "Consul has no per-try timeout")
        if retries.backoff is not None:
            yield Dropped(("retries", "backoff"), "Consul has no retry backoff (Envoy's 25ms base applies)")
    if t.circuit_breaker is not None and t.circuit_breaker.max_retries is not None:
        yield Dropped(("circuitBreaker", "maxRetries"), "Consul has no limit on concurrent retries")


def _upstream_approximations(edge: Edge) -> Iterator[tuple[str, str]]:
    od = edge.effective.outlier_detection
    towards = f"towards {edge.to.component}"
    cap = od.max_ejection_percent if od else None
    if cap is not None and cap != whole_cap(cap):
        whole = f"{percent_text(cap)} {towards} becomes {whole_cap(cap)}"
        yield ROUNDED, f"Consul takes a whole maxEjectionPercent: {whole}"
