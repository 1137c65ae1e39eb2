"""A user-defined mode's template that fails is reported at the template line that failed, under the
path the user can open from where meshform runs (the modes file names it relative to itself)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import invoke

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: web:1
"""
HEAD = 'name: proxy\nimage: "proxy:1"\n'
CASES = {
    "sandbox": (HEAD + "args:\n- {{ 'abc'.__class__ }}\n", 4, "template refused by the sandbox"),
    "undefined-call": (HEAD + "\n\nargs: {{ nothing.here() }}\n", 5, "template error"),
    "include": (HEAD + "{% include 'other.j2' %}\n", 3, "include, import and extends are not allowed"),
    "zero-division": (HEAD + "x: {{ 1 // (values | length) }}\n", 3, "ZeroDivisionError"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_failing_template_is_located_at_its_line(tmp_path: Path, case: str) -> None:
    template, line, said = CASES[case]
    (tmp_path / "mesh").mkdir()
    (tmp_path / "mesh" / "proxy.j2").write_text(template)
    (tmp_path / "mesh" / "modes.yaml").write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: GovernanceModes\nmodes:\n"
        "- name: acme\n  sidecar:\n    template: proxy.j2\n"
    )
    (tmp_path / "web.yaml").write_text(DEPLOYMENT)
    code, out, err = invoke(
        "transform", str(tmp_path / "web.yaml"), "--modes-file", str(tmp_path / "mesh" / "modes.yaml"),
        "--mode", "acme", "--enrollment", "sidecar",
    )  # fmt: skip
    assert (code, out) == (1, "")
    first = err.splitlines()[0]
    assert first.startswith(f"{tmp_path / 'mesh' / 'proxy.j2'}:{line}:1: error MF302 "), err
    assert said in first
    assert "no loader" not in err
