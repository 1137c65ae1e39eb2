"""JSON Schema validation whose errors point at file:line:col.

The schemas in schemas/ are the single source of truth for shapes; this module only translates
jsonschema's errors into located, coded diagnostics. jsonschema is imported lazily: it costs ~100 ms.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date
from functools import cache
from math import isfinite
from typing import Any

from meshform.diagnostics import Diagnostic, Level, json_type
from meshform.resources import schema
from meshform.yamlio.reader import Document, Path

_CODES = {
    "required": "MF101",
    "additionalProperties": "MF102",
    "type": "MF103",
    "enum": "MF104",
    "const": "MF104",
    "pattern": "MF105",
    "propertyNames": "MF105",
    "uniqueItems": "MF104",
    "oneOf": "MF104",
    "minimum": "MF106",
    "maximum": "MF106",
    "minItems": "MF106",
    "maxLength": "MF106",
    "minLength": "MF106",
}


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema(name))


def json_path(path: Path) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validate(doc: Document, schema_name: str) -> Iterator[Diagnostic]:
    """Every schema error of one document, each located and coded."""
    from meshform.model.schema_fast import is_valid

    # NaN and infinities first, everywhere (also inside free-form values a template or option reads):
    # the schema cannot refuse them, since NaN passes every range check.
    found = list(non_finite(doc, doc.data))
    if not found and is_valid(doc.data, schema_name):  # the common case, without importing jsonschema
        return
    errors = [
        _diagnostic(doc, _deepest(e))
        for e in _validator(schema_name).iter_errors(doc.data)
        if not _numeric_complaint(e)
    ]
    yield from errors
    # A NaN where the schema wants something else (a string) is that field's error (MF103, "quote
    # it"); where it wants a number it is MF106 "not a finite number" (jsonschema lets NaN pass).
    located = {e.path for e in errors}
    yield from (d for d in found if d.path not in located)


def _numeric_complaint(error: Any) -> bool:
    """jsonschema's range or integer-type error about a NaN/infinity, which MF106 says better."""
    if not _is_non_finite(error.instance):
        return False
    if error.validator == "type":
        wanted = error.validator_value
        return bool({"number", "integer"} & set([wanted] if isinstance(wanted, str) else wanted))
    return error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _is_non_finite(value: Any) -> bool:
    return isinstance(value, float) and not isfinite(value)


