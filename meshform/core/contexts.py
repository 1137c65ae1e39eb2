"""From the application model to each component's PolicyContext.

The context is built from the expanded objects (the Service and ServiceAccount names a mode targets
are the ones expand wrote), so renderers never re-derive a name. Only `render` builds contexts; kept
apart from meshform.core.policy so that `transform`, which reads them back from status records, does
not import the application model and the expansion (~4 ms of every run).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from meshform.core.expand import Expansion, pod_selector, service_host, version_service_name
from meshform.model.application import Application, Component, port_of
from meshform.policy.context import CallerEdge, Edge, Peer, PolicyContext, PolicyPort, VersionTarget


def _peer(app: Application, c: Component, expansion: Expansion) -> Peer:
    unit = next(u for u in expansion.units if u.component is c)
    spec = unit.workload["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if "jobTemplate" in spec else spec.get("template", {})
    service = unit.service["metadata"]["name"] if unit.service else c.name
    # The pods' own labels, Service or not: a caller without ports (a Job, a CronJob) must still be
    # selectable by a NetworkPolicy or a Kuma MeshSubset that admits it.
    selector = unit.service["spec"]["selector"] if unit.service else pod_selector(app, c)
    return Peer(
        component=c.name,
        namespace=app.namespace,
        service=service,
        host=service_host(app, service),
        service_account=template["spec"].get("serviceAccountName", "default"),
        selector=MappingProxyType(dict(sorted(selector.items()))),  # as the status record's JSON has it
    )


def _versions(c: Component) -> tuple[VersionTarget, ...]:
    return tuple(
        VersionTarget(v.name, v.weight, version_service_name(c, v), MappingProxyType({"version": v.name}))
        for v in c.versions
        if v.weight is not None
    )


def _port(c: Component, ref: int | str | None) -> PolicyPort | None:
    p = port_of(c, ref)
    return None if p is None else PolicyPort(p.name, p.port, p.protocol)


def contexts(
    app: Application, expansion: Expansion, options_of: Mapping[str, Any]
) -> dict[str, PolicyContext]:
    """Component name → its PolicyContext, for every component (empty policies included: a caller's
    builtin proxy still needs the edges). `options_of` maps a component name to its mode's options."""
    peers = {c.name: _peer(app, c, expansion) for c in app.components}
    out = {}
    for c in app.components:
        edges = []
        for dep in c.dependencies:
            target = app.component(dep.name)
            port = _port(target, dep.port) if target else None
            if target is None or port is None:
                continue
            effective = target.traffic.overridden_by(dep.traffic)
            edges.append(Edge(peers[target.name], port, dep.traffic, effective, _versions(target)))
        dependents = tuple(
            peers[o.name] for o in app.components if any(d.name == c.name for d in o.dependencies)
        )
        callers = []
        for o in app.components:
            for dep in o.dependencies:
                port = _port(c, dep.port) if dep.name == c.name else None
                if port is not None and not dep.traffic.is_empty():
                    effective = c.traffic.overridden_by(dep.traffic)
                    callers.append(CallerEdge(peers[o.name], port, dep.traffic, effective))
        out[c.name] = PolicyContext(
            app=app.name,
            component=peers[c.name],
            ports=tuple(PolicyPort(p.name, p.port, p.protocol) for p in c.ports),
            policy=c.policy,
            versions=_versions(c),
            dependents=dependents,
            edges=tuple(edges),
            callers=tuple(callers),
            options=MappingProxyType(dict(options_of.get(c.name, {}))),
        )
    return out
