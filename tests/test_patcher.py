"""The position-based patcher (the comment-preserving engine): its output reads as the round-trip
engine's, every byte outside meshform's keys is kept, and what it cannot place goes to ruamel."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, transform_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_transform_properties import streams

from meshform.modes import MODES
from meshform.yamlio.fast import FastLoader
from meshform.yamlio.patch import CannotPlace, patch
from meshform.yamlio.roundtrip import dump
from meshform.yamlio.streams import FAST, ROUND_TRIP, RUAMEL, load_text

ALL_MODES = list(MODES)
CORPUS = sorted((ROOT / "tests" / "fixtures" / "corpus").glob("*.yaml"))
FIXTURES = ROOT / "tests" / "fixtures" / "patcher"


def data(text: str) -> list[Any]:
    """Every document as Kubernetes reads it (YAML 1.1, the fast engine's reader)."""
    return [d for d in yaml.load_all(text, Loader=FastLoader) if d is not None]


def govern(text: str, mode: str, engine: str = ROUND_TRIP) -> str:
    out, diags = transform_text(text, mode, engine)
    assert not [d for d in diags if d.level == "error" and d.code != "MF404"], diags
    return out


def removed_lines(before: str, after: str) -> list[str]:
    """Lines of `before` that `after` does not keep, in order (a diff's deleted side)."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    return [line for op, i1, i2, _, _ in ops if op in ("delete", "replace") for line in a[i1:i2]]


# -------------------------------------------------------------------------------- styled input


@st.composite
def styled(draw: st.DrawFn) -> str:
    """A generated stream as people write it: comments before documents and after values, another
    indentation, single quotes; the patcher must keep all of it."""
    text = draw(streams())
    indent = draw(st.sampled_from([None, (2, 2), (4, 2), (4, 0)]))
    if indent is not None:
        docs = [d for d in yaml.load_all(text, Loader=FastLoader) if d is not None]
        text = "---\n".join(dump(d, indent) for d in docs)
    lines = []
    for i, line in enumerate(text.splitlines()):
        if draw(st.integers(0, 5)) == 0 and line.strip() and not line.startswith("---"):
            lines.append(" " * (len(line) - len(line.lstrip())) + f"# note {i}")
        if line.endswith(("image: w0:1", "replicas: 2")) and draw(st.booleans()):
            line += "  # pinned"
        lines.append(line)
        opens_block_scalar = re.search(r"[|>][-+]?$", line) is not None
        if (
            draw(st.integers(0, 7)) == 0
            and line.strip()
            and not line.startswith("---")
            and not opens_block_scalar
        ):
            # a comment closing a block: the next key meshform inserts goes after it
            lines.append(" " * (len(line) - len(line.lstrip(" -"))) + f"# after {i}")
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):
        text = text.replace('"true"', "'true'")
    return "# generated stream\n" + text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(styled(), st.sampled_from(ALL_MODES), st.sampled_from(ALL_MODES))
def test_patched_reads_as_the_round_trip_engine_and_keeps_every_other_byte(text: str, a: str, b: str) -> None:
    once = govern(text, a)
    assert data(once) == data(govern(text, a, RUAMEL))
    switched = govern(once, b)
    assert data(switched) == data(govern(once, b, RUAMEL))
    # Governing an ungoverned stream only adds, except a Service port the builtin mode rewires.
    assert [ln for ln in removed_lines(text, once) if "targetPort" not in ln] == []
    assert govern(once, a) == once  # idempotent, byte for byte
    assert govern(switched, a) == once  # A → B → A, byte for byte
    assert govern(once, "kubernetes-native") == text  # un-governed: the input, byte for byte


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(styled(), st.sampled_from(ALL_MODES))
def test_block_style_documents_never_need_the_round_trip_engine(text: str, mode: str) -> None:
    chunks = load_text(text, "in.yaml", ROUND_TRIP)
    from meshform.core.transform import transform
    from meshform.model.config import TransformConfig
    from meshform.modes import DEFAULT

    transform([i for c in chunks for i in c.items], TransformConfig(mode=mode), DEFAULT)
    for chunk in chunks:
        if chunk.changed and not chunk.items[0].dropped:
            patch(chunk.text, chunk.items[0].obj)  # raises CannotPlace if it could not


# -------------------------------------------------------------------------------- golden corpus


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
@pytest.mark.parametrize("mode", ALL_MODES)
def test_corpus_patched_reads_as_round_trip(path: Path, mode: str) -> None:
    text = path.read_text()
    once = govern(text, mode)
    assert data(once) == data(govern(text, mode, RUAMEL))
    assert [ln for ln in text.splitlines() if ln.lstrip().startswith("#")] == [
        ln for ln in once.splitlines() if ln.lstrip().startswith("#") and ln in text.splitlines()
    ]
    for other in ALL_MODES:  # as data: a document with an anchor went through ruamel, which unshares it
        assert data(govern(govern(once, other), mode)) == data(once)


def test_the_golden_output_is_the_input_plus_meshforms_lines() -> None:
    """A hand-written manifest (comments everywhere, 4-space indent, odd quoting, a block scalar):
    the expected output was checked line by line."""
    text = (FIXTURES / "styled.yaml").read_text()
    assert govern(text, "istio") == (FIXTURES / "styled.istio.yaml").read_text()
    builtin = govern(text, "builtin")
    assert data(builtin) == data(govern(text, "builtin", RUAMEL))
    assert govern(builtin, "istio") == (FIXTURES / "styled.istio.yaml").read_text()


# -------------------------------------------------------------------------------- line endings


def test_crlf_stays_crlf_and_every_input_line_is_kept() -> None:
    text = (FIXTURES / "styled.yaml").read_text().replace("\n", "\r\n")
    out = govern(text, "linkerd")
    assert "\n" not in out.replace("\r\n", "")
    assert removed_lines(text, out) == []


# -------------------------------------------------------------------------------- what goes to ruamel

FALLBACK = {
    "flow labels over two lines with a comment": "metadata:\n  labels: {app: web,  # first\n    tier: front}",
    "flow template metadata": "metadata: {labels: {app: web}}",
}


def _workload(template_meta: str) -> str:
    return (
        "# the web tier\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web  # keep\n"
        "spec:\n  template:\n"
        + "".join(f"    {ln}\n" for ln in template_meta.splitlines())
        + "    spec:\n      containers:\n      - name: web\n        image: 'web:1'  # pinned\n"
    )


@pytest.mark.parametrize("meta", FALLBACK.values(), ids=FALLBACK.keys())
def test_what_the_patcher_cannot_place_is_written_by_ruamel_with_comments(meta: str) -> None:
    text = _workload(meta)
    chunk = load_text(text, "in.yaml", ROUND_TRIP)[0]
    new = data(govern(text, "istio", RUAMEL))[0]
    with pytest.raises(CannotPlace, match="flow-style"):
        patch(chunk.text, new)
    out = govern(text, "istio")
    assert data(out) == [new]
    assert "# the web tier" in out and "# keep" in out and "# pinned" in out


def test_an_alias_into_an_edited_mapping_is_not_patched() -> None:
    """Editing the anchored mapping's text would change every alias of it too."""
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
        "spec:\n  selector:\n    matchLabels: &labels\n      app: web\n"
        "  template:\n    metadata:\n      labels: *labels\n"
        "    spec:\n      containers:\n      - name: web\n        image: web:1\n"
    )
    new = data(govern(text, "istio", RUAMEL))[0]
    with pytest.raises(CannotPlace, match="anchor"):
        patch(text, new)
    out = govern(text, "istio")
    assert data(out) == [new]
    assert data(out)[0]["spec"]["selector"]["matchLabels"] == {"app": "web"}


