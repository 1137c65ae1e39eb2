"""The quick positioned reader: plain documents read from libyaml's events, data and positions at once.

ruamel's round-trip loader gives positions, but reads ~40 KB/s: a 600 KB application took 15 s to
validate. libyaml's parser (C) emits one event per node, with its mark; following the events builds
the same data and positions the round-trip reader would give (YAML 1.2 scalars; a mapping entry
located at its key, a sequence item at its value) in a few percent of the time.

Only plain documents are read here. Anything else — anchors, aliases, tags, directives, complex or
duplicate keys, merge keys, scalars whose YAML 1.2 reading is not one of the simple cases below,
syntax errors — returns None, and the caller uses the round-trip reader, which reports it located.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

Position = tuple[int, int]  # 1-based line, column
Path = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
# The simple spellings of numbers; ruamel reads others (octal, hex, `1_000`, `1e3`, `.inf`) its own way.
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\.[0-9]+")


class Unusual(Exception):
    """Something only the round-trip reader reads (or reports) exactly."""


def read(text: str, first_line: int = 1) -> tuple[Any, dict[Path, Position]] | None:
    """One document's data and the positions of its nodes by path (lines counted from
    `first_line`), or None when the document is not plain."""
    import yaml

    builder = _Builder(first_line)
    try:
        for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            builder.event(event)
    except (yaml.YAMLError, Unusual, RecursionError):
        return None
    if builder.documents != 1 or builder.stack:
        return None
    return builder.root, builder.positions


# ruamel's own YAML 1.2 implicit resolvers (ruamel.yaml.resolver.implicit_resolvers, the entries for
# (1, 2)), in its order: (tag, pattern, flags, first characters). Written out rather than read from
# ruamel, whose import (~8 ms) a run that reads only plain config files would otherwise pay;
# tests/test_yamlio.py checks that this table is ruamel's, entry by entry.
_YAML12: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    (_TAG + "bool", "^(?:true|True|TRUE|false|False|FALSE)$", re.X, tuple("tTfF")),
    (
        _TAG + "float",
        """^(?:
         [-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\\.(?:inf|Inf|INF)
        |\\.(?:nan|NaN|NAN))$""",
        re.X,
        tuple("-+0123456789."),
    ),
    (
        _TAG + "int",
        """^(?:[-+]?0b[0-1_]+
        |[-+]?0o?[0-7_]+
        |[-+]?[0-9_]+
        |[-+]?0x[0-9a-fA-F_]+)$""",
        re.X,
        tuple("-+0123456789"),
    ),
    (_TAG + "merge", "^(?:<<)$", 0, ("<",)),
    (
        _TAG + "null",
        """^(?: ~
        |null|Null|NULL
        | )$""",
        re.X,
        ("~", "n", "N", ""),
    ),
    (
        _TAG + "timestamp",
        """^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
        |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
        (?:[Tt]|[ \\t]+)[0-9][0-9]?
        :[0-9][0-9] :[0-9][0-9] (?:\\.[0-9]*)?
        (?:[ \\t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""",
        re.X,
        tuple("0123456789"),
    ),
    (_TAG + "value", "^(?:=)$", 0, ("=",)),
    (_TAG + "yaml", "^(?:!|&|\\*)$", 0, tuple("!&*")),
)


@cache
def _implicit() -> dict[str | None, list[tuple[str, re.Pattern[str]]]]:
    """The round-trip reader's own YAML 1.2 resolvers by first character, so both read alike."""
    table: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}
    for tag, pattern, flags, first in _YAML12:
        compiled = re.compile(pattern, flags)
        for char in first:
            table.setdefault(char, []).append((tag, compiled))
    return table


def _tag(value: str) -> str:
    table = _implicit()
    for tag, regexp in (*table.get(value[0] if value else "", ()), *table.get(None, ())):
        if regexp.match(value):
            return str(tag)
    return _TAG + "str"


def _scalar(value: str, plain: bool) -> Any:
    if not plain:
        return value
    tag = _tag(value)
    if tag == _TAG + "str":
        return value
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "bool":
        return _BOOL[value]
    if tag == _TAG + "int" and _INT.fullmatch(value):
        return int(value)
    if tag == _TAG + "float" and _FLOAT.fullmatch(value):
        return float(value)
    raise Unusual  # a timestamp, a merge key, an unusual number: the round-trip reader decides


class _Builder:
    """Follows the event stream with a stack of open collections."""

    def __init__(self, first_line: int) -> None:
        import yaml

        self.y = yaml
        self.offset = first_line
        self.positions: dict[Path, Position] = {}
        self.stack: list[_Open] = []
        self.root: Any = None
        self.documents = 0

    def event(self, event: Any) -> None:
        y = self.y
        if isinstance(event, y.DocumentStartEvent):
            if event.version is not None or event.tags:
                raise Unusual  # a %YAML or %TAG directive changes how everything reads
            self.documents += 1
        elif isinstance(event, y.AliasEvent) or getattr(event, "anchor", None):
            raise Unusual
        elif isinstance(event, y.CollectionEndEvent):
            self.stack.pop()
        elif isinstance(event, y.NodeEvent):
            if event.tag is not None and event.tag != "!":
                raise Unusual
            self.node(event)

    def node(self, event: Any) -> None:
        mark = event.start_mark
        here = (mark.line + self.offset, mark.column + 1)
        y = self.y
        if isinstance(event, y.ScalarEvent):
            value: Any = _scalar(event.value, event.implicit[0])  # plain and untagged
        else:
            value = {} if isinstance(event, y.MappingStartEvent) else []
        if not self.stack:
            self.root = value
            if not isinstance(event, y.ScalarEvent):  # the round-trip reader locates collections only
                self.positions[()] = here
        else:
            self.stack[-1].add(value, here, self.positions)
        if isinstance(value, dict | list) and not isinstance(event, y.ScalarEvent):
            path = () if len(self.stack) == 0 else self.stack[-1].child_path
            self.stack.append(_Open(value, path))


class _Open:
    """One open mapping or sequence: where its next child goes."""

    __slots__ = ("child_path", "key", "node", "path")

    def __init__(self, node: dict[Any, Any] | list[Any], path: Path) -> None:
        self.node, self.path = node, path
        self.key: Any = _NO_KEY
        self.child_path: Path = path

    def add(self, value: Any, here: Position, positions: dict[Path, Position]) -> None:
        node = self.node
        if isinstance(node, list):
            self.child_path = (*self.path, len(node))
            positions[self.child_path] = here
            node.append(value)
        elif self.key is _NO_KEY:  # a key
            if isinstance(value, dict | list) or value in node:
                raise Unusual  # a complex key, or a duplicate (the round-trip reader says which)
            self.key = value
            positions[(*self.path, str(value))] = here
        else:
            node[self.key] = value
            self.child_path = (*self.path, str(self.key))
            self.key = _NO_KEY


_NO_KEY = object()
