"""`transform --diff`: the change as a unified diff `git apply` and `patch -p1` take, coloured on a
terminal the way `git diff` colours it, plain when NO_COLOR is set (https://no-color.org)."""

from __future__ import annotations

import difflib
import os
from typing import TextIO

from meshform.diagnostics import printable
from meshform.frontends.pipeline import Outcome
from meshform.yamlio.streams import original_text

RED, GREEN, CYAN, BOLD, RESET = "\x1b[31m", "\x1b[32m", "\x1b[36m", "\x1b[1m", "\x1b[m"


def diff_path(path: str, cwd: str | None = None) -> str:
    """The path as git writes it after `a/` and `b/`: relative to the working directory when the file
    is inside it, else absolute without its leading `/`; never `./`, `//` or `..`."""
    if path.startswith("<"):  # <stdin>
        return path
    here = cwd or os.getcwd()
    full = os.path.normpath(os.path.join(here, path))
    inside = os.path.relpath(full, here)
    return inside if not inside.startswith("..") else full.lstrip("/")


def unified_diff(outcome: Outcome, new: dict[str, str]) -> str:
    """Each changed file's diff against its text as read (never read twice: the file may be a stream,
    or may have changed since), in input order."""
    out: list[str] = []
    for path, chunks in outcome.chunks_by_file.items():
        if path not in new:
            continue
        name = diff_path(path)
        before, after = original_text(chunks), new[path]
        out += _terminated(
            difflib.unified_diff(
                before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{name}", f"b/{name}"
            )
        )
    return "".join(out)


def _terminated(lines: object) -> list[str]:
    """difflib leaves a last line without its newline as it is, which glues the next line to it:
    git's marker follows it instead."""
    out: list[str] = []
    for line in lines:  # type: ignore[attr-defined]
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return out


def is_terminal(stream: TextIO) -> bool:
    """Colour only for a person: a terminal, and no NO_COLOR (set and not empty) in the environment."""
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def colour(text: str) -> str:
    """git diff's colours: file headers bold, hunk headers cyan, removed red, added green."""
    return "".join(_colour_line(line) for line in text.splitlines(keepends=True))


def _colour_line(line: str) -> str:
    ending = len(line) - len(line.rstrip("\r\n"))
    body, end = line[: len(line) - ending], line[len(line) - ending :]
    # What a terminal would act on (escape sequences, bidirectional overrides) is shown escaped on a
    # terminal only, a tab kept; a diff written to a file or a pipe stays exact.
    body = "\t".join(printable(part) for part in body.split("\t"))
    if body.startswith(("--- a/", "+++ b/")):
        return f"{BOLD}{body}{RESET}{end}"
    if body.startswith("@@"):
        return f"{CYAN}{body}{RESET}{end}"
    if body.startswith("-"):
        return f"{RED}{body}{RESET}{end}"
    if body.startswith("+"):
        return f"{GREEN}{body}{RESET}{end}"
    return body + end
