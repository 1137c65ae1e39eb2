"""Every diagnostic code is explained in docs/codes.md, generated from CODES and meshform/code_docs.py;
text reports link to it, the way `istioctl analyze` links its analysis reference (issue 12, item 10)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import ROOT, run_cli

from meshform.code_docs import DOCS, missing, render_reference
from meshform.diagnostics import CODES, DOCS_URL, Diagnostic, Level, report

REFERENCE = ROOT / "docs" / "codes.md"
HOW = (
    'add an entry `"{code}": _d(means, matters, example[, fix])` to DOCS in meshform/code_docs.py '
    "(what the code means, why it matters, one finding as meshform prints it; the fix is the hint in "
    "CODES), then regenerate the reference: `python -m meshform.code_docs docs/codes.md`"
)


def test_every_code_is_documented() -> None:
    absent = missing()
    assert not absent, (
        "codes without documentation: "
        + ", ".join(absent)
        + "\n"
        + "\n".join(HOW.format(code=code) for code in absent)
    )


def test_every_documented_code_exists() -> None:
    stale = sorted(set(DOCS) - set(CODES))
    assert not stale, f"DOCS in meshform/code_docs.py documents codes no longer in CODES: {stale}"


@pytest.mark.parametrize("code", sorted(DOCS))
def test_each_example_is_a_finding_of_its_code(code: str) -> None:
    doc = DOCS[code]
    assert re.match(rf"^\S[^\n]*?(:\d+:\d+)?: (error|warning|info) {code} \S", doc.example), doc.example
    assert doc.means.endswith(".") and doc.matters.endswith(".")


def test_the_reference_is_current() -> None:
    assert not missing(), "see test_every_code_is_documented"
    expected = render_reference()
    current = REFERENCE.read_text("utf-8") if REFERENCE.exists() else ""
    assert current == expected, (
        "docs/codes.md is stale: regenerate it with `python -m meshform.code_docs docs/codes.md` and "
        "commit it (never edit it by hand: edit CODES or meshform/code_docs.py)"
    )


def test_each_code_has_its_anchor_and_sections() -> None:
    text = REFERENCE.read_text("utf-8")
    for code in CODES:
        section = text[text.index(f'<a id="{code.lower()}"></a>') :]
        section = section[: section.find('<a id="', 1) if '<a id="' in section[1:] else len(section)]
        for part in ("**What it means.**", "**Why it matters.**", "**How to fix it.**", "**Example.**"):
            assert part in section, (code, part)
        assert CODES[code].hint in section


def test_the_generator_writes_the_file(tmp_path: object) -> None:
    from pathlib import Path

    target = Path(str(tmp_path)) / "codes.md"
    proc = subprocess.run(
        [sys.executable, "-m", "meshform.code_docs", str(target)], capture_output=True, cwd=ROOT, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert target.read_text("utf-8") == render_reference()


# ------------------------------------------------------------------------------ linked from reports


def test_a_text_report_links_the_code() -> None:
    proc = run_cli("render", "nope.yaml")
    lines = proc.stderr.decode().splitlines()
    assert lines[0] == "nope.yaml: error MF001 cannot read: No such file or directory"  # at the file
    assert lines[-1] == f"See {DOCS_URL}#mf001 for what this code means and how to fix it."
    assert '<a id="mf001"></a>' in REFERENCE.read_text("utf-8")


def test_a_report_of_several_codes_links_the_page() -> None:
    diags = [
        Diagnostic("a.yaml", 3, 1, Level.ERROR, "MF102", "unknown field"),
        Diagnostic("a.yaml", 1, 1, Level.WARNING, "MF404", "no label"),
    ]
    text = report(diags, "text")
    assert text.endswith(f"See {DOCS_URL} for what each code means and how to fix it.\n")
    assert "MF" not in text.splitlines()[-1]  # reports are filtered by code, line by line
    assert report([], "text") == ""


def test_json_and_github_reports_stay_machine_readable() -> None:
    diag = Diagnostic("nope.yaml", 0, 0, Level.ERROR, "MF001", "cannot read")
    assert (
        report([diag], "github")
        == "::error file=nope.yaml::MF001 cannot read (hint: check the path exists and is readable)\n"
    )
    [listed] = json.loads(report([diag], "json"))
    assert listed["documentationUrl"] == f"{DOCS_URL}#mf001" and "See " not in report([diag], "json")
    located = Diagnostic("a.yaml", 3, 0, Level.ERROR, "MF002", "bad")
    assert report([located], "text").startswith("a.yaml:3: error MF002 bad\n")
    assert report([located], "github").startswith("::error file=a.yaml,line=3::MF002")


def test_the_command_line_does_not_load_the_reference() -> None:
    code = "import sys, meshform.cli\nprint('meshform.code_docs' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=30)
    assert proc.stdout.decode().strip() == "False"
