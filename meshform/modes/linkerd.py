"""linkerd: the proxy injector reads an *annotation* (a label does nothing), on pod or namespace."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from meshform.diagnostics import Level
from meshform.modes import linkerd_policy, policy_support
from meshform.modes.base import (
    EnrollContext,
    Enrollment,
    Finding,
    ModeFacts,
    NamespaceTrap,
    excluded_namespaces,
    sidecar_findings,
)
from meshform.modes.policy_objects import on_services
from meshform.policy.context import PolicyContext

FACTS = ModeFacts(
    name="linkerd",
    identity="linkerd",
    summary="Linkerd: the proxy injector adds linkerd-proxy to annotated pods",
    pod_annotations={"linkerd.io/inject": "enabled"},
    namespace_annotations={"linkerd.io/inject": "enabled"},
    opt_out_annotations={"linkerd.io/inject": "disabled"},
    native_sidecar=True,  # Linkerd >= 2.20 injects native sidecars on Kubernetes >= 1.29
    control_plane=(
        "ConfigMap linkerd-config (namespace linkerd)",
        "Deployments linkerd-identity, linkerd-destination, linkerd-proxy-injector available",
        "MutatingWebhookConfiguration linkerd-proxy-injector-webhook-config with ready endpoints",
    ),
    owned_keys=("linkerd.io/inject",),
    proof_containers=("linkerd-proxy",),
    # The proxy injector's webhook (linkerd-control-plane chart): namespaceSelector
    # config.linkerd.io/admission-webhooks NotIn [disabled] and kubernetes.io/metadata.name NotIn
    # [kube-system, cert-manager]. A pod's own linkerd.io/inject annotation beats its namespace's, so a
    # namespace annotated `disabled` with an `enabled` pod is fine.
    namespace_traps=(
        NamespaceTrap(
            "config.linkerd.io/admission-webhooks",
            "in",
            Level.ERROR,
            "MF603",
            "namespace {ns} is excluded from Linkerd's webhook "
            "(config.linkerd.io/admission-webhooks=disabled)",
            "remove that namespace label",
            values=("disabled",),
        ),
        excluded_namespaces(
            "linkerd", ("kube-system", "cert-manager"), "its webhook's namespaceSelector leaves it out"
        ),
    ),
    policy=policy_support.LINKERD,
    policy_defaults=policy_support.LINKERD_DEFAULTS,
    rewires_services=True,  # annotates the Services with timeouts, retries and failure accrual
    service_keys=linkerd_policy.SERVICE_KEYS,
    dropped=linkerd_policy.dropped,
)


@dataclass(frozen=True)
class LinkerdMode:
    facts: ModeFacts = FACTS

    def enroll(self, ctx: EnrollContext) -> Enrollment:
        # `ingress` mode proxies ingress controllers, which route on Host headers themselves.
        value = "ingress" if ctx.options.get("ingress") else "enabled"
        enrollment = Enrollment(annotations={"linkerd.io/inject": value})
        if ctx.policy is not None:  # timeouts, retries, failure accrual: read from the Services
            enrollment.service_annotations = on_services(
                ctx.policy, linkerd_policy.service_annotations(ctx.policy)
            )
        return enrollment

    def render_policy(self, ctx: PolicyContext) -> list[dict[str, Any]]:
        return linkerd_policy.render(ctx)

    def findings(self, ctx: EnrollContext) -> Iterator[Finding]:
        yield from sidecar_findings(self.facts, ctx)


MODE = LinkerdMode()
