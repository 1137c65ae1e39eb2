"""Version skew: a sidecar pre-injected into the manifests (istioctl kube-inject, linkerd inject
--manual) against the version of the control plane running now, where the cluster lets us read it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from meshform.verify.checks.istio import INJECTOR_LABEL, active_hooks
from meshform.verify.cluster import ClusterView, annotations_of, items, labels_of
from meshform.verify.results import Check, ok, warn
from meshform.verify.targets import Target

GROUP = "version skew"
_VERSION = re.compile(r"(?:(stable|edge)-)?v?(\d+)\.(\d+)(?:\.(\d+))?")


def _tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1].split("@")[0] if ":" in last else ""


def _container(template: dict[str, Any], name: str) -> dict[str, Any] | None:
    spec = template.get("spec") or {}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if c.get("name") == name:
            return dict(c)
    return None


def _istio_control(view: ClusterView, template: dict[str, Any]) -> str:
    raw = annotations_of(template).get("sidecar.istio.io/status") or "{}"
    try:
        rev = str(json.loads(str(raw)).get("revision") or "")
    except (ValueError, AttributeError, RecursionError):
        rev = ""
    rev = rev or str(labels_of(template).get("istio.io/rev") or "default")
    hooks, _ = active_hooks(items(view.webhooks(INJECTOR_LABEL)))
    for hook in hooks:
        svc = (hook.spec.get("clientConfig") or {}).get("service") or {}
        if hook.serves(rev) and svc:
            dep = view.get("apps/v1", "Deployment", str(svc.get("name")), str(svc.get("namespace")))
            containers = (
                ((dep.data or {}).get("spec") or {}).get("template", {}).get("spec", {}).get("containers")
                if dep.ok
                else None
            )
            return _tag(str((containers or [{}])[0].get("image", "")))
    return ""


def _linkerd_control(view: ClusterView, template: dict[str, Any]) -> str:
    import yaml

    answer = view.get("v1", "ConfigMap", "linkerd-config", "linkerd")
    values = ((answer.data or {}).get("data") or {}).get("values", "") if answer.ok else ""
    try:
        parsed = yaml.safe_load(values) if values else {}
    except yaml.YAMLError:
        return ""
    return str((parsed or {}).get("linkerdVersion") or "") if isinstance(parsed, dict) else ""


# mode → (proxy container, how to read the running control plane's version)
READERS: dict[str, tuple[str, Callable[[ClusterView, dict[str, Any]], str]]] = {
    "istio": ("istio-proxy", _istio_control),
    "linkerd": ("linkerd-proxy", _linkerd_control),
}


def _minor(version: str) -> tuple[str, int, int] | None:
    found = _VERSION.search(version)
    return (found.group(1) or "", int(found.group(2)), int(found.group(3))) if found else None


def check(view: ClusterView, targets: Sequence[Target]) -> Iterator[Check]:
    for target in targets:
        reader = READERS.get(target.mode)
        proxy = _container(target.template, reader[0]) if reader else None
        if reader is None or proxy is None:
            continue
        data_plane, control = _tag(str(proxy.get("image", ""))), reader[1](view, target.template)
        if not data_plane or not control:
            continue  # not readable: say nothing rather than guess
        if _minor(data_plane) == _minor(control):
            yield ok(
                GROUP,
                f"{target.ref}: pre-injected {reader[0]} {data_plane} matches the control plane ({control})",
                target.ref,
            )
        else:
            yield warn(
                GROUP,
                f"{target.ref}: pre-injected {reader[0]} {data_plane} differs from the control plane "
                f"({control})",
                "re-inject against the running control plane (meshform, or the mesh's inject command)",
                "skew",
                target.ref,
            )
