"""Application model → plain Kubernetes objects (workloads, Services, ServiceAccounts), mesh-agnostic.

The result also says, per workload, which component and version it came from, so the govern step can
apply each component's mode without re-deriving anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshform.model.application import Application, Component, Version, port_of
from meshform.model.semantics import env_prefix
from meshform.modes.base import Upstream

APP_PROTOCOL = {"http": "http", "http2": "kubernetes.io/h2c", "grpc": "grpc", "tcp": "tcp"}


@dataclass(frozen=True)
class Unit:
    """One workload object and where it came from."""

    component: Component
    version: Version
    workload: dict[str, Any]
    service: dict[str, Any] | None
    upstreams: tuple[Upstream, ...]
    version_service: dict[str, Any] | None = None  # the per-version Service of a split, if any

    @property
    def services(self) -> tuple[dict[str, Any], ...]:
        """Every Service that selects this workload's pods (a mode rewiring Services rewires all)."""
        return tuple(s for s in (self.service, self.version_service) if s is not None)


@dataclass(frozen=True)
class Expansion:
    objects: list[dict[str, Any]]  # in output order; workloads are the same dicts as in units
    units: list[Unit]
    owners: dict[int, int]  # id(object) → index of the component it was rendered from


def service_host(app: Application, name: str) -> str:
    return f"{name}.{app.namespace}.svc.{app.cluster_domain}"


def _meta(app: Application, name: str, component: str) -> dict[str, Any]:
    labels = {
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/part-of": app.name,
        "app.kubernetes.io/managed-by": "meshform",
        **app.labels,
    }
    meta: dict[str, Any] = {"name": name, "namespace": app.namespace, "labels": labels}
    if app.annotations:
        meta["annotations"] = dict(app.annotations)
    return meta


def pod_selector(app: Application, c: Component) -> dict[str, str]:
    """The labels every pod of a component carries (its Service's selector)."""
    return {"app.kubernetes.io/part-of": app.name, "app": c.name}


def upstreams(app: Application, c: Component) -> tuple[Upstream, ...]:
    out = []
    for dep in c.dependencies:
        target = app.component(dep.name)
        port = port_of(target, dep.port) if target else None
        if target is not None and port is not None:
            out.append(Upstream(dep.name, env_prefix(dep.name), service_host(app, dep.name), port))
    return tuple(out)


def _env(c: Component, v: Version, ups: tuple[Upstream, ...]) -> list[dict[str, str]]:
    values = {**c.env, **v.env}
    for u in ups:
        values[f"{u.env_prefix}_HOST"] = u.host
        values[f"{u.env_prefix}_PORT"] = str(u.port.port)
    return [{"name": k, "value": val} for k, val in values.items()]


def _probe(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}


def _container(c: Component, v: Version, ups: tuple[Upstream, ...]) -> dict[str, Any]:
    container: dict[str, Any] = {"name": c.name, "image": v.image}
    if c.command:
        container["command"] = list(c.command)
    if c.args:
        container["args"] = list(c.args)
    if c.ports:
        container["ports"] = [
            {"name": p.name, "containerPort": p.port, "protocol": "UDP" if p.protocol == "udp" else "TCP"}
            for p in c.ports
        ]
    env = _env(c, v, ups)
    if env:
        container["env"] = env
    if c.resources:
        container["resources"] = {k: {r: str(q) for r, q in val.items()} for k, val in c.resources.items()}
    for name, probe in c.probes.items():
        container[name] = _probe(probe)
    return container


