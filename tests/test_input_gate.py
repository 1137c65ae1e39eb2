"""The bytes → text gate (issue 9, kind 1): every reader path refuses the same encodings and characters
with the same located MF005, and `render` accepts exactly what `validate` accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, invoke, run_cli
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_transform_properties import streams

from bench.corpus import application
from meshform.yamlio.fast import load as fast_load
from meshform.yamlio.split import split
from meshform.yamlio.writer import dump_document

FIXTURES = ROOT / "tests" / "fixtures" / "readers"
NUL_IN_COMMENT = FIXTURES / "nul-in-comment.yaml"
NUL_IN_APP = FIXTURES / "nul-in-app.yaml"

# Every way manifests get into meshform, as (arguments, is the file given on stdin).
MANIFEST_PATHS = [
    (("transform", "{file}", "--mode", "istio"), False),
    (("transform", "-", "--mode", "istio"), True),
    (("transform", "{file}", "--mode", "istio", "--preserve-comments"), False),
    (("transform", "{file}", "--mode", "builtin", "--diff"), False),
    (("helm-postrender", "--mode", "linkerd"), True),
    (("check", "{file}", "--mode", "istio"), False),
]
APP_PATHS = [
    (("validate", "{file}"), False),
    (("render", "{file}"), False),
    (("render", "-"), True),
    (("render", "{file}", "--mode", "builtin", "--enrollment", "sidecar"), False),
]
ENGINES = [{}, {"MESHFORM_YAML_ENGINE": "pyyaml"}]  # yaml-rs, or libyaml alone


def _run_all(paths: list[tuple[tuple[str, ...], bool]], file: Path) -> list[tuple[int, str, str]]:
    """(exit code, stdout, first diagnostic line) of every path, with each fast reader. Diagnostics of
    stdin name `<stdin>`; they are shown under the file's name so that all lines compare."""
    raw, out = file.read_bytes(), []
    for args, on_stdin in paths:
        for env in ENGINES:
            argv = [a.replace("{file}", str(file)) for a in args]
            code, stdout, stderr = invoke(*argv, stdin=raw if on_stdin else b"", env=env)
            first = stderr.splitlines()[0] if stderr else ""
            out.append((code, stdout, first.replace("<stdin>", str(file), 1)))
    return out


def _failed(code: int, args: tuple[str, ...]) -> bool:
    return code == (2 if "--diff" in args else 1)  # `--diff` keeps 1 for "changed"


# ----------------------------------------------------------------------------------- the example


def test_nul_in_a_comment_is_refused_alike_on_every_path() -> None:
    results = _run_all(MANIFEST_PATHS, NUL_IN_COMMENT)
    expected = f"{NUL_IN_COMMENT}:15:20: error MF005 NUL character in input: YAML does not allow it"
    assert {r[2] for r in results} == {expected}
    assert all(r[1] == "" for r in results)
    runs = [args for args, _ in MANIFEST_PATHS for _ in ENGINES]
    assert all(_failed(r[0], args) for r, args in zip(results, runs, strict=True))
    code, out, err = invoke(
        "krm", stdin=_resource_list(NUL_IN_COMMENT.read_text("latin-1")).encode("latin-1")
    )
    assert (code, out) == (1, "") and "error MF005 NUL character in input" in err


def test_nul_in_an_application_is_refused_by_render_as_by_validate() -> None:
    results = _run_all(APP_PATHS, NUL_IN_APP)
    expected = f"{NUL_IN_APP}:10:17: error MF005 NUL character in input: YAML does not allow it"
    assert {r[2] for r in results} == {expected}
    assert {(r[0], r[1]) for r in results} == {(1, "")}


def test_the_real_entry_point_prints_the_same_located_error() -> None:
    proc = run_cli("transform", str(NUL_IN_COMMENT), "--mode", "istio")
    assert proc.returncode == 1 and proc.stdout == b""
    assert proc.stderr.decode().startswith(f"{NUL_IN_COMMENT}:15:20: error MF005 NUL character")


