"""istio (sidecar): the istiod webhook injects `istio-proxy` into pods carrying its label.

The annotation form of `sidecar.istio.io/inject` never starts injection (webhook selectors see labels
only), so enrollment is a pod *label*. With a revision, `istio.io/rev: <rev>` selects that revision's
webhook instead, which works even where no default revision exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from meshform.diagnostics import Level
from meshform.modes import istio_inject, policy_support
from meshform.modes.base import (
    LABELS,
    SIDECAR,
    EnrollContext,
    Enrollment,
    Finding,
    LabelMode,
    ModeFacts,
    NamespaceTrap,
    excluded_namespaces,
    sidecar_findings,
)
from meshform.modes.policy_objects import fault_before_router
from meshform.policy.context import PolicyContext

# istio's pkg/kube/inject IgnoredNamespaces: neither the sidecar injector nor ambient enrollment ever
# touches pods in these namespaces, whatever their labels say.
ISTIO_IGNORED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "local-path-storage")

FACTS = ModeFacts(
    name="istio",
    identity="istio",
    summary="Istio sidecar mode: istiod's webhook injects istio-proxy",
    aliases=("ISTIO_SERVICE_MESH",),
    # labels: istiod's webhook injects; sidecar: meshform pre-injects what it would (istio_inject)
    strategies=(LABELS, SIDECAR),
    sidecar_keys=istio_inject.SIDECAR_KEYS,
    patched_fields=istio_inject.PATCHED_FIELDS,
    sidecar_names=istio_inject.SIDECAR_NAMES,
    pull_secrets_marker=istio_inject.STATUS,
    pod_labels={"sidecar.istio.io/inject": "true"},
    namespace_labels={"istio-injection": "enabled"},
    opt_out_labels={"sidecar.istio.io/inject": "false"},
    # the injector lowercases the value; y/yes/true/on inject, and any other non-empty value does not
    opt_out_also={"sidecar.istio.io/inject": ("false", "n", "no", "off")},
    injector_ignores=ISTIO_IGNORED_NAMESPACES,
    native_sidecar=True,  # Istio >= 1.27 injects native sidecars on Kubernetes >= 1.29
    control_plane=(
        "MutatingWebhookConfiguration app=sidecar-injector (istio.io/rev, istio.io/tag)",
        "caBundle filled, webhook Service with ready endpoints",
        "ConfigMap istio-ca-root-cert in the namespace",
    ),
    owned_keys=("sidecar.istio.io/inject", "istio.io/rev"),
    proof_containers=("istio-proxy",),
    namespace_any_keys=("istio.io/rev",),
    pod_any_keys=("istio.io/rev",),
    # The istiod chart's four webhooks: `rev.namespace` (namespace istio.io/rev=<rev> and no
    # istio-injection), `rev.object` (pod istio.io/rev=<rev>, namespace carries neither key), and for
    # the default revision `namespace` (istio-injection=enabled) and `object` (pod inject=true, namespace
    # carries neither key). Every one skips pods labelled sidecar.istio.io/inject=false.
    namespace_traps=(
        NamespaceTrap(
            "istio-injection",
            "in",
            Level.ERROR,
            "MF602",
            "namespace {ns} has istio-injection=disabled, which beats the pod's label: "
            "no sidecar will be injected",
            "set istio-injection=enabled (or remove it) on the namespace",
            values=("disabled",),
        ),
        NamespaceTrap(
            "istio-injection",
            "in",
            Level.WARNING,  # istio's sidecar still arrives, from another revision
            "MF605",
            "namespace {ns} has istio-injection=enabled, which beats the pod's istio.io/rev={pod_value}: "
            "the default revision injects its sidecar, not revision {pod_value}",
            "label the namespace istio.io/rev=<revision> instead of istio-injection, or drop the revision",
            values=("enabled",),
            pod_key="istio.io/rev",
            blocks=False,
        ),
        NamespaceTrap(
            "istio.io/rev",
            "differs-from-pod",
            Level.WARNING,
            "MF604",
            "namespace {ns} revision {value} overrides the pod's revision {pod_value}: "
            "revision {value} injects its sidecar",
            "use one revision, or drop the namespace label",
            unless="istio-injection",
            blocks=False,
        ),
        excluded_namespaces("istio", ISTIO_IGNORED_NAMESPACES, "it ignores that namespace"),
    ),
    namespace_overlaps={
        # Istio's docs: "The sidecar takes precedence over ztunnel for pods that have both."
        "istio-ambient": "enables both Istio sidecars and ambient: pods get sidecars (the sidecar wins)"
    },
    policy=policy_support.ISTIO,
    policy_defaults=policy_support.ISTIO_DEFAULTS,
    edge_features=policy_support.ISTIO_EDGE_FEATURES,
)


@dataclass(frozen=True)
class IstioMode:
    facts: ModeFacts = FACTS

    def enroll(self, ctx: EnrollContext) -> Enrollment:
        if ctx.strategy == SIDECAR:
            return istio_inject.enroll(ctx)
        revision = ctx.options.get("revision")
        if revision:
            return Enrollment(labels={"istio.io/rev": str(revision)})
        return LabelMode(self.facts).enroll(ctx)

    def render_policy(self, ctx: PolicyContext) -> list[dict[str, Any]]:
        from meshform.modes import istio_policy  # only a run with traffic policy renders it

        return istio_policy.render(ctx)

    def findings(self, ctx: EnrollContext) -> Iterator[Finding]:
        yield from sidecar_findings(self.facts, ctx)
        yield from policy_findings(ctx)
        if ctx.strategy == SIDECAR:
            for key, problem in istio_inject.override_problems(ctx.pod_annotations, ctx.options):
                yield Finding("MF323", "error", problem, "annotations", annotation=key)
            for given, path, problem in istio_inject.install_problems(ctx.options, ctx.pod_annotations):
                yield Finding("MF323", "error", problem, "modeOptions", value=(given, path))
            own = istio_inject.own_container(ctx.pod_spec)
            if own is not None:
                name = ctx.pod_spec[own[1]][own[2]]["name"]
                yield Finding(
                    "MF323",
                    "error",
                    f"{ctx.workload_name} has its own {name} container (Istio's \"customizing "
                    'injection": istioctl and the webhook merge it into the one they inject); meshform '
                    "does not pre-inject that merge",
                    pod_path=(*own, "name"),
                    hint=f"use enrollment labels (istiod's webhook merges your {name}), or remove the "
                    "container to get the stock one",
                )
            problem = istio_inject.overrides_problem(ctx.pod_annotations, istio_inject.native_of(ctx))
            if problem:
                yield Finding(
                    "MF323",
                    "error",
                    problem,
                    annotation=istio_inject.OVERRIDES,
                    hint=f"remove {istio_inject.OVERRIDES}, or use enrollment labels (the webhook "
                    "applies it)",
                )
            yield from _foreign_values(ctx)
            conflict = istio_inject.native_conflict(ctx.options)
            if conflict is not None:
                at = ("values", istio_inject.NATIVE_ENV)
                yield Finding("MF337", "warning", conflict, "modeOptions", value=at)
            values = ctx.options.get("values")
            for where, problem in istio_inject.value_list_problems(values or {}, ctx.pod_annotations):
                yield Finding("MF356", "warning", problem, "modeOptions", value=("values", where))


def _foreign_values(ctx: EnrollContext) -> Iterator[Finding]:
    """MF336 per top-level key of the values that Istio's Values do not have: Istio drops it
    silently, so a misspelt key (`globl:`) would leave the cluster's setting unread."""
    from meshform.suggest import did_you_mean

    for key, alone in istio_inject.foreign_values(ctx.options):
        if not alone:  # values with no Istio key at all are MF322 when they are loaded
            meant = did_you_mean(key, istio_inject.VALUES_KEYS)
            message = f"values key {key!r} is not one of Istio's values{meant}; Istio's injector ignores it"
            yield Finding("MF336", "warning", message, "modeOptions", value=("values", (key,)))


def policy_findings(ctx: EnrollContext) -> Iterator[Finding]:
    """MF920/MF930 for each part of the policy Istio rounds or approximates (istio and ambient)."""
    if ctx.policy is not None:
        from meshform.modes import istio_policy

        for code, message in istio_policy.approximations(ctx.policy):
            yield Finding(code, "warning", message, "traffic")
    yield from fault_before_router(ctx, "Istio")


MODE = IstioMode()
