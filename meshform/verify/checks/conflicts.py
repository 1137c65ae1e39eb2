"""Namespace conflicts in the live cluster: the same precedence rules `transform` applies offline
(meshform.core.namespaces), run against the Namespaces as the cluster has them."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from meshform.core import status
from meshform.core.namespaces import NamespaceIndex
from meshform.diagnostics import Diagnostic, Level
from meshform.modes import Registry
from meshform.verify.cluster import ClusterView, labels_of
from meshform.verify.results import Check, Status, ok, unavailable
from meshform.verify.targets import Target

GROUP = "namespaces"
REASONS = {
    "MF601": "two-meshes",
    "MF602": "injection-disabled",
    "MF603": "webhook-excluded",
    "MF604": "revision-overridden",
    "MF605": "injection-beats-revision",
    "MF606": "namespace-excluded",
    "MF607": "other-mesh",
    "MF608": "pod-other-mesh",
    "MF404": "namespace-label-missing",
}


@dataclass  # not frozen: meshform.core.namespaces.Located declares plain (settable) attributes
class _Located:
    """A live object, or a target shown as the governed workload it is, for the offline checker."""

    obj: Any
    file: str  # the resource, Kind/[namespace/]name: reports show it instead of a file
    line: int = 0

    def diagnostic(self, level: Level, code: str, message: str, hint: str = "") -> Diagnostic:
        return Diagnostic(self.file, self.line, 0, level, code, message, hint=hint)


def _as_workload(target: Target) -> _Located:
    # The offline rules read the mode from meshform's status record; a target verified with --mode (or
    # kubernetes-native) has none, so give the copy a minimal one.
    template = json.loads(json.dumps(target.template))
    meta = template.setdefault("metadata", {})
    if status.recorded_mode(template) is None:
        meta.setdefault("annotations", {})[status.STATUS] = json.dumps({"mode": target.mode})
    obj = {
        "kind": "Pod",
        "metadata": {**meta, "namespace": target.namespace, "name": target.name},
        "spec": template["spec"],
    }
    return _Located(obj, target.ref)


def _live(view: ClusterView, targets: Sequence[Target]) -> tuple[list[dict[str, Any]], list[Check]]:
    live, problems = [], []
    for name in sorted({t.namespace for t in targets}):
        answer = view.namespace(name)
        if answer.ok:
            live.append({"apiVersion": "v1", "kind": "Namespace", **answer.data})
        else:
            fix = f"kubectl create namespace {name}"
            problems.append(unavailable(GROUP, answer, f"Namespace {name}", fix, f"Namespace/{name}"))
    return live, problems


def _namespace_of(resource: str) -> str:
    """`Namespace/<name>` or `<Kind>/<namespace>/<name>` → the namespace."""
    parts = resource.split("/")
    return parts[1] if len(parts) > 1 else ""


def check(view: ClusterView, registry: Registry, targets: Sequence[Target]) -> Iterator[Check]:
    live, problems = _live(view, targets)
    yield from problems
    items = [_Located(ns, f"Namespace/{ns['metadata']['name']}") for ns in live]
    found = list(NamespaceIndex.build(live).conflicts(items + [_as_workload(t) for t in targets], registry))
    for d in sorted(found, key=lambda d: (d.file, d.message)):
        level = Status.FAILED if d.level is Level.ERROR else Status.WARNING
        yield Check(GROUP, level, d.message, d.fix, REASONS.get(d.code, d.code), d.file)
    flagged = {_namespace_of(d.file) for d in found}
    for ns in live:
        name = ns["metadata"]["name"]
        if name not in flagged:
            keys = ", ".join(
                f"{k}={v}" for k, v in sorted(labels_of(ns).items()) if "kubernetes.io/" not in k
            )
            yield ok(
                GROUP,
                f"namespace {name}: no conflicting mesh keys ({keys or 'no labels'})",
                f"Namespace/{name}",
            )
