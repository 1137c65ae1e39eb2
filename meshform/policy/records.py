"""Traffic policy, mesh-neutral: the frozen records every mode renders from.

The same records come from two places: the application model (`spec.components[].traffic`,
`.authorization`, `.versions[].weight`, `.dependencies[].traffic`) and meshform's status record on a
governed workload (so `transform --mode B` renders the policy a rendered `A` carried). `to_json` and
`from_json` use the model's field names, so the two are one vocabulary.

Units: durations in whole milliseconds, percentages as floats from 0 to 100, counts as ints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from meshform.policy.durations import go_style, parse_ms

RETRY_CONDITIONS = ("5xx", "gateway-error", "reset", "connect-failure", "retriable-4xx")
ALLOW_DEPENDENTS, ALLOW_ALL = "dependents", "all"

# The policy features, as `meshform modes --capabilities` and the diagnostics name them.
TIMEOUT = "timeout"
RETRIES = "retries"
CIRCUIT_BREAKER = "circuitBreaker"
OUTLIER_DETECTION = "outlierDetection"
FAULT_DELAY = "faultInjection.delay"
FAULT_ABORT = "faultInjection.abort"
RATE_LIMIT = "rateLimit"
SPLIT = "split"
AUTHORIZATION = "authorization"
EDGE_OVERRIDES = "dependencies[].traffic"
FEATURES = (
    TIMEOUT,
    RETRIES,
    CIRCUIT_BREAKER,
    OUTLIER_DETECTION,
    FAULT_DELAY,
    FAULT_ABORT,
    RATE_LIMIT,
    SPLIT,
    AUTHORIZATION,
    EDGE_OVERRIDES,
)
# Features that need the proxy to read HTTP: an error on a component whose ports are all TCP.
L7_FEATURES = frozenset({TIMEOUT, RETRIES, FAULT_DELAY, FAULT_ABORT, RATE_LIMIT, SPLIT})
HTTP_PROTOCOLS = frozenset({"http", "http2", "grpc"})  # port protocols a proxy reads HTTP on
# Circuit-breaker limits that count HTTP requests (Envoy's max_requests, max_retries; Istio's
# http2MaxRequests, http.maxRetries): meaningless on a TCP connection, so an error there too. The
# connection limits (maxConnections, and maxPendingRequests, which Envoy's TCP pool queues) hold at L4.
L7_CIRCUIT_BREAKER_FIELDS = ("maxRequests", "maxRetries")


def tcp_only(protocols: Iterable[str]) -> bool:
    """No port speaks HTTP: only policy a proxy applies to TCP connections can hold there."""
    return not any(p in HTTP_PROTOCOLS for p in protocols)


@dataclass(frozen=True)
class Backoff:
    base_interval_ms: int
    max_interval_ms: int | None = None


@dataclass(frozen=True)
class Retries:
    """`attempts` retries after the first try (0 = none, which must be said explicitly to Istio,
    whose default is 2). `on` holds conditions from RETRY_CONDITIONS and status codes as strings."""

    attempts: int
    per_try_timeout_ms: int | None = None
    on: tuple[str, ...] = ()
    backoff: Backoff | None = None

    @property
    def status_codes(self) -> tuple[int, ...]:
        return tuple(int(c) for c in self.on if c.isdigit())

    @property
    def conditions(self) -> tuple[str, ...]:
        return tuple(c for c in self.on if not c.isdigit())


@dataclass(frozen=True)
class CircuitBreaker:
    max_connections: int | None = None
    max_pending_requests: int | None = None
    max_requests: int | None = None
    max_retries: int | None = None


@dataclass(frozen=True)
class OutlierDetection:
    consecutive_5xx: int | None = None
    interval_ms: int | None = None
    base_ejection_time_ms: int | None = None
    max_ejection_percent: float | None = None


@dataclass(frozen=True)
class Delay:
    fixed_delay_ms: int
    percent: float


@dataclass(frozen=True)
class Abort:
    http_status: int
    percent: float


@dataclass(frozen=True)
class FaultInjection:
    delay: Delay | None = None
    abort: Abort | None = None


@dataclass(frozen=True)
class RateLimit:
    """A local (per-proxy) token bucket: `requests_per_second` refill, `burst` bucket size."""

    requests_per_second: int
    burst: int | None = None


@dataclass(frozen=True)
class Traffic:
    """What callers of a component get (provider side), or one caller's override of it (an edge)."""

    timeout_ms: int | None = None
    retries: Retries | None = None
    circuit_breaker: CircuitBreaker | None = None
    outlier_detection: OutlierDetection | None = None
    fault_injection: FaultInjection | None = None
    rate_limit: RateLimit | None = None

    def features(self) -> tuple[str, ...]:
        """The FEATURES this traffic block uses, in FEATURES order."""
        used = {
            TIMEOUT: self.timeout_ms is not None,
            RETRIES: self.retries is not None,
            CIRCUIT_BREAKER: self.circuit_breaker is not None,
            OUTLIER_DETECTION: self.outlier_detection is not None,
            FAULT_DELAY: bool(self.fault_injection and self.fault_injection.delay),
            FAULT_ABORT: bool(self.fault_injection and self.fault_injection.abort),
            RATE_LIMIT: self.rate_limit is not None,
        }
        return tuple(f for f in FEATURES if used.get(f))

    def is_empty(self) -> bool:
        return not self.features()

    def overridden_by(self, edge: Traffic) -> Traffic:
        """This provider traffic with an edge's fields laid over it, field by field (an edge that says
        only `retries: {attempts: 0}` keeps the provider's timeout and its retry conditions)."""
        merged: Traffic = _overlay(self, edge)
        return merged

    def without(self, feature: str) -> Traffic:
        """The same traffic less one feature (best-effort enforcement drops what a mode cannot do)."""
        if feature in (FAULT_DELAY, FAULT_ABORT) and self.fault_injection:
            fault = replace(self.fault_injection, **{feature.split(".")[1]: None})
            return replace(self, fault_injection=None if fault == FaultInjection() else fault)
        name = {
            TIMEOUT: "timeout_ms",
            RETRIES: "retries",
            CIRCUIT_BREAKER: "circuit_breaker",
            OUTLIER_DETECTION: "outlier_detection",
            RATE_LIMIT: "rate_limit",
        }.get(feature)
        return replace(self, **{name: None}) if name else self


