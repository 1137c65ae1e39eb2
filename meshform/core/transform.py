"""Governing existing manifests: the core behind `transform`, `krm`, `helm-postrender` and `check`.

For each workload the config selects, in order: undo meshform's own record (exact), adopt what other
injectors left (istioctl kube-inject, linkerd inject), drop other meshes' enrollment keys, then enroll
in the chosen mode and record it. Objects are mutated in place; the caller decides how to write them.
"""

from __future__ import annotations

import copy
import marshal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from meshform.core import foreign, status
from meshform.core.namespaces import NamespaceIndex
from meshform.core.policy import attach, enforceable
from meshform.core.workloads import pod_template
from meshform.diagnostics import Diagnostic, Level
from meshform.model.config import OPT_OUT, TransformConfig
from meshform.modes import Registry
from meshform.modes.base import EnrollContext, Enrollment, Mode, ModeFacts, Port
from meshform.objects import Item, resource_ref
from meshform.policy.context import PolicyContext, context_from_json

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


class Transformer:
    """One run over one set of objects."""

    def __init__(self, items: list[Item], config: TransformConfig, registry: Registry) -> None:
        self.items = items
        self.config = config
        self.registry = registry
        self.namespaces = NamespaceIndex.build([i.obj for i in items])
        self.diagnostics: list[Diagnostic] = []
        # (namespace, one selector pair) → Services, so matching a workload costs a few look-ups
        self.services: dict[tuple[str, str, str], list[Item]] = {}
        for item in items:
            if isinstance(item.obj, dict) and item.obj.get("kind") == "Service":
                selector = (item.obj.get("spec") or {}).get("selector") or {}
                if selector:
                    key, value = min((str(k), str(v)) for k, v in selector.items())
                    ns = str(_meta(item.obj).get("namespace", ""))
                    self.services.setdefault((ns, key, value), []).append(item)

    def run(self) -> list[Diagnostic]:
        by_ref = {_object_key(i.obj): i for i in self.items if isinstance(i.obj, dict)}
        for item in list(self.items):
            template = pod_template(item.obj)
            if template is not None:
                self._workload(item, template, by_ref)
        self.diagnostics += self.namespaces.conflicts(self.items, self.registry)
        return self.diagnostics

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
        choice = self.config.choose(
            obj["kind"], str(_meta(obj).get("name", "")), str(_meta(obj).get("namespace", "")), labels
        )
        if choice is None:
            return None
        mode = self.registry.resolve(choice.mode)
        if mode is None:
            self.diagnostics.append(
                item.diagnostic(
                    Level.ERROR, "MF204", f"unknown governance mode {choice.mode!r} for {resource_ref(obj)}"
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

    def _workload(self, item: Item, template: dict[str, Any], by_ref: dict[tuple[str, ...], Item]) -> None:
        if not isinstance(template.get("spec"), dict):
            return
        plan = self.plan(item, template)
        if plan is None or self._conflict(item, template, plan.mode):
            return
        before = snapshot(item.obj)
        services = self._services(item, template) if self.services else []
        old = status.remove(template)
        for svc in services:
            svc.changed |= status.remove_service(svc.obj)
        self._drop_stale(old, item, by_ref)
        foreign.uninject(template)
        self._clear_keys(template)
        self._enroll(item, template, plan, services, (old or {}).get("policy"))
        item.changed = item.obj != before

    def _services(self, item: Item, template: dict[str, Any]) -> list[Item]:
        labels = _meta(template).get("labels") or {}
        ns = str(_meta(item.obj).get("namespace", ""))
        found = []
        for key, value in labels.items():
            for other in self.services.get((ns, str(key), str(value)), []):
                selector = other.obj["spec"]["selector"]
                if all(labels.get(k) == v for k, v in selector.items()):
                    found.append(other)
        return found

    def _drop_stale(
        self, old: dict[str, Any] | None, item: Item, by_ref: dict[tuple[str, ...], Item]
    ) -> None:
        ns = str(_meta(item.obj).get("namespace", ""))
        for ref in (old or {}).get("objects", []):
            kind, _, name = str(ref).partition("/")
            stale = by_ref.get((kind, ns, name))
            if stale is not None:
                stale.dropped = True

    def _conflict(self, item: Item, template: dict[str, Any], target: Mode) -> bool:
        """A workload that opts out of its target mode by the mesh's own key (not one meshform set)."""
        meta = template.get("metadata") or {}
        record = status.read(template) or {}
        for field_name in ("labels", "annotations"):
            ours = record.get(field_name) or {}
            for key, value in (meta.get(field_name) or {}).items():
                if key not in ours and target.facts.is_opt_out(key, value):
                    self.diagnostics.append(
                        item.diagnostic(
                            Level.ERROR,
                            "MF208",
                            f"{resource_ref(item.obj)} opts out of {target.facts.name} with {key}={value} "
                            f"but the config selects {target.facts.name}",
                            f'remove {key}, or annotate the workload {OPT_OUT}: "true" to leave it alone',
                        )
                    )
                    return True
        return False

    def _clear_keys(self, template: dict[str, Any]) -> None:
        """Drop every mode's enabling keys; other meshes' opt-outs stay (they still mean something)."""
        meta = template.get("metadata")
        if not isinstance(meta, dict):
            return
        for field_name in ("labels", "annotations"):
            keys = meta.get(field_name)
            if not isinstance(keys, dict):
                continue
            for key in list(keys):
                owner = self._owner(key)
                if owner is not None and not owner.is_opt_out(key, keys[key]):
                    del keys[key]
            if not keys:
                del meta[field_name]

    def _owner(self, key: str) -> ModeFacts | None:
        for mode in self.registry.modes.values():
            if key in mode.facts.owned_keys:
                return mode.facts
        return None

    def _enroll(
        self, item: Item, template: dict[str, Any], plan: Plan, services: list[Item], recorded: Any
    ) -> None:
        mode, obj = plan.mode, item.obj
        options = dict(self.config.mode_options.get(mode.facts.name, {}))
        declared = self._recorded_policy(item, recorded, options)
        usable = None if declared is None else self._usable(item, declared, mode, recorded)
        ns = str(_meta(obj).get("namespace", ""))
        ctx = EnrollContext(
            app=str((_meta(obj).get("labels") or {}).get("app.kubernetes.io/part-of", "")),
            namespace=ns or "default",
            component=str(_meta(obj).get("name", "")),
            workload_name=str(_meta(obj).get("name", "")),
            kind=str(obj["kind"]),
            pod_spec=template["spec"],
            ports=container_ports(template["spec"]),
            options=options,
            strategy=plan.strategy,
            policy=usable,
        )
        self.diagnostics += (item.diagnostic(Level(f.level), f.code, f.message) for f in mode.findings(ctx))
        if mode.facts.sidecar and template["spec"].get("hostNetwork") is True:
            return
        enrollment = mode.enroll(ctx)
        enrollment.opt_out_of(mode.facts.name, self.namespaces.enrolling(ns, self.registry))
        if declared is not None and usable is not None:
            attach(
                enrollment, mode, declared, usable, bool(recorded.get("owner")), recorded.get("enforcement")
            )
        if enrollment.is_empty():
            return
        status.apply(template, mode.facts.name, plan.strategy, enrollment)
        self._rewire(services, ctx.ports, enrollment, mode)
        item.added = enrollment.objects

    def _recorded_policy(self, item: Item, recorded: Any, options: dict[str, Any]) -> PolicyContext | None:
        """The neutral policy a previous run recorded on this workload, or None; a malformed record is
        a located error (and the workload is governed without it)."""
        if recorded is None:
            return None
        try:
            return context_from_json(recorded["context"], options)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.diagnostics.append(
                item.diagnostic(
                    Level.ERROR,
                    "MF912",
                    f"{resource_ref(item.obj)}: the traffic policy in {status.STATUS} is malformed ({exc!r})",
                )
            )
            return None

    def _usable(self, item: Item, declared: PolicyContext, mode: Mode, recorded: Any) -> PolicyContext:
        """What `mode` can enforce of the recorded policy; the rest is an error when the policy was
        declared strict, a warning under best-effort, as in `render`."""
        usable = enforceable(declared, mode)
        lost = sorted(set(declared.policy.features()) - set(usable.policy.features()))
        strict = recorded.get("enforcement", "strict") == "strict"
        for feature in lost:
            message = f"{mode.facts.name} cannot enforce {feature} for {resource_ref(item.obj)}"
            if strict:
                self.diagnostics.append(item.diagnostic(Level.ERROR, "MF910", message))
            else:
                self.diagnostics.append(
                    item.diagnostic(Level.WARNING, "MF911", message + "; left out (best-effort)")
                )
        return usable

    def _rewire(
        self, services: list[Item], ports: tuple[Port, ...], enrollment: Enrollment, mode: Mode
    ) -> None:
        """Point matching Services at the proxy's inbound listeners (builtin mode)."""
        if not enrollment.service_target_ports:
            return
        for svc in services:
            targets = dict(_service_targets(svc.obj, ports, enrollment.service_target_ports))
            if targets:
                before = snapshot(svc.obj)
                status.apply_service(svc.obj, mode.facts.name, targets)
                svc.changed = svc.obj != before


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


def _object_key(obj: dict[str, Any]) -> tuple[str, ...]:
    meta = _meta(obj)
    return (str(obj.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", "")))


def transform(items: list[Item], config: TransformConfig, registry: Registry) -> list[Diagnostic]:
    return Transformer(items, config, registry).run()
