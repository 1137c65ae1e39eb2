"""Reading YAML with positions: files and stdin into located documents, within bounds.

Reading uses ruamel.yaml's round-trip loader because it keeps line/column positions, which every
diagnostic needs. Input is bounded (size, nesting depth, alias expansion) before anything walks it.
`load_documents_quick` is the fast way in when nothing needs to be reported (yaml-rs, no positions).
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from meshform.diagnostics import Diagnostic, Level, MeshformError
from meshform.yamlio import disagreements
from meshform.yamlio.characters import check_characters, check_encoding
from meshform.yamlio.limits import (
    MAX_ALIAS_NODES,
    MAX_BYTES,
    MAX_DEPTH,
    MAX_DOCUMENTS,
    deep_position,
    depth_message,
    may_nest_deeper,
    too_deep,
)
from meshform.yamlio.split import is_blank, split
from meshform.yamlio.tags import may_have_tags, refuse_tags

Position = tuple[int, int]  # 1-based line, column
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Document:
    """One YAML document as plain data, with where each node came from."""

    data: Any
    file: str
    index: int
    positions: dict[Path, Position]
    text: str = ""  # the whole file's text, which positions point into ("" when unknown)

    def position(self, path: Path) -> Position:
        """The nearest known position for a path (walking up to the parent when needed)."""
        while path not in self.positions and path:
            path = path[:-1]
        return self.positions.get(path, (1, 1))


def _error(file: str, code: str, message: str, line: int = 0, col: int = 0) -> MeshformError:
    return MeshformError([Diagnostic(file, line, col, Level.ERROR, code, message)])


def decode(raw: bytes, file: str) -> str:
    """Bytes → text, the one gate every reader path passes: UTF-8 only (Kubernetes itself reads UTF-8),
    YAML-printable characters only (meshform.yamlio.characters), every refusal a located MF004/MF005."""
    if len(raw) > MAX_BYTES:
        raise _error(file, "MF004", f"input is larger than the limit of {MAX_BYTES} bytes")
    check_encoding(raw, file)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = len(raw[raw.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8", "replace")) + 1
        raise _error(file, "MF005", f"invalid UTF-8 byte 0x{raw[exc.start]:02x}", line, col) from None
    text = text.removeprefix("\ufeff")
    check_characters(raw, text, file)
    return text


def _loader() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.Constructor = round_trip_constructor()
    return yaml


@cache
def round_trip_constructor() -> Any:
    """ruamel's round-trip constructor, except for plain scalars that its YAML 1.2 number patterns
    match without a digit (`-_`, `+_`, `0x_`, `0o_`, `._`): ruamel crashes building the number, while
    libyaml, yaml-rs and Kubernetes read a string. So does this one."""
    from ruamel.yaml.constructor import RoundTripConstructor

    class Constructor(RoundTripConstructor):
        def construct_yaml_int(self, node: Any) -> Any:
            try:
                return super().construct_yaml_int(node)
            except (ValueError, IndexError):
                return self.construct_yaml_str(node)

        def construct_yaml_float(self, node: Any) -> Any:
            try:
                return super().construct_yaml_float(node)
            except (ValueError, IndexError):
                return self.construct_yaml_str(node)

    Constructor.add_constructor("tag:yaml.org,2002:int", Constructor.construct_yaml_int)
    Constructor.add_constructor("tag:yaml.org,2002:float", Constructor.construct_yaml_float)
    return Constructor


def load_documents(text: str, file: str) -> list[Document]:
    """Parse a (multi-document) YAML stream into plain-data documents with positions: the quick
    reader when the text is plain (nearly always), else the round-trip reader."""
    if may_have_tags(text):  # the quick reader would take `!` for no tag; refused alike everywhere
        refuse_tags(text, file)
    located = _load_located(text, file)
    if located is not None:
        return [replace(d, text=text) for d in located]
    return [
        replace(_plain_document(node, file, i), text=text)
        for i, node in enumerate(load_round_trip(text, file))
    ]


def load_round_trip(text: str, file: str, loader: Any = None) -> list[Any]:
    """ruamel round-trip nodes (comments, positions), every parse failure a located MeshformError."""
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    bound_documents(text, file)
    where = deep_position(text) if may_nest_deeper(text) else None
    if where is not None:  # before ruamel, whose composer recurses: it would fail unlocated
        raise _error(file, "MF004", depth_message(), *where)
    if may_have_tags(text):
        refuse_tags(text, file)
    try:
        with disagreements.anchors_may_be_reused():
            docs = list((loader or _loader()).load_all(text))
    except DuplicateKeyError as exc:
        raise _marked(file, "MF003", exc) from None
    except MarkedYAMLError as exc:
        raise _marked(file, "MF002", exc) from None
    except ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - text.rfind("\n", 0, exc.position)
        raise _error(
            file, "MF005", f"control character {exc.character!r} is not allowed in YAML", line, col
        ) from None
    except YAMLError as exc:
        raise _error(file, "MF002", str(exc).splitlines()[0]) from None
    except RecursionError:
        raise _error(file, "MF004", depth_message()) from None
    except TypeError:  # ruamel hashing a key that holds a mapping (`? {a: {b: c}}`)
        disagreements.refuse(text, file)
        raise
    disagreements.refuse(text, file)  # what ruamel reads and libyaml (like Kubernetes) refuses
    return docs


def bound_documents(text: str, file: str) -> None:
    """Refuse a stream of more than MAX_DOCUMENTS documents before any parser sees it (a flood of
    `---` lines would cost a parser object per empty document)."""
    for count, (line, _, _) in enumerate(split(text)):
        if count == MAX_DOCUMENTS:
            raise _error(file, "MF004", f"more than {MAX_DOCUMENTS} documents in one input", line, 1)


def _marked(file: str, code: str, exc: Any) -> MeshformError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    if code == "MF003":
        problem = f"duplicate key: {problem}"
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    hint = TAB_HINT if "'\\t'" in problem else ""
    return MeshformError([Diagnostic(file, line, col, Level.ERROR, code, problem.strip(), hint=hint)])


TAB_HINT = (
    "replace the tab with spaces: meshform reads tabs only inside quoted strings and block scalars, "
    "as ruamel does (other readers accept some tabs elsewhere, so every engine refuses them)"
)


class _Walk:
    """Converts round-trip nodes to plain data while recording positions and enforcing limits."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.positions: dict[Path, Position] = {}
        self.seen: set[int] = set()
        self.alias_nodes = 0

    def node(self, value: Any, path: Path, aliased: bool) -> Any:
        if len(path) > MAX_DEPTH:
            line, col = self.nearest(path)
            raise _error(self.file, "MF004", depth_message(), line, col)
        if isinstance(value, dict | list):
            aliased = aliased or id(value) in self.seen
            self.seen.add(id(value))
        if aliased:
            self.alias_nodes += 1
            if self.alias_nodes > MAX_ALIAS_NODES:
                line, col = self.nearest(path)
                raise _error(
                    self.file, "MF004", f"aliases expand to more than {MAX_ALIAS_NODES} nodes", line, col
                )
        if isinstance(value, dict):
            return self.mapping(value, path, aliased)
        if isinstance(value, list):
            return self.sequence(value, path, aliased)
        return _scalar(value)

    def nearest(self, path: Path) -> Position:
        while path and path not in self.positions:
            path = path[:-1]
        return self.positions.get(path, (1, 1))

    def mapping(self, value: Any, path: Path, aliased: bool) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        lc = getattr(value, "lc", None)
        for key, item in value.items():
            plain_key = _scalar(key)
            child = (*path, str(plain_key))
            if lc is not None and not aliased and lc.data:
                pos = lc.data.get(key)
                if pos is not None:
                    self.positions[child] = (pos[0] + 1, pos[1] + 1)
            out[plain_key] = self.node(item, child, aliased)
        return out

    def sequence(self, value: Any, path: Path, aliased: bool) -> list[Any]:
        lc = getattr(value, "lc", None)
        out = []
        for i, item in enumerate(value):
            child = (*path, i)
            if lc is not None and not aliased and lc.data and i in lc.data:
                pos = lc.data[i]
                self.positions[child] = (pos[0] + 1, pos[1] + 1)
            out.append(self.node(item, child, aliased))
        return out


