"""Items of a List and tagged values (issue 9, kind 7): nothing vanishes, is reordered or stringified.
A List item that is not an object, a List inside a List, a tag readers disagree about and a mapping as
a key are refused, located, by every engine; everything else is kept, in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_transform_properties import workload

from meshform.yamlio.writer import dump_document

FIXTURES = ROOT / "tests" / "fixtures" / "readers"
ENGINES = [
    ((), {}),  # yaml-rs
    ((), {"MESHFORM_YAML_ENGINE": "pyyaml"}),  # libyaml
    (("--preserve-comments",), {}),  # ruamel round trip
]


def _transform_everywhere(path: Path, out_dir: Path) -> list[tuple[int, str, str]]:
    """transform on every engine, to stdout and to a directory, and the KRM function for a
    ResourceList: (exit code, stdout, stderr) of each."""
    runs = [invoke("transform", str(path), "--mode", "istio", *extra, env=env) for extra, env in ENGINES]
    runs.append(invoke("transform", str(path), "--mode", "istio", "-o", f"{out_dir}/"))
    runs.append(invoke("check", str(path), "--mode", "istio"))
    if "kind: ResourceList" in path.read_text():
        runs.append(invoke("krm", stdin=path.read_bytes()))
    return runs


def _diagnostics(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith(("  hint:", "See "))]


# ------------------------------------------------------------------------------- List items


def test_items_of_a_list_that_are_not_objects_are_refused_where_they_are(tmp_path: Path) -> None:
    path = FIXTURES / "list-odd-items.yaml"
    expected = [
        f"{path}:13:3: error MF008 item 2 of this List is the string 'a stray string', not a Kubernetes "
        "object; meshform would have to drop or rewrite it",
        f"{path}:14:3: error MF008 item 3 of this List is null, not a Kubernetes object; meshform would "
        "have to drop or rewrite it",
        f"{path}:15:3: error MF008 item 4 of this List is the int 42, not a Kubernetes object; meshform "
        "would have to drop or rewrite it",
        f"{path}:16:3: error MF008 item 5 of this List is a list, not a Kubernetes object; meshform would "
        "have to drop or rewrite it",
    ]
    for code, out, err in _transform_everywhere(path, tmp_path / "out"):
        assert (code, out) == (1, "")
        assert _diagnostics(err)[:4] == expected
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_resource_list_with_odd_items_is_refused_by_the_krm_function_too(tmp_path: Path) -> None:
    path = FIXTURES / "resourcelist-odd-items.yaml"
    for code, out, err in _transform_everywhere(path, tmp_path / "out"):
        assert (code, out) == (1, "")
        said = [d.split(": error ")[0] for d in _diagnostics(err)]
        assert [
            s.split(":", 1)[1] if s.startswith("<stdin>") else s.removeprefix(f"{path}:") for s in said
        ] == [
            "16:3",
            "17:3",
        ]


def test_a_list_inside_a_list_is_refused_so_its_workloads_cannot_hide(tmp_path: Path) -> None:
    path = FIXTURES / "list-in-list.yaml"
    for code, out, err in _transform_everywhere(path, tmp_path / "out"):
        assert (code, out) == (1, "")
        assert _diagnostics(err)[0].startswith(
            f"{path}:7:3: error MF008 item 2 of this List is itself a List"
        )


def test_a_list_of_objects_keeps_every_item_in_order() -> None:
    text = (FIXTURES / "list-odd-items.yaml").read_text()
    kept = "".join(
        line for line in text.splitlines(keepends=True) if not line.startswith(('- "', "- n", "- 4", "- ["))
    )
    for extra, env in ENGINES:
        code, out, err = invoke("transform", "-", "--mode", "istio", *extra, stdin=kept.encode(), env=env)
        assert code == 0, err
        (listed,) = yaml.safe_load_all(out)
        assert [i["kind"] for i in listed["items"]] == ["Deployment", "Service"]
        assert listed["items"][1] == yaml.safe_load(kept)["items"][1]


# ------------------------------------------------------------------------------------- tags

DEPLOYMENT = (FIXTURES / "deployment.yaml").read_text()


def _tagged(value: str) -> str:
    """The Deployment with an annotation holding the value, written at line 7, column 11."""
    return DEPLOYMENT.replace(
        "  namespace: shop\n", f"  namespace: shop\n  annotations:\n    note: {value}\n", 1
    )


REFUSED_TAGS = {
    "!!binary aGVsbG8=": "unsupported YAML tag '!!binary'",
    "!!set {a, b}": "unsupported YAML tag '!!set'",
    "!!omap [a: 1, b: 2]": "unsupported YAML tag '!!omap'",
    "!!timestamp 2024-01-01": "unsupported YAML tag '!!timestamp'",
    "!!int '7'": "unsupported YAML tag '!!int'",
    "!!float 1e3": "unsupported YAML tag '!!float'",
    "!!bool yes": "unsupported YAML tag '!!bool'",
    "!foo bar": "unsupported YAML tag '!foo'",
    "!foo {a: 1}": "unsupported YAML tag '!foo'",
    "! 5": "unsupported YAML tag '!'",
    "!<tag:example.com,2000:x> 1": "unsupported YAML tag 'tag:example.com,2000:x'",
    "!!python/object/apply:os.system [true]": "unsupported YAML tag '!!python/object/apply:os.system'",
    "!!str {a: 1}": "YAML tag '!!str' cannot mark a mapping",
    "!<tag:yaml.org,2002:str> 0777": "verbatim YAML tag !<tag:yaml.org,2002:str>: write !!str",
    "!!map [a]": "YAML tag '!!map' cannot mark a sequence",
}


@pytest.mark.parametrize("value", list(REFUSED_TAGS))
def test_a_tag_readers_disagree_about_is_refused_where_it_is_on_every_engine(value: str) -> None:
    text = _tagged(value).encode()
    for extra, env in ENGINES:
        code, out, err = invoke("transform", "-", "--mode", "istio", *extra, stdin=text, env=env)
        assert (code, out) == (1, "")
        assert err.startswith(f"<stdin>:7:11: error MF007 {REFUSED_TAGS[value]}"), err
    code, out, err = invoke("validate", "-", stdin=text)  # the application-model reader too
    assert code == 1 and err.startswith(f"<stdin>:7:11: error MF007 {REFUSED_TAGS[value]}"), err


@pytest.mark.parametrize("value", ["!!str 5", "!!str true", "!!str", "&anchored !!str 0777"])
def test_core_tags_keep_their_meaning_on_every_engine(value: str) -> None:
    text = _tagged(value)
    expected = yaml.safe_load(text)["metadata"]["annotations"]["note"]
    for extra, env in ENGINES:
        code, out, err = invoke("transform", "-", "--mode", "istio", *extra, stdin=text.encode(), env=env)
        assert code == 0, err
        assert yaml.safe_load(out)["metadata"]["annotations"]["note"] == expected


def test_map_and_seq_tags_keep_their_meaning_on_every_engine() -> None:
    text = DEPLOYMENT.replace("  selector:\n", "  selector: !!map\n", 1).replace(
        "      containers:\n", "      containers: !!seq\n", 1
    )
    expected = yaml.safe_load(text)
    for extra, env in ENGINES:
        code, out, err = invoke(
            "transform", "-", "--mode", "kubernetes-native", *extra, stdin=text.encode(), env=env
        )
        assert code == 0, err
        assert yaml.safe_load(out) == expected


@pytest.mark.parametrize(
    ("key", "col"),
    [("? {a: 1}\n    : x", 7), ("? [a, b]\n    : x", 7), ("[a, b]: x", 5), ("? {a: {b: c}}\n    : x", 7)],
)
def test_a_mapping_or_sequence_as_a_key_is_refused_on_every_engine(key: str, col: int) -> None:
    text = DEPLOYMENT.replace("  namespace: shop\n", f"  namespace: shop\n  annotations:\n    {key}\n", 1)
    for extra, env in ENGINES:
        code, _, err = invoke("transform", "-", "--mode", "istio", *extra, stdin=text.encode(), env=env)
        assert code == 1 and err.startswith(
            f"<stdin>:7:{col}: error MF002 a mapping or a sequence as a key"
        ), err


# ------------------------------------------------------------------------------- properties

ODD_ITEMS = st.sampled_from(
    [
        ("a string", "the string 'a string'"),
        (None, "null"),
        (42, "the int 42"),
        (1.5, "the float 1.5"),
        (True, "the bool True"),
        (["x", "y"], "a list"),
        ({"apiVersion": "v1", "kind": "List", "items": []}, "itself a List"),
    ]
)


@st.composite
def lists_with_odd_items(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[int, str]]]:
    """A List (or ResourceList) of workloads of every kind with odd items at random places, and the
    (index, description) of each odd item."""
    items: list[Any] = [draw(workload(i)) for i in range(draw(st.integers(0, 4)))]
    odd: list[tuple[int, Any, str]] = []
    for _ in range(draw(st.integers(1, 3))):
        value, said = draw(ODD_ITEMS)
        at = draw(st.integers(0, len(items)))
        items.insert(at, value)
        odd = [(i + (i >= at), v, s) for i, v, s in odd] + [(at, value, said)]
    kind = draw(st.sampled_from(["List", "ResourceList"]))
    wrapper: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "items": items}
    if kind == "ResourceList":
        wrapper["apiVersion"] = "config.kubernetes.io/v1"
        wrapper["functionConfig"] = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"mode": "istio"}}
    return wrapper, sorted((i, s) for i, _, s in odd)


def _item_lines(text: str) -> list[int]:
    """1-based line of each item of the top-level `items`, as PyYAML's composer sees it."""
    root = yaml.compose(text)
    items = next(v for k, v in root.value if k.value == "items")
    return [node.start_mark.line + 1 for node in items.value]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lists_with_odd_items())
