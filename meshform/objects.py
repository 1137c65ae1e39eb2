"""One Kubernetes object of an input stream, with where it came from: the unit every stage passes on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshform.diagnostics import Diagnostic, Level


@dataclass
class Item:
    """One Kubernetes object of the input, with where it came from: the document's first line, and
    (to locate a finding inside it, read again only then) the document's text and the object's index
    in a List's `items` (-1 when the object is the document)."""

    obj: Any
    file: str
    line: int
    text: str = ""
    index: int = -1
    changed: bool = False
    dropped: bool = False  # an object an earlier run added (e.g. a builtin ConfigMap), now stale
    added: list[Any] = field(default_factory=list)  # objects to emit right after this one
    parent: Any = None  # the List (or ResourceList) this object is an item of

    def diagnostic(self, level: Level, code: str, message: str, hint: str = "") -> Diagnostic:
        return Diagnostic(self.file, self.line, 1, level, code, message, "", resource_ref(self.obj), hint)


def resource_ref(obj: Any) -> str:
    """`Kind/namespace/name` for messages, whatever the object's shape (`?` for what is missing)."""
    if not isinstance(obj, dict):
        return "?"
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    ns = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{obj.get('kind', '?')}/{ns}{meta.get('name', '?')}"