def test_the_fallback_is_said_in_the_debug_log(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MESHFORM_DEBUG", "1")
    govern(_workload(FALLBACK["flow template metadata"]), "istio")
    assert re.search(r"in\.yaml:1: round-trip engine: an edit inside a flow-style", capsys.readouterr().err)


# -------------------------------------------------------------------------------- unit


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        # a key added after its predecessor, at its siblings' indentation, comment lines kept
        ("a:\n    b: 1  # one\n    # tail\nc: 2\n", {"a": {"b": 1, "x": "z"}, "c": 2},
         "a:\n    b: 1  # one\n    x: z\n    # tail\nc: 2\n"),
        # a key added after a block keeps the comment closing that block with the block
        ("a:\n  b:\n    c: 1\n    # closes b\n  # before d\n  d: 2\n", {"a": {"b": {"c": 1}, "x": 1, "d": 2}},
         "a:\n  b:\n    c: 1\n    # closes b\n  x: 1\n  # before d\n  d: 2\n"),
        # a key removed with its own line only
        ("a: 1\nb: 2 # two\nc: 3\n", {"a": 1, "c": 3}, "a: 1\nc: 3\n"),
        # a scalar replaced in place, its quoting chosen by the writer, the comment kept
        ("p: 'http' # port\n", {"p": 15100}, "p: 15100 # port\n"),
        # an item appended to a sequence indented under its key, nested ones indented alike
        ("l:\n  - a: 1\n  # end\n", {"l": [{"a": 1}, {"b": [1, 2]}]},
         "l:\n  - a: 1\n  - b:\n      - 1\n      - 2\n  # end\n"),
        # an empty flow mapping filled as a block
        ("m: {}\nn: 1\n", {"m": {"k": "on"}, "n": 1}, 'm:\n  k: "on"\nn: 1\n'),
        # a key inserted after a block scalar: after its text, or after the line breaks it keeps
        ("s: |\n  x\n\nt: 1\n", {"s": "x\n", "u": 2, "t": 1}, "s: |\n  x\nu: 2\n\nt: 1\n"),
        ("s: |+\n  x\n\nt: 1\n", {"s": "x\n\n", "u": 2, "t": 1}, "s: |+\n  x\n\nu: 2\nt: 1\n"),
        # a flow mapping on one line: entries appended, replaced and removed, spacing kept
        ("m: { a: 1, b: x }  # c\n", {"m": {"a": 1, "b": "x", "k": "on"}},
         'm: { a: 1, b: x, k: "on" }  # c\n'),
        ("m: {a: 1, b: x, c: 2}\n", {"m": {"a": 1, "c": 3}}, "m: {a: 1, c: 3}\n"),
        ("m: {a: 1, b: x}\n", {"m": {"a": 1, "k": "v"}}, "m: {a: 1, k: v}\n"),
        # a flow mapping over several lines: one new entry a line, after the last (its comma kept)
        ("m: {\n  a: 1,\n  b: x\n}\n", {"m": {"a": 1, "b": "x", "k": "on"}},
         'm: {\n  a: 1,\n  b: x,\n  k: "on"\n}\n'),
        ("m: {\n  a: 1,\n  b: x,\n}\n", {"m": {"a": 1, "b": "x", "k": "on"}},
         'm: {\n  a: 1,\n  b: x,\n  k: "on",\n}\n'),
        ('m: {\n  a: 1,\n  k: "on"\n}\n', {"m": {"a": 1}}, "m: {\n  a: 1\n}\n"),
        # booleans and numbers are not each other
        ("b: yes\n", {"b": 1}, "b: 1\n"),
        ("b: yes\n", {"b": True}, "b: yes\n"),
    ],
)  # fmt: skip
def test_patch_edits(before: str, after: dict[str, Any], expected: str) -> None:
    out = patch(before, after)
    assert out == expected
    assert data(out) == [after]


