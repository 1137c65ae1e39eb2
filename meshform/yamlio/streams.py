"""Manifest streams: read files, directories or stdin into documents and objects; write them back.

Each input document keeps its original text. A document meshform did not change is written back as
that text, byte for byte, so its comments and formatting survive by construction and it costs nothing
to emit. Changed documents are re-emitted by the engine in use: the fast one (no comments) or the
comment-preserving one where the output goes back to a person's files: the position-based patcher
(`patch`) writes meshform's edits into the document's own text, and a document it cannot place an
edit in exactly is written whole by ruamel's round-trip engine (`roundtrip`), comments kept too.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meshform.diagnostics import Diagnostic, Level, MeshformError
from meshform.objects import Item
from meshform.yamlio.limits import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    MAX_DOCUMENTS,
    deep_position,
    depth_message,
    too_deep,
)
from meshform.yamlio.limits import may_nest_deeper as _may_nest_deeper
from meshform.yamlio.reader import read_text, reshare, unshare
from meshform.yamlio.split import is_blank, opens_with_separator, split
from meshform.yamlio.tags import may_have_tags, refuse_tags
from meshform.yamlio.writer import dump_document

# The engines: FAST (our emitter; a changed document loses its inner comments), ROUND_TRIP (comments,
# quoting, key order and indentation kept: the patcher, with ruamel per document where it cannot place
# an edit), and RUAMEL (every changed document through ruamel: the reference ROUND_TRIP is tested
# against). FAST and ROUND_TRIP read alike; only their writing differs.
FAST, ROUND_TRIP, RUAMEL = "fast", "round-trip", "ruamel"
WRAPPERS = ("List", "ResourceList")
EXTENSIONS = (".yaml", ".yml", ".json")


@dataclass
class Chunk:
    """One document of the input: its text, its data, the objects in it."""

    file: str
    line: int
    text: str
    data: Any
    items: list[Item] = field(default_factory=list)
    wrapper: bool = False  # a List (or ResourceList) whose items are the objects
    indent: tuple[int, int] = (2, 0)  # round-trip engine: the author's indentation, kept on re-emit
    sep: str = ""  # the separator line that preceded this document in its file
    newline: str = "\n"  # the file's line ending ("\r\n" when every line ends so): written back so
    read_by_rs: bool = False  # yaml-rs read it as Kubernetes does: it may read the text again alone

    @property
    def changed(self) -> bool:
        return any(i.changed or i.dropped or i.added for i in self.items)


def _fail(file: str, line: int, col: int, code: str, message: str) -> MeshformError:
    return MeshformError([Diagnostic(file, line, col, Level.ERROR, code, message)])


def _parse(text: str, file: str, line: int, engine: str) -> tuple[Any, tuple[int, int], bool]:
    """The document's data, its indentation (RUAMEL) and whether yaml-rs read it."""
    by_rs = False
    if engine == RUAMEL:
        from meshform.yamlio.roundtrip import load

        data, indent = load(text, file, line)
    else:
        (data, by_rs), indent = _parse_fast(text, file, line), (2, 0)
    if "&" in text and "*" in text:
        _bound_aliases(data, text, file, line)
        unshare(data)
    elif _may_nest_deeper(text) and too_deep(data):
        # Deeper than any manifest needs, and every later walk (writer, copies) would recurse.
        raise _too_deep_error(text, file, line)
    return data, indent, by_rs


def _too_deep_error(text: str, file: str, line: int) -> MeshformError:
    where = deep_position(text) or (1, 1)
    return _fail(file, line + where[0] - 1, where[1], "MF004", depth_message())


