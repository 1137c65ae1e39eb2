"""Plain scalars as Kubernetes reads them, remembering the text they were written as.

Kubernetes reads manifests YAML 1.1-style: `yes`, `on` and `NO` are booleans, `0777` is octal, `1:30`
is 90. Every engine must give meshform's core that reading (PyYAML's safe rules, with timestamps kept
as strings as Kubernetes' own reader does), and a document written back must mean what it meant: a
scalar meshform did not change keeps its original text, whatever a YAML 1.2 writer would make of it.

The values here are plain Python types where the text is already what a writer produces (`web`, `3`,
`true`), and otherwise subclasses that carry the text: `PlainStr` (a string read from a plain scalar
that a writer would have to quote, e.g. `0o17` or `2024-01-01`), `PlainInt`, `PlainFloat`. Booleans and
null cannot be subclassed: `read_plain` returns a `PlainStr` subclass, `Pending`, that the round-trip
constructor swaps for its value, recording the text on the enclosing container.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

STR, BOOL, INT, FLOAT, NULL = (f"tag:yaml.org,2002:{t}" for t in ("str", "bool", "int", "float", "null"))
TIMESTAMP = "tag:yaml.org,2002:timestamp"


class PlainStr(str):
    """A string that was a plain scalar in the input: written back as that same plain text."""

    __slots__ = ()


class PlainInt(int):
    """An integer written as other text than its decimal form (`0777`, `1:30`, `0x1F`, `1_000`)."""

    text: str

    def __new__(cls, value: int, text: str) -> PlainInt:
        self = super().__new__(cls, value)
        self.text = text
        return self

    def __getnewargs__(self) -> tuple[int, str]:  # type: ignore[override]  # copy/pickle keep the text
        return int(self), self.text


class PlainFloat(float):
    """A float with its original text (`1.50`, `.5`, `1.0e+3`, `.Inf`)."""

    text: str

    def __new__(cls, value: float, text: str) -> PlainFloat:
        self = super().__new__(cls, value)
        self.text = text
        return self

    def __getnewargs__(self) -> tuple[float, str]:  # type: ignore[override]
        return float(self), self.text


class Pending(PlainStr):
    """A boolean or null written as other text than `true`/`false`/nothing (`yes`, `Off`, `~`, `Null`).

    As a mapping key it stays this string (keys are never meshform's to read); as a value the
    round-trip constructor replaces it with `value` and remembers the text on the container."""

    __slots__ = ()

    @property
    def value(self) -> Any:
        return _construct(_tag(self), str(self))


class _Resolver(yaml.resolver.Resolver):
    """PyYAML's YAML 1.1 implicit resolvers, minus timestamps (read as strings, as Kubernetes does)."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != TIMESTAMP]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_RESOLVER = _Resolver()
_TIMESTAMP = next(
    regexp
    for resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.values()
    for tag, regexp in resolvers
    if tag == TIMESTAMP
)


def is_timestamp(text: str) -> bool:
    """Would YAML 1.1 read this plain text as a timestamp (which Kubernetes keeps as a string)?"""
    return _TIMESTAMP.match(text) is not None


def _tag(text: str) -> str:
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag


def _construct(tag: str, text: str) -> Any:
    return yaml.SafeLoader("").construct_object(yaml.ScalarNode(tag, text))


@lru_cache(maxsize=1 << 14)
def read_plain(text: str) -> Any:
    """Kubernetes' reading of one plain (unquoted, untagged) scalar, as a value that writes back as
    `text`: a plain Python value when the usual writers already produce `text` for it, else one of the
    Plain* types above. `=` and `<<` (YAML 1.1 value and merge keys) are kept as their text."""
    tag = _tag(text)
    if tag == BOOL:
        return _construct(tag, text) if text in ("true", "false") else Pending(text)
    if tag == NULL:
        return None if text == "" else Pending(text)
    try:
        if tag == INT:
            number = _construct(tag, text)
            return number if str(number) == text else PlainInt(number, text)
        if tag == FLOAT:
            return PlainFloat(_construct(tag, text), text)
    except ValueError:  # `0b_`, `._`: the pattern matched, but there is no digit (a string to all)
        pass
    return PlainStr(text)
