"""Apply each workload's governance mode: un-govern what was there, enroll, record, report.

This is the core every front end shares. It mutates the expanded objects in place and returns the
final object list (extra objects such as the builtin mesh's ConfigMap follow their workload).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from meshform.core import admission, shapes, status
from meshform.core.contexts import contexts
from meshform.core.expand import Expansion, Unit
from meshform.core.identity import problems as identity_problems
from meshform.core.identity import service_account
from meshform.core.policy import attach, enforceable, has_policy
from meshform.core.workloads import job_template, pod_owner, pod_template
from meshform.diagnostics import Diagnostic, Level
from meshform.model import apiserver, injector_inputs
from meshform.model.application import Application
from meshform.model.policy_checks import refused_dependents
from meshform.model.semantics import COMPONENTS, Locator, effective_mode, effective_strategy, options_for
from meshform.modes import Registry
from meshform.modes.base import EnrollContext, Enrollment, Finding, Mode, ModeFacts, skips_pod
from meshform.policy.context import PolicyContext
from meshform.yamlio.reader import Path


@dataclass(frozen=True)
class GovernOptions:
    mode: str | None = None  # --mode: replaces the application's default mode
    enrollment: str | None = None
    host_aliases: Mapping[str, str] = field(default_factory=dict)
    # --policy-enforcement: strict | best-effort for this run, over spec.policyEnforcement. The status
    # still records the model's own, so a later transform without the flag does what the model says.
    policy_enforcement: str | None = None


@dataclass(frozen=True)
class Choice:
    unit: Unit
    mode: Mode
    strategy: str


def _choices(app: Application, expansion: Expansion, registry: Registry, opts: GovernOptions) -> list[Choice]:
    out = []
    for unit in expansion.units:
        mode = registry.resolve(effective_mode(app, unit.component, opts.mode))
        assert mode is not None, "semantics.check rejects unknown modes before govern runs"
        out.append(Choice(unit, mode, effective_strategy(app, unit.component, mode, opts.enrollment)))
    return out


def _namespace_modes(choices: list[Choice]) -> list[ModeFacts]:
    """Modes whose pod opt-in needs the namespace's opt-in too (Kuma), in first-use order."""
    seen: dict[str, ModeFacts] = {}
    for choice in choices:
        if choice.mode.facts.namespace_required:
            seen.setdefault(choice.mode.facts.name, choice.mode.facts)
    return list(seen.values())


def namespace_object(app: Application, ns_modes: list[ModeFacts]) -> dict[str, Any]:
    labels: dict[str, str] = {
        "app.kubernetes.io/part-of": app.name,
        "app.kubernetes.io/managed-by": "meshform",
    }
    annotations: dict[str, str] = {}
    for facts in ns_modes:
        labels.update(facts.namespace_labels)
        annotations.update(facts.namespace_annotations)
    meta: dict[str, Any] = {"name": app.namespace, "labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def _context(
    app: Application,
    choice: Choice,
    template: dict[str, Any],
    opts: GovernOptions,
    policy: PolicyContext | None,
) -> EnrollContext:
    unit = choice.unit
    labels = (template.get("metadata") or {}).get("labels") or {}
    return EnrollContext(
        app=app.name,
        namespace=app.namespace,
        component=unit.component.name,
        workload_name=unit.workload["metadata"]["name"],
        kind=unit.workload["kind"],
        pod_spec=template["spec"],
        ports=unit.component.ports,
        upstreams=unit.upstreams,
        options=options_for(app, choice.mode),
        strategy=choice.strategy,
        host_aliases=opts.host_aliases,
        policy=policy,
        policy_owner=unit.version is unit.component.versions[0],
        pod_labels=dict(labels),
        pod_annotations=dict((template.get("metadata") or {}).get("annotations") or {}),
        api_version=str(unit.workload.get("apiVersion", "")),
        **pod_owner(unit.workload),
    )


