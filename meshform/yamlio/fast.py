"""The fast YAML reader for manifests whose comments need not survive (stdout, Helm, kustomize).

PyYAML's libyaml parser with a safe constructor, set up to behave like Kubernetes' own reader
(YAML 1.1 scalars, merge keys; timestamps stay strings, as Kubernetes reads them, written back plain
so that no reader sees a change), and to refuse duplicate keys; and yaml-rs where it cannot read a
document differently. Used by meshform.yamlio (streams, reader) and the sidecar templating.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import yaml

from meshform.yamlio.disagreements import COMPLEX_KEY, maybe_odd_anchor, maybe_odd_key
from meshform.yamlio.limits import safe_for_yaml_rs
from meshform.yamlio.scalars import STR, TIMESTAMP, PlainStr, is_timestamp
from meshform.yamlio.tags import may_have_tags

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it


VALUE_KEY = "tag:yaml.org,2002:value"
MERGE = "tag:yaml.org,2002:merge"


class DuplicateKey(Exception):
    def __init__(self, key: object, line: int, col: int) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.line, self.col = line, col


class FastLoader(_Base):  # type: ignore[misc]
    """Safe, libyaml-backed, duplicate-key-refusing, timestamp-free; merge keys (`<<`) as Kubernetes
    reads them (YAML 1.1: merged in, explicit keys win)."""

    def construct_document(self, node: Any) -> Any:
        # Keys are checked on the node graph as written, before construction: merging rewrites a merged
        # mapping's node in place, after which its own keys would look like duplicates of merged ones.
        self._refuse_duplicate_keys(node)
        return super().construct_document(node)

    def _refuse_duplicate_keys(self, root: Any) -> None:
        visited: set[int] = set()  # aliases make the graph a DAG: visit each node once
        stack = [root]
        while stack:
            node = stack.pop()
            if id(node) in visited:
                continue
            visited.add(id(node))
            if isinstance(node, yaml.MappingNode):
                self._check_mapping(node)
                stack.extend(value for _, value in node.value)
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)

    def _check_mapping(self, node: Any) -> None:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == VALUE_KEY:  # a `=` key is the string "=" to YAML 1.1 (and to PyYAML)
                key_node.tag = STR
            if key_node.tag == MERGE:
                key: Any = "<<"  # two merge keys in one mapping are duplicates too (as ruamel says)
            else:
                key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise yaml.constructor.ConstructorError(None, None, COMPLEX_KEY, key_node.start_mark)
            if key in seen:
                mark = key_node.start_mark
                raise DuplicateKey(key, mark.line + 1, mark.column + 1)
            seen.add(key)

    def flatten_mapping(self, node: Any) -> None:
        """Merge keys as go-yaml (Kubernetes) and the YAML 1.1 merge spec read them: the mapping's own
        keys win, then in a merge sequence an earlier mapping wins over a later one. (PyYAML 6.0.4
        lets the later one win.) The merged pairs go first, later-read pairs overriding earlier ones
        on construction, so the winners are placed last."""
        merged: list[Any] = []
        own: list[Any] = []
        for key_node, value_node in node.value:
            if key_node.tag != MERGE:
                if key_node.tag == VALUE_KEY:
                    key_node.tag = STR
                own.append((key_node, value_node))
                continue
            if isinstance(value_node, yaml.MappingNode):
                sources = [value_node]
            elif isinstance(value_node, yaml.SequenceNode):
                sources = list(value_node.value)
            else:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"expected a mapping or list of mappings for merging, but found {value_node.id}",
                    value_node.start_mark,
                )
            for source in reversed(sources):  # the earliest source last: it wins
                if not isinstance(source, yaml.MappingNode):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"expected a mapping for merging, but found {source.id}",
                        source.start_mark,
                    )
                self.flatten_mapping(source)
                merged.extend(source.value)
        if len(own) != len(node.value):
            node.value = merged + own

    # Plain scalars the YAML 1.1 number patterns match without a digit (`0b_`, `0x_`, `._`): libyaml
    # crashes building the number; yaml-rs and Kubernetes read a string, and so does meshform.
    def construct_yaml_int(self, node: Any) -> Any:
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            return self.construct_yaml_str(node)

    def construct_yaml_float(self, node: Any) -> Any:
        try:
            return super().construct_yaml_float(node)
        except ValueError:
            return self.construct_yaml_str(node)

    def construct_timestamp(self, node: Any) -> PlainStr:
        return PlainStr(self.construct_scalar(node))


# `=` and `<<` as plain values (`value: =`, `extra: <<`): YAML 1.1 resolves them to the value and merge
# tags, which mean something only as keys; go-yaml, ruamel and yaml-rs read the string, and so does
# meshform. (An explicit `!!merge` anywhere but on a key is refused, MF007, before reading: tags.py.)
FastLoader.add_constructor(VALUE_KEY, FastLoader.construct_yaml_str)
FastLoader.add_constructor(MERGE, FastLoader.construct_yaml_str)
FastLoader.add_constructor(TIMESTAMP, FastLoader.construct_timestamp)
FastLoader.add_constructor("tag:yaml.org,2002:int", FastLoader.construct_yaml_int)
FastLoader.add_constructor("tag:yaml.org,2002:float", FastLoader.construct_yaml_float)


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
# A plain number with a leading zero: `[\s:\[{,-][-+]?0[0-9_oObB]` (see _leading_zero).
_ZERO_LED = re.compile(r"0(?=[0-9_oObB])")
_BEFORE_PLAIN = frozenset("[{,:-")  # with whitespace: what may stand before a plain scalar
_EXPONENT = re.compile(r"[0-9.][eE][-+]?[0-9]")
_FLOW_ODD_STARTS = ("|", ">", "?")
_PLAIN_END = re.compile(r"[ \t]*(?:$|[#,\]}:])", re.MULTILINE)


def _opener(char: str) -> bool:
    """May a plain scalar start right after this character (whitespace, or one of [ { , : -)?"""
    return char.isspace() or char in _BEFORE_PLAIN


def _plain_in(word: str, text: str) -> bool:
    r"""Does the word appear unquoted (a plain scalar) somewhere in the text? Quoted, it is a string to
    every reader and nothing is ambiguous. What `(?:^|[\s\[{,:-])word(?=[ \t]*(?:$|[#,\]}:]))`
    (multiline) finds, led by the word itself (str.find): a pattern led by a character class is tried
    at every blank of the text, and was most of the fast reader's second look."""
    at = text.find(word)
    while at >= 0:
        if (at == 0 or _opener(text[at - 1])) and _PLAIN_END.match(text, at + len(word)):
            return True
        at = text.find(word, at + 1)
    return False


def _leading_zero(text: str) -> bool:
    r"""Is there a plain number with a leading zero (YAML 1.1 octal, 1.2 `0o`): what
    `[\s:\[{,-][-+]?0[0-9_oObB]` finds, looked for from each such `0` back, for the reason above."""
    for match in _ZERO_LED.finditer(text):
        at = match.start()
        if at >= 1 and _opener(text[at - 1]):
            return True
        if at >= 2 and text[at - 1] in "+-" and _opener(text[at - 2]):
            return True
    return False


def _maybe_plain_indicator(node: str, text: str) -> bool:
    """Might this string be a plain scalar starting with `|`, `>` or `?` inside a flow collection
    (`emptyDir: {|}`, `[>-]`)? The YAML spec forbids it (an indicator cannot start a plain scalar);
    libyaml, ruamel and go-yaml refuse it, yaml-rs 0.1.6 reads the string. Quoted or in a block
    scalar the string is the same to all of them: this only costs a second read by PyYAML."""
    return node.startswith(_FLOW_ODD_STARTS) and ("{" in text or "[" in text)


def _strings(data: Any) -> Iterator[str]:
    """Every string key and value in yaml-rs data."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            yield node


# First characters of a string that may read as a YAML 1.1 number, timestamp or merge key, and of one
# that may be a plain scalar starting with an indicator (see _maybe_plain_indicator).
_NUMBER_FIRST = frozenset("0123456789+-<=")
_INDICATOR_FIRST = frozenset(_FLOW_ODD_STARTS)


def _suspicious(data: Any, text: str) -> bool:
    """Does yaml-rs' data show anything YAML 1.1 could read otherwise (see above)? One walk: the exact
    types yaml-rs builds (str, dict, list, int, float, bool) are told apart by type() first, every
    string is judged by its first character before any pattern runs; other types (a datetime with
    `dates`, a mapping or sequence as a key) take the general path."""
    stack, has_int, has_float = [data], False, False
    flow: bool | None = None  # "{" or "[" in the text: asked once, when a string needs it
    while stack:
        node = stack.pop()
        t = type(node)
        if t is str:
            if node in _BOOL11:
                if _plain_in(node, text):
                    return True
            elif node:
                first = node[0]
                if first in _NUMBER_FIRST:
                    if (_NUMBER11.match(node) or is_timestamp(node)) and _plain_in(node, text):
                        return True
                elif first in _INDICATOR_FIRST:
                    if flow is None:
                        flow = "{" in text or "[" in text
                    if flow:
                        return True
        elif t is dict:
            if None in node:  # `: value` (YAML 1.2 reads a null key, libyaml refuses) or `null: value`
                return True
            stack.extend(node)
            stack.extend(node.values())
        elif t is list:
            stack.extend(node)
        elif t is int:
            has_int = True
        elif t is float:
            has_float = True
        elif t is not bool and node is not None and _odd(node, text):
            return True
    return bool((has_int and _leading_zero(text)) or (has_float and _EXPONENT.search(text)))


def _odd(node: Any, text: str) -> bool:
    """_suspicious for a node of any other type: a subclass of the types above is judged as they are
    (its children by a walk of their own), a mapping or sequence as a key is refused by libyaml."""
    if isinstance(node, str):  # an exact copy of a subclass is judged by the walk above
        return _suspicious(str(node), text)
    if isinstance(node, dict):
        return _suspicious(dict(node), text)
    if isinstance(node, list):
        return _suspicious(list(node), text)
    if isinstance(node, bool):
        return False
    if isinstance(node, int):
        return _leading_zero(text)
    if isinstance(node, float):
        return bool(_EXPONENT.search(text))
    return isinstance(node, frozenset | tuple)


def _yaml_rs() -> Any:
    if os.environ.get("MESHFORM_YAML_ENGINE") == "pyyaml":  # force the reference reader (tests, triage)
        return None
    try:
        import yaml_rs
    except ImportError:  # the optional accelerator (pip install meshform[fast]) is not installed
        return None
    return yaml_rs


# A block scalar header (`|`, `>`, with indentation and chomping indicators, maybe a comment) closing
# the last line that is not blank.
_LAST_LINE_BLOCK_HEADER = re.compile(r"[|>][0-9+-]{0,2}[ \t]*(?:#[^\n]*)?\Z")


def _block_scalar_may_end_the_text(text: str) -> bool:
    """Might a block scalar (`|`, `>`) end the text? yaml-rs 0.1.6 reads such a scalar against the
    YAML spec (8.1.1.2), where libyaml, ruamel and go-yaml read it by the spec: with no content line
    (`a: |` then only blank lines) it reads "\n" instead of "", and a last content line without a
    line break (`a: |` `  x` at the end of input) gets one ("x\n" instead of "x"). Only the text's
    tail is looked at: a block scalar followed by anything else is read alike by all of them."""
    if not text.endswith("\n"):
        return "|" in text or ">" in text
    body = text.rstrip(" \t\r\n")
    return _LAST_LINE_BLOCK_HEADER.search(body, body.rfind("\n") + 1) is not None


def _rs_too_lenient(text: str) -> bool:
    """Might yaml-rs take this text where libyaml refuses it or reads it otherwise? Tags (yaml-rs drops
    them), odd anchor names (YAML 1.2 allows them) and a block scalar ending the text (yaml-rs reads
    it against the spec). Odd keys show in yaml-rs's data (`_suspicious`)."""
    return may_have_tags(text) or maybe_odd_anchor(text) or _block_scalar_may_end_the_text(text)


def accelerated(text: str, dates: bool = False) -> Any:
    """Parse with yaml-rs when it is installed and the document shows nothing YAML 1.1 and 1.2 could
    read differently; return NotImplemented to ask for the PyYAML path."""
    rs = _yaml_rs()
    if rs is None or not safe_for_yaml_rs(text) or _rs_too_lenient(text):
        return NotImplemented
    try:
        data = rs.loads(text, parse_datetime=dates)
    except Exception:  # any refusal: PyYAML reads it again and reports it with a position
        return NotImplemented
    return NotImplemented if _suspicious(data, text) else data


def reread(text: str) -> Any:
    """A text `accelerated` read before, read again by yaml-rs alone (no second look: it was read as
    Kubernetes reads it then, and reads the same now)."""
    return _yaml_rs().loads(text, parse_datetime=False)


def kind_of(text: str) -> object:
    """The document's top-level `kind` as yaml-rs reads it (~50 µs a document), for documents meshform
    means to pass through unparsed; NotImplemented when yaml-rs is absent, refuses the text, or might
    accept what libyaml and ruamel refuse (tabs, tags, odd keys): the caller then parses the
    document fully, so every engine refuses the same documents, located."""
    rs = _yaml_rs()
    if (
        rs is None
        or not safe_for_yaml_rs(text)
        or _rs_too_lenient(text)
        or "\t" in text
        or maybe_odd_key(text)
    ):
        return NotImplemented
    try:
        data = rs.loads(text, parse_datetime=False)
    except Exception:  # the caller's full parse reports it, located
        return NotImplemented
    if not isinstance(data, dict):
        return NotImplemented
    if ("{" in text or "[" in text) and any(_maybe_plain_indicator(s, text) for s in _strings(data)):
        return NotImplemented  # yaml-rs accepted what the others refuse: the full parse says so, located
    return data.get("kind")