def _parse_fast(text: str, file: str, line: int) -> tuple[Any, bool]:
    import yaml

    from meshform.yamlio import fast

    if "\t" in text:  # yaml-rs and libyaml read tabs where ruamel, the reference reader, refuses them
        from meshform.yamlio.roundtrip import load

        load(text, file, line)  # its located error, or nothing: every engine accepts the same inputs
    if may_have_tags(text):  # refuse the tags readers disagree about (yaml-rs would drop them)
        refuse_tags(text, file, line)
    data = fast.accelerated(text)
    if data is not NotImplemented:
        return data, True
    try:
        return fast.load(text), False
    except fast.DuplicateKey as exc:
        raise _fail(file, line + exc.line - 1, exc.col, "MF003", f"duplicate key: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (line + mark.line, mark.column + 1) if mark else (line, 1)
        problem = _problem(exc, text)
        if "maximum nesting depth" in problem:  # libyaml's own bound, 1,000 levels
            raise _fail(file, *where, "MF004", depth_message()) from None
        raise _fail(file, *where, "MF002", problem) from None
    except yaml.YAMLError as exc:
        raise _fail(
            file, line, 1, "MF005" if "special characters" in str(exc) else "MF002", str(exc).splitlines()[0]
        ) from None
    except RecursionError:
        raise _fail(file, line, 1, "MF004", depth_message()) from None


def _problem(exc: Any, text: str) -> str:
    """libyaml's words for a problem, in the round-trip reader's words where they are unclear."""
    if "duplicate anchor" in str(exc.context):  # libyaml says "second occurrence", and no name
        from meshform.yamlio.disagreements import duplicate_anchor_problem

        mark = exc.problem_mark
        return duplicate_anchor_problem(text.splitlines()[mark.line], mark.column)
    return str(exc.problem or exc).strip()


def _bound_aliases(data: Any, text: str, file: str, line: int) -> None:
    """Anchors are shared objects after loading: count the nodes a walk reaches again through an
    alias (as the positioned reader does), so the walk costs at most the document plus the limit."""
    seen: set[int] = set()
    expanded = 0
    stack = [(data, 0, False)]
    while stack:
        node, depth, aliased = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep_error(text, file, line)
        if isinstance(node, dict | list):
            aliased = aliased or id(node) in seen
            seen.add(id(node))
        if aliased:
            expanded += 1
            if expanded > MAX_ALIAS_NODES:
                raise _fail(file, line, 1, "MF004", f"aliases expand to more than {MAX_ALIAS_NODES} nodes")
        if isinstance(node, dict):
            stack.extend((v, depth + 1, aliased) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1, aliased) for v in node)


def _is_wrapper(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("items"), list)
        and str(data.get("kind", "")).endswith(WRAPPERS)
        and "apiVersion" in data
    )


def _refuse_odd_items(chunk: Chunk) -> None:
    """Every item of a List must be an object: a string, null or number item has nowhere to go when the
    List is written again (or to one file per object), and a List inside the List would hide its
    workloads from governance and from `check`. Refused, located, rather than dropped or rewritten."""
    items = chunk.data["items"]
    odd = [i for i, item in enumerate(items) if not isinstance(item, dict) or _is_wrapper(item)]
    if not odd:
        return
    positions = _item_positions(chunk)
    diags = []
    for i in odd:
        what = f"itself a {items[i]['kind']}" if isinstance(items[i], dict) else _item_in_words(items[i])
        line, col = positions(i)
        message = (
            f"item {i + 1} of this {chunk.data['kind']} is {what}, not a Kubernetes object; "
            "meshform would have to drop or rewrite it"
        )
        diags.append(Diagnostic(chunk.file, line, col, Level.ERROR, "MF008", message))
    raise MeshformError(diags)


def _item_in_words(value: Any) -> str:
    """A scalar or list item in words, the same whichever engine read it (the round-trip engine's
    ScalarBoolean is an int, its ScalarFloat a float)."""
    if value is None:
        return "null"
    if isinstance(value, bool) or type(value).__name__ == "ScalarBoolean":
        return f"the bool {bool(value)}"
    for kind in (int, float):
        if isinstance(value, kind):
            return f"the {kind.__name__} {kind(value)!r}"
    if isinstance(value, str):
        return f"the string {str(value)[:40]!r}"
    return "a list" if isinstance(value, list) else f"a {type(value).__name__}"


def _item_positions(chunk: Chunk) -> Callable[[int], tuple[int, int]]:
    """Where each item starts, from the round-trip nodes' positions; the fast engine keeps none, so the
    document is read again (an error path only)."""
    from meshform.yamlio.reader import load_round_trip

    items = chunk.data["items"]
    if not hasattr(items, "lc"):
        try:
            items = load_round_trip(chunk.text, chunk.file)[0]["items"]
        except (MeshformError, LookupError, TypeError):
            return lambda _: (chunk.line, 1)

    def position(index: int) -> tuple[int, int]:
        line, col = items.lc.item(index)
        return chunk.line + line, col + 1

    return position


_KIND = re.compile(r"^kind:[ \t]*[\"']?([A-Za-z0-9]+)", re.MULTILINE)
# Text that marks a document meshform wrote or wrote into: its status annotation, the builtin mode's
# ConfigMap, and every object meshform emits (labelled managed-by: meshform), among them the policy
# objects a status record lists, which switching mode must find to drop.
_OURS = ("meshform.dev/", "-meshform-envoy", "app.kubernetes.io/managed-by: meshform")


