"""The yaml-rs fast path reads every document exactly as the Kubernetes-like reader (PyYAML, YAML 1.1)
does, or steps aside: it must never silently change what a plain scalar means."""

from __future__ import annotations

import json

import pytest
from conftest import subclassed
from hypothesis import given, settings
from hypothesis import strategies as st

from meshform.yamlio.fast import accelerated, load

TOKENS = [
    "on",
    "off",
    "yes",
    "no",
    "y",
    "n",
    "On",
    "NO",
    "true",
    "False",
    "0777",
    "010",
    "0o17",
    "0b101",
    "0x1F",
    "1:30",
    "190:20:30.15",
    "1_000",
    "1e3",
    "1.5e3",
    "1.0e+3",
    ".5",
    "1.",
    "-1",
    "+12",
    "0",
    "8080",
    "100m",
    "128Mi",
    "nginx:1.27",
    "2024-01-01",
    "~",
    "null",
    "Null",
    "=",
    "<<",
    ".inf",
    "plain text",
    "a-b",
    "v1",
    "12:30:00",
    "-0777",
    "3.14",
]
SCALAR = st.sampled_from(TOKENS).flatmap(
    lambda t: st.sampled_from([t, f'"{t}"', f"'{t}'"]) if t not in ("<<",) else st.just(f'"{t}"')
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    lines = []
    for i in range(draw(st.integers(1, 6))):
        value = draw(SCALAR)
        style = draw(st.sampled_from(["map", "seq", "flow"]))
        if style == "map":
            lines.append(f"k{i}: {value}")
        elif style == "seq":
            lines.append(f"k{i}:\n- {value}\n- {draw(SCALAR)}")
        else:
            lines.append(f"k{i}: [{value}, {draw(SCALAR)}]")
    if draw(st.booleans()):
        lines.append(f"{draw(st.sampled_from(['on', 'yes', 'key', 'n']))}: x")
    return "\n".join(lines) + "\n"


@settings(max_examples=500, deadline=None)
@given(documents())
def test_fast_reader_agrees_with_the_kubernetes_reader_or_steps_aside(text: str) -> None:
    fast = accelerated(text)
    if fast is not NotImplemented:  # JSON tells 1 from 1.0 from true, which == does not
        assert json.dumps(fast, sort_keys=True) == json.dumps(load(text), sort_keys=True)


@settings(max_examples=300, deadline=None)
@given(documents())
def test_suspicion_of_subclassed_data_is_that_of_plain_data(text: str) -> None:
    """_suspicious judges yaml-rs' exact types on a fast path and any other type on a general one:
    both must come to the same verdict."""
    from meshform.yamlio.fast import _suspicious

    yaml_rs = pytest.importorskip("yaml_rs", reason="the yaml-rs reader (meshform[fast]) is not installed")
    try:
        data = yaml_rs.loads(text, parse_datetime=False)
    except Exception:  # refused: nothing to judge
        return
    assert _suspicious(subclassed(data), text) == _suspicious(data, text)


# What _plain_in and _leading_zero answer for, as patterns: the reference they must agree with.
_ALPHABET = st.text(alphabet=" \t\n\r\u2003\u00a0:[{,-+#]}'\"0o8bB_xonyesN\\|", max_size=40)


@settings(max_examples=1500, deadline=None)
@given(_ALPHABET, st.sampled_from(["on", "yes", "N", "0o8", "-0", "08"]))
def test_plain_and_leading_zero_scans_find_what_their_patterns_find(text: str, word: str) -> None:
    import re

    from meshform.yamlio.fast import _leading_zero, _plain_in

    plain = re.compile(rf"(?:^|[\s\[{{,:-]){re.escape(word)}(?=[ \t]*(?:$|[#,\]}}:]))", re.MULTILINE)
    assert _plain_in(word, text) == (plain.search(text) is not None)
    assert _leading_zero(text) == (re.search(r"[\s:\[{,-][-+]?0[0-9_oObB]", text) is not None)
