"""The position-based patcher: a changed document written back as its own text with meshform's edits.

The comment-preserving engine used to re-emit every changed document through ruamel's round-trip
engine (~12 ms a document in pure Python). meshform changes a few keys and list items of a document
(labels and annotations on a pod template, its status record, a sidecar's containers and volumes,
the keys it removes when switching), so the rest of the text can stay as it is, byte for byte.

`patch(text, new)` reads the document with libyaml's composer (C; every node with its start and end
in the text), walks it beside the new data and turns each difference into a text edit: a scalar
replaced in place, a mapping entry or sequence item inserted at the indentation of its siblings or
removed with its lines. Everything else — comments, quoting, key order, blank lines, indentation —
is never touched. What it cannot place exactly raises `CannotPlace` (an edit inside a flow-style
collection, an anchor or alias, a tag, a merge key, a key sharing a line with a `- `, ...): the
caller then writes that one document with the round-trip engine.

New subtrees are written by `block`, the fast emitter's quoting with the document's own indentation
(mapping indent and sequence dash offset, as `indentation.guess_indent` reads them).
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

import yaml

from meshform.yamlio.scalars import Pending, read_plain
from meshform.yamlio.tags import may_have_tags
from meshform.yamlio.writer import block_ok, format_scalar

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Where an anchor (`&a`) or alias (`*a`) could start a node; the token scan then says for sure.
_MAYBE_ANCHOR = re.compile(r"(?:^|[\s\[{,])[&*][^\s\[\]{},]", re.MULTILINE)


class _Loader(_Base):  # type: ignore[misc]
    """libyaml's composer without tag resolution: the patcher reads scalars itself (`_scalar`), and
    resolving every scalar's YAML 1.1 tag in Python was a third of its time."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        return ""


class CannotPlace(Exception):
    """The patcher cannot write this change exactly; the message says what (for the debug log)."""


def patch(text: str, new: Any, old: Any = None) -> str:
    """`text` (one YAML document whose root is a block mapping) rewritten so that it reads as `new`,
    every byte outside the changed keys and items kept. `old` is the text as the engine read it
    (read here when not given): only where it differs from `new` is the text looked at. Raises
    CannotPlace."""
    if not text.endswith("\n"):
        text += "\n"
    root = _compose(text)
    if not isinstance(root, yaml.MappingNode) or root.flow_style or not isinstance(new, dict):
        raise CannotPlace("the document is not a block mapping")
    editor = _Editor(text)
    editor.mapping(root, new, _value(root) if old is None else old)
    return editor.apply()


