"""Governing existing manifests: the core behind `transform`, `krm`, `helm-postrender` and `check`.

For each workload the config selects, in order: check meshform's own record is true of the workload
(meshform.core.provenance), undo it (exact), adopt what other injectors left (istioctl kube-inject,
linkerd inject), then enroll in the chosen mode and record it. Objects are mutated in place; the caller
decides how to write them.

Keys the user wrote are the user's: meshform removes or changes only what its status records. So a
user's own opt-out of the selected mode leaves the workload out of it (a warning), a user's key of
another mesh stays (a warning: the pod is enrolled there too), and a label a selector needs (the
workload's own, or a Service's) is never removed or changed, not even one meshform added: it is
carried into the next record so that `A → B → A` stays exact.
"""

from __future__ import annotations

import copy
import marshal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from meshform.core import foreign, identity, owned, provenance, shapes, status
from meshform.core.namespaces import Governed, NamespaceIndex, Written
from meshform.core.policy import (
    attach,
    enforceable,
    l7_service,
    recorded_ports,
    recorded_upstreams,
    tcp_sides,
)
from meshform.core.workloads import (
    find_pod_template,
    job_template,
    pod_owner,
    pod_template,
    selector_keys,
    template_path,
)
from meshform.diagnostics import Diagnostic, Level
from meshform.model import apiserver
from meshform.model.config import OPT_OUT, TransformConfig
from meshform.model.schema import json_path
from meshform.model.workload_kinds import group_of
from meshform.modes import Registry
from meshform.modes.base import (
    SIDECAR,
    EnrollContext,
    Enrollment,
    Finding,
    Mode,
    ModeFacts,
    Port,
    skips_pod,
)
from meshform.objects import Item, resource_ref
from meshform.policy.context import Peer, PolicyContext, context_from_json
from meshform.policy.records import ALLOW_DEPENDENTS, L7_FEATURES
from meshform.suggest import did_you_mean

HELM_HOOK = "helm.sh/hook"


def _meta(obj: Any) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _opted_out(obj: Any, template: dict[str, Any]) -> bool:
    for meta in (_meta(obj), _meta(template)):
        if str((meta.get("annotations") or {}).get(OPT_OUT, "")).lower() == "true":
            return True
    return False


def container_ports(spec: dict[str, Any]) -> tuple[Port, ...]:
    """The pod's own ports, with a protocol guessed Istio-style from the port name."""
    out = []
    for container in spec.get("containers") or []:
        for p in container.get("ports") or []:
            if not isinstance(p, dict) or not isinstance(p.get("containerPort"), int):
                continue
            name = str(p.get("name") or f"p{p['containerPort']}")
            out.append(Port(name, p["containerPort"], _protocol(name, str(p.get("protocol", "TCP")))))
    return tuple(out)


def _protocol(name: str, transport: str) -> str:
    if transport.upper() == "UDP":
        return "udp"
    prefix = name.split("-")[0].lower()
    return {"http": "http", "http2": "http2", "h2c": "http2", "grpc": "grpc"}.get(prefix, "tcp")


@dataclass(frozen=True)
class Plan:
    """What the config decided for one workload."""

    mode: Mode
    strategy: str


def _policy_problem(context: Any) -> str | None:
    """Why a recorded traffic policy could not have come from a model (meshform.model.policy_record,
    which reads the application model's checks: imported only for a record that carries a policy)."""
    from meshform.model import policy_record

    return policy_record.problem(context)


def _reinjected(item: Item, ignored: list[str]) -> Diagnostic:
    """MF437: a CronJob `istioctl kube-inject` injected without the pod template's Istio overrides
    is injected again, with them: the output differs from kube-inject's (not silently)."""
    return item.diagnostic(
        Level.WARNING,
        "MF437",
        f"{resource_ref(item.obj)} was injected by istioctl kube-inject, which reads a CronJob's Istio "
        f"annotations from spec.jobTemplate.metadata and so ignored the pod template's "
        f"{', '.join(ignored)}: meshform injects it again with them, as istiod's webhook injects its pods",
    )