def _overlay(base: Any, top: Any) -> Any:
    if top is None:
        return base
    if base is None or not hasattr(base, "__dataclass_fields__"):
        return top
    changes = {f.name: _overlay(getattr(base, f.name), getattr(top, f.name)) for f in fields(top)}
    if isinstance(top, Retries):  # tuples are values, not records: `on` given on the edge wins whole
        changes["on"] = top.on or base.on
    return replace(base, **changes)


@dataclass(frozen=True)
class VersionWeight:
    name: str
    weight: int


@dataclass(frozen=True)
class ComponentPolicy:
    """One component's declared policy: provider traffic, authorization, version weights, and the
    traffic it overrides per dependency (keyed by the dependency's component name)."""

    traffic: Traffic = field(default_factory=Traffic)
    authorization: str | None = None  # ALLOW_DEPENDENTS | ALLOW_ALL | None (not declared)
    weights: tuple[VersionWeight, ...] = ()
    edges: Mapping[str, Traffic] = field(default_factory=lambda: MappingProxyType({}))

    def features(self) -> tuple[str, ...]:
        used = set(self.traffic.features())
        if self.authorization == ALLOW_DEPENDENTS:
            used.add(AUTHORIZATION)
        if self.weights:
            used.add(SPLIT)
        if any(not t.is_empty() for t in self.edges.values()):
            used.add(EDGE_OVERRIDES)
        return tuple(f for f in FEATURES if f in used)

    def is_empty(self) -> bool:
        return not self.features()


# ------------------------------------------------------------------------------------ JSON <-> records


def _duration(raw: Mapping[str, Any], key: str) -> int | None:
    return parse_ms(raw[key]) if key in raw else None


def traffic_from_json(raw: Mapping[str, Any] | None) -> Traffic:
    """Schema-valid `traffic:` data → Traffic (durations parsed; the schema checked their syntax)."""
    raw = raw or {}
    retries = raw.get("retries")
    cb = raw.get("circuitBreaker")
    od = raw.get("outlierDetection")
    fault = raw.get("faultInjection")
    rl = raw.get("rateLimit")
    return Traffic(
        timeout_ms=_duration(raw, "timeout"),
        retries=None if retries is None else _retries(retries),
        circuit_breaker=None if cb is None else _circuit_breaker(cb),
        outlier_detection=None if od is None else OutlierDetection(
            od.get("consecutive5xx"),
            _duration(od, "interval"),
            _duration(od, "baseEjectionTime"),
            _percent(od.get("maxEjectionPercent")),
        ),
        fault_injection=None if fault is None else _fault(fault),
        rate_limit=None if rl is None else RateLimit(rl["requestsPerSecond"], rl.get("burst")),
    )  # fmt: skip


