"""The application model as frozen records, built once at the edge from schema-valid data."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from meshform.modes.base import Port
from meshform.policy.records import ComponentPolicy, Traffic, VersionWeight, traffic_from_json

_EMPTY: MappingProxyType[str, Any] = MappingProxyType({})


def _frozen(mapping: dict[str, Any] | None) -> MappingProxyType[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def env_string(value: object) -> str:
    """Env values are strings to Kubernetes; numbers and booleans are written the YAML way."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Dependency:
    name: str
    port: int | str | None
    index: int  # position in the component's list, for locating diagnostics
    traffic: Traffic = field(default_factory=Traffic)  # this edge's override of the provider's traffic


@dataclass(frozen=True)
class Version:
    name: str
    image: str
    replicas: int | None
    env: MappingProxyType[str, str]
    labels: MappingProxyType[str, str]
    annotations: MappingProxyType[str, str]
    weight: int | None = None  # percent of the component's traffic (traffic split)


@dataclass(frozen=True)
class Component:
    name: str
    index: int
    image: str
    workload: str
    schedule: str | None
    replicas: int | None
    versions: tuple[Version, ...]
    explicit_versions: bool  # `versions:` given: workloads are named <component>-<version>
    ports: tuple[Port, ...]
    env: MappingProxyType[str, str]
    command: tuple[str, ...]
    args: tuple[str, ...]
    resources: MappingProxyType[str, Any]
    probes: MappingProxyType[str, Any]
    labels: MappingProxyType[str, str]
    annotations: MappingProxyType[str, str]
    host_network: bool
    dependencies: tuple[Dependency, ...]
    mode: str | None
    enrollment: str | None
    traffic: Traffic = field(default_factory=Traffic)
    authorization: str | None = None  # "dependents" | "all" | None

    @cached_property
    def policy(self) -> ComponentPolicy:
        """The component's declared traffic policy, mesh-neutral (edges keyed by dependency name)."""
        weights = tuple(VersionWeight(v.name, v.weight) for v in self.versions if v.weight is not None)
        edges = {d.name: d.traffic for d in self.dependencies if not d.traffic.is_empty()}
        return ComponentPolicy(self.traffic, self.authorization, weights, MappingProxyType(edges))


@dataclass(frozen=True)
class Application:
    name: str
    namespace: str
    labels: MappingProxyType[str, str]
    annotations: MappingProxyType[str, str]
    mode: str
    enrollment: str | None
    owns_namespace: bool
    cluster_domain: str
    mode_options: MappingProxyType[str, Any]
    components: tuple[Component, ...] = field(default_factory=tuple)
    policy_enforcement: str = "strict"  # "strict" | "best-effort"

    @cached_property
    def _by_name(self) -> dict[str, Component]:
        by_name: dict[str, Component] = {}
        for c in self.components:
            by_name.setdefault(c.name, c)  # the first of duplicates, as validation reports the later ones
        return by_name

    def component(self, name: str) -> Component | None:
        return self._by_name.get(name)


def _versions(raw: dict[str, Any]) -> tuple[Version, ...]:
    listed = raw.get("versions") or [{"name": raw.get("version", "v1")}]
    return tuple(
        Version(
            name=v["name"],
            image=v.get("image", raw["image"]),
            replicas=v.get("replicas", raw.get("replicas")),
            env=_frozen({k: env_string(x) for k, x in (v.get("env") or {}).items()}),
            labels=_frozen(v.get("labels")),
            annotations=_frozen(v.get("annotations")),
            weight=v.get("weight"),
        )
        for v in listed
    )


def _dependency(raw: Any, index: int) -> Dependency:
    if isinstance(raw, str):
        return Dependency(raw, None, index)
    return Dependency(raw["name"], raw.get("port"), index, traffic_from_json(raw.get("traffic")))


def _component(raw: dict[str, Any], index: int) -> Component:
    probes: dict[str, Any] = {
        k: raw[k] for k in ("readinessProbe", "livenessProbe", "startupProbe") if k in raw
    }
    return Component(
        name=raw["name"],
        index=index,
        image=raw["image"],
        workload=raw.get("workload", "Deployment"),
        schedule=raw.get("schedule"),
        replicas=raw.get("replicas"),
        versions=_versions(raw),
        explicit_versions="versions" in raw,
        ports=tuple(Port(p["name"], p["port"], p.get("protocol", "http")) for p in raw.get("ports", [])),
        env=_frozen({k: env_string(v) for k, v in (raw.get("env") or {}).items()}),
        command=tuple(raw.get("command", ())),
        args=tuple(raw.get("args", ())),
        resources=_frozen(raw.get("resources")),
        probes=_frozen(probes),
        labels=_frozen(raw.get("labels")),
        annotations=_frozen(raw.get("annotations")),
        host_network=bool(raw.get("hostNetwork", False)),
        dependencies=tuple(_dependency(d, i) for i, d in enumerate(raw.get("dependencies", []))),
        mode=raw.get("governanceMode"),
        enrollment=raw.get("enrollment"),
        traffic=traffic_from_json(raw.get("traffic")),
        authorization=(raw.get("authorization") or {}).get("allow"),
    )


def build(data: dict[str, Any]) -> Application:
    """Schema-valid data → Application. Call only after schema validation passed."""
    meta, spec = data["metadata"], data["spec"]
    return Application(
        name=meta["name"],
        namespace=meta.get("namespace", "default"),
        labels=_frozen(meta.get("labels")),
        annotations=_frozen(meta.get("annotations")),
        mode=spec.get("governanceMode", "kubernetes-native"),
        enrollment=spec.get("enrollment"),
        owns_namespace=bool(spec.get("ownsNamespace", False)),
        cluster_domain=spec.get("clusterDomain", "cluster.local"),
        mode_options=_frozen(spec.get("modeOptions")),
        components=tuple(_component(c, i) for i, c in enumerate(spec["components"])),
        policy_enforcement=spec.get("policyEnforcement", "strict"),
    )


def port_of(component: Component, ref: int | str | None) -> Port | None:
    """The component port a dependency means: by name, by number, or the first one."""
    if ref is None:
        return component.ports[0] if component.ports else None
    return next((p for p in component.ports if ref in (p.name, p.port)), None)