class Transformer:
    """One run over one set of objects."""

    def __init__(self, items: list[Item], config: TransformConfig, registry: Registry) -> None:
        # Objects of the wrong shape are reported and left alone: nothing below reads them.
        self.items, self.diagnostics = shapes.checked(items, config.workload_kinds)
        items = self.items
        self.config = config
        self.kinds = config.workload_kinds
        self.registry = registry
        self.namespaces = NamespaceIndex.build([i.obj for i in items])
        self.keys = provenance.governance_keys(registry)
        # key → the first mode that enrolls with it (a few look-ups per workload, not a registry scan)
        self.owners: dict[str, ModeFacts] = {}
        for mode in registry.modes.values():
            for key in mode.facts.owned_keys:
                self.owners.setdefault(key, mode.facts)
        self.added: set[tuple[str, ...]] = set()  # objects enrollments added in this run
        # records this run wrote, by id of their pod template: the namespace rules need not read them
        self.written: dict[int, Written] = {}
        self.by_ref: owned.Index | None = None
        self.peer_modes: dict[str, Mode | None] = {}  # a dependent component → its workloads' mode
        # (namespace, one selector pair) → Services, so matching a workload costs a few look-ups
        self.services: dict[tuple[str, str, str], list[Item]] = {}
        for item in items:
            if isinstance(item.obj, dict) and item.obj.get("kind") == "Service":
                spec = item.obj.get("spec")
                selector = spec.get("selector") if isinstance(spec, dict) else None
                if selector and isinstance(selector, dict):
                    key, value = min((str(k), str(v)) for k, v in selector.items())
                    ns = str(_meta(item.obj).get("namespace", ""))
                    self.services.setdefault((ns, key, value), []).append(item)
        # Workloads alike select the same Services: each selection, and what follows from it, is found
        # once (N workloads behind the same N Services cost N², not N³, and little per pair).
        self.selections: dict[Any, list[Item]] = {}
        self.selection_holders: dict[int, dict[str, str]] = {}  # id(selection) → label → holder
        self.selection_names: dict[int, list[str]] = {}
        # Services carrying a status record (read per workload only for these)
        self.recorded = {
            id(i)
            for services in self.services.values()
            for i in services
            if status.STATUS in (_meta(i.obj).get("annotations") or {})
        }

    def run(self) -> list[Diagnostic]:
        by_ref = self._index()
        mentions = _Mentions("containers")
        for item in list(self.items):
            template = pod_template(item.obj, self.kinds)
            if template is not None:
                self._workload(item, template, by_ref)
            elif mentions.of(item.text):
                self._not_a_workload(item)
        # other meshes reaching a pod: _enroll opts it out, or says why it cannot (MF253, MF254)
        self.diagnostics += self.namespaces.conflicts(
            self.items, self.registry, other_meshes=False, kinds=self.kinds, written=self.written
        )
        return self.diagnostics

    def _not_a_workload(self, item: Item) -> None:
        """An object meshform does not govern that carries a pod template would run pods outside the
        mode the user chose, silently: say so, at the template (MF431 for a kind meshform does not
        know, MF432 for a known kind whose template is not where its entry says)."""
        obj = item.obj
        found = find_pod_template(obj)
        if found is None or _opted_out(obj, _at_path(obj, found)):
            return
        entry = self.kinds.of(obj)
        where = json_path(found)
        ref = resource_ref(obj)
        if entry is None:
            api = obj.get("apiVersion")
            group = group_of(api) or '""'
            diag = item.diagnostic(
                Level.WARNING,
                "MF431",
                f"{ref} ({api}) carries a pod template at {where}, but is no workload kind meshform "
                "knows: its pods are left ungoverned",
                f"to govern it, add to the config spec.workloadKinds: [{{group: "
                f"{group}, kind: {obj.get('kind')}, podTemplatePath: "
                f'{"/".join(str(p) for p in found)}}}]; or annotate it {OPT_OUT}: "true"',
            )
        else:
            declared = "/".join(entry.template)
            diag = item.diagnostic(
                Level.WARNING,
                "MF432",
                f"{ref} has no pod template at {json_path(entry.template)} (podTemplatePath {declared}) "
                f"but one at {where}: its pods are left ungoverned",
            )
        line, col = shapes.locate(item, found)
        self.diagnostics.append(replace(diag, line=line, col=col, path=where))

    def plan(self, item: Item, template: dict[str, Any]) -> Plan | None:
        obj = item.obj
        if _opted_out(obj, template):
            return None
        if HELM_HOOK in (_meta(obj).get("annotations") or {}) and self.config.helm_hooks == "skip":
            self.diagnostics.append(
                item.diagnostic(
                    Level.INFO,
                    "MF405",
                    f"Helm hook {resource_ref(obj)} left ungoverned (spec.helmHooks: skip)",
                )
            )
            return None
        labels = _meta(template).get("labels") or {}
        entry = self.kinds.of(obj)
        choice = self.config.choose(
            obj["kind"],
            str(_meta(obj).get("name", "")),
            str(_meta(obj).get("namespace", "")),
            labels,
            entry.group if entry is not None else None,
        )
        if choice is None:
            return None
        mode = self.registry.resolve(choice.mode)
        if mode is None:
            self.diagnostics.append(
                item.diagnostic(
                    Level.ERROR,
                    "MF204",
                    f"unknown governance mode {choice.mode!r} for {resource_ref(obj)}"
                    + did_you_mean(choice.mode, self.registry.names()),
                )
            )
            return None
        strategy = choice.enrollment or mode.facts.strategies[0]
        if strategy not in mode.facts.strategies:
            self.diagnostics.append(
                item.diagnostic(
                    Level.ERROR,
                    "MF205",
                    f"mode {mode.facts.name!r} cannot enroll by {strategy!r} "
                    f"(supports: {', '.join(mode.facts.strategies)})",
                )
            )
            return None
        return Plan(mode, strategy)

    def _index(self) -> owned.Index:
        """The input's objects by (kind, namespace, name), every copy (built once per run)."""
        if self.by_ref is None:
            self.by_ref = owned.index(self.items)
        return self.by_ref

    def _duplicate(self, item: Item, by_ref: owned.Index) -> bool:
        """A workload one input file holds twice is one object the API server would keep once: which copy
        is meant is the user's to say, so a later copy is refused (located) and left as it is."""
        copies = owned.at(by_ref, owned.object_key(item.obj), item.file)
        if copies[0] is item:
            return False
        first = copies[0]
        self.diagnostics.append(
            item.diagnostic(
                Level.ERROR,
                owned.DUPLICATE_WORKLOAD,
                f"{resource_ref(item.obj)} is in the input twice (first at {first.file}:{first.line}): "
                "the API server keeps one of them",
            )
        )
        return True

    def owned_findings(self, item: Item, template: dict[str, Any], level: Level) -> list[Diagnostic]:
        """The objects the workload's record lists, as the input holds them, compared with what the
        recorded mode renders from the recorded policy (missing, edited, duplicated, not meshform's)."""
        try:
            record = status.read(template)
        except status.StatusError:
            return []  # reported where the record is read
        mode = self.registry.modes.get(record.mode) if record is not None else None
        if record is None or mode is None or not record.objects or not isinstance(template.get("spec"), dict):
            return []
        expected = lambda m: self._expected(item, template, m, record)  # noqa: E731
        if provenance.problem(record, template, mode, self.keys, expected):
            return []  # not meshform's record: nothing it lists is meshform's to judge (MF251 says so)
        bare = snapshot(template)
        status.remove(bare, record, self._holders(item, self._services(item, template)))
        rendered = self._expected(item, bare, mode, record).objects
        out = []
        for found in owned.compare(item, record.objects, rendered, self._index()):
            if level is Level.WARNING and found.code == owned.MISSING:
                continue  # transform renders it again
            out.append(self._owned_diagnostic(item, found, level, record.mode))
        return out

    def _owned_diagnostic(self, item: Item, found: owned.Finding, level: Level, mode: str) -> Diagnostic:
        where = found.item or item
        message = f"{found.message}; {resource_ref(item.obj)} records it for {mode}"
        if found.item is None:
            diag = item.diagnostic(level, found.code, message)
            path = (*template_path(item.obj, self.kinds), "metadata", "annotations", status.STATUS)
            line, col = shapes.locate(item, path)
            return replace(diag, line=line, col=col, path=json_path(path))
        if level is Level.WARNING and found.code == owned.FOREIGN:
            message += ": it is left as it is"
        elif level is Level.WARNING:
            message += ": every copy meshform owns is replaced by what the recorded policy renders"
        return where.diagnostic(level, found.code, message)

    def _workload(self, item: Item, template: dict[str, Any], by_ref: owned.Index) -> None:
        if not isinstance(template.get("spec"), dict):
            return
        plan = self.plan(item, template)
        if plan is None or self._duplicate(item, by_ref):
            return
        services = self._services(item, template) if self.services else []
        if self._bad_marker(item, template):
            return
        records = self._records(item, template, services)
        if records is None:
            return
        record, service_records = records
        if record is not None and record.objects:
            self.diagnostics += self.owned_findings(item, template, Level.WARNING)
        # Without a record or another injector's marks nothing below removes anything, and the object
        # changes exactly when an enrollment is recorded (a status the template did not have): no copy
        # to compare with. Otherwise a copy, compared at the end (a re-run restores what it removed).
        # (adopts is asked here only where nothing is removed before adopt runs: it sees what adopt would)
        fresh = record is None and not service_records and not foreign.adopts(item.obj, template)
        before = None if fresh else snapshot(item.obj)
        holders = self._holders(item, services)
        job = job_template(item.obj)
        kept = status.remove(template, record, holders, job) if record is not None else {}
        for svc, svc_record in service_records:
            status.remove_service(svc.obj, svc_record)
            self.recorded.discard(id(svc))
            svc.changed = True
        if record is not None:
            self._drop_stale(record, item, by_ref)
        if not fresh:  # on a fresh workload adopt would change nothing (adopts said so)
            ignored = foreign.kube_inject_ignored(item.obj, template)
            foreign.adopt(item.obj, template, item.parent)
            if ignored and plan.strategy == SIDECAR and plan.mode.facts.name == "istio":
                self.diagnostics.append(_reinjected(item, ignored))
        policy = record.policy if record is not None else None
        applied = self._enroll(item, template, plan, services, kept, holders, by_ref, policy)
        item.changed = applied if fresh else item.obj != before

    def _records(
        self, item: Item, template: dict[str, Any], services: list[Item]
    ) -> tuple[status.Record | None, list[tuple[Item, status.Record]]] | None:
        """The workload's record and its Services', each checked before anything is removed on its
        word; None (with a located error) when one cannot be meshform's."""
        try:
            record = status.read(template)
        except status.StatusError as exc:
            self._bad_status(item, "MF250", str(exc))
            return None
        bad_policy = _policy_problem(record.policy["context"]) if record and record.policy else None
        if bad_policy:
            self._bad_status(
                item, "MF250", f"records a traffic policy the model could not declare ({bad_policy})"
            )
            return None
        if record is not None:
            found = self.provenance_problem(item, template, record)
            if found:
                self._bad_status(item, "MF251", found)
                return None
            edit = status.edited(template, record, job_template(item.obj))
            if edit is not None:
                base = ("spec", "jobTemplate") if edit.in_job else template_path(item.obj, self.kinds)
                self._edited(item, base, edit)
                return None
        service_records = []
        for svc in services if self.recorded else ():
            if id(svc) not in self.recorded:
                continue
            try:
                svc_record = status.read(svc.obj)
            except status.StatusError as exc:
                self._bad_status(svc, "MF250", str(exc))
                return None
            if svc_record is None:
                continue
            found = provenance.service_problem(svc_record, svc.obj, self.registry)
            if found:
                self._bad_status(svc, "MF251", found)
                return None
            edit = status.edited(svc.obj, svc_record)
            if edit is not None:
                self._edited(svc, (), edit)
                return None
            service_records.append((svc, svc_record))
        return record, service_records

    def provenance_problem(self, item: Item, template: dict[str, Any], record: status.Record) -> str | None:
        """Why `record` cannot be meshform's record of this workload (None: it can be)."""
        mode = self.registry.modes.get(record.mode)
        return provenance.problem(
            record, template, mode, self.keys, lambda m: self._expected(item, template, m, record)
        )

    def _bad_status(self, item: Item, code: str, problem: str) -> None:
        found = item.diagnostic(
            Level.ERROR,
            code,
            f"{resource_ref(item.obj)}: its {status.STATUS} annotation {problem}; nothing was changed",
            f"a status copied from another workload or edited by hand is not meshform's record: "
            f"remove the {status.STATUS} annotation (and whatever it lists that meshform added), "
            "then run meshform again",
        )
        where = (
            *template_path(item.obj, self.kinds),
            "metadata",
            "annotations",
            status.STATUS,
        )
        line, col = shapes.locate(item, where)  # at the annotation itself
        self.diagnostics.append(replace(found, line=line, col=col, path=json_path(where)))

    def _edited(self, item: Item, base: tuple[str | int, ...], edit: status.Written) -> None:
        """A value meshform wrote that the user has changed since: removing on the record's word
        would put the prior back over the user's edit, so nothing is changed (MF251, at the value)."""
        diag = item.diagnostic(
            Level.ERROR,
            "MF251",
            f"{resource_ref(item.obj)}: the {edit.name} is not what meshform wrote there, so its "
            f"{status.STATUS} annotation is not true of the workload any more (switching or a re-run "
            "would put back the value from before meshform over your edit); nothing was changed",
            "put back what meshform wrote, or make the change in the un-injected source and run "
            "meshform again",
        )
        where = (*base, *edit.path)
        line, col = shapes.locate(item, where)
        self.diagnostics.append(replace(diag, line=line, col=col, path=json_path(where)))

    def _bad_marker(self, item: Item, template: dict[str, Any]) -> bool:
        """Report (located) a foreign injector's marker that cannot be that injector's: adoption would
        remove what it lists, so nothing is changed on its word."""
        found = foreign.marker_problem(item.obj, template)
        if found is None:
            return False
        index, problem = found
        diag = item.diagnostic(
            Level.ERROR,
            "MF280",
            f"{resource_ref(item.obj)}: its {foreign.ISTIO_STATUS} annotation {problem}; nothing was changed",
            f"a {foreign.ISTIO_STATUS} copied from another workload or edited by hand is not Istio's: "
            "remove it (and whatever it lists that Istio added), then run meshform again",
        )
        base = template_path(item.obj, self.kinds) if index == 0 else ("spec", "jobTemplate")
        where = (*base, "metadata", "annotations", foreign.ISTIO_STATUS)
        line, col = shapes.locate(item, where)
        self.diagnostics.append(replace(diag, line=line, col=col, path=json_path(where)))
        return True

    def _expected(
        self, item: Item, template: dict[str, Any], mode: Mode, record: status.Record
    ) -> Enrollment:
        """What `mode` adds to this workload (the record's strategy, if the mode has it)."""
        strategy = record.strategy if record.strategy in mode.facts.strategies else mode.facts.strategies[0]
        declared = self._recorded_policy(item, record.policy, mode, report=False)
        usable = None if declared is None else enforceable(declared, mode)
        owner = bool((record.policy or {}).get("owner"))
        enrollment = mode.enroll(self._context(item, template, mode, strategy, declared, usable, owner))
        if declared is not None and usable is not None:
            attach(enrollment, mode, declared, usable, owner, None)
        return enrollment

    def _services(self, item: Item, template: dict[str, Any]) -> list[Item]:
        labels = _meta(template).get("labels") or {}
        ns = str(_meta(item.obj).get("namespace", ""))
        try:
            selection: Any = (ns, frozenset(labels.items()))
            cached = self.selections.get(selection)
        except TypeError:  # an unhashable label value: matched, not cached
            selection, cached = None, None
        if cached is not None:
            return cached
        found, seen = [], set()  # by identity: comparing Items would compare whole objects
        for key, value in labels.items():
            for other in self.services.get((ns, str(key), str(value)), []):
                if id(other) in seen:
                    continue
                seen.add(id(other))
                selector = other.obj["spec"]["selector"]
                if all(labels.get(k) == v for k, v in selector.items()):
                    found.append(other)
        if selection is not None:
            self.selections[selection] = found
        return found

    def _holders(self, item: Item, services: list[Item]) -> dict[str, str]:
        """Pod label → the selector that needs it (the workload's own, or a Service's)."""
        held = {key: "spec.selector" for key in selector_keys(item.obj, self.kinds)}
        by_services = self.selection_holders.get(id(services)) if services else None
        if by_services is None:
            by_services = {}
            for svc in services:
                for key in svc.obj["spec"]["selector"]:
                    if str(key) not in by_services:
                        by_services[str(key)] = f"the selector of {resource_ref(svc.obj)}"
            if services:
                self.selection_holders[id(services)] = by_services
        for key, holder in by_services.items():
            held.setdefault(key, holder)
        return held

    def _drop_stale(self, old: status.Record, item: Item, by_ref: owned.Index) -> None:
        """Objects the old record lists, if they name this workload as their owner (every copy: a
        duplicated one must not outlive the switch); any other object of that name is the user's and
        stays."""
        ns = str(_meta(item.obj).get("namespace", ""))
        for ref in old.objects:
            kind, _, name = ref.partition("/")
            for stale in owned.at(by_ref, (kind, ns, name), item.file):
                if provenance.owns(item.obj, stale.obj):
                    stale.dropped = True

    def _user_opt_out(self, template: dict[str, Any], target: Mode, kept: dict[str, Any]) -> str:
        """`key=value` of the user's own opt-out of `target` on the (un-governed) pod template, or ""."""
        meta = template.get("metadata") or {}
        labels = meta.get("labels") or {}
        views = (status.before(labels, kept) if kept else labels, meta.get("annotations") or {})
        facts = target.facts
        for key in (*facts.opt_out_labels, *facts.opt_out_annotations):
            for keys in views:
                if isinstance(keys, dict) and key in keys and facts.is_opt_out(key, keys[key]):
                    return f"{key}={keys[key]}"
        return ""

    def opted_out(self, template: dict[str, Any], target: Mode) -> bool:
        """Does the user's own key (not one meshform's record says it set) opt this pod out of `target`?
        `check` asks this of governed input; `transform` leaves such a workload out, with a warning."""
        try:
            record = status.read(template)
        except status.StatusError:
            record = None
        meta = template.get("metadata") or {}
        labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
        if record is not None:
            labels, annotations = (
                status.before(labels, record.labels),
                status.before(annotations, record.annotations),
            )
        return (
            self._user_opt_out({"metadata": {"labels": labels, "annotations": annotations}}, target, {}) != ""
        )

    def _context(
        self,
        item: Item,
        template: dict[str, Any],
        mode: Mode,
        strategy: str,
        declared: PolicyContext | None,
        usable: PolicyContext | None,
        owner: bool,
    ) -> EnrollContext:
        """The workload as the mode sees it. A recorded policy (`declared`) carries what the model said
        (component, declared port protocols, dependencies), so the mode renders here exactly what
        `render` rendered from the model; without one, ports and protocols are read off the pod."""
        obj = item.obj
        name = str(_meta(obj).get("name", ""))
        labels = _meta(template).get("labels") or {}
        return EnrollContext(
            app=str((_meta(obj).get("labels") or {}).get("app.kubernetes.io/part-of", "")),
            namespace=str(_meta(obj).get("namespace", "")) or "default",
            component=name if declared is None else declared.component.component,
            workload_name=name,
            kind=str(obj["kind"]),
            pod_spec=template["spec"],
            ports=container_ports(template["spec"]) if declared is None else recorded_ports(declared),
            upstreams=() if declared is None else recorded_upstreams(declared),
            options=dict(self.config.mode_options.get(mode.facts.name, {})),
            strategy=strategy,
            policy=usable,
            policy_owner=owner and usable is not None,
            pod_labels={str(k): str(v) for k, v in labels.items()},
            pod_annotations=dict(_meta(template).get("annotations") or {}),
            api_version=str(obj.get("apiVersion", "")),
            **pod_owner(obj),
        )

    def _enroll(
        self,
        item: Item,
        template: dict[str, Any],
        plan: Plan,
        services: list[Item],
        kept: dict[str, Any],
        holders: dict[str, str],
        by_ref: owned.Index,
        recorded: Mapping[str, Any] | None,
    ) -> bool:
        """Enroll the workload in plan's mode and record it; False when nothing was applied (opted out,
        clashing names, or nothing to add or carry): the template is then as it was given here."""
        mode = plan.mode
        declared = self._recorded_policy(item, recorded, mode, report=True)
        usable = None if declared is None else self._usable(item, declared, mode, recorded or {})
        enrollment: Enrollment = Enrollment()
        ports: tuple[Port, ...] = ()
        opt_out = self._user_opt_out(template, mode, kept)
        if opt_out:
            self.diagnostics.append(
                item.diagnostic(
                    Level.WARNING,
                    "MF252",
                    f"{resource_ref(item.obj)} opts out of {mode.facts.name} with its own {opt_out}: "
                    f"left out of {mode.facts.name}",
                    f'remove {opt_out.partition("=")[0]} to govern it, or annotate it {OPT_OUT}: "true" '
                    "to silence this",
                )
            )
        else:
            owner = bool(recorded.get("owner")) if recorded is not None else False
            ctx = self._context(item, template, mode, plan.strategy, declared, usable, owner)
            ports = ctx.ports
            self.diagnostics += (self._finding(item, f, ctx.options) for f in mode.findings(ctx))
            if not skips_pod(mode.facts, plan.strategy, template["spec"], ctx.namespace):
                enrollment = mode.enroll(ctx)
                ns = str(_meta(item.obj).get("namespace", ""))
                enrollment.opt_out_of(mode.facts.name, self.namespaces.enrolling(ns, self.registry))
            if declared is not None and usable is not None and recorded is not None:
                attach(enrollment, mode, declared, usable, owner, recorded.get("enforcement"))
        self._respect_user_keys(item, template, enrollment, holders, mode, plan.strategy)
        clashes = status.collisions(template, enrollment) + self._object_clashes(item, enrollment, by_ref)
        if clashes:
            self.diagnostics.append(
                item.diagnostic(
                    Level.ERROR,
                    "MF255",
                    f"{resource_ref(item.obj)} already has {', '.join(clashes)}, which {mode.facts.name} "
                    "adds under that name: the result would be invalid, and removing the mode later would "
                    "remove yours",
                    "rename your container, volume or object (meshform's names are fixed)",
                )
            )
            return False
        if enrollment.is_empty() and not kept:
            return False
        name, strategy = mode.facts.name, plan.strategy
        text = status.apply(template, name, strategy, enrollment, kept, job_template(item.obj))
        self.written[id(template)] = Written(text, Governed(name, strategy))
        if self._too_big(item, template, mode):
            return False
        self._rewire(services, ports, enrollment, mode)
        item.added = enrollment.objects
        if not enrollment.is_empty():
            self._identity(item, template, mode.facts, services)
        return True

    def _too_big(self, item: Item, template: dict[str, Any], mode: Mode) -> bool:
        """Did the enrollment push the pod template's annotations (or, for a CronJob, its
        jobTemplate's) over what the API server takes? Then a located MF172: the result is never
        emitted (an error stops the run), so what the user wrote stays as it was."""
        job = job_template(item.obj)
        for meta, path in (
            (_meta(template), (*template_path(item.obj, self.kinds), "metadata", "annotations")),
            (_meta(job) if job is not None else {}, ("spec", "jobTemplate", "metadata", "annotations")),
        ):
            why = apiserver.annotations_too_big(meta.get("annotations") or {})
            if why:
                line, col = shapes.locate(item, path)
                message = (
                    f"{resource_ref(item.obj)} under {mode.facts.name}: once enrolled, {why} (the mesh's "
                    "annotations and meshform's status record, which keeps every value the enrollment "
                    "replaced, are added to yours)"
                )
                hint = "shorten or move your largest annotations (a ConfigMap holds more)"
                diag = item.diagnostic(Level.ERROR, "MF172", message, hint)
                self.diagnostics.append(replace(diag, line=line, col=col, path=json_path(path)))
                return True
        return False

    def _finding(self, item: Item, found: Finding, options: Mapping[str, Any]) -> Diagnostic:
        """A mode's finding, at the key inside the injector input it is about, or at the pod template
        annotation it is about (if it names one)."""
        if found.value is not None:
            ref = resource_ref(item.obj)
            from meshform.model import injector_inputs  # a finding's location: only when there is one

            return injector_inputs.located(
                options, *found.value, found.code, found.message, level=Level(found.level), ref=ref
            )
        diag = item.diagnostic(Level(found.level), found.code, found.message, found.hint)
        if found.pod_path:
            path = (*template_path(item.obj, self.kinds), *found.pod_path)
            line, col = shapes.locate(item, path)
            return replace(diag, line=line, col=col, path=json_path(path))
        if not found.annotation:
            return diag
        path = (*template_path(item.obj, self.kinds), "metadata", "annotations", found.annotation)
        line, col = shapes.locate_value(item, path)
        return replace(diag, line=line, col=col, path=json_path(path))

    def _identity(self, item: Item, template: dict[str, Any], facts: ModeFacts, services: list[Item]) -> None:
        """A mode naming workloads after their Service (Consul): say where the input cannot satisfy it;
        the ServiceAccount and the Services are the user's to change, not meshform's."""
        if facts.service_identity is None:
            return
        found = identity.problems(
            facts.service_identity,
            facts.name,
            resource_ref(item.obj),
            _meta(template).get("annotations"),
            identity.service_account(template["spec"]),
            self._names(services),
            where=" in the input",
        )
        self.diagnostics += (item.diagnostic(Level.WARNING, p.code, p.message, p.hint) for p in found)

    def _recorded_policy(
        self, item: Item, recorded: Mapping[str, Any] | None, mode: Mode, report: bool
    ) -> PolicyContext | None:
        """The neutral policy a previous run recorded on this workload, or None; a malformed one is a
        located error (`report`) and the workload is governed without it."""
        if not recorded:
            return None
        options = dict(self.config.mode_options.get(mode.facts.name, {}))
        try:
            return context_from_json(recorded["context"], options)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if report:
                self.diagnostics.append(
                    item.diagnostic(
                        Level.ERROR,
                        "MF912",
                        f"{resource_ref(item.obj)}: the traffic policy in {status.STATUS} is malformed "
                        f"({exc!r})",
                    )
                )
            return None

    def _usable(
        self, item: Item, declared: PolicyContext, mode: Mode, recorded: Mapping[str, Any]
    ) -> PolicyContext:
        """What `mode` can enforce of the recorded policy; the rest is an error when the policy was
        declared strict, a warning under best-effort, as in `render`."""
        # the model's checks (and the application model they read): only for a record with a policy
        from meshform.model.policy_checks import dropped_values

        usable = enforceable(declared, mode)
        lost = sorted(set(declared.policy.features()) - set(usable.policy.features()))
        strict = (self.config.policy_enforcement or recorded.get("enforcement", "strict")) == "strict"
        options_of = self.config.mode_options
        tcp, edge_tcp = tcp_sides(declared)
        blocks = [(declared.policy.traffic, False, tcp)]
        blocks += [(t, True, edge_tcp.get(name, False)) for name, t in declared.policy.edges.items()]
        for traffic, on_edge, on_tcp in blocks:  # the one rule for values the mode cannot carry, as in render
            for _path, message in dropped_values(mode, traffic, self.registry, options_of, on_edge, on_tcp):
                if strict:
                    self.diagnostics.append(item.diagnostic(Level.ERROR, "MF931", message))
                else:
                    message += "; left out (best-effort)"
                    self.diagnostics.append(item.diagnostic(Level.WARNING, "MF932", message))
        first_port = not l7_service(declared, mode)
        for feature in lost:
            # as render says it (policy_checks): what the mode does on HTTP but not on TCP
            on_tcp = tcp and mode.facts.supports(feature, options_of.get(mode.facts.name, {}))
            what = f"{feature} on TCP" if on_tcp else feature
            message = f"{mode.facts.name} cannot enforce {what} for {resource_ref(item.obj)}"
            code = "MF926" if first_port and feature in L7_FEATURES else ("MF910" if strict else "MF911")
            if code == "MF926":
                port = declared.ports[0]
                message += f": it registers the pod on its first port only ({port.name}, {port.protocol})"
            else:
                able = self.registry.able(feature, options_of, tcp_only=tcp)
                message += f"; modes that can: {', '.join(able) or 'none'}"
            if strict:
                self.diagnostics.append(item.diagnostic(Level.ERROR, code, message))
            else:
                message += "; left out (best-effort)"
                self.diagnostics.append(item.diagnostic(Level.WARNING, code, message))
        return self._admitted(item, usable, mode, strict, bool(recorded.get("owner")))

    def _admitted(
        self, item: Item, usable: PolicyContext, mode: Mode, strict: bool, owner: bool
    ) -> PolicyContext:
        """`allow: dependents` where a dependent's workload in the input is governed by a mode that
        presents no identity `mode` admits: refused (MF929, said on the workload that owns the
        policy), and under best-effort left out, as in `render`."""
        if usable.policy.authorization != ALLOW_DEPENDENTS or mode.facts.identity is None:
            return usable
        foreign = []
        for peer in usable.dependents:
            caller = self._mode_of(peer)
            if caller is not None and not mode.facts.admits(caller.facts):
                foreign.append((peer.component, caller.facts.name))
        if not foreign:
            return usable
        if owner:
            who = ", ".join(f"{name!r} ({m})" for name, m in foreign)
            message = (
                f"{mode.facts.name} allows only callers with {mode.facts.identity} workload identities to "
                f"reach {usable.component.component!r}, but its dependents {who} cannot present one: "
                "they would be refused"
            )
            if not strict:
                message += "; authorization left out (best-effort)"
            self.diagnostics.append(
                item.diagnostic(Level.ERROR if strict else Level.WARNING, "MF929", message)
            )
        return replace(usable, policy=replace(usable.policy, authorization=None))

    def _mode_of(self, peer: Peer) -> Mode | None:
        """The mode this run governs a dependent's workloads in: the first workload of the input in the
        peer's namespace whose pod labels carry the peer's selector (None: none there, or left alone).
        Looked up once per component, and only when some policy authorizes by identity."""
        if peer.component not in self.peer_modes:
            self.peer_modes[peer.component] = None
            for item in self.items:
                template = pod_template(item.obj, self.kinds)
                meta = _meta(item.obj)
                if template is None or str(meta.get("namespace", "") or "default") != peer.namespace:
                    continue
                labels = _meta(template).get("labels") or {}
                if not isinstance(labels, dict) or any(labels.get(k) != v for k, v in peer.selector.items()):
                    continue
                choice = self.config.choose(
                    item.obj["kind"], str(meta.get("name", "")), str(meta.get("namespace", "")), labels
                )
                if choice is not None and not _opted_out(item.obj, template):
                    self.peer_modes[peer.component] = self.registry.resolve(choice.mode)
                break
        return self.peer_modes[peer.component]

    def _names(self, services: list[Item]) -> list[str]:
        names = self.selection_names.get(id(services)) if services else None
        if names is None:
            names = [str(_meta(s.obj).get("name", "")) for s in services]
            if services:
                self.selection_names[id(services)] = names
        return names

    def _respect_user_keys(
        self,
        item: Item,
        template: dict[str, Any],
        enrollment: Enrollment,
        holders: dict[str, str],
        mode: Mode,
        strategy: str,
    ) -> None:
        """A key already on the pod template is the user's (meshform's own were removed first) or one a
        selector holds: the enrollment never changes it. Keys left there that enroll the pod in
        another mesh are the user's too: said, never removed. Pre-injection is the exception: the
        injector rewrites some of the user's keys (Istio's Prometheus merge), so they change as it
        would change them, recorded with their prior values; a selector's keys still hold."""
        injected = frozenset(mode.facts.sidecar_keys) if strategy == SIDECAR else frozenset()
        meta = template.get("metadata") or {}
        enrolls = mode.facts.sidecar or mode.facts.pod_labels or mode.facts.pod_annotations
        for field_name in ("labels", "annotations"):
            present = meta.get(field_name) or {}
            wanted = getattr(enrollment, field_name)
            held = holders if field_name == "labels" else {}
            refused = {
                k: v
                for k, v in wanted.items()
                if (k in present and present[k] != v and (k not in injected or k in held))
                or (k not in present and k in held)
            }
            for key, value in refused.items():
                del wanted[key]
                self._warn_kept(item, key, present.get(key), held, f"{mode.facts.name} would set {value!r}")
            for key, value in present.items():
                owner = self.owners.get(key)
                if key in wanted or key in refused or owner is None or owner.name == mode.facts.name:
                    continue
                if not owner.is_opt_out(key, value):
                    also = f" as well as {mode.facts.name}" if enrolls else ""
                    self._warn_kept(item, key, value, held, f"it enrolls the pod in {owner.name}{also}")

    def _warn_kept(self, item: Item, key: str, value: Any, holders: dict[str, str], what: str) -> None:
        ref = resource_ref(item.obj)
        if key in holders:
            stays = "it is not added" if value is None else "it stays on the pod template"
            requires = "mentions" if value is None else "requires"
            self.diagnostics.append(
                item.diagnostic(
                    Level.WARNING,
                    "MF254",
                    f"{ref}: {holders[key]} {requires} {key}"
                    + ("" if value is None else f"={value!r}")
                    + f", so {stays} ({what})",
                    f"a selector is immutable: take {key} out of it (kustomize: labels without "
                    "includeSelectors instead of commonLabels) and recreate the workload",
                )
            )
            return
        self.diagnostics.append(
            item.diagnostic(
                Level.WARNING,
                "MF253",
                f"{ref} keeps its own {key}={value!r} ({what}): "
                "meshform changes only keys its status records",
                f"remove or change {key} yourself if the pod should follow the selected mode",
            )
        )

    def _object_clashes(self, item: Item, enrollment: Enrollment, by_ref: owned.Index) -> list[str]:
        """Objects the enrollment adds whose name the input (or another workload's enrollment) already
        uses. One that names this workload as its owner is meshform's own, left without a record: replaced."""
        clashes = []
        for obj in enrollment.objects:
            key = owned.object_key(obj)
            for other in owned.at(by_ref, key, item.file):
                if not other.dropped and provenance.owns(item.obj, other.obj):
                    other.dropped = True
                elif not other.dropped:
                    clashes.append(f"{key[0]} {key[2]}")
            if key in self.added:
                clashes.append(f"{key[0]} {key[2]}")
            self.added.add(key)
        return clashes

    def _rewire(
        self, services: list[Item], ports: tuple[Port, ...], enrollment: Enrollment, mode: Mode
    ) -> None:
        """Point matching Services at the proxy's inbound listeners (builtin mode) and add the labels
        and annotations the mode puts on a Service by name (ambient's waypoint, Linkerd's timeouts)."""
        if not (
            enrollment.service_target_ports or enrollment.service_labels or enrollment.service_annotations
        ):
            return
        for svc in services:
            targets = dict(_service_targets(svc.obj, ports, enrollment.service_target_ports))
            name = str(_meta(svc.obj).get("name", ""))
            labels = enrollment.service_labels.get(name, {})
            annotations = enrollment.service_annotations.get(name, {})
            if targets or labels or annotations:
                before = snapshot(svc.obj)
                status.apply_service(svc.obj, mode.facts.name, targets, labels, annotations)
                self.recorded.add(id(svc))
                svc.changed = svc.obj != before


