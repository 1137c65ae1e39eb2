"""Sidecars from templates: render in a sandbox, parse as data, check the shape, never splice text.

Templates see only the values passed in, and should write every value through `tojson`, so a newline
or a `: ` inside a value stays one YAML scalar. jinja2 is imported here, lazily, never by the CLI.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any

from meshform.diagnostics import Diagnostic, Level, MeshformError

MAX_OUTPUT = 256 * 1024  # a sidecar is a few KiB; anything near this is a runaway template


def _fail(source: str, message: str) -> MeshformError:
    return MeshformError([Diagnostic(source, 0, 0, Level.ERROR, "MF302", message)])


@cache
def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


@cache
def _compile(text: str, source: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return _environment().from_string(text)
    except TemplateSyntaxError as exc:
        raise MeshformError(
            [Diagnostic(source, exc.lineno or 0, 1, Level.ERROR, "MF302", f"template syntax: {exc.message}")]
        ) from None


def render_text(text: str, values: Mapping[str, Any], source: str) -> str:
    from jinja2 import TemplateError
    from jinja2.exceptions import SecurityError

    template = _compile(text, source)
    try:
        out = "".join(_bounded(template.generate(**values), source))
    except SecurityError as exc:
        raise _fail(source, f"template refused by the sandbox: {exc}") from None
    except TemplateError as exc:
        raise _fail(source, f"template error: {exc}") from None
    except (ArithmeticError, TypeError, ValueError, OverflowError, MemoryError) as exc:
        raise _fail(source, f"template failed: {type(exc).__name__}: {exc}") from None
    return out


def _bounded(chunks: Any, source: str) -> Any:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise _fail(source, f"template output exceeds {MAX_OUTPUT} characters")
        yield chunk


def render_container(text: str, values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Render a template that describes exactly one container, and return it as data (a fresh copy:
    callers insert it into manifests they then change)."""
    key = json.dumps(values, sort_keys=True, default=str)
    return copy.deepcopy(_render_cached(text, key, source))


@lru_cache(maxsize=256)
def _render_cached(text: str, values_json: str, source: str) -> dict[str, Any]:
    # Most workloads of a stream get the very same sidecar: render and parse it once per distinct values.
    return _render_container(text, json.loads(values_json), source)


def _render_container(text: str, values: Mapping[str, Any], source: str) -> dict[str, Any]:
    import yaml

    from meshform.yamlio import fast

    rendered = render_text(text, values, source)
    try:
        docs = [d for d in yaml.load_all(rendered, Loader=fast.FastLoader) if d is not None]
    except (yaml.YAMLError, fast.DuplicateKey) as exc:
        raise _fail(source, f"template rendered invalid YAML: {str(exc).splitlines()[0]}") from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise _fail(source, "template must render one YAML mapping (a container)")
    container: dict[str, Any] = docs[0]
    for key in ("name", "image"):
        if not isinstance(container.get(key), str) or not container[key]:
            raise _fail(source, f"rendered container needs a string {key!r}")
    return container
