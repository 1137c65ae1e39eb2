"""Kuma's form of one component's traffic policy: `kuma.io/v1alpha1` policies (Kuma 2.9+), each
labelled with its Mesh.

Where each policy acts, as Kuma v2.14.3's validators allow it (pkg/plugins/policies/*/api/v1alpha1):
- outbound policies (MeshTimeout, MeshRetry, MeshCircuitBreaker, MeshHTTPRoute) select the calling
  proxies at the top (`Mesh`: every caller) and the component's service in `to[]` (`MeshService`);
- inbound policies (MeshFaultInjection, MeshRateLimit, MeshTrafficPermission) select the component's
  own proxies at the top (`Dataplane` by the pods' labels) and the callers in `from[]` (`Mesh`, or a
  `MeshSubset` of the callers' tags; MeshRateLimit takes only `Mesh` there);
- a policy never mixes `to[]` and `from[]` (Kuma refuses it in an application namespace).
A dependency's own override is a more specific policy: the caller's `Dataplane` at the top (outbound),
or the caller's `MeshSubset` in `from[]` (faults), named `<caller>-to-<dependency>`.

Services are named as the Mesh's `meshServices.mode` says (modeOptions.kuma.meshServices): by their
`kuma.io/service` tag `<svc>_<ns>_svc_<port>` (Disabled, Kuma's default), or as the generated
MeshService `<svc>` with the port as `sectionName`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from meshform.modes.base import Dropped
from meshform.modes.policy_objects import (
    APPROXIMATED,
    ROUNDED,
    int_or_string_percent,
    percent_text,
    policy_object,
    whole_cap,
)
from meshform.policy import records as r
from meshform.policy.context import Edge, Peer, PolicyContext, PolicyPort, VersionTarget
from meshform.policy.durations import go_style

API = "kuma.io/v1alpha1"
MESH_LABEL = "kuma.io/mesh"
NAMESPACE_TAG = "k8s.kuma.io/namespace"
_RETRY_ON = {
    "5xx": "5xx",
    "gateway-error": "GatewayError",
    "reset": "Reset",
    "connect-failure": "ConnectFailure",
    "retriable-4xx": "Retriable4xx",
}
_MIN_RATE_INTERVAL_MS = 50  # Kuma refuses a rate-limit interval of 50ms or less
# Kuma takes a retryOn status code only if Go's http.StatusText names it.
_NAMED_STATUS = frozenset(
    {100, 101, 102, 103, *range(200, 209), 226, *range(300, 306), 307, 308, *range(400, 419), 421, 422}
    | {423, 424, 425, 426, 428, 429, 431, 451, *range(500, 509), 510, 511}
)
Ref = dict[str, Any]


def mesh_name(options: Mapping[str, Any]) -> str:
    return str(options.get("mesh") or "default")


def _real_mesh_services(options: Mapping[str, Any]) -> bool:
    return str(options.get("meshServices", "Disabled")) != "Disabled"


# ------------------------------------------------------------------------------------- references


def _mesh() -> Ref:
    return {"kind": "Mesh"}


def _dataplanes(peer: Peer) -> Ref:
    """The proxies of a component's pods (Kuma copies the pod labels onto its Dataplane)."""
    return {"kind": "Dataplane", "labels": dict(peer.selector)}


def _subset(peer: Peer) -> Ref:
    """A component as a caller: its pods' tags (every pod label is a tag, and in its certificate)."""
    return {"kind": "MeshSubset", "tags": {**peer.selector, NAMESPACE_TAG: peer.namespace}}


def _service(ctx: PolicyContext, service: str, namespace: str, port: PolicyPort) -> Ref:
    if _real_mesh_services(ctx.options):
        return {"kind": "MeshService", "name": service, "namespace": namespace, "sectionName": port.name}
    return {"kind": "MeshService", "name": f"{service}_{namespace}_svc_{port.port}"}


def _backend(ctx: PolicyContext, version: VersionTarget, port: PolicyPort) -> Ref:
    ns = ctx.component.namespace
    if _real_mesh_services(ctx.options):
        return {"kind": "MeshService", "name": version.service, "namespace": ns, "port": port.port}
    return {"kind": "MeshService", "name": f"{version.service}_{ns}_svc_{port.port}"}


def _tcp_ports(ctx: PolicyContext) -> tuple[PolicyPort, ...]:
    return tuple(p for p in ctx.ports if p.protocol != "udp")  # Kuma makes no inbound for UDP


# ------------------------------------------------------------------------------------ confs (units)


