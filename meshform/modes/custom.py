"""User-defined modes: data from a modes file, no code (Rainbond's ServiceMeshClass, plus annotations,
namespaces and an optional pre-injected sidecar template)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from meshform.diagnostics import Diagnostic, Level, MeshformError
from meshform.modes.base import (
    LABELS,
    SIDECAR,
    EnrollContext,
    Enrollment,
    Finding,
    LabelMode,
    ModeFacts,
    NamespaceTrap,
    sidecar_findings,
)
from meshform.modes.templating import MAX_TEMPLATE
from meshform.policy.context import Capability, PolicyContext, Support, context_to_json
from meshform.yamlio.reader import Document


@dataclass(frozen=True)
class SidecarTemplate:
    source: str  # path from where meshform runs (written relative to the modes file), for messages
    text: str
    native: bool
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyTemplate:
    """Objects carrying some of the policy features in a user-defined mode (`modes[].policy[]`)."""

    source: str  # path from where meshform runs (written relative to the modes file), for messages
    text: str
    features: tuple[str, ...]
    values: Mapping[str, Any] = field(default_factory=dict)
    written: str = ""  # path as the modes file writes it, for the capability list


@dataclass(frozen=True)
class ControlPlaneObject:
    """An object the mode's control plane must have; `meshform verify` checks it (and, with `ready`,
    its readiness)."""

    api_version: str
    kind: str
    name: str
    namespace: str = ""
    ready: bool = False


@dataclass(frozen=True)
class CustomMode:
    facts: ModeFacts
    sidecar: SidecarTemplate | None = None
    control_plane_objects: tuple[ControlPlaneObject, ...] = ()
    policy_templates: tuple[PolicyTemplate, ...] = ()

    def enroll(self, ctx: EnrollContext) -> Enrollment:
        if ctx.strategy == LABELS or self.sidecar is None:
            return LabelMode(self.facts).enroll(ctx)
        from meshform.modes.templating import render_container

        container = render_container(self.sidecar.text, _values(ctx, self.sidecar), self.sidecar.source)
        if self.sidecar.native:
            container["restartPolicy"] = "Always"
            return Enrollment(init_containers=[container])
        return Enrollment(containers=[container])

    def render_policy(self, ctx: PolicyContext) -> list[dict[str, Any]]:
        """The objects of each policy template one of whose features the component's (enforceable)
        policy uses, in the modes file's order; meshform sets their namespace and its labels, so the
        status records them and switching removes exactly them."""
        from meshform.modes.templating import render_objects

        used = set(ctx.policy.features())
        out = []
        for t in self.policy_templates:
            if used & set(t.features):
                values = {**_policy_values(ctx), "values": dict(t.values)}
                out += [_owned(ctx, o) for o in render_objects(t.text, values, t.source)]
        return out

    def findings(self, ctx: EnrollContext) -> Iterator[Finding]:
        yield from sidecar_findings(self.facts, ctx)


def _policy_values(ctx: PolicyContext) -> dict[str, Any]:
    """What a policy template sees: the component's policy exactly as the status records it (the
    model's field names and units: durations as text, percents as numbers)."""
    recorded = context_to_json(ctx)
    return {
        "app": ctx.app,
        "namespace": ctx.component.namespace,
        "component": recorded["component"],
        "ports": recorded["ports"],
        "policy": recorded.get("policy", {}),
        "versions": recorded.get("versions", []),
        "dependents": recorded.get("dependents", []),
        "edges": recorded.get("edges", []),
    }


def _owned(ctx: PolicyContext, obj: dict[str, Any]) -> dict[str, Any]:
    """A rendered object as meshform's: in the component's namespace, with the labels that make it
    meshform's (provenance.owns) on top of the template's own."""
    meta = obj["metadata"]
    meta["namespace"] = ctx.component.namespace
    meta["labels"] = {
        **(meta.get("labels") or {}),
        "app.kubernetes.io/name": ctx.component.component,
        "app.kubernetes.io/part-of": ctx.app,
        "app.kubernetes.io/managed-by": "meshform",
    }
    return obj


def _values(ctx: EnrollContext, sidecar: SidecarTemplate) -> dict[str, Any]:
    return {
        "app": ctx.app,
        "namespace": ctx.namespace,
        "component": ctx.component,
        "workload": ctx.workload_name,
        "kind": ctx.kind,
        "ports": [{"name": p.name, "port": p.port, "protocol": p.protocol} for p in ctx.ports],
        "dependencies": [{"name": u.name, "host": u.host, "port": u.port.port} for u in ctx.upstreams],
        "values": dict(sidecar.values),
    }


def _template(doc: Document, index: int, raw: dict[str, Any], base: str) -> SidecarTemplate:
    text = _read(doc, ("modes", index, "sidecar", "template"), raw["template"], base)
    source = _shown(doc, raw["template"])
    return SidecarTemplate(source, text, bool(raw.get("native", True)), dict(raw.get("values", {})))


def _shown(doc: Document, rel: str) -> str:
    """A template's path as the user can open it from where they run meshform (it is written relative
    to the modes file): for messages."""
    return os.path.normpath(os.path.join(os.path.dirname(doc.file), rel))


