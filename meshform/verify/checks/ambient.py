"""Istio ambient: ztunnel and istio-cni-node on every node, and istiod with ambient switched on.

No sidecar is injected; the CNI marks pods at runtime, so the dry run can only prove that no sidecar
takes the pod away from ambient ("the sidecar wins").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from meshform.verify.checks.base import first_ready, named_anywhere
from meshform.verify.cluster import ClusterView, items
from meshform.verify.results import Check, ok, warn
from meshform.verify.targets import Target

INSTALL_FIX = "install Istio with the ambient profile (istioctl install --set profile=ambient)"


class AmbientCheck:
    def check(self, view: ClusterView, group: str, targets: Sequence[Target]) -> Iterator[Check]:
        for name in ("ztunnel", "istio-cni-node"):
            yield first_ready(
                group, named_anywhere(view, "apps/v1", "DaemonSet", name), f"DaemonSet {name}", INSTALL_FIX
            )
        istiod = items(named_anywhere(view, "apps/v1", "Deployment", "istiod"))
        if not istiod:
            return
        env = {
            e.get("name"): e.get("value")
            for c in (istiod[0].get("spec") or {}).get("template", {}).get("spec", {}).get("containers") or []
            for e in c.get("env") or []
        }
        if env.get("PILOT_ENABLE_AMBIENT") == "true":
            yield ok(group, "istiod runs with PILOT_ENABLE_AMBIENT=true")
        else:
            yield warn(
                group,
                "istiod does not set PILOT_ENABLE_AMBIENT=true: ambient may be off",
                INSTALL_FIX,
                "ambient-off",
            )
