"""Sidecars from templates: render in a sandbox, parse as data, check the shape, never splice text.

Templates see only the values passed in, and should write every value through `tojson`, so a newline
or a `: ` inside a value stays one YAML scalar. jinja2 is imported here, lazily, never by the CLI.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from functools import cache, lru_cache
from typing import Any

from meshform.diagnostics import Diagnostic, Level, MeshformError

MAX_OUTPUT = 256 * 1024  # a sidecar is a few KiB; anything near this is a runaway template
MAX_TEMPLATE = 32 * 1024  # characters of template source (meshform's own is about 1.3 KiB)


def _fail(source: str, message: str, code: str = "MF302") -> MeshformError:
    return MeshformError([Diagnostic(source, 0, 0, Level.ERROR, code, message)])


def _over_budget(source: str, message: str) -> MeshformError:
    return _fail(source, f"template over its budget: {message}", "MF030")


@cache
def _environment() -> Any:
    from meshform.modes.sandbox import BoundedSandbox

    return BoundedSandbox()


@cache
def _compile(text: str, source: str) -> Any:
    """The compiled template, from meshform's template cache when an entry for this very source is
    there (meshform.modes.template_cache). Compiling runs under the same budget as rendering: Jinja
    evaluates constant expressions (`{{ "%9999999999d"|format(1) }}`) while it compiles."""
    from jinja2 import TemplateSyntaxError

    from meshform.modes.sandbox import TemplateLimit, budget
    from meshform.modes.template_cache import compile_cached
    from meshform.version import __version__

    if len(text) > MAX_TEMPLATE:
        raise _over_budget(source, f"the template is longer than {MAX_TEMPLATE} characters")
    try:
        return compile_cached(_environment(), text, source, __version__, budget)
    except TemplateSyntaxError as exc:
        raise MeshformError(
            [Diagnostic(source, exc.lineno or 0, 1, Level.ERROR, "MF302", f"template syntax: {exc.message}")]
        ) from None
    except TemplateLimit as exc:
        raise _over_budget(source, str(exc)) from None
    except (RecursionError, SyntaxError):  # blocks nested deeper than Python compiles
        raise _over_budget(source, "blocks nested too deeply to compile") from None
    except MemoryError:
        raise _over_budget(source, "compiling needs more memory than a template may use") from None
    except (ArithmeticError, TypeError, ValueError) as exc:  # a constant expression that fails
        raise _fail(source, f"template failed: {type(exc).__name__}: {exc}") from None


def render_text(text: str, values: Mapping[str, Any], source: str, max_output: int = MAX_OUTPUT) -> str:
    """The template's output, within the sandbox's budget (sizes, steps, memory) and `max_output`."""
    from jinja2 import TemplateError
    from jinja2.exceptions import SecurityError

    from meshform.modes.sandbox import TemplateLimit, budget

    template = _compile(text, source)
    try:
        with budget():
            return "".join(_bounded(template.generate(**values), source, max_output))
    except MeshformError as exc:  # the output budget, said by _bounded: at the line that overran it
        raise _at_line(exc, _template_line(exc)) from None
    except TemplateLimit as exc:
        raise _at_line(_over_budget(source, str(exc)), _template_line(exc)) from None
    except RecursionError:
        raise _over_budget(source, "recursion deeper than Python allows (a macro calling itself?)") from None
    except MemoryError:
        raise _over_budget(source, "it needs more memory than a template may use") from None
    except SecurityError as exc:
        raise _at_line(
            _fail(source, f"template refused by the sandbox: {exc}"), _template_line(exc)
        ) from None
    except TemplateError as exc:
        raise _at_line(_fail(source, f"template error: {exc}"), _template_line(exc)) from None
    except (ArithmeticError, TypeError, ValueError, OverflowError) as exc:
        message = f"template failed: {type(exc).__name__}: {exc}"
        if "no loader for this environment" in str(exc):  # {% include %}, {% import %}, {% extends %}
            message = "include, import and extends are not allowed: a template is one self-contained file"
        raise _at_line(_fail(source, message), _template_line(exc)) from None


def _template_line(exc: BaseException) -> int:
    """The template line the error was raised at: Jinja rewrites a failing render's traceback so the
    template's own frames carry its file name (`<template>` for one made from a string) and line; 0
    when no template frame is on it."""
    line, tb = 0, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _at_line(exc: MeshformError, line: int) -> MeshformError:
    if not line:
        return exc
    return MeshformError([replace(d, line=line, col=1) if not d.line else d for d in exc.diagnostics])


def _bounded(chunks: Any, source: str, limit: int) -> Any:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _over_budget(source, f"output exceeds {limit} characters")
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
    rendered = render_text(text, values, source)
    docs = [d for d in _parse(rendered, source) if d is not None]
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise _fail(source, "template must render one YAML mapping (a container)")
    container: dict[str, Any] = docs[0]
    for key in ("name", "image"):
        if not isinstance(container.get(key), str) or not container[key]:
            raise _fail(source, f"rendered container needs a string {key!r}")
    return container


def render_mapping(text: str, values: Mapping[str, Any], source: str, own: bool = False) -> dict[str, Any]:
    """Render a template that describes one YAML mapping of any shape (a mesh's injected pod parts:
    containers, volumes, annotations, ...) and return it as data, a fresh copy the caller may change.
    Rendered once per distinct values. `own`: one of meshform's own templates, which write each value
    they are given about once, so their output may grow with the values (a pod annotation listing
    thousands of ports is written into the proxy as it is), past MAX_OUTPUT by twice their size."""
    key = json.dumps(values, sort_keys=True, default=str)
    limit = MAX_OUTPUT + 2 * len(key) if own else MAX_OUTPUT
    return copy.deepcopy(_render_mapping_cached(text, key, source, limit))


@lru_cache(maxsize=1024)
def _render_mapping_cached(text: str, values_json: str, source: str, limit: int) -> dict[str, Any]:
    rendered = render_text(text, json.loads(values_json), source, limit)
    docs = [d for d in _parse(rendered, source, "one YAML mapping") if d is not None]
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise _fail(source, "template must render one YAML mapping")
    found: dict[str, Any] = docs[0]
    return found


def render_objects(text: str, values: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
    """Render a policy template: a YAML stream of Kubernetes objects (empty documents skipped), each
    a mapping with a string apiVersion and kind and a metadata.name the API server accepts. Raises a
    MeshformError (MF302) naming the template and the object."""
    key = json.dumps(values, sort_keys=True, default=str)
    try:
        return copy.deepcopy(_objects_cached(text, key, source))
    except MeshformError as exc:  # the sidecar's hint would say "one container"
        hint = "fix the policy template: it must render a YAML stream of Kubernetes objects"
        raise MeshformError([replace(d, hint=hint) for d in exc.diagnostics]) from None


@lru_cache(maxsize=256)
def _objects_cached(text: str, values_json: str, source: str) -> list[dict[str, Any]]:
    rendered = render_text(text, json.loads(values_json), source)
    out = []
    docs = _parse(rendered, source, "YAML documents of objects")
    for n, obj in enumerate(d for d in docs if d is not None):
        problem = _object_problem(obj)
        if problem:
            raise _fail(source, f"policy template object {n + 1}: {problem}")
        out.append(obj)
    return out


_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def _object_problem(obj: Any) -> str:
    if not isinstance(obj, dict):
        return "is not a mapping (a Kubernetes object)"
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            return f"needs a string {key!r}"
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or len(name) > 253 or not _NAME.match(name):
        return f"{obj['kind']} needs a metadata.name of lower-case letters, digits, '-', '.' (got {name!r})"
    labels = meta.get("labels") if isinstance(meta, dict) else None
    strings = isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())
    if labels is not None and not strings:
        return f"{obj['kind']}/{name}: metadata.labels must map names to strings"
    return ""


def _parse(rendered: str, source: str, shape: str = "one YAML mapping (a container)") -> list[Any]:
    """The rendered text as data, read like any input: within the readers' limits on aliases, depth
    and documents (a few hundred bytes of output can be an alias bomb)."""
    from meshform.yamlio.streams import load_text

    try:
        return [chunk.data for chunk in load_text(rendered, source)]
    except MeshformError as exc:
        found = exc.diagnostics[0]
        if found.code == "MF008":  # a sequence where the container's mapping should be
            raise _fail(source, f"template must render {shape}, not a sequence") from None
        code = "MF302" if found.code in ("MF002", "MF003", "MF005") else found.code
        where = f" line {found.line}" if found.line else ""
        raise _fail(source, f"template output{where}: {found.message}", code) from None
