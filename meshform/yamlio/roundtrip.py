"""The comment-preserving engine: ruamel.yaml round-trip, for output written back to people's files.

Keeps comments, key order, quoting and each document's own indentation. Plain scalars are read the
way Kubernetes reads them (YAML 1.1, see `scalars`), so meshform decides exactly as on the fast path,
and a scalar meshform did not change is written back as its original text: `runAsNonRoot: yes` stays
`yes` (a boolean to Kubernetes), never `"yes"` (a string). Strings meshform writes follow the fast
emitter's rule: quoted whenever a YAML 1.1 or 1.2 reader could read them otherwise.
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

from meshform.diagnostics import MeshformError
from meshform.yamlio import merges
from meshform.yamlio.indentation import guess_indent
from meshform.yamlio.reader import load_round_trip, round_trip_constructor
from meshform.yamlio.scalars import Pending, PlainFloat, PlainInt, PlainStr, read_plain
from meshform.yamlio.writer import block_ok, plain_ok

WIDTH = 4096  # never fold long strings
# Where a container keeps the text of the booleans and nulls it held (`yes`, `~`): {key or index:
# (value, text)}. A value meshform replaced with another is written its own way.
TEXTS = "_meshform_texts"
PLAIN = (PlainStr, Pending, PlainInt, PlainFloat)
VERBATIM = "verbatim"  # a scalar style of our own: the emitter writes the text plain, as it came


def _constructor() -> Any:
    from ruamel.yaml.nodes import ScalarNode

    class Constructor(round_trip_constructor()):  # type: ignore[misc]
        def construct_object(self, node: Any, deep: bool = False) -> Any:
            # Plain, untagged, unanchored scalars: Kubernetes' reading, with the text kept. Anchored
            # ones stay ruamel's (it writes their anchors back); tagged ones are the tag's business.
            if type(node) is ScalarNode and node.style is None and not node.anchor and not node.ctag.handle:
                return read_plain(node.value)
            return super().construct_object(node, deep)

        def construct_mapping(self, node: Any, maptyp: Any, deep: bool = False) -> Any:
            _refuse_yaml11_duplicates(node)
            super().construct_mapping(node, maptyp, deep)
            own = getattr(maptyp, "_ok", maptyp)  # not the keys a `<<` merge brought in
            _settle(maptyp, [(k, maptyp[k]) for k in own if type(maptyp[k]) is Pending])

        def construct_rt_sequence(self, node: Any, seqtyp: Any, deep: bool = False) -> Any:
            items: list[Any] = super().construct_rt_sequence(node, seqtyp, deep)
            pending = [(i, v) for i, v in enumerate(items) if type(v) is Pending]
            for i, v in pending:
                items[i] = v.value
            _remember(seqtyp, pending)
            return items

    return Constructor


def _refuse_yaml11_duplicates(node: Any) -> None:
    """Plain keys Kubernetes' YAML 1.1 reader reads alike (`on` and `yes` are both true) are duplicate
    keys, as on the fast engine: MF003, located (ruamel, reading YAML 1.2, sees two strings)."""
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.nodes import ScalarNode

    seen: set[Any] = set()
    for key_node, _ in node.value:
        if type(key_node) is not ScalarNode or key_node.style is not None or key_node.ctag.handle:
            continue
        key = read_plain(key_node.value)
        key = key.value if type(key) is Pending else key
        if not isinstance(key, bool):
            continue
        if key in seen:
            raise DuplicateKeyError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)


def _settle(mapping: Any, pending: list[tuple[Any, Pending]]) -> None:
    for key, v in pending:
        mapping[key] = v.value
    _remember(mapping, pending)


def _remember(container: Any, pending: list[tuple[Any, Pending]]) -> None:
    if pending:
        setattr(container, TEXTS, {where: (v.value, str(v)) for where, v in pending})


def _representer() -> Any:
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.representer import RoundTripRepresenter

    class Representer(RoundTripRepresenter):
        def represent_str(self, data: str) -> Any:
            if type(data) is str:  # a value meshform wrote
                if block_ok(data):
                    return self.represent_scalar("tag:yaml.org,2002:str", data, style="|")
                if not plain_ok(data):
                    return self.represent_scalar("tag:yaml.org,2002:str", data, style='"')
            return super().represent_str(data)

        def represent_plain(self, data: Any, style: str = VERBATIM) -> Any:
            """An input scalar, exactly as it was written: plain (even where ruamel would rather
            quote, e.g. `...`), under the tag ruamel's reader gives the text, so no tag shows."""
            text = getattr(data, "text", None) or str(data)
            tag = self.dumper.resolver.resolve(ScalarNode, text, (True, False))
            return self.represent_scalar(tag, text, style=style)

        def represent_key(self, data: Any) -> Any:
            # A key is plain where ruamel allows it: a forced `...` key would end the document.
            if isinstance(data, PLAIN):
                # Straight to represent_scalar, which files the node under the current alias key:
                # that key is still the enclosing mapping's, and its node must not become this
                # key's (an aliased mapping would then be written as an alias of its first key).
                self.alias_key = None
                return self.represent_plain(data, style="")
            return super().represent_key(data)

    Representer.add_representer(str, Representer.represent_str)
    for plain in PLAIN:
        Representer.add_representer(plain, Representer.represent_plain)
    return Representer


