"""Compiled templates kept on disk between runs, through Jinja's own bytecode-cache protocol.

Compiling the Istio sidecar template costs a run more than everything else it does before the first
workload (Jinja parses it and generates Python, all under the sandbox's step budget). Jinja keys a
bucket by the template's name and checks it against the SHA-1 of the template source, so an edited
template is compiled afresh; the name given here also carries meshform's and Jinja's versions and the
environment's settings, because the generated code depends on them (the sandbox intercepts operators
in the code it generates).

A cache file is code the run executes, so the cache may only ever make a run faster, never change
what it prints or make it fail:

- where: `$XDG_CACHE_HOME/meshform/templates` (an absolute XDG_CACHE_HOME), else
  `~/.cache/meshform/templates`; `MESHFORM_TEMPLATE_CACHE=off` turns it off, a directory there
  moves it;
- each file is authenticated: a keyed BLAKE2b of its whole content, with a random key of this user
  kept outside the cache (`$XDG_STATE_HOME/meshform/template-cache.key`, else
  `~/.local/state/meshform/...`, mode 0600). A file this machine's user did not write (copied in, a
  CI cache restored from another branch, planted by someone else) does not verify and is compiled
  over; so does a truncated or corrupt one;
- a directory, file or key that is not this user's, or that others may write (the key: read), is
  not used; files are opened without following links, and at most MAX_FILE bytes are read;
- the source checksum is compared as bytes, never unpickled (unpickling runs code), and the code is
  unmarshalled only after the file verifies;
- anything absent, unreadable, unwritable, corrupt, forged or of another version is a miss: the
  template is compiled as without a cache;
- files (and the key) are written under a temporary name and moved into place, so concurrent runs
  read the old file or the new one, never half of one.

Only meshform.modes.templating imports this module, lazily: it imports jinja2.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import pickle
import stat
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from types import CodeType
from typing import Any

from jinja2 import __version__ as jinja_version
from jinja2.bccache import Bucket, BytecodeCache, bc_magic

ENV_VAR = "MESHFORM_TEMPLATE_CACHE"
MAX_FILE = 4 * 1024 * 1024  # a compiled sidecar template is tens of KiB
KEY_BYTES = 32
_TAG = 32  # bytes of the keyed BLAKE2b that ends each file


def directory() -> Path | None:
    """Where compiled templates are kept, or None when the cache is off (also where files have no
    owner to check: not Unix)."""
    chosen = os.environ.get(ENV_VAR, "")
    if chosen.lower() in ("off", "0", "false", "no") or not hasattr(os, "getuid"):
        return None
    if chosen:
        return Path(chosen)
    return _xdg("XDG_CACHE_HOME", ".cache") / "meshform" / "templates"


def key_path() -> Path:
    """The file holding this user's cache key: outside the cache, so a cache copied in lacks it."""
    return _xdg("XDG_STATE_HOME", ".local/state") / "meshform" / "template-cache.key"


def _xdg(variable: str, default: str) -> Path:
    value = os.environ.get(variable, "")  # the XDG spec: a relative path is invalid and ignored
    return Path(value) if value and os.path.isabs(value) else Path.home() / default


def _private(st: os.stat_result, others_may_read: bool = True) -> bool:
    """Owned by this user and writable (or, for the key, readable) by no one else."""
    closed = stat.S_IWGRP | stat.S_IWOTH | (0 if others_may_read else stat.S_IRGRP | stat.S_IROTH)
    return st.st_uid == os.getuid() and not st.st_mode & closed


def _read_private(path: Path, limit: int, others_may_read: bool = True) -> bytes | None:
    """The bytes of a regular file of this user's (at most `limit`), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        try:
            st = os.fstat(fh.fileno())
            if not (stat.S_ISREG(st.st_mode) and _private(st, others_may_read)) or st.st_size > limit:
                return None
            return fh.read(limit + 1)
        except OSError:
            return None


def _private_folder(folder: Path, make: bool = True) -> bool:
    """True if `folder` is a directory of this user's that no one else may write (made, mode 0700,
    when `make` and it is not there)."""
    try:
        if make:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.stat(folder, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and _private(st)


def _put(folder: Path, path: Path, data: bytes, replace: bool = True) -> bool:
    """Write `data` at `path` whole or not at all: a private temporary file moved into place (when not
    `replace`, only if `path` does not exist yet). False if it could not be written."""
    try:
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # fails if another run made the file first: theirs is kept
        return True
    except OSError:
        return False
    finally:
        with suppress(OSError):
            os.unlink(temporary)


def user_key() -> bytes | None:
    """This user's cache key, made on first use; None when it cannot be read or made privately."""
    path = key_path()
    found = _read_private(path, KEY_BYTES, others_may_read=False)
    if found is None and not path.exists() and _private_folder(path.parent):
        _put(path.parent, path, os.urandom(KEY_BYTES), replace=False)
        found = _read_private(path, KEY_BYTES, others_may_read=False)
    return found if found is not None and len(found) == KEY_BYTES else None


