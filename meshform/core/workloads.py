"""Where each workload kind keeps its pod template. Knows nothing about meshes."""

from __future__ import annotations

from typing import Any

TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def pod_template(doc: Any) -> dict[str, Any] | None:
    """The pod template (for a Pod: the Pod itself) of a workload, or None for any other object."""
    if not isinstance(doc, dict) or doc.get("kind") not in TEMPLATE_PATHS:
        return None
    node: Any = doc
    for key in TEMPLATE_PATHS[doc["kind"]]:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict) or not isinstance(node.get("spec"), dict):
        return None
    return node
