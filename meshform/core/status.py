"""The status annotation: a record, on the pod template, of exactly what meshform added.

Removing a mode means replaying this record backwards, so `A → B → A` gives back `A` and a re-run is
a no-op. Prior values are kept (None = the key did not exist), so an overwritten value comes back too.
"""

from __future__ import annotations

import json
from typing import Any

from meshform.modes.base import Enrollment
from meshform.version import __version__

STATUS = "meshform.dev/status"


def _child(parent: dict[str, Any], key: str, empty: Any, created: list[str], name: str) -> Any:
    if not isinstance(parent.get(key), type(empty)):
        parent[key] = empty
        created.append(name)
    return parent[key]


def _set_keys(target: dict[str, str], values: dict[str, str]) -> dict[str, str | None]:
    prior = {k: target.get(k) for k in values}
    target.update(values)
    return prior


def _set_env(
    containers: list[dict[str, Any]], env: dict[str, dict[str, str]], created: list[str]
) -> dict[str, Any]:
    priors: dict[str, dict[str, str | None]] = {}
    for container in containers:
        wanted = env.get(container.get("name", ""))
        if not wanted:
            continue
        entries = _child(container, "env", [], created, f"env:{container['name']}")
        by_name = {e.get("name"): e for e in entries if isinstance(e, dict)}
        prior: dict[str, str | None] = {}
        for var, value in wanted.items():
            entry = by_name.get(var)
            prior[var] = entry.get("value") if entry else None
            if entry:
                entry["value"] = value
            else:
                entries.append({"name": var, "value": value})
        priors[container["name"]] = prior
    return priors


def apply(template: dict[str, Any], mode: str, strategy: str, enrollment: Enrollment) -> None:
    """Add an enrollment to a pod template (already un-governed) and record it in the status annotation."""
    created: list[str] = []
    meta = _child(template, "metadata", {}, created, "metadata")
    spec = template["spec"]
    record: dict[str, Any] = {"mode": mode, "strategy": strategy, "version": __version__}
    if enrollment.labels:
        record["labels"] = _set_keys(_child(meta, "labels", {}, created, "labels"), enrollment.labels)
    annotations = _child(meta, "annotations", {}, created, "annotations")
    if enrollment.annotations:
        record["annotations"] = _set_keys(annotations, enrollment.annotations)
    for key, items, front in (
        ("initContainers", enrollment.init_containers, True),
        ("containers", enrollment.containers, False),
        ("volumes", enrollment.volumes, False),
    ):
        if items:
            target = _child(spec, key, [], created, key)
            target[:] = [*items, *target] if front else [*target, *items]
            record[key] = [item["name"] for item in items]
    if enrollment.env:
        record["env"] = _set_env(spec.get("containers", []), enrollment.env, created)
    if enrollment.objects:
        record["objects"] = [f"{o['kind']}/{o['metadata']['name']}" for o in enrollment.objects]
    if enrollment.policy:
        record["policy"] = enrollment.policy
    record["created"] = created
    annotations[STATUS] = json.dumps(record, sort_keys=True, separators=(",", ":"))


def read(template: Any) -> dict[str, Any] | None:
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(STATUS) if isinstance(annotations, dict) else None
    if not isinstance(raw, str):
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _restore_keys(target: dict[str, Any], prior: dict[str, Any]) -> None:
    for key, value in prior.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def _restore_env(containers: list[dict[str, Any]], priors: dict[str, dict[str, Any]]) -> None:
    for container in containers:
        prior = priors.get(container.get("name", ""))
        if not prior:
            continue
        entries = container.get("env", [])
        for entry in list(entries):
            if entry.get("name") in prior:
                if prior[entry["name"]] is None:
                    entries.remove(entry)
                else:
                    entry["value"] = prior[entry["name"]]


def _drop_created(template: dict[str, Any], created: list[str]) -> None:
    """Remove containers meshform created, but only if nothing else has been put in them since."""
    meta, spec = template.get("metadata", {}), template["spec"]
    for name in reversed(created):
        if name.startswith("env:"):
            for c in spec.get("containers", []):
                if c.get("name") == name[4:] and c.get("env") == []:
                    del c["env"]
        elif name in ("labels", "annotations") and meta.get(name) == {}:
            del meta[name]
        elif name in ("initContainers", "containers", "volumes") and spec.get(name) == []:
            del spec[name]
        elif name == "metadata" and template.get("metadata") == {}:
            del template["metadata"]


def remove(template: dict[str, Any]) -> dict[str, Any] | None:
    """Undo exactly what the status annotation records. Returns the record (None if not governed)."""
    record = read(template)
    if record is None:
        return None
    meta, spec = template["metadata"], template["spec"]
    meta["annotations"].pop(STATUS, None)
    _restore_keys(meta.get("labels", {}), record.get("labels", {}))
    _restore_keys(meta.get("annotations", {}), record.get("annotations", {}))
    for key in ("initContainers", "containers", "volumes"):
        names = set(record.get(key, ()))
        if names and isinstance(spec.get(key), list):
            spec[key] = [item for item in spec[key] if item.get("name") not in names]
    _restore_env(spec.get("containers", []), record.get("env", {}))
    _drop_created(template, record.get("created", []))
    return record


def apply_service(service: dict[str, Any], mode: str, target_ports: dict[str, int]) -> None:
    """Point a Service's ports at the proxy, recording the previous targets."""
    prior = {}
    for port in service["spec"]["ports"]:
        if port.get("name") in target_ports:
            prior[port["name"]] = port.get("targetPort")
            port["targetPort"] = target_ports[port["name"]]
    record = {"mode": mode, "targetPorts": prior, "version": __version__}
    annotations = service["metadata"].setdefault("annotations", {})
    annotations[STATUS] = json.dumps(record, sort_keys=True, separators=(",", ":"))
    if len(annotations) == 1:
        record["created"] = ["annotations"]
        annotations[STATUS] = json.dumps(record, sort_keys=True, separators=(",", ":"))


def remove_service(service: dict[str, Any]) -> bool:
    """Undo apply_service; True when there was something to undo."""
    record = read(service)
    if record is None:
        return False
    annotations = service["metadata"]["annotations"]
    del annotations[STATUS]
    for port in service["spec"]["ports"]:
        if port.get("name") in record.get("targetPorts", {}):
            prior = record["targetPorts"][port["name"]]
            if prior is None:
                port.pop("targetPort", None)
            else:
                port["targetPort"] = prior
    if "annotations" in record.get("created", ()) and not annotations:
        del service["metadata"]["annotations"]
    return True
