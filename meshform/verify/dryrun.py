"""The proof: a server-side dry run (dryRun=All) of a Pod built from each governed pod template.

Admission runs in full, mesh webhooks included, and nothing is stored. The answer shows whether the
mode's proof containers arrived exactly once (injected now, or pre-injected and left alone), and that
no other mesh's proxy came along. A webhook that cannot take dry runs makes the apiserver refuse the
request: that is "cannot verify", not a failure.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from meshform.modes import Registry
from meshform.verify.client import Answer, Kind
from meshform.verify.cluster import ClusterView
from meshform.verify.results import RBAC_FIX, Check, Status, fail, ok
from meshform.verify.targets import Inputs, Target

GROUP = "injection (server-side dry run)"
_NAME_TAIL = re.compile(r"[^a-z0-9]+$")


def build_pod(target: Target) -> dict[str, Any]:
    template = copy.deepcopy(target.template)
    meta = template.get("metadata") or {}
    name = _NAME_TAIL.sub("", f"{target.name}-meshform-verify"[:63])
    pod_meta = {"name": name, "namespace": target.namespace}
    pod_meta.update({k: meta[k] for k in ("labels", "annotations") if meta.get(k)})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template["spec"]}


def proxies(pod: Any) -> Counter[str]:
    """Names of sidecar-like containers: regular containers and native sidecars (init, Always)."""
    spec = (pod or {}).get("spec") or {}
    names = [c.get("name", "") for c in spec.get("containers") or []]
    names += [
        c.get("name", "") for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"
    ]
    return Counter(names)


def _owners(registry: Registry) -> dict[str, str]:
    return {c: m.facts.name for m in registry.modes.values() for c in m.facts.proof_containers}


def check(view: ClusterView, registry: Registry, inputs: Inputs) -> Iterator[Check]:
    for target in inputs.targets:
        pod = build_pod(target)
        answer = view.dry_run_pod(target.namespace, pod)
        account = f"{target.namespace}/{pod['spec'].get('serviceAccountName', 'default')}"
        if _missing_account(answer) and account in inputs.service_accounts:
            # The input creates this ServiceAccount but it is not applied yet; injection does not depend
            # on it, so prove injection with the namespace's default account instead.
            pod["spec"].pop("serviceAccountName", None)
            answer = view.dry_run_pod(target.namespace, pod)
        if answer.ok:
            yield from judge(target, registry, proxies(target.template), proxies(answer.data))
        else:
            yield refused(target, answer)


def _missing_account(answer: Answer) -> bool:
    return answer.kind is Kind.REJECTED and "error looking up service account" in answer.message


def judge(target: Target, registry: Registry, before: Counter[str], after: Counter[str]) -> Iterator[Check]:
    facts = registry.modes[target.mode].facts
    owners = _owners(registry)
    extra = sorted(c for c in after if c in owners and owners[c] != target.mode and after[c] > before[c])
    if extra:
        meshes = ", ".join(f"{c} ({owners[c]})" for c in extra)
        yield fail(
            GROUP,
            f"{target.ref}: another mesh injected {meshes} into a {target.mode} pod",
            "opt the workload or its namespace out of the other mesh",
            "two-meshes",
            target.ref,
        )
    for name in facts.proof_containers:
        yield _proof(target, name, before[name], after[name])
    if not facts.proof_containers and not extra:
        words = "no sidecar injected" + (
            " (ztunnel carries its traffic)" if not facts.sidecar and facts.name == "istio-ambient" else ""
        )
        yield ok(GROUP, f"{target.ref}: admitted, {words}", target.ref)


def _proof(target: Target, name: str, before: int, after: int) -> Check:
    if after == 1:
        how = "pre-injected and left alone" if before else "injected by the webhook"
        return ok(GROUP, f"{target.ref}: {name} {how} (dry run)", target.ref)
    if after > 1:
        return fail(
            GROUP,
            f"{target.ref}: {name} appears {after} times",
            "pre-inject or let the webhook inject, not both",
            "injected-twice",
            target.ref,
        )
    return fail(
        GROUP,
        f"{target.ref}: no {name} after admission: the pod would run unmeshed",
        "see the control plane and namespace checks above; a failurePolicy Ignore webhook that failed "
        "admits pods silently",
        "not-injected",
        target.ref,
    )


@dataclass(frozen=True)
class Refusal:
    """How to read one kind of refused dry run: when it applies, and what to say."""

    applies: Callable[[Answer], bool]
    status: Status
    words: str  # formatted with target, ns, msg
    fix: str
    reason: str


def _webhook_call(answer: Answer) -> bool:
    return "failed calling webhook" in answer.message


def _tls(answer: Answer) -> bool:
    return _webhook_call(answer) and ("x509" in answer.message or "certificate" in answer.message)


# First match wins, so the specific readings come before the general ones.
REFUSALS = (
    Refusal(
        lambda a: "does not support dry run" in a.message,
        Status.WARNING,
        "{target}: cannot verify: {msg}",
        "ask for sideEffects: None on that webhook",
        "cannot-verify",
    ),
    Refusal(
        lambda a: a.kind is Kind.FORBIDDEN,
        Status.WARNING,
        "{target}: cannot verify: creating a dry-run Pod is forbidden ({msg})",
        RBAC_FIX,
        "forbidden",
    ),
    Refusal(
        _tls,
        Status.FAILED,
        "{target}: the apiserver could not call the injector: {msg}",
        "the webhook's caBundle does not match the injector's certificate (stale caBundle?)",
        "webhook-failed",
    ),
    Refusal(
        _webhook_call,
        Status.FAILED,
        "{target}: the apiserver could not call the injector: {msg}",
        "the injector is down or unreachable from the apiserver",
        "webhook-failed",
    ),
    Refusal(
        lambda a: a.kind is Kind.NOT_FOUND,
        Status.FAILED,
        "{target}: namespace {ns} does not exist",
        "kubectl create namespace {ns}",
        "not-installed",
    ),
    Refusal(
        _missing_account,
        Status.WARNING,
        "{target}: cannot verify: {msg}",
        "apply the workload's ServiceAccount first",
        "cannot-verify",
    ),
    Refusal(
        lambda a: a.kind is Kind.REJECTED,
        Status.FAILED,
        "{target}: the cluster rejects this pod: {msg}",
        "fix the pod template, or the admission policy that rejects it",
        "rejected",
    ),
)


def refused(target: Target, answer: Answer) -> Check:
    found = next((r for r in REFUSALS if r.applies(answer)), None)
    if found is not None:
        words = {"target": target.ref, "ns": target.namespace, "msg": answer.message}
        fix = found.fix.format(**words)
        return Check(GROUP, found.status, found.words.format(**words), fix, found.reason, target.ref)
    reason = {Kind.TIMEOUT: "timeout", Kind.UNREACHABLE: "unreachable", Kind.UNAUTHORIZED: "unauthorized"}
    why = reason.get(answer.kind, "error")
    return fail(
        GROUP,
        f"{target.ref}: dry run failed ({why}): {answer.message}",
        "retry; check the API server",
        why,
        target.ref,
    )
