"""Namespace precedence traps, checked offline where the Namespace is part of the input.

A Namespace's keys can override or fight a workload's enrollment: `istio-injection=disabled` beats any
pod label, a namespace revision beats a pod revision, Linkerd's admission-webhooks=disabled removes the
namespace from its webhook, Kuma ignores pods of an unlabelled namespace, two meshes enrolling one
namespace inject twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from meshform import status
from meshform.diagnostics import Diagnostic, Level
from meshform.modes import Registry
from meshform.modes.base import ModeFacts
from meshform.workloads import pod_template


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
            record = status.read(template) if template is not None else None
            if record is None or template is None:
                continue
            ns = str((item.obj.get("metadata") or {}).get("namespace", ""))
            yield from self._workload(item, template, str(record.get("mode")), ns, warned)

    def _double_enrollment(self, item: Located, registry: Registry) -> Iterator[Diagnostic]:
        name = str((item.obj.get("metadata") or {}).get("name", ""))
        modes = [f.name for f in self.enrolling(name, registry)]
        if set(modes) == {"istio", "istio-ambient"}:
            yield item.diagnostic(
                Level.WARNING,
                "MF601",
                f"namespace {name} enables both Istio sidecars and "
                "ambient: pods get sidecars (the sidecar wins)",
                "keep one of the two labels",
            )
        elif len(modes) > 1:
            yield item.diagnostic(
                Level.ERROR,
                "MF601",
                f"namespace {name} is enrolled in {' and '.join(modes)}: pods would get two meshes",
                "keep one mesh's namespace key",
            )

    def _workload(
        self, item: Located, template: dict[str, Any], mode: str, ns: str, warned: set[tuple[str, str]]
    ) -> Iterator[Diagnostic]:
        labels, _ = self._keys(ns)
        pod_labels = (template.get("metadata") or {}).get("labels") or {}
        known = ns in self.namespaces
        if mode == "istio" and labels.get("istio-injection") == "disabled":
            yield item.diagnostic(
                Level.ERROR,
                "MF602",
                f"namespace {ns} has istio-injection=disabled, which "
                "beats the pod's label: no sidecar will be injected",
                "set istio-injection=enabled (or remove it) on the namespace",
            )
        if (
            mode == "istio"
            and "istio.io/rev" in labels
            and pod_labels.get("istio.io/rev") not in (None, labels["istio.io/rev"])
        ):
            yield item.diagnostic(
                Level.WARNING,
                "MF604",
                f"namespace {ns} revision {labels['istio.io/rev']} "
                f"overrides the pod's revision {pod_labels['istio.io/rev']}",
                "use one revision, or drop the namespace label",
            )
        if mode == "linkerd" and labels.get("config.linkerd.io/admission-webhooks") == "disabled":
            yield item.diagnostic(
                Level.ERROR,
                "MF603",
                f"namespace {ns} is excluded from Linkerd's webhook "
                "(config.linkerd.io/admission-webhooks=disabled)",
                "remove that namespace label",
            )
        if (
            mode == "kuma"
            and labels.get("kuma.io/sidecar-injection") != "enabled"
            and (ns, mode) not in warned
        ):
            warned.add((ns, mode))
            where = f"namespace {ns or '(unset)'}" + ("" if known else " (not in the input)")
            yield item.diagnostic(
                Level.WARNING,
                "MF404",
                f"Kuma injects only in labelled namespaces; {where} needs kuma.io/sidecar-injection=enabled",
                "label the namespace",
            )