# -------------------------------------------------------------------------------- the KRM function


def _krm(text: str, mode: str) -> str:
    from meshform.frontends import krm
    from meshform.modes import DEFAULT

    text = re.sub(r"data: \{mode: [a-z-]+\}", f"data: {{mode: {mode}}}", text)
    out, diags = krm.run(text, DEFAULT)
    assert not [d for d in diags if d.level == "error"], diags
    return out


@pytest.mark.parametrize("mode", ALL_MODES)
def test_the_krm_function_patches_items_in_every_mode(mode: str) -> None:
    """A mode that adds objects (builtin's ConfigMap) inserts items beside the edited ones: the
    edited items keep their comments, quoting and indentation."""
    text = (FIXTURES / "resource-list.yaml").read_text()
    once = _krm(text, mode)
    # Only the mode and the flow labels meshform adds to (in place, on their line) change.
    assert [ln for ln in removed_lines(text, once) if "mode:" not in ln and "labels: {" not in ln] == []
    assert all(comment in once for comment in re.findall(r"#.*", text))
    other = "builtin" if mode != "builtin" else "istio"
    assert _krm(_krm(once, other), mode) == once  # A → B → A, byte for byte


# -------------------------------------------------------------------------------- keys the user left empty

EMPTY_KEYS = {
    "annotations": "    metadata:\n      labels: {app: web}\n      annotations: # empty with comment\n",
    "metadata": "    metadata: # nothing here\n",
    "labels": "    metadata:\n      labels:   # none yet\n",
    "volumes": "    metadata:\n      labels: {app: web}\n",  # `volumes:` below, empty
}


