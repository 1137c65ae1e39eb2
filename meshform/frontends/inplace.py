"""`transform --in-place`: rewrite the input files without ever leaving one half-written or mixed.

Each file is held under an exclusive advisory lock (flock) from before it is read until its new text
has replaced it, so concurrent runs take turns and each reads what the one before it wrote: the file
is always one complete run's output. A run that waited finds the file replaced (a new inode) and
holds and reads the new one. Files are locked in one order (by real path): two runs never deadlock.

The new text replaces the file through `atomic.replace_files` (temporary file beside it, fsync,
rename, directory fsync), with its mode, owner, line endings (CRLF) and UTF-8 byte-order mark kept,
and only after every file of the run was governed and staged. Only regular files are rewritten: a
walked directory never leads outside itself (`expand_paths`); a symlink named on the command line
is followed, and its target rewritten with the link left in place.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import os
import stat
from dataclasses import dataclass

from meshform.diagnostics import Diagnostic, Level, MeshformError, has_errors
from meshform.frontends.atomic import Replacement, cannot_write, replace_files
from meshform.frontends.pipeline import Outcome, govern_sources, nothing_read
from meshform.model.config import TransformConfig
from meshform.modes import Registry
from meshform.yamlio.limits import MAX_BYTES
from meshform.yamlio.reader import decode
from meshform.yamlio.streams import expand_paths


@dataclass(frozen=True)
class Held:
    """An input file, locked and read: the name the user knows, its real path, and what it held."""

    name: str
    real: str
    stat: os.stat_result
    bom: bool
    text: str


@dataclass(frozen=True)
class Change:
    """One file --in-place rewrites: the name the user gave, its text as read and its new text
    (each after the byte-order mark the file starts with, when it has one)."""

    name: str
    before: str
    after: str


def rewrite(paths: list[str], config: TransformConfig, registry: Registry, engine: str) -> list[Diagnostic]:
    """Govern the files and directories in `paths` and write each changed file back. The findings;
    when one is an error, no file was changed."""
    diags, _ = _run(paths, config, registry, engine, write=True)
    return diags


def preview(
    paths: list[str], config: TransformConfig, registry: Registry, engine: str
) -> tuple[list[Diagnostic], list[Change]]:
    """What `rewrite` would do, done the same way (the same locks, reads and engine) up to the
    writing, which it leaves out: the findings, and each file's change (`--diff`)."""
    return _run(paths, config, registry, engine, write=False)


def _run(
    paths: list[str], config: TransformConfig, registry: Registry, engine: str, *, write: bool
) -> tuple[list[Diagnostic], list[Change]]:
    files, found = expand_paths(paths)
    if has_errors(found):
        return found, []
    with contextlib.ExitStack() as locks:
        held, problems = _hold_all(files, locks)
        if problems:
            return found + problems, []
        texts = {h.name: h.text for h in held}
        walked = set(files) - set(paths)
        outcome = govern_sources(list(texts), config, registry, engine, texts=texts, walked=walked)
        outcome.sources = paths  # an empty input is said at what the user named, not a file in it
        diags = found + outcome.diagnostics + nothing_read(outcome)
        if has_errors(diags):
            return diags, []
        new = new_texts(outcome, engine)
        changes = [Change(h.name, _bom(h) + h.text, _bom(h) + new[h.name]) for h in held if h.name in new]
        if not write:
            return diags, sorted(changes, key=lambda c: files.index(c.name))
        replacements = [
            Replacement(h.real, (_bom(h) + new[h.name]).encode("utf-8"), h.stat)
            for h in held
            if h.name in new
        ]
        try:
            replace_files(replacements, {h.real: h.name for h in held})
        except MeshformError as exc:
            diags += exc.diagnostics
        return diags, changes


def new_texts(outcome: Outcome, engine: str) -> dict[str, str]:
    """The new text of every file that changes, by name: what --in-place writes (after the file's
    byte-order mark, when it had one) and what --diff shows."""
    return {
        name: outcome.file_text(name, engine)
        for name, chunks in outcome.chunks_by_file.items()
        if any(c.changed for c in chunks)
    }


def _bom(held: Held) -> str:
    return "\ufeff" if held.bom else ""


def _hold_all(files: list[str], locks: contextlib.ExitStack) -> tuple[list[Held], list[Diagnostic]]:
    by_real: dict[str, str] = {}
    for name in files:
        by_real.setdefault(os.path.realpath(name), name)  # one file under two names: held once
    held: list[Held] = []
    problems: list[Diagnostic] = []
    for real in sorted(by_real):
        try:
            held.append(_hold(by_real[real], real, locks))
        except MeshformError as exc:
            problems += exc.diagnostics
    return held, problems


def _hold(name: str, real: str, locks: contextlib.ExitStack) -> Held:
    fd = _lock(name, real)
    locks.callback(os.close, fd)
    st = os.fstat(fd)
    if not os.access(real, os.W_OK):
        raise cannot_write(name, PermissionError(13, "the file is read-only"))
    raw = _read(fd)
    return Held(name, real, st, raw.startswith(codecs.BOM_UTF8), decode(raw, name))


def _lock(name: str, real: str) -> int:
    """An open descriptor of the file now at `real`, exclusively locked. Non-blocking open: a FIFO
    put in the file's place must not hang the run."""
    while True:
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise MeshformError(
                [Diagnostic(name, 0, 0, Level.ERROR, "MF001", f"cannot read: {exc.strerror or exc}")]
            ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise MeshformError([Diagnostic(name, 0, 0, Level.ERROR, "MF710", "not a regular file")])
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits for a concurrent run to finish with this file
        if _still_there(fd, real):
            return fd
        os.close(fd)  # that run replaced the file while we waited: lock and read its result


def _still_there(fd: int, real: str) -> bool:
    try:
        now = os.stat(real)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)


def _read(fd: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while size <= MAX_BYTES:  # one byte past the limit is enough for decode() to refuse it
        part = os.read(fd, 1 << 20)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)
