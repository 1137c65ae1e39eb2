"""Kubernetes label selectors, evaluated as the apiserver evaluates a webhook's namespaceSelector and
objectSelector, so verify can say *which* webhook a pod in a namespace will meet, and why not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEACTIVATED = "istio.io/deactivated"  # Istio parks a webhook with `istio.io/deactivated: never-match`


def matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """A missing or empty selector matches everything; every term must hold."""
    if not isinstance(selector, dict):
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression(e, labels) for e in selector.get("matchExpressions") or [])


def _expression(expr: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False  # an operator this code does not know: assume the webhook does not match


def never_matches(selector: Any) -> bool:
    """Istio's deactivated webhooks carry `istio.io/deactivated` in a selector (matchLabels or In)."""
    if not isinstance(selector, dict):
        return False
    if DEACTIVATED in (selector.get("matchLabels") or {}):
        return True
    return any(e.get("key") == DEACTIVATED for e in selector.get("matchExpressions") or [])
