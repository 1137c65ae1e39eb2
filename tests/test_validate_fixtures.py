"""Each negative fixture produces exactly its recorded, located diagnostic — through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

FIXTURES = sorted((ROOT / "tests" / "fixtures" / "invalid").glob("*.yaml"))


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_validate_reports_exact_diagnostic(fixture: Path) -> None:
    rel = fixture.relative_to(ROOT).as_posix()
    proc = run_cli("validate", rel)
    assert proc.returncode == 1
    assert proc.stdout == b""
    expected = fixture.with_suffix(".expected").read_text("utf-8")
    assert proc.stderr.decode() == expected
    assert b"Traceback" not in proc.stderr


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_render_refuses_with_nothing_on_stdout(fixture: Path) -> None:
    proc = run_cli("render", fixture.relative_to(ROOT).as_posix(), "--diagnostics", "json")
    assert proc.returncode == 1
    assert proc.stdout == b""  # never a partial or empty stream an orchestrator could apply
    diags = json.loads(proc.stderr)
    assert diags and all(d["level"] == "error" for d in diags)
    for d in diags:
        assert d["file"].endswith(fixture.name) and d["line"] >= 1 and d["col"] >= 1
        assert d["code"].startswith("MF") and d["hint"]


def test_every_error_in_one_run() -> None:
    proc = run_cli("validate", "tests/fixtures/invalid/many-errors.yaml", "--diagnostics", "json")
    codes = [d["code"] for d in json.loads(proc.stderr)]
    assert codes == ["MF204", "MF201", "MF202", "MF106"]
