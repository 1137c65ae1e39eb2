"""Does the cluster serve the kinds a mode's traffic-policy objects need, at the version meshform emits?

The kinds are not listed here: they are what the mode's own renderer emits for the policy each
governed workload recorded (status `policy`, rendered by the workload that owns the objects), so a
renderer that changes its output changes this check with it. The modes' options are not recorded;
they change names and fields, not which kinds a mode emits.

The answers come from API discovery (`/apis/<group>/<version>`), which every authenticated user may
read (the `system:discovery` role): no RBAC beyond what verify already needs. Per kind:
- served at the emitted version: ok;
- its group serves no such kind, or the group is absent: not-installed (fix: the mesh's install);
- served only at older versions: too-old (fix: upgrade the mesh's CRDs);
- served only at other, newer versions: version-not-served (meshform emits a version the cluster no
  longer serves);
- discovery forbidden, unauthorized, unreachable, timed out: said as such.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from meshform.core import status
from meshform.core.policy import enforceable
from meshform.modes.base import Mode
from meshform.policy.context import context_from_json
from meshform.verify.checks import consul, kuma
from meshform.verify.client import Answer, Kind
from meshform.verify.cluster import ClusterView, Resource
from meshform.verify.results import Check, fail, ok, unavailable, warn
from meshform.verify.targets import Target

GATEWAY_API = "gateway.networking.k8s.io"
_ISTIO_FIX = "install or upgrade Istio's CRDs (istioctl install, or the istio/base Helm chart)"
INSTALL_FIX = {
    "istio": _ISTIO_FIX,
    "istio-ambient": _ISTIO_FIX,
    "linkerd": "install or upgrade Linkerd's CRDs (linkerd install --crds | kubectl apply -f -, or the "
    "linkerd-crds Helm chart)",
    "kuma": kuma.INSTALL_FIX,
    "consul": consul.INSTALL_FIX,
}
GATEWAY_API_FIX = (
    "install or upgrade the Gateway API CRDs (kubectl apply --server-side -f standard-install.yaml of a "
    "Gateway API release)"
)
_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


@dataclass(frozen=True, order=True)
class Needed:
    """One kind the mode's policy objects have, at the version meshform writes."""

    api_version: str  # group/version
    kind: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    def __str__(self) -> str:
        return f"{self.kind} {self.api_version}"


def group_name(mode: str) -> str:
    return f"{mode} policy CRDs"


def check(view: ClusterView, mode: Mode, targets: Sequence[Target]) -> Iterator[Check]:
    """Findings for one mode's targets; nothing when none of them carries a traffic policy."""
    group = group_name(mode.facts.name)
    owners = [t for t in targets if _owned_policy(t)]
    if not owners:
        return
    needed, problems = needed_kinds(mode, owners)
    yield from (warn(group, p, "govern the workload with meshform again", "cannot-verify") for p in problems)
    if not needed and not problems:
        yield ok(
            group, f"nothing needed: {mode.facts.name} renders this traffic policy into no custom resource"
        )
    for kind in needed:
        yield served(view, group, mode.facts.name, kind)


def _owned_policy(target: Target) -> bool:
    try:
        record = status.read(target.template)
    except status.StatusError:
        return False  # the conflicts and dry-run checks say what is wrong with it
    return record is not None and bool(record.policy) and bool((record.policy or {}).get("owner"))


def needed_kinds(mode: Mode, owners: Sequence[Target]) -> tuple[list[Needed], list[str]]:
    """The kinds `mode` renders for the policies these workloads recorded (core `v1` objects need no
    API of their own), sorted; and the workloads whose record could not be read, in words."""
    kinds: set[Needed] = set()
    problems = []
    for target in owners:
        record = status.read(target.template)
        assert record is not None and record.policy is not None  # _owned_policy said so
        try:
            declared = context_from_json(record.policy["context"], {})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(f"{target.ref}: the traffic policy in {status.STATUS} is malformed ({exc!r})")
            continue
        for obj in mode.render_policy(enforceable(declared, mode)):
            api_version = str(obj.get("apiVersion", ""))
            if "/" in api_version:
                kinds.add(Needed(api_version, str(obj.get("kind", ""))))
    return sorted(kinds), problems


def install_fix(mode: str, kind: Needed) -> str:
    if kind.group == GATEWAY_API:
        return GATEWAY_API_FIX
    return INSTALL_FIX.get(mode, f"install the CustomResourceDefinition that serves {kind}")


def served(view: ClusterView, group: str, mode: str, kind: Needed) -> Check:
    """One kind, at the version meshform emits: served, missing, too old, or why we cannot tell."""
    fix = install_fix(mode, kind)
    found = view.resource(kind.api_version, kind.kind)
    if isinstance(found, Resource):
        return ok(group, f"{kind} is served", f"CustomResourceDefinition/{found.plural}.{kind.group}")
    if found.kind is not Kind.NOT_FOUND:
        return unavailable(group, found, f"the API serving {kind}", fix)
    versions = serving_versions(view, kind)
    if isinstance(versions, Answer):
        return unavailable(group, versions, f"the API group {kind.group}", fix)
    if not versions:
        return fail(group, f"{kind}: not installed (the cluster serves no {kind.kind})", fix, "not-installed")
    listed = ", ".join(versions)
    if all(priority(v) < priority(kind.version) for v in versions):
        message = f"{kind}: the installed CRD is too old (it serves {kind.kind} only as {listed})"
        return fail(group, message, fix, "too-old")
    message = (
        f"{kind}: the installed CRD serves {kind.kind} only as {listed}, newer than the {kind.version} "
        "this meshform emits"
    )
    return fail(
        group,
        message,
        f"use a meshform release that emits {kind.kind} as {versions[-1]}",
        "version-not-served",
    )


def serving_versions(view: ClusterView, kind: Needed) -> list[str] | Answer:
    """The versions of the kind's group that serve the kind, oldest first ([] when the group is not
    served at all, or serves no such kind); an Answer when discovery itself failed."""
    answer = view.api_group(kind.group)
    if answer.kind is Kind.NOT_FOUND:
        return []
    if not answer.ok:
        return answer
    out = []
    for entry in (answer.data or {}).get("versions") or []:
        found = view.resource(str(entry.get("groupVersion", "")), kind.kind)
        if isinstance(found, Resource):
            out.append(str(entry.get("version", "")))
        elif found.kind is not Kind.NOT_FOUND:
            return found
    return sorted(out, key=priority)


def priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes' version priority, lowest first: alpha < beta < GA, then by major and minor;
    a version not in that form sorts below all of them."""
    found = _KUBE_VERSION.match(version)
    if found is None:
        return (0, 0, 0, version)
    stage = {"alpha": 1, "beta": 2, None: 3}[found.group(2)]
    return (stage, int(found.group(1)), int(found.group(3) or 0), "")
