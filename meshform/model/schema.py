"""JSON Schema validation whose errors point at file:line:col.

The schemas in schemas/ are the single source of truth for shapes; this module only translates
jsonschema's errors into located, coded diagnostics. jsonschema is imported lazily: it costs ~100 ms.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from functools import cache
from typing import Any

from meshform.diagnostics import Diagnostic, Level
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

    if is_valid(doc.data, schema_name):  # the common case, without importing jsonschema at all
        return
    for error in _validator(schema_name).iter_errors(doc.data):
        yield _diagnostic(doc, _deepest(error))


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
