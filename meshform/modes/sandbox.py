"""The sandbox sidecar templates run in, and the budget of one run.

Jinja's sandbox keeps a template away from Python's internals but bounds neither CPU nor memory: a
700-byte template can loop 10^10 times, recurse until Python gives up or build a gigabyte string. A
run here is bounded three ways, each raising `TemplateLimit`:

- size: `*`, `+`, `**` and `%` refuse to build a string, list or number larger than MAX_SIZE before
  building it, and `str.format` refuses widths that would;
- steps: a trace function counts the Python lines a run executes (the template's own code and every
  filter it calls) and stops it after MAX_STEPS, so an endless loop ends deterministically;
- memory: while a template runs, the process may not grow by more than MEMORY_HEADROOM (an address
  space limit, Unix only), so whatever the size checks miss ends in a MemoryError, not in swap.

Only templating.py imports this module, lazily: it imports jinja2.
"""

from __future__ import annotations

import os
import re
import string
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_SIZE = 256 * 1024  # characters or items of one value a template builds (a sidecar is a few KiB)
MAX_INT_BITS = 64 * 1024
MAX_STEPS = 1_000_000  # Python lines per render; a real sidecar template takes about a thousand
MEMORY_HEADROOM = 64 * 1024 * 1024

_PERCENT_WIDTH = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?")
_SEQUENCES = (str, list, tuple)


class TemplateLimit(Exception):
    """A template run went over its budget; the message says which."""


def _too_wide(number: str) -> bool:
    return number == "*" or len(number) > 7 or (number.isdigit() and int(number) > MAX_SIZE)


def _check_percent(fmt: str) -> None:
    for match in _PERCENT_WIDTH.finditer(fmt):
        if any(part and _too_wide(part) for part in match.groups()):
            raise TemplateLimit(f"format width {match.group()!r} could build more than {MAX_SIZE} characters")


def _ints(left: Any, right: Any) -> bool:
    return isinstance(left, int) and isinstance(right, int)


def _product(left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, _SEQUENCES) and isinstance(times, int) and len(seq) * times > MAX_SIZE:
            raise TemplateLimit(f"{len(seq)} * {times} would build more than {MAX_SIZE} items")
    if _ints(left, right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        raise TemplateLimit(f"a product of more than {MAX_INT_BITS} bits")


def _sum(left: Any, right: Any) -> None:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES) and len(left) + len(right) > MAX_SIZE:
        raise TemplateLimit(f"concatenation would build more than {MAX_SIZE} items")


def _power(left: Any, right: Any) -> None:
    if _ints(left, right) and right > 0 and abs(left) > 1 and left.bit_length() * right > MAX_INT_BITS:
        raise TemplateLimit(f"a power of more than {MAX_INT_BITS} bits")


def _remainder(left: Any, right: Any) -> None:
    if isinstance(left, str):
        _check_percent(left)


_CHECKS: dict[str, Callable[[Any, Any], None]] = {"*": _product, "+": _sum, "**": _power, "%": _remainder}


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse, before computing it, a `*`, `+`, `**` or `%` whose result would be too large."""
    _CHECKS[operator](left, right)


def _check_format(fmt: str) -> None:
    for _, _, spec, _ in string.Formatter().parse(fmt):
        if spec and ("{" in spec or any(_too_wide(n) for n in re.findall(r"\d+", spec))):
            raise TemplateLimit(f"format spec {spec!r} could build more than {MAX_SIZE} characters")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with StrictUndefined, size-checked operators, and no `lipsum` (a
    global that builds text in a loop of Python no template needs). Constant expressions are not
    folded at compile time (`optimized=False`): folding would run `"%9999999999d"|format(1)` outside
    the budget, which only covers rendering."""

    intercepted_binops = frozenset({"*", "+", "**", "%"})

    def __init__(self) -> None:
        super().__init__(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, optimized=False
        )
        self.globals.pop("lipsum", None)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped: Callable[..., str] | None = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = str(value.__self__)

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_format(fmt)
            return wrapped(*args, **kwargs)

        return checked


@contextmanager
def budget() -> Iterator[None]:
    """Run the body within MAX_STEPS Python lines and MEMORY_HEADROOM more memory."""
    with _memory_ceiling(), _steps(MAX_STEPS):
        yield


@contextmanager
def _steps(limit: int) -> Iterator[None]:
    left = limit

    def line(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal left
        left -= 1
        if left < 0:
            raise TemplateLimit(f"the template ran more than {limit} steps (an endless loop?)")
        return line

    def call(frame: FrameType, event: str, arg: Any) -> Any:
        return line

    previous = sys.gettrace()
    sys.settrace(call)
    try:
        yield
    finally:
        sys.settrace(previous)


@contextmanager
def _memory_ceiling() -> Iterator[None]:
    try:
        import resource
    except ImportError:  # not Unix: the size checks and the step budget still hold
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    size = _address_space()
    ceiling = size + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    if not size or (soft != resource.RLIM_INFINITY and soft <= ceiling):
        yield  # the size is unknown here, or the caller's own limit is tighter already
        return
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space() -> int:
    """This process's virtual memory size in bytes (Linux), 0 when unknown."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
