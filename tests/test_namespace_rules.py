"""Namespace precedence rules, offline: `transform` and `check` give the same answers for the same
situation (tests/namespace_situations.py; tests/verify/test_namespace_rules.py holds `verify` to the
same table on a real API server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from namespace_situations import BY_HAND, GOVERNED, Situation, checked, meshform, transformed


@pytest.mark.parametrize("s", GOVERNED, ids=[s.id for s in GOVERNED])
def test_transform_and_check_agree(tmp_path: Path, s: Situation) -> None:
    found, manifests = transformed(tmp_path, s)
    assert found == s.expected
    code, on_output = checked(tmp_path, s, manifests)
    assert on_output == s.on_output
    assert code == (1 if any(error for _, error in s.expected) else 0)


@pytest.mark.parametrize("s", BY_HAND, ids=[s.id for s in BY_HAND])
def test_check_judges_hand_governed_manifests(tmp_path: Path, s: Situation) -> None:
    code, found = checked(tmp_path, s, s.stream())
    assert found == s.expected
    assert code == (1 if any(error for _, error in s.expected) else 0)


def test_rw11_selective_kuma_gives_no_advice(tmp_path: Path) -> None:
    """rw-11: namespace `disabled`, pod to be `enabled`: the pod label is added and nothing is said,
    certainly not "label the namespace enabled" (which would mesh every pod in it)."""
    [s] = [s for s in GOVERNED if s.id == "kuma-selective"]
    source = tmp_path / "in.yaml"
    source.write_text(s.stream())
    code, out, diags = meshform("transform", str(source), "--mode", "kuma", "--diagnostics", "json")
    assert (code, diags) == (0, [])
    assert '"kuma.io/sidecar-injection": enabled' in out or "kuma.io/sidecar-injection: enabled" in out


def test_a_namespace_not_in_the_input_is_a_warning_once(tmp_path: Path) -> None:
    two = (
        '{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "%s", "namespace": "pay"},'
        ' "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},'
        ' "spec": {"containers": [{"name": "c", "image": "i"}]}}}}\n'
    )
    source = tmp_path / "in.yaml"
    source.write_text(two % "one" + "---\n" + two % "two")
    code, _, diags = meshform("transform", str(source), "--mode", "kuma", "--diagnostics", "json")
    assert code == 0 and [(d["code"], d["level"]) for d in diags] == [("MF404", "warning")]
    assert "namespace pay (not in the input)" in diags[0]["message"]
