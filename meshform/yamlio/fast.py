"""The fast YAML reader for manifests whose comments need not survive (stdout, Helm, kustomize).

PyYAML's libyaml parser with a safe constructor, set up to behave like Kubernetes' own reader
(YAML 1.1 scalars; timestamps stay strings, as Kubernetes reads them, written back plain so that no
reader sees a change), and to refuse duplicate keys. Used by meshform.yamlio (streams, reader) and the
sidecar templating.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Any

import yaml

from meshform.yamlio.limits import safe_for_yaml_rs
from meshform.yamlio.scalars import STR, TIMESTAMP, PlainStr, is_timestamp

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it


VALUE_KEY = "tag:yaml.org,2002:value"


class DuplicateKey(Exception):
    def __init__(self, key: object, line: int, col: int) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.line, self.col = line, col


class FastLoader(_Base):  # type: ignore[misc]
    """Safe, libyaml-backed, duplicate-key-refusing, timestamp-free."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == VALUE_KEY:  # a `=` key is the string "=" to YAML 1.1 (and to PyYAML)
                key_node.tag = STR
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise yaml.constructor.ConstructorError(None, None, "unhashable key", key_node.start_mark)
            if key in seen:
                mark = key_node.start_mark
                raise DuplicateKey(key, mark.line + 1, mark.column + 1)
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping

    def construct_timestamp(self, node: Any) -> PlainStr:
        return PlainStr(self.construct_scalar(node))


FastLoader.add_constructor("tag:yaml.org,2002:map", FastLoader.construct_mapping)
FastLoader.add_constructor(TIMESTAMP, FastLoader.construct_timestamp)


def load(text: str) -> Any:
    return yaml.load(text, Loader=FastLoader)


# ------------------------------------------------------------------------------------- yaml-rs

# Plain scalars that YAML 1.1 (Kubernetes, PyYAML) and YAML 1.2 (yaml-rs) read differently: 1.1-only
# booleans, 1.1 octal/binary/sexagesimal/underscored numbers, 1.2-only exponents and octal. A document
# holding one anywhere outside quotes is read by PyYAML, so Kubernetes' meaning is the one kept.
# What YAML 1.1 (Kubernetes, PyYAML) and YAML 1.2 (yaml-rs) read differently, seen from yaml-rs' side:
# strings that 1.1 reads as booleans or numbers, ints that came from 1.1 octal or 1.2 `0o` text, and
# floats written with an exponent (1.1 wants `1.0e+3`). A document showing any of them is read again
# by PyYAML, so Kubernetes' meaning is the one meshform keeps.
_BOOL11 = frozenset(
    ["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"]
)
_NUMBER11 = re.compile(
    r"^(?:[-+]?0b[01_]+|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?|"
    r"[-+]?[0-9]+_[0-9_]*(?:\.[0-9_]*)?|<<|=)$"
)
_LEADING_ZERO = re.compile(r"[\s:\[{,-][-+]?0[0-9_oObB]")
_EXPONENT = re.compile(r"[0-9.][eE][-+]?[0-9]")


@lru_cache(maxsize=256)
def _plain_pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?:^|[\s\[{{,:-]){re.escape(word)}(?=[ \t]*(?:$|[#,\]}}:]))", re.MULTILINE)


def _plain_in(word: str, text: str) -> bool:
    """Does the word appear unquoted (a plain scalar) somewhere in the text? Quoted, it is a string to
    every reader and nothing is ambiguous."""
    return _plain_pattern(word).search(text) is not None


def _suspicious(data: Any, text: str) -> bool:
    stack, has_int, has_float = [data], False, False
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            if (
                node in _BOOL11
                or (node[:1] in "0123456789+-<=" and (_NUMBER11.match(node) or is_timestamp(node)))
            ) and _plain_in(node, text):
                return True
        elif isinstance(node, bool):
            continue
        elif isinstance(node, int):
            has_int = True
        elif isinstance(node, float):
            has_float = True
    return bool((has_int and _LEADING_ZERO.search(text)) or (has_float and _EXPONENT.search(text)))


def _yaml_rs() -> Any:
    if os.environ.get("MESHFORM_YAML_ENGINE") == "pyyaml":  # force the reference reader (tests, triage)
        return None
    try:
        import yaml_rs
    except ImportError:  # the optional accelerator (pip install meshform[fast]) is not installed
        return None
    return yaml_rs


def accelerated(text: str, dates: bool = False) -> Any:
    """Parse with yaml-rs when it is installed and the document shows nothing YAML 1.1 and 1.2 could
    read differently; return NotImplemented to ask for the PyYAML path."""
    rs = _yaml_rs()
    if rs is None or not safe_for_yaml_rs(text):
        return NotImplemented
    try:
        data = rs.loads(text, parse_datetime=dates)
    except Exception:  # any refusal: PyYAML reads it again and reports it with a position
        return NotImplemented
    return NotImplemented if _suspicious(data, text) else data


def well_formed(text: str) -> bool:
    """A cheap syntax check for documents meshform passes through unparsed (yaml-rs: ~50 µs each).
    Without yaml-rs the answer is False, so the caller parses the document fully instead."""
    rs = _yaml_rs()
    if rs is None or not safe_for_yaml_rs(text):
        return False
    try:
        rs.loads(text, parse_datetime=False)
    except Exception:  # the caller's full parse reports it, located
        return False
    return True
