"""A document that is a YAML sequence holds objects no reader treats as objects: transform and check
refuse it, located, on every engine, instead of letting its workloads pass ungoverned."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FLOW = "---\n[{apiVersion: apps/v1, kind: Deployment, metadata: {name: g}, spec: {template: {spec: {}}}}]\n"
BLOCK = "- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n  spec: {containers: [{name: c, image: i}]}\n"


@pytest.mark.parametrize("text", [FLOW, BLOCK], ids=["flow", "block"])
@pytest.mark.parametrize(
    "args",
    [
        ["transform", "--mode", "istio"],
        ["transform", "--mode", "istio", "--preserve-comments"],
        ["check", "--mode", "istio"],
    ],
    ids=["fast", "round-trip", "check"],
)
def test_a_sequence_document_is_refused_where_it_is(tmp_path: Path, text: str, args: list[str]) -> None:
    path = tmp_path / "seq.yaml"
    path.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
        + ("" if text.startswith("---") else "---\n")
        + text
    )
    proc = subprocess.run(
        [sys.executable, "-m", "meshform", *args, str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stderr
    assert "MF008" in proc.stderr and f"{path}:" in proc.stderr
    assert proc.stdout == ""
