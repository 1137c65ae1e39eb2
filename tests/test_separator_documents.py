"""Documents meshform must not overlook (issue 9, kind 8): one that begins on its own `---` line, and
one whose `kind:` line says something other than what YAML reads. Each is governed, and `check` fails
while it is not; unchanged, it is written back byte for byte."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from conftest import ROOT, invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_transform_properties import workload

from meshform.core.workloads import pod_template
from meshform.yamlio.split import split
from meshform.yamlio.writer import dump_stream

FIXTURES = ROOT / "tests" / "fixtures" / "readers"
ON_SEPARATOR = FIXTURES / "doc-on-separator.yaml"
KIND_LIES = FIXTURES / "kind-line-lies.yaml"
ENGINES = [((), {}), ((), {"MESHFORM_YAML_ENGINE": "pyyaml"}), (("--preserve-comments",), {})]


def _governed(text: str) -> dict[str, bool]:
    """Workload name → does its pod template carry meshform's status?"""
    out = {}
    for doc in yaml.safe_load_all(text):
        template = pod_template(doc) if isinstance(doc, dict) else None
        if template is not None:
            annotations = (template.get("metadata") or {}).get("annotations") or {}
            out[doc["metadata"]["name"]] = "meshform.dev/status" in annotations
    return out


@pytest.mark.parametrize("path", [ON_SEPARATOR, KIND_LIES], ids=["on-separator", "kind-line-lies"])
def test_check_fails_for_every_overlooked_workload_and_transform_governs_it(path: Any) -> None:
    names = list(_governed(path.read_text()))
    code, _, err = invoke("check", str(path), "--mode", "istio")
    assert code == 1
    assert sorted(line.split("/")[-1].split()[0] for line in err.splitlines() if "MF801" in line) == sorted(
        names
    )
    for extra, env in ENGINES:
        code, out, err = invoke("transform", str(path), "--mode", "istio", *extra, env=env)
        assert code == 0, err
        assert _governed(out) == dict.fromkeys(names, True)
        code, _, err = invoke("check", "-", "--mode", "istio", stdin=out.encode())
        assert code == 0, err
        assert err == f"{len([d for d in yaml.safe_load_all(out) if d is not None])} object(s) checked\n"


def test_documents_on_their_separator_line_are_located_at_that_line() -> None:
    code, _, err = invoke("check", str(ON_SEPARATOR), "--mode", "istio")
    assert code == 1
    lines = {line.split(": error")[0].rsplit(":", 2)[1] for line in err.splitlines() if "MF801" in line}
    assert lines == {"2", "3", "12", "23"}


def test_an_unchanged_document_on_its_separator_line_is_written_back_byte_for_byte() -> None:
    text = ON_SEPARATOR.read_text()
    settings_line = next(line for line in text.splitlines(keepends=True) if "kind: ConfigMap" in line)
    for extra, env in ENGINES:
        _, out, _ = invoke("transform", str(ON_SEPARATOR), "--mode", "istio", *extra, env=env)
        assert settings_line in out.splitlines(keepends=True)
        # nothing to do in kubernetes-native mode: the whole stream comes back as it was
        code, same, err = invoke(
            "transform", str(ON_SEPARATOR), "--mode", "kubernetes-native", *extra, env=env
        )
        assert (code, same) == (0, text), err


def test_governing_twice_changes_nothing_and_keeps_the_separators() -> None:
    for extra, env in ENGINES:
        _, once, _ = invoke("transform", str(ON_SEPARATOR), "--mode", "linkerd", *extra, env=env)
        _, twice, _ = invoke("transform", "-", "--mode", "linkerd", *extra, stdin=once.encode(), env=env)
        assert twice == once
        assert len([d for d in yaml.safe_load_all(once) if d is not None]) == 5


def test_a_block_mapping_started_on_the_separator_line_is_a_located_syntax_error() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n--- apiVersion: apps/v1\nkind: Deployment\n"
    for extra, env in ENGINES:
        code, out, err = invoke("transform", "-", "--mode", "istio", *extra, stdin=text.encode(), env=env)
        assert (code, out) == (1, "")
        assert err.startswith("<stdin>:4:15: error MF002 mapping values are not allowed"), err


def test_a_resource_list_may_begin_on_its_separator_line() -> None:
    resource_list = {
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "functionConfig": {"apiVersion": "v1", "kind": "ConfigMap", "data": {"mode": "istio"}},
        "items": [yaml.safe_load((FIXTURES / "deployment.yaml").read_text())],
    }
    code, out, err = invoke("krm", stdin=f"--- {json.dumps(resource_list)}\n".encode())
    assert code == 0, err
    assert _governed(yaml.dump(yaml.safe_load(out)["items"][0])) == {"web": True}


def test_a_scalar_document_on_its_separator_line_passes_through() -> None:
    text = "--- |\n  just text\n---\n" + (FIXTURES / "deployment.yaml").read_text()
    for extra, env in ENGINES:
        code, out, err = invoke("transform", "-", "--mode", "istio", *extra, stdin=text.encode(), env=env)
        assert code == 0, err
        assert out.startswith("--- |\n  just text\n---\n")
        assert _governed(out) == {"web": True}


# ------------------------------------------------------------------------------- properties


@settings(max_examples=300)
@given(
    st.lists(st.sampled_from(["a: 1", "--- {b: 2}", "---", "--- # c", "--- !!map", "...", "", "  x", "#"]))
)
def test_split_gives_back_its_input_exactly(lines: list[str]) -> None:
    text = "\n".join(lines) + ("\n" if lines else "")
    assert "".join(sep + doc for _, sep, doc in split(text)) == text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 4).flatmap(lambda n: st.tuples(*(workload(i) for i in range(n)))))
def test_workloads_of_every_kind_on_their_separator_lines_are_governed_as_in_block_style(
    objects: Any,
) -> None:
    on_separator = "".join(f"--- {json.dumps(o)}\n" for o in objects).encode()
    block = dump_stream(list(objects)).encode()
    checked = [invoke("check", "-", "--mode", "istio", stdin=text) for text in (on_separator, block)]
    assert checked[0][0] == checked[1][0] and checked[0][2].count("MF801") == checked[1][2].count("MF801")
    for extra, env in ENGINES:
        outs = [
            invoke("transform", "-", "--mode", "istio", *extra, stdin=t, env=env)
            for t in (on_separator, block)
        ]
        assert outs[0][0] == outs[1][0] == 0, outs
        assert _governed(outs[0][1]) == _governed(outs[1][1])
        assert [d for d in yaml.safe_load_all(outs[0][1]) if d] == [
            d for d in yaml.safe_load_all(outs[1][1]) if d
        ]


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet="-. \t\r\n%#a", max_size=60))
def test_separator_scan_finds_what_the_line_start_pattern_finds(text: str) -> None:
    """split's separators are found led by the marker (---, ...), each checked at a line start: the
    same matches, in order, as the pattern led by `^` (multiline) or a lone CR finds."""
    import re

    from meshform.yamlio.split import _separators

    reference = re.compile(r"(?:^|(?<=\r))(?:---(?:[ \t][^\r\n]*)?|\.\.\.)(?:\r\n|\r|\n|\Z)", re.MULTILINE)
    assert [m.span() for m in _separators(text)] == [m.span() for m in reference.finditer(text)]