def _timeout_conf(t: r.Traffic) -> dict[str, Any]:
    assert t.timeout_ms is not None
    return {"http": {"requestTimeout": go_style(t.timeout_ms)}}


def _retry_conf(t: r.Traffic) -> dict[str, Any]:
    """`numRetries: 0` is said: Kuma's default policy retries 5 times."""
    retries = t.retries
    assert retries is not None
    http: dict[str, Any] = {"numRetries": retries.attempts}
    if retries.per_try_timeout_ms is not None:
        http["perTryTimeout"] = go_style(retries.per_try_timeout_ms)
    if retries.backoff is not None:
        backoff = {"baseInterval": go_style(retries.backoff.base_interval_ms)}
        if retries.backoff.max_interval_ms is not None:
            backoff["maxInterval"] = go_style(retries.backoff.max_interval_ms)
        http["backOff"] = backoff
    retry_on = [_RETRY_ON.get(c, c) for c in retries.on if not c.isdigit() or int(c) in _NAMED_STATUS]
    if retry_on:
        http["retryOn"] = retry_on
    return {"http": http}


def _breaker_conf(t: r.Traffic, limits: bool = True, outliers: bool = True) -> dict[str, Any]:
    conf: dict[str, Any] = {}
    cb, od = t.circuit_breaker, t.outlier_detection
    if limits and cb is not None:
        conf["connectionLimits"] = {
            k: v
            for k, v in (
                ("maxConnections", cb.max_connections),
                ("maxPendingRequests", cb.max_pending_requests),
                ("maxRequests", cb.max_requests),
                ("maxRetries", cb.max_retries or None),  # Kuma refuses 0
            )
            if v is not None
        }
    if outliers and od is not None:
        conf["outlierDetection"] = _outlier_conf(od)
    return conf


def _outlier_conf(od: r.OutlierDetection) -> dict[str, Any]:
    """Envoy's consecutive_5xx is Kuma's `totalFailures` detector; Kuma wants one detector, so an empty
    `totalFailures` (Envoy's default of 5) stands in when the count is not said."""
    total = {} if od.consecutive_5xx is None else {"consecutive": od.consecutive_5xx}
    conf: dict[str, Any] = {"disabled": False}
    if od.interval_ms:  # Kuma refuses 0s for either duration
        conf["interval"] = go_style(od.interval_ms)
    if od.base_ejection_time_ms:
        conf["baseEjectionTime"] = go_style(od.base_ejection_time_ms)
    if od.max_ejection_percent is not None:
        conf["maxEjectionPercent"] = whole_cap(od.max_ejection_percent)
    conf["detectors"] = {"totalFailures": total}
    return conf


def _fault_conf(t: r.Traffic) -> dict[str, Any]:
    fault = t.fault_injection
    assert fault is not None
    item: dict[str, Any] = {}
    if fault.delay is not None:
        item["delay"] = {
            "value": go_style(fault.delay.fixed_delay_ms),
            "percentage": int_or_string_percent(fault.delay.percent),
        }
    if fault.abort is not None:
        item["abort"] = {
            "httpStatus": fault.abort.http_status,
            "percentage": int_or_string_percent(fault.abort.percent),
        }
    return {"http": [item]}


def _request_rate(limit: r.RateLimit) -> tuple[int, int]:
    """(num, interval in ms). Kuma's bucket holds `num` requests and refills them all every
    `interval`: a burst of B at R per second is B every B/R seconds (to the millisecond). Where that
    interval is not over Kuma's 50ms floor, the bucket is a second's worth of requests."""
    if limit.burst is not None:
        burst_ms = round(limit.burst * 1000 / limit.requests_per_second)
        if burst_ms > _MIN_RATE_INTERVAL_MS:
            return limit.burst, burst_ms
    return limit.requests_per_second, 1000


def _rate_conf(t: r.Traffic) -> dict[str, Any]:
    assert t.rate_limit is not None
    num, interval_ms = _request_rate(t.rate_limit)
    rate = {"num": num, "interval": go_style(interval_ms)}
    return {"local": {"http": {"requestRate": rate, "onRateLimit": {"status": 429}}}}


# ------------------------------------------------------------------------------------------ objects


