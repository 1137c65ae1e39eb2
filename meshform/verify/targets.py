"""What to verify: every workload whose pod template a governance mode owns, with its namespace.

An application model is rendered first (as `meshform render` would); manifests are read as they are.
A workload's mode is the one in its `meshform.dev/status` record; without one, `--mode` for plain
manifests, and kubernetes-native for a rendered application (that mode adds nothing, so no record).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from meshform.core import shapes, status
from meshform.core.workloads import pod_template
from meshform.diagnostics import Level, MeshformError, has_errors
from meshform.modes import Registry
from meshform.yamlio.reader import read_text
from meshform.yamlio.streams import expand_paths, load_text

NATIVE = "kubernetes-native"


@dataclass(frozen=True)
class Target:
    kind: str
    name: str
    namespace: str
    mode: str  # a registry name
    template: dict[str, Any]  # a private copy of the pod template
    source: str  # file:line

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Inputs:
    targets: tuple[Target, ...]
    skipped: tuple[str, ...] = ()  # workloads without a mode to verify
    namespaces: frozenset[str] = field(default_factory=frozenset)  # Namespaces the input creates
    service_accounts: frozenset[str] = field(default_factory=frozenset)  # "ns/name" the input creates


def _is_app(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and data.get("kind") == "Application"
        and str(data.get("apiVersion", "")).startswith("meshform.dev/")
    )


def _objects(
    text: str, name: str, registry: Registry, mode: str | None, enforcement: str | None
) -> tuple[list[tuple[Any, str]], bool]:
    """(object, file:line) pairs, and whether they came from an application model."""
    chunks = load_text(text, name)
    if not any(_is_app(c.data) for c in chunks):
        items, misshapen = shapes.checked(i for c in chunks for i in c.items)
        if misshapen:
            raise MeshformError(misshapen)
        return [(i.obj, f"{i.file}:{i.line}") for i in items], False
    from meshform.core.govern import GovernOptions
    from meshform.frontends.render import render_documents
    from meshform.yamlio.reader import load_documents

    opts = GovernOptions(mode, policy_enforcement=enforcement)
    result = render_documents(load_documents(text, name), registry, opts)
    if not result.ok:
        raise MeshformError(result.diagnostics)
    return [(obj, name) for obj in result.objects], True


def _mode_of(template: dict[str, Any], registry: Registry, fallback: str | None) -> str | None:
    name = status.recorded_mode(template) or fallback
    mode = registry.resolve(name) if name else None
    return mode.facts.name if mode is not None else None


def load(
    paths: Iterable[str],
    registry: Registry,
    mode: str | None,
    default_namespace: str,
    enforcement: str | None = None,
) -> Inputs:
    targets, skipped, namespaces, accounts = [], [], set(), set()
    files, walked = expand_paths(list(paths) or ["-"])
    if has_errors(walked):
        raise MeshformError([d for d in walked if d.level is Level.ERROR])
    for path in files:
        text, name = read_text(path)
        objects, rendered = _objects(text, name, registry, mode, enforcement)
        for obj, source in objects:
            meta = obj.get("metadata") or {}
            if obj.get("kind") == "Namespace":
                namespaces.add(str(meta.get("name", "")))
            if obj.get("kind") == "ServiceAccount":
                accounts.add(f"{meta.get('namespace') or default_namespace}/{meta.get('name', '')}")
            template = pod_template(obj)
            if template is None:
                continue
            found = _mode_of(template, registry, NATIVE if rendered else mode)
            ref = f"{obj['kind']}/{meta.get('namespace') or default_namespace}/{meta.get('name', '?')}"
            if found is None:
                skipped.append(ref)
                continue
            ns = str(meta.get("namespace") or default_namespace)
            targets.append(
                Target(obj["kind"], str(meta.get("name", "")), ns, found, copy.deepcopy(template), source)
            )
    return Inputs(tuple(targets), tuple(skipped), frozenset(namespaces), frozenset(accounts))