def _resource_list(stream: str) -> str:
    """The objects of a stream as the items of a KRM ResourceList (which `transform` reads too)."""
    objects = [d for d in yaml.safe_load_all(stream.replace("\0", "")) if d is not None]
    if "\0" in stream:  # keep the NUL: put it back in a comment of the first item
        return dump_document(_wrap(objects)).replace("items:\n", "items:\n# \0\n", 1)
    return dump_document(_wrap(objects))


def _wrap(objects: list[object]) -> dict[str, object]:
    return {
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "functionConfig": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c"},
            "data": {"mode": "istio"},
        },
        "items": objects,
    }


# --------------------------------------------------------------------------- wide encodings


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("bom", [False, True])
def test_utf16_and_utf32_are_named_with_or_without_a_byte_order_mark(
    encoding: str, bom: bool, tmp_path: Path
) -> None:
    text = (FIXTURES / "deployment.yaml").read_text()
    file = tmp_path / "wide.yaml"
    file.write_bytes(("\ufeff" + text if bom else text).encode(encoding))
    name = encoding.upper().replace("-LE", "LE").replace("-BE", "BE")  # utf-16-le → UTF-16LE
    said = (
        f"input is {name} (byte-order mark found)"
        if bom
        else f"input looks like {name} without a byte-order mark"
    )
    results = _run_all(MANIFEST_PATHS + APP_PATHS, file)
    assert all(r[1] == "" and r[0] in (1, 2) for r in results)
    assert all(r[2].startswith(f"{file}:1:1: error MF005 {said}") for r in results), results


# ----------------------------------------------------------------------------- each character

REFUSED = {
    "\x00": "NUL character in input",
    "\x01": "control character U+0001 (control)",
    "\x07": "control character U+0007 (BEL)",
    "\x0b": "control character U+000B (VERTICAL TAB)",
    "\x1b": "control character U+001B (ESCAPE)",
    "\x7f": "control character U+007F (DELETE)",
    "\x80": "control character U+0080 (control)",
    "\x9f": "control character U+009F (control)",
    "\x85": "character U+0085 (control) is not accepted raw: YAML 1.1 readers",
    "\u2028": "character U+2028 (LINE SEPARATOR) is not accepted raw: YAML 1.1 readers",
    "\u2029": "character U+2029 (PARAGRAPH SEPARATOR) is not accepted raw",
    "\ufeff": "character U+FEFF (ZERO WIDTH NO-BREAK SPACE) is not accepted raw: a byte-order mark",
    "\ufffe": "control character U+FFFE (noncharacter)",
    "\uffff": "control character U+FFFF (noncharacter)",
}


@pytest.mark.parametrize("char", list(REFUSED), ids=[f"U+{ord(c):04X}" for c in REFUSED])
@pytest.mark.parametrize("where", ["comment", "plain", "quoted", "block", "key"])
def test_each_refused_character_is_named_and_located(char: str, where: str) -> None:
    doc = {
        "comment": f"a: 1\n# x{char}y\nb: 2\n",
        "plain": f"a: 1\nb: x{char}y\n",
        "quoted": f'a: 1\nb: "x{char}y"\n',
        "block": f"a: 1\nb: |\n  x{char}y\n",
        "key": f"a: 1\nx{char}y: 2\n",
    }[where]
    line = doc.count("\n", 0, doc.index(char)) + 1
    col = doc.index(char) - doc.rfind("\n", 0, doc.index(char))
    for args in (("transform", "-", "--mode", "istio"), ("validate", "-"), ("krm",)):
        code, out, err = invoke(*args, stdin=doc.encode())
        assert (code, out) == (1, "")
        assert err.startswith(f"<stdin>:{line}:{col}: error MF005 {REFUSED[char]}"), err


@pytest.mark.parametrize("char", ["\t", "\xa0", "é", "\u200b", "\ue000", "\ufffd", "\U0001f600"])
def test_printable_characters_in_quotes_are_read_alike_by_every_engine(char: str) -> None:
    text = (
        (FIXTURES / "deployment.yaml")
        .read_text()
        .replace("name: web\n", f'name: web\n  annotations: {{note: "a{char}b"}}\n', 1)
    )
    outputs = [
        invoke("transform", "-", "--mode", "istio", *extra, stdin=text.encode(), env=env)
        for extra in ((), ("--preserve-comments",))
        for env in ENGINES
    ]
    assert {o[0] for o in outputs} == {0}
    data = [list(yaml.safe_load_all(o[1])) for o in outputs]
    assert all(d == data[0] for d in data)
    assert data[0][0]["metadata"]["annotations"]["note"] == f"a{char}b"


