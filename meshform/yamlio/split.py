"""Splitting a YAML stream into its documents at `---` and `...` lines, losslessly.

The stream is scanned for separator lines with one regular expression, never split into a list of
lines: a 64 MiB input of short lines would otherwise cost gigabytes. Line breaks are YAML's (`\\n`,
`\\r\\n`, `\\r`), as the positioned reader counts them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# A separator line, matched where a line starts: `(?:^|(?<=\r))` (multiline) before this, as _separators
# finds it.
_SEPARATOR = re.compile(r"(?:---(?:[ \t][^\r\n]*)?|\.\.\.)(?:\r\n|\r|\n|\Z)")
_MARKER = re.compile(r"---|\.\.\.")
_CONTENT = re.compile(r"^[^\S\r\n]*[^\s#]", re.MULTILINE)  # a line holding more than a comment
# A `---` line that carries the start of its document (`--- {kind: Deployment, ...}`, `--- !!map`,
# `--- |`): anything after the marker but white space and a comment.
_CARRIES = re.compile(r"---[ \t]+[^ \t#\r\n]")
_NOT_DIRECTIVE = re.compile(r"^[^\S\r\n]*[^\s#%]", re.MULTILINE)  # a line that is not a directive or comment


def _breaks(text: str, start: int, end: int) -> int:
    lone_cr = text.count("\r", start, end) - text.count("\r\n", start, end)
    return text.count("\n", start, end) + lone_cr


def split(text: str) -> Iterator[tuple[int, str, str]]:
    """(first line, separator line before it, text) of each document, so that joining every
    separator and text gives back the input exactly. Lazy: a caller may stop early.

    A separator line that carries content belongs to the document that follows, as its first line
    (the separator is then ""): the document's text is then read exactly as YAML reads it, and it
    starts with its own `---` (see `opens_with_separator`)."""
    start, sep, pos, line = 1, "", 0, 1
    for match in _separators(text):
        if _opens_with_directives(text, pos, match):
            continue  # `%YAML 1.1` / `%TAG` lines and their `---` open the document that follows
        yield start, sep, text[pos : match.start()]
        if _CARRIES.match(match.group()):
            line += _breaks(text, pos, match.start())
            start, sep, pos = line, "", match.start()
            continue
        line += _breaks(text, pos, match.end())
        sep, pos = match.group(), match.end()
        start = line if sep.endswith(("\n", "\r")) else line + 1
    yield start, sep, text[pos:]


def _separators(text: str) -> Iterator[re.Match[str]]:
    """Every separator line, in order, as a pattern led by `^` would find them, but led by the marker
    itself: a pattern that starts with an assertion is tried at every character of the stream."""
    at = 0
    while (found := _MARKER.search(text, at)) is not None:
        start = found.start()
        match = _SEPARATOR.match(text, start) if start == 0 or text[start - 1] in "\r\n" else None
        if match is None:
            at = start + 1
            continue
        yield match
        at = match.end()


def _opens_with_directives(text: str, pos: int, match: re.Match[str]) -> bool:
    """Is the text before this `---` directives (and comments) only, the `---` their document's
    start? (A `...` line ends a document: it is never a directive's.)"""
    if not match.group().startswith("---") or text.find("%", pos, match.start()) < 0:
        return False
    return _NOT_DIRECTIVE.search(text, pos, match.start()) is None


def opens_with_separator(text: str) -> bool:
    """Does this document's text begin with its own `---` line (content on the separator line)?"""
    return _CARRIES.match(text) is not None


def is_blank(text: str) -> bool:
    """Only comments and whitespace: a document that holds no data."""
    return _CONTENT.search(text) is None
