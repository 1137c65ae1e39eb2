"""Is a status record true of the workload it sits on, and is an object it lists really meshform's?

meshform.core.status checks a record's *shape*. A well-shaped record can still be copied from another
workload or forged, and switching mode removes whatever it names; so before anything is removed on a
record's word, it must be something the recorded mode could have added here. The rule, field by field:

- `mode`: a mode of this run's registry (built in, or from the --modes-file that defined it);
- `labels` / `annotations`: governance keys only — a key some mode enrolls or opts out with (a record
  naming `team` or `app` is not meshform's) — and each is on the pod template now;
- `initContainers` / `containers` / `volumes`: exactly the names the recorded mode's enrollment gives
  *this* workload (the builtin proxy and its volume, a user-defined sidecar template's container),
  each present once; a label-only mode (istio, linkerd, ...) never records any;
- `env`: only a mode that routes dependencies through a local proxy sets variables, only
  `<DEP>_HOST` / `<DEP>_PORT`, and they still hold what it writes (127.0.0.1, a port number);
- a Service's record: a mode that changes Services, ports the Service has, and labels of the mode's
  `service_keys` that the Service carries;
- `objects`: what the recorded mode adds next to this workload, by kind and name. Even then an object
  of the input is dropped only if it names this workload as its owner (`owns`).

A record that breaks the rule is reported (a located error) and nothing is removed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from meshform.core.status import LISTS, Record
from meshform.modes import Registry
from meshform.modes.base import SIDECAR, Enrollment, Mode

MANAGED_BY = "app.kubernetes.io/managed-by"
NAME = "app.kubernetes.io/name"
_DEPENDENCY_ENV = re.compile(r"^[A-Z0-9_]+_(HOST|PORT)$")


def governance_keys(registry: Registry) -> frozenset[str]:
    """Every pod key any mode of the registry enrolls or opts out with."""
    return frozenset().union(*(m.facts.keys() for m in registry.modes.values()))


def problem(
    record: Record,
    template: dict[str, Any],
    mode: Mode | None,
    keys: frozenset[str],
    expected: Callable[[Mode], Enrollment],
) -> str | None:
    """Why `record` cannot be meshform's record of `template` (None: it can). `mode` is the registry's
    mode of that name; `expected(mode)` is what that mode would add to this workload now."""
    if mode is None:
        return (
            f"records mode {record.mode!r}, which this run does not know "
            "(pass the --modes-file that defines it)"
        )
    meta = template.get("metadata") or {}
    for field_name in ("labels", "annotations"):
        present = meta.get(field_name) or {}
        for key in getattr(record, field_name):
            if key not in keys and key not in mode.facts.sidecar_keys:
                return f"records {field_name[:-1]} {key!r}, which is no mode's key"
            if key not in present:
                return f"records {field_name[:-1]} {key!r}, which the pod template does not have"
    if any(record.names(f) for f in LISTS) or record.objects:
        found = _added_names(template, record, expected(mode), mode)
        if found:
            return found
    if record.fields:
        found = _fields_problem(template, record, mode)
        if found:
            return found
    if record.env:
        return _env_problem(template, record, mode)
    return None


def _fields_problem(template: dict[str, Any], record: Record, mode: Mode) -> str | None:
    """Only a pre-injecting mode rewrites the app's container fields, only those it declares, and only
    in containers the pod has."""
    spec = template["spec"]
    every = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    names = {c.get("name") for c in every if isinstance(c, dict)}
    for container, fields in record.fields.items():
        if container not in names:
            return f"records fields of container {container!r}, which the pod does not have"
        for key in fields:
            if key not in mode.facts.patched_fields:
                return f"records field {key!r} of {container!r}, which mode {record.mode!r} never rewrites"
    return None


def _added_names(template: dict[str, Any], record: Record, enrollment: Enrollment, mode: Mode) -> str | None:
    spec = template.get("spec") or {}
    allowed = {
        "initContainers": [
            c["name"] for c in [*enrollment.init_containers, *enrollment.trailing_init_containers]
        ],
        "containers": [c["name"] for c in [*enrollment.leading_containers, *enrollment.containers]],
        "volumes": [v["name"] for v in [*enrollment.leading_volumes, *enrollment.volumes]],
        "imagePullSecrets": enrollment.image_pull_secrets,
    }
    injected = mode.facts.sidecar_names if record.strategy == SIDECAR else frozenset()
    if record.strategy == SIDECAR:
        allowed["imagePullSecrets"] = [*allowed["imagePullSecrets"], *_marked_secrets(template, mode)]
    for field_name in LISTS:
        items = [i.get("name") for i in (spec.get(field_name) or []) if isinstance(i, dict)]
        for name in record.names(field_name):
            if name not in allowed[field_name] and name not in injected:
                return f"records {field_name} {name!r}, which mode {record.mode!r} never adds here"
            if items.count(name) != 1:
                return f"records {field_name} {name!r}, but the pod has {items.count(name)} of that name"
    made = {f"{o['kind']}/{o['metadata']['name']}" for o in enrollment.objects}
    for ref in record.objects:
        if ref not in made:
            return f"records object {ref}, which mode {record.mode!r} never adds next to this workload"
    return None


def _marked_secrets(template: dict[str, Any], mode: Mode) -> list[str]:
    """The pull secrets the injector's own status on this pod lists ([] without one)."""
    key = mode.facts.pull_secrets_marker
    annotations = (template.get("metadata") or {}).get("annotations")
    raw = annotations.get(key) if key and isinstance(annotations, dict) else None
    try:
        found = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return []
    names = found.get("imagePullSecrets") if isinstance(found, dict) else None
    return [str(n) for n in names] if isinstance(names, list) else []


