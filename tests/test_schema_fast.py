"""The quick schema check never calls an invalid document valid (jsonschema is the judge)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from meshform.model.schema_fast import checker, is_valid
from meshform.resources import schema
from meshform.yamlio.reader import read_file

SCHEMAS = ["application.schema.json", "modes.schema.json", "transformer.schema.json"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "",
            "web",
            "Web_1",
            "istio",
            "labels",
            "sidecar",
            "http",
            "udp",
            "v1",
            "a" * 70,
            "meshform.dev/v1alpha1",
            "Application",
            "Deployment",
            "CronJob",
            "/x",
        ]
    ),
)
KEYS = st.sampled_from(
    [
        "apiVersion",
        "kind",
        "metadata",
        "spec",
        "name",
        "namespace",
        "components",
        "image",
        "ports",
        "port",
        "protocol",
        "dependencies",
        "governanceMode",
        "enrollment",
        "workload",
        "env",
        "labels",
        "mode",
        "rules",
        "modes",
        "podLabels",
        "replicas",
        "versions",
        "x",
    ]
)
DOCS = st.recursive(
    SCALARS, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(KEYS, c, max_size=5)), max_leaves=30
)


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_schema_is_supported(name: str) -> None:
    assert checker(name) is not None


@pytest.mark.parametrize("name", SCHEMAS)
@settings(max_examples=300, deadline=None)
@given(doc=DOCS)
def test_quick_check_agrees_with_jsonschema(name: str, doc: Any) -> None:
    assert is_valid(doc, name) == Draft202012Validator(schema(name)).is_valid(doc)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.parent.name for e in EXAMPLES])
def test_examples_are_valid_both_ways(example: object) -> None:
    data = read_file(str(example))[0].data
    assert is_valid(data, "application.schema.json")
    assert Draft202012Validator(schema("application.schema.json")).is_valid(data)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_quick_check_agrees_on_mutated_valid_models(data: st.DataObject) -> None:
    """Near-valid documents: one example with one value replaced or one key dropped."""
    import copy

    doc = copy.deepcopy(read_file(str(data.draw(st.sampled_from(EXAMPLES))))[0].data)
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(DOCS)
    name = "application.schema.json"
    assert is_valid(doc, name) == Draft202012Validator(schema(name)).is_valid(doc)


@pytest.mark.parametrize("value", [0.0, 80.0, -3.0, 1.5, float("inf")])
def test_integral_floats_are_integers_as_json_schema_says(value: float) -> None:
    """Found by the property above: an env value (string, integer or boolean) of 0.0."""
    import copy

    doc = copy.deepcopy(read_file(str(EXAMPLES[0]))[0].data)
    doc["spec"]["components"][2]["env"]["LOG_DIR"] = value
    name = "application.schema.json"
    assert is_valid(doc, name) == Draft202012Validator(schema(name)).is_valid(doc)