def wanted(kinds: frozenset[str] | None, text: str, markers: tuple[str, ...] = ()) -> bool | None:
    """Must this document be parsed into data? Yes for the kinds asked for, for anything whose kind
    cannot be seen at a glance (flow style, JSON, Lists), for anything meshform wrote into or that
    mentions one of `markers`; every other document passes through as its own text. None: yaml-rs
    cannot say (absent, or the text is one it might read differently): the caller parses the document
    with the reference reader and decides by the kind it reads (_kind_wanted), so every engine passes
    through, and refuses, the same documents.

    The glance (a `kind:` line) only decides quickly that a document is wanted: one it says is not
    wanted is read by yaml-rs before it passes, since the line can lie (`kind: "Deploy\x6dent"`, a
    second `kind:`, a `kind:` line inside a multi-line scalar) and a workload must never pass ungoverned."""
    if kinds is None:
        return True
    found = _KIND.search(text)
    if found is None or found.group(1) in kinds or found.group(1).endswith(WRAPPERS):
        return True
    if any(marker in text for marker in (*_OURS, *markers)):
        return True
    from meshform.yamlio.fast import kind_of

    kind = kind_of(text)
    return None if kind is NotImplemented else _kind_wanted(kinds, kind)


def _kind_wanted(kinds: frozenset[str], kind: object) -> bool:
    return not isinstance(kind, str) or kind in kinds or kind.endswith(WRAPPERS)


def line_ending(text: str) -> str:
    """ "\r\n" when every line break of the text is CRLF (a Windows-edited file), else "\n"."""
    return "\r\n" if "\r\n" in text and text.count("\n") == text.count("\r\n") else "\n"


def load_text(
    text: str,
    file: str,
    engine: str = FAST,
    kinds: frozenset[str] | None = None,
    markers: tuple[str, ...] = (),
) -> list[Chunk]:
    """Documents of a stream; with `kinds`, only those kinds (and meshform's own, and documents that
    mention one of `markers`) are parsed."""
    chunks: list[Chunk] = []
    newline = line_ending(text)
    if newline != "\n":  # work in "\n"; emit_file puts the file's own line ending back
        text = text.replace(newline, "\n")
    for line, sep, doc_text in split(text):
        if len(chunks) == MAX_DOCUMENTS:
            raise _fail(file, line, 1, "MF004", f"more than {MAX_DOCUMENTS} documents in one input")
        verdict = None if is_blank(doc_text) else wanted(kinds, doc_text, markers)
        if verdict is False or is_blank(doc_text):
            chunks.append(Chunk(file, line, doc_text, None, sep=sep, newline=newline))
            continue
        data, indent, by_rs = _parse(doc_text, file, line, engine)
        unasked = kinds is not None and isinstance(data, dict) and not _kind_wanted(kinds, data.get("kind"))
        if verdict is None and unasked:  # read by the reference reader: well-formed, of no kind asked for
            chunks.append(Chunk(file, line, doc_text, None, sep=sep, newline=newline))
            continue
        if isinstance(data, list):  # objects inside it would pass ungoverned: no reader takes it as objects
            raise _fail(
                file,
                line,
                1,
                "MF008",
                "this document is a YAML sequence; a document must be one Kubernetes object, or a List "
                "with the objects under items",
            )
        chunk = Chunk(
            file,
            line,
            doc_text,
            data,
            wrapper=_is_wrapper(data),
            indent=indent,
            sep=sep,
            newline=newline,
            read_by_rs=by_rs,
        )
        if chunk.wrapper:
            _refuse_odd_items(chunk)
        objects = data["items"] if chunk.wrapper else [data]
        parent = data if chunk.wrapper else None
        chunk.items = [
            Item(obj, file, line, doc_text, i if chunk.wrapper else -1, parent=parent)
            for i, obj in enumerate(objects)
            if isinstance(obj, dict)
        ]
        chunks.append(chunk)
    return chunks


def expand_paths(paths: list[str]) -> tuple[list[str], list[Diagnostic]]:
    """Files as given; directories walked recursively for YAML/JSON files, in sorted order.

    A walk stays inside its directory: a symlink resolving outside it is an error (MF712; a PR adding
    `k8s/x.yaml -> ~/.kube/config` must not be read, or rewritten by --in-place), a FIFO, socket or
    device is skipped with a warning (MF711; opening a FIFO blocks), and a file reached twice (a link
    to a sibling) is read once. A path given directly must be a regular file, a directory, `-`, or a
    shell's stream (`<(helm template ...)`, /dev/stdin): a named FIFO or a device is MF710. A path that
    does not exist is left for the reader to report (MF001)."""
    out: list[str] = []
    diags: list[Diagnostic] = []
    for path in paths:
        kind = _kind(path)
        if kind == "dir":
            _walk(path, out, diags)
        elif kind == "special":
            diags.append(_found(path, Level.ERROR, "MF710", f"{_describe(path)}, not a regular file"))
        else:
            out.append(path)
    return out, diags