class Indentation:
    """A document's (mapping indent, sequence dash offset), read from its text when first asked:
    only a nested mapping or sequence needs it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pair: tuple[int, int] | None = None

    def __call__(self) -> tuple[int, int]:
        if self.pair is None:
            from meshform.yamlio.indentation import guess_indent

            self.pair = guess_indent(self.text)
        return self.pair


def block(value: Any, col: int, indent: Indentation, dash: bool = False) -> list[str]:
    """Lines (without line breaks) writing a non-empty mapping's entries at column `col`, or, with
    `dash`, `value` as one sequence item whose `- ` is at column `col`."""
    out: list[str] = []
    if dash:
        _item(out, value, col, indent)
    else:
        _entries(out, value, col, indent)
    return out


# ------------------------------------------------------------------------------------------ reading


def _compose(text: str) -> Any:
    if may_have_tags(text) and _has_tag(text):
        raise CannotPlace("a tag")
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise CannotPlace(f"libyaml cannot compose it: {str(exc).splitlines()[0]}") from None
    finally:
        loader.dispose()
    if ("&" in text or "*" in text) and _MAYBE_ANCHOR.search(text) and _has_anchor(text):
        raise CannotPlace("an anchor or alias")
    return root


def _has_tag(text: str) -> bool:
    return any(isinstance(t, yaml.TagToken) for t in yaml.scan(text, Loader=_Loader))


def _has_anchor(text: str) -> bool:
    return any(isinstance(t, yaml.AnchorToken | yaml.AliasToken) for t in yaml.scan(text, Loader=_Loader))


def _key(node: Any) -> Any:
    """A key as the fast engine reads it (Kubernetes' YAML 1.1)."""
    if not isinstance(node, yaml.ScalarNode):
        raise CannotPlace("a complex key")
    if node.value == "<<" and not node.style:
        raise CannotPlace("a merge key")
    return _scalar(node)


def _scalar(node: Any) -> Any:
    if node.style:  # quoted or block: a string (libyaml's composer gives plain scalars the style "")
        return node.value
    value = read_plain(node.value)
    return value.value if type(value) is Pending else value


def _value(node: Any) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return [_value(v) for v in node.value]
    return {_key(k): _value(v) for k, v in node.value}


def same(a: Any, b: Any) -> bool:
    """Equal as data, where `True != 1` and `1 != 1.0` (YAML writes them differently)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(b, dict | list):
        return False
    return _kind(a) == _kind(b) and (a == b or (_nan(a) and _nan(b)))


def unchanged(old: Any, new: Any) -> bool:
    """`same`, at C speed for whole subtrees: `==` first, then JSON text (where `true`, `1` and `1.0`
    differ) for collections that `==` finds equal."""
    if old is new:
        return True
    if old != new:
        return _nan(old) and _nan(new)  # NaN is not NaN to ==, yet it is the value that was read
    if not isinstance(old, dict | list):
        return _kind(old) == _kind(new)
    try:
        return json.dumps(old, default=repr) == json.dumps(new, default=repr)
    except (TypeError, ValueError):  # keys JSON cannot write: the walk in Python
        return same(old, new)


MISSING = object()


def find_key(mapping: dict[Any, Any], key: Any) -> Any:
    """`key` as `mapping` holds it, or MISSING; a NaN key (`.nan:`) finds a NaN key (== does not)."""
    if key in mapping:
        return key
    if _nan(key):
        return next((k for k in mapping if _nan(k)), MISSING)
    return MISSING


def _nan(v: Any) -> bool:
    return isinstance(v, float) and v != v


def _kind(v: Any) -> int:
    return 1 if isinstance(v, bool) else 2 if isinstance(v, int) else 3 if isinstance(v, float) else 0


# ------------------------------------------------------------------------------------------ editing


class _Editor:
    """Edits (start, end, replacement) of one document's text, applied at once at the end."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.indent = Indentation(text)
        self.edits: list[tuple[int, int, str]] = []

    def apply(self) -> str:
        out: list[str] = []
        at = 0
        for start, end, replacement in sorted(self.edits, key=lambda e: (e[0], e[1])):
            if start < at:
                raise CannotPlace("two edits overlap")
            out += (self.text[at:start], replacement)
            at = end
        out.append(self.text[at:])
        return "".join(out)

    # -- positions

    def line_start(self, index: int) -> int:
        return self.text.rfind("\n", 0, index) + 1

    def line_after(self, index: int) -> int:
        """Where the line holding `index` ends (after its line break)."""
        return self.text.index("\n", index) + 1

    def alone(self, index: int) -> bool:
        """Is `index` the first non-blank character of its line?"""
        return self.text[self.line_start(index) : index].strip(" ") == ""

    def end(self, node: Any) -> int:
        """Where the node's own text ends (a block scalar's trailing blank lines not included)."""
        if isinstance(node, yaml.ScalarNode):
            end = node.end_mark.index
            if node.style in ("|", ">"):
                header = self.text[node.start_mark.index : self.line_after(node.start_mark.index)]
                if "+" in header.split("#")[0]:  # kept trailing line breaks are the value's own
                    return self.text.rfind("\n", 0, end)
                end = len(self.text[:end].rstrip())
            return int(end)
        if node.flow_style or not node.value:
            return int(node.end_mark.index)
        last = node.value[-1]
        if isinstance(node, yaml.MappingNode):
            return self.entry_end(*last)
        if _empty(last):
            raise CannotPlace("an empty sequence item")
        return self.end(last)

    def colon(self, key: Any) -> int:
        at = self.text.find(":", key.end_mark.index)
        if at < 0 or self.text[key.end_mark.index : at].strip():
            raise CannotPlace("a key whose colon is not right after it")
        return at

    def entry_end(self, key: Any, value: Any) -> int:
        return self.colon(key) + 1 if _empty(value) else self.end(value)

    # -- mappings

    def mapping(self, node: Any, new: dict[Any, Any], old: dict[Any, Any]) -> None:
        if node.flow_style:
            self.flow(node, new, old)
            return
        if len(node.value) != len(old):
            raise CannotPlace("a mapping whose entries are not its keys (a merge key?)")
        entries: dict[Any, tuple[Any, Any]] = {}
        for (k, v), (key, was) in zip(node.value, old.items(), strict=True):
            if not k.style and k.value == "<<":
                raise CannotPlace("a merge key")
            entries[key] = (k, v)
            now = find_key(new, key)
            if now is MISSING:
                self.remove_entry(k, v)
            elif not unchanged(was, new[now]):
                self.value(k, v, new[now], was)
        previous: tuple[Any, Any] | None = None
        added: list[tuple[Any, Any]] = []
        for key, value in new.items():
            here = find_key(entries, key)
            if here is not MISSING:
                if added:
                    self.insert_entries(node, previous, added)
                    added = []
                previous = entries[here]
            else:
                added.append((key, value))
        if added:
            self.insert_entries(node, previous, added)

    def flow(self, node: Any, new: Any, old: Any) -> None:
        """A flow-style collection: left alone when unchanged, and `{}`/`[]` filled is written as a
        block in its place; any other edit inside one is not placed."""
        if unchanged(old, new):
            return
        if not node.value:
            self.replace_value_of(node, new)
        elif isinstance(node, yaml.MappingNode) and self.plain_flow(node) and _scalars(old, new):
            self.flow_mapping(node, new, old)
        else:
            raise CannotPlace("an edit inside a flow-style collection")

    def one_line(self, node: Any) -> bool:
        return "\n" not in self.text[node.start_mark.index : node.end_mark.index]

    def plain_flow(self, node: Any) -> bool:
        """On one line, or over several without comments (an entry removed with the text up to the
        next one would take a comment between them along)."""
        return self.one_line(node) or "#" not in self.text[node.start_mark.index : node.end_mark.index]

    def flow_mapping(self, node: Any, new: dict[Any, Any], old: dict[Any, Any]) -> None:
        """`{a: 1, b: 2}` on one line, its values scalars: entries removed with their comma, values
        replaced in place, new entries appended before the `}`, the spacing as it was."""
        pairs = node.value
        if len(pairs) != len(old) or any(_empty(v) or v.style in ("|", ">") for _, v in pairs):
            raise CannotPlace("an edit inside a flow-style mapping of an unusual layout")
        kept = 0
        for i, ((k, v), (key, was)) in enumerate(zip(pairs, old.items(), strict=True)):
            now = find_key(new, key)
            if now is MISSING:
                start, end = k.start_mark.index, v.end_mark.index
                if i + 1 < len(pairs):
                    end = pairs[i + 1][0].start_mark.index
                elif i:
                    start = pairs[i - 1][1].end_mark.index
                self.edits.append((start, end, ""))
                continue
            kept += 1
            if not unchanged(was, new[now]):
                if isinstance(new[now], str) and block_ok(new[now]):
                    raise CannotPlace("a multi-line value in a flow-style mapping")
                self.edits.append((v.start_mark.index, v.end_mark.index, _flow_empty_or_scalar(new[now])))
        added = [(k, v) for k, v in new.items() if find_key(old, k) is MISSING]
        if not added:
            return
        if not kept or any(isinstance(v, str) and block_ok(v) for _, v in added):
            raise CannotPlace("an edit inside a flow-style mapping that empties it")
        if not self.one_line(node):  # one entry a line, at the first key's column, after the last value
            pad = " " * pairs[0][0].start_mark.column
            at = pairs[-1][1].end_mark.index
            entries = "".join(f",\n{pad}{format_scalar(k)}: {_flow_empty_or_scalar(v)}" for k, v in added)
            self.edits.append((at, at, entries))
            return
        close = node.end_mark.index - 1
        at = len(self.text[:close].rstrip(" "))
        if self.text[close] != "}" or self.text[at - 1] in ",{":
            raise CannotPlace("a flow-style mapping of an unusual layout")
        entries = "".join(f", {format_scalar(k)}: {_flow_empty_or_scalar(v)}" for k, v in added)
        self.edits.append((at, at, entries))

    def remove_entry(self, key: Any, value: Any) -> None:
        start = key.start_mark.index
        if not self.alone(start):
            raise CannotPlace("removing a key that shares its line with a `- `")
        self.edits.append((self.line_start(start), self.line_after(self.entry_end(key, value)), ""))

    def insert_entries(
        self, node: Any, after: tuple[Any, Any] | None, entries: list[tuple[Any, Any]]
    ) -> None:
        first = node.value[0][0]
        col = first.start_mark.column
        lines = "".join(line + "\n" for line in block(dict(entries), col, self.indent))
        if after is None:
            if not self.alone(first.start_mark.index):
                raise CannotPlace("inserting before a key that shares its line with a `- `")
            self.edits.append((self.line_start(first.start_mark.index),) * 2 + (lines,))
        else:
            at = self.after_own_comments(self.line_after(self.entry_end(*after)), col)
            self.edits.append((at, at, lines))

    def after_own_comments(self, at: int, col: int) -> int:
        """`at` moved past the comment lines that follow it indented deeper than `col`: they belong
        to the entry before (a comment closing its block), so an entry at `col` goes after them."""
        while at < len(self.text):
            stop = self.text.find("\n", at) + 1 or len(self.text)
            line = self.text[at:stop]
            body = line.lstrip(" ")
            if not body.startswith("#") or len(line) - len(body) <= col:
                break
            at = stop
        return at

    def value(self, key: Any, node: Any, new: Any, old: Any) -> None:
        """The value `node` of `key`, read as `old`, becomes `new` (they differ)."""
        if isinstance(node, yaml.MappingNode) and isinstance(new, dict) and (new or not node.value):
            self.mapping(node, new, old)
        elif isinstance(node, yaml.SequenceNode) and isinstance(new, list) and (new or not node.value):
            self.sequence(node, new, old)
        else:
            self.replace_entry_value(key, node, new)

    def replace_entry_value(self, key: Any, node: Any, new: Any) -> None:
        if isinstance(node, yaml.ScalarNode) and not _empty(node) and not _collection(new):
            self.replace_scalar(node, new)
            return
        start = self.colon(key) + 1  # from the colon on: the value, whatever its layout
        end = self.entry_end(key, node)
        # A collection becoming null is written as nothing after the colon (as people write it).
        text = (
            "" if new is None and _collection_node(node) else self.inline_or_block(new, key.start_mark.column)
        )
        eol = self.text.index("\n", start)
        if not self.text[start:eol].lstrip(" ").startswith("#") or (
            end <= start and not text.startswith("\n")
        ):
            self.edits.append((start, end, text))
            return
        # A comment after the colon (`annotations: # why`) stays on the key's line: a block value goes
        # on the lines after it, a scalar before it.
        if text.startswith("\n"):
            self.edits.append((eol, max(end, eol), text))
        else:
            self.edits.append((start, start, text))
            if end > eol:
                self.edits.append((eol, end, ""))

    def replace_value_of(self, node: Any, new: Any) -> None:
        """An empty flow collection (`{}`, `[]`) that becomes a non-empty one."""
        start = node.start_mark.index
        head = self.text[self.line_start(start) : start]
        key_col = len(head) - len(head.lstrip(" "))
        if not head.rstrip().endswith(":") or not self.alone(key_col + self.line_start(start)):
            raise CannotPlace("a flow-style collection that is not a key's value")
        colon = self.line_start(start) + len(head.rstrip()) - 1
        self.edits.append((colon + 1, node.end_mark.index, self.inline_or_block(new, key_col)))

    def inline_or_block(self, new: Any, key_col: int) -> str:
        """A key's value as the text that follows its colon."""
        if isinstance(new, dict) and new:
            return "\n" + "\n".join(block(new, key_col + self.indent()[0], self.indent))
        if isinstance(new, list) and new:
            lines: list[str] = []
            for item in new:
                lines += block(item, key_col + self.indent()[1], self.indent, dash=True)
            return "\n" + "\n".join(lines)
        if isinstance(new, str) and block_ok(new):
            return " " + "\n".join(_block_scalar(new, key_col + self.indent()[0]))
        return " " + _flow_empty_or_scalar(new)

    def replace_scalar(self, node: Any, new: Any) -> None:
        start = node.start_mark.index
        if isinstance(new, str) and block_ok(new):
            head = self.text[self.line_start(start) : start]
            key_col = len(head) - len(head.lstrip(" "))
            while head[key_col : key_col + 2] == "- ":  # the key (or item) after `- ` marks
                key_col += 2
            text = "\n".join(_block_scalar(new, key_col + self.indent()[0]))
        else:
            text = _flow_empty_or_scalar(new)
        self.edits.append((start, self.end(node), text))

    # -- sequences

    def sequence(self, node: Any, new: list[Any], old: list[Any]) -> None:
        if node.flow_style:
            self.flow(node, new, old)
            return
        items = node.value
        if len(items) != len(old):
            raise CannotPlace("a sequence whose items are not its nodes")
        if len(items) == len(new):
            for item, value, was in zip(items, new, old, strict=True):
                if not unchanged(was, value):
                    self.item(item, value, was)
            return
        # Items are matched by who they are (an object's kind and name, a container's name), not
        # by their whole value: a changed item next to an inserted one is then edited in place (its
        # comments and quoting kept) instead of being removed and written anew.
        before, after = [_identity(v) for v in old], [_identity(v) for v in new]
        matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):
                for item, value, was in zip(items[i1:i2], new[j1:j2], old[i1:i2], strict=True):
                    self.item(item, value, was)
                continue
            for item in items[i1:i2]:
                self.remove_item(item)
            if j2 > j1:
                self.insert_items(node, i1, new[j1:j2])

    def item(self, node: Any, new: Any, old: Any) -> None:
        if isinstance(node, yaml.MappingNode) and isinstance(new, dict) and new and node.value:
            self.mapping(node, new, old)
        elif isinstance(node, yaml.SequenceNode) and isinstance(new, list) and new and node.value:
            self.sequence(node, new, old)
        elif not unchanged(old, new):
            if isinstance(node, yaml.ScalarNode) and not _empty(node) and not _collection(new):
                self.replace_scalar(node, new)
            else:
                raise CannotPlace("a sequence item that changes its type")

    def dash(self, item: Any) -> int:
        """Where the `- ` of an item is; it must open its line."""
        if _empty(item):
            raise CannotPlace("an empty sequence item")
        at = self.text.rfind("-", 0, item.start_mark.index)
        if at < 0 or self.text[at + 1 : item.start_mark.index].strip(" ") or not self.alone(at):
            raise CannotPlace("a sequence item whose `- ` is not alone at its line's start")
        return at

    def remove_item(self, item: Any) -> None:
        self.edits.append((self.line_start(self.dash(item)), self.line_after(self.end(item)), ""))

    def insert_items(self, node: Any, before: int, values: list[Any]) -> None:
        items = node.value
        dash = self.dash(items[0])
        col = dash - self.line_start(dash)
        lines: list[str] = []
        for value in values:
            lines += block(value, col, self.indent, dash=True)
        text = "".join(line + "\n" for line in lines)
        if before < len(items):
            at = self.line_start(self.dash(items[before]))
        else:
            at = self.line_after(self.end(items[-1]))
        self.edits.append((at, at, text))