def _policy(ctx: PolicyContext, kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return policy_object(ctx, API, kind, name, spec, {MESH_LABEL: mesh_name(ctx.options)})


def _outbound(
    ctx: PolicyContext, kind: str, top: Ref, ports: tuple[PolicyPort, ...], conf: dict[str, Any]
) -> dict[str, Any]:
    """An outbound policy from the `top` proxies to each port of the component's service."""
    svc, ns = ctx.component.service, ctx.component.namespace
    to = [{"targetRef": _service(ctx, svc, ns, p), "default": conf} for p in ports]
    return _policy(ctx, kind, svc, {"targetRef": top, "to": to})


def _inbound(ctx: PolicyContext, kind: str, name: str, top: Ref, sources: list[Any]) -> dict[str, Any]:
    return _policy(ctx, kind, name, {"targetRef": top, "from": sources})


def _split(ctx: PolicyContext) -> dict[str, Any]:
    svc, ns = ctx.component.service, ctx.component.namespace
    to = []
    for port in ctx.http_ports:
        backends = [{**_backend(ctx, v, port), "weight": v.weight} for v in ctx.versions]
        rule = {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "default": {"backendRefs": backends},
        }
        to.append({"targetRef": _service(ctx, svc, ns, port), "rules": [rule]})
    return _policy(ctx, "MeshHTTPRoute", svc, {"targetRef": _mesh(), "to": to})


def _permission(ctx: PolicyContext) -> dict[str, Any]:
    """Only the dependents: deny the Mesh, allow each dependent (the more specific entry wins), so the
    result does not hang on whether the Mesh still has Kuma's default allow-all."""
    sources = [{"targetRef": _mesh(), "default": {"action": "Deny"}}]
    peers = {(p.namespace, p.component): p for p in ctx.dependents}
    sources += [{"targetRef": _subset(peers[k]), "default": {"action": "Allow"}} for k in sorted(peers)]
    top = _dataplanes(ctx.component)
    return _inbound(ctx, "MeshTrafficPermission", ctx.component.service, top, sources)


def _provider(ctx: PolicyContext) -> list[dict[str, Any]]:
    t, svc, me = ctx.policy.traffic, ctx.component.service, _dataplanes(ctx.component)
    out = []
    if t.timeout_ms is not None:
        out.append(_outbound(ctx, "MeshTimeout", _mesh(), ctx.http_ports, _timeout_conf(t)))
    if t.retries is not None:
        out.append(_outbound(ctx, "MeshRetry", _mesh(), ctx.http_ports, _retry_conf(t)))
    if t.circuit_breaker is not None or t.outlier_detection is not None:
        out.append(_outbound(ctx, "MeshCircuitBreaker", _mesh(), _tcp_ports(ctx), _breaker_conf(t)))
    if t.fault_injection is not None:
        sources = [{"targetRef": _mesh(), "default": _fault_conf(t)}]
        out.append(_inbound(ctx, "MeshFaultInjection", svc, me, sources))
    if t.rate_limit is not None:
        sources = [{"targetRef": _mesh(), "default": _rate_conf(t)}]
        out.append(_inbound(ctx, "MeshRateLimit", svc, me, sources))
    if ctx.versions and ctx.http_ports:
        out.append(_split(ctx))
    if ctx.policy.authorization == r.ALLOW_DEPENDENTS:
        out.append(_permission(ctx))
    return out


# One override on one edge: which override fields call for which kind, and its conf from the effective
# traffic (so a partial override keeps the provider's other fields, as the neutral model says).
_EDGE_OUTBOUND: tuple[tuple[str, Callable[[r.Traffic], bool], Callable[[r.Traffic], dict[str, Any]]], ...] = (
    ("MeshTimeout", lambda o: o.timeout_ms is not None, _timeout_conf),
    ("MeshRetry", lambda o: o.retries is not None, _retry_conf),
)


def _by_target(edges: tuple[Edge, ...]) -> list[list[Edge]]:
    """The edges grouped by the dependency they reach, in declaration order: Kuma names an override
    `<caller>-to-<dependency>`, so two dependencies on one component (different ports) share each
    object, one `to[]` entry per port (a second object of that name would overwrite the first)."""
    groups: dict[tuple[str, str], list[Edge]] = {}
    for edge in edges:
        groups.setdefault((edge.to.namespace, edge.to.service), []).append(edge)
    return list(groups.values())


def _faulted(edges: list[Edge]) -> list[Edge]:
    """The edge whose fault the provider's side injects for this caller (the first that overrides
    one): Kuma selects a caller, not the port it calls (see `approximations`)."""
    return [e for e in edges if e.override.fault_injection is not None][:1]


def _edges(ctx: PolicyContext, edges: list[Edge]) -> list[dict[str, Any]]:
    """The overrides of one caller towards one dependency (one or more of its ports)."""
    to = edges[0].to
    name = f"{ctx.component.service}-to-{to.service}"
    caller = _dataplanes(ctx.component)
    out = []

    def outbound(kind: str, entries: list[dict[str, Any]]) -> None:
        if entries:
            out.append(_policy(ctx, kind, name, {"targetRef": caller, "to": entries}))

    for kind, present, conf_of in _EDGE_OUTBOUND:
        outbound(kind, [_to(ctx, e, conf_of(e.effective)) for e in edges if present(e.override)])
    breakers = []
    for e in edges:
        limits, outliers = e.override.circuit_breaker is not None, e.override.outlier_detection is not None
        if limits or outliers:
            breakers.append(_to(ctx, e, _breaker_conf(e.effective, limits, outliers)))
    outbound("MeshCircuitBreaker", breakers)
    for e in _faulted(edges):  # faults act on the provider's side, from this caller
        sources = [{"targetRef": _subset(ctx.component), "default": _fault_conf(e.effective)}]
        out.append(_inbound(ctx, "MeshFaultInjection", name, _dataplanes(to), sources))
    return out


def _to(ctx: PolicyContext, edge: Edge, conf: dict[str, Any]) -> dict[str, Any]:
    return {"targetRef": _service(ctx, edge.to.service, edge.to.namespace, edge.port), "default": conf}


def render(ctx: PolicyContext) -> list[dict[str, Any]]:
    """The component's own policies, then its dependencies' overrides in declaration order."""
    out = _provider(ctx)
    for edges in _by_target(ctx.edges):
        out += _edges(ctx, edges)
    return out


# ------------------------------------------------------------------------------- approximations


def approximations(ctx: PolicyContext) -> Iterator[tuple[str, str]]:
    """(code, message) for what Kuma rounds (MF920) or cannot say (MF930) of this component's policy."""
    yield from _traffic_approximations(ctx.policy.traffic, "")
    limit = ctx.policy.traffic.rate_limit
    if limit is not None:
        num, interval_ms = _request_rate(limit)
        rate, every = limit.requests_per_second, go_style(interval_ms)
        if limit.burst is not None and num != limit.burst:
            floor = f"Kuma refills a rate limit at most every {_MIN_RATE_INTERVAL_MS}ms"
            yield APPROXIMATED, f"{floor}: burst {limit.burst} at {rate}/s becomes {num} every {every}"
        elif num * 1000 != rate * interval_ms:
            yield (
                ROUNDED,
                f"Kuma refills a rate limit in whole milliseconds: {rate}/s becomes {num} every {every}",
            )
    for edge in ctx.edges:  # an override renders the effective values of the fields it sets
        o, e = edge.override, edge.effective
        shown = r.Traffic(
            retries=e.retries if o.retries else None,
            circuit_breaker=e.circuit_breaker if o.circuit_breaker else None,
            outlier_detection=e.outlier_detection if o.outlier_detection else None,
        )
        yield from _traffic_approximations(shown, f" towards {edge.to.component}")
    yield from _fault_per_port(ctx)


def _fault_per_port(ctx: PolicyContext) -> Iterator[tuple[str, str]]:
    """Two dependencies on one component (two ports) asking for different faults: Kuma selects the
    caller, not the port, so only the first is injected."""
    for edges in _by_target(ctx.edges):
        kept = _faulted(edges)
        for edge in edges:
            fault = edge.override.fault_injection
            if fault is not None and edge.effective.fault_injection != kept[0].effective.fault_injection:
                yield (
                    APPROXIMATED,
                    f"Kuma injects a fault per caller, not per port: the fault towards "
                    f"{edge.to.component} port {edge.port.name} left out (port {kept[0].port.name}'s "
                    "applies to both)",
                )


def _traffic_approximations(t: r.Traffic, where: str) -> Iterator[tuple[str, str]]:
    od = t.outlier_detection
    cap = od.max_ejection_percent if od else None
    if cap is not None and cap != whole_cap(cap):
        whole = f"{percent_text(cap)} becomes {whole_cap(cap)}"
        yield ROUNDED, f"Kuma takes a whole maxEjectionPercent{where}: {whole}"


def dropped(t: r.Traffic) -> Iterator[Dropped]:
    """What Kuma cannot carry of a traffic block (ModeFacts.dropped): it would be left out."""
    unnamed = [c for c in t.retries.status_codes if c not in _NAMED_STATUS] if t.retries else []
    if unnamed:
        codes = ", ".join(map(str, unnamed))
        yield Dropped(("retries", "on"), f"Kuma retries only on status codes HTTP names, not {codes}")
    cb = t.circuit_breaker
    if cb is not None and cb.max_retries == 0:
        why = "Kuma refuses maxRetries 0 (its default 3 would apply)"
        yield Dropped(("circuitBreaker", "maxRetries"), why)