def _circuit_breaker(cb: Mapping[str, Any]) -> CircuitBreaker:
    keys = ("maxConnections", "maxPendingRequests", "maxRequests", "maxRetries")
    return CircuitBreaker(*(cb.get(k) for k in keys))


def _percent(value: Any) -> float | None:
    return None if value is None else float(value)


def _retries(raw: Mapping[str, Any]) -> Retries:
    backoff = raw.get("backoff")
    return Retries(
        attempts=raw["attempts"],
        per_try_timeout_ms=_duration(raw, "perTryTimeout"),
        on=tuple(str(c) for c in raw.get("on", ())),
        backoff=None
        if backoff is None
        else Backoff(parse_ms(backoff["baseInterval"]), _duration(backoff, "maxInterval")),
    )


def _fault(raw: Mapping[str, Any]) -> FaultInjection:
    delay, abort = raw.get("delay"), raw.get("abort")
    return FaultInjection(
        delay=None if delay is None else Delay(parse_ms(delay["fixedDelay"]), float(delay["percent"])),
        abort=None if abort is None else Abort(abort["httpStatus"], float(abort["percent"])),
    )


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _ms(value: int | None) -> str | None:
    return None if value is None else go_style(value)


def _number(value: float | None) -> int | float | None:
    return None if value is None else (int(value) if value == int(value) else value)


def traffic_to_json(t: Traffic) -> dict[str, Any]:
    """Traffic → the model's `traffic:` shape, canonical (durations in Go style, no empty keys)."""
    out: dict[str, Any] = {"timeout": _ms(t.timeout_ms)}
    if t.retries:
        r = t.retries
        backoff = r.backoff and _clean(
            {"baseInterval": _ms(r.backoff.base_interval_ms), "maxInterval": _ms(r.backoff.max_interval_ms)}
        )
        out["retries"] = _clean(
            {
                "attempts": r.attempts,
                "perTryTimeout": _ms(r.per_try_timeout_ms),
                "on": [int(c) if c.isdigit() else c for c in r.on] or None,
                "backoff": backoff or None,
            }
        )
    if t.circuit_breaker:
        cb = t.circuit_breaker
        out["circuitBreaker"] = _clean(
            {
                "maxConnections": cb.max_connections,
                "maxPendingRequests": cb.max_pending_requests,
                "maxRequests": cb.max_requests,
                "maxRetries": cb.max_retries,
            }
        )
    if t.outlier_detection:
        od = t.outlier_detection
        out["outlierDetection"] = _clean(
            {
                "consecutive5xx": od.consecutive_5xx,
                "interval": _ms(od.interval_ms),
                "baseEjectionTime": _ms(od.base_ejection_time_ms),
                "maxEjectionPercent": _number(od.max_ejection_percent),
            }
        )
    if t.fault_injection:
        f = t.fault_injection
        delay = f.delay and {
            "fixedDelay": go_style(f.delay.fixed_delay_ms),
            "percent": _number(f.delay.percent),
        }
        abort = f.abort and {"httpStatus": f.abort.http_status, "percent": _number(f.abort.percent)}
        out["faultInjection"] = _clean({"delay": delay, "abort": abort})
    if t.rate_limit:
        out["rateLimit"] = _clean(
            {"requestsPerSecond": t.rate_limit.requests_per_second, "burst": t.rate_limit.burst}
        )
    return _clean(out)


def policy_to_json(p: ComponentPolicy) -> dict[str, Any]:
    """ComponentPolicy → JSON for meshform's status record (and back with policy_from_json)."""
    return _clean(
        {
            "traffic": traffic_to_json(p.traffic) or None,
            "authorization": {"allow": p.authorization} if p.authorization else None,
            "weights": [{"name": w.name, "weight": w.weight} for w in p.weights] or None,
            "edges": {k: traffic_to_json(v) for k, v in sorted(p.edges.items())} or None,
        }
    )


def policy_from_json(raw: Mapping[str, Any]) -> ComponentPolicy:
    return ComponentPolicy(
        traffic=traffic_from_json(raw.get("traffic")),
        authorization=(raw.get("authorization") or {}).get("allow"),
        weights=tuple(VersionWeight(w["name"], w["weight"]) for w in raw.get("weights", ())),
        edges=MappingProxyType({k: traffic_from_json(v) for k, v in (raw.get("edges") or {}).items()}),
    )