def _empty(node: Any) -> bool:
    return isinstance(node, yaml.ScalarNode) and not node.style and node.value == ""


def _collection_node(node: Any) -> bool:
    return isinstance(node, yaml.MappingNode | yaml.SequenceNode)


def _scalars(*mappings: dict[Any, Any]) -> bool:
    return all(not isinstance(v, dict | list) for m in mappings for v in m.values())


def _collection(v: Any) -> bool:
    return isinstance(v, dict | list)


def _hashable(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=repr) + type(v).__name__


def _identity(v: Any) -> str:
    """What names a sequence item: an object's (apiVersion, kind, namespace, name), a named entry's
    name (containers, volumes, ports), else its whole value. (JSON text: a str subclass the reader
    made is its str.)"""
    if isinstance(v, dict):
        meta = v.get("metadata")
        if isinstance(meta, dict) and "kind" in v:
            ref = [v.get("apiVersion"), v["kind"], meta.get("namespace"), meta.get("name")]
            return "object " + json.dumps(ref, default=repr)
        if "name" in v and not _collection(v["name"]):
            return "named " + json.dumps(v["name"], default=repr)
    return _hashable(v)


# ------------------------------------------------------------------------------------------ writing


def _flow_empty_or_scalar(v: Any) -> str:
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    text = getattr(v, "text", None)  # PlainInt/PlainFloat: the number as the input wrote it
    return text if isinstance(text, str) else format_scalar(v)