def test_a_leading_byte_order_mark_is_read_and_kept_out_of_positions() -> None:
    raw = b"\xef\xbb\xbf" + (FIXTURES / "deployment.yaml").read_bytes().replace(
        b"image: nginx:1.27", b"image: \x07"
    )
    code, _, err = invoke("transform", "-", "--mode", "istio", stdin=raw)
    assert code == 1 and err.startswith("<stdin>:17:16: error MF005 control character U+0007 (BEL)")


# ------------------------------------------------------------------------------- properties


def _location(text: str, pos: int) -> tuple[int, int]:
    return text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.booleans(), st.sampled_from(list(REFUSED)), st.floats(0, 1))
def test_a_refused_character_anywhere_in_workloads_of_every_kind_is_the_same_located_mf005(
    text: str, as_resource_list: bool, char: str, where: float
) -> None:
    if as_resource_list:  # the same objects as the items of a ResourceList, for the KRM function too
        text = _resource_list(text)
    pos = 1 + int(where * (len(text) - 1))  # not at 0, where U+FEFF is a byte-order mark
    bad = (text[:pos] + char + text[pos:]).encode()
    line, col = _location(text, pos)
    expected = f"<stdin>:{line}:{col}: error MF005 {REFUSED[char]}"
    commands = [
        ("transform", "-", "--mode", "istio"),
        ("transform", "-", "--mode", "builtin", "--preserve-comments"),
        ("check", "-", "--mode", "linkerd"),
    ]
    runs = [invoke(*args, stdin=bad, env=env) for args in commands for env in ENGINES]
    if as_resource_list:
        runs.append(invoke("krm", stdin=bad))
    for code, out, err in runs:
        assert (code, out) == (1, ""), err
        assert err.startswith(expected), (err, expected)


SNIPPETS = st.sampled_from(
    [
        *("\t", " ", ":", "- ", "#", "'", '"', "{", "}", "[", "]", ",", "&a ", "*a", "!", "? ", "|", ">"),
        *("\n", "\r", "\\", "\xa0", "é", "<<: *a\n", "---\n", "%", "@", "`", "\x07", "\u2028"),
    ]
)
DAMAGE = st.lists(st.tuples(SNIPPETS, st.floats(0, 1)), min_size=1, max_size=2)


def _damaged(text: str, damage: list[tuple[str, float]]) -> str:
    for snippet, where in damage:
        pos = int(where * len(text))
        text = text[:pos] + snippet + text[pos:]
    return text


def _read(doc: str) -> object:
    """A document's data, or its text where meshform passed it through unparsed and PyYAML cannot
    read it (a Service with a tag nobody governs is no business of meshform's)."""
    try:
        return yaml.safe_load(doc)
    except yaml.YAMLError:
        return doc


def _outcome(code: int, out: str, err: str) -> tuple[object, ...]:
    """What a reader path made of the input: the data it wrote, or that it refused (and for MF005
    exactly where; each parser locates a syntax error in its own way)."""
    if code == 3:  # a shape the core cannot handle yet (issue 9, kind 17): not the readers' business
        return ("internal error",)
    assert code in (0, 1), err
    if code == 0:
        return ("ok", [_read(doc) for _, _, doc in split(out)])
    diag = re.search(r"^\S+:\d+:\d+: error (MF\d+)", err, re.MULTILINE)  # warnings may come first
    assert diag is not None, err
    return ("refused", diag.group(0) if diag.group(1) == "MF005" else "")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), DAMAGE)
