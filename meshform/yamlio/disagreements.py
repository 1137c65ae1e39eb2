"""Syntax YAML readers disagree about, refused alike by every engine.

meshform reads with three engines: ruamel (YAML 1.2, the reference, with positions), libyaml (YAML 1.1,
like Kubernetes' reader) and yaml-rs (YAML 1.2, fast). A document one of them accepts and another
refuses would pass `transform` and fail `--preserve-comments`, `validate` or `kubectl`, depending on
which engine happened to read it. These are the cases found by comparing them: a mapping or a sequence
as a key, a `:` with no key before it, and an anchor with an unusual name or defined twice. ruamel and
yaml-rs accept them, libyaml and Kubernetes do not, so every engine refuses them, located.

The `maybe_*` tests are cheap text scans (they run on documents passed through unparsed too); only a
document they flag is looked at closely, on ruamel's node graph. (Tabs and tags have their own rules:
streams and yamlio.tags.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from meshform.diagnostics import Diagnostic, Level, MeshformError

COMPLEX_KEY = "a mapping or a sequence as a key: Kubernetes reads only scalar keys"
EMPTY_KEY = "a value without a key (`: value`): YAML 1.1 readers, Kubernetes among them, refuse it"
ODD_ANCHOR = "YAML 1.1 readers, Kubernetes among them, accept only letters, digits, '-' and '_' there"
TWICE = "is defined twice: readers disagree on which one its aliases mean; give each its own name"
ANCHOR_NAME = re.compile(r"[A-Za-z0-9_-]+")

# `? key` (found with `in`), a flow collection followed by `:`, and a `:` that opens a line or follows a
# flow indicator. Each pattern starts with a character class, which the regex engine skips to quickly.
_COLLECTION_KEY = re.compile(r"[\]}][ \t]*:")
_NO_KEY = re.compile(r"[\n{,\[][ \t]*:(?:[ \t\r\n]|$)")
_ANCHOR = re.compile(r"(?:^|[\s\[{,])&([^\s\[\]{},]*)", re.MULTILINE)


def maybe_odd_key(text: str) -> bool:
    """False means every key in the text is a scalar that is written out."""
    return (
        "?" in text
        or _COLLECTION_KEY.search(text) is not None
        or _NO_KEY.search(text) is not None
        or text.lstrip(" \t").startswith(":")
    )


def maybe_odd_anchor(text: str) -> bool:
    """False means every anchor has a name every reader accepts, and a name of its own."""
    if "&" not in text:
        return False
    names = _ANCHOR.findall(text)  # a `&` in plain text counts too: it only costs a closer look
    return len(set(names)) < len(names) or not all(ANCHOR_NAME.fullmatch(n) for n in names)


def duplicate_anchor_problem(line: str, column: int) -> str:
    """libyaml's "second occurrence" of an anchor, in words: the `&` is at line[column]."""
    name = ANCHOR_NAME.match(line, column + 1)
    return f"anchor &{name.group() if name else ''} {TWICE}"


@contextmanager
def anchors_may_be_reused() -> Iterator[None]:
    """ruamel warns about an anchor defined twice through `warnings`, which would print its own source
    line on meshform's stderr; `refuse` says it instead, located, as a refusal."""
    import warnings

    from ruamel.yaml.error import ReusedAnchorWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReusedAnchorWarning)
        yield


def refuse(text: str, file: str) -> None:
    """Raise a located MF002 for the first key or anchor libyaml would refuse in text that ruamel read.
    Only called for text a `maybe_*` test flagged (or that ruamel could not even hash)."""
    if not (maybe_odd_key(text) or maybe_odd_anchor(text)):
        return
    from ruamel.yaml import YAML
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    lines = text.splitlines()
    seen: set[int] = set()
    anchored: list[Any] = []
    with anchors_may_be_reused():
        stack = list(YAML(typ="rt").compose_all(text))
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if getattr(node, "anchor", None) is not None:
            anchored.append(node)
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if not isinstance(key, ScalarNode):
                    raise _error(file, key.start_mark, COMPLEX_KEY)
                if key.value == "" and key.style is None and not _after_question_mark(lines, key.start_mark):
                    raise _error(file, key.start_mark, EMPTY_KEY)
                stack += (key, value)  # a key may carry an anchor too
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    _refuse_odd_anchors(anchored, file)


def _refuse_odd_anchors(nodes: list[Any], file: str) -> None:
    first: set[str] = set()
    for node in sorted(nodes, key=lambda n: (n.start_mark.line, n.start_mark.column)):
        name = str(node.anchor)
        if not ANCHOR_NAME.fullmatch(name):
            raise _error(file, node.start_mark, f"anchor name {name!r}: {ODD_ANCHOR}")
        if name in first:
            raise _error(file, node.start_mark, f"anchor &{name} {TWICE}")
        first.add(name)


def _after_question_mark(lines: list[str], mark: Any) -> bool:
    """Is this empty key written explicitly (`? ` then nothing), which every reader accepts?"""
    before = lines[mark.line][: mark.column].rstrip() if mark.line < len(lines) else ""
    return before.endswith("?")


def _error(file: str, mark: Any, message: str) -> MeshformError:
    return MeshformError([Diagnostic(file, mark.line + 1, mark.column + 1, Level.ERROR, "MF002", message)])