def _env_problem(template: dict[str, Any], record: Record, mode: Mode) -> str | None:
    if not mode.facts.local_upstreams:
        return f"records env variables, which mode {record.mode!r} never sets"
    containers = {c.get("name"): c for c in (template["spec"].get("containers") or []) if isinstance(c, dict)}
    for name, variables in record.env.items():
        values = {e.get("name"): e.get("value") for e in (containers.get(name) or {}).get("env") or []}
        for var in variables:
            wanted = "127.0.0.1" if var.endswith("_HOST") else None
            value = values.get(var)
            if not _DEPENDENCY_ENV.match(var) or not isinstance(value, str):
                return f"records env {var!r} of container {name!r}, which is not a dependency variable it has"
            if value != wanted and not (wanted is None and value.isdigit()):
                return (
                    f"records env {var!r} of container {name!r}, whose value {value!r} meshform did not set"
                )
    return None


def service_problem(record: Record, service: dict[str, Any], registry: Registry) -> str | None:
    """Why `record` cannot be meshform's record of this Service (None: it can)."""
    mode = registry.modes.get(record.mode)
    if mode is None or not mode.facts.rewires_services:
        return f"records mode {record.mode!r}, which never changes Services"
    names = {p.get("name") for p in (service.get("spec") or {}).get("ports") or [] if isinstance(p, dict)}
    for port in record.target_ports:
        if port not in names:
            return f"records port {port!r}, which the Service does not have"
    meta = service.get("metadata") or {}
    for field_name in ("labels", "annotations"):
        present = meta.get(field_name) or {}
        for key in getattr(record, field_name):
            if not mode.facts.is_service_key(key):
                return (
                    f"records {field_name[:-1]} {key!r}, which mode {record.mode!r} never puts on a Service"
                )
            if key not in present:
                return f"records {field_name[:-1]} {key!r}, which the Service does not have"
    return None


def owns(workload: dict[str, Any], obj: Any) -> bool:
    """Was `obj` created by meshform alongside `workload`? It must say it is managed by meshform and
    name the workload (by its name, or its app.kubernetes.io/name as render sets it)."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    labels = (meta or {}).get("labels") if isinstance(meta, dict) else None
    if not isinstance(labels, dict) or labels.get(MANAGED_BY) != "meshform":
        return False
    wmeta = workload.get("metadata") or {}
    names = {wmeta.get("name"), (wmeta.get("labels") or {}).get(NAME)} - {None}
    return labels.get(NAME) in names