def test_every_engine_accepts_and_refuses_the_same_damaged_workloads(
    text: str, damage: list[tuple[str, float]]
) -> None:
    stdin = _damaged(text, damage).encode()
    yaml_rs, libyaml, ruamel = outcomes = [
        _outcome(*invoke("transform", "-", "--mode", "istio", *extra, stdin=stdin, env=env))
        for extra, env in (((), ENGINES[0]), ((), ENGINES[1]), (("--preserve-comments",), ENGINES[0]))
    ]
    assume(("internal error",) not in outcomes)
    assert yaml_rs == libyaml == ruamel, stdin


# A Service no mode in use reads, whose selector is a list: valid YAML, a wrong shape. yaml-rs reads
# it and passes it through as text; without yaml-rs the reference reader must read it and pass it too
# (it used to make an object of it and refuse the shape, MF150), and so must the round-trip engine.
WRONG_SHAPE_PASSING = """apiVersion: v1
kind: Service
metadata:
  name: w3
spec:
  selector:
   -  app: w3
  ports:
  - name: http
    port: 80
"""
WRONG_SHAPE_SUSPICIOUS = WRONG_SHAPE_PASSING.replace("name: w3", "name: '1e3'")


@pytest.mark.parametrize("text", [WRONG_SHAPE_PASSING, WRONG_SHAPE_SUSPICIOUS], ids=["plain", "odd-scalar"])
def test_a_kind_no_mode_reads_passes_through_with_every_engine(text: str) -> None:
    stream = (FIXTURES / "deployment.yaml").read_text() + "---\n" + text
    outs = [
        invoke("transform", "-", "--mode", "istio", *extra, stdin=stream.encode(), env=env)
        for extra, env in (((), ENGINES[0]), ((), ENGINES[1]), (("--preserve-comments",), ENGINES[0]))
    ]
    for code, out, err in outs:
        assert code == 0, err
        assert out.endswith("---\n" + text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 4), DAMAGE)
def test_render_accepts_exactly_what_validate_accepts(
    components: int, damage: list[tuple[str, float]]
) -> None:
    stdin = _damaged(application(components), damage).encode()
    validated, _, said = invoke("validate", "-", stdin=stdin)
    for env in ENGINES:
        rendered, out, err = invoke("render", "-", stdin=stdin, env=env)
        assert {rendered, validated} <= {0, 1}
        assert rendered == validated, (stdin, said, err)
        assert (out == "") == (rendered == 1)


# --------------------------------------------------------- syntax the engines used to disagree on

DEPLOYMENT = (FIXTURES / "deployment.yaml").read_text()


def _annotated(line: str) -> str:
    """The Deployment with one more line under metadata (line 6 of the document)."""
    return DEPLOYMENT.replace("  namespace: shop\n", f"  namespace: shop\n{line}\n", 1)


@pytest.mark.parametrize(
    ("line", "where", "said"),
    [
        ("  annotations: {a: &x 1, b: &x 2}", "6:29", "anchor &x is defined twice"),
        ("  annotations: {a: &:x 1}", "6:", ""),
        ("  annotations: {a: &x.y 1}", "6:", ""),
        ("  annotations:\n    a: 1\n    : 2", "8:", ""),
        ("  annotations: {: 2}", "6:", ""),
        ("  annotations:\n    ? {a: 1}\n    : 2", "7:7", "a mapping or a sequence as a key"),
        ("  annotations:\n    ? [a, {b: c}]\n    : 2", "7:7", "a mapping or a sequence as a key"),
        ("  annotations:\n    a: x\ty", "7:9", "found character '\\t' that cannot start any token"),
    ],
    ids=["anchor-twice", "anchor-colon", "anchor-dot", "no-key", "no-key-flow", "map-key", "seq-key", "tab"],
)
def test_syntax_only_yaml_12_readers_accept_is_refused_by_every_engine(
    line: str, where: str, said: str
) -> None:
    text = _annotated(line).encode()
    runs = [
        invoke("transform", "-", "--mode", "istio", *extra, stdin=text, env=env)
        for extra in ((), ("--preserve-comments",))
        for env in ENGINES
    ]
    runs.append(invoke("validate", "-", stdin=text))
    for code, out, err in runs:
        assert (code, out) == (1, ""), err
        assert err.startswith(f"<stdin>:{where}") and " error MF002 " in err.splitlines()[0], err
        assert said in err.splitlines()[0]


