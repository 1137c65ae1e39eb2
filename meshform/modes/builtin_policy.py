"""The builtin mesh's traffic policy, as fragments of its static Envoy config (Envoy v3, 1.40).

There are no policy objects: the calling proxy carries what a dependency's callers get, the provider's
proxy carries its own rate limit.

- Caller side, per dependency (`Edge.effective`): route `timeout`, `retry_policy`, the fault filter
  before the router, cluster `circuit_breakers` and `outlier_detection`, and `weighted_clusters` to the
  per-version Services when the dependency splits. A rate limit the edge itself declares becomes a
  token bucket on that outbound listener (this caller's share); the provider's own is on its inbound.
- Provider side, per HTTP inbound listener: `envoy.filters.http.local_ratelimit`.

Envoy defaults worth knowing (and why fields are always written): a route times out after 15s unless
told otherwise; the fault filter injects nothing when a `percentage` is left out; the local rate limit
does nothing until both `filter_enabled` and `filter_enforced` are set.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from meshform.modes import envoy
from meshform.modes.policy_objects import as_is, declared_fields, whole_cap
from meshform.policy.bucket import token_bucket
from meshform.policy.context import Edge, PolicyContext
from meshform.policy.durations import proto_style
from meshform.policy.records import (
    CircuitBreaker,
    FaultInjection,
    OutlierDetection,
    RateLimit,
    Retries,
    Traffic,
)

FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
LOCAL_RATE_LIMIT = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
# `retries` without `on`: what is safe to retry for any method (the request never reached the app, or
# it said 503), the conditions Istio retries on when nothing is said.
DEFAULT_RETRY_ON: tuple[str, ...] = ("connect-failure", "refused-stream", "503")
HTTP = ("http", "http2", "grpc")
# FractionalPercent denominators, finest last: a percent with n decimals needs 10**n more resolution.
_DENOMINATORS = (("HUNDRED", 1), ("TEN_THOUSAND", 100), ("MILLION", 10_000))
_ALL = {"numerator": 100, "denominator": "HUNDRED"}


def outbound(edge: Edge, stat: str, aliases: Mapping[str, str]) -> envoy.Policy:
    """The caller's hop to one dependency (`stat`: its listener's stat prefix). `aliases` maps a
    Service host to the address to dial."""
    traffic = edge.effective
    cluster = cluster_fields(traffic)
    if edge.port.protocol not in HTTP:  # a TCP hop: connection limits and ejection only
        return envoy.Policy(cluster=cluster)
    filters = []
    if traffic.fault_injection:
        filters.append(fault_filter(traffic.fault_injection))
    if edge.override.rate_limit:
        filters.append(rate_limit_filter(edge.override.rate_limit, stat))
    return envoy.Policy(
        route=route_fields(traffic),
        cluster=cluster,
        filters=tuple(filters),
        backends=backends(edge, aliases),
    )


def inbound(rate_limit: RateLimit | None, stat: str) -> envoy.Policy:
    """The provider's inbound hop on one HTTP port: its own rate limit, if it declares one."""
    if rate_limit is None:
        return envoy.Policy()
    return envoy.Policy(filters=(rate_limit_filter(rate_limit, stat),))


# -------------------------------------------------------------------------------------------- route


def route_fields(t: Traffic) -> dict[str, Any]:
    """RouteAction fields: the declared timeout (it covers every try) and the retry policy."""
    return declared_fields(("timeout", t.timeout_ms, proto_style), ("retry_policy", t.retries, retry_policy))


def retry_policy(r: Retries) -> dict[str, Any]:
    """`num_retries` always written: Envoy retries once when it is left out, and `attempts: 0` means
    none. Status codes in `on` become `retriable-status-codes` with their list."""
    on = r.on or DEFAULT_RETRY_ON
    conditions = list(dict.fromkeys(c for c in on if not c.isdigit()))
    codes = sorted({int(c) for c in on if c.isdigit()})
    if codes:
        conditions.append("retriable-status-codes")
    out: dict[str, Any] = {"retry_on": ",".join(conditions), "num_retries": r.attempts}
    if r.per_try_timeout_ms is not None:
        out["per_try_timeout"] = proto_style(r.per_try_timeout_ms)
    if codes:
        out["retriable_status_codes"] = codes
    if r.backoff is not None:
        back_off = {"base_interval": proto_style(r.backoff.base_interval_ms)}
        if r.backoff.max_interval_ms is not None:
            back_off["max_interval"] = proto_style(r.backoff.max_interval_ms)
        out["retry_back_off"] = back_off
    return out


def backends(edge: Edge, aliases: Mapping[str, str]) -> tuple[envoy.Backend, ...]:
    """One weighted cluster per version of a splitting dependency, each to its per-version Service
    (`<component>-<version>`, in the dependency's namespace and cluster domain)."""
    domain = edge.to.host.removeprefix(edge.to.service)  # ".<namespace>.svc.<cluster domain>"
    out = []
    for v in edge.versions:
        host = v.service + domain
        out.append(envoy.Backend(f"outbound|{v.service}|{edge.port.port}", aliases.get(host, host), v.weight))
    return tuple(out)


# ------------------------------------------------------------------------------------------ cluster


def cluster_fields(t: Traffic) -> dict[str, Any]:
    return declared_fields(
        ("circuit_breakers", t.circuit_breaker, circuit_breakers),
        ("outlier_detection", t.outlier_detection, outlier_detection),
    )


