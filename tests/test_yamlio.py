"""The YAML layer: what meshform writes reads back identical under YAML 1.1 and 1.2; hostile input
gets a located, coded error quickly."""

from __future__ import annotations

import io
import string
from typing import Any

import pytest
import yaml
from conftest import subclassed
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from meshform.diagnostics import MeshformError
from meshform.yamlio.reader import decode, load_documents
from meshform.yamlio.writer import dump_document, dump_stream


def read_11(text: str) -> object:
    return yaml.safe_load(text)  # PyYAML resolves YAML 1.1 like Kubernetes' go-yaml


def read_12(text: str) -> object:
    return YAML(typ="safe", pure=True).load(io.StringIO(text))


TRAPS = [
    "on",
    "y",
    "Y",
    "n",
    "NO",
    "yes",
    "Off",
    "0777",
    "08",
    "0o17",
    "0x1F",
    "1:30",
    "1e3",
    ".inf",
    "-.inf",
    ".NaN",
    "~",
    "null",
    "",
    " ",
    "2024-01-01",
    "2024-01-01T10:00:00Z",
    "=",
    "<<",
    "1_000",
    "+1",
    "-1",
    "3.",
    ".5",
    "true",
    "False",
    "- x",
    "a: b",
    "a #b",
    "#c",
    "*a",
    "&a",
    "!!str",
    "!tag",
    "@x",
    "`x",
    "|",
    ">",
    "%x",
    "{a}",
    "[a]",
    "a,b",
    "'q'",
    '"q"',
    "x\ny",
    "x\n",
    "\tx",
    "x\u0085y",
    "x\u2028y",
    "x\u2029y",
    "é",
    "💥",
    "\x00",
    "\x7f",
    "\x9f",
    "---",
    "...",
    "key:",
    "? x",
    "-",
    "ends ",
    " starts",
    "multi\n\nlines\n",
]


@pytest.mark.parametrize("value", TRAPS, ids=[repr(t) for t in TRAPS])
def test_trap_strings_survive_as_values_and_keys(value: str) -> None:
    doc = {"v": value, "list": [value], value or "empty": "k", "nested": {"x": [{"y": value}]}}
    text = dump_document(doc)
    assert read_11(text) == doc
    assert read_12(text) == doc


SCALARS = st.one_of(
    st.text(),
    st.text(alphabet=string.printable),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.sampled_from(TRAPS),
)
KEYS = st.one_of(st.text(min_size=1), st.sampled_from(TRAPS[:30]))
DOCS = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(KEYS, DOCS, min_size=1, max_size=4))
def test_anything_written_reads_back_equal_under_yaml_11_and_12(doc: dict[str, object]) -> None:
    text = dump_document(doc)
    assert read_11(text) == doc
    assert read_12(text) == doc


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, DOCS, min_size=1, max_size=4))
def test_subclasses_are_written_as_their_plain_types(doc: dict[str, object]) -> None:
    """The writer's exact-type fast paths (str, dict, list, int) and its general path for subclasses
    (the round-trip engine's mappings, PlainStr's relatives) write the same text."""
    assert dump_document(subclassed(doc)) == dump_document(doc)
    assert dump_document(subclassed([doc, doc])) == dump_document([doc, doc])


def test_stream_is_kubectl_styled() -> None:
    text = dump_stream([{"a": {"b": [1, {"c": "d", "e": []}]}}, {"x": {}}])
    assert text == "a:\n  b:\n  - 1\n  - c: d\n    e: []\n---\nx: {}\n"


def _error(text: str | bytes) -> MeshformError:
    with pytest.raises(MeshformError) as info:
        data = decode(text, "in.yaml") if isinstance(text, bytes) else text
        load_documents(data, "in.yaml")
    return info.value


def test_alias_bomb_is_refused_with_a_code() -> None:
    levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        levels.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    err = _error("\n".join(levels))
    assert err.diagnostics[0].code == "MF004"