@pytest.mark.parametrize("value", ["-_", "+_", "0b_", "-0b_", "0x_", "0o_", "._"])
def test_number_patterns_without_a_digit_are_strings_on_every_engine(value: str) -> None:
    text = _annotated(f"  annotations: {{note: {value}}}").encode()
    for extra in ((), ("--preserve-comments",)):
        for env in ENGINES:
            code, out, err = invoke("transform", "-", "--mode", "istio", *extra, stdin=text, env=env)
            assert code == 0, err
            # written back as it came where unchanged; PyYAML itself crashes on `0b_`, meshform's reader not
            assert fast_load(out)["metadata"]["annotations"]["note"] == value
    app = application(1).replace("LOG_LEVEL: info", f"LOG_LEVEL: {value}").encode()
    assert invoke("validate", "-", stdin=app)[0] == 0
    for env in ENGINES:
        code, out, err = invoke("render", "-", stdin=app, env=env)
        assert code == 0, err
        assert f'value: "{value}"' in out


def test_a_later_document_is_not_written_when_an_earlier_one_is_refused() -> None:
    path = FIXTURES / "bel-in-value.yaml"
    for args in (("transform", str(path), "--mode", "istio"), ("check", str(path), "--mode", "istio")):
        code, out, err = invoke(*args)
        assert (code, out) == (1, "")
        assert err.startswith(f"{path}:11:16: error MF005 control character U+0007 (BEL)")


# ------------------------------------------------------- a block scalar at the end of the input

# A block scalar that ends the input, as YAML 1.2 (8.1.1.2) reads it, and libyaml, ruamel and go-yaml
# with it: no content line is "" whatever the chomping (trailing blank lines count only under keep), and
# a last line without a line break keeps none. yaml-rs 0.1.6 read "\n" and "x\n" (hypothesis found it:
# `periodSeconds: |1` closing a Pod, the fixture), so it must not be the engine that reads these.
NOTE = (
    "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - {name: w0, image: w0:1}\n"
    "metadata:\n  name: w0\n  annotations:\n    note: "
)
BLOCK_ENDS_INPUT = {
    "|1\n": "",
    "|\n": "",
    ">\n": "",
    "|+\n": "",
    ">+\n": "",
    "|-\n": "",
    "|2+\n": "",
    ">1-\n": "",
    "| # why\n": "",
    "|\n\n\n": "",
    "|\n        \n   \n": "",
    "|+\n\n": "\n",
    ">+\n\n\n": "\n\n",
    "|\n      x": "x",
    "|+\n      x": "x",
    "|-\n      x": "x",
    ">\n      x\n      y": "x y",
    "|2\n        x": "  x",
    "|1+\n       x\n": "  x\n",
    "|\n      x\n\n": "x\n",
    "|+\n      x\n\n": "x\n\n",
}


def _engines(stdin: bytes) -> list[tuple[int, str, str]]:
    """`transform --mode istio` with yaml-rs, with libyaml alone, and comment-preserving (the patcher)."""
    return [
        invoke("transform", "-", "--mode", "istio", *extra, stdin=stdin, env=env)
        for extra, env in (((), ENGINES[0]), ((), ENGINES[1]), (("--preserve-comments",), ENGINES[0]))
    ]


@pytest.mark.parametrize(
    ("block", "value"), list(BLOCK_ENDS_INPUT.items()), ids=list(map(repr, BLOCK_ENDS_INPUT))
)
@pytest.mark.parametrize("then", ["", "---\n" + DEPLOYMENT])
def test_a_block_scalar_ending_a_document_is_read_by_the_spec_on_every_engine(
    block: str, value: str, then: str
) -> None:
    if then and not block.endswith("\n"):
        pytest.skip("a document followed by `---` ends with a line break")
    for code, out, err in _engines((NOTE + block + then).encode()):
        assert code == 0, err
        objects = [d for d in yaml.safe_load_all(out) if d is not None]
        assert objects[0]["metadata"]["annotations"]["note"] == value
        assert len(objects) == (2 if then else 1)


