"""The rendered objects as the API server's validation would see them: names, labels, annotations, each
workload's selector against its own pod template, and one object per kind and name.

meshform.model.admissible refuses, at the field that causes it, what the application model would make
invalid; this is the last look, after the modes added their keys, objects and sidecars. A finding here
is located at the component that rendered the object.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from meshform.core.workloads import pod_template
from meshform.model import apiserver


def problems(objects: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], str]]:
    """(object, reason) for every rule a rendered object breaks."""
    seen: dict[tuple[str, str, str], int] = {}
    for obj in objects:
        meta = obj.get("metadata") or {}
        kind, name = str(obj.get("kind", "")), meta.get("name")
        ref = f"{kind}/{name}"
        problem = apiserver.object_name(kind, name)
        if problem:
            yield obj, problem
        key = (kind, str(meta.get("namespace", "")), str(name))
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 2:
            yield obj, f"{ref} is rendered twice: one would overwrite the other"
        for problem in apiserver.metadata_problems(meta):
            yield obj, f"{ref}: {problem}"
        template = pod_template(obj)
        if template is not None and template is not obj:
            yield from ((obj, f"{ref} pod template: {p}") for p in _pod_template(obj, template))


def _pod_template(obj: dict[str, Any], template: dict[str, Any]) -> Iterator[str]:
    meta = template.get("metadata") or {}
    yield from apiserver.metadata_problems(meta)
    labels: Mapping[str, Any] = meta.get("labels") or {}
    selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    for key, value in selector.items():
        if labels.get(key) != value:
            yield f"selector {key}={value} does not match its label {key}={labels.get(key)!r}"
    spec = template.get("spec") or {}
    names = [c.get("name") for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]]
    twice = sorted({str(n) for n in names if names.count(n) > 1})
    if twice:
        yield f"two containers share a name ({', '.join(twice)})"
