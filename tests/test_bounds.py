"""Kind 16 of issue 9: every input is bounded in time and memory and refused with a coded error, and
diagnostics stay linear in the input. Each test asserts the coded error and the mechanism that
bounds the work; where it asserts memory, it does so in a child process with a generous margin (a
regression without the bound would be many times over it), never by wall time."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_cli, run_measured
from hypothesis import given, settings
from hypothesis import strategies as st

from meshform.diagnostics import (
    MAX_MESSAGE,
    PER_FILE,
    Diagnostic,
    Level,
    MeshformError,
    capped,
    listing,
    report,
)
from meshform.yamlio import limits
from meshform.yamlio.reader import MAX_BYTES, load_documents
from meshform.yamlio.split import split
from meshform.yamlio.streams import load_text

FIXTURES = ROOT / "tests" / "fixtures" / "bounds"
DEPLOYMENT = (FIXTURES / "deployment.yaml").read_text()
BUDGET_MIB = 300  # the budget for a hostile input


def _codes(proc: subprocess.CompletedProcess[bytes]) -> list[str]:
    assert b"Traceback" not in proc.stderr and b"internal error" not in proc.stderr, proc.stderr
    return [d["code"] for d in json.loads(proc.stderr)]


# ------------------------------------------------------------------------------- many documents


def test_separator_flood_is_refused_before_parsing_anything(tmp_path: Path) -> None:
    """64 MB of `---` lines cost 5.5 GB when every empty document became an object."""
    flood = tmp_path / "flood.yaml"
    flood.write_text("---\n" * 16_000_000 + DEPLOYMENT)
    proc, peak = run_measured("transform", str(flood), "--mode", "istio", "--diagnostics", "json")
    assert proc.returncode == 1 and proc.stdout == b""
    (diag,) = json.loads(proc.stderr)
    assert (diag["code"], diag["line"]) == ("MF004", limits.MAX_DOCUMENTS + 1)
    assert peak < BUDGET_MIB


@pytest.mark.parametrize("reader", ["stream", "positioned"])
def test_document_count_is_bounded_on_every_reader(reader: str) -> None:
    text = "---\n" * limits.MAX_DOCUMENTS + "a: 1\n"
    with pytest.raises(MeshformError) as info:
        load_text(text, "in.yaml") if reader == "stream" else load_documents(text, "in.yaml")
    assert info.value.diagnostics[0].code == "MF004"
    assert len(load_text("---\n" * (limits.MAX_DOCUMENTS - 1), "in.yaml")) == limits.MAX_DOCUMENTS


def test_split_does_not_build_a_list_of_lines() -> None:
    """The splitter is lazy: taking one document of a huge stream reads no further."""
    documents = split("a: 1\n---\n" + "#\n" * 5_000_000)
    assert next(documents) == (1, "", "a: 1\n")


# ------------------------------------------------------------------------------------ stdin


def test_endless_stdin_is_refused_after_the_size_limit() -> None:
    """stdin used to be read whole before the size check: `yes | meshform` never ended."""
    producer = subprocess.Popen(["yes", "a: b"], stdout=subprocess.PIPE)
    try:
        proc, peak = run_measured("transform", "-", "--mode", "istio", stdin=producer.stdout, timeout=60)
    finally:
        producer.kill()
        producer.wait()
        producer.stdout.close()  # type: ignore[union-attr]
    assert proc.returncode == 1
    assert f"MF004 input is larger than the limit of {MAX_BYTES} bytes".encode() in proc.stderr
    assert peak < BUDGET_MIB


def test_krm_reads_stdin_within_the_same_limit() -> None:
    producer = subprocess.Popen(["yes", "a: b"], stdout=subprocess.PIPE)
    try:
        proc, _ = run_measured("krm", stdin=producer.stdout, timeout=60)
    finally:
        producer.kill()
        producer.wait()
        producer.stdout.close()  # type: ignore[union-attr]
    assert proc.returncode == 1 and b"MF004" in proc.stderr


# ---------------------------------------------------------------------------------- nesting


def _deep(form: str, depth: int) -> str:
    if form == "flow":
        return DEPLOYMENT + "        args: " + "[" * depth + "]" * depth + "\n"
    if form == "compact":  # `- - - x`: nesting without indentation (yaml-rs overflowed its stack)
        return DEPLOYMENT + "        args:\n        - " + "- " * depth + "x\n"
    lines = "".join("  " * i + "a:\n" for i in range(depth))
    return lines + "  " * depth + "x\n"


@pytest.mark.parametrize("depth", [150, 990, 5000, 100_000])
@pytest.mark.parametrize("form", ["flow", "compact", "indented"])
@pytest.mark.parametrize("command", ["transform", "validate", "krm"])
def test_deep_nesting_is_a_located_limit_everywhere(
    tmp_path: Path, command: str, form: str, depth: int
) -> None:
    if form == "indented" and depth > 5000:
        pytest.skip("indentation needs quadratic text: 100,000 levels exceed the size limit")
    text = _deep(form, depth)
    path = tmp_path / "deep.yaml"
    if command == "krm":
        items = "".join("  " + ln + "\n" for ln in text.splitlines())
        path.write_text(
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"
            "functionConfig: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {mode: istio}}\n"
            "items:\n- " + items.lstrip()
        )
        with path.open("rb") as stdin:
            proc, _ = run_measured("krm", stdin=stdin)
        assert proc.returncode == 1 and b"MF004" in proc.stderr and b"Traceback" not in proc.stderr
        return
    path.write_text(text)
    args = ["--mode", "istio"] if command == "transform" else []
    proc = run_cli(command, str(path), *args, "--diagnostics", "json")
    assert proc.returncode == 1 and proc.stdout == b""
    (diag,) = json.loads(proc.stderr)
    assert diag["code"] == "MF004" and diag["line"] > 1 and diag["col"] >= 1, diag


def test_depth_proof_skips_the_walk_for_ordinary_documents() -> None:
    """The hot path: a manifest's text proves it cannot be deep, so its data is never walked."""
    assert not limits.may_nest_deeper(DEPLOYMENT)
    assert limits.may_nest_deeper(_deep("flow", 60))
    assert limits.may_nest_deeper(_deep("compact", 60))
    deep = "a:\n" + "".join("  " * i + "- b:\n" for i in range(1, 60)) + "  " * 60 + "x\n"
    assert limits.may_nest_deeper(deep) and limits.deep_position(deep) is not None


