"""Checks a schema cannot express: references between components, modes, enrollment, key conflicts.

Each check is a generator of located Diagnostics, so `validate` can report every problem at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshform.diagnostics import Diagnostic, Level, listing
from meshform.model import policy_checks
from meshform.model.application import Application, Component, port_of
from meshform.model.schema import json_path
from meshform.modes import Registry
from meshform.modes.base import Mode
from meshform.suggest import did_you_mean
from meshform.yamlio.reader import Document, Path

COMPONENTS: Path = ("spec", "components")
STATUS = "meshform.dev/status"  # meshform.core.status.STATUS (core sits above this layer)


class Locator:
    """Builds diagnostics at a path of one document."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc

    def error(
        self, path: Path, code: str, message: str, level: Level = Level.ERROR, hint: str = ""
    ) -> Diagnostic:
        line, col = self.doc.position(path)
        return Diagnostic(self.doc.file, line, col, level, code, message, json_path(path), hint=hint)


def effective_mode(app: Application, component: Component, override: str | None) -> str:
    """A component's own mode wins; otherwise --mode, otherwise the application's."""
    return component.mode or override or app.mode


def effective_strategy(app: Application, component: Component, mode: Mode, override: str | None) -> str:
    wanted = component.enrollment or override or app.enrollment
    return wanted or mode.facts.strategies[0]


def check(
    app: Application,
    doc: Document,
    registry: Registry,
    mode_override: str | None = None,
    enrollment_override: str | None = None,
    enforcement_override: str | None = None,
) -> Iterator[Diagnostic]:
    at = Locator(doc)
    yield from _duplicates(app, at)
    yield from _policy(app, at, registry, mode_override, enforcement_override or app.policy_enforcement)
    for component in app.components:
        base: Path = (*COMPONENTS, component.index)
        yield from _ports(component, base, at)
        yield from _dependencies(app, component, base, at)
        yield from _mode(app, component, base, at, registry, mode_override, enrollment_override)
        yield from _keys(component, base, at, registry)
        if component.workload == "CronJob" and not component.schedule:
            yield at.error(
                (*base, "workload"), "MF209", f"CronJob component {component.name!r} has no schedule"
            )


def _policy(
    app: Application, at: Locator, registry: Registry, mode_override: str | None, enforcement: str
) -> Iterator[Diagnostic]:
    modes = {c.name: registry.resolve(effective_mode(app, c, mode_override)) for c in app.components}
    mode_of = {name: mode for name, mode in modes.items() if mode is not None}
    options_of = {name: dict(app.mode_options.get(name, {})) for name in registry.modes}
    yield from policy_checks.check(app, at, registry, mode_of, options_of, strict=enforcement == "strict")


def _duplicates(app: Application, at: Locator) -> Iterator[Diagnostic]:
    seen: set[str] = set()
    for c in app.components:
        if c.name in seen:
            yield at.error((*COMPONENTS, c.index, "name"), "MF202", f"duplicate component name {c.name!r}")
        seen.add(c.name)


def _ports(component: Component, base: Path, at: Locator) -> Iterator[Diagnostic]:
    names: set[str] = set()
    numbers: set[tuple[int, bool]] = set()
    for i, port in enumerate(component.ports):
        key = (port.port, port.protocol == "udp")
        if port.name in names:
            yield at.error((*base, "ports", i, "name"), "MF203", f"port name {port.name!r} used twice")
        if key in numbers:
            yield at.error((*base, "ports", i, "port"), "MF203", f"port {port.port} used twice")
        names.add(port.name)
        numbers.add(key)


def _dependencies(app: Application, component: Component, base: Path, at: Locator) -> Iterator[Diagnostic]:
    env_names = set(component.env)
    for v in component.versions:
        env_names |= set(v.env)
    for dep in component.dependencies:
        where = (*base, "dependencies", dep.index)
        target = app.component(dep.name)
        if dep.name == component.name:
            yield at.error(where, "MF207", f"component {component.name!r} depends on itself")
        elif target is None:
            known = listing((c.name for c in app.components), len(app.components))
            yield at.error(where, "MF201", f"unknown dependency {dep.name!r} (components: {known})")
        elif not target.ports:
            yield at.error(where, "MF210", f"dependency {dep.name!r} declares no ports")
        elif port_of(target, dep.port) is None:
            yield at.error(where, "MF206", f"dependency {dep.name!r} has no port {dep.port!r}")
        prefix = env_prefix(dep.name)
        for var in (f"{prefix}_HOST", f"{prefix}_PORT"):
            if var in env_names:
                yield at.error(
                    (*base, "env"), "MF211", f"env {var} clashes with the dependency's connection variable"
                )


def env_prefix(name: str) -> str:
    return name.upper().replace("-", "_")


def _mode(
    app: Application,
    component: Component,
    base: Path,
    at: Locator,
    registry: Registry,
    mode_override: str | None,
    enrollment_override: str | None,
) -> Iterator[Diagnostic]:
    name = effective_mode(app, component, mode_override)
    mode = registry.resolve(name)
    where: Path = (*base, "governanceMode") if component.mode else ("spec", "governanceMode")
    if mode is None:
        known = f"(known: {listing(registry.modes)})"
        yield at.error(
            where, "MF204", f"unknown governance mode {name!r} {known}{did_you_mean(name, registry.names())}"
        )
        return
    strategy = effective_strategy(app, component, mode, enrollment_override)
    if strategy not in mode.facts.strategies:
        e_where: Path = (*base, "enrollment") if component.enrollment else ("spec", "enrollment")
        yield at.error(
            e_where,
            "MF205",
            f"mode {mode.facts.name!r} cannot enroll {component.name!r} by {strategy!r} "
            f"(supports: {', '.join(mode.facts.strategies)})",
        )


def _keys(component: Component, base: Path, at: Locator, registry: Registry) -> Iterator[Diagnostic]:
    """A mesh's enrollment key written by hand fights the mode meshform applies: refuse it. So does a
    status record: only meshform writes one, and switching would remove whatever it names."""
    owned = {key: m.facts.name for m in registry.modes.values() for key in m.facts.owned_keys}
    for field in ("labels", "annotations"):
        for key in _user_keys(component, field):
            if key == STATUS:
                yield at.error(
                    (*base, field, key), "MF256", f"{key} is meshform's own record; it cannot be set"
                )
            elif key in owned:
                yield at.error(
                    (*base, field, key),
                    "MF208",
                    f"{field[:-1]} {key!r} belongs to mode {owned[key]!r}; set governanceMode instead",
                )


def _user_keys(component: Component, field: str) -> list[str]:
    keys: list[str] = list(getattr(component, field))
    for v in component.versions:
        keys += [k for k in getattr(v, field) if k not in keys]
    return keys


def options_for(app: Application, mode: Mode) -> dict[str, Any]:
    return dict(app.mode_options.get(mode.facts.name, {}))
