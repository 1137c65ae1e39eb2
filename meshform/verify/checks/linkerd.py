"""Linkerd: linkerd-config, the three core Deployments, and the proxy injector's webhook.

The control plane's namespace is read from the webhook's Service reference (`linkerd` by default).
The webhook's failurePolicy is Ignore: a down injector admits pods silently unmeshed, which is why the
endpoints are checked here and the dry run proves the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from meshform.verify.checks.base import ready_object, webhook_health
from meshform.verify.cluster import ClusterView, labels_of
from meshform.verify.results import Check, fail, ok, unavailable
from meshform.verify.selectors import matches
from meshform.verify.targets import Target

WEBHOOK = "linkerd-proxy-injector-webhook-config"
DEPLOYMENTS = ("linkerd-identity", "linkerd-destination", "linkerd-proxy-injector")
INSTALL_FIX = "install Linkerd's control plane (linkerd install | kubectl apply -f -, or its Helm charts)"


class LinkerdCheck:
    def check(self, view: ClusterView, group: str, targets: Sequence[Target]) -> Iterator[Check]:
        answer = view.get("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", WEBHOOK)
        if not answer.ok:
            yield unavailable(group, answer, f"MutatingWebhookConfiguration {WEBHOOK}", INSTALL_FIX)
            return
        hooks = answer.data.get("webhooks") or []
        service = ((hooks[0].get("clientConfig") or {}).get("service") or {}) if hooks else {}
        ns = str(service.get("namespace") or "linkerd")
        yield ok(group, f"proxy injector webhook {WEBHOOK} found (control plane in namespace {ns})")
        config = view.get("v1", "ConfigMap", "linkerd-config", ns)
        yield ready_object(group, config, f"ConfigMap {ns}/linkerd-config", INSTALL_FIX, need_ready=False)
        for name in DEPLOYMENTS:
            yield ready_object(
                group, view.get("apps/v1", "Deployment", name, ns), f"Deployment {ns}/{name}", INSTALL_FIX
            )
        for hook in hooks:
            yield from webhook_health(view, group, WEBHOOK, hook, f"check kubectl -n {ns} get pods")
        for target in targets:
            yield _selected(view, group, target, hooks)


def _selected(view: ClusterView, group: str, target: Target, hooks: list[dict[str, object]]) -> Check:
    answer = view.namespace(target.namespace)
    if not answer.ok:
        return unavailable(group, answer, f"Namespace {target.namespace}", "create the namespace first")
    ns_labels, pod_labels = labels_of(answer.data), labels_of(target.template)
    if any(
        matches(h.get("namespaceSelector"), ns_labels) and matches(h.get("objectSelector"), pod_labels)
        for h in hooks
    ):
        return ok(group, f"{target.ref} reaches the proxy injector", target.ref)
    return fail(
        group,
        f"the proxy injector never sees {target.ref}: its selectors exclude namespace {target.namespace}",
        f"kubectl label namespace {target.namespace} config.linkerd.io/admission-webhooks-",
        "not-selected",
        target.ref,
    )
