"""Istio (sidecar): find the injectors by label, never by one name, and predict which one a pod meets.

Injectors are the MutatingWebhookConfigurations labelled `app=sidecar-injector`; their revision and tag
come from the `istio.io/rev` / `istio.io/tag` labels. Webhooks Istio parked with
`istio.io/deactivated: never-match` are ignored. For each workload, the webhooks' own selectors are
evaluated against the live Namespace and the pod's labels, so a revision that is missing, a namespace
revision overriding the pod's, or a disabled namespace show up here and the dry run then proves it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from meshform.verify.checks.base import webhook_health
from meshform.verify.cluster import ClusterView, items, labels_of
from meshform.verify.results import Check, fail, ok, unavailable, warn
from meshform.verify.selectors import matches, never_matches
from meshform.verify.targets import Target

INJECTOR_LABEL = "app=sidecar-injector"
INSTALL_FIX = "install Istio's control plane (istioctl install, or the istiod Helm chart)"
ENDPOINTS_FIX = "check istiod's pods: kubectl -n istio-system get pods -l app=istiod"


@dataclass(frozen=True)
class Hook:
    config: str  # the MutatingWebhookConfiguration
    revision: str
    tag: str
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.spec.get("name", "?"))

    def selects(self, ns_labels: dict[str, Any], pod_labels: dict[str, Any]) -> bool:
        return matches(self.spec.get("namespaceSelector"), ns_labels) and matches(
            self.spec.get("objectSelector"), pod_labels
        )

    def serves(self, revision: str) -> bool:
        return revision in (self.revision, self.tag)


def _creates_pods(hook: dict[str, Any]) -> bool:
    for rule in hook.get("rules") or []:
        ops, res = rule.get("operations") or [], rule.get("resources") or []
        if ({"CREATE", "*"} & set(ops)) and ({"pods", "*"} & set(res)):
            return True
    return False


def active_hooks(configs: list[dict[str, Any]]) -> tuple[list[Hook], int]:
    """Webhooks that can inject pods, and how many deactivated ones were ignored."""
    hooks, parked = [], 0
    for config in configs:
        labels = labels_of(config)
        for spec in config.get("webhooks") or []:
            if never_matches(spec.get("namespaceSelector")) or never_matches(spec.get("objectSelector")):
                parked += 1
            elif _creates_pods(spec):
                hooks.append(
                    Hook(
                        config["metadata"]["name"],
                        str(labels.get("istio.io/rev") or "default"),
                        str(labels.get("istio.io/tag") or ""),
                        spec,
                    )
                )
    return hooks, parked


class IstioCheck:
    def check(self, view: ClusterView, group: str, targets: Sequence[Target]) -> Iterator[Check]:
        answer = view.webhooks(INJECTOR_LABEL)
        if not answer.ok:
            yield unavailable(group, answer, f"MutatingWebhookConfigurations ({INJECTOR_LABEL})", INSTALL_FIX)
            return
        hooks, parked = active_hooks(items(answer))
        if not hooks:
            why = f" ({parked} deactivated with never-match)" if parked else ""
            yield fail(group, f"no active Istio sidecar injector webhook{why}", INSTALL_FIX, "not-installed")
            return
        yield ok(group, _summary(hooks, parked))
        used: dict[tuple[str, str], Hook] = {}
        for target in targets:
            check, matched = self._selected(view, group, target, hooks)
            yield check
            used.update({(h.config, h.name): h for h in matched})
        for hook in used.values():
            yield from webhook_health(view, group, hook.config, hook.spec, ENDPOINTS_FIX)
        for ns in sorted({t.namespace for t in targets}):
            yield _root_cert(view, group, ns)

    def _selected(
        self, view: ClusterView, group: str, target: Target, hooks: list[Hook]
    ) -> tuple[Check, list[Hook]]:
        answer = view.namespace(target.namespace)
        if not answer.ok:
            return unavailable(
                group, answer, f"Namespace {target.namespace}", "create the namespace first"
            ), []
        ns_labels = labels_of(answer.data)
        pod_labels = labels_of(target.template)
        matched = [h for h in hooks if h.selects(ns_labels, pod_labels)]
        if not matched:
            return _not_selected(group, target, ns_labels, pod_labels, hooks), []
        return _selected_verdict(group, target, pod_labels, matched), matched


def _selected_verdict(group: str, target: Target, pod_labels: dict[str, Any], matched: list[Hook]) -> Check:
    """The pod meets these webhooks: fine, unless a namespace revision overrides the pod's own, or
    two injectors (revisions) both want it."""
    revisions = sorted({h.tag or h.revision for h in matched})
    wanted = pod_labels.get("istio.io/rev")
    where = f"{matched[0].config}: {matched[0].name}"
    if wanted and not any(h.serves(str(wanted)) for h in matched):
        return warn(
            group,
            f"{target.ref} asks for revision {wanted}, but namespace {target.namespace} selects "
            f"revision {', '.join(revisions)} ({where})",
            "use one revision: drop istio.io/rev from the namespace or the pod",
            "revision-overridden",
            target.ref,
        )
    configs = sorted({h.config for h in matched})
    if len(configs) > 1:
        return warn(
            group,
            f"{target.ref} is selected by {len(configs)} injectors ({', '.join(configs)})",
            "keep one revision's selectors per namespace",
            "two-injectors",
            target.ref,
        )
    return ok(group, f"{target.ref} is selected by {where} (revision {', '.join(revisions)})", target.ref)


def _summary(hooks: list[Hook], parked: int) -> str:
    configs = sorted(
        {f"{h.config} (revision {h.revision}{', tag ' + h.tag if h.tag else ''})" for h in hooks}
    )
    tail = f"; {parked} deactivated webhook(s) ignored" if parked else ""
    return f"sidecar injector(s) found: {', '.join(configs)}{tail}"


def _not_selected(
    group: str, target: Target, ns: dict[str, Any], pod: dict[str, Any], hooks: list[Hook]
) -> Check:
    if ns.get("istio-injection") == "disabled":
        fix = f"kubectl label namespace {target.namespace} istio-injection=enabled --overwrite"
        why = "the namespace has istio-injection=disabled, which beats the pod's label"
    elif pod.get("sidecar.istio.io/inject") == "false":
        fix, why = "remove sidecar.istio.io/inject=false from the pod template", "the pod opts out"
    elif pod.get("istio.io/rev") and not any(h.serves(str(pod["istio.io/rev"])) for h in hooks):
        have = ", ".join(sorted({h.tag or h.revision for h in hooks}))
        fix = f"install revision {pod['istio.io/rev']}, or use one of: {have}"
        why = f"no injector serves revision {pod['istio.io/rev']}"
    else:
        fix = (
            f"kubectl label namespace {target.namespace} istio-injection=enabled (or add a default revision)"
        )
        why = "no webhook's selectors match (no default revision or tag for sidecar.istio.io/inject=true?)"
    return fail(group, f"no Istio injector selects {target.ref}: {why}", fix, "not-selected", target.ref)


def _root_cert(view: ClusterView, group: str, namespace: str) -> Check:
    answer = view.get("v1", "ConfigMap", "istio-ca-root-cert", namespace)
    what = f"ConfigMap {namespace}/istio-ca-root-cert"
    if answer.ok:
        return ok(
            group,
            f"{what} exists (sidecars can mount the mesh's root certificate)",
            f"ConfigMap/{namespace}/istio-ca-root-cert",
        )
    check = unavailable(group, answer, what, "istiod writes it into every namespace: check istiod is running")
    if check.reason == "not-installed":
        return fail(
            group,
            f"{what} is missing: sidecars would hang in ContainerCreating",
            check.fix,
            "not-installed",
            f"ConfigMap/{namespace}/istio-ca-root-cert",
        )
    return check
