"""kuma: pod label opt-in, which does nothing unless the namespace carries the label too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from meshform.diagnostics import Level
from meshform.modes import kuma_policy, policy_support
from meshform.modes.base import (
    EnrollContext,
    Enrollment,
    Finding,
    ModeFacts,
    NamespaceTrap,
    excluded_namespaces,
    sidecar_findings,
)
from meshform.modes.policy_objects import approximated, on_services
from meshform.policy.context import PolicyContext

FACTS = ModeFacts(
    name="kuma",
    identity="kuma",
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
    policy=policy_support.KUMA,
    policy_defaults=policy_support.KUMA_DEFAULTS,
    dropped=kuma_policy.dropped,
    edge_features=policy_support.KUMA_EDGE_FEATURES,
    rewires_services=True,  # annotates a Service's http2 ports when its policy needs L7
    service_keys=("[0-9]*.service.kuma.io/protocol",),
)


@dataclass(frozen=True)
class KumaMode:
    facts: ModeFacts = FACTS

    def enroll(self, ctx: EnrollContext) -> Enrollment:
        labels = dict(self.facts.pod_labels)
        mesh = ctx.options.get("mesh")
        if mesh:
            labels["kuma.io/mesh"] = str(mesh)
        enrollment = Enrollment(labels=labels)
        if ctx.policy is not None:
            enrollment.service_annotations = on_services(ctx.policy, _http2_protocols(ctx.policy))
        return enrollment

    def render_policy(self, ctx: PolicyContext) -> list[dict[str, Any]]:
        return kuma_policy.render(ctx)

    def findings(self, ctx: EnrollContext) -> Iterator[Finding]:
        yield from sidecar_findings(self.facts, ctx)
        yield from approximated(ctx, kuma_policy.approximations)


def _http2_protocols(ctx: PolicyContext) -> dict[str, str]:
    """Kuma reads a port's protocol from `appProtocol` only when it names one Kuma knows; the standard
    `kubernetes.io/h2c` of an http2 port is not one, so the port would be plain TCP and L7 policy on
    it would do nothing. Kuma's own per-port annotation says http2."""
    return {f"{p.port}.service.kuma.io/protocol": "http2" for p in ctx.ports if p.protocol == "http2"}


MODE = KumaMode()
