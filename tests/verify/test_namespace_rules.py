"""`verify` gives the answers `transform` and `check` give (tests/test_namespace_rules.py) for the same
namespace situations (tests/namespace_situations.py), with the Namespaces live on a real API server."""

from __future__ import annotations

from pathlib import Path

import pytest
from namespace_situations import BY_HAND, GOVERNED, Answer, Situation, transformed

from meshform.verify.checks.conflicts import REASONS
from meshform.verify.results import Status
from verify import installers, kube
from verify.conftest import Cluster
from verify.helpers import problems, run


@pytest.fixture(scope="module")
def live(world: Cluster) -> Cluster:
    for s in GOVERNED + BY_HAND:
        if not s.namespace:  # kube-system and kube-public are the API server's own
            kube.apply_all(world.cp, installers.namespace(s.ns, s.ns_labels, s.ns_annotations))
    return world


def _live_answers(report_checks: list[tuple[str, Status]]) -> frozenset[tuple[str, bool]]:
    return frozenset((reason, status is Status.FAILED) for reason, status in report_checks)


def _expected(answer: Answer) -> frozenset[tuple[str, bool]]:
    return frozenset((REASONS[code], error) for code, error in answer)


def _verify(cluster: Cluster, path: Path, mode: str | None) -> frozenset[tuple[str, bool]]:
    report = run(cluster, path, mode=mode)
    found = [
        (c.reason, c.status) for c in report.checks if c.group == "namespaces" and c.status is not Status.OK
    ]
    assert all(reason in REASONS.values() for reason, _ in found), problems(report)
    return _live_answers(found)


@pytest.mark.parametrize("s", GOVERNED, ids=[s.id for s in GOVERNED])
def test_verify_agrees_on_governed_workloads(live: Cluster, tmp_path: Path, s: Situation) -> None:
    _, manifests = transformed(tmp_path, s)
    path = tmp_path / "governed.yaml"
    path.write_text(manifests)
    assert _verify(live, path, None) == _expected(s.on_output)


@pytest.mark.parametrize("s", BY_HAND, ids=[s.id for s in BY_HAND])
def test_verify_agrees_on_hand_governed_workloads(live: Cluster, tmp_path: Path, s: Situation) -> None:
    path = tmp_path / "by-hand.yaml"
    path.write_text(s.stream())
    assert _verify(live, path, s.mode) == _expected(s.expected)
