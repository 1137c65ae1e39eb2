"""Kuma: the control plane Deployment and Service, the Mesh CRD, and the Mesh each pod names.

A pod whose `kuma.io/mesh` (pod, else namespace label, else `default`) names no Mesh is rejected.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from meshform.verify.checks.base import first_ready, named_anywhere, ready_object, service_endpoints
from meshform.verify.cluster import ClusterView, items, labels_of
from meshform.verify.results import Check, fail, ok, unavailable
from meshform.verify.targets import Target

INSTALL_FIX = "install Kuma's control plane (kumactl install control-plane | kubectl apply -f -, or Helm)"
NAME = "kuma-control-plane"


class KumaCheck:
    def check(self, view: ClusterView, group: str, targets: Sequence[Target]) -> Iterator[Check]:
        found = named_anywhere(view, "apps/v1", "Deployment", NAME)
        yield first_ready(group, found, f"Deployment {NAME}", INSTALL_FIX)
        ns = next((str(d["metadata"].get("namespace")) for d in items(found)), "kuma-system")
        yield service_endpoints(view, group, ns, NAME, f"check kubectl -n {ns} get pods")
        crd = view.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "meshes.kuma.io")
        yield ready_object(group, crd, "CustomResourceDefinition meshes.kuma.io", INSTALL_FIX)
        if not crd.ok:
            return
        for mesh in sorted({_mesh(view, t) for t in targets}):
            yield _mesh_exists(view, group, mesh)


def _mesh(view: ClusterView, target: Target) -> str:
    pod = labels_of(target.template).get("kuma.io/mesh")
    ns = view.namespace(target.namespace)
    return str(pod or (labels_of(ns.data).get("kuma.io/mesh") if ns.ok else None) or "default")


def _mesh_exists(view: ClusterView, group: str, mesh: str) -> Check:
    answer = view.get("kuma.io/v1alpha1", "Mesh", mesh)
    if answer.ok:
        return ok(group, f"Mesh {mesh} exists", f"Mesh/{mesh}")
    check = unavailable(
        group, answer, f"Mesh {mesh}", f"create the Mesh {mesh} (kind: Mesh, apiVersion: kuma.io/v1alpha1)"
    )
    if check.reason == "not-installed":
        return fail(
            group,
            f"Mesh {mesh} does not exist: Kuma rejects pods that name it",
            check.fix,
            "not-installed",
            f"Mesh/{mesh}",
        )
    return check