def _emitter() -> Any:
    from ruamel.yaml.emitter import RoundTripEmitter

    class Emitter(RoundTripEmitter):  # the round-trip one: its tags come out as written (`!!str`)
        def choose_scalar_style(self) -> Any:
            if self.event.style == VERBATIM:
                if self.analysis is None:
                    self.analysis = self.analyze_scalar(self.event.value)
                return ""
            return super().choose_scalar_style()

    return Emitter


def _yaml(indent: tuple[int, int] = (2, 0)) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.Constructor = _constructor()
    yaml.Representer = _representer()
    yaml.Emitter = _emitter()
    yaml.preserve_quotes = True
    yaml.allow_duplicate_keys = False
    # `[{port: 80}]` stays as written: ruamel's default drops the braces (`[port: 80]`), so a document
    # it writes would differ from the same document the patcher keeps byte for byte.
    yaml.brace_single_entry_mapping_in_flow_sequence = True
    yaml.width = WIDTH
    mapping, offset = indent
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    return yaml


def load(text: str, file: str, first_line: int) -> tuple[Any, tuple[int, int]]:
    """One document's round-trip data and its indentation style."""
    indent = guess_indent(text)
    try:
        docs = load_round_trip(text, file, _yaml(indent))
    except MeshformError as exc:
        raise MeshformError([replace(d, line=d.line + first_line - 1) for d in exc.diagnostics]) from None
    data = docs[0] if docs else None
    data = data.value if type(data) is Pending else data
    if "<<" in text or "!!merge" in text:
        merges.detach(data)
    return data, indent


def _texts_back(node: Any, undo: list[tuple[Any, Any, Any]]) -> None:
    """Put the original text back in place of each boolean or null that still holds its value."""
    stack = [node]
    while stack:
        container = stack.pop()
        for where, (value, text) in getattr(container, TEXTS, {}).items():
            in_range = where in container if isinstance(container, dict) else where < len(container)
            if in_range and container[where] is value:
                undo.append((container, where, value))
                container[where] = Pending(text)
        children = container.values() if isinstance(container, dict) else container
        stack.extend(c for c in children if isinstance(c, dict | list))


def dump(data: Any, indent: tuple[int, int] = (2, 0)) -> str:
    merges.settle(data)
    out = io.StringIO()
    undo: list[tuple[Any, Any, Any]] = []
    if isinstance(data, dict | list):
        _texts_back(data, undo)
    try:
        _yaml(indent).dump(data, out)
    finally:
        for container, where, value in undo:
            container[where] = value
    return out.getvalue()


def graft(old: Any, new: Any) -> Any:
    """`old` (round-trip data) changed in place to read as `new` (plain data), keeping its own nodes,
    and with them their comments and scalar texts, wherever they already read the same."""
    from meshform.yamlio.patch import MISSING, find_key, same

    if isinstance(old, dict) and isinstance(new, dict):
        # Keys by Kubernetes' reading (`on:` is the key True to the fast engine), written as they were.
        written = {(k.value if type(k) is Pending else k): k for k in old}
        for reading, key in written.items():
            if find_key(new, reading) is MISSING:
                del old[key]
        for reading, value in new.items():
            key = find_key(written, reading)
            if key is MISSING:
                old[reading] = value
                continue
            key = written[key]
            grafted = graft(old[key], value)
            if grafted is not old[key]:  # assigned only when changed: a key a `<<` merged stays merged
                old[key] = grafted
        return old
    if isinstance(old, list) and isinstance(new, list):
        if len(old) == len(new):
            old[:] = [graft(o, n) for o, n in zip(old, new, strict=True)]
            return old
        unused = list(old)
        kept = []
        for value in new:
            match = next((i for i, o in enumerate(unused) if same(o, value)), None)
            kept.append(value if match is None else unused.pop(match))
        old[:] = kept
        return old
    return old if same(old, new) else new
