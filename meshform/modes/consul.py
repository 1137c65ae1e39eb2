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

from meshform.modes.base import LabelMode, ModeFacts, ServiceIdentity, excluded_namespaces

MODE = LabelMode(
    ModeFacts(
        name="consul",
        summary="Consul service mesh: connect-injector adds consul-dataplane",
        pod_annotations={"consul.hashicorp.com/connect-inject": "true"},
        opt_out_annotations={"consul.hashicorp.com/connect-inject": "false"},
        opt_out_also={"consul.hashicorp.com/connect-inject": ("false", "f", "0")},  # Go's ParseBool
        control_plane=(
            "Deployment <release>-connect-injector",
            "MutatingWebhookConfiguration <release>-connect-injector (failurePolicy Fail)",
        ),
        owned_keys=("consul.hashicorp.com/connect-inject",),
        proof_containers=("consul-dataplane",),
        namespace_traps=(
            excluded_namespaces(
                "consul", ("kube-system", "kube-public"), "the connect-injector skips system namespaces"
            ),
        ),
        service_identity=ServiceIdentity("consul.hashicorp.com/connect-service"),
    )
)
