"""Fixture writes to the test cluster as the admin: create or replace objects, set their status."""

from __future__ import annotations

import copy
import time
from typing import Any

from verify.controlplane import ControlPlane

# kind → (API prefix, plural, namespaced): only the kinds the fixtures install.
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Service": ("/api/v1", "services", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Pod": ("/api/v1", "pods", True),
    "EndpointSlice": ("/apis/discovery.k8s.io/v1", "endpointslices", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "DaemonSet": ("/apis/apps/v1", "daemonsets", True),
    "StatefulSet": ("/apis/apps/v1", "statefulsets", True),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    "MutatingWebhookConfiguration": (
        "/apis/admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
        False,
    ),
    "CustomResourceDefinition": ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "Mesh": ("/apis/kuma.io/v1alpha1", "meshes", False),
}


def collection(obj: dict[str, Any]) -> str:
    prefix, plural, namespaced = RESOURCES[obj["kind"]]
    ns = obj["metadata"].get("namespace", "default")
    return f"{prefix}/namespaces/{ns}/{plural}" if namespaced else f"{prefix}/{plural}"


def item(obj: dict[str, Any]) -> str:
    return f"{collection(obj)}/{obj['metadata']['name']}"


def apply(cp: ControlPlane, obj: dict[str, Any]) -> dict[str, Any]:
    """Create, or replace what is there; then write `status` through the status subresource."""
    body = {k: v for k, v in obj.items() if k != "status"}
    code, out = cp.request("POST", collection(obj), body)
    deadline = time.monotonic() + 20
    while code == 404 and time.monotonic() < deadline:  # a custom resource whose CRD is being established
        time.sleep(0.2)
        code, out = cp.request("POST", collection(obj), body)
    if code == 409:
        _, current = cp.request("GET", item(obj))
        body = copy.deepcopy(body)
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        code, out = cp.request("PUT", item(obj), body)
    if code >= 300:
        raise AssertionError(f"cannot apply {obj['kind']}/{obj['metadata']['name']}: {code} {out}")
    if "status" in obj:
        out = set_status(cp, out, obj["status"])
    return out


def set_status(cp: ControlPlane, current: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    body = {**current, "status": status}
    code, out = cp.request("PUT", item(current) + "/status", body)
    if code >= 300:
        raise AssertionError(f"cannot set status of {current['metadata']['name']}: {code} {out}")
    return dict(out)


def delete(cp: ControlPlane, obj: dict[str, Any]) -> None:
    code, out = cp.request("DELETE", item(obj))
    if code >= 300 and code != 404:
        raise AssertionError(f"cannot delete {obj['kind']}/{obj['metadata']['name']}: {code} {out}")


def apply_all(cp: ControlPlane, objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        apply(cp, obj)


def delete_all(cp: ControlPlane, objects: list[dict[str, Any]]) -> None:
    for obj in reversed(objects):
        if obj["kind"] != "Namespace":  # namespace deletion needs a controller manager; keep them
            delete(cp, obj)