def non_finite(doc: Document, data: Any, at: Path = ()) -> Iterator[Diagnostic]:
    """MF106 for every NaN or infinity under `data` (YAML's .nan/.inf, JSON's NaN/Infinity): no field
    of a model, config or status record can carry one, and NaN passes every range check silently.
    `at` is the path of `data` inside `doc`."""
    if _is_non_finite(data):
        line, col = doc.position(at)
        message = f"{_shown(data)} is not a finite number"
        hint = "write a finite number inside the field's range"
        yield Diagnostic(doc.file, line, col, Level.ERROR, "MF106", message, json_path(at), hint=hint)
    elif isinstance(data, dict):
        for key, value in data.items():
            if key == "env" and isinstance(value, dict):
                continue  # env values are text: rewritten_env refuses a number that is not (MF103)
            yield from non_finite(doc, value, (*at, str(key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from non_finite(doc, value, (*at, i))


def _shown(value: float) -> str:
    return ".nan" if value != value else (".inf" if value > 0 else "-.inf")


def _deepest(error: Any) -> Any:
    """For oneOf/anyOf, the branch error that got furthest is the one a person needs to read."""
    from jsonschema.exceptions import best_match

    if error.validator in ("oneOf", "anyOf") and error.context:
        deeper = best_match(error.context)
        if deeper is not None and len(deeper.absolute_path) > len(error.absolute_path):
            return _deepest(deeper)
    return error


def _diagnostic(doc: Document, error: Any) -> Diagnostic:
    path: Path = tuple(error.absolute_path)
    message, hint = error.message, ""
    if error.validator == "additionalProperties":
        extra = sorted(k for k in error.instance if k not in error.schema.get("properties", {}))
        if extra:
            path = (*path, str(extra[0]))
            message = f"unknown field {extra[0]!r}"
    elif error.validator == "uniqueItems":
        path, message, hint = _duplicate(error, path)
    elif error.validator in ("oneOf", "anyOf") and _allowed(error.schema):
        message = f"{error.instance!r} is not allowed here; allowed: {_allowed(error.schema)}"
        hint = "use one of the allowed values"
    elif error.validator == "pattern" and error.schema.get("description"):
        # a pattern's description is a noun phrase ("a slash-separated path ...") so this reads
        message = f"{error.instance!r} is not {error.schema['description']}"
        hint = "write the value in that form"
    elif error.validator == "required":
        message = f"missing required field {error.message.split(' ')[0]}"
    elif error.validator == "type" and isinstance(error.instance, date):
        message = f"{error.instance.isoformat()} reads as a date, not a string; quote it"
    elif (
        error.validator == "type" and isinstance(error.instance, float) and "string" in error.validator_value
    ):
        message = (
            f"this number reads as {error.instance!r}, which may not be the text written (1.10 reads as "
            "1.1); quote it to keep the text"
        )
        hint = 'write it in quotes, e.g. "1.10"'
    elif error.validator == "type" and not isinstance(error.instance, dict | list):
        message = f"{error.instance!r} is not of type {error.validator_value!r}"
        if error.validator_value == "string" or "string" in error.validator_value:
            message += "; quote it to keep it a string"
    line, col = doc.position(path)
    code = _CODES.get(str(error.validator), "MF100")
    return Diagnostic(doc.file, line, col, Level.ERROR, code, message, json_path(path), hint=hint)


def _duplicate(error: Any, path: Path) -> tuple[Path, str, str]:
    """Locate a repeated list item at its second occurrence."""
    items = list(error.instance)
    seen: list[tuple[type, Any]] = []
    for i, item in enumerate(items):
        if (type(item), item) in seen:
            return (*path, i), f"{item!r} is listed twice", "list each value once"
        seen.append((type(item), item))
    return path, error.message, "list each value once"


def _allowed(node: Any) -> str:
    """The values a oneOf/anyOf of enums and integer ranges allows, for a person to read; "" when its
    branches are other shapes."""
    parts: list[str] = []
    for branch in node.get("oneOf", node.get("anyOf", [])):
        if "enum" in branch:
            parts += [str(v) for v in branch["enum"]]
        elif branch.get("type") == "integer" and {"minimum", "maximum"} <= set(branch):
            parts.append(f"an integer from {branch['minimum']} to {branch['maximum']}")
        else:
            return ""
    return ", ".join(parts)


# A key (plain or quoted), its colon, then the plain scalar written as its value.
_ENTRY = re.compile(
    r"""(?:"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s:#,{}\[\]]+)[ \t]*:[ \t]*(?:#[^\n]*)?\s*([^\s,\]}#]*)"""
)


def rewritten_env(doc: Document, render: Callable[[object], str]) -> Iterator[Diagnostic]:
    """Env values that are not strings and whose text would not come back as the same string
    (0777 → "777", 1e3, 0x10 → "16", yes → "true", 1_000, 1:30...): refused, located, so `render`
    never changes a value the author wrote. Without the source text, every non-string value is refused
    (the caller re-reads with positions for the exact answer)."""
    for path, value in _env_values(doc.data, ()):
        if isinstance(value, str):
            continue
        shown = render(value)
        written = _written(doc, path)
        if written == shown:
            continue
        line, col = doc.position(path)
        text = written or shown
        message = (
            f"env value {text} is read as {json_type(value)} {shown!r}, not the text written"
            if written
            else f"env value {shown!r} is not a string"
        )
        yield Diagnostic(
            doc.file,
            line,
            col,
            Level.ERROR,
            "MF103",
            message,
            json_path(path),
            hint=f'quote it to keep the text: "{text}"',
        )


def _env_values(data: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "env" and isinstance(value, dict):
                for name, item in value.items():
                    if not isinstance(item, dict | list):
                        yield (*path, "env", str(name)), item
            yield from _env_values(value, (*path, str(key)))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from _env_values(item, (*path, i))


def _written(doc: Document, path: Path) -> str:
    """The plain scalar text of a mapping value, from its key's position; "" when unknown."""
    if not doc.text or path not in doc.positions:
        return ""
    line, col = doc.positions[path]
    start = 0
    for _ in range(line - 1):
        start = doc.text.find("\n", start) + 1
        if start == 0:
            return ""
    found = _ENTRY.match(doc.text, start + col - 1)
    return found.group(1) if found else ""