# ----------------------------------------------------------------------- linear diagnostics


def _bad_app(components: int) -> str:
    lines = ["apiVersion: meshform.dev/v1alpha1", "kind: Application", "metadata: {name: bad}", "spec:"]
    lines.append("  components:")
    for i in range(components):
        lines.append(f"  - name: c{i}\n    image: x\n    dependencies: [nope{i}]")
    return "\n".join(lines) + "\n"


def test_diagnostics_grow_linearly_and_are_capped_per_file(tmp_path: Path) -> None:
    """Each MF201 listed every component: 10,000 of them printed 690 MB."""
    app = tmp_path / "app.yaml"
    app.write_text(_bad_app(3000))
    proc, peak = run_measured("validate", str(app), "--diagnostics", "json")
    found = json.loads(proc.stderr)
    assert proc.returncode == 1 and len(found) == PER_FILE + 1
    assert found[-1]["code"] == "MF031" and found[-1]["message"].startswith("2000 more")
    first = found[0]["message"]
    assert first == "unknown dependency 'nope0' (components: c0, c1, c2, c3, c4, c5, c6, c7 and 2992 more)"
    assert len(proc.stderr) < 1000 * (PER_FILE + 1)  # listing every component: ~20 KB each
    assert peak < BUDGET_MIB


def test_large_application_is_read_by_the_quick_positioned_reader() -> None:
    """ruamel's round-trip reader took 15 s for 600 KB; positions now come from libyaml's events."""
    from meshform.yamlio.reader import _load_located, _plain_document, load_round_trip

    text = _bad_app(200)
    docs = _load_located(text, "app.yaml")
    assert docs is not None
    (slow,) = [_plain_document(node, "app.yaml", 0) for node in load_round_trip(text, "app.yaml")]
    assert (docs[0].data, docs[0].positions) == (slow.data, slow.positions)
    assert docs[0].position(("spec", "components", 199, "dependencies", 0)) == (605, 20)


def test_a_message_never_quotes_more_than_its_bound() -> None:
    huge = "x" * 1_000_000
    diag = Diagnostic("f", 1, 1, Level.ERROR, "MF103", f"{huge!r} is not a number", f"$.{huge}")
    assert len(diag.message) == MAX_MESSAGE and diag.message.endswith("…")
    assert len(diag.path) == MAX_MESSAGE


def test_listing_and_cap() -> None:
    assert listing(["a", "b"]) == "a, b"
    assert listing((str(i) for i in range(100)), 100, limit=3) == "0, 1, 2 and 97 more"
    diags = [Diagnostic("f", i, 1, Level.WARNING, "MF201", "m") for i in range(5)]
    diags.append(Diagnostic("f", 9, 1, Level.ERROR, "MF201", "m"))
    kept = capped(diags, per_file=2)
    assert [(d.line, d.code) for d in kept] == [(0, "MF201"), (1, "MF201"), (0, "MF031")]
    assert kept[-1].level is Level.ERROR and kept[-1].message == "4 more finding(s) in this file not shown"
    assert report(diags, "text").count("\n  hint:") == 6


# ------------------------------------------------------------------------- sidecar templates

TEMPLATES = FIXTURES / "templates"


def _transform_with(tmp_path: Path, template: str) -> tuple[subprocess.CompletedProcess[bytes], float]:
    (tmp_path / "t.j2").write_text((TEMPLATES / template).read_text())
    (tmp_path / "modes.yaml").write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: GovernanceModes\n"
        "modes:\n- name: evil\n  sidecar:\n    template: t.j2\n"
    )
    (tmp_path / "in.yaml").write_text(DEPLOYMENT)
    return run_measured(
        "transform",
        str(tmp_path / "in.yaml"),
        "--mode",
        "evil",
        "--enrollment",
        "sidecar",
        "--modes-file",
        str(tmp_path / "modes.yaml"),
        "--diagnostics",
        "json",
    )


