"""Why each workload has the mode it has: the read-only view behind `meshform status`.

Nothing here changes an object. For each workload of the input it says which data plane the
manifests give its pods and why (meshform's status record, the pod's own keys, its Namespace, a proxy
another injector left), what meshform's record says it added, other injectors' marks, the objects
meshform added next to it (traffic policy among them), and the problems `check` would report. Given
a config (`--mode`/`--config`) it also says which mode that config selects and by which rule.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from meshform.core import foreign, provenance, status
from meshform.core.namespaces import NamespaceIndex, Pod, enrolling_keys
from meshform.core.transform import HELM_HOOK, Transformer
from meshform.core.workloads import pod_template
from meshform.diagnostics import Diagnostic, Level, MeshformError
from meshform.model.config import OPT_OUT, TransformConfig
from meshform.modes import Registry
from meshform.modes.base import ModeFacts
from meshform.objects import Item
from meshform.policy.context import context_from_json

# Objects meshform adds around a workload that are the workload's plumbing, not its policy.
_PLUMBING = frozenset({"Service", "ServiceAccount", "Namespace"})


@dataclass(frozen=True)
class Selection:
    """What a config selects for a workload: a mode (None: left alone) and the reason in words."""

    mode: str | None
    by: str


@dataclass(frozen=True)
class WorkloadStatus:
    """One workload as `meshform status` shows it. `mode` is the data plane the manifests give its
    pods (None: plain Kubernetes); `added` maps a status-record field (labels, annotations,
    containers, initContainers, volumes, env, objects) to the names meshform recorded there."""

    kind: str
    name: str
    namespace: str
    file: str
    line: int
    mode: str | None
    why: tuple[str, ...]
    selected: Selection | None = None
    added: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    foreign: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    problems: tuple[Diagnostic, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "file": self.file,
            "line": self.line,
            "mode": self.mode,
            "why": list(self.why),
            "selected": None
            if self.selected is None
            else {"mode": self.selected.mode, "by": self.selected.by},
            "added": {k: list(v) for k, v in self.added.items()},
            "otherInjectors": list(self.foreign),
            "objects": list(self.objects),
            "problems": [d.to_json() for d in self.problems],
        }


def _meta(obj: Any) -> dict[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta if isinstance(meta, dict) else {}


class Explainer:
    """One look at one set of objects. `config` is None when no --mode/--config was given: then
    nothing is selected and only what the manifests say is reported."""

    def __init__(self, items: list[Item], config: TransformConfig | None, registry: Registry) -> None:
        # The transformer's own reading of the objects (shape checks, namespaces, user opt-outs), so
        # status judges exactly as transform and check do. It is never run.
        self.judge = Transformer(items, config or TransformConfig(), registry)
        self.config = config
        self.registry = registry
        self.namespaces: NamespaceIndex = self.judge.namespaces
        self.owned: dict[tuple[str, str], list[Any]] = {}  # (namespace, name label) → meshform's objects
        for item in self.judge.items:
            labels = _meta(item.obj).get("labels") or {}
            if isinstance(labels, dict) and labels.get(provenance.MANAGED_BY) == "meshform":
                key = (str(_meta(item.obj).get("namespace", "")), str(labels.get(provenance.NAME, "")))
                self.owned.setdefault(key, []).append(item.obj)
        self.kinds = self.judge.kinds  # the config's workload kinds (built-in ones without a config)
        # "Kind/name" an object in some workload's record lists
        self.claimed = {ref for i in self.judge.items for ref in _listed(pod_template(i.obj, self.kinds))}

    @property
    def diagnostics(self) -> list[Diagnostic]:
        """Objects left out because their shape is wrong (located errors)."""
        return [d for d in self.judge.diagnostics if d.level is Level.ERROR]

    def workloads(self) -> list[WorkloadStatus]:
        out = []
        for item in self.judge.items:
            template = pod_template(item.obj, self.kinds)
            if template is not None:
                out.append(self.workload(item, template))
        return out

    def workload(self, item: Item, template: dict[str, Any]) -> WorkloadStatus:
        meta = _meta(item.obj)
        problems: list[Diagnostic] = []
        record = self._record(item, template, problems)
        pod = Pod.of(item.obj, template)
        mode, why = self._governing(item.obj, template, pod, record)
        facts = self.registry.modes[mode].facts if mode is not None and mode in self.registry.modes else None
        trapped = list(self.namespaces.workload(item, pod, facts, self.registry)) if facts else []
        blocked = self.namespaces.blocking(pod, facts) if facts else ""
        if blocked:  # the manifests ask for the mode, but its data plane never reaches the pod
            why.append(f"but its namespace keeps {mode}'s data plane from the pod ({blocked}): none")
            mode = None
        selected = self._selected(item, template) if self.config is not None else None
        if selected is not None:
            problems += self._unmet(item, template, selected, mode)
        problems += trapped
        marker = foreign.marker_problem(item.obj, template)
        if marker is not None:
            problems.append(
                item.diagnostic(Level.ERROR, "MF280", f"its {foreign.ISTIO_STATUS} annotation {marker[1]}")
            )
        return WorkloadStatus(
            kind=str(item.obj.get("kind", "")),
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "")),
            file=item.file,
            line=item.line,
            mode=mode,
            why=tuple(why),
            selected=selected,
            added=MappingProxyType(_added(record)) if record is not None else MappingProxyType({}),
            foreign=tuple(f"{mesh} ({key})" for mesh, key in foreign.marks(item.obj, template)),
            objects=tuple(self._objects(item.obj, record)),
            problems=tuple(dict.fromkeys(problems)),
        )

    def _record(
        self, item: Item, template: dict[str, Any], problems: list[Diagnostic]
    ) -> status.Record | None:
        try:
            record = status.read(template)
        except status.StatusError as exc:
            problems.append(
                item.diagnostic(
                    Level.ERROR,
                    "MF250",
                    f"its {status.STATUS} annotation {exc}: not a record meshform wrote, so it says nothing",
                )
            )
            return None
        try:
            forged = self.judge.provenance_problem(item, template, record) if record is not None else None
        except MeshformError as exc:  # a user-defined mode's template that fails: said, record kept
            problems += exc.diagnostics
            return record
        if forged:  # copied or edited: what it lists is not what meshform added here
            message = f"its {status.STATUS} annotation {forged}: not meshform's record of this workload"
            problems.append(item.diagnostic(Level.ERROR, "MF251", message))
            return None
        return record

    def _governing(
        self, obj: Any, template: dict[str, Any], pod: Pod, record: status.Record | None
    ) -> tuple[str | None, list[str]]:
        """The data plane the manifests give the pod, and every reason the manifests give for it."""
        why = []
        if _ignored(obj, template):
            why.append(f"annotated {OPT_OUT}: true (meshform leaves it alone)")
        mode = None
        if record is not None:
            mode = record.mode
            how = f", {record.strategy}" if record.strategy else ""
            why.append(f"{status.STATUS} records {record.mode}{how} (meshform {record.version or '?'})")
        for facts in self._facts():
            if not facts.enrolls_pod(pod.labels, pod.annotations) or (record and record.mode == facts.name):
                continue  # the record's own keys are said by the record
            mode = mode or facts.name
            why.append(f"pod keys {enrolling_keys(facts, pod.labels, pod.annotations, pod=True)}")
        said = set()
        for facts in self.namespaces.enrolling(pod.namespace, self.registry):
            if facts.sidecar and pod.host_network:
                why.append(
                    f"namespace {pod.namespace} enrolls {facts.name}, whose injector skips hostNetwork pods"
                )
                continue
            out = facts.opted_out(pod.labels, pod.annotations)
            if out:
                said.add(out)
                why.append(f"namespace {pod.namespace} enrolls {facts.name}, the pod opts out ({out})")
                continue
            mode = mode or facts.name
            keys = self.namespaces.enrolling_keys(pod.namespace, facts)
            why.append(f"namespace {pod.namespace} enrolls every pod in {facts.name} ({keys})")
        for facts in self._facts():
            out = facts.opted_out(pod.labels, pod.annotations)
            if (
                out
                and out not in said
                and (record is None or out.partition("=")[0] not in (*record.labels, *record.annotations))
            ):
                why.append(f"own opt-out of {facts.name} ({out})")
        proxy = _proxy(template, self._facts())
        if proxy is not None and (record is None or record.mode != proxy.name):
            mode = mode or proxy.name
            why.append(f"runs {proxy.name}'s proxy already")
        if mode is None:
            why.append("nothing gives it a mesh data plane: plain Kubernetes")
        return mode, why

    def _facts(self) -> Iterator[ModeFacts]:
        return (m.facts for m in self.registry.modes.values())

    def _selected(self, item: Item, template: dict[str, Any]) -> Selection:
        """What `transform` with this config would do, and why: `plan` without its side effects."""
        assert self.config is not None
        obj = item.obj
        if _ignored(obj, template):
            return Selection(None, f"{OPT_OUT}: true")
        if HELM_HOOK in (_meta(obj).get("annotations") or {}) and self.config.helm_hooks == "skip":
            return Selection(None, "a Helm hook (helmHooks: skip)")
        meta, labels = _meta(obj), _meta(template).get("labels") or {}
        entry = self.kinds.of(obj)
        where = (str(obj.get("kind")), str(meta.get("name", "")), str(meta.get("namespace", "")), labels)
        rule = self.config.matching(*where, entry.group if entry is not None else None)
        if rule is not None:
            number = self.config.rules.index(rule) + 1
            if rule.skip or rule.mode is None:
                return Selection(None, f"rule {number} ({rule.describe()}) skips it")
            return Selection(self._canonical(rule.mode), f"rule {number} ({rule.describe()})")
        if self.config.mode:
            return Selection(self._canonical(self.config.mode), "the default mode")
        return Selection(None, "no rule selects it and there is no default mode")

    def _canonical(self, name: str) -> str:
        mode = self.registry.resolve(name)
        return mode.facts.name if mode is not None else name

    def _unmet(
        self, item: Item, template: dict[str, Any], selected: Selection, mode: str | None
    ) -> list[Diagnostic]:
        """The selected mode is not what the manifests give (what `check` fails on)."""
        wanted = self.registry.resolve(selected.mode) if selected.mode else None
        if wanted is None or mode == wanted.facts.name or self.judge.opted_out(template, wanted):
            return []
        now = f"carries {mode}" if mode else "carries no meshform or mesh status"
        message = f"should be governed by {wanted.facts.name} ({selected.by}) but {now}"
        return [item.diagnostic(Level.ERROR, "MF801", message)]

    def _objects(self, obj: Any, record: status.Record | None) -> list[str]:
        """meshform's objects for this workload that the input holds, and those its record lists.
        Objects are found by meshform's labels (managed-by, and the component's name label); one that
        another workload's record lists is that workload's, except traffic policy, which serves the
        whole component: every version of a component shows its DestinationRule, only one lists it.
        A builtin bootstrap ConfigMap is per workload. Never the workload's Service or ServiceAccount."""
        meta = _meta(obj)
        names = {str(meta.get("name", "")), str((meta.get("labels") or {}).get(provenance.NAME, ""))} - {""}
        ns = str(meta.get("namespace", ""))
        own = set(record.objects if record is not None else ())
        found = set(own)
        for other in (o for n in names for o in self.owned.get((ns, n), [])):
            ref = _ref(other)
            kind = ref.partition("/")[0]
            if kind in _PLUMBING or self.kinds.of(other) is not None:
                continue
            if ref in self.claimed and ref not in own and (kind == "ConfigMap" or record is None):
                continue
            found.add(ref)
        return sorted(found)