def circuit_breakers(cb: CircuitBreaker) -> dict[str, Any]:
    """DEFAULT-priority thresholds; what is not declared keeps Envoy's default (1024, retries 3).
    `track_remaining` publishes `circuit_breakers.default.remaining_*` gauges."""
    limits = {
        "max_connections": cb.max_connections,
        "max_pending_requests": cb.max_pending_requests,
        "max_requests": cb.max_requests,
        "max_retries": cb.max_retries,
    }
    threshold = {"priority": "DEFAULT", **{k: v for k, v in limits.items() if v is not None}}
    threshold["track_remaining"] = True
    return {"thresholds": [threshold]}


def outlier_detection(od: OutlierDetection) -> dict[str, Any]:
    return declared_fields(
        ("consecutive_5xx", od.consecutive_5xx, as_is),
        ("interval", od.interval_ms, proto_style),
        ("base_ejection_time", od.base_ejection_time_ms, proto_style),
        ("max_ejection_percent", od.max_ejection_percent, whole_cap),
    )


# ------------------------------------------------------------------------------------- HTTP filters


def fraction(percent: float) -> dict[str, Any]:
    """A percent (0 to 100, decimals) as Envoy's FractionalPercent, on the coarsest exact denominator:
    10 → 10/HUNDRED, 0.5 → 50/TEN_THOUSAND, 0.0125 → 125/MILLION. Finer than a millionth rounds to
    the nearest millionth (`rounded` reports it)."""
    exact = Decimal(repr(percent))
    for denominator, scale in _DENOMINATORS:
        scaled = exact * scale
        if scaled == scaled.to_integral_value():
            return {"numerator": int(scaled), "denominator": denominator}
    nearest = (exact * 10_000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return {"numerator": int(nearest), "denominator": "MILLION"}


def fault_filter(f: FaultInjection) -> dict[str, Any]:
    """`envoy.filters.http.fault` with each fault's percentage written (left out, nothing happens). A
    0s delay is no delay, which Envoy says by its absence (it refuses a fixed_delay of 0s)."""
    config: dict[str, Any] = {"@type": FAULT}
    if f.delay is not None and f.delay.fixed_delay_ms:
        config["delay"] = {
            "fixed_delay": proto_style(f.delay.fixed_delay_ms),
            "percentage": fraction(f.delay.percent),
        }
    if f.abort is not None:
        config["abort"] = {"http_status": f.abort.http_status, "percentage": fraction(f.abort.percent)}
    return {"name": "envoy.filters.http.fault", "typed_config": config}


def rate_limit_filter(rl: RateLimit, stat: str) -> dict[str, Any]:
    """A token bucket of `burst` (else one second's worth) refilled at `requestsPerSecond` in the
    smallest exact steps Envoy takes (meshform.policy.bucket: 100/s is 5 every 50ms, so a burst below
    the rate is kept); both enforcement fractions at 100%, since they default to 0% (the filter would
    only count). Stats: `<stat>.http_local_rate_limit.{enabled,enforced,ok,rate_limited}`."""
    bucket = token_bucket(rl)
    return {
        "name": "envoy.filters.http.local_ratelimit",
        "typed_config": {
            "@type": LOCAL_RATE_LIMIT,
            "stat_prefix": stat,
            "status": {"code": 429},
            "token_bucket": {
                "max_tokens": bucket.max_tokens,
                "tokens_per_fill": bucket.tokens_per_fill,
                "fill_interval": proto_style(bucket.fill_interval_ms),
            },
            "filter_enabled": {"default_value": dict(_ALL)},
            "filter_enforced": {"default_value": dict(_ALL)},
        },
    }


# ------------------------------------------------------------------------------------------ findings


def rounded(ctx: PolicyContext) -> Iterator[tuple[str, str]]:
    """(field, message) for each value on this component's hops that Envoy cannot carry exactly, and
    meshform rounds (the caller's hops: its `dependencies`)."""
    for edge in ctx.edges:
        for message in _inexact(edge.effective, f"for dependency {edge.to.component}"):
            yield "dependencies", message


def approximated(ctx: PolicyContext) -> Iterator[tuple[str, str]]:
    """(field, message) for what the component's inbound Envoy carries only approximately: a burst
    smaller than one refill step is raised to it (as in istio, MF930)."""
    limit = ctx.policy.traffic.rate_limit
    bucket = token_bucket(limit) if limit else None
    if bucket and bucket.burst_raised:
        yield "traffic", bucket.raised_note()


def _inexact(t: Traffic, where: str) -> Iterator[str]:
    od, fault = t.outlier_detection, t.fault_injection
    percent = od.max_ejection_percent if od else None
    if percent is not None and whole_cap(percent) != percent:
        yield (
            f"maxEjectionPercent {percent:g} {where} is rendered as {whole_cap(percent)}: "
            "Envoy takes whole percents"
        )
    for name, part in (("delay", fault and fault.delay), ("abort", fault and fault.abort)):
        if part and _finer_than_million(part.percent):
            yield (
                f"faultInjection.{name}.percent {part.percent!r} {where} is rendered as "
                f"{fraction(part.percent)['numerator']}/1000000: Envoy's finest fraction is a millionth"
            )


def _finer_than_million(percent: float) -> bool:
    scaled = Decimal(repr(percent)) * 10_000
    return scaled != scaled.to_integral_value()
