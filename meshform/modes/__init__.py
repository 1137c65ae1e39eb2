"""The explicit registry of governance modes.

Built-in modes are listed here by hand (no discovery by import side effects); user-defined modes from
a modes file are added to a copy of the registry at the edge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from meshform.modes import ambient, builtin, consul, istio, kuma, linkerd, native
from meshform.modes.base import Mode

MODES: dict[str, Mode] = {
    "kubernetes-native": native.MODE,
    "builtin": builtin.MODE,
    "istio": istio.MODE,
    "istio-ambient": ambient.MODE,
    "linkerd": linkerd.MODE,
    "kuma": kuma.MODE,
    "consul": consul.MODE,
}


@dataclass(frozen=True)
class Registry:
    """Modes by name, plus aliases (Rainbond's names among them)."""

    modes: MappingProxyType[str, Mode]

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
        merged = dict(self.modes)
        for mode in extra:
            merged[mode.facts.name] = mode
        return Registry(MappingProxyType(merged))

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


DEFAULT = Registry(MappingProxyType(MODES))
