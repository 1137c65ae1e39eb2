"""Every example x every mode x every enrollment it supports: snapshot, strict schema, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, ROOT, render
from k8s_schema import validate_manifest
from syrupy.assertion import SnapshotAssertion

from meshform.frontends.emit import render_stream
from meshform.modes import MODES

CASES = [
    (example, mode, strategy)
    for example in EXAMPLES
    for mode, impl in MODES.items()
    for strategy in impl.facts.strategies
]


def _id(case: tuple[Path, str, str]) -> str:
    example, mode, strategy = case
    return f"{example.parent.name}-{mode}-{strategy}"


# Pre-injection reads the cluster's injector inputs, which the examples do not carry: meshform's own
# test inputs stand in for them (a mesh absent here needs none).
INJECTOR_INPUTS = {"linkerd": ROOT / "tests" / "fixtures" / "linkerd" / "linkerd-config.yaml"}


def _with_inputs(example: Path, mode: str, strategy: str, tmp_path: Path) -> Path:
    """The example, or a copy of it given the mode's injector inputs where pre-injection needs them."""
    if strategy != "sidecar" or mode not in INJECTOR_INPUTS:
        return example
    app = yaml.safe_load(example.read_text())
    app["spec"].setdefault("modeOptions", {}).setdefault(mode, {})["valuesFile"] = str(INJECTOR_INPUTS[mode])
    copy = tmp_path / "app.yaml"
    copy.write_text(yaml.safe_dump(app, sort_keys=False))
    return copy


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_example_renders(
    case: tuple[Path, str, str], yaml_snapshot: SnapshotAssertion, tmp_path: Path
) -> None:
    example, mode, strategy = case
    result = render(_with_inputs(example, mode, strategy, tmp_path), mode, strategy)
    assert result.ok, result.diagnostics
    text = render_stream(result.objects, "yaml")
    assert text == yaml_snapshot
    for obj in yaml.safe_load_all(text):  # what Kubernetes (a YAML 1.1 reader) will see
        errors = validate_manifest(obj, "1.37")
        assert not errors, f"{obj['kind']}/{obj['metadata']['name']}: {errors}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.parent.name for e in EXAMPLES])
@pytest.mark.parametrize("mode", [m for m in MODES if m != "kubernetes-native"])
def test_enrollment_sits_on_the_pod_template(example: object, mode: str) -> None:
    """Never only on the workload object (Rainbond's first bug), and the record names the mode."""
    from meshform.core import status
    from meshform.core.workloads import pod_template

    result = render(example, mode)  # type: ignore[arg-type]
    governed = 0
    for obj in result.objects:
        template = pod_template(obj)
        if template is None:
            continue
        assert status.STATUS not in (obj["metadata"].get("annotations") or {})
        record = status.read(template)
        if obj["metadata"]["name"] == "db":  # pinned to kubernetes-native in the shop example
            # In a namespace meshform enrolls in Kuma, a native workload must opt out explicitly.
            opted_out = {"kuma.io/sidecar-injection": "disabled"} if mode == "kuma" else {}
            assert {k: template["metadata"]["labels"][k] for k in opted_out} == opted_out
            assert (record is None) == (not opted_out)
            continue
        assert record is not None
        governed += 1
        assert record.mode == mode
        for key in record.labels:
            assert key in template["metadata"]["labels"]
        for key in record.annotations:
            assert key in template["metadata"]["annotations"]
    assert governed >= 4