def _block_scalar(s: str, col: int) -> list[str]:
    pad = " " * col
    return [
        "|" if s.endswith("\n") else "|-",
        *(pad + line if line else "" for line in s.removesuffix("\n").split("\n")),
    ]


def _entries(out: list[str], m: dict[Any, Any], col: int, indent: Indentation) -> None:
    pad = " " * col
    for k, v in m.items():
        head = pad + format_scalar(k) + ":"
        if isinstance(v, dict) and v:
            out.append(head)
            _entries(out, v, col + indent()[0], indent)
        elif isinstance(v, list) and v:
            out.append(head)
            for item in v:
                _item(out, item, col + indent()[1], indent)
        elif isinstance(v, str) and block_ok(v):
            first, *rest = _block_scalar(v, col + indent()[0])
            out += [head + " " + first, *rest]
        else:
            out.append(head + " " + _flow_empty_or_scalar(v))


def _item(out: list[str], v: Any, col: int, indent: Indentation) -> None:
    """One sequence item, its `- ` at `col`; a mapping or sequence item starts on the dash's line."""
    lead = " " * col + "- "
    start = len(out)
    if isinstance(v, dict) and v:
        _entries(out, v, col + 2, indent)
    elif isinstance(v, list) and v:
        for item in v:
            _item(out, item, col + 2, indent)
    elif isinstance(v, str) and block_ok(v):
        first, *rest = _block_scalar(v, col + 2)
        out += [lead + first, *rest]
        return
    else:
        out.append(lead + _flow_empty_or_scalar(v))
        return
    out[start] = lead + out[start][col + 2 :]
