"""Where each workload keeps its pod template and its selector. Knows nothing about meshes.

Which kinds are workloads is data (meshform.model.workload_kinds): Kubernetes' own, the built-in
extensions, and those a config declares; every function here takes that table (`kinds`), the
built-in one by default.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshform.model.workload_kinds import BUILTIN, WorkloadKinds

Path = tuple[str | int, ...]


def _at(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def pod_template(doc: Any, kinds: WorkloadKinds = BUILTIN) -> dict[str, Any] | None:
    """The pod template (for a Pod: the Pod itself) of a workload, or None for any other object."""
    entry = kinds.of(doc)
    if entry is None:
        return None
    node = _at(doc, entry.template)
    if not isinstance(node, dict) or not isinstance(node.get("spec"), dict):
        return None
    return node


def template_path(doc: Any, kinds: WorkloadKinds = BUILTIN) -> tuple[str, ...]:
    """The path to the workload's pod template (`()` for a Pod or for an object that is none)."""
    entry = kinds.of(doc)
    return entry.template if entry is not None else ()


def job_template(doc: Any) -> dict[str, Any] | None:
    """A CronJob's spec.jobTemplate (its metadata is the Jobs'; `istioctl kube-inject` reads and
    writes the pod's metadata there), None for any other object."""
    if not isinstance(doc, dict) or doc.get("kind") != "CronJob" or not isinstance(doc.get("spec"), dict):
        return None
    job = doc["spec"].get("jobTemplate")
    return job if isinstance(job, dict) and isinstance(job.get("spec"), dict) else None


def selector_keys(doc: Any, kinds: WorkloadKinds = BUILTIN) -> frozenset[str]:
    """Label keys the workload's own selector mentions (matchLabels, matchExpressions, or a plain map):
    its pod template must keep them exactly as they are, or the workload no longer matches its pods.
    (A ReplicationController's selector is a plain map, the rest are LabelSelectors.)"""
    entry = kinds.of(doc)
    where = entry.selector if entry is not None else None
    node = _at(doc, where) if where else None
    if not isinstance(node, dict):
        return frozenset()
    if entry is not None and (entry.group, entry.kind) == ("", "ReplicationController"):
        return frozenset(str(k) for k in node)
    keys = (
        {str(k) for k in node.get("matchLabels") or {}}
        if isinstance(node.get("matchLabels"), dict)
        else set()
    )
    for expression in node.get("matchExpressions") or []:
        if isinstance(expression, dict) and "key" in expression:
            keys.add(str(expression["key"]))
    return frozenset(keys)


# How deep a pod template may sit in an object meshform does not know (a CronJob's is 4 keys down;
# operators nest theirs deeper): deep enough for any CRD seen, bounded so the walk stays cheap.
SEARCH_DEPTH = 8


def find_pod_template(obj: Any) -> Path | None:
    """The path of the first pod template (a mapping whose `spec` holds a list of containers, one of
    them with an image) below an object's root, breadth first, or None. A CRD's schema (`containers`
    described under `properties`) is not one."""
    frontier: list[tuple[Any, Path]] = [(obj, ())]
    for _ in range(SEARCH_DEPTH):
        following: list[tuple[Any, Path]] = []
        for node, path in frontier:
            items: Iterator[tuple[str | int, Any]]
            if isinstance(node, dict):
                spec = node.get("spec")
                if path and isinstance(spec, dict) and _has_containers(spec):
                    return path
                items = ((str(k), v) for k, v in node.items())
            elif isinstance(node, list):
                items = enumerate(node)
            else:
                continue
            following += ((v, (*path, k)) for k, v in items if isinstance(v, dict | list))
        frontier = following
    return None


def _has_containers(spec: dict[str, Any]) -> bool:
    containers = spec.get("containers")
    return isinstance(containers, list) and any(isinstance(c, dict) and "image" in c for c in containers)


def pod_owner(doc: Any) -> dict[str, Any]:
    """A bare Pod's generateName and ownerReferences (the mapping ones), as EnrollContext keyword
    arguments ({} for any other workload: its pod template carries neither)."""
    if not isinstance(doc, dict) or doc.get("kind") != "Pod" or not isinstance(doc.get("metadata"), dict):
        return {}
    meta = doc["metadata"]
    refs = meta.get("ownerReferences")
    return {
        "generate_name": str(meta.get("generateName") or ""),
        "owner_references": tuple(r for r in refs if isinstance(r, dict)) if isinstance(refs, list) else (),
    }
