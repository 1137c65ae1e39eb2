"""The status annotation: a record, on the pod template, of exactly what meshform added.

Removing a mode means replaying this record backwards, so `A → B → A` gives back `A` and a re-run is
a no-op. Prior values are kept (None = the key did not exist), so an overwritten value comes back too.

The record is input like any other (it can be copied to another workload, edited or forged), so it is
parsed into a frozen `Record` by one validation function, `parse`: a wrong shape is a `StatusError`
the caller turns into a located diagnostic, never a crash and never a removal. Whether a well-shaped
record is *true* of the workload it sits on is meshform.core.provenance's job.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from meshform.modes.base import Enrollment
from meshform.version import __version__

STATUS = "meshform.dev/status"
LISTS = (
    "initContainers",
    "containers",
    "volumes",
    "imagePullSecrets",
)  # record fields naming items meshform added
CREATED = frozenset({"metadata", "labels", "annotations", *LISTS})  # plus "env:<container>"
NULL = "=null"  # suffix of a created name whose key the user had written with no value
_EMPTY: Mapping[str, Any] = MappingProxyType({})
# The encoders of the record and of the priors in it, built once (json.dumps with options builds one a call)
_RECORD_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
_PRIOR_JSON = json.JSONEncoder(separators=(",", ":"))
# A written value's digest: crc32 of its canonical JSON. It detects a hand edit, not an attacker (a
# forged record is provenance's business); `default=str` so a value YAML typed oddly (a date) digests.
_DIGEST_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
# "written" keys: <family>/<key> for labels, annotations (a CronJob's jobTemplate's too) and a Service's
# targetPorts, <family>/<container>/<name> for env and fields
_KEYED = ("labels", "annotations", "jobLabels", "jobAnnotations", "targetPorts")
_CONTAINED = ("env", "fields")
_DIGEST = re.compile(r"^[0-9a-f]{8}$")


def _empty() -> Mapping[str, Any]:
    return _EMPTY


class StatusError(ValueError):
    """A status annotation that is not a record meshform could have written; the message says why."""


@dataclass(frozen=True)
class Record:
    """One parsed `meshform.dev/status`. Pod templates use every field but `target_ports`; a Service
    uses `mode`, `target_ports` (builtin rewired its ports), `labels` (istio-ambient's waypoint) and
    `created` only."""

    mode: str
    strategy: str = ""
    version: str = ""
    labels: Mapping[str, Any] = field(
        default_factory=_empty
    )  # key → prior value (None: the key did not exist)
    annotations: Mapping[str, Any] = field(default_factory=_empty)
    init_containers: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    image_pull_secrets: tuple[str, ...] = ()  # only the names meshform added (not the pod's own)
    image_pull_secrets_order: tuple[str, ...] = ()  # the pod's own, as they stood, if the merge moved them
    env: Mapping[str, Mapping[str, Any]] = field(default_factory=_empty)  # container → variable → prior value
    # container → field → prior value as JSON text (None: the field was absent)
    fields: Mapping[str, Mapping[str, Any]] = field(default_factory=_empty)
    objects: tuple[str, ...] = ()  # "Kind/name" of objects added next to the workload
    created: tuple[str, ...] = ()  # containers meshform had to create (removed again when empty)
    target_ports: Mapping[str, Any] = field(default_factory=_empty)  # Service port name → prior targetPort
    # The neutral traffic policy: {"owner": bool, "context": PolicyContext JSON, "enforcement"?}. Its
    # inside is read (and refused, located) by meshform.policy.context.context_from_json.
    policy: Mapping[str, Any] | None = None
    # A CronJob's spec.jobTemplate.metadata: key → prior value, and what meshform created there.
    job_labels: Mapping[str, Any] = field(default_factory=_empty)
    job_annotations: Mapping[str, Any] = field(default_factory=_empty)
    job_created: tuple[str, ...] = ()
    # "labels/<key>", "annotations/<key>", "jobLabels/<key>", "jobAnnotations/<key>", "targetPorts/<port>",
    # "env/<container>/<var>", "fields/<container>/<field>" → digest of the value meshform wrote there
    # (records of an older meshform have none: nothing is checked)
    written: Mapping[str, str] = field(default_factory=_empty)

    def names(self, field_name: str) -> tuple[str, ...]:
        """The names recorded under one of LISTS (spelled as in the JSON)."""
        return {
            "initContainers": self.init_containers,
            "containers": self.containers,
            "imagePullSecrets": self.image_pull_secrets,
        }.get(field_name, self.volumes)


# ---------------------------------------------------------------------------------------- validation


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _text_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and k for k in value)


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(_is_text(v) for v in value) and len(set(value)) == len(value)


def _env(value: Any) -> bool:
    return _text_map(value) and all(_text_map(v) for v in value.values())


def _json_text(value: Any) -> bool:
    try:
        json.loads(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _fields(value: Any) -> bool:
    return _env(value) and all(v is None or _json_text(v) for c in value.values() for v in c.values())


def _objects(value: Any) -> bool:
    return _names(value) and all(all(v.partition("/")[::2]) for v in value)


def _created(value: Any) -> bool:
    return _names(value) and all(
        v.removesuffix(NULL) in CREATED or (v.startswith("env:") and len(v.removesuffix(NULL)) > 4)
        for v in value
    )


def _written(value: Any) -> bool:
    if not _text_map(value):
        return False
    for key, digested in value.items():
        family, _, rest = key.partition("/")
        named = rest.partition("/")[::2] if family in _CONTAINED else (rest, "-")
        if family not in _KEYED + _CONTAINED or not all(named) or not _DIGEST.match(str(digested)):
            return False
    return True


def _policy(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("owner"), bool)
        and isinstance(value.get("context"), dict)
        and value.get("enforcement", "strict") in ("strict", "best-effort")
        and set(value) <= {"owner", "context", "enforcement"}
    )


# JSON field → (attribute, shape test, the shape in words). Prior values may be anything JSON holds:
# they are whatever the user had written there before (a YAML boolean label stays a boolean).
_FIELDS: dict[str, tuple[str, Callable[[Any], bool], str]] = {
    "mode": ("mode", _is_text, "a mode name"),
    "strategy": ("strategy", lambda v: isinstance(v, str), "a string"),
    "version": ("version", lambda v: isinstance(v, str), "a string"),
    "labels": ("labels", _text_map, "an object of label → prior value"),
    "annotations": ("annotations", _text_map, "an object of annotation → prior value"),
    "initContainers": ("init_containers", _names, "a list of distinct names"),
    "containers": ("containers", _names, "a list of distinct names"),
    "volumes": ("volumes", _names, "a list of distinct names"),
    "imagePullSecrets": ("image_pull_secrets", _names, "a list of distinct names"),
    "imagePullSecretsOrder": ("image_pull_secrets_order", _names, "a list of distinct names"),
    "env": ("env", _env, "an object of container → {variable → prior value}"),
    "fields": ("fields", _fields, "an object of container → {field → prior value as JSON text, or null}"),
    "objects": ("objects", _objects, 'a list of distinct "Kind/name"'),
    "created": ("created", _created, f"a list of distinct names from {', '.join(sorted(CREATED))}"),
    "targetPorts": ("target_ports", _text_map, "an object of port name → prior targetPort"),
    "policy": ("policy", _policy, 'an object {"owner": true|false, "context": {...}}'),
    "jobLabels": ("job_labels", _text_map, "an object of jobTemplate label → prior value"),
    "jobAnnotations": ("job_annotations", _text_map, "an object of jobTemplate annotation → prior value"),
    "jobCreated": ("job_created", _created, f"a list of distinct names from {', '.join(sorted(CREATED))}"),
    "written": (
        "written",
        _written,
        'an object of "<field>/<key>" or "env|fields/<container>/<name>" → 8 hex digits',
    ),
}


def parse(raw: Any) -> Record:
    """The annotation's value → Record. Raises StatusError naming the first field that is not what
    meshform writes (unknown fields too: a newer meshform may have recorded something this one could
    not undo, so it must not half-undo it)."""
    if not isinstance(raw, str):
        raise StatusError(f"is a {type(raw).__name__}, not the JSON text meshform writes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise StatusError("is not valid JSON") from None
    if not isinstance(data, dict):
        raise StatusError("is not a JSON object")
    if "mode" not in data:
        raise StatusError("has no mode")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _FIELDS:
            raise StatusError(f"has an unknown field {key!r} (written by a newer meshform?)")
        attribute, valid, shape = _FIELDS[key]
        if not valid(value):
            raise StatusError(f"field {key!r} must be {shape}")
        values[attribute] = _frozen(value, nested=key in ("env", "fields"))
    return Record(**values)


def _frozen(value: Any, nested: bool) -> Any:
    """Lists → tuples, objects → read-only mappings (one level, two for env); prior values stay the
    plain data they were, since they go back into manifests."""
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v, False) if nested else v for k, v in value.items()})
    return value


def read(obj: Any) -> Record | None:
    """The record on a pod template (or a Service); None when there is none. Raises StatusError."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict) or STATUS not in annotations:
        return None
    return parse(annotations[STATUS])


def recorded_mode(obj: Any) -> str | None:
    """The mode a record names, for readers that only report (None when absent or malformed)."""
    try:
        record = read(obj)
    except StatusError:
        return None
    return record.mode if record is not None else None


def before(keys: Mapping[str, Any], recorded: Mapping[str, Any]) -> dict[str, Any]:
    """Labels or annotations as they were before meshform: recorded keys at their prior values."""
    out = {k: v for k, v in keys.items() if k not in recorded and k != STATUS}
    out.update({k: v for k, v in recorded.items() if v is not None})
    return out


# ------------------------------------------------------------------------------------------- applying


def _child(parent: dict[str, Any], key: str, empty: Any, created: list[str], name: str) -> Any:
    """`parent[key]`, made `empty` (and recorded in `created`) when it is not a `type(empty)`. A key
    the user wrote with no value is theirs: it is recorded as `<name>=null`, and removal gives it
    back its null instead of deleting it (its line and comment stay in the file)."""
    if not isinstance(parent.get(key), type(empty)):
        was_null = key in parent and parent[key] is None
        parent[key] = empty
        created.append(name + NULL if was_null else name)
    return parent[key]


def _set_keys(
    target: dict[str, Any], values: Mapping[str, str | None], carried: Mapping[str, Any]
) -> dict[str, Any]:
    """Set keys (None: remove the key, as an injector clearing an annotation); returns their priors."""
    prior = {k: carried[k] if k in carried else target.get(k) for k in values}
    for key, value in values.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return prior


def _put(mapping: dict[str, Any], key: str, value: Any) -> None:
    """`mapping[key] = value`, in meshform's own style. The round-trip engine's mappings (ruamel's
    CommentedMap, an OrderedDict) would give a new string the quoting of the one it replaces: the
    builtin proxy's quoted `"127.0.0.1"` would quote the host put back, and A -> B -> A would not
    come back byte for byte as it does on the fast engine."""
    if isinstance(mapping, OrderedDict):
        OrderedDict.__setitem__(mapping, key, value)  # keeps the key's place, not the old quoting
    else:
        mapping[key] = value


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
                _put(entry, "value", value)
            else:
                entries.append({"name": var, "value": value})
        priors[container["name"]] = prior
    return priors


def _set_fields(containers: list[dict[str, Any]], wanted: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Rewrite fields of existing containers (None removes one); the priors (None: absent) are recorded."""
    priors: dict[str, dict[str, Any]] = {}
    for container in containers:
        fields = wanted.get(container.get("name", ""))
        if not fields:
            continue
        # each prior as JSON text of its own: the record is written with sorted keys, and the
        # probe must come back with its keys in the user's order
        priors[container["name"]] = {
            key: None if key not in container else _PRIOR_JSON.encode(container[key]) for key in fields
        }
        for key, value in fields.items():
            if value is None:
                container.pop(key, None)
            else:
                container[key] = value
    return priors


def apply(
    template: dict[str, Any],
    mode: str,
    strategy: str,
    enrollment: Enrollment,
    carried: Mapping[str, Any] = _EMPTY,
    job: dict[str, Any] | None = None,
) -> str:
    """Add an enrollment to a pod template (already un-governed) and record it in the status annotation;
    returns the record's text (the annotation's value).

    `carried` are labels an earlier record says meshform added, which stayed because a selector needs
    them (see `remove`): they go into this record with their original prior values, so un-governing
    later still knows they were meshform's, and `A → B → A` records exactly what `A` recorded.
    `job` is a CronJob's spec.jobTemplate, which gets the enrollment's job_labels / job_annotations."""
    created: list[str] = []
    meta = _child(template, "metadata", {}, created, "metadata")
    spec = template["spec"]
    record: dict[str, Any] = {"mode": mode, "strategy": strategy, "version": __version__}
    if enrollment.labels or carried:
        labels = _child(meta, "labels", {}, created, "labels")
        record["labels"] = {**carried, **_set_keys(labels, enrollment.labels, carried)}
    annotations = _child(meta, "annotations", {}, created, "annotations")
    if enrollment.annotations:
        record["annotations"] = _set_keys(annotations, enrollment.annotations, _EMPTY)
    for key, front, back in (
        ("initContainers", enrollment.init_containers, enrollment.trailing_init_containers),
        ("containers", enrollment.leading_containers, enrollment.containers),
        ("volumes", enrollment.leading_volumes, enrollment.volumes),
    ):
        if front or back:
            target = _child(spec, key, [], created, key)
            target[:] = [*front, *target, *back]
            record[key] = [item["name"] for item in [*front, *back]]
    if enrollment.image_pull_secrets:
        secrets = _child(spec, "imagePullSecrets", [], created, "imagePullSecrets")
        added, order = _merge_names(secrets, enrollment.image_pull_secrets)
        if added:
            record["imagePullSecrets"] = added
        if order:
            record["imagePullSecretsOrder"] = order
    if enrollment.env:
        record["env"] = _set_env(spec.get("containers", []), enrollment.env, created)
    if enrollment.container_fields:
        containers = [*spec.get("initContainers", []), *spec.get("containers", [])]
        record["fields"] = _set_fields(containers, enrollment.container_fields)
    if enrollment.objects:
        record["objects"] = [f"{o['kind']}/{o['metadata']['name']}" for o in enrollment.objects]
    if enrollment.policy:
        record["policy"] = enrollment.policy
    if job is not None and (enrollment.job_labels or enrollment.job_annotations):
        record.update(_apply_job(job, enrollment))
    record["created"] = created
    _record_written(record, template, job)
    text: str = _RECORD_JSON.encode(record)
    annotations[STATUS] = text
    return text


def _record_written(record: dict[str, Any], obj: dict[str, Any], job: dict[str, Any] | None = None) -> None:
    """Add to a record the digest of every value it will put its prior back over."""
    written = {
        f"{family}/{key}": digest(_written_at(obj, family, key, job)[1])
        for family in (*_KEYED, *_CONTAINED)
        for key in _entries(record.get(family), family in _CONTAINED)
    }
    if written:
        record["written"] = written


def _entries(recorded: Mapping[str, Any] | None, nested: bool) -> list[str]:
    """A record field's entries as "written" names them: `key`, or `container/name` (env, fields)."""
    if not nested:
        return list(recorded or ())
    return [f"{container}/{name}" for container, names in (recorded or {}).items() for name in names]


def digest(value: Any) -> str:
    """8 hex digits naming a value meshform wrote (None: the key or field is absent)."""
    return f"{zlib.crc32(_DIGEST_JSON.encode(value).encode()):08x}"


@dataclass(frozen=True)
class Written:
    """Where a value a record's "written" names is (a path in the pod template or Service, or in the
    CronJob's jobTemplate when `in_job`; as far as it is there), its value now (None: absent), and
    its name in words."""

    path: tuple[str | int, ...]
    value: Any
    name: str
    in_job: bool = False


_Found = tuple[tuple[str | int, ...], Any]  # (path, as far as it is there; the value now, None: absent)


def _written_at(obj: dict[str, Any], family: str, key: str, job: dict[str, Any] | None = None) -> _Found:
    """One entry of "written" (`family`/`key`) found in `obj` (or `job`, a CronJob's jobTemplate,
    for the job families). Plain tuples: apply runs this for every entry of every workload."""
    if family in _KEYED and family != "targetPorts":
        on_job = family.startswith("job")
        field_name = family[3:].lower() if on_job else family
        keys = ((job if on_job else obj) or {}).get("metadata") or {}
        keys = keys.get(field_name) if isinstance(keys, dict) else None
        return ("metadata", field_name, key), keys.get(key) if isinstance(keys, dict) else None
    spec = obj.get("spec") or {}
    if family == "targetPorts":
        ports = spec.get("ports")
        for i, port in enumerate(ports if isinstance(ports, list) else ()):
            if isinstance(port, dict) and port.get("name") == key:
                return ("spec", "ports", i, "targetPort"), port.get("targetPort")
        return ("spec", "ports"), None
    container, _, name = key.partition("/")
    for list_name in ("containers",) if family == "env" else ("initContainers", "containers"):
        items = spec.get(list_name)
        for i, item in enumerate(items if isinstance(items, list) else ()):
            if not isinstance(item, dict) or item.get("name") != container:
                continue
            if family == "fields":
                return ("spec", list_name, i, name), item.get(name)
            env = item.get("env")
            for j, entry in enumerate(env if isinstance(env, list) else ()):
                if isinstance(entry, dict) and entry.get("name") == name:
                    return ("spec", list_name, i, "env", j, "value"), entry.get("value")
            return ("spec", list_name, i, "env"), None
    return ("spec",), None


def _entry_name(family: str, key: str) -> str:
    """An entry of "written" in words: "annotation prometheus.io/port", "field livenessProbe of
    container app", "jobTemplate label x", "targetPort of port http"."""
    if family == "targetPorts":
        return f"targetPort of port {key}"
    if family in _KEYED:
        return (
            f"jobTemplate {family[3:-1].lower()} {key}"
            if family.startswith("job")
            else f"{family[:-1]} {key}"
        )
    container, _, name = key.partition("/")
    return f"{'env variable' if family == 'env' else 'field'} {name} of container {container}"


def edited(obj: dict[str, Any], record: Record, job: dict[str, Any] | None = None) -> Written | None:
    """The first value the record of a pod template (or a Service) says meshform wrote that is not
    what it wrote any more: a hand edit, which removing on the record's word would silently undo
    ("annotation prometheus.io/port", "field livenessProbe of container app", ...). `job` is a
    CronJob's spec.jobTemplate. None when every digest holds, or the record keeps none (written by an
    older meshform)."""
    for entry, expected in record.written.items():
        family, _, key = entry.partition("/")
        path, value = _written_at(obj, family, key, job)
        if digest(value) != expected:
            return Written(path, value, _entry_name(family, key), family.startswith("job"))
    return None


def _apply_job(job: dict[str, Any], enrollment: Enrollment) -> dict[str, Any]:
    """The enrollment's keys for a CronJob's spec.jobTemplate.metadata set there (the metadata made
    the jobTemplate's first key, where Kubernetes prints it); their record."""
    created: list[str] = []
    if not isinstance(job.get("metadata"), dict):
        was_null = "metadata" in job and job["metadata"] is None
        rest = [(k, v) for k, v in job.items() if k != "metadata"]
        job.clear()
        job["metadata"] = {}
        job.update(rest)
        created.append("metadata" + NULL if was_null else "metadata")
    meta = job["metadata"]
    out: dict[str, Any] = {}
    for name, keys, field_name in (
        ("labels", enrollment.job_labels, "jobLabels"),
        ("annotations", enrollment.job_annotations, "jobAnnotations"),
    ):
        if keys:
            out[field_name] = _set_keys(_child(meta, name, {}, created, name), keys, _EMPTY)
    out["jobCreated"] = created
    return out


def _merge_names(live: list[Any], names: list[str]) -> tuple[list[str], list[str]]:
    """Merge `names` into the list of {name} items `live`, in place, in the order a strategic merge
    patch (the injector's template patched onto the pod) leaves them: the patch's items in its order
    (a name the pod already has stays the pod's item, but moves to the patch's place), each of the
    pod's other items kept where it stood relative to them. Returns the names added, and the pod's
    own names in their former order when the merge reordered them ([] when it did not)."""
    wanted = list(dict.fromkeys(names))
    have = {item.get("name"): item for item in live if isinstance(item, dict)}
    before = [item.get("name") if isinstance(item, dict) else None for item in live]
    at = {name: i for i, name in enumerate(have)}
    patch = [have.get(name) or {"name": name} for name in wanted]
    own = [item for item in live if not (isinstance(item, dict) and item.get("name") in wanted)]
    merged: list[Any] = []
    while own or patch:
        # one of the pod's own goes first only when both are the pod's and it stood first
        first = own[0].get("name") if own and isinstance(own[0], dict) else None
        other = patch[0]["name"] if patch else None
        if own and (not patch or (first in at and other in at and at[first] < at[other])):
            merged.append(own.pop(0))
        else:
            merged.append(patch.pop(0))
    live[:] = merged
    added = [name for name in wanted if name not in have]
    after = [
        n for n in (item.get("name") if isinstance(item, dict) else None for item in live) if n not in added
    ]
    return added, ([] if after == before or None in before else [str(n) for n in before])


def collisions(template: dict[str, Any], enrollment: Enrollment) -> list[str]:
    """Names the enrollment would add that the pod already uses (containers and init containers share
    one namespace; volumes another). Adding them anyway makes an invalid pod, and removing "ours" later
    would take the user's item with it."""
    spec = template.get("spec") or {}
    used = {
        "container": {
            c.get("name")
            for key in ("containers", "initContainers")
            for c in (spec.get(key) or [])
            if isinstance(c, dict)
        },
        "volume": {v.get("name") for v in (spec.get("volumes") or []) if isinstance(v, dict)},
    }
    added = {
        "container": [
            c["name"]
            for c in [
                *enrollment.init_containers,
                *enrollment.trailing_init_containers,
                *enrollment.leading_containers,
                *enrollment.containers,
            ]
        ],
        "volume": [v["name"] for v in [*enrollment.leading_volumes, *enrollment.volumes]],
    }
    return [f"{what} {name}" for what, names in added.items() for name in names if name in used[what]]


# ------------------------------------------------------------------------------------------- removing


def _restore_keys(target: dict[str, Any], prior: Mapping[str, Any], held: Collection[str]) -> dict[str, Any]:
    """Put prior values back, except on keys a selector holds whose value would change: those stay,
    and are returned with their priors."""
    kept = {}
    for key, value in prior.items():
        if key in held and target.get(key) != value:
            kept[key] = value
        elif value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return kept


def _restore_env(containers: list[dict[str, Any]], priors: Mapping[str, Mapping[str, Any]]) -> None:
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
                    _put(entry, "value", prior[entry["name"]])


def _restore_fields(containers: list[dict[str, Any]], priors: Mapping[str, Mapping[str, Any]]) -> None:
    for container in containers:
        for key, value in (priors.get(container.get("name", "")) or {}).items():
            if value is None:
                container.pop(key, None)
            else:
                container[key] = json.loads(value)


def _drop_created(template: dict[str, Any], created: tuple[str, ...]) -> None:
    """Remove containers meshform created, but only if nothing else has been put in them since."""
    meta, spec = template.get("metadata", {}), template["spec"]
    for entry in reversed(created):
        name = entry.removesuffix(NULL)
        if name.startswith("env:"):
            for c in spec.get("containers", []):
                if c.get("name") == name[4:] and c.get("env") == []:
                    _drop(c, "env", entry)
        elif name in ("labels", "annotations") and meta.get(name) == {}:
            _drop(meta, name, entry)
        elif name in LISTS and spec.get(name) == []:
            _drop(spec, name, entry)
        elif name == "metadata" and template.get("metadata") == {}:
            _drop(template, "metadata", entry)


def _drop(parent: dict[str, Any], key: str, entry: str) -> None:
    """A created key removed, or given back the null the user wrote."""
    if entry.endswith(NULL):
        parent[key] = None
    else:
        del parent[key]


def remove(
    template: dict[str, Any], record: Record, held: Collection[str] = (), job: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Undo exactly what `record` (read from this template, and checked) says meshform added (on a
    CronJob's spec.jobTemplate, `job`, too).

    A label in `held` (a selector needs it) keeps its current value even if the record says meshform
    added or changed it: removing it would make the workload invalid (its selector no longer matches
    its pods) or leave a Service without endpoints. Returns those kept labels → recorded prior, for
    the next `apply` to carry."""
    meta, spec = template["metadata"], template["spec"]
    meta["annotations"].pop(STATUS, None)
    kept = _restore_keys(meta.get("labels", {}), record.labels, held)
    _restore_keys(meta.get("annotations", {}), record.annotations, ())
    for key in LISTS:
        names = set(record.names(key))
        if names and isinstance(spec.get(key), list):
            spec[key] = [item for item in spec[key] if item.get("name") not in names]
    if record.image_pull_secrets_order and isinstance(spec.get("imagePullSecrets"), list):
        rank = {name: i for i, name in enumerate(record.image_pull_secrets_order)}
        spec["imagePullSecrets"].sort(key=lambda item: rank.get(item.get("name"), len(rank)))
    _restore_env(spec.get("containers", []), record.env)
    _restore_fields([*spec.get("initContainers", []), *spec.get("containers", [])], record.fields)
    _drop_created(template, record.created)
    if job is not None and isinstance(job.get("metadata"), dict):
        _restore_keys(job["metadata"].get("labels", {}), record.job_labels, ())
        _restore_keys(job["metadata"].get("annotations", {}), record.job_annotations, ())
        _drop_created(job, record.job_created)
    return kept


# ------------------------------------------------------------------------------------------- Services


def apply_service(
    service: dict[str, Any],
    mode: str,
    target_ports: dict[str, int],
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> None:
    """Point a Service's ports at the proxy (builtin) and add labels (ambient's waypoint) and
    annotations (Linkerd's timeouts and retries), recording the previous values so remove_service
    restores them exactly."""
    meta = service["metadata"]
    created: list[str] = []
    record: dict[str, Any] = {"mode": mode, "version": __version__}
    if target_ports or not (labels or annotations):
        prior = {}
        for port in service["spec"]["ports"]:
            if port.get("name") in target_ports:
                prior[port["name"]] = port.get("targetPort")
                port["targetPort"] = target_ports[port["name"]]
        record["targetPorts"] = prior
    if labels:
        record["labels"] = _set_keys(_child(meta, "labels", {}, created, "labels"), labels, _EMPTY)
    if not isinstance(meta.get("annotations"), dict) or not meta["annotations"]:
        null = "annotations" in meta and meta["annotations"] is None
        meta["annotations"] = {}
        created.append("annotations" + NULL if null else "annotations")
    if annotations:
        record["annotations"] = _set_keys(meta["annotations"], annotations, _EMPTY)
    if created:
        record["created"] = created
    _record_written(record, service)
    meta["annotations"][STATUS] = _RECORD_JSON.encode(record)


def remove_service(service: dict[str, Any], record: Record) -> None:
    """Undo apply_service, as `record` (read from this Service, and checked) says."""
    annotations = service["metadata"]["annotations"]
    del annotations[STATUS]
    ports = (service.get("spec") or {}).get("ports")
    for port in ports if isinstance(ports, list) else []:
        if isinstance(port, dict) and port.get("name") in record.target_ports:
            prior = record.target_ports[port["name"]]
            if prior is None:
                port.pop("targetPort", None)
            else:
                port["targetPort"] = prior
    meta = service["metadata"]
    _restore_keys(meta.get("labels", {}), record.labels, ())
    _restore_keys(annotations, record.annotations, ())
    for entry in record.created:
        name = entry.removesuffix(NULL)
        if name in ("annotations", "labels") and meta.get(name) == {}:
            _drop(meta, name, entry)