@pytest.mark.parametrize(
    ("template", "code", "bound"),
    [
        ("alias-bomb.j2", "MF004", "aliases expand to more than"),  # the readers' own alias limit
        ("deep-output.j2", "MF004", "nesting deeper than"),
        ("recursive-macro.j2", "MF030", "recursion"),
        ("silent-loops.j2", "MF030", "steps"),  # the trace-function step budget
        ("gigabyte-string.j2", "MF030", "would build more than"),  # the size-checked operators
        ("huge-power.j2", "MF030", "a power of more than"),
        ("format-width.j2", "MF030", "format spec"),
        ("percent-width.j2", "MF030", "format width"),
        ("doubling-concat.j2", "MF030", "more memory"),  # only the memory ceiling stops `~`
        ("filter-center.j2", "MF030", "more memory"),
        ("folded-constant.j2", "MF030", "more memory"),  # compiled under the budget too
        ("nested-blocks.j2", "MF030", "nested too deeply"),
    ],
)
def test_hostile_template_is_bounded(tmp_path: Path, template: str, code: str, bound: str) -> None:
    proc, peak = _transform_with(tmp_path, template)
    assert proc.returncode == 1 and proc.stdout == b""
    (diag,) = json.loads(proc.stderr)
    assert diag["code"] == code and bound in diag["message"], diag
    assert peak < BUDGET_MIB


def test_template_budget_leaves_the_process_as_it_was() -> None:
    """The step tracer and the address-space ceiling are both undone after a run, failed or not."""
    import resource
    import sys

    from meshform.modes.templating import render_text

    before = (sys.gettrace(), resource.getrlimit(resource.RLIMIT_AS))
    with pytest.raises(MeshformError) as info:
        render_text((TEMPLATES / "silent-loops.j2").read_text(), {}, "t.j2")
    assert info.value.diagnostics[0].code == "MF030"
    assert render_text("name: {{ n }}\n", {"n": "px"}, "t.j2") == "name: px\n"
    assert (sys.gettrace(), resource.getrlimit(resource.RLIMIT_AS)) == before


def test_template_file_is_read_within_a_bound(tmp_path: Path) -> None:
    from meshform.modes.templating import MAX_TEMPLATE

    (tmp_path / "big.j2").write_text("name: px\nimage: x\n" + "#" * MAX_TEMPLATE)
    os.mkfifo(tmp_path / "fifo.j2")  # would block a plain open() forever
    for name, message in (("big.j2", "longer than"), ("fifo.j2", "not a regular file")):
        (tmp_path / "modes.yaml").write_text(
            "apiVersion: meshform.dev/v1alpha1\nkind: GovernanceModes\n"
            f"modes:\n- name: evil\n  sidecar:\n    template: {name}\n"
        )
        proc = run_cli("modes", "--modes-file", str(tmp_path / "modes.yaml"))
        assert proc.returncode == 1 and message in proc.stderr.decode(), proc.stderr
        assert f"{tmp_path / 'modes.yaml'}:6:5:".encode() in proc.stderr


# -------------------------------------------------- the quick positioned reader reads like ruamel

_SCALARS = st.one_of(
    st.sampled_from(
        [
            "on",
            "yes",
            "0777",
            "0x1F",
            "1_000",
            "1e3",
            ".inf",
            "~",
            "null",
            "",
            "2024-01-01",
            "<<",
            "=",
            "1.50",
            "-0",
            "+5",
            "True",
            "FALSE",
            "100m",
            "8080/TCP",
            ".hidden",
            "a: b",
            "# x",
            "- y",
            "'q'",
        ]
    ),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.none(),
)
_DOCS = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text("abcxyz-_ ", min_size=1, max_size=6), inner, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(doc=_DOCS, style=st.sampled_from(["flow", "block", "indent-4", "ours"]))
def test_quick_positioned_reader_reads_exactly_like_the_round_trip_reader(doc: object, style: str) -> None:
    """Whenever the quick reader answers (about three times in four here), data and every position
    equal ruamel's; otherwise it leaves the document to ruamel (None)."""
    from meshform.yamlio.reader import _load_located, _plain_document, load_round_trip
    from meshform.yamlio.writer import dump_document

    if style == "ours":
        text = dump_document(doc)
    else:
        indent = 4 if style == "indent-4" else 2
        text = yaml.safe_dump(doc, default_flow_style=style == "flow", indent=indent, allow_unicode=True)
    quick = _load_located(text, "in.yaml")
    if quick is None:
        return
    slow = [_plain_document(node, "in.yaml", i) for i, node in enumerate(load_round_trip(text, "in.yaml"))]
    assert [(d.index, d.data, d.positions) for d in quick] == [(d.index, d.data, d.positions) for d in slow]