def _ref(obj: Any) -> str:
    return f"{obj.get('kind')}/{_meta(obj).get('name')}"


def _listed(template: dict[str, Any] | None) -> tuple[str, ...]:
    """The objects a workload's record lists (none when it has no readable record)."""
    try:
        record = status.read(template) if template is not None else None
    except status.StatusError:
        return ()
    return record.objects if record is not None else ()


def _ignored(obj: Any, template: dict[str, Any]) -> bool:
    return any(
        str((_meta(m).get("annotations") or {}).get(OPT_OUT, "")).lower() == "true" for m in (obj, template)
    )


def _proxy(template: dict[str, Any], facts: Iterator[ModeFacts]) -> ModeFacts | None:
    spec = template.get("spec") or {}
    names = {
        c.get("name")
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
        if isinstance(c, dict)
    }
    return next((f for f in facts if f.proof_containers and names & set(f.proof_containers)), None)


def _added(record: status.Record) -> dict[str, tuple[str, ...]]:
    """The record's additions by name (prior values are the record's business, not this view's)."""
    added = {
        "labels": tuple(str(k) for k in record.labels),
        "annotations": tuple(str(k) for k in record.annotations),
        "initContainers": record.init_containers,
        "containers": record.containers,
        "volumes": record.volumes,
        "env": tuple(f"{c}:{v}" for c, variables in record.env.items() for v in variables),
    }
    if record.policy is not None:
        added["policy"] = _features(record.policy)
    return {k: v for k, v in added.items() if v}


def _features(policy: Mapping[str, Any]) -> tuple[str, ...]:
    """The traffic-policy features a record carries (a malformed one is transform's MF912 to say)."""
    try:
        return context_from_json(policy["context"], {}).policy.features()
    except (KeyError, TypeError, ValueError, AttributeError):
        return ("(malformed)",)