def test_odd_items_among_workloads_of_every_kind_are_refused_located_on_every_engine(
    case: tuple[dict[str, Any], list[tuple[int, str]]],
) -> None:
    wrapper, odd = case
    text = dump_document(wrapper)
    lines = _item_lines(text)
    expected = [
        f"<stdin>:{lines[i]}:3: error MF008 item {i + 1} of this {wrapper['kind']} is {said}, not a "
        for i, said in odd
    ]
    runs = [
        invoke("transform", "-", "--mode", "istio", *extra, stdin=text.encode(), env=env)
        for extra, env in ENGINES
    ]
    if wrapper["kind"] == "ResourceList":
        runs.append(invoke("krm", stdin=text.encode()))
    for code, out, err in runs:
        assert (code, out) == (1, "")
        said = _diagnostics(err)
        assert len(said) == len(expected)
        assert all(s.startswith(e) for s, e in zip(said, expected, strict=True)), (said, expected)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 5).flatmap(lambda n: st.tuples(*(workload(i) for i in range(n)))))
def test_a_list_of_workloads_of_every_kind_keeps_every_item_once_in_order(objects: tuple[Any, ...]) -> None:
    text = dump_document({"apiVersion": "v1", "kind": "List", "items": list(objects)})
    for extra, env in ENGINES:
        code, out, err = invoke("transform", "-", "--mode", "linkerd", *extra, stdin=text.encode(), env=env)
        assert code == 0, err
        (listed,) = yaml.safe_load_all(out)
        assert [(o["kind"], o["metadata"]["name"]) for o in listed["items"]] == [
            (o["kind"], o["metadata"]["name"]) for o in objects
        ]


TAGS = st.sampled_from([t for t in REFUSED_TAGS if " " in t and "{" not in t and "[" not in t])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 3).flatmap(lambda n: st.tuples(*(workload(i) for i in range(n)))), TAGS, st.data())
def test_a_refused_tag_on_any_value_of_workloads_of_every_kind_is_located_on_every_engine(
    objects: tuple[Any, ...], tagged: str, data: st.DataObject
) -> None:
    text = "---\n".join(dump_document(o) for o in objects)
    lines = text.splitlines(keepends=True)
    values = [
        n
        for n, line in enumerate(lines)
        if line.rstrip().endswith((": web", ": w0", ": w1", ": w2", ": gen"))
    ]
    n = data.draw(st.sampled_from(values))
    col = lines[n].index(": ") + 3
    lines[n] = lines[n][: col - 1] + tagged + "\n"
    bad = "".join(lines)
    for extra, env in ENGINES:
        code, out, err = invoke("transform", "-", "--mode", "istio", *extra, stdin=bad.encode(), env=env)
        assert (code, out) == (1, "")
        assert err.startswith(f"<stdin>:{n + 1}:{col}: error MF007 {REFUSED_TAGS[tagged]}"), (err, bad)
