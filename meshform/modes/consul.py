"""consul: the connect-injector reads a pod *annotation* whose value must be a boolean string.

Consul registers a pod under the name of the Kubernetes Service that selects it (or the
`consul.hashicorp.com/connect-service` annotation), so every injected workload needs a Service, and
with ACLs on the pod's ServiceAccount must have that name (consul-k8s#281: "serviceAccountName does not
match service name"). Which namespaces are injected at all is Helm configuration, not a key on the
Namespace: `connectInject.namespaceSelector`, `k8sAllowNamespaces` / `k8sDenyNamespaces`; only
kube-system and kube-public are refused by the injector's own code (mesh_webhook.go shouldInject).
`verify`'s server-side dry run is what proves the Helm side on a live cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from meshform.modes import consul_policy, policy_support
from meshform.modes.base import (
    EnrollContext,
    Enrollment,
    Finding,
    LabelMode,
    ModeFacts,
    ServiceIdentity,
    excluded_namespaces,
)
from meshform.modes.policy_objects import approximated
from meshform.policy.context import PolicyContext

FACTS = ModeFacts(
    name="consul",
    identity="consul",
    summary="Consul service mesh: connect-injector adds consul-dataplane",
    pod_annotations={"consul.hashicorp.com/connect-inject": "true"},
    opt_out_annotations={"consul.hashicorp.com/connect-inject": "false"},
    opt_out_also={"consul.hashicorp.com/connect-inject": ("false", "f", "0")},  # Go's ParseBool
    control_plane=(
        "Deployment <release>-connect-injector",
        "MutatingWebhookConfiguration <release>-connect-injector (failurePolicy Fail)",
    ),
    owned_keys=("consul.hashicorp.com/connect-inject",),
    policy_keys=(consul_policy.META_VERSION, consul_policy.KUBERNETES_SERVICE),
    proof_containers=("consul-dataplane",),
    namespace_traps=(
        excluded_namespaces(
            "consul", ("kube-system", "kube-public"), "the connect-injector skips system namespaces"
        ),
    ),
    service_identity=ServiceIdentity("consul.hashicorp.com/connect-service"),
    first_port_service=True,
    policy=policy_support.CONSUL,
    policy_defaults=policy_support.CONSUL_DEFAULTS,
    dropped=consul_policy.dropped,
)


@dataclass(frozen=True)
class ConsulMode(LabelMode):
    """The injector's annotation, plus for a version split the pod's version as service metadata."""

    def enroll(self, ctx: EnrollContext) -> Enrollment:
        enrollment = super().enroll(ctx)
        if ctx.policy is not None:
            enrollment.annotations |= consul_policy.pod_annotations(ctx.policy, dict(ctx.pod_labels))
        return enrollment

    def findings(self, ctx: EnrollContext) -> Iterator[Finding]:
        yield from super().findings(ctx)
        yield from approximated(ctx, consul_policy.approximations)
        if ctx.policy is not None and ctx.policy_owner:
            yield from consul_policy.other_ports(ctx.policy)

    def render_policy(self, ctx: PolicyContext) -> list[dict[str, Any]]:
        return consul_policy.render(ctx)


MODE = ConsulMode(FACTS)
