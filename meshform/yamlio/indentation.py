"""A document's indentation style as its author wrote it, so that what meshform writes into it matches."""

from __future__ import annotations

import itertools


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def guess_indent(text: str) -> tuple[int, int]:
    """(mapping indent, sequence dash offset) as the document's author wrote them (kubectl: 2, 0)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    mapping: int | None = None
    offset: int | None = None
    for prev, line in itertools.pairwise(lines):
        if not prev.rstrip().endswith(":"):
            continue
        base = _depth(prev) + (2 if prev.lstrip().startswith("- ") else 0)
        step = _depth(line) - base
        if line.lstrip().startswith("- ") and offset is None and step >= 0:
            offset = step
        elif not line.lstrip().startswith("- ") and mapping is None and step > 0:
            mapping = step
        if mapping is not None and offset is not None:
            break
    return mapping or 2, offset or 0
