"""Checks of the declared traffic policy that a schema cannot express: durations it can carry,
version weights, L7 policy on TCP-only ports, and what each component's mode can enforce.

`durations` reads the raw document (so it runs even where the model cannot be built); `check` reads
the model. Both yield located diagnostics, so `validate` reports every problem at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from meshform.diagnostics import Diagnostic, Level
from meshform.model.application import Application, Component, Dependency, port_of
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
    """MF901 for each schema-shaped duration meshform cannot carry (finer than 1ms, over a year);
    MF933 for 0s where 0s has no meaning every mesh shares (zero_duration)."""
    for base, block in _traffic_blocks(doc.data):
        for path in _DURATIONS:
            value = _get(block, path)
            if not isinstance(value, str) or not re.fullmatch(PATTERN, value):
                continue  # the schema reports the syntax
            try:
                ms = parse_ms(value)
            except DurationError as exc:
                yield at.error((*base, *path), "MF901", str(exc))
                continue
            problem = zero_duration(path, ms)
            if problem:
                yield at.error((*base, *path), "MF933", problem)


# 0s means "off" where it has a meaning: `timeout` (no timeout: Envoy, Istio, Kuma, Linkerd; Consul
# reads it as unset, MF931), `perTryTimeout` (no per-try limit) and `fixedDelay` (no delay). For these
# it has none: Envoy's config validation wants outlierDetection.interval/baseEjectionTime and the
# retry backoff above 0s, Istio wants them at least 1ms, Kuma refuses them, Consul reads them as unset.
_NO_ZERO = frozenset(
    {
        ("outlierDetection", "interval"),
        ("outlierDetection", "baseEjectionTime"),
        ("retries", "backoff", "baseInterval"),
        ("retries", "backoff", "maxInterval"),
    }
)


def zero_duration(path: Path, ms: int) -> str:
    """What is wrong with 0s at `path` under `traffic` (see _NO_ZERO), or "" when nothing is."""
    if ms or tuple(path) not in _NO_ZERO:
        return ""
    field = ".".join(str(p) for p in path)
    why = "Envoy, Istio and Kuma refuse it, Consul reads it as unset"
    return f"{field} 0s means nothing any mesh can carry ({why})"


@dataclass(frozen=True)
class _Run:
    """What the checks of each component's mode share: the model, the locator, every mode, the
    effective mode of each component and the modeOptions of each mode, and the enforcement."""

    app: Application
    at: Any
    registry: Registry
    mode_of: Mapping[str, Mode]
    options_of: Mapping[str, Any]
    strict: bool

    def refusal(
        self, where: Path, codes: tuple[str, str], message: str, left_out: str = "left out"
    ) -> Diagnostic:
        """What a mode cannot do, at `where`: under strict an error (`codes[0]`), under best-effort a
        warning (`codes[1]`) saying what is `left out`."""
        found: Diagnostic
        if self.strict:
            found = self.at.error(where, codes[0], message)
        else:
            found = self.at.error(where, codes[1], f"{message}; {left_out} (best-effort)", Level.WARNING)
        return found


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
    run = _Run(app, at, registry, mode_of, options_of, strict)
    dependents = {d.name for c in app.components for d in c.dependencies}
    for c in app.components:
        base: Path = (*COMPONENTS, c.index)
        yield from _weights(c, base, at)
        yield from traffic_rules(c.traffic, (*base, "traffic"), at)
        for dep in c.dependencies:
            yield from traffic_rules(dep.traffic, (*base, "dependencies", dep.index, "traffic"), at)
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
        yield from _capabilities(run, c, mode, c.policy.features(), base, tcp)
        yield from _first_port(run, c, mode, base)
        yield from _identities(run, c, mode, base)
        yield from _values(run, c, mode, base)
        for dep in c.dependencies:  # an edge's override is enforced by the caller's (this) mode
            where = (*base, "dependencies", dep.index)
            features = dep.traffic.features()
            yield from _capabilities(run, c, mode, features, where, _tcp_edge(app, dep), on_edge=True)


def _tcp_edge(app: Application, dep: Dependency) -> bool:
    """Does the dependency's port speak no HTTP (False where the port is not found: reported elsewhere)?"""
    target = app.component(dep.name)
    port = port_of(target, dep.port) if target else None
    return port is not None and r.tcp_only((port.protocol,))


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


def traffic_rules(t: r.Traffic, base: Path, at: Any) -> Iterator[Diagnostic]:
    """The rules between one traffic block's fields (MF904, MF905), for the model and for the policy a
    status record carries (meshform.model.policy_record)."""
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


def _first_port(run: _Run, c: Component, mode: Mode, base: Path) -> Iterator[Diagnostic]:
    """A mesh that registers the pod on its first port only (Consul) gives the whole service that
    port's protocol: L7 policy behind a TCP first port is refused (MF926, as MF910 under strict); an
    HTTP first port makes the other ports HTTP too, which a TCP port is not (MF927 is the mode's
    warning, said by its findings in render and transform alike)."""
    if not mode.facts.first_port_service or not c.ports or c.ports[0].protocol in HTTP:
        return
    first = c.ports[0]
    for feature in c.policy.features():
        if feature not in r.L7_FEATURES or not any(p.protocol in HTTP for p in c.ports):
            continue
        message = (
            f"{mode.facts.name} registers {c.name!r} on its first port only ({first.name}, {first.port}, "
            f"{first.protocol}), so the service is {first.protocol} and {feature} cannot act on its "
            "HTTP port"
        )
        yield run.refusal((*base, *_FEATURE_PATH[feature]), ("MF926", "MF926"), message)


