"""Writing YAML and JSON: a small emitter of our own.

Three reasons to keep our own (measured in the performance notes of the README): it is fast, its
output is kubectl-styled (2-space indent, sequences flush with their key), and it controls quoting
exactly. A string is written plain only when *both* a YAML 1.1 reader (Kubernetes, PyYAML) and a YAML
1.2 reader would read it back as the same string; otherwise it is double-quoted with escapes (never
single-quoted: NEL and the Unicode line separators do not survive single quotes in every reader).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from functools import lru_cache
from typing import Any

from meshform.yamlio.scalars import PlainStr

# Anything a YAML 1.1 or 1.2 reader could resolve to a non-string. Numbers are matched broadly (any
# digit-led run of number-ish characters, and date prefixes): a needless quote costs nothing, a missing
# one turns a string into a number inside Kubernetes. Quantities such as `100m` or `128Mi` stay plain.
_NON_STRING = re.compile(
    r"""^(?:
        ~|null|Null|NULL|
        y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|
        [-+]?\.?[0-9][0-9a-fA-FxXoObB_.:+-]*|   # ints, floats, octal, hex, binary, sexagesimal
        [-+]?\.?_[0-9_.]*|                      # `-_`, `._`: ruamel's YAML 1.2 number patterns match
        [-+]?\.[0-9_].*|                        # `._5`: PyYAML's float pattern allows it
        [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*|        # dates and timestamps
        [-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|
        <<|=
    )$""",
    re.VERBOSE,
)
_FIRST_UNSAFE = frozenset("-?:,[]{}#&*!|>'\"%@`")
_ANYWHERE_UNSAFE = re.compile(r": |\s#|[{}\[\],\t]|:$|^---|^\.\.\.")
# Characters never written raw: C0/C1 controls (NEL among them), DEL, the Unicode line and paragraph
# separators (some readers fold them), surrogates, BOM and the non-characters.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]')
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _plain_ok(s: str) -> bool:
    if not s or s[0] == " " or s[-1] == " " or _NON_STRING.match(s):
        return False
    first = s[0]
    if first in _FIRST_UNSAFE and not (first == "-" and len(s) > 1 and s[1] != " "):
        return False
    return not (_ANYWHERE_UNSAFE.search(s) or _UNPRINTABLE.search(s))


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    return _ESCAPES.get(c) or f"\\u{ord(c):04x}"


def _double_quoted(s: str) -> str:
    if _UNPRINTABLE.search(s) is None:  # only quotes and backslashes to escape (JSON in an annotation)
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return '"' + _NEEDS_ESCAPE.sub(_escape, s) + '"'


def plain_ok(s: str) -> bool:
    """True when a string can be written unquoted and read back as itself by YAML 1.1 and 1.2."""
    return _plain_ok(s)


def _block_ok(s: str) -> bool:
    """Multi-line text reads best as a literal block, when it round-trips exactly as one."""
    if "\n" not in s or s.endswith(("\n\n", " ")) or s.startswith((" ", "\n")) or " \n" in s:
        return False
    return not _UNPRINTABLE.search(s.replace("\n", ""))


@lru_cache(maxsize=1 << 16)
def _format_str(s: str) -> str:
    # Manifests repeat the same keys and values thousands of times: decide each string's quoting once.
    return s if _plain_ok(s) else _double_quoted(s)


def format_scalar(value: Any) -> str:
    if type(value) is str:
        return _format_str(value)
    if isinstance(value, PlainStr):  # an input's plain scalar (a timestamp): it means what it meant
        return str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        # YAML 1.1 wants a dot in the mantissa and a signed exponent (`1.0e+20`); 1.2 accepts that too.
        mantissa, _, exponent = repr(value).partition("e")
        if "." not in mantissa:
            mantissa += ".0"
        if exponent and exponent[0] not in "+-":
            exponent = "+" + exponent
        return mantissa + ("e" + exponent if exponent else "")
    if isinstance(value, _dt.datetime | _dt.date):
        return _double_quoted(value.isoformat())
    s = str(value)
    return s if _plain_ok(s) else _double_quoted(s)


def _block(out: list[str], head: str, s: str, ind: str) -> None:
    out.append(head + ("|" if s.endswith("\n") else "|-"))
    out.extend(ind + line if line else "" for line in s.removesuffix("\n").split("\n"))


def block_ok(s: str) -> bool:
    return _block_ok(s)


def _mapping(out: list[str], m: dict[Any, Any], ind: str, lead: str) -> None:
    # The hot loop of every output: plain str, dict and list (what the readers build) are told apart by
    # their exact type first, and a line is one f-string; subclasses (PlainStr, ruamel's) take the
    # general path below, which decides exactly as _sequence does.
    inner = ind + "  "
    for k, v in m.items():
        key = _format_str(k) if type(k) is str else format_scalar(k)
        t = type(v)
        if t is str:
            if "\n" in v and _block_ok(v):
                _block(out, f"{lead}{key}: ", v, inner)
            else:
                out.append(f"{lead}{key}: {_format_str(v)}")
        elif t is dict:
            if v:
                out.append(f"{lead}{key}:")
                _mapping(out, v, inner, inner)
            else:
                out.append(f"{lead}{key}: {{}}")
        elif t is list:
            if v:
                out.append(f"{lead}{key}:")
                _sequence(out, v, ind, ind)
            else:
                out.append(f"{lead}{key}: []")
        elif t is int:
            out.append(f"{lead}{key}: {v}")
        else:
            _other(out, f"{lead}{key}:", v, ind, inner)
        lead = ind


def _other(out: list[str], head: str, v: Any, ind: str, inner: str) -> None:
    """A mapping's value of any other type (a subclass, a scalar), after `head` (`key:`)."""
    if isinstance(v, dict) and v:
        out.append(head)
        _mapping(out, v, inner, inner)
    elif isinstance(v, list) and v:
        out.append(head)
        _sequence(out, v, ind, ind)
    elif isinstance(v, str) and _block_ok(v):
        _block(out, head + " ", v, inner)
    else:
        out.append(head + " " + _flow_empty_or_scalar(v))


def _sequence(out: list[str], seq: list[Any], ind: str, lead: str) -> None:
    inner = ind + "  "
    for v in seq:
        head = lead + "- "
        lead = ind
        t = type(v)
        if t is str and "\n" not in v:
            out.append(head + _format_str(v))
        elif (t is dict or isinstance(v, dict)) and v:
            _mapping(out, v, inner, head)
        elif isinstance(v, list) and v:
            _sequence(out, v, inner, head)
        elif isinstance(v, str) and _block_ok(v):
            _block(out, head, v, inner)
        else:
            out.append(head + _flow_empty_or_scalar(v))


def _flow_empty_or_scalar(v: Any) -> str:
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return format_scalar(v)


def dump_document(doc: Any) -> str:
    out: list[str] = []
    if isinstance(doc, dict) and doc:
        _mapping(out, doc, "", "")
    elif isinstance(doc, list) and doc:
        _sequence(out, doc, "", "")
    else:
        out.append(_flow_empty_or_scalar(doc))
    return "\n".join(out) + "\n"


def dump_stream(docs: list[Any]) -> str:
    """A multi-document stream, kubectl-style: documents separated by `---`."""
    return "---\n".join(dump_document(d) for d in docs)


def dump_json(docs: list[Any]) -> str:
    """JSON output: one object as itself, several as a `v1/List` (like `kubectl get -o json`)."""
    payload = docs[0] if len(docs) == 1 else {"apiVersion": "v1", "kind": "List", "items": docs}
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
