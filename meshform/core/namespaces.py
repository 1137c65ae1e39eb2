"""Namespace precedence traps: will the cluster really give a workload the mode it asks for?

A Namespace's keys (and a pod's own keys) can override or fight a workload's enrollment. Which keys, and
what they do, are each mode's facts (`ModeFacts.namespace_traps`: e.g. Istio's
`istio-injection=disabled` beats any pod label; `enrolls_namespace`/`enrolls_pod` and the opt-outs:
another mesh that enrolls the namespace injects too unless the pod opts out; `namespace_overlaps`:
whose data plane wins when two arrive). This module only evaluates those facts, the same way offline
(`transform`, `check`: the Namespace when it is in the input) and on a live cluster
(meshform.verify.checks.conflicts: the Namespace as the cluster has it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from meshform.core import status
from meshform.core.workloads import pod_template
from meshform.diagnostics import Diagnostic, Level
from meshform.model.workload_kinds import BUILTIN, WorkloadKinds
from meshform.modes import Registry
from meshform.modes.base import NAME_LABEL, SIDECAR, ModeFacts, NamespaceTrap


class Located(Protocol):
    obj: Any
    file: str
    line: int

    def diagnostic(self, level: Level, code: str, message: str, hint: str = "") -> Diagnostic: ...


def _keys(meta: Any, field: str) -> dict[str, Any]:
    found = meta.get(field) if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


@dataclass(frozen=True)
class Pod:
    """What the injectors read of one workload: its namespace and its pod template's keys."""

    namespace: str
    labels: Mapping[str, Any]
    annotations: Mapping[str, Any]
    host_network: bool = False  # sidecar meshes leave such a pod alone
    # The mode meshform pre-injected this pod with (its record's strategy is `sidecar`): that mesh's
    # webhook has nothing left to do, so its namespace rules do not apply to the pod.
    pre_injected: str = ""

    @classmethod
    def of(cls, obj: Any, template: dict[str, Any]) -> Pod:
        return cls.recorded(obj, template, _record(template))

    @classmethod
    def recorded(cls, obj: Any, template: dict[str, Any], record: status.Record | None) -> Pod:
        """The pod of a workload whose record (None: none, or malformed) the caller has read already."""
        if record is None:
            return cls.governed(obj, template, None)
        return cls.governed(obj, template, Governed(record.mode, record.strategy))

    @classmethod
    def governed(cls, obj: Any, template: dict[str, Any], governed: Governed | None) -> Pod:
        """The pod of a workload whose record says `governed` (None: no record, or a malformed one)."""
        meta = template.get("metadata")
        ns = _keys(obj, "metadata").get("namespace", "") if isinstance(obj, dict) else ""
        spec = template.get("spec")
        host = isinstance(spec, dict) and spec.get("hostNetwork") is True
        annotations = _keys(meta, "annotations")
        pre_injected = governed.mode if governed is not None and governed.strategy == SIDECAR else ""
        return cls(str(ns or ""), _keys(meta, "labels"), annotations, host, pre_injected)


@dataclass(frozen=True)
class Governed:
    """What a status record says that the namespace rules read: the mode and the strategy."""

    mode: str
    strategy: str


@dataclass(frozen=True)
class Written:
    """A status record `transform` has just written on a pod template: its text (the annotation's
    value, the very string object) and what it says. While the template still holds that same
    string, the record is known without reading it back: status.apply wrote it from the mode and
    strategy given here (tests/test_transform_records.py reads every record written back)."""

    text: str
    governed: Governed


def _governed(template: dict[str, Any], written: Mapping[int, Written]) -> Governed | None:
    """What the template's record says: handed over by the run that wrote it, else read."""
    found = written.get(id(template))
    if found is not None:
        meta = template.get("metadata")
        annotations = meta.get("annotations") if isinstance(meta, dict) else None
        if isinstance(annotations, dict) and annotations.get(status.STATUS) is found.text:
            return found.governed
    record = _record(template)
    return None if record is None else Governed(record.mode, record.strategy)


def _record(template: dict[str, Any]) -> status.Record | None:
    """meshform's record on a pod template; None when there is none or it is malformed (those who
    report read it themselves)."""
    try:
        return status.read(template)
    except status.StatusError:
        return None


