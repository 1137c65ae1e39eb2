"""`transform --diff`: the change as a unified diff `git apply` and `patch -p1` take, coloured on a
terminal the way `git diff` colours it, plain when NO_COLOR is set (https://no-color.org)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from typing import TextIO

from meshform.diagnostics import printable
from meshform.frontends.inplace import Change, new_texts
from meshform.frontends.pipeline import Outcome
from meshform.yamlio.streams import original_text

RED, GREEN, CYAN, BOLD, RESET = "\x1b[31m", "\x1b[32m", "\x1b[36m", "\x1b[1m", "\x1b[m"


def diff_path(path: str, cwd: str | None = None) -> str:
    """The path as `git diff --no-index` writes it after `a/` and `b/`: relative to the working
    directory when the file is inside it or was named by a relative path (`../k8s/web.yaml`, as git
    keeps it), else absolute without its leading `/`; never `./` or `//`."""
    if path.startswith("<"):  # <stdin>
        return path
    here = cwd or os.getcwd()
    full = os.path.normpath(os.path.join(here, path))
    inside = os.path.relpath(full, here)
    return inside if not inside.startswith("..") or not os.path.isabs(path) else full.lstrip("/")


def unified_diff(changes: list[Change]) -> str:
    """Each changed file's diff, in input order."""
    out: list[str] = []
    for change in changes:
        name = diff_path(change.name)
        before, after = change.before.splitlines(keepends=True), change.after.splitlines(keepends=True)
        out += _terminated(difflib.unified_diff(before, after, f"a/{name}", f"b/{name}"))
    return "".join(out)


def stream_changes(outcome: Outcome, engine: str) -> list[Change]:
    """The changes of a stream (stdin), which --in-place cannot rewrite, against its text as read."""
    new = new_texts(outcome, engine)
    return [Change(path, original_text(chunks), new[path]) for path, chunks in outcome.chunks_by_file.items()
            if path in new]  # fmt: skip


def _terminated(lines: Iterable[str]) -> list[str]:
    """difflib leaves a last line without its newline as it is, which glues the next line to it:
    git's marker follows it instead."""
    out: list[str] = []
    for line in lines:
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return out


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def for_terminal(text: str) -> str:
    """The diff as a person sees it on a terminal: what the terminal would act on (escape sequences,
    bidirectional overrides) shown escaped, and git diff's colours unless NO_COLOR is set (and not
    empty): file headers bold, hunk headers cyan, removed red, added green."""
    coloured = not os.environ.get("NO_COLOR")
    return "".join(_terminal_line(line, coloured) for line in text.splitlines(keepends=True))


def _terminal_line(line: str, coloured: bool) -> str:
    ending = len(line) - len(line.rstrip("\r\n"))
    body, end = line[: len(line) - ending], line[len(line) - ending :]
    body = "\t".join(printable(part) for part in body.split("\t"))  # a tab stays a tab
    if not coloured:
        return body + end
    if body.startswith(("--- a/", "+++ b/")):
        return f"{BOLD}{body}{RESET}{end}"
    if body.startswith("@@"):
        return f"{CYAN}{body}{RESET}{end}"
    if body.startswith("-"):
        return f"{RED}{body}{RESET}{end}"
    if body.startswith("+"):
        return f"{GREEN}{body}{RESET}{end}"
    return body + end