def _identities(run: _Run, c: Component, mode: Mode, base: Path) -> Iterator[Diagnostic]:
    """`allow: dependents` in a mode that authorizes by mesh identity: every dependent must be governed
    by a mode that presents one it admits (another mesh, kubernetes-native or builtin presents none of
    its identities, and would be refused: MF929, a warning and authorization left out under
    best-effort, since enforcing it would lock that dependent out)."""
    options = run.options_of.get(mode.facts.name, {})
    if c.authorization != r.ALLOW_DEPENDENTS or not mode.facts.supports(r.AUTHORIZATION, options):
        return
    foreign = refused_dependents(run.app, c, mode, run.mode_of)
    if not foreign:
        return
    who = ", ".join(f"{name!r} ({m})" for name, m in foreign)
    message = (
        f"{mode.facts.name} allows only callers with {mode.facts.identity} workload identities to reach "
        f"{c.name!r}, but its dependents {who} cannot present one: they would be refused"
    )
    yield run.refusal((*base, "authorization"), ("MF929", "MF929"), message, "authorization left out")


def refused_dependents(
    app: Application, c: Component, mode: Mode, mode_of: Mapping[str, Mode]
) -> list[tuple[str, str]]:
    """(name, mode) of each dependent of `c` whose mode presents no identity `mode` admits."""
    out = []
    for other in app.components:
        caller = mode_of.get(other.name)
        depends = any(d.name == c.name for d in other.dependencies)
        if caller is not None and depends and not mode.facts.admits(caller.facts):
            out.append((other.name, caller.facts.name))
    return out


def _capabilities(
    run: _Run,
    c: Component,
    mode: Mode,
    features: tuple[str, ...],
    base: Path,
    tcp: bool,
    on_edge: bool = False,
) -> Iterator[Diagnostic]:
    """MF910/MF911 for each feature `mode` cannot enforce; `tcp`: where no port speaks HTTP;
    `on_edge`: for one caller alone."""
    options = run.options_of.get(mode.facts.name, {})
    # A mode without edge overrides at all is refused once, at `dependencies` (EDGE_OVERRIDES).
    per_edge = on_edge and mode.facts.supports(r.EDGE_OVERRIDES, options)
    for feature in features:
        if (
            mode.facts.supports_on_edge(feature, options, tcp)
            if per_edge
            else mode.facts.supports(feature, options, tcp)
        ):
            continue
        able = run.registry.able(feature, run.options_of, on_edge, tcp)
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
        yield run.refusal((*base, *_FEATURE_PATH[feature]), ("MF910", "MF911"), message)


# Where a value sits under `traffic` → the feature that carries it.
_FEATURE_OF: Mapping[str, str] = {
    "timeout": r.TIMEOUT,
    "retries": r.RETRIES,
    "circuitBreaker": r.CIRCUIT_BREAKER,
    "outlierDetection": r.OUTLIER_DETECTION,
    "rateLimit": r.RATE_LIMIT,
}


def feature_of(path: tuple[str, ...]) -> str:
    """The FEATURES name of a value's path under `traffic` (faults by their part)."""
    if path[0] == "faultInjection":
        return r.FAULT_DELAY if path[1:2] == ("delay",) else r.FAULT_ABORT
    return _FEATURE_OF[path[0]]


_L7_LIMITS = frozenset((name,) for name in r.L7_CIRCUIT_BREAKER_FIELDS)


def dropped_values(
    mode: Mode,
    traffic: r.Traffic,
    registry: Registry,
    options_of: Mapping[str, Any],
    on_edge: bool,
    tcp: bool = False,
) -> Iterator[tuple[Path, str]]:
    """The one rule for a declared value `mode` cannot carry: (its path under `traffic`, the message
    naming why and the modes that can carry it). Only values of features the mode enforces (the rest
    is MF910/MF911; `tcp`: where no port speaks HTTP). Strict makes each an error, best-effort a
    warning; the value is left out."""
    options = options_of.get(mode.facts.name, {})
    for drop in mode.facts.cannot_carry(traffic):
        if tcp and drop.path[:1] == ("circuitBreaker",) and drop.path[1:2] in _L7_LIMITS:
            continue  # counts requests: refused on TCP in every mode (MF906), not this mode's to drop
        feature = feature_of(drop.path)
        enforced = mode.facts.supports_on_edge if on_edge else mode.facts.supports
        if not enforced(feature, options, tcp):
            continue
        able = [
            name
            for name in registry.able(feature, options_of, on_edge, tcp)
            if not any(_overlap(d.path, drop.path) for d in registry.modes[name].facts.cannot_carry(traffic))
        ]
        field = ".".join(drop.path)
        modes = ", ".join(able) or "none"
        yield drop.path, f"{mode.facts.name} cannot carry {field}: {drop.why}; modes that can: {modes}"


def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """One path holds the other (a mode dropping all of `retries.backoff` drops its baseInterval)."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _values(run: _Run, c: Component, mode: Mode, base: Path) -> Iterator[Diagnostic]:
    """MF931 (strict) / MF932 (best-effort) at each declared value the component's mode cannot carry:
    its own traffic, and each dependency's override (rendered by this, the caller's, mode)."""
    tcp = r.tcp_only(p.protocol for p in c.ports)
    blocks = [((*base, "traffic"), c.traffic, False, tcp)]
    blocks += [
        ((*base, "dependencies", d.index, "traffic"), d.traffic, True, _tcp_edge(run.app, d))
        for d in c.dependencies
    ]
    for where, traffic, on_edge, on_tcp in blocks:
        for path, message in dropped_values(mode, traffic, run.registry, run.options_of, on_edge, on_tcp):
            yield run.refusal((*where, *path), ("MF931", "MF932"), message)
