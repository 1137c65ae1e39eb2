"""The session's real control plane: etcd + kube-apiserver on loopback, the test injector behind it.

Skipped with the reason when the binaries are not built; a failure instead when CI=true, so a missing
tool can never hide in a green CI run (`tests/run` builds them first).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from verify import installers, kube
from verify.controlplane import ControlPlane, tool_path
from verify.injector import ISTIO_VERSIONS, LINKERD_VERSION, ConnectProxy, Injector
from verify.pki import CA


@dataclass
class Cluster:
    cp: ControlPlane
    injector: Injector
    proxy: ConnectProxy
    workdir: Path

    def kubeconfig(self, user: str = "admin", **auth: object) -> Path:
        name = f"kubeconfig-{user}{'-exec' if 'exec' in auth else ''}"
        return self.cp.kubeconfig(self.workdir / name, user, **auth)

    def route_services(self) -> None:
        """Every Service-backed webhook reaches the injector; no exceptions."""
        self.proxy.default_port = self.injector.port
        self.proxy.routes.clear()


def _binaries() -> tuple[Path, Path]:
    etcd, apiserver = tool_path("etcd"), tool_path("kube-apiserver")
    if etcd is None or apiserver is None:
        reason = "etcd/kube-apiserver not built: run `bash tests/tools/build.sh kube`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return etcd, apiserver


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    etcd, apiserver = _binaries()
    workdir = tmp_path_factory.mktemp("control-plane")
    ca = CA.create("meshform-test-ca")
    proxy = ConnectProxy(workdir / "egress.sock")
    proxy.start()
    cp = ControlPlane(workdir, ca, proxy.socket_path)
    injector = Injector(ca, lambda ns: _annotations(cp, ns))
    try:
        cp.start(etcd, apiserver)
        injector.start(workdir)
        env = Cluster(cp, injector, proxy, workdir)
        env.route_services()
        kube.apply_all(cp, _verifier_rbac())
        yield env
    finally:
        injector.stop()
        cp.stop()
        proxy.stop()


@pytest.fixture(scope="session")
def world(cluster: Cluster) -> Cluster:
    """The meshes as their installers leave them: Istio (revisions default and canary), Linkerd, Kuma
    (with its Mesh CRD and the default Mesh), Consul. Tests add namespaces and their own breakage."""
    ca = cluster.cp.ca.pem
    objects = installers.istio("default", ISTIO_VERSIONS["default"], ca)
    objects += installers.istio("canary", ISTIO_VERSIONS["canary"], ca)
    objects += installers.linkerd(ca, LINKERD_VERSION)
    objects += [installers.kuma_crd(), *installers.kuma(ca)]
    objects += installers.consul(ca)
    kube.apply_all(cluster.cp, objects)
    kube.apply(
        cluster.cp, {"apiVersion": "kuma.io/v1alpha1", "kind": "Mesh", "metadata": {"name": "default"}}
    )
    return cluster


def _annotations(cp: ControlPlane, ns: str) -> dict[str, str]:
    code, obj = cp.request("GET", f"/api/v1/namespaces/{ns}")
    return dict((obj.get("metadata") or {}).get("annotations") or {}) if code == 200 else {}


def _verifier_rbac() -> list[dict[str, object]]:
    """The user `verifier` gets exactly the shipped ClusterRoles, bound cluster-wide."""
    import yaml

    from verify.controlplane import ROOT

    roles = [r for r in yaml.safe_load_all((ROOT / "examples/verify/clusterrole.yaml").read_text()) if r]
    bindings = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"test-{r['metadata']['name']}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": r["metadata"]["name"],
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "verifier"}],
        }
        for r in roles
    ]
    return [*roles, *bindings]