def test_deep_nesting_is_refused_with_a_code() -> None:
    assert _error("[" * 10_000 + "]" * 10_000).diagnostics[0].code in ("MF004", "MF002")
    assert _error("a:\n" + "".join("  " * i + "b:\n" for i in range(1, 150))).diagnostics[0].code == "MF004"


@pytest.mark.parametrize(
    ("raw", "code", "line"),
    [
        (b"a: 1\nb: \xff\n", "MF005", 2),
        (b"\xff\xfea\x00:\x00", "MF005", 1),
        (b"a: 1\nb: x\x00y\n", "MF005", 2),
        (b"a: 1\nb: \xc2\x85\xc2\x90\n", "MF005", 2),
        (b"a:\n\tb: 1\n", "MF002", 2),
        (b"a: 1\na: 2\n", "MF003", 2),
    ],
    ids=["invalid-utf8", "utf16-bom", "nul", "c1-control", "tab-indent", "duplicate-key"],
)
def test_bad_bytes_are_located(raw: bytes, code: str, line: int) -> None:
    diag = _error(raw).diagnostics[0]
    assert (diag.code, diag.line) == (code, line)
    assert diag.col >= 1


def test_python_tags_are_never_executed() -> None:
    err = _error("a: !!python/object/apply:os.system ['echo pwned']\n")
    assert err.diagnostics[0].code == "MF007"  # refused before any constructor sees it


# Issue 9 review: the engines split on YAML 1.1's value/merge keys used as values and on 1.1 boolean keys.
@pytest.mark.parametrize("engine", ["fast", "round-trip"])
def test_value_and_merge_scalars_and_yaml11_boolean_keys_read_alike_on_every_engine(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshform.diagnostics import MeshformError as _Error
    from meshform.yamlio.streams import load_text as _load

    monkeypatch.setenv("MESHFORM_YAML_ENGINE", "pyyaml")
    assert _load("env: [{name: SEP, value: =}]\n", "f", engine)[0].data == {
        "env": [{"name": "SEP", "value": "="}]
    }
    assert _load("extra: <<\n", "f", engine)[0].data == {"extra": "<<"}
    for text, code, where in [
        ("a: 1\nextra: !!merge x\n", "MF007", (2, 8)),
        ("a: {on: x, yes: y}\n", "MF003", (1, 12)),
        ("a:\n  on: x\n  true: y\n", "MF003", (3, 3)),
    ]:
        with pytest.raises(_Error) as caught:
            _load(text, "f", engine)
        diag = caught.value.diagnostics[0]
        assert (diag.code, diag.line, diag.col) == (code, *where), text


def test_the_positioned_reader_resolves_scalars_with_ruamels_own_yaml_1_2_table() -> None:
    """located._YAML12 is written out (importing ruamel for it costs every config read ~8 ms): it must
    stay ruamel's table, entry by entry and in order, so both readers read every plain scalar alike."""
    from ruamel.yaml.resolver import VersionedResolver

    from meshform.yamlio import located

    def shape(table: Any) -> dict[Any, list[tuple[str, str, int]]]:
        return {k: [(str(tag), rx.pattern, rx.flags) for tag, rx in v] for k, v in table.items()}

    assert shape(located._implicit()) == shape(VersionedResolver(version=(1, 2)).versioned_resolver)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(['"', "\\", "a", " ", "\n", "\t", "\x85", "\u2028", "é", "{", ":"])))
def test_double_quoting_by_replace_is_the_escape_table(text: str) -> None:
    """The writer escapes a string that has only quotes and backslashes to escape with str.replace
    (JSON in an annotation is most of them): the same text as its per-character escape table, and
    read back as the string by YAML 1.1 and 1.2."""
    from meshform.yamlio import writer

    quoted = writer._double_quoted(text)
    assert quoted == '"' + writer._NEEDS_ESCAPE.sub(writer._escape, text) + '"'
    assert yaml.safe_load("k: " + quoted)["k"] == text
