"""Which kinds are workloads, and where each keeps its pod template: Kubernetes' own, the common
extensions built in (Argo Rollouts, OpenKruise), and those a config declares in
`spec.workloadKinds: [{group, kind, podTemplatePath}]` (like kustomize's fieldSpecs).

A kind is known by its API group and name, never by its name alone: OpenKruise's Advanced StatefulSet
is `apps.kruise.io` `StatefulSet`, and a CRD may call itself `Deployment`. An object without an
`apiVersion` (a fragment, not something the API server takes) is matched by name among Kubernetes'
own kinds, as meshform always did.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from meshform.diagnostics import Diagnostic, Level, MeshformError, listing
from meshform.yamlio.reader import Document

TEMPLATE = ("spec", "template")
# Groups whose kinds are Kubernetes' own: their pod template paths are fixed, not declarable.
KUBERNETES_GROUPS = frozenset({"", "apps", "batch", "extensions"})


@dataclass(frozen=True)
class WorkloadKind:
    """One kind of workload: its API group ("" for the core group), its name, and the path from the
    object to its pod template (`()` for a Pod, which is its own template)."""

    group: str
    kind: str
    template: tuple[str, ...]

    @property
    def selector(self) -> tuple[str, ...] | None:
        """Where the workload's own selector sits: next to its pod template (a Pod has none)."""
        return (*self.template[:-1], "selector") if self.template else None

    @property
    def qualified(self) -> str:
        """`Kind.group` as kubectl writes it (`Rollout.argoproj.io`); the bare kind for the core group."""
        return f"{self.kind}.{self.group}" if self.group else self.kind


