"""The explicit registry of governance modes.

Built-in modes are listed here by hand (no discovery by import side effects): each by its name and
the module that defines it as `MODE`. A module is imported the first time its mode is looked up, so
a run pays only for the modes it reads (a `transform` reads every mode's facts to recognise their
keys, but a mode's policy renderer or injector is imported by the mode only when it renders or
injects). User-defined modes from a modes file are added to a copy of the registry at the edge.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from meshform.modes.base import Mode

# name → the module whose MODE it is, in the order `meshform modes` lists them.
BUILTIN: Mapping[str, str] = {
    "kubernetes-native": "meshform.modes.native",
    "builtin": "meshform.modes.builtin",
    "istio": "meshform.modes.istio",
    "istio-ambient": "meshform.modes.ambient",
    "linkerd": "meshform.modes.linkerd",
    "kuma": "meshform.modes.kuma",
    "consul": "meshform.modes.consul",
}


class ModeTable(Mapping[str, Mode]):
    """Modes by name, each imported from its module on first use and kept. Iterating yields names
    without importing anything; reading a value (`[name]`, `.get`, `.values()`) imports its module.
    Read-only, like the MappingProxyType it replaces."""

    def __init__(self, where: Mapping[str, str], loaded: Mapping[str, Mode] | None = None) -> None:
        self._where = dict(where)
        self._loaded: dict[str, Mode] = dict(loaded or {})
        self._names = [*self._where, *(n for n in self._loaded if n not in self._where)]

    def __getitem__(self, name: str) -> Mode:
        found = self._loaded.get(name)
        if found is None:
            module = self._where[name]  # KeyError: not a mode of this table
            found = self._loaded[name] = import_module(module).MODE
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._where or name in self._loaded

    def with_modes(self, extra: Iterable[Mode]) -> ModeTable:
        """A new table with `extra` added (a name already here is replaced), the rest still lazy."""
        added = {mode.facts.name: mode for mode in extra}
        where = {name: module for name, module in self._where.items() if name not in added}
        loaded = {name: mode for name, mode in self._loaded.items() if name not in added}
        table = ModeTable(where, {**loaded, **added})
        table._names = [*self._names, *(n for n in added if n not in self._names)]
        return table


MODES = ModeTable(BUILTIN)


@dataclass(frozen=True)
class Registry:
    """Modes by name, plus aliases (Rainbond's names among them)."""

    modes: Mapping[str, Mode]  # a ModeTable (lazy); any mapping of loaded modes reads the same

    @property
    def aliases(self) -> dict[str, str]:
        return {alias: name for name, mode in self.modes.items() for alias in mode.facts.aliases}

    def resolve(self, name: str) -> Mode | None:
        """The mode called `name` or one of its aliases; case does not matter (`Istio` is istio)."""
        found = self.modes.get(name) or self.modes.get(self.aliases.get(name, ""))
        if found is not None:
            return found
        folded = name.casefold()
        for known, target in [*((m, m) for m in self.modes), *self.aliases.items()]:
            if known.casefold() == folded:
                return self.modes[target]
        return None

    def with_modes(self, extra: Iterable[Mode]) -> Registry:
        table = self.modes if isinstance(self.modes, ModeTable) else ModeTable({}, self.modes)
        return Registry(table.with_modes(extra))

    def names(self) -> list[str]:
        return [*self.modes, *self.aliases]

    def able(
        self,
        feature: str,
        options_of: Mapping[str, Mapping[str, Any]],
        on_edge: bool = False,
        tcp_only: bool = False,
    ) -> list[str]:
        """The modes that can enforce a policy `feature` (for one caller alone: `on_edge`; where no port
        speaks HTTP: `tcp_only`), each with its modeOptions from `options_of` (mode name → options):
        what MF910/MF911 name as the way out."""
        able = []
        for name, mode in self.modes.items():
            options = options_of.get(name, {})
            facts = mode.facts
            can = facts.supports_on_edge if on_edge else facts.supports
            if can(feature, options, tcp_only):
                able.append(name)
        return able


DEFAULT = Registry(MODES)
