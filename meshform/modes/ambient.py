"""istio-ambient: ztunnel on every node carries the pod's traffic; no sidecar, no restart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from meshform.modes.base import EnrollContext, Enrollment, Finding, ModeFacts, excluded_namespaces
from meshform.modes.istio import ISTIO_IGNORED_NAMESPACES

FACTS = ModeFacts(
    name="istio-ambient",
    summary="Istio ambient mode: ztunnel redirects the pod's traffic, optional waypoint proxy",
    pod_labels={"istio.io/dataplane-mode": "ambient"},
    namespace_labels={"istio.io/dataplane-mode": "ambient"},
    opt_out_labels={"istio.io/dataplane-mode": "none"},
    restart_on_switch=False,
    sidecar=False,
    control_plane=("DaemonSets ztunnel and istio-cni-node fully scheduled", "istiod with ambient enabled"),
    owned_keys=("istio.io/dataplane-mode", "istio.io/use-waypoint"),
    namespace_traps=(
        excluded_namespaces("istio-ambient", ISTIO_IGNORED_NAMESPACES, "it ignores that namespace"),
    ),
)


@dataclass(frozen=True)
class AmbientMode:
    facts: ModeFacts = FACTS

    def enroll(self, ctx: EnrollContext) -> Enrollment:
        labels = dict(self.facts.pod_labels)
        waypoint = ctx.options.get("waypoint")
        if waypoint:
            labels["istio.io/use-waypoint"] = str(waypoint)
        return Enrollment(labels=labels)

    def findings(self, ctx: EnrollContext) -> Iterator[Finding]:
        if ctx.pod_spec.get("hostNetwork") is True:
            yield Finding(
                "MF401",
                "warning",
                f"ambient skips hostNetwork pods; {ctx.workload_name} stays unmeshed",
                "spec.hostNetwork",
            )


MODE = AmbientMode()
