"""Splitting a YAML stream into its documents at `---` and `...` lines, losslessly."""

from __future__ import annotations

import re
from collections.abc import Iterator

_SEPARATOR = re.compile(r"^(?:---(?:[ \t].*)?|\.\.\.)$")


def split(text: str) -> Iterator[tuple[int, str, str]]:
    """(first line, separator line before it, text) of each document, so that joining every
    separator and text gives back the input exactly."""
    start, sep, lines = 1, "", list[str]()
    for n, line in enumerate(text.splitlines(keepends=True), 1):
        if _SEPARATOR.match(line.rstrip("\r\n")):
            yield start, sep, "".join(lines)
            start, sep, lines = n + 1, line, []
        else:
            lines.append(line)
    yield start, sep, "".join(lines)
