"""The objects a status record says meshform added next to a workload, compared with the input.

A record lists its objects by `Kind/name`; the input may hold none of that name (deleted), one that
differs from what the recorded mode renders from the recorded policy (edited by hand), several
(duplicated), or one that is not meshform's (no `managed-by: meshform` naming this workload). `check`
reports each as an error. `transform` warns about all but the missing one (which it simply renders
again): it replaces every copy meshform owns, so an edit or a copy would otherwise vanish unsaid, and
an object that is not meshform's stays as the user's (or clashes, MF255, with one meshform renders).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshform.core.provenance import MANAGED_BY, NAME, owns
from meshform.objects import Item

Key = tuple[str, str, str]  # (kind, namespace, name)
Index = dict[Key, list[Item]]

MISSING = "MF921"
EDITED = "MF922"
DUPLICATED = "MF923"
FOREIGN = "MF924"
DUPLICATE_WORKLOAD = "MF925"


@dataclass(frozen=True)
class Finding:
    """One recorded object that the input does not hold as meshform rendered it. `item` is the object
    to locate the finding at (None: the workload's record, when the object is missing)."""

    code: str
    ref: str  # Kind/name as the record lists it
    item: Item | None
    message: str


def same_place(key: Key) -> list[Key]:
    """(kind, namespace, name) keys of one object: no namespace and `default` (which meshform writes
    on what it adds next to a workload that names none) land in the same place."""
    kind, ns, name = key
    return [key, (kind, "default" if ns == "" else "", name)] if ns in ("", "default") else [key]


def object_key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return (str(obj.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", "")))


def index(items: Sequence[Item]) -> Index:
    """Every object of the input by key, all copies kept (a dict of one would hide a duplicate)."""
    out: dict[Key, list[Item]] = {}
    for item in items:
        if isinstance(item.obj, dict):
            out.setdefault(object_key(item.obj), []).append(item)
    return out


def at(by_ref: Mapping[Key, list[Item]], key: Key, file: str) -> list[Item]:
    """The objects of one input file in `key`'s place (namespace "" and "default" alike). One file:
    meshform writes an object right after its workload, and the files of one run may be separate
    deployments (`--in-place` over every overlay of a repository) that each hold their own copy."""
    return [i for k in same_place(key) for i in by_ref.get(k, ()) if i.file == file]


_NOT_CONTENT = frozenset({"metadata", "status"})


def _as_rendered(found: Any, rendered: Mapping[str, Any]) -> bool:
    """Does an object of the input say what meshform renders? Everything but its metadata (a spec, a
    ConfigMap's data) and meshform's labels; other metadata (annotations a tool adds, a
    resourceVersion) and a status are not meshform's to judge."""
    meta = found.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    wanted = rendered["metadata"].get("labels") or {}
    content = {k: v for k, v in found.items() if k not in _NOT_CONTENT}
    return (
        content == {k: v for k, v in rendered.items() if k not in _NOT_CONTENT}
        and isinstance(labels, dict)
        and all(labels.get(k) == v for k, v in wanted.items())
    )


def compare(
    workload: Item,
    recorded: Sequence[str],
    rendered: Sequence[Mapping[str, Any]],
    by_ref: Mapping[Key, list[Item]],
) -> Iterator[Finding]:
    """What the input holds of each recorded object, against `rendered` (what the recorded mode renders
    for this workload from its recorded policy now)."""
    meta = workload.obj.get("metadata") or {}
    ns = str(meta.get("namespace", ""))
    by_name = {f"{o['kind']}/{o['metadata']['name']}": o for o in rendered}
    for ref in recorded:
        kind, _, name = ref.partition("/")
        present = at(by_ref, (kind, ns, name), workload.file)
        mine = [i for i in present if owns(workload.obj, i.obj)]
        if not present:
            yield Finding(
                MISSING, ref, None, f"{ref}, which the workload's status records, is not in the input"
            )
        for other in (i for i in present if all(i is not m for m in mine)):
            yield Finding(
                FOREIGN,
                ref,
                other,
                f"{ref} is in the input but is not meshform's for this workload (it is not labelled "
                f"{MANAGED_BY}: meshform and {NAME}: <the workload or its component>)",
            )
        for extra in mine[1:]:
            first = mine[0]
            yield Finding(
                DUPLICATED,
                ref,
                extra,
                f"{ref} appears {len(mine)} times in the input (also at {first.file}:{first.line})",
            )
        wanted = by_name.get(ref)
        for copy in mine:
            if wanted is not None and not _as_rendered(copy.obj, wanted):
                yield Finding(
                    EDITED,
                    ref,
                    copy,
                    f"{ref} differs from what the policy recorded on the workload renders (edited by hand?)",
                )