class TemplateCache(BytecodeCache):
    """Jinja's BytecodeCache over one private directory, reading only files this user's key signed."""

    def __init__(self, folder: Path, key: bytes) -> None:
        self.folder = folder
        self.key = key

    def _path(self, bucket: Bucket) -> Path:
        return self.folder / f"{bucket.key}.jinja"

    def load_bytecode(self, bucket: Bucket) -> None:
        if not _private_folder(self.folder, make=False):  # others could swap files in
            return
        data = _read_private(self._path(bucket), MAX_FILE)
        code = self.code_of(data, bucket.checksum) if data is not None else None
        if code is not None:
            bucket.code = code

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is not None and _private_folder(self.folder):
            _put(self.folder, self._path(bucket), self.file_of(bucket.code, bucket.checksum))

    def _tag(self, content: bytes) -> bytes:
        return hashlib.blake2b(content, digest_size=_TAG, key=self.key).digest()

    def file_of(self, code: CodeType, checksum: str) -> bytes:
        """A cache file: Jinja's magic, the source checksum, the marshalled code, then their tag."""
        content = _header(checksum) + marshal.dumps(code)
        return content + self._tag(content)

    def code_of(self, data: bytes, checksum: str) -> CodeType | None:
        """The code of a whole cache file this key signed for a source of this checksum, else None."""
        content, tag = data[:-_TAG], data[-_TAG:]
        header = _header(checksum)
        if len(data) > MAX_FILE or not content.startswith(header) or self._tag(content) != tag:
            return None
        try:
            found = marshal.loads(content[len(header) :])
        except (EOFError, ValueError, TypeError):
            return None
        return found if isinstance(found, CodeType) else None


def _header(checksum: str) -> bytes:
    return bc_magic + pickle.dumps(checksum, 2)


def bucket_name(environment: Any, version: str, source: str) -> str:
    """The name a template is kept under: what, besides its source, the generated code depends on."""
    kind = type(environment)
    settings = (
        f"{kind.__module__}.{kind.__qualname__}",
        ",".join(sorted(getattr(environment, "intercepted_binops", ()))),
        f"optimized={environment.optimized}",
    )
    return f"meshform {version} jinja {jinja_version} {' '.join(settings)} {source}"


def compile_cached(
    environment: Any, text: str, source: str, version: str, guard: Callable[[], AbstractContextManager[Any]]
) -> Any:
    """The Template of `text` (as `environment.from_string(text)` makes it), its code read from the
    cache when a whole entry this user signed for this very source is there, else compiled and kept.
    Loading and compiling run inside `guard()` (the sandbox's budget); the file and the key are read
    and written outside it. Raises what `environment.compile` or `guard` raise."""
    folder = directory()
    key = user_key() if folder is not None else None
    cache = TemplateCache(folder, key) if folder is not None and key is not None else None
    name = bucket_name(environment, version, source)
    bucket = cache.get_bucket(environment, name, None, text) if cache is not None else None
    with guard():
        template = _loaded(environment, bucket.code) if bucket is not None and bucket.code else None
        if template is not None:
            return template
        code = environment.compile(text)
        template = _template(environment, code)
    if cache is not None and bucket is not None:
        bucket.code = code
        cache.set_bucket(bucket)
    return template


def _loaded(environment: Any, code: CodeType) -> Any:
    try:
        return _template(environment, code)
    except Exception:  # code that does not load is a miss, never the run's failure
        return None


def _template(environment: Any, code: CodeType) -> Any:
    return environment.template_class.from_code(environment, code, environment.make_globals(None), None)
