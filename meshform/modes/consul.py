"""consul: the connect-injector reads a pod *annotation* whose value must be a boolean string."""

from __future__ import annotations

from meshform.modes import policy_support
from meshform.modes.base import LabelMode, ModeFacts

MODE = LabelMode(
    ModeFacts(
        name="consul",
        summary="Consul service mesh: connect-injector adds consul-dataplane",
        pod_annotations={"consul.hashicorp.com/connect-inject": "true"},
        opt_out_annotations={"consul.hashicorp.com/connect-inject": "false"},
        control_plane=(
            "Deployment <release>-connect-injector",
            "MutatingWebhookConfiguration <release>-connect-injector (failurePolicy Fail)",
        ),
        owned_keys=("consul.hashicorp.com/connect-inject",),
        proof_containers=("consul-dataplane",),
        policy=policy_support.CONSUL,
        policy_defaults=policy_support.CONSUL_DEFAULTS,
    )
)
