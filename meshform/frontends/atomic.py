"""Replacing files and directories whole: a reader sees the old content or the new, never a part.

Every new file is written beside its target (one file system, so the rename is atomic), flushed to
disk, given the target's mode and owner, and renamed over it; the directory is flushed afterwards, so a
crash after meshform reported success cannot bring the old content back. A run stages all its files
before it renames the first: a failure (read-only directory, full disk) leaves every target untouched.
A crash while staging can leave a `.NAME.*.meshform-tmp` beside its target, never a damaged target.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from meshform.diagnostics import Diagnostic, Level, MeshformError

TMP_SUFFIX = ".meshform-tmp"


@dataclass(frozen=True)
class Replacement:
    """New content for one existing file (`target`: its real path) and what it must keep of it."""

    target: str
    data: bytes
    like: os.stat_result  # the file as read: its mode and owner are kept, and it must still be there


def cannot_write(path: str, exc: OSError, what: str = "cannot write") -> MeshformError:
    reason = exc.strerror or str(exc)
    return MeshformError([Diagnostic(path, 0, 0, Level.ERROR, "MF713", f"{what}: {reason}")])


def replace_files(replacements: list[Replacement], names: dict[str, str]) -> None:
    """Replace every target, or (when anything fails before the renames) none. `names` maps targets to
    the names the user gave, for diagnostics. Raises MeshformError (MF713, MF718)."""
    staged: list[tuple[str, Replacement]] = []
    try:
        for r in replacements:
            try:
                staged.append((_stage(r), r))
            except OSError as exc:
                raise cannot_write(names.get(r.target, r.target), exc) from None
        changed = [r for _, r in staged if not _unchanged_since_read(r)]
        if changed:  # an editor saved meanwhile (it ignores meshform's lock): its work wins
            raise MeshformError([_changed(names.get(r.target, r.target)) for r in changed])
        for tmp, r in staged:
            os.replace(tmp, r.target)
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    for directory in sorted({os.path.dirname(r.target) for r in replacements}):
        fsync_directory(directory)


def write_file(target: str, data: bytes) -> None:
    """`-o FILE`: the file holds `data` whole or keeps what it held (a new file gets the mode `open`
    would give it; an existing one keeps its mode and owner). A FIFO or a device (`/dev/stdout`) is
    written to as it is: it has no old content to protect. Raises MeshformError (MF713)."""
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise cannot_write(target, exc) from None
    try:
        if st is not None and not stat.S_ISREG(st.st_mode):
            with open(target, "wb") as fh:
                fh.write(data)
            return
        directory, name = os.path.split(target)
        mode = 0o666 & ~_umask()
        finish: Callable[[int], None] = (
            (lambda fd: keep_mode_and_owner(fd, st)) if st is not None else (lambda fd: os.fchmod(fd, mode))
        )
        tmp = _write_temp(directory, f".{name}.", data, finish)
        os.replace(tmp, target)
    except OSError as exc:
        raise cannot_write(target, exc) from None
    fsync_directory(os.path.dirname(target))


def _changed(name: str) -> Diagnostic:
    return Diagnostic(name, 0, 0, Level.ERROR, "MF718", "the file changed while meshform ran; not rewritten")


def _unchanged_since_read(r: Replacement) -> bool:
    try:
        now = os.stat(r.target)
    except FileNotFoundError:
        return False
    then = r.like
    return (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) == (
        then.st_dev,
        then.st_ino,
        then.st_size,
        then.st_mtime_ns,
    )


def _stage(r: Replacement) -> str:
    directory, name = os.path.split(r.target)
    return _write_temp(directory, f".{name}.", r.data, lambda fd: keep_mode_and_owner(fd, r.like))


def _write_temp(directory: str, prefix: str, data: bytes, finish: Callable[[int], None]) -> str:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            finish(fh.fileno())
            os.fsync(fh.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def keep_mode_and_owner(fd: int, like: os.stat_result) -> None:
    """The target's owner (where this process may set it: root, or a group it belongs to) and then
    its mode (chown clears set-id bits, so the mode comes last)."""
    if (like.st_uid, like.st_gid) != (os.geteuid(), os.getegid()):
        for uid in (like.st_uid, -1):
            try:
                os.fchown(fd, uid, like.st_gid)
                break
            except PermissionError:
                continue
    os.fchmod(fd, stat.S_IMODE(like.st_mode))


def fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename itself is still atomic
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def replace_directory(
    target: str, files: dict[str, bytes], refusals: Callable[[str], list[Diagnostic]]
) -> None:
    """Make `target` a directory holding exactly `files` (name → content), all at once: the files are
    written into a new directory beside it, which then takes its place, keeping the old one's mode
    and owner. An existing, non-empty target is replaced only when `refusals(target)` finds nothing
    against it. Raises MeshformError (MF713, MF714, or what `refusals` found)."""
    target = os.path.realpath(target)
    parent, name = os.path.split(target)
    existing = _existing_directory(target)
    occupied = existing is not None and bool(os.listdir(target))
    if occupied and (found := refusals(target)):
        raise MeshformError(found)
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(dir=parent, prefix=f".{name}.", suffix=TMP_SUFFIX)
    except OSError as exc:
        raise cannot_write(target, exc) from None
    try:
        for file_name, data in files.items():
            _write_new(os.path.join(staging, file_name), data)
        _settle_directory(staging, existing)
        _swap_in(staging, target, occupied)
    except OSError as exc:
        raise cannot_write(target, exc) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone after the swap; left over after a failure
    fsync_directory(parent)


def _settle_directory(path: str, existing: os.stat_result | None) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if existing is not None:
            keep_mode_and_owner(fd, existing)
        else:  # mkdtemp made it 0700; a new output directory gets what mkdir would give it
            os.fchmod(fd, 0o777 & ~_umask())
        os.fsync(fd)
    finally:
        os.close(fd)


def _existing_directory(target: str) -> os.stat_result | None:
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise cannot_write(target, exc) from None
    if not stat.S_ISDIR(st.st_mode):
        raise MeshformError(
            [Diagnostic(target, 0, 0, Level.ERROR, "MF714", "exists and is not a directory; nothing written")]
        )
    return st


def _write_new(path: str, data: bytes) -> None:
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _swap_in(staging: str, target: str, occupied: bool) -> None:
    """rename(2) replaces an empty directory atomically; a full one is exchanged with the new one
    (renameat2 RENAME_EXCHANGE on Linux, else two renames) and then removed. Afterwards `staging`
    names whatever is left to delete."""
    if not occupied:
        os.replace(staging, target)
        return
    if _exchange(staging, target):
        return
    old = tempfile.mkdtemp(dir=os.path.dirname(target), prefix=f".{os.path.basename(target)}.old.")
    os.rmdir(old)
    os.rename(target, old)
    os.rename(staging, target)
    os.rename(old, staging)


def _exchange(a: str, b: str) -> bool:
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    # Not 0: not supported here (EINVAL, ENOSYS, an old libc), and the caller falls back.
    return bool(renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0)
