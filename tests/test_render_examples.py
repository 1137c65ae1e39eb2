"""Every example x every mode x every enrollment it supports x both policy enforcements: the output
stream (snapshot, strict Kubernetes schema, each mesh object's CRD schema), and what each run says
(snapshot of the located diagnostics, as text). The examples declare traffic policy (bookinfo: a
split, faults, timeouts; three-tier: circuit breaking and outlier detection on its TCP database), so
strict refuses the modes that cannot enforce all of it, and best-effort renders it without."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, ROOT, render
from k8s_schema import validate_manifest
from syrupy.assertion import SnapshotAssertion

from meshform.diagnostics import Level, report
from meshform.frontends.emit import render_stream
from meshform.modes import MODES
from tests.policy import crds

CASES = [
    (example, mode, strategy)
    for example in EXAMPLES
    for mode, impl in MODES.items()
    for strategy in impl.facts.strategies
]
ENFORCEMENTS = ("strict", "best-effort")


def _id(case: tuple[Path, str, str]) -> str:
    example, mode, strategy = case
    return f"{example.parent.name}-{mode}-{strategy}"


def _relative(example: Path) -> str:
    """Diagnostics name the file as given: relative to the repository, so snapshots hold anywhere."""
    return str(example.relative_to(ROOT))


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


# Pre-injection reads the cluster's injector inputs, which the examples do not carry: meshform's own
# test inputs stand in for them (a mesh absent here needs none).
INJECTOR_INPUTS = {"linkerd": ROOT / "tests" / "fixtures" / "linkerd" / "linkerd-config.yaml"}


def _with_inputs(
    example: Path, mode: str, strategy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The example as a relative path (see _relative), or, where pre-injection needs the mode's injector
    inputs, a copy at the same relative path under `tmp_path` (made the working directory) with them
    appended to its spec, the document's last key: every line keeps its number and comment, so the
    diagnostics read as the example's own."""
    if strategy != "sidecar" or mode not in INJECTOR_INPUTS:
        return _relative(example)
    text = example.read_text()
    assert text.rstrip().splitlines()[-1].startswith("  ") and "\n  modeOptions:" not in text
    copy = tmp_path / _relative(example)
    copy.parent.mkdir(parents=True)
    copy.write_text(
        f"{text.rstrip()}\n  modeOptions:\n    {mode}:\n      valuesFile: {INJECTOR_INPUTS[mode]}\n"
    )
    monkeypatch.chdir(tmp_path)
    return _relative(example)


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_example_renders(
    case: tuple[Path, str, str],
    yaml_snapshot: SnapshotAssertion,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The output stream (best-effort, which every mode renders; strict output, where strict
    renders, is the same bytes: test_enforcement_refuses_or_renders_the_same_stream)."""
    example, mode, strategy = case
    app = _with_inputs(example, mode, strategy, tmp_path, monkeypatch)
    result = render(app, mode, strategy, policy_enforcement="best-effort")
    assert result.ok, result.diagnostics
    text = render_stream(result.objects, "yaml")
    assert text == yaml_snapshot
    mesh_objects = []
    for obj in yaml.safe_load_all(text):  # what Kubernetes (a YAML 1.1 reader) will see
        try:
            errors = validate_manifest(obj, "1.37")
        except LookupError:  # not a Kubernetes kind: a mesh's custom resource
            mesh_objects.append(obj)
            continue
        assert not errors, f"{obj['kind']}/{obj['metadata']['name']}: {errors}"
    if mesh_objects:
        catalogue = crds.require(crds.for_mode, mode)  # a skip, with the reason, when not built
        for obj in mesh_objects:
            errors = catalogue.errors(obj)
            assert not errors, f"{obj['kind']}/{obj['metadata']['name']}: {errors}"


CASES_BY_ENFORCEMENT = [(*case, enforcement) for case in CASES for enforcement in ENFORCEMENTS]


@pytest.mark.parametrize(
    "case", CASES_BY_ENFORCEMENT, ids=[f"{_id(c[:3])}-{c[3]}" for c in CASES_BY_ENFORCEMENT]
)
def test_enforcement_refuses_or_renders_the_same_stream(
    case: tuple[Path, str, str, str],
    snapshot: SnapshotAssertion,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `meshform render EXAMPLE --mode M --policy-enforcement E` says on stderr (snapshot), and
    its stdout: under strict either a refusal, located, of only the policy the mode cannot enforce
    (MF910) and no objects, or exactly the best-effort stream, which then left nothing out (the
    status records the model's own enforcement, not the flag's)."""
    example, mode, strategy, enforcement = case
    app = _with_inputs(example, mode, strategy, tmp_path, monkeypatch)
    result = render(app, mode, strategy, policy_enforcement=enforcement)
    assert report(result.diagnostics, "text") == snapshot
    errors = {d.code for d in result.diagnostics if d.level is Level.ERROR}
    left_out = [d for d in result.diagnostics if d.code == "MF911"]
    if enforcement == "best-effort":
        assert result.ok and not errors
        return
    assert not left_out
    if result.ok:
        best_effort = render(app, mode, strategy, policy_enforcement="best-effort")
        assert not [d for d in best_effort.diagnostics if d.code == "MF911"]
        assert render_stream(result.objects, "yaml") == render_stream(best_effort.objects, "yaml")
    else:
        assert errors == {"MF910"}
        assert all(d.line > 0 and d.col > 0 for d in result.diagnostics)


def test_strict_refuses_somewhere_and_renders_elsewhere() -> None:
    """Guards the parametrized test above against both enforcements meaning the same thing."""
    outcomes = {
        (example.parent.name, mode): render(_relative(example), mode, policy_enforcement="strict").ok
        for example in EXAMPLES
        for mode in MODES
    }
    assert outcomes[("bookinfo", "istio")] and outcomes[("bookinfo", "builtin")]
    assert not outcomes[("bookinfo", "linkerd")] and not outcomes[("bookinfo", "kubernetes-native")]
    assert outcomes[("three-tier", "istio")] and outcomes[("three-tier", "kuma")]
    assert not outcomes[("three-tier", "linkerd")]  # no connection limits, no failure accrual on TCP


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.parent.name for e in EXAMPLES])
@pytest.mark.parametrize("mode", [m for m in MODES if m != "kubernetes-native"])
def test_enrollment_sits_on_the_pod_template(example: Path, mode: str) -> None:
    """Never only on the workload object (Rainbond's first bug), and the record names the mode."""
    from meshform.core import status
    from meshform.core.workloads import pod_template

    result = render(example, mode)
    governed = 0
    for obj in result.objects:
        template = pod_template(obj)
        if template is None:
            continue
        assert status.STATUS not in (obj["metadata"].get("annotations") or {})
        record = status.read(template)
        if obj["metadata"]["name"] == "migrate":  # pinned to kubernetes-native in the shop example
            # In a namespace meshform enrolls in Kuma, a native workload must opt out explicitly.
            opted_out = {"kuma.io/sidecar-injection": "disabled"} if mode == "kuma" else {}
            assert {k: template["metadata"]["labels"][k] for k in opted_out} == opted_out
            # Its record, if any, holds the opt-out and the neutral policy of its edge to the
            # database (so a switch renders it), and enrolls it nowhere.
            assert record is not None and record.mode == "kubernetes-native"
            assert dict(record.labels) == dict.fromkeys(opted_out) and not record.annotations
            continue
        assert record is not None
        governed += 1
        assert record.mode == mode
        for key in record.labels:
            assert key in template["metadata"]["labels"]
        for key in record.annotations:
            assert key in template["metadata"]["annotations"]
    assert governed >= 4
