"""Env values that are not strings must render as the very text written, or be refused (quote it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAD = """apiVersion: meshform.dev/v1alpha1
kind: Application
metadata: {name: shop, namespace: shop}
spec:
  components:
  - name: web
    image: x
"""


def _run(tmp_path: Path, *args: str) -> tuple[int, list[dict[str, object]]]:
    cmd = [sys.executable, "-m", "meshform", *args, "--diagnostics", "json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    start = done.stderr.find("[")
    return done.returncode, json.loads(done.stderr[start:]) if start >= 0 else []


@pytest.mark.parametrize(
    "written",
    ["0777", "012", "0x10", "0o17", "1e3", "1_000", "+5", "True", "FALSE", ".inf", ".nan", "1.10", ".5"],
)
@pytest.mark.parametrize("style", ["flow", "block", "next-line"])
def test_rewritten_values_are_refused_located(tmp_path: Path, written: str, style: str) -> None:
    body = {
        "flow": f"    env: {{OK: 10, V: {written}}}\n",
        "block": f"    env:\n      OK: 10\n      V: {written}\n",
        "next-line": f"    env:\n      OK: 10\n      'V':\n        {written}\n",
    }[style]
    source = tmp_path / "app.yaml"
    source.write_text(HEAD + body)
    for command in ("validate", "render"):
        code, diags = _run(tmp_path, command, str(source))
        assert code == 1, (command, diags)
        found = [d for d in diags if d.get("path") == "$.spec.components[0].env.V"]
        assert found and found[0]["code"] == "MF103", diags
        assert not [d for d in diags if d.get("path") == "$.spec.components[0].env.OK"]


def test_canonical_values_render_as_written(tmp_path: Path) -> None:
    source = tmp_path / "app.yaml"
    source.write_text(HEAD + "    env: {I: 10, M: -5, T: true, F: false, S: '0777'}\n")
    done = subprocess.run(
        [sys.executable, "-m", "meshform", "render", str(source)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    for name, value in (("I", "10"), ("M", "-5"), ("T", "true"), ("F", "false"), ("S", "0777")):
        assert f"name: {name}\n" in done.stdout and (
            f'value: "{value}"' in done.stdout or f"value: '{value}'" in done.stdout
        ), done.stdout
