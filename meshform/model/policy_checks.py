"""Checks of the declared traffic policy that a schema cannot express: durations it can carry,
version weights, L7 policy on TCP-only ports, and what each component's mode can enforce.

`durations` reads the raw document (so it runs even where the model cannot be built); `check` reads
the model. Both yield located diagnostics, so `validate` reports every problem at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from meshform.diagnostics import Diagnostic, Level
from meshform.model.application import Application, Component, port_of
from meshform.modes import Registry
from meshform.modes.base import Mode
from meshform.policy import records as r
from meshform.policy.durations import PATTERN, DurationError, parse_ms
from meshform.yamlio.reader import Document, Path

COMPONENTS: Path = ("spec", "components")
HTTP = r.HTTP_PROTOCOLS
_DURATIONS: tuple[Path, ...] = (
    ("timeout",),
    ("retries", "perTryTimeout"),
    ("retries", "backoff", "baseInterval"),
    ("retries", "backoff", "maxInterval"),
    ("outlierDetection", "interval"),
    ("outlierDetection", "baseEjectionTime"),
    ("faultInjection", "delay", "fixedDelay"),
)
# Where each feature is written, under `traffic` (split and authorization sit on the component).
_FEATURE_PATH: Mapping[str, Path] = {
    r.TIMEOUT: ("traffic", "timeout"),
    r.RETRIES: ("traffic", "retries"),
    r.CIRCUIT_BREAKER: ("traffic", "circuitBreaker"),
    r.OUTLIER_DETECTION: ("traffic", "outlierDetection"),
    r.FAULT_DELAY: ("traffic", "faultInjection", "delay"),
    r.FAULT_ABORT: ("traffic", "faultInjection", "abort"),
    r.RATE_LIMIT: ("traffic", "rateLimit"),
    r.SPLIT: ("versions",),
    r.AUTHORIZATION: ("authorization",),
    r.EDGE_OVERRIDES: ("dependencies",),
}


def _get(node: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _traffic_blocks(data: Any) -> Iterator[tuple[Path, Any]]:
    components = _get(data, COMPONENTS)
    for i, component in enumerate(components if isinstance(components, list) else []):
        yield (*COMPONENTS, i, "traffic"), _get(component, ("traffic",))
        deps = _get(component, ("dependencies",))
        for j, dep in enumerate(deps if isinstance(deps, list) else []):
            yield (*COMPONENTS, i, "dependencies", j, "traffic"), _get(dep, ("traffic",))


def durations(doc: Document, at: Any) -> Iterator[Diagnostic]:
    """MF901 for each schema-shaped duration meshform cannot carry (finer than 1ms, over a year)."""
    for base, block in _traffic_blocks(doc.data):
        for path in _DURATIONS:
            value = _get(block, path)
            if not isinstance(value, str) or not re.fullmatch(PATTERN, value):
                continue  # the schema reports the syntax
            try:
                parse_ms(value)
            except DurationError as exc:
                yield at.error((*base, *path), "MF901", str(exc))


def check(
    app: Application,
    at: Any,
    registry: Registry,
    mode_of: Mapping[str, Mode],
    options_of: Mapping[str, Any],
    strict: bool,
) -> Iterator[Diagnostic]:
    """Every policy misuse of the model. `mode_of` maps a component name to its effective mode and
    `options_of` a mode name to its modeOptions (semantics resolves both); `strict`: what a mode
    cannot enforce is an error (MF910), else a warning (MF911)."""
    dependents = {d.name for c in app.components for d in c.dependencies}
    for c in app.components:
        base: Path = (*COMPONENTS, c.index)
        yield from _weights(c, base, at)
        yield from _backoff_and_timeouts(c.traffic, (*base, "traffic"), at)
        for dep in c.dependencies:
            yield from _backoff_and_timeouts(dep.traffic, (*base, "dependencies", dep.index, "traffic"), at)
        yield from _l7_on_tcp(app, c, base, at)
        if c.authorization == r.ALLOW_DEPENDENTS and c.name not in dependents:
            yield at.error(
                (*base, "authorization"),
                "MF907",
                f"authorization allows only dependents, but no component depends on {c.name!r}: "
                "every caller would be refused",
                Level.WARNING,
            )
        mode = mode_of.get(c.name)
        if mode is None:
            continue
        tcp = r.tcp_only(p.protocol for p in c.ports)
        yield from _capabilities(c, mode, c.policy.features(), base, at, registry, options_of, tcp, strict)
        for dep in c.dependencies:  # an edge's override is enforced by the caller's (this) mode
            where = (*base, "dependencies", dep.index)
            features = dep.traffic.features()
            target = app.component(dep.name)
            port = port_of(target, dep.port) if target else None
            tcp = port is not None and r.tcp_only((port.protocol,))
            yield from _capabilities(
                c, mode, features, where, at, registry, options_of, tcp, strict, on_edge=True
            )


def _weights(c: Component, base: Path, at: Any) -> Iterator[Diagnostic]:
    weighted = [v for v in c.versions if v.weight is not None]
    if not weighted:
        return
    if len(weighted) != len(c.versions):
        for i, v in enumerate(c.versions):
            if v.weight is None:
                yield at.error(
                    (*base, "versions", i),
                    "MF902",
                    f"version {v.name!r} of {c.name!r} has no weight while others do",
                )
        return
    total = sum(v.weight or 0 for v in weighted)
    if total != 100:
        yield at.error(
            (*base, "versions"), "MF903", f"the versions' weights of {c.name!r} add up to {total}, not 100"
        )


def _backoff_and_timeouts(t: r.Traffic, base: Path, at: Any) -> Iterator[Diagnostic]:
    retries = t.retries
    backoff = retries.backoff if retries else None
    if backoff and backoff.max_interval_ms is not None and backoff.max_interval_ms < backoff.base_interval_ms:
        yield at.error(
            (*base, "retries", "backoff", "maxInterval"),
            "MF904",
            "backoff maxInterval is shorter than baseInterval",
        )
    if retries and retries.per_try_timeout_ms and t.timeout_ms and retries.per_try_timeout_ms > t.timeout_ms:
        yield at.error(
            (*base, "retries", "perTryTimeout"),
            "MF905",
            "perTryTimeout is longer than timeout, which covers every try: retries can never happen",
            Level.WARNING,
        )


def _l7_on_tcp(app: Application, c: Component, base: Path, at: Any) -> Iterator[Diagnostic]:
    """L7 policy needs a proxy that reads HTTP: refuse it where every port is TCP or UDP, and so
    the circuit-breaker limits that count requests."""
    if r.tcp_only(p.protocol for p in c.ports):
        why = f"component {c.name!r} has no http, http2 or grpc port"
        for path, what in _l7_uses(c.traffic, c.policy.features()):
            yield at.error((*base, *path), "MF906", f"{what} needs HTTP, but {why}")
    for dep in c.dependencies:
        target = app.component(dep.name)
        port = port_of(target, dep.port) if target else None
        if port is None or port.protocol in HTTP:
            continue
        why = f"{dep.name}'s port {port.name} is {port.protocol}"
        for path, what in _l7_uses(dep.traffic, dep.traffic.features()):
            yield at.error(
                (*base, "dependencies", dep.index, *path), "MF906", f"{what} needs HTTP, but {why}"
            )


def _l7_uses(t: r.Traffic, features: tuple[str, ...]) -> Iterator[tuple[Path, str]]:
    """(where under the component or dependency, what) for each use of `features` and `t` that
    needs a proxy reading HTTP."""
    for feature in features:
        if feature in r.L7_FEATURES:
            yield _FEATURE_PATH[feature], feature
    cb = t.circuit_breaker
    values = {"maxRequests": cb.max_requests, "maxRetries": cb.max_retries} if cb else {}
    for name in r.L7_CIRCUIT_BREAKER_FIELDS:
        if values.get(name) is not None:
            yield (
                (*_FEATURE_PATH[r.CIRCUIT_BREAKER], name),
                f"{r.CIRCUIT_BREAKER}.{name} (it counts requests)",
            )


def _capabilities(
    c: Component,
    mode: Mode,
    features: tuple[str, ...],
    base: Path,
    at: Any,
    registry: Registry,
    options_of: Mapping[str, Any],
    tcp: bool,
    strict: bool,
    on_edge: bool = False,
) -> Iterator[Diagnostic]:
    """MF910/MF911 for each feature `mode` cannot enforce; `tcp`: where no port speaks HTTP;
    `on_edge`: for one caller alone."""

    def can(m: Mode, feature: str) -> bool:
        opts = options_of.get(m.facts.name, {})
        if on_edge:
            return m.facts.supports_on_edge(feature, opts, tcp)
        return m.facts.supports(feature, opts, tcp)

    options = options_of.get(mode.facts.name, {})
    # A mode without edge overrides at all is refused once, at `dependencies` (EDGE_OVERRIDES).
    per_edge = on_edge and mode.facts.supports(r.EDGE_OVERRIDES, options)
    for feature in features:
        if (
            mode.facts.supports_on_edge(feature, options, tcp)
            if per_edge
            else mode.facts.supports(feature, options, tcp)
        ):
            continue
        able = [m.facts.name for m in registry.modes.values() if can(m, feature)]
        cap = mode.facts.policy.get(feature)
        why = f" ({cap.note})" if cap and cap.note else ""
        if cap and cap.requires_option:
            why = f" (needs modeOptions.{mode.facts.name}.{cap.requires_option}: true)"
        what = f"{feature} for {c.name!r}"
        if tcp and cap and cap.http_only and mode.facts.supports(feature, options):
            what = f"{feature} on TCP for {c.name!r}"
        if per_edge and mode.facts.supports(feature, options, tcp):
            edge = mode.facts.policy.get(r.EDGE_OVERRIDES)
            what = f"{feature} for one caller alone ({c.name!r})"
            why = f" ({edge.note})" if edge and edge.note else ""
        message = f"{mode.facts.name} cannot enforce {what}{why}; modes that can: {', '.join(able) or 'none'}"
        if strict:
            yield at.error((*base, *_FEATURE_PATH[feature]), "MF910", message)
        else:
            yield at.error(
                (*base, *_FEATURE_PATH[feature]), "MF911", message + "; left out (best-effort)", Level.WARNING
            )