def _pod_template(app: Application, c: Component, v: Version, ups: tuple[Upstream, ...]) -> dict[str, Any]:
    labels = {
        "app.kubernetes.io/name": c.name,
        "app.kubernetes.io/part-of": app.name,
        "app.kubernetes.io/version": v.name,
        "app": c.name,
        "version": v.name,
        **c.labels,
        **v.labels,
    }
    meta: dict[str, Any] = {"labels": labels}
    annotations = {**c.annotations, **v.annotations}
    if annotations:
        meta["annotations"] = annotations
    # One name per component: its Service, its ServiceAccount and its workload. Meshes that take a
    # workload's identity from its Service need the account to carry the same name (Consul with ACLs
    # refuses the pod otherwise), and the SPIFFE identity Istio and Linkerd show reads the same.
    spec: dict[str, Any] = {"serviceAccountName": c.name}
    if c.host_network:
        spec["hostNetwork"] = True
    spec["containers"] = [_container(c, v, ups)]
    if c.workload in ("Job", "CronJob"):
        spec["restartPolicy"] = "OnFailure"
    return {"metadata": meta, "spec": spec}


def _workload(app: Application, c: Component, v: Version, ups: tuple[Upstream, ...]) -> dict[str, Any]:
    name = f"{c.name}-{v.name}" if c.explicit_versions else c.name
    template = _pod_template(app, c, v, ups)
    selector = {"matchLabels": {**pod_selector(app, c), "version": v.name}}
    api = "batch/v1" if c.workload in ("Job", "CronJob") else "apps/v1"
    doc: dict[str, Any] = {"apiVersion": api, "kind": c.workload, "metadata": _meta(app, name, c.name)}
    if c.workload in ("Deployment", "StatefulSet"):
        replicas = 1 if v.replicas is None else v.replicas
        doc["spec"] = {"replicas": replicas, "selector": selector, "template": template}
        if c.workload == "StatefulSet":
            doc["spec"]["serviceName"] = c.name
    elif c.workload == "DaemonSet":
        doc["spec"] = {"selector": selector, "template": template}
    elif c.workload == "Job":
        doc["spec"] = {"template": template}
    else:
        doc["spec"] = {"schedule": c.schedule, "jobTemplate": {"spec": {"template": template}}}
    return doc


def version_service_name(c: Component, v: Version) -> str:
    return f"{c.name}-{v.name}"


def _version_services(app: Application, c: Component, service: dict[str, Any]) -> list[dict[str, Any]]:
    """One Service per weighted version (in the order of c.versions), selecting only that version: the
    backends a traffic split names where the mesh routes to Services (builtin, Linkerd, ambient, Kuma),
    not to pod subsets. Each has its own ports, so rewiring one Service leaves the others alone."""
    if not any(v.weight is not None for v in c.versions):
        return []
    out = []
    for v in c.versions:
        meta = _meta(app, version_service_name(c, v), c.name)
        spec = {
            **service["spec"],
            "selector": {**service["spec"]["selector"], "version": v.name},
            "ports": [dict(p) for p in service["spec"]["ports"]],
        }
        out.append({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec})
    return out


def _service(app: Application, c: Component) -> dict[str, Any]:
    ports = []
    for p in c.ports:
        port: dict[str, Any] = {
            "name": p.name,
            "port": p.port,
            "targetPort": p.port,
            "protocol": "UDP" if p.protocol == "udp" else "TCP",
        }
        if p.protocol in APP_PROTOCOL:
            port["appProtocol"] = APP_PROTOCOL[p.protocol]
        ports.append(port)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(app, c.name, c.name),
        "spec": {"selector": pod_selector(app, c), "ports": ports},
    }


def _service_account(app: Application, c: Component) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(app, c.name, c.name),
    }


def expand(app: Application) -> Expansion:
    objects: list[dict[str, Any]] = []
    units: list[Unit] = []
    owners: dict[int, int] = {}
    for c in app.components:
        ups = upstreams(app, c)
        made = [_service_account(app, c)]
        service = _service(app, c) if c.ports else None
        per_version: list[dict[str, Any]] = []
        if service is not None:
            made.append(service)
            per_version = _version_services(app, c, service)
            made += per_version
        for i, v in enumerate(c.versions):
            workload = _workload(app, c, v, ups)
            made.append(workload)
            units.append(Unit(c, v, workload, service, ups, per_version[i] if per_version else None))
        objects += made
        owners.update((id(obj), c.index) for obj in made)
    return Expansion(objects, units, owners)