class _Mentions:
    """Does a document's text mention a word? The items of one List share its text: asked once."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.text: str | None = None
        self.found = False

    def of(self, text: str) -> bool:
        if not text:
            return True  # an object built in memory: no text to ask, so look at the object
        if text is not self.text:
            self.text, self.found = text, self.word in text
        return self.found


def _at_path(obj: Any, path: tuple[str | int, ...]) -> dict[str, Any]:
    for key in path:
        obj = obj[key]
    return obj if isinstance(obj, dict) else {}


def _service_targets(
    service: Any, ports: tuple[Port, ...], inbound: dict[str, int]
) -> Iterator[tuple[str, int]]:
    for sp in (service.get("spec") or {}).get("ports") or []:
        target = sp.get("targetPort", sp.get("port"))
        port = next((p for p in ports if target in (p.name, p.port)), None)
        if port is not None and port.name in inbound and sp.get("name"):
            yield str(sp["name"]), inbound[port.name]


def snapshot(obj: Any) -> Any:
    """A deep copy to compare against later. Plain data (the fast engine) goes through marshal, several
    times faster than copy.deepcopy; round-trip nodes need deepcopy."""
    if type(obj) is dict:
        try:
            return marshal.loads(marshal.dumps(obj))
        except ValueError:  # a value marshal does not know; fall through
            pass
    return copy.deepcopy(obj)


def transform(items: list[Item], config: TransformConfig, registry: Registry) -> list[Diagnostic]:
    return Transformer(items, config, registry).run()