def _scalar(value: Any) -> Any:
    """Round-trip scalar subclasses → the plain Python type they stand for."""
    if type(value).__name__ == "TaggedScalar":  # `!!str 5` and friends: the text is the value
        return str(value.value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, _dt.datetime | _dt.date):
        # Kept as a date: schemas reject it where a string is expected, with a hint to quote it.
        return value
    return value


def _plain_document(node: Any, file: str, index: int) -> Document:
    walk = _Walk(file)
    lc = getattr(node, "lc", None)
    if lc is not None:
        walk.positions[()] = (lc.line + 1, lc.col + 1)
    data = walk.node(node, (), False)
    return Document(data, file, index, walk.positions)


def unshare(
    node: Any, seen: set[int] | None = None, copies: list[tuple[Any, Any, Any]] | None = None
) -> None:
    """Give every aliased node its own copy. After loading, `*ref` is the very object `&ref` names:
    changing a pod template's labels would silently change a selector that aliased them too.
    `copies`, when given, collects (parent, key, original) of each copy made, for `reshare`."""
    import copy

    seen = set() if seen is None else seen
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in list(children):
        if not isinstance(child, dict | list):
            continue
        if id(child) in seen:
            original, child = child, copy.deepcopy(child)
            anchor = getattr(child, "anchor", None)
            if anchor is not None:
                anchor.value = None  # the copy is not the anchored original
            _replace(node, key, child)
            if copies is not None:
                copies.append((node, key, original))
        seen.add(id(child))
        unshare(child, seen, copies)