def _govern_one(
    app: Application,
    choice: Choice,
    opts: GovernOptions,
    ns_modes: list[ModeFacts],
    at: Locator,
    declared: PolicyContext,
    locked: bool,
) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    """`locked`: the mode's authorization would refuse a dependent (MF929): it is left out."""
    unit, mode = choice.unit, choice.mode
    template = pod_template(unit.workload)
    assert template is not None, "expand always builds a pod template"
    _ungovern(template, unit.services, job_template(unit.workload))
    usable = enforceable(declared, mode) if has_policy(declared) else None
    if usable is not None and locked:
        usable = replace(usable, policy=replace(usable.policy, authorization=None))
    ctx = _context(app, choice, template, opts, usable)
    base = (*COMPONENTS, unit.component.index)
    diags = [_finding(f, at, unit, base, ctx.options) for f in mode.findings(ctx)]
    skipped = skips_pod(mode.facts, choice.strategy, template["spec"], ctx.namespace)
    enrollment = Enrollment() if skipped else mode.enroll(ctx)
    if app.owns_namespace:
        enrollment.opt_out_of(mode.facts.name, ns_modes)
    clashes = status.collisions(template, enrollment)
    if clashes:
        message = (
            f"component {unit.component.name!r} has {', '.join(clashes)}, which {mode.facts.name} adds "
            "under that name: the pod would be invalid"
        )
        return [], [*diags, at.error((*base, "name"), "MF255", message)]
    if usable is not None:
        attach(enrollment, mode, declared, usable, ctx.policy_owner, app.policy_enforcement)
    if enrollment.is_empty():
        return [], diags
    status.apply(template, mode.facts.name, choice.strategy, enrollment, job=job_template(unit.workload))
    too_big = apiserver.annotations_too_big((template.get("metadata") or {}).get("annotations") or {})
    if too_big:  # the component's annotations with the mesh's and meshform's record
        message = f"component {unit.component.name!r} under {mode.facts.name}: once enrolled, {too_big}"
        path = (*base, "annotations") if unit.component.annotations else base
        return [], [*diags, at.error(path, "MF172", message)]
    for service in unit.services:  # every version says the same of a shared Service: re-applying is exact
        name = service["metadata"]["name"]
        labels = enrollment.service_labels.get(name, {})
        annotations = enrollment.service_annotations.get(name, {})
        if enrollment.service_target_ports or labels or annotations:
            status.apply_service(
                service, mode.facts.name, enrollment.service_target_ports, labels, annotations
            )
    return enrollment.objects, diags


def _located(at: Locator, path: Path, found: Finding) -> Diagnostic:
    """A mode's finding at `path`; one about an annotation at the annotation's value (the user wrote
    the value; the key only says which)."""
    diag = at.error(path, found.code, found.message, Level(found.level), found.hint)
    key = at.doc.positions.get(path)
    if not found.annotation or key is None or not at.doc.text:
        return diag
    value = shapes.value_position(at.doc.text, at.doc.file, path, at.doc.index)
    if value is None or not key[0] <= value[0] <= key[0] + 1:  # not this document's entry after all
        return diag
    return replace(diag, line=value[0], col=value[1])


def _finding_path(base: Path, unit: Unit, found: Finding) -> Path:
    """Where a mode's finding is in the Application: at the annotation it is about (the version's
    own, or the component's, as expand merges them), else at the field it names, else the component."""
    if found.annotation:
        version = unit.version
        if found.annotation in version.annotations and unit.component.explicit_versions:
            index = unit.component.versions.index(version)
            return (*base, "versions", index, "annotations", found.annotation)
        return (*base, "annotations", found.annotation)
    return (*base, found.field) if found.field else base