def _kind(path: str) -> str:
    if path == "-":
        return "file"
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "file"  # missing or unreadable: the reader says so, located
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode) or not os.path.lexists(os.path.realpath(path)):
        return "file"  # a regular file, or an anonymous pipe the shell handed over as /dev/fd/N
    return "special"


def _describe(path: str) -> str:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "a dangling symlink"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file"


def _found(path: str, level: Level, code: str, message: str) -> Diagnostic:
    return Diagnostic(path, 0, 0, level, code, message)


def _walk(top: str, out: list[str], diags: list[Diagnostic]) -> None:
    root = os.path.realpath(top)
    seen: set[str] = set()
    for here, dirs, files in os.walk(top):  # symlinked directories are listed, never entered
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # .git, .github: not manifests
        for name in sorted(files):
            if not name.endswith(EXTENSIONS) or name[0] == ".":
                continue
            path = os.path.join(here, name)
            real = os.path.realpath(path)
            if os.path.commonpath([real, root]) != root:
                diags.append(
                    _found(path, Level.ERROR, "MF712", f"symlink leads outside {top} (to {real}); not read")
                )
            elif _kind(path) != "file" or not os.path.exists(path):
                diags.append(_found(path, Level.WARNING, "MF711", f"skipped: {_describe(path)}"))
            elif real not in seen:
                seen.add(real)
                out.append(path)


def read_source(
    path: str, engine: str = FAST, kinds: frozenset[str] | None = None, markers: tuple[str, ...] = ()
) -> list[Chunk]:
    text, name = read_text(path)
    return load_text(text, name, engine, kinds, markers)


def original_text(chunks: list[Chunk]) -> str:
    """A file's text as it was read (line endings included): its chunks joined back."""
    return _own_line_ending("".join(c.sep + c.text for c in chunks), chunks)


# ------------------------------------------------------------------------------------------- writing


def _dump(data: Any, engine: str, indent: tuple[int, int]) -> str:
    if engine in (ROUND_TRIP, RUAMEL):
        from meshform.yamlio.roundtrip import dump

        return dump(data, indent)
    return dump_document(data)


def objects_of(chunk: Chunk) -> list[Any]:
    out = []
    for item in chunk.items:
        if not item.dropped:
            out.append(item.obj)
        out += item.added
    return out


def leading_comments(text: str) -> str:
    """The comment block a document starts with (blank lines kept), or "" when it starts otherwise."""
    end = 0
    while end < len(text):  # line by line, only as far as the block goes
        stop = text.find("\n", end) + 1 or len(text)
        stripped = text[end:stop].strip()
        if stripped and not stripped.startswith("#"):
            break
        end = stop
    return text[:end] if "#" in text[:end] else ""


def emit_chunk(chunk: Chunk, engine: str) -> list[str]:
    """The documents this chunk becomes (text without separators). A changed document keeps the
    comment block it started with: tools read it (Helm 3 finds each template's output by its
    `# Source:` line). The round-trip engine keeps it by itself; the fast one is given it back."""
    if not chunk.changed:
        return [chunk.text]
    if engine == ROUND_TRIP:
        return _patched(chunk)
    if chunk.wrapper:
        chunk.data["items"] = objects_of(chunk)
        docs = [_dump(chunk.data, engine, chunk.indent)]
    else:
        docs = [_dump(obj, engine, chunk.indent) for obj in objects_of(chunk)]
    if engine == FAST and docs:
        docs[0] = leading_comments(chunk.text) + docs[0]
    return docs


def object_texts(chunk: Chunk, engine: str) -> list[tuple[Any, str]]:
    """Each object of a parsed chunk with the text it has as a document of its own: an unchanged
    document as it was written (comments and all), anything else as the engine writes it. The
    items of a List come one by one. Nothing for a document that holds no data."""
    if chunk.data is None:
        return []
    if chunk.wrapper and engine == ROUND_TRIP:  # each item with its own comments: ruamel's nodes
        chunk.data["items"] = objects_of(chunk)
        data, indent = _ruamel_data(chunk, chunk.data)
        return list(zip(chunk.data["items"], (_dump(i, RUAMEL, indent) for i in data["items"]), strict=True))
    if chunk.wrapper:
        return [(obj, _dump(obj, engine, chunk.indent)) for obj in objects_of(chunk)]
    if not chunk.changed:
        return [(chunk.data, chunk.text)]
    return list(zip(objects_of(chunk), emit_chunk(chunk, engine), strict=True))