@dataclass(frozen=True)
class NamespaceIndex:
    namespaces: dict[str, dict[str, Any]]  # name → metadata

    @classmethod
    def build(cls, objects: Iterable[Any]) -> NamespaceIndex:
        found = {}
        for obj in objects:
            if isinstance(obj, dict) and obj.get("kind") == "Namespace" and obj.get("apiVersion") == "v1":
                meta = obj.get("metadata")
                meta = meta if isinstance(meta, dict) else {}
                found[str(meta.get("name", ""))] = meta
        return cls(found)

    def _keys(self, ns: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The namespace's labels (with the name label the API server adds to every Namespace) and
        annotations; for a namespace not in the input, only the name label."""
        meta = self.namespaces.get(ns) or {}
        labels = dict(_keys(meta, "labels"))
        if ns:
            labels.setdefault(NAME_LABEL, ns)
        return labels, _keys(meta, "annotations")

    def enrolls(self, ns: str, facts: ModeFacts) -> bool:
        """Does this namespace, as the input has it, inject `facts`' data plane into its pods?"""
        return ns in self.namespaces and facts.enrolls_namespace(*self._keys(ns))

    def enrolling_keys(self, ns: str, facts: ModeFacts) -> str:
        """`key=value, ...` of this namespace's keys that enroll its pods in `facts`."""
        return enrolling_keys(facts, *self._keys(ns))

    def enrolling(self, ns: str, registry: Registry) -> list[ModeFacts]:
        """Modes whose data plane this namespace injects into every pod that does not opt out."""
        if ns not in self.namespaces:  # what `enrolls` asks first: no mode to look at (most workloads)
            return []
        return [m.facts for m in registry.modes.values() if self.enrolls(ns, m.facts)]

    def conflicts(
        self,
        items: Iterable[Located],
        registry: Registry,
        other_meshes: bool = True,
        kinds: WorkloadKinds = BUILTIN,
        written: Mapping[int, Written] | None = None,
    ) -> Iterator[Diagnostic]:
        """Namespaces enrolled twice, and every workload carrying meshform's status whose mode the
        cluster would not give it. `other_meshes=False` leaves out other meshes that would reach the pod:
        `transform` opts its pods out of them itself, and where a user's key or a selector keeps it
        from doing so it says that itself (MF253, MF254). `written`: the records this run wrote, by
        id of their pod template (see Written)."""
        items = list(items)
        for item in items:
            if isinstance(item.obj, dict) and item.obj.get("kind") == "Namespace":
                yield from self._double_enrollment(item, registry)
        warned: set[tuple[str, str]] = set()
        for item in items:
            template = pod_template(item.obj, kinds)
            governed = _governed(template, written or {}) if template is not None else None
            if governed is None or template is None:
                continue
            mode = registry.modes.get(governed.mode)
            if mode is not None:
                pod = Pod.governed(item.obj, template, governed)  # read once, not again
                yield from self.workload(item, pod, mode.facts, registry, warned, other_meshes)

    def _double_enrollment(self, item: Located, registry: Registry) -> Iterator[Diagnostic]:
        name = str(_keys(item.obj, "metadata").get("name", ""))
        enrolling = self.enrolling(name, registry)
        modes = [f.name for f in enrolling]
        overlap = _winner_note(enrolling)
        if overlap:
            yield item.diagnostic(
                Level.WARNING, "MF601", f"namespace {name} {overlap}", "keep one of the two labels"
            )
        elif len(modes) > 1:
            yield item.diagnostic(
                Level.ERROR,
                "MF601",
                f"namespace {name} is enrolled in {' and '.join(modes)}: pods would get two meshes",
                "keep one mesh's namespace key",
            )

    def workload(
        self,
        item: Located,
        pod: Pod,
        facts: ModeFacts,
        registry: Registry,
        warned: set[tuple[str, str]] | None = None,
        other_meshes: bool = True,
    ) -> Iterator[Diagnostic]:
        """Everything that keeps this pod from getting exactly `facts`' data plane: its own mode's
        traps, and other meshes that its namespace or its own keys bring in. (A pod's own opt-out of
        `facts` is the user's choice: `transform` leaves such a workload out, `check` passes it.)"""
        warned = set() if warned is None else warned
        for trap, level, values in self._traps(pod, facts):
            if trap.once_per_namespace:
                if (pod.namespace, trap.code) in warned:
                    continue
                warned.add((pod.namespace, trap.code))
            yield item.diagnostic(level, trap.code, trap.message.format(**values), trap.hint)
        if other_meshes:
            yield from self._other_meshes(item, pod, facts, registry)

    def blocking(self, pod: Pod, facts: ModeFacts) -> str:
        """The code of the first error trap that keeps `facts`' data plane from this pod altogether
        (MF602: istio-injection=disabled beats the pod's label); "" when none does."""
        return next(
            (t.code for t, level, _ in self._traps(pod, facts) if t.blocks and level is Level.ERROR), ""
        )

    def _traps(self, pod: Pod, facts: ModeFacts) -> Iterator[tuple[NamespaceTrap, Level, dict[str, Any]]]:
        """(trap, level, message values) for every trap of `facts` that fires for this pod."""
        labels, _ = self._keys(pod.namespace)
        known = pod.namespace in self.namespaces
        where = f"namespace {pod.namespace or '(unset)'}" + ("" if known else " (not in the input)")
        if pod.pre_injected == facts.name:  # the traps are the webhook's, which this pod does not need
            return
        for trap in facts.namespace_traps:
            decided = known or trap.judged_without_namespace()
            level = trap.level if decided else trap.unknown_level
            if level is None or not pod.namespace or not trap.triggered(labels, pod.labels):
                continue
            values = {
                "ns": pod.namespace,
                "where": where,
                "value": labels.get(trap.key),
                "pod_value": pod.labels.get(trap.pod_key or trap.key),
            }
            yield trap, level, values

    def blocked(self, pod: Pod, facts: ModeFacts) -> bool:
        """Does a decided trap keep `facts`' data plane away from this pod altogether?"""
        return any(t.blocks and level is Level.ERROR for t, level, _ in self._traps(pod, facts))

    def _other_meshes(
        self, item: Located, pod: Pod, facts: ModeFacts, registry: Registry
    ) -> Iterator[Diagnostic]:
        ns_labels, ns_annotations = self._keys(pod.namespace)
        known = pod.namespace in self.namespaces
        # The pod's keys that its own mode wrote are its own enrollment, whoever else reads them.
        labels = {k: v for k, v in pod.labels.items() if facts.pod_labels.get(k) != v}
        annotations = {k: v for k, v in pod.annotations.items() if facts.pod_annotations.get(k) != v}
        for mode in registry.modes.values():
            other = mode.facts
            if _same_data_plane(facts, other) or other.opted_out(pod.labels, pod.annotations):
                continue
            if other.sidecar and pod.host_network:
                continue  # every sidecar mesh skips hostNetwork pods
            by_namespace = known and other.enrolls_namespace(ns_labels, ns_annotations)
            by_pod = other.enrolls_pod(labels, annotations) and self._gate_open(pod, other)
            if (
                not (by_namespace or by_pod)
                or self.blocked(pod, other)
                or other.name in facts.namespace_overlaps
            ):
                continue  # nothing arrives, or it arrives and skips this pod (facts' data plane wins)
            yield _other_mesh(item, pod, facts, other, by_namespace, ns_labels, ns_annotations)

    def _gate_open(self, pod: Pod, facts: ModeFacts) -> bool:
        """A pod's own opt-in works only where the namespace carries the mode's key, for modes that
        require it (Kuma); a namespace not in the input might."""
        if not facts.namespace_required or pod.namespace not in self.namespaces:
            return True
        labels, annotations = self._keys(pod.namespace)
        return any(k in labels for k in facts.namespace_labels) or any(
            k in annotations for k in facts.namespace_annotations
        )


def _same_data_plane(a: ModeFacts, b: ModeFacts) -> bool:
    """One mode, or a user-defined mode that declares the same proxy (a wrapper around a mesh)."""
    return a.name == b.name or bool(set(a.proof_containers) & set(b.proof_containers))


def _other_mesh(
    item: Located,
    pod: Pod,
    facts: ModeFacts,
    other: ModeFacts,
    by_namespace: bool,
    ns_labels: Mapping[str, Any],
    ns_annotations: Mapping[str, Any],
) -> Diagnostic:
    if by_namespace:
        keys = enrolling_keys(other, ns_labels, ns_annotations)
        code, cause = "MF607", f"namespace {pod.namespace} enrolls every pod in {other.name} ({keys})"
    else:
        keys = enrolling_keys(other, pod.labels, pod.annotations, pod=True)
        code, cause = "MF608", f"the pod template asks for {other.name} too ({keys})"
    wins = other.namespace_overlaps.get(facts.name)
    outcome = (
        f"{other.name}'s data plane wins over {facts.name}: the pod gets {other.name}, not {facts.name}"
        if wins
        else f"the pod would get {other.name} as well as {facts.name}"
    )
    words = other.opt_out_words()
    if not by_namespace:
        hint = f"remove {keys} from the pod template"
    elif words:
        hint = (
            f"opt the pod out of {other.name} ({words}); meshform transform adds it when the Namespace "
            "is in its input"
        )
    else:
        hint = f"remove {keys} from the namespace"
    return item.diagnostic(Level.ERROR, code, f"{cause}: {outcome}", hint)


def enrolling_keys(
    facts: ModeFacts, labels: Mapping[str, Any], annotations: Mapping[str, Any], pod: bool = False
) -> str:
    """`key=value, ...` of the keys among these that enroll in `facts` (a pod's, or a namespace's)."""
    wanted = (
        (facts.pod_labels, facts.pod_annotations)
        if pod
        else (facts.namespace_labels, facts.namespace_annotations)
    )
    found = [f"{k}={labels[k]}" for k in wanted[0] if k in labels]
    found += [f"{k}={annotations[k]}" for k in wanted[1] if k in annotations]
    extra = facts.pod_any_keys if pod else (*facts.namespace_any_keys, *facts.namespace_also)
    found += [f"{k}={labels[k]}" for k in extra if k in labels and f"{k}={labels[k]}" not in found]
    return ", ".join(found)


def _winner_note(enrolling: list[ModeFacts]) -> str:
    """When exactly two modes enroll a namespace and one's data plane is documented to win, what happens."""
    if len(enrolling) != 2:
        return ""
    a, b = enrolling
    return a.namespace_overlaps.get(b.name) or b.namespace_overlaps.get(a.name) or ""
