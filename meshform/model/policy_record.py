"""The neutral policy a status record carries, checked as the model's policy is.

`transform` renders a mode's objects from the policy recorded on a workload, so a record edited by
hand (a count written as a string, a status code that is none, an unknown field, NaN) would become
invalid mesh objects. The record's traffic blocks are therefore checked against the model's own
`traffic` schema, duration limits and field rules; the first problem is reported as MF250 at the
status annotation (the workload is left untouched, as for any status meshform cannot have written).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from math import isfinite
from typing import Any

from meshform.diagnostics import Diagnostic, Level
from meshform.model.policy_checks import traffic_rules, zero_duration
from meshform.model.schema import json_path
from meshform.model.schema_fast import is_valid
from meshform.policy import records as r
from meshform.policy.durations import DurationError, parse_ms
from meshform.yamlio.reader import Path

APP_SCHEMA = "application.schema.json"
_POLICY_KEYS = frozenset({"traffic", "authorization", "weights", "edges"})
_DURATION_KEYS = frozenset(
    {"timeout", "perTryTimeout", "baseInterval", "maxInterval", "interval", "baseEjectionTime", "fixedDelay"}
)


def problem(context: Mapping[str, Any]) -> str | None:
    """The first way the recorded policy context is not a policy the model could declare, as
    "$.path: what is wrong"; None when it is one. Never raises."""
    return next(_problems(context), None)


def _problems(context: Mapping[str, Any]) -> Iterator[str]:
    bad = _non_finite(context, ())
    if bad is not None:
        yield f"{json_path(bad)}: not a finite number"
        return
    policy = context.get("policy")
    if not isinstance(policy, dict):
        yield "$.policy: missing, or not an object"
        return
    extra = sorted(set(policy) - _POLICY_KEYS)
    if extra:
        yield f"$.policy: unknown field {extra[0]!r}"
    allow = (policy.get("authorization") or {}).get("allow", r.ALLOW_ALL)
    if allow not in (r.ALLOW_DEPENDENTS, r.ALLOW_ALL):
        yield f"$.policy.authorization.allow: {allow!r} is not dependents or all"
    for path, block in _traffic_blocks(context):
        yield from _traffic(path, block)


def _traffic_blocks(context: Mapping[str, Any]) -> Iterator[tuple[Path, Any]]:
    policy = context["policy"]
    if "traffic" in policy:
        yield ("policy", "traffic"), policy["traffic"]
    edges = policy.get("edges")
    for name, block in edges.items() if isinstance(edges, dict) else ():
        yield ("policy", "edges", str(name)), block
    for key in ("edges", "callers"):
        listed = context.get(key)
        for i, item in enumerate(listed if isinstance(listed, list) else ()):
            for part in ("override", "effective"):
                if isinstance(item, dict) and part in item:
                    yield (key, i, part), item[part]


def _traffic(path: Path, block: Any) -> Iterator[str]:
    if not is_valid(block, APP_SCHEMA, "traffic"):
        yield _schema_error(path, block)
        return
    for where, value in _durations(block, path):
        try:
            zero = zero_duration(where[len(path) :], parse_ms(value))
        except DurationError as exc:
            yield f"{json_path(where)}: {exc}"
            return
        if zero:
            yield f"{json_path(where)}: {zero}"
            return
    for found in traffic_rules(r.traffic_from_json(block), path, _At()):
        if found.level is Level.ERROR:
            yield f"{found.path}: {found.message}"


def _schema_error(path: Path, block: Any) -> str:
    """jsonschema's best message for the block (imported only for a record that is not valid)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    from meshform.resources import schema

    root = schema(APP_SCHEMA)
    validator = Draft202012Validator({"$ref": "#/$defs/traffic", "$defs": root["$defs"]})
    error = best_match(validator.iter_errors(block))
    if error is None:
        return f"{json_path(path)}: not a traffic policy meshform records"
    return f"{json_path((*path, *error.absolute_path))}: {error.message}"


def _durations(node: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _DURATION_KEYS and isinstance(value, str):
                yield (*path, key), value
            else:
                yield from _durations(value, (*path, key))


def _non_finite(node: Any, path: Path) -> Path | None:
    if isinstance(node, float) and not isfinite(node):
        return path
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        found = _non_finite(value, (*path, key))
        if found is not None:
            return found
    return None


class _At:
    """Reports what `traffic_rules` finds by its JSON path in the record, without a file position (the
    caller locates the record's annotation)."""

    def error(self, path: Path, code: str, message: str, level: Level = Level.ERROR) -> Diagnostic:
        return Diagnostic("", 0, 0, level, code, message, json_path(path))
