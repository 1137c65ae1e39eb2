"""The bounds every reader enforces, so that no input costs more than a bounded time and memory.

A hostile stream can be large (64 MiB), hold millions of empty documents, nest collections thousands
deep (a recursion in any later walk, a stack overflow in yaml-rs) or expand aliases exponentially.
Each is refused with a located MF004 before anything walks the data. The checks are cheap on the hot
path: a document whose text cannot nest deeper than MAX_DEPTH (few brackets, short indentation) is
never walked for its depth.
"""

from __future__ import annotations

import re
from typing import Any

MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 100
MAX_ALIAS_NODES = 100_000  # nodes reached through aliases; a "billion laughs" blows far past it
MAX_DOCUMENTS = 100_000  # documents in one input: a real stream has thousands, a flood of `---` millions

# A block collection starts at a line's indentation or right after compact indicators on the same
# line (`- - x`, `? - x`), and block nesting moves at least one column right every second level (a
# sequence may sit at its parent key's column, nothing else may). So a document nests at most
# 2 * (longest run of indentation and indicators opening a line) + (flow brackets) deep; when that is
# within MAX_DEPTH the data need not be walked to know it.
_PREFIX = 25
_DEEP_PREFIX = re.compile(rf"^[ \t?:-]{{{_PREFIX}}}", re.MULTILINE)
# yaml-rs recurses without a limit on block nesting and overflows the stack beyond ~10,000 levels
# (flow nesting it limits itself); text that cannot nest 4,000 deep in blocks is safe to hand it.
_RS_UNSAFE_PREFIX = re.compile(r"^[ \t?:-]{2000}", re.MULTILINE)


def may_nest_deeper(text: str) -> bool:
    """Could this document's data nest deeper than MAX_DEPTH? False is a proof; True asks for the
    walk (`too_deep`)."""
    brackets = text.count("[") + text.count("{")
    return 2 * _PREFIX + brackets > MAX_DEPTH or _DEEP_PREFIX.search(text) is not None


def safe_for_yaml_rs(text: str) -> bool:
    """Can yaml-rs parse this text without overflowing its stack?"""
    return _RS_UNSAFE_PREFIX.search(text) is None


def too_deep(data: Any) -> bool:
    """Does the data nest deeper than MAX_DEPTH? Level by level, without recursion."""
    level, depth = [data], 0
    while level:
        if depth > MAX_DEPTH:
            return True
        below: list[Any] = []
        for node in level:
            if isinstance(node, dict):
                below.extend(node.values())
            elif isinstance(node, list):
                below.extend(node)
        level, depth = below, depth + 1
    return False


def depth_message() -> str:
    return f"nesting deeper than {MAX_DEPTH} levels"


def deep_position(text: str) -> tuple[int, int] | None:
    """The 1-based (line, column) of the first node nested deeper than MAX_DEPTH, or None (also for
    text that does not parse: the caller's own parser reports that). From libyaml's event stream,
    which neither recurses nor builds the data, so it also locates what a recursive reader cannot."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    opened = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.NodeEvent) and opened > MAX_DEPTH:
                mark = event.start_mark
                return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            if isinstance(event, yaml.CollectionStartEvent):
                opened += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                opened -= 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        if "maximum nesting depth" in str(exc.problem) and mark is not None:  # libyaml's own limit
            return mark.line + 1, mark.column + 1
    return None