@pytest.mark.parametrize("where", ["list", "nested", "keep-blank"])
def test_a_block_scalar_ending_a_sequence_or_a_nested_mapping_is_read_alike(where: str) -> None:
    text = {
        "list": NOTE + "ok\n  finalizers:\n  - |\n",
        "nested": NOTE + "ok\n  labels:\n    team: >2\n",
        "keep-blank": NOTE + "ok\n  labels:\n    team: |+\n\n  \n",
    }[where]
    outcomes = [_outcome(*run) for run in _engines(text.encode())]
    assert outcomes[0] == outcomes[1] == outcomes[2]


def test_the_hypothesis_example_reads_periodseconds_as_every_reader_does() -> None:
    stdin = (FIXTURES / "block-scalar-ends-input.yaml").read_bytes()
    outcomes = [_outcome(*run) for run in _engines(stdin)]
    assert outcomes[0] == outcomes[1] == outcomes[2]
    pod = outcomes[0][1][0]  # type: ignore[index]
    assert pod["spec"]["containers"][0]["readinessProbe"]["periodSeconds"] == ""
    assert pod["metadata"]["labels"]["team"] == "x\ny"


def test_a_kind_written_as_a_block_scalar_without_a_final_line_break_is_governed_by_every_engine() -> None:
    # yaml-rs also decides which documents are passed through unparsed, by their kind (`kind_of`)
    text = (
        "apiVersion: v1\nmetadata: {name: w0}\nspec:\n  containers: [{name: w0, image: w0:1}]\nkind: |\n  Pod"
    )
    for code, out, err in _engines(text.encode()):
        assert code == 0, err
        assert "sidecar.istio.io/inject" in out


# ---------------------------------------------------- `|`, `>`, `?` starting a scalar in a flow collection

# An indicator cannot start a plain scalar (YAML 1.2, 7.3.3): libyaml, ruamel and go-yaml refuse
# `emptyDir: {|}`, yaml-rs 0.1.6 read the string "|" (hypothesis found it: the fixture, seed
# 167209836396176534300125961012618395348). Every engine refuses it now, at libyaml's position.
FLOW = {
    "{|}": "7:9",
    "[|]": "7:9",
    "{| : 1}": "7:9",
    "{a: |}": "7:12",
    "[a, >]": "7:12",
    "[>-]": "7:9",
    "[|b\n      c]": "7:9",
    "{a: >\n      c}": "7:12",
    "{a: {b: [|]}}": "7:17",
}


@pytest.mark.parametrize(("flow", "where"), list(FLOW.items()), ids=list(map(repr, FLOW)))
@pytest.mark.parametrize("kind", ["Pod", "ConfigMap"])  # governed, or passed through unparsed
def test_an_indicator_starting_a_scalar_in_a_flow_collection_is_refused_by_every_engine(
    flow: str, where: str, kind: str
) -> None:
    text = DEPLOYMENT.replace("kind: Deployment", f"kind: {kind}").replace(
        "  namespace: shop\n", f"  namespace: shop\n  labels:\n    x: {flow}\n", 1
    )
    for code, out, err in _engines(text.encode()):
        assert (code, out) == (1, ""), err
        assert err.startswith(f"<stdin>:{where}: error MF002 "), err


def test_the_hypothesis_example_with_an_indicator_in_a_flow_mapping_is_refused_alike() -> None:
    stdin = (FIXTURES / "indicator-in-flow.yaml").read_bytes()
    for code, out, err in _engines(stdin):
        assert (code, out) == (1, "")
        assert err.startswith("<stdin>:16:16: error MF002 found character that cannot start any token")


@pytest.mark.parametrize("value", ['"|"', "'>-'", '"? x"', "'|b'"])
def test_an_indicator_in_quotes_is_a_string_on_every_engine(value: str) -> None:
    text = _annotated(f"  annotations: {{note: {value}, {value}: x}}").encode()
    outcomes = [_outcome(*run) for run in _engines(text)]
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert outcomes[0][1][0]["metadata"]["annotations"]["note"] == yaml.safe_load(value)  # type: ignore[index]
