"""kuma: pod label opt-in, which does nothing unless the namespace carries the label too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from meshform.diagnostics import Level
from meshform.modes.base import (
    EnrollContext,
    Enrollment,
    Finding,
    ModeFacts,
    NamespaceTrap,
    excluded_namespaces,
    sidecar_findings,
)

FACTS = ModeFacts(
    name="kuma",
    summary="Kuma: kuma-sidecar injected into labelled pods of a labelled namespace",
    pod_labels={"kuma.io/sidecar-injection": "enabled"},
    namespace_labels={"kuma.io/sidecar-injection": "enabled"},
    namespace_required=True,
    opt_out_labels={"kuma.io/sidecar-injection": "disabled"},
    opt_out_also={"kuma.io/sidecar-injection": ("disabled", "false")},  # Kuma: enabled/true, disabled/false
    control_plane=(
        "Deployment and Service kuma-control-plane (namespace kuma-system)",
        "CRD meshes.kuma.io and the Mesh named by kuma.io/mesh",
    ),
    owned_keys=("kuma.io/sidecar-injection", "kuma.io/mesh"),
    proof_containers=("kuma-sidecar",),
    # Kuma's chart (cp-webhooks-and-secrets.yaml) has two pod injectors: `namespace-kuma-injector`
    # selects namespaces labelled kuma.io/sidecar-injection In [enabled, true] (every pod),
    # `pods-kuma-injector` namespaces where the label merely Exists and pods labelled `enabled`. So the
    # documented selective setup (namespace `disabled`, pod `enabled`, Kuma >= 2.11) is injected; only a
    # namespace without the key leaves the pod alone. Neither selects kube-system or Kuma's own namespace.
    namespace_also={"kuma.io/sidecar-injection": ("true",)},
    namespace_traps=(
        NamespaceTrap(
            "kuma.io/sidecar-injection",
            "absent",
            Level.ERROR,
            "MF404",
            "Kuma injects only in namespaces carrying the label kuma.io/sidecar-injection (any value): "
            "{where} without it leaves the pod alone",
            "label the namespace kuma.io/sidecar-injection=disabled (only pods labelled enabled are "
            "meshed) or =enabled (every pod is), or set spec.ownsNamespace: true",
            unknown_level=Level.WARNING,
            once_per_namespace=True,
        ),
        excluded_namespaces("kuma", ("kube-system", "kuma-system"), "its webhooks leave it out"),
    ),
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

    def findings(self, ctx: EnrollContext) -> Iterator[Finding]:
        yield from sidecar_findings(self.facts, ctx)


MODE = KumaMode()
