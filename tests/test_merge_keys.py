"""YAML merge keys (issue 9, kind 15): accepted on every path with the data Kubernetes reads (YAML 1.1:
merged in, explicit keys win), and the selector that shares an anchor with the pod template stays as
it was."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_transform_properties import workload

from meshform.core.workloads import pod_template
from meshform.yamlio.fast import FastLoader
from meshform.yamlio.roundtrip import dump, load
from meshform.yamlio.writer import dump_document, dump_stream

FIXTURES = ROOT / "tests" / "fixtures" / "readers"
SHARED = FIXTURES / "merge-shared-selector.yaml"
LABELS = FIXTURES / "merge-labels.yaml"
ENGINES = [((), {}), ((), {"MESHFORM_YAML_ENGINE": "pyyaml"}), (("--preserve-comments",), {})]


def _docs(text: str) -> list[Any]:
    # YAML 1.1 merges as kubectl (go-yaml) reads them: PyYAML 6.0.4's own loader lets a later map of a
    # merge sequence win, so the fast engine's loader (checked against go-yaml's rule below) reads.
    return [d for d in yaml.load_all(text, Loader=FastLoader) if d is not None]


def _every_path(path: Path, mode: str, tmp_path: Path) -> list[list[Any]]:
    """The data each path writes: transform on every engine, --in-place, and the KRM function."""
    outs = []
    for extra, env in ENGINES:
        code, out, err = invoke("transform", str(path), "--mode", mode, *extra, env=env)
        assert code == 0, err
        outs.append(_docs(out))
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    code, _, err = invoke("transform", str(copy), "--mode", mode, "--in-place")
    assert code == 0, err
    outs.append(_docs(copy.read_text()))
    items = "".join(
        "  " + line for line in path.read_text().splitlines(keepends=True) if not line.startswith("#")
    )
    resource_list = (
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"
        f"functionConfig: {{apiVersion: v1, kind: ConfigMap, data: {{mode: {mode}}}}}\n"
        f"items:\n- {items.lstrip()}"
    )
    code, out, err = invoke("krm", stdin=resource_list.encode())
    assert code == 0, err
    outs.append(yaml.load(out, Loader=FastLoader)["items"])
    return outs


def test_a_merged_container_and_a_shared_selector_read_as_kubectl_reads_them(tmp_path: Path) -> None:
    outs = _every_path(SHARED, "istio", tmp_path)
    assert all(out == outs[0] for out in outs)
    (deployment,) = outs[0]
    assert deployment["spec"]["selector"] == {"matchLabels": {"example.com/role": "adapter"}}
    template = deployment["spec"]["template"]
    assert template["metadata"]["labels"] == {
        "example.com/role": "adapter",
        "sidecar.istio.io/inject": "true",
    }
    assert template["spec"]["containers"][1] == {
        "name": "adapter-debug",
        "image": "registry.example.com/adapter:0.26",
        "ports": [{"name": "http-debug", "containerPort": 8081}],
    }


def test_in_place_keeps_the_merge_key_where_it_still_reads_back_the_same(tmp_path: Path) -> None:
    copy = tmp_path / "in.yaml"
    shutil.copy(SHARED, copy)
    code, _, err = invoke("transform", str(copy), "--mode", "istio", "--in-place")
    assert code == 0, err
    text = copy.read_text()
    assert "      - <<: *base\n        name: adapter-debug\n" in text
    assert "      - &base\n        name: adapter\n" in text  # anchors stay on what they named
    assert "  name: &name adapter\n" in text and "      name: *name\n" in text
    assert text.startswith("# One label map shared")


def test_a_mesh_label_that_came_in_through_a_merge_is_removed_for_real(tmp_path: Path) -> None:
    """meshform's own label (its status says so) reaches the pod template through `<<`: switching
    must remove it there, although the `<<` would bring it back if written again as it was."""
    for mode in ("linkerd", "kubernetes-native", "istio"):
        outs = _every_path(LABELS, mode, tmp_path)
        assert all(out == outs[0] for out in outs), mode
        (deployment,) = outs[0]
        owner = {"app": "web", "tier": "front", "sidecar.istio.io/inject": "true"}
        assert deployment["metadata"]["labels"] == owner  # the user's own: never meshform's to change
        assert deployment["spec"]["selector"] == {"matchLabels": {"app": "web"}}
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert ("sidecar.istio.io/inject" in labels) == (mode == "istio"), (mode, labels)
        assert labels["tier"] == "front" and labels["app"] == "web"


def test_switching_away_and_back_through_merges_gives_the_same_data() -> None:
    for extra, env in ENGINES:
        _, once, _ = invoke("transform", str(LABELS), "--mode", "istio", *extra, env=env)
        _, twice, _ = invoke("transform", "-", "--mode", "istio", *extra, stdin=once.encode(), env=env)
        assert twice == once
        _, away, _ = invoke("transform", "-", "--mode", "linkerd", *extra, stdin=once.encode(), env=env)
        _, back, _ = invoke("transform", "-", "--mode", "istio", *extra, stdin=away.encode(), env=env)
        assert _docs(back) == _docs(once)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &a {x: 1}\nb:\n  <<: *a\n  <<: *a\n", "<stdin>:4:3: error MF003 duplicate key"),
        ("a: &a {x: 1}\nb:\n  <<: *a\n  x: 2\n  x: 3\n", "<stdin>:5:3: error MF003 duplicate key"),
        ("b:\n  <<: 5\n", "<stdin>:2:7: error MF002 expected a mapping or list of mappings for merging"),
    ],
)
def test_a_broken_merge_is_the_same_located_error_on_every_engine(text: str, expected: str) -> None:
    for extra, env in ENGINES:
        code, out, err = invoke("transform", "-", "--mode", "istio", *extra, stdin=text.encode(), env=env)
        assert (code, out) == (1, "")
        assert err.startswith(expected), err


def test_an_application_built_with_merge_keys_renders_as_the_same_application_written_out() -> None:
    merged, expanded = FIXTURES / "merge-app.yaml", FIXTURES / "merge-app-expanded.yaml"
    assert invoke("validate", str(merged))[0] == 0
    for _, env in ENGINES[:2]:
        code, out, err = invoke("render", str(merged), "--mode", "builtin", env=env)
        assert code == 0, err
        assert out == invoke("render", str(expanded), "--mode", "builtin", env=env)[1]


def test_a_change_to_an_anchored_mapping_does_not_reach_its_merged_copy() -> None:
    """The round-trip engine reads merged keys as copies (as the fast engine and Kubernetes do): a change
    to the anchored container changes that container only, and the output says so."""
    data, indent = load(SHARED.read_text(), "in.yaml", 1)
    base = data["spec"]["template"]["spec"]["containers"][0]
    base["image"] = "registry.example.com/adapter:0.27"
    del base["ports"]
    out = _docs(dump(data, indent))[0]["spec"]["template"]["spec"]["containers"]
    assert out[0] == {"name": "adapter", "image": "registry.example.com/adapter:0.27"}
    assert out[1] == {
        "name": "adapter-debug",
        "image": "registry.example.com/adapter:0.26",
        "ports": [{"name": "http-debug", "containerPort": 8081}],
    }


# ------------------------------------------------------------------------------- properties

_PLACEHOLDER = re.compile(r'^( *)(labels|containers): "@@(\w+)@@"\n', re.MULTILINE)


def _with_merges(obj: dict[str, Any], extra_label: str) -> tuple[str, dict[str, Any]]:
    """The workload written with anchors and merge keys (its labels shared with the pod template
    through `<<`, a second container merged from the first), and the same data written out."""
    template = pod_template(obj)
    assert template is not None
    labels = template["metadata"]["labels"]
    first = template["spec"]["containers"][0]
    expanded = yaml.safe_load(dump_document(obj))
    owner = expanded["metadata"]
    exp_template = pod_template(expanded)
    assert exp_template is not None
    exp_template["spec"]["containers"].append({**first, "name": "debug"})
    blocks = {
        "containers": f"- &first {_flow(first)}\n- <<: *first\n  name: debug\n",
    }
    if template is not obj:  # the pod template's labels merge the owner's, plus one of their own
        owner["labels"] = dict(labels)
        obj["metadata"]["labels"] = "@@owner@@"
        exp_template["metadata"]["labels"] = {**labels, "extra": extra_label}
        blocks["owner"] = f"&owner {_flow(labels)}"
        blocks["labels"] = f"<<: *owner\nextra: {_flow(extra_label)}\n"
        template["metadata"]["labels"] = "@@labels@@"
    template["spec"]["containers"] = "@@containers@@"

    def block(match: re.Match[str]) -> str:
        indent, key, name = match.groups()
        body = blocks[name]
        if "\n" not in body:
            return f"{indent}{key}: {body}\n"
        return f"{indent}{key}:\n" + "".join(f"{indent}  {line}\n" for line in body.splitlines())

    return _PLACEHOLDER.sub(block, dump_document(obj)), expanded


def _flow(value: Any) -> str:
    import json

    return json.dumps(value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 3).flatmap(lambda n: st.tuples(*(workload(i) for i in range(n)))), st.data())
def test_workloads_of_every_kind_with_merge_keys_govern_as_written_out(
    objects: Any, data: st.DataObject
) -> None:
    pairs = [_with_merges(o, data.draw(st.sampled_from(["x", "on", "1:30"]))) for o in objects]
    merged = "---\n".join(text for text, _ in pairs)
    expanded = dump_stream([e for _, e in pairs])
    assert _docs(merged) == _docs(expanded)  # the fixture means what it says
    mode, other = data.draw(st.sampled_from(["istio", "linkerd", "builtin", "kuma"])), "istio-ambient"
    for extra, env in ENGINES:
        once = _run(merged, mode, extra, env)
        assert _docs(once) == _docs(_run(expanded, mode, extra, env))
        assert _run(once, mode, extra, env) == once
        assert _docs(_run(_run(once, other, extra, env), mode, extra, env)) == _docs(once)


def _run(text: str, mode: str, extra: tuple[str, ...], env: dict[str, str]) -> str:
    code, out, err = invoke("transform", "-", "--mode", mode, *extra, stdin=text.encode(), env=env)
    assert code == 0, err
    return out


SEQUENCE = FIXTURES / "merge-sequence-conflict.yaml"


@pytest.mark.parametrize("helm", [False, True])
def test_a_merge_sequence_lets_the_earlier_map_win_as_go_yaml_does(tmp_path: Path, helm: bool) -> None:
    expected = {"app": "web", "tier": "mid", "zone": "a"}  # own keys, then the first map, then the next
    assert yaml.load(SEQUENCE.read_text(), Loader=FastLoader)["spec"]["template"]["metadata"]["labels"] == (
        expected
    )
    outs = _every_path(SEQUENCE, "istio", tmp_path)
    for out in outs:
        (deployment,) = out
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert {k: labels[k] for k in expected} == expected
    if helm:
        code, out, err = invoke("helm-postrender", "--mode", "istio", stdin=SEQUENCE.read_bytes())
        assert code == 0, err
        (deployment,) = _docs(out)
        assert deployment["spec"]["template"]["metadata"]["labels"]["app"] == "web"
