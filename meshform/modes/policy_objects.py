"""What every mode's traffic-policy object shares: its metadata, and the few unit conversions the
meshes' schemas force (whole percentages, Kubernetes int-or-string percentages).

Each object is named after the component's Service (`reviews`, or `reviews-<purpose>` where a mode
needs several of one kind), lives in the component's namespace and carries meshform's labels, so
`kubectl get -l app.kubernetes.io/managed-by=meshform` lists them and switching can find them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from meshform.modes.base import EnrollContext, Finding
from meshform.policy.context import PolicyContext
from meshform.policy.records import Traffic


def policy_object(
    ctx: PolicyContext,
    api_version: str,
    kind: str,
    name: str,
    spec: Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One namespaced object of the component's policy: {apiVersion, kind, metadata, spec}."""
    meta_labels = {
        "app.kubernetes.io/name": ctx.component.component,
        "app.kubernetes.io/part-of": ctx.app,
        "app.kubernetes.io/managed-by": "meshform",
        **(labels or {}),
    }
    metadata = {"name": name, "namespace": ctx.component.namespace, "labels": meta_labels}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": dict(spec)}


def declared_fields(*fields: tuple[str, Any, Callable[[Any], Any]]) -> dict[str, Any]:
    """`{name: convert(value)}` for each `(name, value, convert)` whose value the model declares (is
    not None), in the order given: a mesh object's optional fields say nothing of what is left out,
    so the mesh keeps its own default. `as_is` converts nothing."""
    return {name: convert(value) for name, value, convert in fields if value is not None}


def as_is(value: Any) -> Any:
    """A value the mesh takes in the model's own unit (for `declared_fields`)."""
    return value


def whole_share(percent: float) -> int:
    """12.5 → 13, 0.2 → 1: a share of requests (Consul's fault percentages) where the mesh keeps
    whole percents. The nearest whole, half up, and a share that is not zero stays above zero."""
    return max(1, math.floor(percent + 0.5)) if percent > 0 else 0


def whole_cap(percent: float) -> int:
    """12.5 → 12: a cap in whole percents (maxEjectionPercent), never above the one declared."""
    return math.floor(percent)


def percent_text(percent: float) -> str:
    return str(int_or_string_percent(percent))


def int_or_string_percent(percent: float) -> int | str:
    """10.0 → 10, 2.5 → "2.5", 1e-05 → "0.00001": Kubernetes' int-or-string, the form Kuma takes
    decimals in (plain notation, every digit the model carried)."""
    if percent == int(percent):
        return int(percent)
    from decimal import Decimal  # ~1 ms to import, in every run that loads the modes: only here

    return format(Decimal(repr(percent)), "f")


def on_services(ctx: PolicyContext, keys: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """`keys` for each of the component's Services, its own and the per-version ones of a split (a
    caller may reach a version's Service directly), in Enrollment.service_labels/annotations form."""
    if not keys:
        return {}
    return {name: dict(keys) for name in (ctx.component.service, *(v.service for v in ctx.versions))}


def fault_before_router(ctx: EnrollContext, mesh: str) -> Iterator[Finding]:
    """MF928 where a route carries a fault and a timeout or retries, in a mode whose fault filter runs
    in the calling proxy before its router (Envoy's fault filter must precede the router; Istio's
    pilot puts it there and sets the route's timeout and retry policy on the same route): the
    injected delay is not counted by the timeout, and an injected abort is answered before any retry
    can happen. A mesh that injects on the provider's side (Kuma, Consul) counts and retries both."""
    if ctx.policy is None or not ctx.policy_owner:
        return
    policy = ctx.policy
    yield from _fault_route(mesh, f"calls to {policy.component.component}", policy.policy.traffic, "traffic")
    for edge in policy.edges:
        if not edge.override.is_empty():
            what = f"{policy.component.component}'s calls to {edge.to.component}"
            yield from _fault_route(mesh, what, edge.effective, "dependencies")


def _fault_route(mesh: str, what: str, t: Traffic, where: str) -> Iterator[Finding]:
    fault, retries = t.fault_injection, t.retries
    if fault is None:
        return
    said = []
    per_try = retries.per_try_timeout_ms if retries else None
    if fault.delay is not None and (t.timeout_ms is not None or per_try is not None):
        said.append("the injected delay is not counted by the timeout")
    if fault.abort is not None and retries is not None and retries.attempts:
        said.append("injected aborts are never retried")
    if said:
        yield Finding(
            "MF928",
            "warning",
            f"{mesh} injects the fault of {what} in the calling proxy before it routes: {' and '.join(said)}",
            where,
        )


# MF920 where a value is rounded, MF930 where a mode cannot say it (as the istio and builtin modes).
ROUNDED, APPROXIMATED = "MF920", "MF930"


def approximated(
    ctx: EnrollContext, approximations: Callable[[PolicyContext], Iterable[tuple[str, str]]]
) -> Iterator[Finding]:
    """A warning for each (code, message) a mode's policy rounds or approximates, once per component
    (on the workload that carries its objects)."""
    if ctx.policy is not None and ctx.policy_owner:
        for code, message in approximations(ctx.policy):
            yield Finding(code, "warning", message, "traffic")