@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize("case", EMPTY_KEYS, ids=list(EMPTY_KEYS))
def test_a_key_the_user_left_empty_keeps_its_line_and_comment(case: str, mode: str) -> None:
    """`annotations: # why` is the user's key: meshform fills it (the comment stays on its line) and
    switching back gives it back empty, byte for byte."""
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n"
        + EMPTY_KEYS[case]
        + "    spec:\n      containers:\n      - name: c\n        image: b\n"
        + ("      volumes: # none\n" if case == "volumes" else "")
    )
    once = govern(text, mode)
    assert data(once) == data(govern(text, mode, RUAMEL))
    assert all(line in once.splitlines() for line in text.splitlines() if "#" in line)
    assert govern(once, "kubernetes-native") == text
    other = "builtin" if mode != "builtin" else "linkerd"
    assert govern(govern(once, other), mode) == once


# -------------------------------------------------------------------------------- no final line break


def _in_place(path: Path, mode: str) -> None:
    from meshform.frontends.pipeline import govern_sources
    from meshform.model.config import TransformConfig
    from meshform.modes import DEFAULT

    outcome = govern_sources([str(path)], TransformConfig(mode=mode), DEFAULT, ROUND_TRIP)
    assert outcome.ok, outcome.diagnostics
    if any(c.changed for c in outcome.chunks_by_file[str(path)]):
        path.write_text(outcome.file_text(str(path), ROUND_TRIP), newline="")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(styled(), st.sampled_from(ALL_MODES), st.sampled_from(["\n", "\r\n"]))
def test_a_file_without_a_final_line_break_keeps_none(text: str, mode: str, newline: str) -> None:
    """--in-place writes a file that ended without a line break (its last line meshform's or not)
    without one, and switching back gives the file back byte for byte."""
    import tempfile

    text = text.rstrip("\n").replace("\n", newline)
    with tempfile.TemporaryDirectory() as top:
        path = Path(top) / "in.yaml"
        path.write_text(text, newline="")
        _in_place(path, mode)
        once = path.read_bytes().decode()
        assert not once.endswith("\n")
        _in_place(path, "kubernetes-native")
        assert path.read_bytes().decode() == text


# -------------------------------------------------------------------------------- aliases outside the edit

ALIASED = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: anch\n  labels: &l\n    app: anch  # shared\n"
    "spec:\n  selector:\n    matchLabels: *l\n  template:\n    metadata:\n      labels:\n        <<: *l\n"
    "        extra: x\n    spec:\n      containers:\n      - name: c\n        image: busybox\n"
)


@pytest.mark.parametrize("mode", ALL_MODES)
def test_an_alias_meshform_does_not_change_stays_an_alias(mode: str) -> None:
    """The fallback (a merge key) unshares aliases to edit one of them; an alias the edit did not
    reach is written back as the alias it was, and switching back gives the input byte for byte."""
    from meshform.yamlio.streams import FAST

    once = govern(ALIASED, mode)
    assert "    matchLabels: *l\n" in once and "  labels: &l\n" in once
    assert data(once) == data(govern(ALIASED, mode, FAST))
    assert govern(once, "kubernetes-native") == ALIASED


# -------------------------------------------------------------------------------- directives

DIRECTIVES = {
    "yaml 1.1": "%YAML 1.1\n---\n",
    "yaml 1.2 with a comment": "# generated\n%YAML 1.2\n---\n",
    "second document, after ...": "kind: ConfigMap\nmetadata: {name: cm}\n...\n%YAML 1.1\n---\n",
    "tag directive": "%TAG !k! tag:kubernetes.io,2024:\n---\n",
}


@pytest.mark.parametrize("engine", [FAST, ROUND_TRIP, RUAMEL])
@pytest.mark.parametrize("head", DIRECTIVES.values(), ids=list(DIRECTIVES))
def test_a_document_with_directives_is_read_by_every_engine(head: str, engine: str) -> None:
    """`%YAML`/`%TAG` lines and their `---` open the document that follows (the splitter used to
    cut them off into a document of their own, which no engine could read)."""
    from meshform.yamlio.split import split

    text = head + _workload("metadata:\n  labels: {app: web}")
    assert "".join(sep + doc for _, sep, doc in split(text)) == text
    out = govern(text, "istio", engine)
    assert data(out)[-1]["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"
    if engine == ROUND_TRIP:  # the comment-preserving engine keeps them; the others write new text
        assert out.startswith(head)
        assert govern(out, "kubernetes-native") == text
