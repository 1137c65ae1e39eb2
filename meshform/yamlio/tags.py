"""Explicit YAML tags: the core ones are read the same by every reader, anything else is refused.

Tagged values vanish or change between readers: yaml-rs drops `!foo` and reads `!!binary` as its
base64 text, libyaml builds bytes, sets and dates that meshform's writer can only stringify, ruamel keeps
the tag, and Kubernetes (go-yaml) reads `! 5` as the string "5" where the others read the number 5.
So a tag other than `!!str`, `!!map`, `!!seq` (on a node of that kind) and `!!merge` (the tag of `<<`)
is a located MF007 on every engine, before any of them reads the document.
"""

from __future__ import annotations

import re
from typing import Any

from meshform.diagnostics import Diagnostic, Level, MeshformError

# The tags every reader reads alike, and the one kind of node each fits (`!!merge` is the tag of `<<`).
# Scalar type tags (`!!int "7"`, `!!float "1e3"`, `!!bool yes`) are not among them: readers convert
# the text differently, and ruamel writes some of them back untagged, as another type.
CORE = {
    "tag:yaml.org,2002:str": "scalar",
    "tag:yaml.org,2002:merge": "key",  # a value tagged `!!merge` is read as the string by go-yaml only
    "tag:yaml.org,2002:map": "mapping",
    "tag:yaml.org,2002:seq": "sequence",
}
# Where a tag could start: `!` at the start of a line, after white space or a flow indicator. It also
# matches a `!` inside plain text ("if ! cmd"), which only costs the event scan below.
_MAYBE = re.compile(r"(?:^|[\s\[{,])!", re.MULTILINE)


def may_have_tags(text: str) -> bool:
    """A cheap test: False means the text has no explicit tag at all."""
    return "!" in text and _MAYBE.search(text) is not None  # `in` first: ~50x faster than the regex


def refuse_tags(text: str, file: str, first_line: int = 1) -> None:
    """Raise a located MF007 for the first explicit tag outside CORE. Text no parser accepts is let
    through: the reader that parses it next reports the syntax error, located."""
    lines = text.splitlines()
    for tag, kind, line, col in _explicit_tags(text):
        verbatim = _written_verbatim(lines, line, col)
        fits = CORE.get(tag) == kind or (CORE.get(tag) == "scalar" and kind == "key")
        if fits and not verbatim:
            continue
        shown = "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag
        if tag not in CORE:
            message = (
                f"unsupported YAML tag {shown!r}: readers disagree on what a tagged value means "
                "(Kubernetes among them), so meshform cannot keep it"
            )
        elif verbatim:
            message = f"verbatim YAML tag !<{tag}>: write {shown}, which every reader knows, or no tag"
        elif CORE[tag] == "key":
            message = f"YAML tag {shown!r} marks a merge key (`<<`); on a {kind} readers disagree on it"
        else:
            message = f"YAML tag {shown!r} cannot mark a {kind}"
        raise MeshformError([Diagnostic(file, first_line + line, col + 1, Level.ERROR, "MF007", message)])


def _written_verbatim(lines: list[str], line: int, col: int) -> bool:
    """Is the node's tag written `!<...>`? Its properties (an anchor, the tag) start at line:col. The
    round-trip engine tells such a tag from no tag at all only by its `!!` handle."""
    words = lines[line][col:].split() if line < len(lines) else []
    tag = next((w for w in words[:2] if w.startswith("!")), "")
    return tag.startswith("!<")


def _explicit_tags(text: str) -> list[tuple[str, str, int, int]]:
    """(tag, kind of node, 0-based line, 0-based column) of every node written with a tag, from
    libyaml's events, or ruamel's where libyaml refuses the text (ruamel is the reference reader)."""
    try:
        return _tags_of(_libyaml_events(text))
    except Exception:  # a syntax libyaml refuses: ask ruamel, which reads YAML 1.2
        pass
    try:
        from ruamel.yaml import YAML

        return _tags_of(YAML(typ="rt").parse(text))
    except Exception:  # no reader accepts it: the caller's parse reports where and why
        return []


def _libyaml_events(text: str) -> Any:
    import yaml

    return yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _tags_of(events: Any) -> list[tuple[str, str, int, int]]:
    out = []
    # Per open collection: is it a mapping, and how many nodes it holds so far (even: a key is next).
    open_: list[list[Any]] = []
    for event in events:
        name = type(event).__name__
        if name in ("MappingEndEvent", "SequenceEndEvent"):
            open_.pop()
            continue
        if name not in _KINDS and name != "AliasEvent":
            continue
        at_key = bool(open_) and open_[-1][0] and open_[-1][1] % 2 == 0
        if open_:
            open_[-1][1] += 1
        tag = getattr(event, "tag", None)
        if tag is not None:
            tag = getattr(tag, "value", tag)  # ruamel's Tag objects
            mark = event.start_mark
            kind = _KINDS[name]
            out.append((str(tag), "key" if kind == "scalar" and at_key else kind, mark.line, mark.column))
        if name != "ScalarEvent" and name != "AliasEvent":
            open_.append([name == "MappingStartEvent", 0])
    return out


_KINDS = {"ScalarEvent": "scalar", "MappingStartEvent": "mapping", "SequenceStartEvent": "sequence"}
