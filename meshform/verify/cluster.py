"""Read-only, cached lookups on one cluster: each object or list is asked for once per run.

Every lookup returns an `Answer`, so each check can tell *not installed* from *forbidden*,
*unreachable* and *timed out* without knowing HTTP.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from meshform.verify.client import Answer, Client, Kind

ADMISSION = "/apis/admissionregistration.k8s.io/v1"
APPS = "/apis/apps/v1"


@dataclass(frozen=True)
class Resource:
    """Where objects of one kind live in the API."""

    prefix: str  # /api/v1 or /apis/<group>/<version>
    plural: str
    namespaced: bool

    def path(self, namespace: str = "", name: str = "") -> str:
        ns = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        tail = f"/{urllib.parse.quote(name)}" if name else ""
        return f"{self.prefix}{ns}/{self.plural}{tail}"


KNOWN: dict[tuple[str, str], Resource] = {
    ("v1", "Namespace"): Resource("/api/v1", "namespaces", False),
    ("v1", "ConfigMap"): Resource("/api/v1", "configmaps", True),
    ("v1", "Service"): Resource("/api/v1", "services", True),
    ("v1", "Pod"): Resource("/api/v1", "pods", True),
    ("apps/v1", "Deployment"): Resource(APPS, "deployments", True),
    ("apps/v1", "DaemonSet"): Resource(APPS, "daemonsets", True),
    ("apps/v1", "StatefulSet"): Resource(APPS, "statefulsets", True),
    ("discovery.k8s.io/v1", "EndpointSlice"): Resource("/apis/discovery.k8s.io/v1", "endpointslices", True),
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"): Resource(
        ADMISSION, "mutatingwebhookconfigurations", False
    ),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): Resource(
        "/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False
    ),
}


@dataclass
class ClusterView:
    client: Client
    _cache: dict[str, Answer] = field(default_factory=dict)

    def _get(self, path: str, **query: str) -> Answer:
        key = path + "?" + urllib.parse.urlencode(sorted(query.items()))
        if key not in self._cache:
            self._cache[key] = self.client.get(path, **query)
        return self._cache[key]

    def version(self) -> Answer:
        return self._get("/version")

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> Answer:
        resource = self.resource(api_version, kind)
        if isinstance(resource, Answer):
            return resource
        return self._get(resource.path(namespace, name))

    def list(self, api_version: str, kind: str, namespace: str = "", **query: str) -> Answer:
        """A list (all namespaces when `namespace` is empty); `items` is [] when nothing matches."""
        resource = self.resource(api_version, kind)
        if isinstance(resource, Answer):
            return resource
        return self._get(resource.path(namespace), **query)

    def resource(self, api_version: str, kind: str) -> Resource | Answer:
        """The known table first, then API discovery (a 404 means the API group is not installed)."""
        if (api_version, kind) in KNOWN:
            return KNOWN[(api_version, kind)]
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        found = self._get(prefix)
        if not found.ok:
            return found
        listed = (found.data or {}).get("resources")
        for res in listed if isinstance(listed, list) else []:
            if isinstance(res, dict) and res.get("kind") == kind and "/" not in str(res.get("name", "")):
                return Resource(prefix, str(res["name"]), bool(res.get("namespaced")))
        return Answer(Kind.NOT_FOUND, message=f"the API serves no kind {kind} in {api_version}", code=404)

    def api_group(self, group: str) -> Answer:
        """Discovery of one API group: the versions it serves (404: it serves none)."""
        return self._get(f"/apis/{group}")

    def namespace(self, name: str) -> Answer:
        return self.get("v1", "Namespace", name)

    def webhooks(self, label_selector: str) -> Answer:
        return self.list(
            "admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", labelSelector=label_selector
        )

    def endpoint_slices(self, namespace: str, service: str) -> Answer:
        return self.list(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            namespace,
            labelSelector=f"kubernetes.io/service-name={service}",
        )

    def dry_run_pod(self, namespace: str, pod: dict[str, Any]) -> Answer:
        return self.client.dry_run_create(KNOWN[("v1", "Pod")].path(namespace), pod)


def items(answer: Answer) -> list[dict[str, Any]]:
    data = answer.data if answer.ok and isinstance(answer.data, dict) else {}
    return [i for i in data.get("items") or [] if isinstance(i, dict)]


def _keys(obj: Any, field: str) -> dict[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    found = meta.get(field) if isinstance(meta, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def labels_of(obj: Any) -> dict[str, Any]:
    return _keys(obj, "labels")


def annotations_of(obj: Any) -> dict[str, Any]:
    return _keys(obj, "annotations")
