"""kuma: pod label opt-in, which does nothing unless the namespace carries the label too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from meshform.diagnostics import Level
from meshform.modes import policy_support
from meshform.modes.base import EnrollContext, Enrollment, Finding, ModeFacts, NamespaceTrap, sidecar_findings
from meshform.policy.context import PolicyContext

FACTS = ModeFacts(
    name="kuma",
    summary="Kuma: kuma-sidecar injected into labelled pods of a labelled namespace",
    pod_labels={"kuma.io/sidecar-injection": "enabled"},
    namespace_labels={"kuma.io/sidecar-injection": "enabled"},
    namespace_required=True,
    opt_out_labels={"kuma.io/sidecar-injection": "disabled"},
    control_plane=(
        "Deployment and Service kuma-control-plane (namespace kuma-system)",
        "CRD meshes.kuma.io and the Mesh named by kuma.io/mesh",
    ),
    owned_keys=("kuma.io/sidecar-injection", "kuma.io/mesh"),
    proof_containers=("kuma-sidecar",),
    namespace_traps=(
        NamespaceTrap(
            "kuma.io/sidecar-injection",
            "not-equals",
            Level.WARNING,
            "MF404",
            "Kuma injects only in labelled namespaces; {where} needs kuma.io/sidecar-injection=enabled",
            "label the namespace",
            value="enabled",
            needs_namespace=False,
            once_per_namespace=True,
        ),
    ),
    policy=policy_support.KUMA,
    policy_defaults=policy_support.KUMA_DEFAULTS,
)


@dataclass(frozen=True)
class KumaMode:
    facts: ModeFacts = FACTS

    def enroll(self, ctx: EnrollContext) -> Enrollment:
        labels = dict(self.facts.pod_labels)
        mesh = ctx.options.get("mesh")
        if mesh:
            labels["kuma.io/mesh"] = str(mesh)
        return Enrollment(labels=labels)

    def render_policy(self, ctx: PolicyContext) -> list[dict[str, Any]]:
        return []

    def findings(self, ctx: EnrollContext) -> Iterator[Finding]:
        yield from sidecar_findings(self.facts, ctx)


MODE = KumaMode()
