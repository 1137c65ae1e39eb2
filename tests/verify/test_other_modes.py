"""Ambient, Kuma, Consul and a user-defined mode against a real kube-apiserver."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshform.model.modes_file import load_registry
from meshform.verify.results import Status
from verify import installers, kube
from verify.conftest import Cluster
from verify.helpers import app, checks, problems, reasons, run


@pytest.fixture(scope="module")
def spaces(world: Cluster) -> Cluster:
    ns = installers.namespace
    objs = [
        *ns("ambient"),
        *ns("ambient-sidecar", {"istio-injection": "enabled"}),
        *ns("kuma-app", {"kuma.io/sidecar-injection": "enabled"}),
        *ns("kuma-unlabelled"),
        *ns("kuma-selective", {"kuma.io/sidecar-injection": "disabled"}),
        *ns("consul-app"),
        *ns("acme"),
    ]
    kube.apply_all(world.cp, [*objs, installers.istio_root_cert("ambient-sidecar")])
    return world


@pytest.mark.parametrize(("ready", "failed"), [(3, False), (2, True)])
def test_ambient_needs_ztunnel_on_every_node(
    spaces: Cluster, tmp_path: Path, ready: int, failed: bool
) -> None:
    kube.apply_all(spaces.cp, installers.ambient(ready))
    report = run(spaces, app(tmp_path, "ambient", "istio-ambient"))
    assert report.failed is failed, problems(report)
    messages = [c.message for c in checks(report, "istio-ambient")]
    assert any(
        f"DaemonSet ztunnel is {'' if not failed else 'not '}ready ({ready}/3 nodes ready)" in m
        for m in messages
    )
    assert "no sidecar injected" in checks(report, "injection")[0].message


def test_the_sidecar_wins_over_ambient(spaces: Cluster, tmp_path: Path) -> None:
    kube.apply_all(spaces.cp, installers.ambient(3))
    report = run(spaces, app(tmp_path, "ambient-sidecar", "istio-ambient"))
    [two] = checks(report, "injection", Status.FAILED)
    assert two.reason == "two-meshes" and "istio-proxy (istio)" in two.message


def test_kuma_healthy(spaces: Cluster, tmp_path: Path) -> None:
    report = run(spaces, app(tmp_path, "kuma-app", "kuma"))
    assert not report.failed, problems(report)
    assert "kuma-sidecar injected by the webhook" in checks(report, "injection")[0].message
    assert any(c.message == "Mesh default exists" for c in checks(report, "kuma"))


def test_kuma_namespace_without_its_label(spaces: Cluster, tmp_path: Path) -> None:
    report = run(spaces, app(tmp_path, "kuma-unlabelled", "kuma"))
    assert {"namespace-label-missing", "not-injected"} <= reasons(report), problems(report)


def test_kuma_selective_injection(spaces: Cluster, tmp_path: Path) -> None:
    """Kuma >= 2.11: the namespace labelled `disabled`, the pod `enabled` is injected (rw-11)."""
    report = run(spaces, app(tmp_path, "kuma-selective", "kuma"))
    assert not report.failed and not checks(report, "namespaces", Status.WARNING), problems(report)
    assert "kuma-sidecar injected by the webhook" in checks(report, "injection")[0].message


def test_kuma_mesh_missing(spaces: Cluster, tmp_path: Path) -> None:
    path = app(tmp_path, "kuma-app", "kuma", options={"kuma": {"mesh": "payments"}})
    report = run(spaces, path)
    [missing] = checks(report, "kuma", Status.FAILED)
    assert missing.reason == "not-installed" and "Mesh payments" in missing.message


def test_consul(spaces: Cluster, tmp_path: Path) -> None:
    report = run(spaces, app(tmp_path, "consul-app", "consul"))
    assert not report.failed, problems(report)
    assert "consul-dataplane injected" in checks(report, "injection")[0].message
    kube.apply(spaces.cp, installers.consul(spaces.cp.ca.pem, ready=False)[2])
    try:
        report = run(spaces, app(tmp_path, "consul-app", "consul"))
    finally:
        kube.apply(spaces.cp, installers.consul(spaces.cp.ca.pem)[2])
    assert "not-ready" in reasons(report), problems(report)


MODES = """\
apiVersion: meshform.dev/v1alpha1
kind: GovernanceModes
modes:
- name: acme
  podLabels: {sidecar.istio.io/inject: "true"}
  proofContainers: [istio-proxy]
  controlPlaneObjects:
  - {apiVersion: apps/v1, kind: Deployment, namespace: istio-system, name: istiod, ready: true}
  - {apiVersion: v1, kind: ConfigMap, namespace: istio-system, name: istio}
  - {apiVersion: kuma.io/v1alpha1, kind: Mesh, name: default}
  - {apiVersion: v1, kind: ConfigMap, namespace: istio-system, name: %s}
"""


@pytest.mark.parametrize(("extra", "failed"), [("istio-sidecar-injector", False), ("acme-config", True)])
def test_user_defined_mode_declares_its_checks(
    spaces: Cluster, tmp_path: Path, extra: str, failed: bool
) -> None:
    (tmp_path / "modes.yaml").write_text(MODES % extra)
    registry = load_registry(str(tmp_path / "modes.yaml"))
    report = run(spaces, app(tmp_path, "acme", "acme"), registry=registry)
    assert report.failed is failed, problems(report)
    group = checks(report, "acme control plane")
    assert len(group) == 4 and "Deployment istio-system/istiod is ready" in group[0].message
    assert "istio-proxy injected by the webhook" in checks(report, "injection")[0].message
    if failed:
        assert group[3].reason == "not-installed"
