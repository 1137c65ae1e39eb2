"""The per-mode check contract, and the checks every mesh shares: objects that must exist and be
ready, a Service with ready endpoints, and a mutating webhook that can really be called."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from meshform.objects import resource_ref
from meshform.verify.client import Answer
from meshform.verify.cluster import ClusterView, items
from meshform.verify.results import Check, fail, ok, unavailable, warn
from meshform.verify.targets import Target


class ControlPlaneCheck(Protocol):
    def check(self, view: ClusterView, group: str, targets: Sequence[Target]) -> Iterator[Check]:
        """Findings about the control plane these targets (all of this mode) depend on."""
        ...


@dataclass(frozen=True)
class NothingNeeded:
    why: str

    def check(self, view: ClusterView, group: str, targets: Sequence[Target]) -> Iterator[Check]:
        yield ok(group, f"nothing needed: {self.why}")


def _conditions(obj: dict[str, Any]) -> dict[str, str]:
    found = (obj.get("status") or {}).get("conditions") or []
    return {str(c.get("type")): str(c.get("status")) for c in found if isinstance(c, dict)}


def _workload_ready(obj: dict[str, Any]) -> tuple[bool, str]:
    st, spec = obj.get("status") or {}, obj.get("spec") or {}
    if obj.get("kind") == "DaemonSet":
        want, ready = int(st.get("desiredNumberScheduled") or 0), int(st.get("numberReady") or 0)
        return want > 0 and ready >= want, f"{ready}/{want} nodes ready"
    want = int(spec.get("replicas", 1) or 0)
    have = int(st.get("availableReplicas" if obj.get("kind") == "Deployment" else "readyReplicas") or 0)
    return want > 0 and have >= want, f"{have}/{want} replicas available"


def _generic_ready(obj: dict[str, Any]) -> tuple[bool, str]:
    conditions = _conditions(obj)
    for kind in ("Ready", "Available", "Established"):
        if kind in conditions:
            return conditions[kind] == "True", f"{kind}={conditions[kind]}"
    return True, "present (no readiness condition)"


def readiness(obj: dict[str, Any]) -> tuple[bool, str]:
    """Ready or not, in words; by kind where the kind has counts, else by its conditions."""
    if obj.get("kind") in ("Deployment", "DaemonSet", "StatefulSet"):
        return _workload_ready(obj)
    return _generic_ready(obj)


def ref(obj: dict[str, Any]) -> str:
    return resource_ref(obj)


def ready_object(group: str, answer: Answer, what: str, fix: str, need_ready: bool = True) -> Check:
    """One object that must exist (and be ready)."""
    if not answer.ok:
        return unavailable(group, answer, what, fix)
    obj = answer.data
    if not need_ready:
        return ok(group, f"{what} exists", ref(obj))
    ready, words = readiness(obj)
    if ready:
        return ok(group, f"{what} is ready ({words})", ref(obj))
    return fail(
        group,
        f"{what} is not ready ({words})",
        f"check `kubectl describe {ref(obj).lower()}`",
        "not-ready",
        ref(obj),
    )


def named_anywhere(view: ClusterView, api_version: str, kind: str, name: str) -> Answer:
    """Objects of this name in any namespace (a mesh may live outside its default namespace)."""
    return view.list(api_version, kind, fieldSelector=f"metadata.name={name}")


def first_ready(group: str, answer: Answer, what: str, fix: str) -> Check:
    """The first object of a list must be ready; an empty list means not installed."""
    if not answer.ok:
        return unavailable(group, answer, what, fix)
    found = items(answer)
    if not found:
        return fail(group, f"{what}: not installed (none found)", fix, "not-installed")
    kind = (answer.data or {}).get("kind", "").removesuffix("List")
    obj = {"kind": kind, **found[0]}
    return ready_object(group, Answer(answer.kind, obj), what, fix)


def service_endpoints(view: ClusterView, group: str, namespace: str, name: str, fix: str) -> Check:
    what = f"Service {namespace}/{name}"
    answer = view.endpoint_slices(namespace, name)
    if not answer.ok:
        return unavailable(group, answer, f"{what} endpoints", fix, f"Service/{namespace}/{name}")
    ready = sum(
        1
        for s in items(answer)
        for e in s.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready") is not False  # unset means ready (API docs)
    )
    if ready:
        return ok(group, f"{what} has {ready} ready endpoint(s)", f"Service/{namespace}/{name}")
    return fail(
        group,
        f"{what} has no ready endpoints: the webhook cannot be called",
        fix,
        "not-ready",
        f"Service/{namespace}/{name}",
    )


def webhook_health(
    view: ClusterView, group: str, config: str, hook: dict[str, Any], fix: str
) -> Iterator[Check]:
    """Can the apiserver call this webhook: caBundle, a Service with ready endpoints (or a URL)."""
    name, client = hook.get("name", "?"), hook.get("clientConfig") or {}
    res = f"MutatingWebhookConfiguration/{config}"
    if client.get("url"):
        yield ok(
            group, f"webhook {name} calls {client['url']} (remote control plane; the dry run proves it)", res
        )
    elif not client.get("caBundle"):
        yield fail(
            group,
            f"webhook {name} in {config} has an empty caBundle: the apiserver cannot trust the injector",
            "wait for the control plane to patch it, or restart it so it does",
            "no-ca-bundle",
            res,
        )
    else:
        yield ok(group, f"webhook {name} in {config} has a caBundle", res)
    svc = client.get("service") or {}
    if svc:
        yield service_endpoints(view, group, str(svc.get("namespace", "")), str(svc.get("name", "")), fix)
    if hook.get("sideEffects") not in ("None", "NoneOnDryRun"):
        yield warn(
            group,
            f"webhook {name} declares sideEffects {hook.get('sideEffects')}: the apiserver refuses dry runs "
            "through it, so injection cannot be proven",
            "set sideEffects: None (the mesh's current release does)",
            "cannot-verify",
            res,
        )