def _finding(f: Finding, at: Locator, unit: Unit, base: Path, options: Mapping[str, Any]) -> Diagnostic:
    """A mode's finding located in the Application: at the key inside the injector input it is
    about, else as _finding_path says."""
    if f.value is not None:
        return injector_inputs.located(options, *f.value, f.code, f.message, level=Level(f.level))
    return _located(at, _finding_path(base, unit, f), f)


def _ungovern(
    template: dict[str, Any], services: tuple[dict[str, Any], ...], job: dict[str, Any] | None
) -> None:
    """Undo an earlier govern() of these (in-memory) objects: switching modes renders each mode afresh."""
    record = status.read(template)
    if record is not None:
        status.remove(template, record, job=job)
    for service in services:
        service_record = status.read(service)
        if service_record is not None:
            status.remove_service(service, service_record)


def _namespace_warnings(app: Application, ns_modes: list[ModeFacts], at: Locator) -> Iterator[Diagnostic]:
    if app.owns_namespace:
        return
    for facts in ns_modes:
        keys = ", ".join(f"{k}={v}" for k, v in facts.namespace_labels.items())
        yield at.error(
            ("spec",),
            "MF404",
            f"{facts.name} injects only in namespaces labelled {keys}; label namespace {app.namespace!r} "
            "or set spec.ownsNamespace: true",
            Level.WARNING,
        )


def _service_identities(choices: list[Choice], at: Locator) -> Iterator[Diagnostic]:
    """Modes that name a workload after its Service (Consul): expand names every ServiceAccount like
    its component's Service already; say where there is no Service to name the workload after."""
    for choice in choices:
        identity, unit = choice.mode.facts.service_identity, choice.unit
        if identity is None:
            continue
        template = pod_template(unit.workload)
        assert template is not None, "expand always builds a pod template"
        found = identity_problems(
            identity,
            choice.mode.facts.name,
            f"{unit.workload['kind']}/{unit.workload['metadata']['name']}",
            (template.get("metadata") or {}).get("annotations"),
            service_account(template["spec"]),
            [unit.service["metadata"]["name"]] if unit.service is not None else [],
            add_service="give the component a port (meshform then renders its Service)",
        )
        for problem in found:
            path = (*COMPONENTS, unit.component.index)
            yield at.error(path, problem.code, problem.message, Level.WARNING, problem.hint)


def govern(
    app: Application, expansion: Expansion, registry: Registry, opts: GovernOptions, at: Locator
) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    choices = _choices(app, expansion, registry, opts)
    ns_modes = _namespace_modes(choices)
    diags = list(_namespace_warnings(app, ns_modes, at))
    diags += _service_identities(choices, at)
    extra: dict[int, list[dict[str, Any]]] = {}
    policies = contexts(app, expansion, {c.unit.component.name: options_for(app, c.mode) for c in choices})
    modes_of: dict[str, Mode] = {}
    for c in choices:
        modes_of.setdefault(c.unit.component.name, c.mode)
    for choice in choices:
        declared = policies[choice.unit.component.name]
        locked = bool(refused_dependents(app, choice.unit.component, choice.mode, modes_of))
        objects, found = _govern_one(app, choice, opts, ns_modes, at, declared, locked)
        extra[id(choice.unit.workload)] = objects
        diags += found
    out = [namespace_object(app, ns_modes)] if app.owns_namespace else []
    owners: dict[int, int] = {}  # id(object) → the index of the component that rendered it
    for obj in expansion.objects:
        out.append(obj)
        out += extra.get(id(obj), [])
        for made in (obj, *extra.get(id(obj), [])):
            owners[id(made)] = expansion.owners[id(obj)]
    diags += _refused(out, owners, at)
    return out, diags


def _refused(out: list[dict[str, Any]], owners: dict[int, int], at: Locator) -> Iterator[Diagnostic]:
    """What the API server would still refuse after the modes did their part, at its component."""
    for obj, problem in admission.problems(out):
        index = owners.get(id(obj))
        yield at.error((*COMPONENTS, index) if index is not None else ("metadata",), "MF178", problem)
