"""How a run ends when its standard output cannot be written, for `--version` and every command alike.

A reader that went away (`| head`, `| true`) ends the run quietly with exit 1, as click does for every
command; a full disk (`>/dev/full`) or a descriptor closed before meshform started (`>&-`) is said on
stderr, also with exit 1. Never a traceback, never "internal error".
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import Any, NoReturn

EXIT_INVALID = 1


class ClosedStream:
    """Stands in for a standard stream whose descriptor was closed when meshform started (`>&-`):
    writing to it fails like writing to a bad descriptor, so the caller reports it."""

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "standard output is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        raise OSError(errno.EBADF, "standard output is closed")


def standard_streams() -> None:
    if sys.stdout is None:
        sys.stdout = ClosedStream()
    if sys.stderr is None:  # nowhere to say anything: let messages go nowhere rather than crash
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


def _silence_stdout() -> None:
    """Point the stdout descriptor at /dev/null, so what is still buffered for it flushes without
    failing again when the interpreter exits."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no descriptor behind stdout at all
        os.dup2(devnull, sys.stdout.fileno())


def closed_pipe() -> NoReturn:
    """The reader went away: nobody is left to tell, so exit quietly."""
    _silence_stdout()
    raise SystemExit(EXIT_INVALID)


def unwritable(exc: OSError) -> NoReturn:
    """stdout (or a file meshform writes) failed: say why on stderr, exit 1."""
    _silence_stdout()
    with contextlib.suppress(OSError):
        sys.stderr.write(f"meshform: cannot write the output: {exc.strerror or exc}\n")
    raise SystemExit(EXIT_INVALID)