def reshare(copies: list[tuple[Any, Any, Any]]) -> None:
    """Put back the alias of every copy `unshare` made that still reads as its original: an alias
    meshform's change did not reach stays an alias (`*ref`) in the output."""
    from meshform.yamlio.patch import same

    for parent, key, original in reversed(copies):
        if same(parent[key], original):
            _replace(parent, key, original)


def _replace(node: Any, key: Any, child: Any) -> None:
    """node[key] = child, except that a key a round-trip mapping has only through a merge (`<<`) stays
    merged rather than becoming one the mapping writes out (yamlio.merges decides that at dump time)."""
    own = getattr(node, "_ok", None)
    if own is not None and key not in own:
        from collections import OrderedDict

        OrderedDict.__setitem__(node, key, child)
    else:
        node[key] = child


def node_document(node: Any, file: str, first_line: int = 1, at: Position = (1, 1)) -> Document:
    """Round-trip nodes (part of a document read with positions, such as a ResourceList's
    functionConfig) as a located Document. `first_line` is the line of the text the nodes were read
    from (a Chunk's line); `at` is where the node itself starts. Positions are in the file."""
    walk = _Walk(file)
    data = walk.node(node, (), False)
    positions = {path: (line + first_line - 1, col) for path, (line, col) in walk.positions.items()}
    return Document(data, file, 0, {(): at, **positions})


def plain_document(data: Any, file: str) -> Document:
    """Already-loaded plain data as a Document (no positions: diagnostics point at line 1)."""
    return Document(data, file, 0, {})


def read_text(path: str) -> tuple[str, str]:
    """A file's (or stdin's, for `-`) text and the name diagnostics use for it."""
    import sys

    try:
        # One byte more than allowed, so decode() can refuse it; never the whole of an endless pipe.
        if path == "-":
            raw = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise _error(path, "MF001", f"cannot read: {exc.strerror or exc}") from None
    name = "<stdin>" if path == "-" else path
    return decode(raw, name), name


def read_file(path: str) -> list[Document]:
    """Read a file (or `-` for stdin) into documents; every failure is a located MeshformError."""
    text, name = read_text(path)
    return load_documents(text, name)


def load_documents_quick(text: str, file: str) -> list[Document] | None:
    """The same documents without positions, through yaml-rs (YAML 1.2, like the round-trip reader),
    about 20x faster. None when yaml-rs is absent or the text is anything but plain, valid and
    unambiguous: the caller then uses load_documents, which also gives positions."""
    from meshform.yamlio.fast import accelerated

    docs: list[Document] = []
    for count, (_, _, doc_text) in enumerate(split(text)):
        if count == MAX_DOCUMENTS:
            return None  # the positioned reader refuses it, located
        if not doc_text.strip():
            continue
        if "\t" in doc_text:  # yaml-rs reads tabs where ruamel (validate) refuses them
            return None
        data = accelerated(doc_text, dates=True)
        if data is NotImplemented or too_deep(data):
            return None
        docs.append(Document(data, file, len(docs), {}))
    return docs


def _load_located(text: str, file: str) -> list[Document] | None:
    """The documents with positions through meshform.yamlio.located (libyaml), or None when any
    document is not plain: the caller then uses the round-trip reader."""
    from meshform.yamlio.located import read

    if _UNUSUAL.search(text) or "\t" in text:  # libyaml reads tabs where ruamel refuses them
        return None
    docs: list[Document] = []
    for count, (line, sep, doc_text) in enumerate(split(text)):
        if count == MAX_DOCUMENTS or sep.strip() not in ("", "---", "..."):
            return None  # too many (refused located by the round-trip path), or a document on `---`
        if is_blank(doc_text):
            if sep.startswith("---"):  # an empty document, as the round-trip reader has it
                docs.append(Document(None, file, len(docs), {}))
            continue
        found = read(doc_text, line)
        if found is None or too_deep(found[0]):
            return None
        docs.append(Document(found[0], file, len(docs), found[1]))
    return docs


# Characters the round-trip reader refuses or treats specially (controls, NEL, line separators, BOM,
# surrogates, non-characters): text holding any is left to it.
_UNUSUAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
