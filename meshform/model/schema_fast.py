"""A quick yes/no check of a document against one of meshform's JSON Schemas, without jsonschema.

jsonschema costs ~170 ms to import, more than meshform spends rendering a whole application; yet
almost every document it sees is valid. This checker understands the keywords meshform's own schemas
use and answers only True (valid) or False (invalid, or a keyword it does not know). On False the
caller runs jsonschema, which reports every error with its location, so a wrong False costs time,
never correctness; a wrong True is impossible for the keywords implemented here (property-tested
against jsonschema).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from math import isfinite
from typing import Any

from meshform.resources import schema

Check = Callable[[Any], bool]
_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    # JSON Schema counts a number with a zero fractional part (0.0, 80.0) as an integer, and so does
    # the full validator this check stands in for: they must agree (YAML's `80.0` is a float).
    # is_integer() is False for NaN and the infinities.
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    ),
    # NaN and infinities are no numbers a field can carry (and NaN passes every min/max comparison).
    "number": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and isfinite(v))
    ),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_IGNORED = {"$schema", "$id", "title", "description", "default", "$defs"}


class Unsupported(Exception):
    """The schema uses a keyword this checker does not implement."""


def _compile(node: dict[str, Any], root: dict[str, Any], refs: dict[str, Check]) -> Check:
    checks = [_keyword(k, v, node, root, refs) for k, v in node.items() if k not in _IGNORED]
    return lambda value: all(check(value) for check in checks)


def _ref(target: str, root: dict[str, Any], refs: dict[str, Check]) -> Check:
    if target not in refs:
        refs[target] = lambda v: False  # placeholder for recursive definitions; replaced below
        node: Any = root
        for part in target.removeprefix("#/").split("/"):
            node = node[part]
        refs[target] = _compile(node, root, refs)
    return lambda value: refs[target](value)


def _keyword(key: str, arg: Any, node: dict[str, Any], root: dict[str, Any], refs: dict[str, Check]) -> Check:
    def sub(n: Any) -> Check:
        return _compile(n, root, refs)

    if key == "$ref":
        return _ref(arg, root, refs)
    if key == "type":
        types = [_TYPES[t] for t in ([arg] if isinstance(arg, str) else arg)]
        return lambda v: any(t(v) for t in types)
    if key == "const":
        return lambda v: v == arg and type(v) is type(arg)
    if key == "enum":
        return lambda v: any(v == e and type(v) is type(e) for e in arg)
    if key == "pattern":
        rx = re.compile(arg)
        return lambda v: not isinstance(v, str) or rx.search(v) is not None
    if key in ("minLength", "maxLength", "minItems", "minProperties", "minimum", "maximum"):
        return _bound(key, arg)
    if key == "required":
        return lambda v: not isinstance(v, dict) or all(r in v for r in arg)
    if key == "properties":
        props = {name: sub(s) for name, s in arg.items()}
        return lambda v: not isinstance(v, dict) or all(props[k](x) for k, x in v.items() if k in props)
    if key == "additionalProperties":
        return _additional(arg, node, sub)
    if key == "propertyNames":
        names = sub(arg)
        return lambda v: not isinstance(v, dict) or all(names(k) for k in v)
    if key == "items":
        item = sub(arg)
        return lambda v: not isinstance(v, list) or all(item(x) for x in v)
    if key == "uniqueItems":
        return lambda v: not arg or not isinstance(v, list) or _unique(v)
    if key == "oneOf":
        options = [sub(s) for s in arg]
        return lambda v: sum(1 for o in options if o(v)) == 1
    raise Unsupported(key)


def _unique(items: list[Any]) -> bool:
    """JSON equality: 1 and true differ (Python says they are equal)."""
    seen = [(type(x), x) for x in items]
    return all(seen[i] not in seen[:i] for i in range(len(seen)))


def _bound(key: str, arg: Any) -> Check:
    if key == "minLength":
        return lambda v: not isinstance(v, str) or len(v) >= arg
    if key == "maxLength":
        return lambda v: not isinstance(v, str) or len(v) <= arg
    if key == "minItems":
        return lambda v: not isinstance(v, list) or len(v) >= arg
    if key == "minProperties":
        return lambda v: not isinstance(v, dict) or len(v) >= arg
    number = _TYPES["number"]
    if key == "minimum":
        return lambda v: not number(v) or v >= arg
    return lambda v: not number(v) or v <= arg


def _additional(arg: Any, node: dict[str, Any], sub: Callable[[Any], Check]) -> Check:
    if "patternProperties" in node:
        raise Unsupported("patternProperties")
    known = set(node.get("properties", {}))
    if arg is False:
        return lambda v: not isinstance(v, dict) or all(k in known for k in v)
    extra = sub(arg)
    return lambda v: not isinstance(v, dict) or all(extra(x) for k, x in v.items() if k not in known)


@cache
def checker(name: str) -> Check | None:
    root = schema(name)
    try:
        return _compile(root, root, {})
    except Unsupported:
        return None


@cache
def definition_checker(name: str, definition: str) -> Check | None:
    """A checker for one `$defs` entry of the named schema (e.g. the model's `traffic`)."""
    root = schema(name)
    try:
        return _compile({"$ref": f"#/$defs/{definition}"}, root, {})
    except Unsupported:
        return None


def is_valid(data: Any, name: str, definition: str | None = None) -> bool:
    """True only when the document (or, with `definition`, a value of that `$defs` entry) is certainly
    valid against the named schema."""
    check = checker(name) if definition is None else definition_checker(name, definition)
    try:
        return check is not None and check(data)
    except RecursionError:
        return False