def _patched(chunk: Chunk) -> list[str]:
    """A changed chunk's documents on the comment-preserving engine: the document patched to its new
    data, then any objects meshform added after it (written in the document's own indentation)."""
    if chunk.wrapper:
        chunk.data["items"] = objects_of(chunk)
        return [rewritten(chunk, chunk.data)]
    objects = objects_of(chunk)
    kept = bool(chunk.items) and not chunk.items[0].dropped
    docs = [rewritten(chunk, objects[0])] if kept else []
    added = objects[1:] if kept else objects
    if added:
        from meshform.yamlio.patch import Indentation, block

        indent = Indentation(chunk.text)
        docs += ["".join(f"{ln}\n" for ln in block(obj, 0, indent)) if obj else "{}\n" for obj in added]
        if not kept:
            docs[0] = leading_comments(chunk.text) + docs[0]
    return docs


def rewritten(chunk: Chunk, new: Any) -> str:
    """The chunk's document, comments and all, changed to read as `new` (a mapping): patched where the
    patcher can place every edit, else written by the round-trip engine. MESHFORM_DEBUG=1 says which."""
    from meshform.yamlio.patch import CannotPlace, patch

    try:
        return patch(chunk.text, new, _read_again(chunk))
    except CannotPlace as exc:
        if os.environ.get("MESHFORM_DEBUG"):
            import sys

            sys.stderr.write(f"meshform: debug: {chunk.file}:{chunk.line}: round-trip engine: {exc}\n")
    data, indent = _ruamel_data(chunk, new)
    return _dump(data, RUAMEL, indent)


def _read_again(chunk: Chunk) -> Any:
    """The document's text as the engine read it before meshform changed the data: yaml-rs alone when
    it was the reader (it read the text as Kubernetes does, so it does again), else the patcher reads
    it from its own nodes."""
    from meshform.yamlio.fast import reread

    return reread(chunk.text) if chunk.read_by_rs else None


def _ruamel_data(chunk: Chunk, new: Any) -> tuple[Any, tuple[int, int]]:
    """The document read by the round-trip engine, its nodes changed to read as `new`."""
    from meshform.yamlio.roundtrip import graft, load

    data, indent = load(chunk.text, chunk.file, chunk.line)
    if not ("&" in chunk.text and "*" in chunk.text):
        return graft(data, new), indent
    copies: list[tuple[Any, Any, Any]] = []
    unshare(
        data, copies=copies
    )  # as on reading: an alias is a copy, so a change to one is not a change to all
    data = graft(data, new)
    reshare(copies)  # ... and an alias the change did not reach is written as the alias it was
    return data, indent


def emit_file(chunks: list[Chunk], engine: str) -> str:
    """One file's new text: unchanged documents and separators exactly as they were, in the file's
    own line ending."""
    out = []
    for chunk in chunks:
        if not chunk.changed:
            out.append(chunk.sep + chunk.text)
            continue
        docs = [d if d.endswith("\n") else d + "\n" for d in emit_chunk(chunk, engine)]
        if docs:
            # A document that began on its own `---` line (its sep is "") still needs the separator.
            lead = chunk.sep or ("---\n" if opens_with_separator(chunk.text) else "")
            if lead.startswith("...") and not docs[0].startswith(("%", "---")):
                lead += "---\n"  # its `%YAML` line and `---` were the document's own, written anew
            out.append(lead + "---\n".join(docs))
    text = "".join(out)
    if chunks and chunks[-1].text and not chunks[-1].text.endswith("\n"):
        text = text.removesuffix("\n")  # a file that had no final line break gets none
    return _own_line_ending(text, chunks)


def _own_line_ending(text: str, chunks: list[Chunk]) -> str:
    newline = chunks[0].newline if chunks else "\n"
    return text if newline == "\n" else text.replace("\n", newline)


def emit(chunks: list[Chunk], engine: str = FAST) -> str:
    """A stream of every document, files one after another, separated by `---`."""
    by_file: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        by_file.setdefault(chunk.file, []).append(chunk)
    parts = []
    for file_chunks in by_file.values():
        text = emit_file(file_chunks, engine)
        if text.strip():
            parts.append(text if text.endswith("\n") else text + "\n")
    return "".join(p if i == 0 or p.startswith("---") else "---\n" + p for i, p in enumerate(parts))
