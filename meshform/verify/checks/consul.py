"""Consul: the connect-injector Deployment and webhook, found by consul-k8s's labels (their names carry
the Helm release's name). Its failurePolicy is Fail: a down injector blocks pod creation."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from meshform.verify.checks.base import first_ready, webhook_health
from meshform.verify.cluster import ClusterView, items
from meshform.verify.results import Check, fail, ok, unavailable
from meshform.verify.targets import Target

SELECTOR = "app=consul,component=connect-injector"
INSTALL_FIX = "install Consul on Kubernetes with connectInject.enabled=true (consul-k8s Helm chart)"


class ConsulCheck:
    def check(self, view: ClusterView, group: str, targets: Sequence[Target]) -> Iterator[Check]:
        yield first_ready(
            group,
            view.list("apps/v1", "Deployment", labelSelector=SELECTOR),
            "connect-injector Deployment",
            INSTALL_FIX,
        )
        answer = view.webhooks(SELECTOR)
        if not answer.ok:
            yield unavailable(group, answer, f"MutatingWebhookConfigurations ({SELECTOR})", INSTALL_FIX)
            return
        configs = items(answer)
        if not configs:
            yield fail(
                group, "connect-injector webhook: not installed (none found)", INSTALL_FIX, "not-installed"
            )
            return
        for config in configs:
            name = config["metadata"]["name"]
            yield ok(group, f"connect-injector webhook {name} found")
            for hook in config.get("webhooks") or []:
                yield from webhook_health(view, group, name, hook, "check the connect-injector pods")
