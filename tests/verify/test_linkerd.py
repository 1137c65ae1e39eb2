"""Linkerd against a real kube-apiserver: its webhook's real selectors, the pod-over-namespace rule,
an injector that fails silently (failurePolicy Ignore), and a pre-injected proxy's version skew."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshform.verify.results import Status
from verify import installers, kube
from verify.conftest import Cluster
from verify.controlplane import free_port
from verify.helpers import app, checks, deployment, problems, reasons, run


@pytest.fixture(scope="module")
def linkerd_ns(world: Cluster) -> Cluster:
    ns = installers.namespace
    objs = [
        *ns("emojivoto"),
        *ns("optout", annotations={"linkerd.io/inject": "disabled"}),
        *ns("nohooks", {"config.linkerd.io/admission-webhooks": "disabled"}),
    ]
    kube.apply_all(world.cp, objs)
    return world


def test_healthy_linkerd(linkerd_ns: Cluster, tmp_path: Path) -> None:
    report = run(linkerd_ns, app(tmp_path, "emojivoto", "linkerd"))
    assert not report.failed, problems(report)
    names = " ".join(c.message for c in checks(report, "linkerd control plane"))
    for part in (
        "linkerd-config",
        "linkerd-identity",
        "linkerd-destination",
        "linkerd-proxy-injector",
        "ready endpoint",
    ):
        assert part in names
    assert "linkerd-proxy injected by the webhook" in checks(report, "injection")[0].message


def test_pod_annotation_wins_over_a_disabled_namespace(linkerd_ns: Cluster, tmp_path: Path) -> None:
    report = run(linkerd_ns, app(tmp_path, "optout", "linkerd"))
    assert not report.failed, problems(report)


def test_namespace_excluded_from_the_webhook(linkerd_ns: Cluster, tmp_path: Path) -> None:
    report = run(linkerd_ns, app(tmp_path, "nohooks", "linkerd"))
    assert {"not-selected", "webhook-excluded", "not-injected"} <= reasons(report), problems(report)


def test_injector_down_admits_pods_unmeshed(linkerd_ns: Cluster, tmp_path: Path) -> None:
    cp = linkerd_ns.cp
    _, svc = cp.request("GET", "/api/v1/namespaces/linkerd/services/linkerd-proxy-injector")
    slice_down = installers.service(
        "linkerd-proxy-injector", "linkerd", [("proxy-injector", 443, 8443)], ready=0
    )[1]
    kube.apply(cp, slice_down)
    linkerd_ns.proxy.routes[svc["spec"]["clusterIP"]] = free_port()  # nothing listens there
    try:
        report = run(linkerd_ns, app(tmp_path, "emojivoto", "linkerd"))
    finally:
        linkerd_ns.route_services()
        kube.apply(
            cp, installers.service("linkerd-proxy-injector", "linkerd", [("proxy-injector", 443, 8443)])[1]
        )
    assert {"not-ready", "not-injected"} <= reasons(report), problems(report)


def test_pre_injected_proxy_skew(linkerd_ns: Cluster, tmp_path: Path) -> None:
    proxy = {"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy:stable-2.14.10"}
    manifests = deployment(
        tmp_path, "emojivoto", name="old", annotations={"linkerd.io/inject": "enabled"}, extra=[proxy]
    )
    report = run(linkerd_ns, manifests, mode="linkerd")
    assert "pre-injected and left alone" in checks(report, "injection")[0].message, problems(report)
    [skew] = checks(report, "version skew")
    assert (
        skew.status is Status.WARNING and "stable-2.14.10" in skew.message and "edge-25.9.1" in skew.message
    )


def test_two_meshes_enrolling_one_namespace(linkerd_ns: Cluster, tmp_path: Path) -> None:
    kube.apply_all(
        linkerd_ns.cp,
        installers.namespace("both", {"istio-injection": "enabled"}, {"linkerd.io/inject": "enabled"}),
    )
    kube.apply(linkerd_ns.cp, installers.istio_root_cert("both"))
    report = run(linkerd_ns, app(tmp_path, "both", "istio"))
    two, pod = sorted(checks(report, "namespaces", Status.FAILED), key=lambda c: c.reason, reverse=True)
    assert two.reason == "two-meshes" and "istio and linkerd" in two.message
    assert pod.reason == "other-mesh" and "linkerd as well as istio" in pod.message