KUBERNETES: tuple[WorkloadKind, ...] = (
    WorkloadKind("", "Pod", ()),
    WorkloadKind("", "ReplicationController", TEMPLATE),
    *(WorkloadKind("apps", k, TEMPLATE) for k in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")),
    # extensions/v1beta1 served these until Kubernetes 1.16; old charts still carry them.
    *(WorkloadKind("extensions", k, TEMPLATE) for k in ("Deployment", "DaemonSet", "ReplicaSet")),
    WorkloadKind("batch", "Job", TEMPLATE),
    WorkloadKind("batch", "CronJob", ("spec", "jobTemplate", "spec", "template")),
)
# A bare kind in a rule that is one of these names means Kubernetes' own kind, never an extension's
# namesake (an apps.kruise.io StatefulSet is not an apps one): `Kind.group` selects the others.
KUBERNETES_NAMES = frozenset(k.kind for k in KUBERNETES)


def names_kind(listed: tuple[str, ...], kind: str, group: str | None) -> bool:
    """Does a rule's `kinds` list name this kind? `Kind.group` names exactly that group's kind; a bare
    Kubernetes kind name names only Kubernetes' own (or a fragment with no apiVersion, group None); any
    other bare name names the kind in whatever group declares it."""
    if group and f"{kind}.{group}" in listed:
        return True
    if kind not in listed:
        return False
    return kind not in KUBERNETES_NAMES or group is None or group in KUBERNETES_GROUPS


# Common workload CRDs, checked against their CRDs: Argo Rollouts' Rollout (argoproj.io/v1alpha1; a
# Rollout with spec.workloadRef has no template of its own, its Deployment is governed instead), and
# OpenKruise's CloneSet (apps.kruise.io/v1alpha1), Advanced StatefulSet (apps.kruise.io/v1beta1 and
# v1alpha1) and Advanced DaemonSet (apps.kruise.io/v1alpha1), all with a PodTemplateSpec at
# spec.template and a LabelSelector at spec.selector.
EXTENSIONS: tuple[WorkloadKind, ...] = (
    WorkloadKind("argoproj.io", "Rollout", TEMPLATE),
    WorkloadKind("apps.kruise.io", "CloneSet", TEMPLATE),
    WorkloadKind("apps.kruise.io", "StatefulSet", TEMPLATE),
    WorkloadKind("apps.kruise.io", "DaemonSet", TEMPLATE),
)


def group_of(api_version: Any) -> str | None:
    """`apps/v1` → `apps`, `v1` → `` (the core group); None when there is no apiVersion string."""
    if not isinstance(api_version, str):
        return None
    return api_version.rpartition("/")[0]


@dataclass(frozen=True)
class WorkloadKinds:
    """A lookup of workload kinds by (group, kind). Frozen; `with_declared` makes a new one."""

    entries: tuple[WorkloadKind, ...]
    by_key: Mapping[tuple[str, str], WorkloadKind] = field(init=False, repr=False, compare=False)
    names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table = {(e.group, e.kind): e for e in self.entries}  # a later entry replaces an earlier one
        object.__setattr__(self, "by_key", MappingProxyType(table))
        object.__setattr__(self, "names", frozenset(e.kind for e in self.entries))

    def with_declared(self, declared: Iterable[WorkloadKind]) -> WorkloadKinds:
        return WorkloadKinds((*self.entries, *declared))

    def of(self, obj: Any) -> WorkloadKind | None:
        """The workload kind of an object, or None when it is not a workload meshform knows."""
        if not isinstance(obj, dict):
            return None
        kind = obj.get("kind")
        if not isinstance(kind, str) or kind not in self.names:  # most objects: one set look-up
            return None
        group = group_of(obj.get("apiVersion"))
        if group is None:
            return _CORE_BY_NAME.get(kind)
        return self.by_key.get((group, kind))

    def governs(self, name: str) -> bool:
        """Can a rule's `kinds` entry select anything: a known kind's name, or `Kind.group`?"""
        if name in self.names:
            return True
        kind, _, group = name.partition(".")
        return (group, kind) in self.by_key

    def known_names(self) -> list[str]:
        return sorted(self.names)


# Without an apiVersion only Kubernetes' own kinds are recognised, by name, as they always were.
_CORE_BY_NAME = {e.kind: e for e in KUBERNETES if e.group != "extensions"}
BUILTIN = WorkloadKinds((*KUBERNETES, *EXTENSIONS))


def parse_path(text: str) -> tuple[str, ...]:
    """kustomize's fieldSpec path syntax: `spec/template` → ("spec", "template")."""
    return tuple(text.split("/"))


def declared(doc: Document, entries_raw: list[dict[str, str]]) -> WorkloadKinds:
    """The built-in kinds plus `spec.workloadKinds`; a declared kind may replace a built-in extension
    (its CRD may move the template) but not one of Kubernetes' own, and may be declared once."""
    own = {(e.group, e.kind) for e in KUBERNETES}
    seen: set[tuple[str, str]] = set()
    entries, diags = [], []
    for i, raw in enumerate(entries_raw):
        entry = WorkloadKind(raw["group"], raw["kind"], parse_path(raw["podTemplatePath"]))
        key = (entry.group, entry.kind)
        problem = (
            f"{entry.qualified} is Kubernetes' own workload kind: meshform knows its pod template"
            if key in own
            else f"{entry.qualified} is declared twice in spec.workloadKinds"
            if key in seen
            else ""
        )
        if problem:
            line, col = doc.position(("spec", "workloadKinds", i))
            where = f"$.spec.workloadKinds[{i}]"
            fix = "remove this entry"
            diags.append(Diagnostic(doc.file, line, col, Level.ERROR, "MF433", problem, where, "", fix))
        seen.add(key)
        entries.append(entry)
    if diags:
        raise MeshformError(diags)
    return BUILTIN.with_declared(entries)


def ungovernable(doc: Document, rules: list[dict[str, Any]], kinds: WorkloadKinds) -> Iterator[Diagnostic]:
    """A rule naming a kind that is no workload meshform knows would silently select nothing."""
    from meshform.suggest import closest  # lazily, as difflib was: core.workloads imports this module

    known = kinds.known_names()
    for i, rule in enumerate(rules):
        for j, name in enumerate(rule.get("kinds", ())):
            if kinds.governs(name):
                continue
            line, col = doc.position(("spec", "rules", i, "kinds", j))
            close = closest(name, known, limit=1)  # the rule every "did you mean" follows
            guess = f"did you mean {close[0]!r}? " if close else ""
            message = f"rule {i + 1} names kind {name!r}, which is no workload kind meshform can govern"
            fix = (
                f"{guess}meshform governs {listing(known)}; declare another kind with its pod template "
                "under spec.workloadKinds: [{group, kind, podTemplatePath}]"
            )
            yield Diagnostic(
                doc.file, line, col, Level.ERROR, "MF430", message, f"$.spec.rules[{i}].kinds[{j}]", "", fix
            )
