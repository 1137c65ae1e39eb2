"""linkerd: the proxy injector reads an *annotation* (a label does nothing), on pod or namespace.

Enrollment `labels` writes that annotation; enrollment `sidecar` pre-injects the proxy offline, exactly
as `linkerd inject --manual` would with the cluster's linkerd-config (meshform.modes.linkerd_inject).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from meshform.diagnostics import Level
from meshform.modes import linkerd_inject, linkerd_policy, linkerd_values, policy_support
from meshform.modes.base import (
    LABELS,
    SIDECAR,
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
    strategies=(LABELS, SIDECAR),
    native_sidecar=True,  # Linkerd >= 2.20 injects native sidecars on Kubernetes >= 1.29
    control_plane=(
        "ConfigMap linkerd-config (namespace linkerd)",
        "Deployments linkerd-identity, linkerd-destination, linkerd-proxy-injector available",
        "MutatingWebhookConfiguration linkerd-proxy-injector-webhook-config with ready endpoints",
    ),
    owned_keys=("linkerd.io/inject",),
    proof_containers=("linkerd-proxy",),
    sidecar_keys=(*linkerd_inject.ANNOTATIONS, *linkerd_inject.LABELS),
    sidecar_names=linkerd_inject.NAMES,
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
        if ctx.strategy == SIDECAR:
            enrollment = _pre_injected(ctx)
        else:
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
        if ctx.strategy == SIDECAR:
            yield from _injection_findings(self.facts, ctx)
        else:
            yield from sidecar_findings(self.facts, ctx)


def _version(ctx: EnrollContext) -> str:
    from meshform.modes import injection

    return injection.version_for("linkerd", ctx.options)


def _injection(ctx: EnrollContext) -> linkerd_inject.Injection:
    from meshform.version import __version__

    return linkerd_inject.inject(
        ctx.options.get("values") or {},
        _version(ctx),
        linkerd_inject.Workload(ctx.kind, ctx.workload_name, ctx.namespace),
        {"metadata": {"labels": ctx.pod_labels, "annotations": ctx.pod_annotations}, "spec": ctx.pod_spec},
        str(ctx.options.get("controlPlaneNamespace") or linkerd_values.DEFAULT_NAMESPACE),
        f"meshform {__version__}",
    )


def _pre_injected(ctx: EnrollContext) -> Enrollment:
    """What `linkerd inject --manual` adds, as an enrollment (nothing where Linkerd refuses the pod:
    findings() reports why). Linkerd's own items already in the pod are left out of the computation:
    when provenance asks what a record of this mode may name, the pod is the injected one."""
    try:
        found = _injection(replace(ctx, pod_spec=linkerd_inject.without_own(ctx.pod_spec)))
    except (linkerd_inject.Refused, linkerd_inject.RefusedAnnotations, linkerd_values.ValuesError):
        return Enrollment()
    return Enrollment(
        labels=found.labels,
        annotations=dict(found.annotations),
        init_containers=found.init_first,
        trailing_init_containers=found.init_last,
        leading_containers=found.containers_first,
        containers=found.containers_last,
        volumes=found.volumes,
    )


def _injection_findings(facts: ModeFacts, ctx: EnrollContext) -> Iterator[Finding]:
    """A pre-injection's findings: Linkerd's refusals are errors (it refuses the hostNetwork pods its
    webhook skips); otherwise the sidecar traps of the proxy this pod gets (a classic one keeps Jobs
    from completing) and the overrides Linkerd ignores."""
    try:
        found = _injection(ctx)
    except linkerd_inject.RefusedAnnotations as exc:
        yield from _notes(exc.notes)
        return
    except linkerd_inject.Refused as exc:
        code = "MF350" if ctx.pod_spec.get("hostNetwork") is True else "MF351"
        yield Finding(code, "error", f"linkerd cannot inject {ctx.kind} {ctx.workload_name}: {exc}")
        return
    except linkerd_values.ValuesError as exc:
        at = ctx.options.get("valuesAt")
        origin = f" (values from {at[0]}:{at[1]})" if isinstance(at, list) and len(at) == 3 else ""
        message = f"linkerd values{origin} for {ctx.kind} {ctx.workload_name}: {exc}"
        if not ctx.options.get("values"):
            message = (
                f"enrollment sidecar of {ctx.kind} {ctx.workload_name} needs the cluster's linkerd-config: "
                "set modeOptions.linkerd.valuesFile (or values)"
            )
        yield Finding("MF352", "error", message)
        return
    native = not (found.containers_first or found.init_last)
    yield from sidecar_findings(replace(facts, native_sidecar=native), ctx)
    yield from _notes(found.ignored)


# What meshform says of an annotation, by the note's kind (meshform.modes.linkerd_values.Note).
_SAYS = {
    linkerd_values.REFUSED: ("MF353", "error", "{key}: {value}: {why}; the workload is not pre-injected"),
    linkerd_values.IGNORED: (
        "MF354",
        "warning",
        "{key}: {value} is {why}; Linkerd ignores it and injects as if it were not there",
    ),
    linkerd_values.UNKNOWN: ("MF355", "warning", "{key}: {why}; Linkerd injects as if it were not there"),
}


def _notes(notes: tuple[linkerd_values.Note, ...]) -> Iterator[Finding]:
    """One finding per note, at the annotation it is about."""
    for note in notes:
        code, level, message = _SAYS[note.kind]
        value = (
            repr(note.value) if len(note.value) <= 60 else f"{note.value[:60]!r}... ({len(note.value)} bytes)"
        )
        text = message.format(key=note.annotation, value=value, why=note.why)
        if note.kind == linkerd_values.IGNORED and note.skipped:
            text = (
                f"{note.annotation}: {value} has {note.why}; Linkerd skips {note.skipped} and keeps the rest"
            )
        yield Finding(code, level, text, annotation=note.annotation)


MODE = LinkerdMode()