def _policy_templates(
    doc: Document, index: int, raw: dict[str, Any], base: str
) -> tuple[PolicyTemplate, ...]:
    """`policy[]`: each template read like a sidecar's; a feature two templates claim is refused."""
    out: list[PolicyTemplate] = []
    claimed: dict[str, int] = {}
    for i, t in enumerate(raw.get("policy", ())):
        where = ("modes", index, "policy", i)
        for j, feature in enumerate(t["features"]):
            if feature in claimed:
                line, col = doc.position((*where, "features", j))
                first = claimed[feature]
                message = (
                    f"feature {feature!r} is listed twice"
                    if first == i
                    else f"feature {feature!r} already has a template (policy[{first}])"
                )
                raise MeshformError([Diagnostic(doc.file, line, col, Level.ERROR, "MF301", message)])
            claimed[feature] = i
        text = _read(doc, (*where, "template"), t["template"], base)
        shown, values = _shown(doc, t["template"]), dict(t.get("values", {}))
        out.append(PolicyTemplate(shown, text, tuple(t["features"]), values, written=t["template"]))
    return tuple(out)


def _read(doc: Document, path: tuple[str | int, ...], rel: str, base: str) -> str:
    """Read a template, refusing anything that resolves outside the modes file's directory."""
    line, col = doc.position(path)

    def refuse(message: str) -> MeshformError:
        return MeshformError([Diagnostic(doc.file, line, col, Level.ERROR, "MF303", message)])

    if os.path.isabs(rel) or ".." in rel.replace("\\", "/").split("/"):
        raise refuse(f"template path {rel!r} must be relative and stay inside {base}")
    root = os.path.realpath(base)
    real = os.path.realpath(os.path.join(root, rel))
    if os.path.commonpath([root, real]) != root:
        raise refuse(f"template {rel!r} resolves outside {base} (symlink?)")
    try:
        if not stat.S_ISREG(os.stat(real).st_mode):  # a FIFO would block, a device never end
            raise refuse(f"template {rel!r} is not a regular file")
        with open(real, encoding="utf-8") as fh:
            text = fh.read(MAX_TEMPLATE + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise refuse(f"cannot read template {rel!r}: {exc}") from None
    if len(text) > MAX_TEMPLATE:
        raise MeshformError(
            [
                Diagnostic(
                    doc.file,
                    line,
                    col,
                    Level.ERROR,
                    "MF030",
                    f"template {rel!r} is longer than {MAX_TEMPLATE} characters",
                )
            ]
        )
    return text


def _capabilities(templates: tuple[PolicyTemplate, ...]) -> dict[str, Capability]:
    """What the modes file's templates carry; every other feature is unsupported."""
    return {f: Capability(Support.YES, f"template {t.written}") for t in templates for f in t.features}


def _namespace_required(raw: dict[str, Any]) -> tuple[NamespaceTrap, ...]:
    """`namespaceRequired`: a pod's opt-in does nothing unless its namespace carries the mode's key."""
    if not raw.get("namespaceRequired"):
        return ()
    return tuple(
        NamespaceTrap(
            key,
            "absent",
            Level.ERROR,
            "MF404",
            f"{raw['name']} injects only in namespaces carrying the label {key}: {{where}} without it "
            "leaves the pod alone",
            f"label the namespace {key}={value}",
            unknown_level=Level.WARNING,
            once_per_namespace=True,
        )
        for key, value in raw.get("namespaceLabels", {}).items()
    )


def build(doc: Document) -> list[CustomMode]:
    """Schema-valid modes document → modes."""
    base = os.path.dirname(os.path.abspath(doc.file))
    modes = []
    for i, raw in enumerate(doc.data["modes"]):
        sidecar = _template(doc, i, raw["sidecar"], base) if "sidecar" in raw else None
        templates = _policy_templates(doc, i, raw, base)
        labels, annotations = raw.get("podLabels", {}), raw.get("podAnnotations", {})
        strategies = ((LABELS,) if labels or annotations or sidecar is None else ()) + (
            (SIDECAR,) if sidecar else ()
        )
        facts = ModeFacts(
            name=raw["name"],
            summary=raw.get("summary", "user-defined mode"),
            aliases=tuple(raw.get("aliases", ())),
            strategies=strategies,
            pod_labels=labels,
            pod_annotations=annotations,
            namespace_labels=raw.get("namespaceLabels", {}),
            namespace_annotations=raw.get("namespaceAnnotations", {}),
            namespace_required=bool(raw.get("namespaceRequired", False)),
            opt_out_labels=raw.get("optOutLabels", {}),
            opt_out_annotations=raw.get("optOutAnnotations", {}),
            restart_on_switch=bool(raw.get("restartOnSwitch", True)),
            sidecar=bool(sidecar) or bool(labels or annotations),
            native_sidecar=bool(sidecar and sidecar.native),
            control_plane=tuple(raw.get("controlPlane", ())),
            owned_keys=tuple(sorted({*labels, *annotations})),
            proof_containers=tuple(raw.get("proofContainers", ())),
            namespace_traps=_namespace_required(raw),
            policy=_capabilities(templates),
        )
        objects = tuple(
            ControlPlaneObject(
                o["apiVersion"], o["kind"], o["name"], o.get("namespace", ""), bool(o.get("ready"))
            )
            for o in raw.get("controlPlaneObjects", ())
        )
        modes.append(CustomMode(facts, sidecar, objects, templates))
    return modes
