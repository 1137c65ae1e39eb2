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


# A selector sits next to its pod template (a ReplicationController's is a plain map, the rest are
# LabelSelectors); a Pod has none.
SELECTOR_PATHS: dict[str, tuple[str, ...]] = {
    k: (*p[:-1], "selector") for k, p in TEMPLATE_PATHS.items() if p
}


def selector_keys(doc: Any) -> frozenset[str]:
    """Label keys the workload's own selector mentions (matchLabels, matchExpressions, or a plain map):
    its pod template must keep them exactly as they are, or the workload no longer matches its pods."""
    if not isinstance(doc, dict) or doc.get("kind") not in SELECTOR_PATHS:
        return frozenset()
    node: Any = doc
    for key in SELECTOR_PATHS[doc["kind"]]:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return frozenset()
    if doc["kind"] == "ReplicationController":
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
