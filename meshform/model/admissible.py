"""Fields of an application model that the API server would refuse once rendered, located in the model.

The schema cannot say them: label keys and values, annotation keys and their total size, the names
meshform derives (a component with ports becomes a Service, whose name must start with a letter; a
CronJob's name has at most 52 characters), two components or versions that derive one object name, and
labels that would take a workload's pod template away from its own selector. `render` refuses what this
module finds, and `validate` reports it, at the field that causes it. meshform.core.govern checks the
rendered objects once more, for what a mode adds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from meshform.diagnostics import Diagnostic
from meshform.model import apiserver
from meshform.model.application import Application, Component
from meshform.model.semantics import COMPONENTS, Locator
from meshform.yamlio.reader import Path


def check(app: Application, at: Locator) -> Iterator[Diagnostic]:
    yield from _keys(("metadata",), app.labels, app.annotations, at)
    derived: dict[tuple[str, str], str] = {}  # (kind, name) → which component/version made it first
    for c in app.components:
        base: Path = (*COMPONENTS, c.index)
        yield from _keys(base, c.labels, c.annotations, at)
        if not all(apiserver.is_dns_label(n) for n in (c.name, *(v.name for v in c.versions))):
            continue  # the schema refuses the names themselves; what they derive would only repeat it
        yield from _selector_labels(app, c, base, at)
        if c.ports:
            problem = apiserver.object_name("Service", c.name)
            if problem:
                yield at.error((*base, "name"), "MF173", f"component {c.name!r} has ports, so {problem}")
        for j, v in enumerate(c.versions):
            where: Path = (*base, "versions", j) if c.explicit_versions else base
            source = f"component {c.name!r}" + (f" version {v.name!r}" if c.explicit_versions else "")
            if c.explicit_versions:
                yield from _keys(where, v.labels, v.annotations, at)
                yield from _annotations_together(c, j, where, at)
                if any(w.name == v.name for w in c.versions[:j]):
                    yield at.error((*where, "name"), "MF177", f"{source} is listed twice")
                    continue
            name = f"{c.name}-{v.name}" if c.explicit_versions else c.name
            yield from _derived_name(c.workload, name, derived, source, where, at)


def _keys(
    base: Path, labels: Mapping[str, Any], annotations: Mapping[str, Any], at: Locator
) -> Iterator[Diagnostic]:
    for key, value in labels.items():
        problem = apiserver.qualified_name(key)
        if problem:
            yield at.error((*base, "labels", key), "MF170", problem)
        problem = apiserver.label_value(value)
        if problem:
            yield at.error((*base, "labels", key), "MF171", f"label {key}: {problem}")
    for key in annotations:
        problem = apiserver.qualified_name(key, "annotation")
        if problem:
            yield at.error((*base, "annotations", key), "MF170", problem)
    too_big = apiserver.annotations_too_big(annotations)
    if too_big:
        yield at.error((*base, "annotations"), "MF172", too_big)


def _annotations_together(c: Component, j: int, where: Path, at: Locator) -> Iterator[Diagnostic]:
    """A version's pod template carries its component's annotations and its own."""
    own, shared = c.versions[j].annotations, c.annotations
    if apiserver.annotations_too_big(own) or apiserver.annotations_too_big(shared):
        return  # said already, at the map that is too big alone
    too_big = apiserver.annotations_too_big({**shared, **own})
    if too_big:
        yield at.error((*where, "annotations"), "MF172", f"with the component's annotations, {too_big}")


def _selector_labels(app: Application, c: Component, base: Path, at: Locator) -> Iterator[Diagnostic]:
    """meshform selects a workload's pods (and its Service's) by these labels; a component may repeat
    them, but another value would leave the selector matching none of the workload's own pods."""
    said: set[tuple[Path, str]] = set()
    for j, v in enumerate(c.versions):
        wanted = {"app.kubernetes.io/part-of": app.name, "app": c.name, "version": v.name}
        for key, need in wanted.items():
            # a version's own label wins over its component's (expand merges them in that order)
            where: Path = (*base, "versions", j) if key in v.labels else base
            value = v.labels.get(key, c.labels.get(key, need))
            if value != need and (where, key) not in said:
                said.add((where, key))
                yield at.error(
                    (*where, "labels", key),
                    "MF176",
                    f"label {key}={value} replaces {key}={need}, which the workload's selector needs: "
                    "its pods would not match it",
                )


def _derived_name(
    kind: str, name: str, derived: dict[tuple[str, str], str], source: str, where: Path, at: Locator
) -> Iterator[Diagnostic]:
    problem = apiserver.object_name(kind, name)
    if problem:
        yield at.error((*where, "name"), "MF174", problem)
    first = derived.setdefault((kind, name), source)
    if first != source:
        yield at.error(
            (*where, "name"),
            "MF175",
            f"{source} renders {kind} {name!r}, and so does {first}: one would overwrite the other",
        )
