"""Istio sidecar mode against a real kube-apiserver: injectors found by label, selectors predicted,
and the server-side dry run through the test injector proving (or disproving) injection."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from meshform.verify.results import Status
from verify import installers, kube
from verify.conftest import Cluster
from verify.controlplane import free_port
from verify.helpers import app, checks, deployment, problems, reasons, run
from verify.pki import CA

DRY = "injection"


@pytest.fixture(scope="module")
def istio_ns(world: Cluster) -> Cluster:
    ns = installers.namespace
    objs = [
        *ns("shop", {"istio-injection": "enabled"}),
        *ns("quiet", {"istio-injection": "disabled"}),
        *ns("canaried", {"istio.io/rev": "canary"}),
        *ns("plain"),
        *ns("nocert", {"istio-injection": "enabled"}),
    ]
    objs += [installers.istio_root_cert(n) for n in ("shop", "quiet", "canaried", "plain")]
    kube.apply_all(world.cp, objs)
    return world


def test_healthy_namespace_is_proven_by_the_dry_run(istio_ns: Cluster, tmp_path: Path) -> None:
    calls = len(istio_ns.injector.calls)
    report = run(istio_ns, app(tmp_path, "shop", "istio"))
    assert not report.failed, problems(report)
    assert not checks(report, status=Status.WARNING), problems(report)
    [proof] = checks(report, DRY)
    assert proof.message.endswith("istio-proxy injected by the webhook (dry run)")
    selected = [c.message for c in checks(report, "istio") if "is selected by" in c.message]
    assert selected == [
        "Deployment/shop/api is selected by istio-sidecar-injector: "
        "namespace.sidecar-injector.istio.io (revision default)"
    ]
    seen = istio_ns.injector.calls[calls:]
    assert seen and all(
        c["dryRun"] is True and c["namespace"] == "shop" for c in seen if c["mesh"] == "istio"
    )


def test_injection_disabled_namespace_beats_the_pod_label(istio_ns: Cluster, tmp_path: Path) -> None:
    report = run(istio_ns, app(tmp_path, "quiet", "istio"))
    assert report.failed
    assert {"not-selected", "injection-disabled", "not-injected"} <= reasons(report)
    [why] = checks(report, "istio", reason="not-selected")
    assert "istio-injection=disabled" in why.message
    assert why.fix == "kubectl label namespace quiet istio-injection=enabled --overwrite"


def test_namespace_revision_overrides_the_pods(istio_ns: Cluster, tmp_path: Path) -> None:
    manifests = deployment(tmp_path, "canaried", labels={"istio.io/rev": "default"})
    report = run(istio_ns, manifests, mode="istio")
    assert {c.reason for c in checks(report, status=Status.WARNING)} >= {"revision-overridden"}
    [proof] = checks(report, DRY)
    assert proof.status is Status.OK, problems(report)  # still injected, by the namespace's revision


def test_pod_revision_selects_its_injector(istio_ns: Cluster, tmp_path: Path) -> None:
    report = run(istio_ns, deployment(tmp_path, "plain", labels={"istio.io/rev": "canary"}), mode="istio")
    assert not report.failed, problems(report)
    assert any("revision canary" in c.message for c in checks(report, "istio"))


def test_unknown_revision_is_not_selected(istio_ns: Cluster, tmp_path: Path) -> None:
    report = run(
        istio_ns, deployment(tmp_path, "plain", name="lost", labels={"istio.io/rev": "nope"}), mode="istio"
    )
    [why] = checks(report, "istio", reason="not-selected")
    assert "no injector serves revision nope" in why.message
    assert "not-injected" in reasons(report)


def test_opted_out_pod_is_reported(istio_ns: Cluster, tmp_path: Path) -> None:
    manifests = deployment(tmp_path, "shop", name="batch", labels={"sidecar.istio.io/inject": "false"})
    report = run(istio_ns, manifests, mode="istio")
    [why] = checks(report, "istio", reason="not-selected")
    assert "the pod opts out" in why.message


def test_missing_root_cert_configmap(istio_ns: Cluster, tmp_path: Path) -> None:
    report = run(istio_ns, app(tmp_path, "nocert", "istio"))
    [missing] = checks(report, "istio", reason="not-installed")
    assert "ContainerCreating" in missing.message and "nocert/istio-ca-root-cert" in missing.message


def _revision(cluster: Cluster, rev: str, ns: str, **webhooks: object) -> None:
    """A revision of its own (its webhooks only select namespaces labelled with it)."""
    objs = [*installers.namespace(ns, {"istio.io/rev": rev}), installers.istio_root_cert(ns)]
    objs += installers.service(f"istiod-{rev}", "istio-system", [("https-webhook", 443, 15017)])
    objs.append(installers.istio_webhooks(rev, **webhooks))  # type: ignore[arg-type]
    kube.apply_all(cluster.cp, objs)


def test_stale_ca_bundle_fails_the_webhook_call(istio_ns: Cluster, tmp_path: Path) -> None:
    _revision(istio_ns, "stale", "stale", ca_pem=CA.create("an-old-ca").pem)
    report = run(istio_ns, app(tmp_path, "stale", "istio"))
    [call] = checks(report, DRY, Status.FAILED)
    assert call.reason == "webhook-failed" and "stale caBundle" in call.fix, problems(report)


def test_empty_ca_bundle(istio_ns: Cluster, tmp_path: Path) -> None:
    _revision(istio_ns, "nocab", "nocab", ca_pem=None)
    report = run(istio_ns, app(tmp_path, "nocab", "istio"))
    assert {"no-ca-bundle", "webhook-failed"} <= reasons(report), problems(report)


@pytest.mark.parametrize(("policy", "expected"), [("Fail", "webhook-failed"), ("Ignore", "not-injected")])
def test_injector_down(istio_ns: Cluster, tmp_path: Path, policy: str, expected: str) -> None:
    rev = f"down-{policy.lower()}"
    _revision(
        istio_ns,
        rev,
        rev,
        ca_pem=istio_ns.cp.ca.pem,
        url=f"https://127.0.0.1:{free_port()}/inject",
        failure=policy,
    )
    report = run(istio_ns, app(tmp_path, rev, "istio"))
    assert any("remote control plane" in c.message for c in checks(report, "istio"))
    assert expected in reasons(report), problems(report)


def test_deactivated_webhooks_are_ignored(istio_ns: Cluster, tmp_path: Path) -> None:
    _revision(istio_ns, "parked", "parked", ca_pem=istio_ns.cp.ca.pem, deactivated=True)
    report = run(istio_ns, app(tmp_path, "parked", "istio"))
    [found] = [c for c in checks(report, "istio") if c.message.startswith("sidecar injector(s) found")]
    assert "istio-sidecar-injector-parked" not in found.message
    assert "2 deactivated webhook(s) ignored" in found.message
    assert "not-selected" in reasons(report)


def test_remote_control_plane_by_url(istio_ns: Cluster, tmp_path: Path) -> None:
    port = istio_ns.injector.port
    _revision(
        istio_ns,
        "remote",
        "remote",
        ca_pem=istio_ns.cp.ca.pem,
        url=f"https://127.0.0.1:{port}/inject/rev/remote",
    )
    report = run(istio_ns, app(tmp_path, "remote", "istio"))
    assert not report.failed, problems(report)


def test_pre_injected_sidecar_is_not_injected_twice_and_skew_is_seen(
    istio_ns: Cluster, tmp_path: Path
) -> None:
    status = json.dumps(
        {"containers": ["istio-proxy"], "initContainers": ["istio-init"], "revision": "default"}
    )
    proxy = {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.26.0"}
    manifests = deployment(
        tmp_path, "shop", name="legacy", annotations={"sidecar.istio.io/status": status}, extra=[proxy]
    )
    report = run(istio_ns, manifests, mode="istio")
    [proof] = checks(report, DRY)
    assert proof.status is Status.OK and "pre-injected and left alone" in proof.message
    [skew] = checks(report, "version skew")
    assert skew.status is Status.WARNING and "1.26.0" in skew.message and "1.27.1" in skew.message


def test_native_workload_in_an_injecting_namespace_gets_a_sidecar(istio_ns: Cluster, tmp_path: Path) -> None:
    report = run(istio_ns, app(tmp_path, "shop", "kubernetes-native"))
    [two] = checks(report, DRY, Status.FAILED)
    assert two.reason == "two-meshes" and "istio-proxy (istio)" in two.message


def test_native_and_builtin_need_no_control_plane(istio_ns: Cluster, tmp_path: Path) -> None:
    for mode, proof in (
        ("kubernetes-native", "no sidecar injected"),
        ("builtin", "meshform-proxy pre-injected"),
    ):
        report = run(istio_ns, app(tmp_path, "plain", mode))
        assert not report.failed, problems(report)
        assert checks(report, f"{mode} control plane")[0].message.startswith("nothing needed")
        assert proof in checks(report, DRY)[0].message


def test_ca_bundle_check_reads_base64(istio_ns: Cluster) -> None:
    """The fixture writes caBundle as the apiserver stores it (base64 of PEM)."""
    code, obj = istio_ns.cp.request(
        "GET", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-sidecar-injector"
    )
    assert code == 200
    assert base64.b64decode(obj["webhooks"][0]["clientConfig"]["caBundle"]) == istio_ns.cp.ca.pem
