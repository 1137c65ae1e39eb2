"""istio-ambient: ztunnel on every node carries the pod's traffic; no sidecar, no restart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from meshform.modes import ambient_policy, policy_support
from meshform.modes.base import EnrollContext, Enrollment, Finding, ModeFacts, excluded_namespaces
from meshform.modes.istio import ISTIO_IGNORED_NAMESPACES, policy_findings
from meshform.policy.context import PolicyContext

FACTS = ModeFacts(
    name="istio-ambient",
    identity="istio",
    summary="Istio ambient mode: ztunnel redirects the pod's traffic, optional waypoint proxy",
    pod_labels={"istio.io/dataplane-mode": "ambient"},
    namespace_labels={"istio.io/dataplane-mode": "ambient"},
    opt_out_labels={"istio.io/dataplane-mode": "none"},
    restart_on_switch=False,
    sidecar=False,
    control_plane=("DaemonSets ztunnel and istio-cni-node fully scheduled", "istiod with ambient enabled"),
    owned_keys=("istio.io/dataplane-mode", "istio.io/use-waypoint"),
    rewires_services=True,  # labels a Service istio.io/use-waypoint when its policy needs L7
    service_keys=(ambient_policy.USE_WAYPOINT,),
    policy=policy_support.AMBIENT,
    policy_defaults=policy_support.AMBIENT_DEFAULTS,
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
        enrollment = Enrollment(labels=labels)
        if ctx.policy is not None:  # L7 policy: the Service's traffic goes through the waypoint
            enrollment.service_labels = ambient_policy.service_labels(ctx.policy)
        return enrollment

    def render_policy(self, ctx: PolicyContext) -> list[dict[str, Any]]:
        return ambient_policy.render(ctx)

    def findings(self, ctx: EnrollContext) -> Iterator[Finding]:
        if ctx.pod_spec.get("hostNetwork") is True:
            yield Finding(
                "MF401",
                "warning",
                f"ambient skips hostNetwork pods; {ctx.workload_name} stays unmeshed",
                "spec.hostNetwork",
            )
        yield from policy_findings(ctx)


MODE = AmbientMode()
