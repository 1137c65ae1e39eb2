"""`meshform graph`: an application as a picture — components, dependencies, versions with their
weights, each component's mode and its traffic policy — in Graphviz DOT, Mermaid, SVG (DOT through
Graphviz's `dot`, when installed) or JSON.

The application is rendered first, exactly as `render` would (an invalid model is refused with its
diagnostics, nothing drawn), so the picture shows the modes and policy objects `render` produces.
The picture is built once as frozen records (`AppGraph`) and only then written in a notation.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from meshform.core.govern import GovernOptions
from meshform.core.provenance import MANAGED_BY, NAME
from meshform.diagnostics import Diagnostic, Level, MeshformError
from meshform.frontends.render import render_documents
from meshform.model import application as model
from meshform.model.semantics import effective_mode, options_for
from meshform.model.workload_kinds import BUILTIN
from meshform.modes import Registry
from meshform.policy.records import EDGE_OVERRIDES, SPLIT
from meshform.yamlio.reader import load_documents, read_text

FORMATS = ("dot", "mermaid", "svg", "json")
_PLUMBING = frozenset({"Service", "ServiceAccount", "Namespace", "ConfigMap", *BUILTIN.names})
# One fill per built-in mode, so the modes of a mixed application tell apart at a glance.
_FILL = {
    "kubernetes-native": "#eeeeee",
    "builtin": "#fde2c8",
    "istio": "#d6e6ff",
    "istio-ambient": "#d8f3f5",
    "linkerd": "#dff5d8",
    "kuma": "#efdcff",
    "consul": "#ffd9df",
}
_OTHER_FILL = "#fff6c8"  # user-defined modes


@dataclass(frozen=True)
class VersionNode:
    name: str
    workload: str  # the workload rendered for it (<component>-<version>)
    weight: int | None  # percent of the component's traffic; None without a split


@dataclass(frozen=True)
class ComponentNode:
    name: str
    workload: str  # Deployment, StatefulSet, ...
    mode: str
    ports: tuple[str, ...]  # "http:9080"
    policy: tuple[str, ...]  # features declared (FEATURES names)
    not_enforced: tuple[str, ...]  # the declared features the component's mode cannot carry
    objects: tuple[str, ...]  # traffic-policy objects render emits for it, "Kind/name"
    versions: tuple[VersionNode, ...]


@dataclass(frozen=True)
class Dependency:
    caller: str
    provider: str
    port: str  # "" when the provider's first port
    policy: tuple[str, ...]  # this caller's own overrides (dependencies[].traffic)


@dataclass(frozen=True)
class AppGraph:
    name: str
    namespace: str
    components: tuple[ComponentNode, ...]
    dependencies: tuple[Dependency, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "components": [
                {
                    "name": c.name,
                    "workload": c.workload,
                    "mode": c.mode,
                    "ports": list(c.ports),
                    "policy": list(c.policy),
                    "notEnforced": list(c.not_enforced),
                    "objects": list(c.objects),
                    "versions": [
                        {"name": v.name, "workload": v.workload, "weight": v.weight} for v in c.versions
                    ],
                }
                for c in self.components
            ],
            "dependencies": [
                {"caller": d.caller, "provider": d.provider, "port": d.port, "policy": list(d.policy)}
                for d in self.dependencies
            ],
        }


# ------------------------------------------------------------------------------------------ building


def load(path: str, registry: Registry, opts: GovernOptions) -> tuple[list[AppGraph], list[Diagnostic]]:
    """The graphs of every Application in the file, and render's diagnostics; no graph when render
    would refuse the file."""
    try:
        text, name = read_text(path)
        docs = load_documents(text, name)
    except MeshformError as exc:
        return [], exc.diagnostics
    result = render_documents(docs, registry, opts)
    if not result.ok:
        return [], result.diagnostics
    apps = [
        model.build(d.data) for d in docs if isinstance(d.data, dict) and d.data.get("kind") == "Application"
    ]
    return [_graph(app, registry, opts, result.objects) for app in apps], result.diagnostics


def _graph(app: model.Application, registry: Registry, opts: GovernOptions, objects: list[Any]) -> AppGraph:
    by_component: dict[str, list[str]] = {}
    for obj in objects:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        ours = labels.get(MANAGED_BY) == "meshform" and meta.get("namespace") == app.namespace
        if ours and obj.get("kind") not in _PLUMBING:
            by_component.setdefault(str(labels.get(NAME)), []).append(f"{obj['kind']}/{meta.get('name')}")
    components = tuple(
        _component(app, c, registry, opts, by_component.get(c.name, [])) for c in app.components
    )
    dependencies = tuple(
        Dependency(c.name, d.name, "" if d.port is None else str(d.port), d.traffic.features())
        for c in app.components
        for d in c.dependencies
    )
    return AppGraph(app.name, app.namespace, components, dependencies)


def _component(
    app: model.Application, c: model.Component, registry: Registry, opts: GovernOptions, objects: list[str]
) -> ComponentNode:
    mode = registry.resolve(effective_mode(app, c, opts.mode))
    assert mode is not None, "render refuses an unknown mode before a graph is built"
    options = options_for(app, mode)
    declared = c.policy.features()
    lost = tuple(f for f in declared if not mode.facts.supports(f, options))
    versions = (
        tuple(VersionNode(v.name, f"{c.name}-{v.name}", v.weight) for v in c.versions)
        if c.explicit_versions
        else ()
    )
    return ComponentNode(
        name=c.name,
        workload=c.workload,
        mode=mode.facts.name,
        ports=tuple(f"{p.name}:{p.port}" for p in c.ports),
        policy=tuple(f for f in declared if f not in (SPLIT, EDGE_OVERRIDES)),
        not_enforced=lost,
        objects=tuple(sorted(objects)),
        versions=versions,
    )


# ------------------------------------------------------------------------------------------ notations


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _label_lines(c: ComponentNode) -> list[str]:
    lines = [c.name, f"{c.workload} · {c.mode}"]
    if c.ports:
        lines.append(", ".join(c.ports))
    if c.policy:
        lines.append("policy: " + ", ".join(c.policy))
    if c.not_enforced:
        lines.append(f"not enforced by {c.mode}: " + ", ".join(c.not_enforced))
    if c.objects:
        lines.append(", ".join(o.partition("/")[0] for o in c.objects))
    return lines


def _version_label(c: ComponentNode, v: VersionNode) -> str:
    return f"{v.workload}\n{v.name}" + ("" if v.weight is None else f" · {v.weight}%")


def _edge_label(d: Dependency) -> str:
    parts = [f"port {d.port}"] if d.port else []
    parts += d.policy
    return ", ".join(parts)


def to_dot(graphs: Iterable[AppGraph]) -> str:
    """One digraph; a cluster per application, a node per component (filled by its mode), a
    version node per workload of a split with its weight, an edge per dependency."""
    out = [
        "digraph meshform {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    ]
    out.append('  edge [fontname="Helvetica", fontsize=10];')
    for i, g in enumerate(graphs):
        out.append(f"  subgraph cluster_{i} {{")
        out.append(f"    label={_dot_string(f'{g.name} (namespace {g.namespace})')};")
        for c in g.components:
            fill = _FILL.get(c.mode, _OTHER_FILL)
            label = _dot_string("\n".join(_label_lines(c)))
            out.append(f'    {_dot_string(_node_id(g, c.name))} [label={label}, fillcolor="{fill}"];')
            for v in c.versions:
                vid = _dot_string(_node_id(g, v.workload, version=True))
                vlabel = _dot_string(_version_label(c, v))
                out.append(f'    {vid} [label={vlabel}, fillcolor="{fill}", shape=ellipse];')
                weight = "" if v.weight is None else f", label={_dot_string(f'{v.weight}%')}"
                out.append(
                    f"    {_dot_string(_node_id(g, c.name))} -> {vid} [style=dashed, arrowhead=none{weight}];"
                )
        for d in g.dependencies:
            label = _edge_label(d)
            attrs = f" [label={_dot_string(label)}]" if label else ""
            out.append(
                f"    {_dot_string(_node_id(g, d.caller))} -> {_dot_string(_node_id(g, d.provider))}{attrs};"
            )
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def _node_id(g: AppGraph, name: str, version: bool = False) -> str:
    return f"{g.namespace}/{g.name}/{'version/' if version else ''}{name}"


_MERMAID_UNSAFE = re.compile(r'["#<>`]')


def _mermaid_text(text: str) -> str:
    """A quoted Mermaid label: entity codes for what would end the quotes or start markup."""
    escaped = _MERMAID_UNSAFE.sub(lambda m: f"#{ord(m.group())};", text)
    return '"' + escaped.replace("\n", "<br/>") + '"'


def to_mermaid(graphs: Iterable[AppGraph]) -> str:
    """A Mermaid flowchart: the same picture as to_dot (subgraph per application, classDef per mode)."""
    out = ["flowchart LR"]
    ids: dict[str, str] = {}
    used_modes: dict[str, str] = {}

    def node(key: str) -> str:
        return ids.setdefault(key, f"n{len(ids)}")

    for i, g in enumerate(graphs):
        out.append(f"  subgraph app{i}[{_mermaid_text(f'{g.name} (namespace {g.namespace})')}]")
        for c in g.components:
            cls = used_modes.setdefault(c.mode, f"mode{len(used_modes)}")
            cid = node(_node_id(g, c.name))
            out.append(f"    {cid}[{_mermaid_text(chr(10).join(_label_lines(c)))}]:::{cls}")
            for v in c.versions:
                vid = node(_node_id(g, v.workload, version=True))
                out.append(f"    {vid}([{_mermaid_text(_version_label(c, v))}]):::{cls}")
                out.append(
                    f"    {cid} -.-"
                    + (f"|{_mermaid_text(f'{v.weight}%')}|" if v.weight is not None else "")
                    + f" {vid}"
                )
        for d in g.dependencies:
            label = _edge_label(d)
            arrow = f"-->|{_mermaid_text(label)}|" if label else "-->"
            out.append(f"    {node(_node_id(g, d.caller))} {arrow} {node(_node_id(g, d.provider))}")
        out.append("  end")
    for mode, cls in used_modes.items():
        out.append(f"  classDef {cls} fill:{_FILL.get(mode, _OTHER_FILL)},stroke:#555")
    return "\n".join(out) + "\n"


def to_json(graphs: Iterable[AppGraph]) -> str:
    return json.dumps({"applications": [g.to_json() for g in graphs]}, indent=2, ensure_ascii=False) + "\n"


def to_svg(graphs: Iterable[AppGraph]) -> str:
    """The DOT drawn by Graphviz's `dot`. MF960 when it is not installed, MF961 when it fails."""
    dot = shutil.which("dot")
    if dot is None:
        raise MeshformError(
            [
                Diagnostic(
                    "<command line>",
                    0,
                    0,
                    Level.ERROR,
                    "MF960",
                    "SVG needs Graphviz's `dot`, which is not on PATH",
                )
            ]
        )
    proc = subprocess.run(
        [dot, "-Tsvg"], input=to_dot(graphs), capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        message = f"Graphviz `dot` failed (exit {proc.returncode}): {proc.stderr.strip()[:400]}"
        raise MeshformError([Diagnostic("<command line>", 0, 0, Level.ERROR, "MF961", message)])
    return proc.stdout
