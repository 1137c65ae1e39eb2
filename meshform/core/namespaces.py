"""Namespace precedence traps, checked offline where the Namespace is part of the input.

A Namespace's keys can override or fight a workload's enrollment. Which keys, and what they do, are
each mode's facts (`ModeFacts.namespace_traps`, `namespace_overlaps`: e.g. Istio's
`istio-injection=disabled` beats any pod label); this module only applies them, the same way offline
and, through meshform.verify.checks.conflicts, on a live cluster. Two meshes enrolling one namespace
inject twice, unless one's data plane is documented to win.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from meshform.core import status
from meshform.core.workloads import pod_template
from meshform.diagnostics import Diagnostic, Level
from meshform.modes import Registry
from meshform.modes.base import ModeFacts


class Located(Protocol):
    obj: Any
    file: str
    line: int

    def diagnostic(self, level: Level, code: str, message: str, hint: str = "") -> Diagnostic: ...


@dataclass(frozen=True)
class NamespaceIndex:
    namespaces: dict[str, dict[str, Any]]  # name → metadata

    @classmethod
    def build(cls, objects: Iterable[Any]) -> NamespaceIndex:
        found = {}
        for obj in objects:
            if isinstance(obj, dict) and obj.get("kind") == "Namespace" and obj.get("apiVersion") == "v1":
                meta = obj.get("metadata") or {}
                found[str(meta.get("name", ""))] = meta
        return cls(found)

    def _keys(self, ns: str) -> tuple[dict[str, Any], dict[str, Any]]:
        meta = self.namespaces.get(ns) or {}
        return meta.get("labels") or {}, meta.get("annotations") or {}

    def enrolling(self, ns: str, registry: Registry) -> list[ModeFacts]:
        """Modes whose data plane this namespace injects into every pod that does not opt out."""
        if ns not in self.namespaces:
            return []
        labels, annotations = self._keys(ns)
        return [m.facts for m in registry.modes.values() if m.facts.enrolls_namespace(labels, annotations)]

    def conflicts(self, items: Iterable[Located], registry: Registry) -> Iterator[Diagnostic]:
        items = list(items)
        for item in items:
            if isinstance(item.obj, dict) and item.obj.get("kind") == "Namespace":
                yield from self._double_enrollment(item, registry)
        warned: set[tuple[str, str]] = set()
        for item in items:
            template = pod_template(item.obj)
            recorded = status.recorded_mode(template) if template is not None else None
            if recorded is None or template is None:
                continue
            mode = registry.modes.get(recorded)
            if mode is None:
                continue
            ns = str((item.obj.get("metadata") or {}).get("namespace", ""))
            yield from self._workload(item, template, mode.facts, ns, warned)

    def _double_enrollment(self, item: Located, registry: Registry) -> Iterator[Diagnostic]:
        name = str((item.obj.get("metadata") or {}).get("name", ""))
        enrolling = self.enrolling(name, registry)
        modes = [f.name for f in enrolling]
        overlap = _winner_note(enrolling)
        if overlap:
            yield item.diagnostic(
                Level.WARNING, "MF601", f"namespace {name} {overlap}", "keep one of the two labels"
            )
        elif len(modes) > 1:
            yield item.diagnostic(
                Level.ERROR,
                "MF601",
                f"namespace {name} is enrolled in {' and '.join(modes)}: pods would get two meshes",
                "keep one mesh's namespace key",
            )

    def _workload(
        self, item: Located, template: dict[str, Any], facts: ModeFacts, ns: str, warned: set[tuple[str, str]]
    ) -> Iterator[Diagnostic]:
        labels, _ = self._keys(ns)
        pod_labels = (template.get("metadata") or {}).get("labels") or {}
        known = ns in self.namespaces
        where = f"namespace {ns or '(unset)'}" + ("" if known else " (not in the input)")
        for trap in facts.namespace_traps:
            if (trap.needs_namespace and not known) or not trap.triggered(labels, pod_labels):
                continue
            if trap.once_per_namespace:
                if (ns, trap.code) in warned:
                    continue
                warned.add((ns, trap.code))
            values = {
                "ns": ns,
                "where": where,
                "value": labels.get(trap.key),
                "pod_value": pod_labels.get(trap.key),
            }
            yield item.diagnostic(trap.level, trap.code, trap.message.format(**values), trap.hint)


def _winner_note(enrolling: list[ModeFacts]) -> str:
    """When exactly two modes enroll a namespace and one's data plane is documented to win, what happens."""
    if len(enrolling) != 2:
        return ""
    a, b = enrolling
    return a.namespace_overlaps.get(b.name) or b.namespace_overlaps.get(a.name) or ""
