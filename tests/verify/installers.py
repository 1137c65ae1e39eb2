"""What each mesh's installer really creates, as the verify tests install it into the test cluster.

Names, labels, selectors and webhook shapes follow the meshes' own charts (istio-discovery's
mutatingwebhook.yaml, linkerd-control-plane's proxy-injector webhook, consul-k8s's connect-injector,
Kuma's control plane). Webhooks that name a Service reach the test injector through the apiserver's
egress proxy; statuses are written through the status subresource, as the controllers would.
"""

from __future__ import annotations

import base64
from typing import Any

Obj = dict[str, Any]
NEVER_MATCH = {"matchLabels": {"istio.io/deactivated": "never-match"}}


def meta(name: str, namespace: str = "", labels: dict[str, str] | None = None, **extra: Any) -> Obj:
    out: Obj = {"name": name, **extra}
    if namespace:
        out["namespace"] = namespace
    if labels:
        out["labels"] = labels
    return out


def namespace(
    name: str, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None
) -> list[Obj]:
    """A Namespace and its `default` ServiceAccount (the controller manager would create it)."""
    ns: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(name, labels=labels)}
    if annotations:
        ns["metadata"]["annotations"] = annotations
    return [ns, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("default", name)}]


def deployment(
    name: str,
    ns: str,
    image: str,
    ready: bool = True,
    labels: dict[str, str] | None = None,
    env: list[Obj] | None = None,
) -> Obj:
    app = {"app": name, **(labels or {})}
    container: Obj = {"name": "main", "image": image, **({"env": env} if env else {})}
    available = 1 if ready else 0
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, ns, app),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": app},
            "template": {"metadata": {"labels": app}, "spec": {"containers": [container]}},
        },
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": available,
            "availableReplicas": available,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if ready else "False",
                    "reason": "MinimumReplicasAvailable",
                }
            ],
        },
    }


def daemonset(
    name: str, ns: str, image: str, ready: int, desired: int = 3, labels: dict[str, str] | None = None
) -> Obj:
    app = {"k8s-app": name, **(labels or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta(name, ns, app),
        "spec": {
            "selector": {"matchLabels": app},
            "template": {
                "metadata": {"labels": app},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
        "status": {
            "currentNumberScheduled": desired,
            "desiredNumberScheduled": desired,
            "numberMisscheduled": 0,
            "numberReady": ready,
            "numberAvailable": ready,
        },
    }


def service(
    name: str,
    ns: str,
    ports: list[tuple[str, int, int]],
    ready: int = 1,
    labels: dict[str, str] | None = None,
) -> list[Obj]:
    """A Service and the EndpointSlice the endpointslice controller would write (`ready` endpoints)."""
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, ns, {"app": name, **(labels or {})}),
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": n, "port": p, "targetPort": t} for n, p, t in ports],
        },
    }
    endpoints = [
        {"addresses": [f"10.244.0.{10 + i}"], "conditions": {"ready": i < ready}}
        for i in range(max(ready, 1))
    ]
    eps = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta(
            f"{name}-abcde",
            ns,
            {
                "kubernetes.io/service-name": name,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
        ),
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": n, "port": t, "protocol": "TCP"} for n, _, t in ports],
    }
    return [svc, eps]


def config_map(
    name: str, ns: str, data: dict[str, str] | None = None, labels: dict[str, str] | None = None
) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, ns, labels), "data": data or {}}


# --------------------------------------------------------------------------------------------- Istio


def _istio_hook(prefix: str, client: Obj, ns_sel: Obj, obj_sel: Obj, failure: str) -> Obj:
    return {
        "name": f"{prefix}sidecar-injector.istio.io",
        "clientConfig": client,
        "sideEffects": "None",
        "rules": [
            {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
        ],
        "failurePolicy": failure,
        "reinvocationPolicy": "Never",
        "admissionReviewVersions": ["v1"],
        "namespaceSelector": ns_sel,
        "objectSelector": obj_sel,
    }


def _exprs(*terms: tuple[str, str, list[str] | None]) -> Obj:
    return {
        "matchExpressions": [
            {"key": k, "operator": op, **({"values": v} if v is not None else {})} for k, op, v in terms
        ]
    }


def istio_webhooks(
    revision: str,
    ca_pem: bytes | None,
    *,
    url: str = "",
    failure: str = "Fail",
    tag: str = "",
    deactivated: bool = False,
) -> Obj:
    """istio-discovery's MutatingWebhookConfiguration (revision `default` is Helm's revision "")."""
    rev = tag or revision
    svc_name = "istiod" if revision == "default" else f"istiod-{revision}"
    client: Obj = (
        {"url": url}
        if url
        else {"service": {"name": svc_name, "namespace": "istio-system", "path": "/inject", "port": 443}}
    )
    if ca_pem:
        client["caBundle"] = base64.b64encode(ca_pem).decode()
    not_false = _exprs(("sidecar.istio.io/inject", "NotIn", ["false"]))
    hooks = [
        _istio_hook(
            "rev.namespace.",
            client,
            _exprs(("istio.io/rev", "In", [rev]), ("istio-injection", "DoesNotExist", None)),
            not_false,
            failure,
        ),
        _istio_hook(
            "rev.object.",
            client,
            _exprs(("istio.io/rev", "DoesNotExist", None), ("istio-injection", "DoesNotExist", None)),
            _exprs(("sidecar.istio.io/inject", "NotIn", ["false"]), ("istio.io/rev", "In", [rev])),
            failure,
        ),
    ]
    if rev == "default":  # the default revision (or tag) also answers istio-injection / inject=true
        hooks += [
            _istio_hook(
                "namespace.", client, _exprs(("istio-injection", "In", ["enabled"])), not_false, failure
            ),
            _istio_hook(
                "object.",
                client,
                _exprs(("istio-injection", "DoesNotExist", None), ("istio.io/rev", "DoesNotExist", None)),
                _exprs(("sidecar.istio.io/inject", "In", ["true"]), ("istio.io/rev", "DoesNotExist", None)),
                failure,
            ),
        ]
    if deactivated:  # what istiod/istioctl do to a webhook a tag took over
        hooks = [{**h, "namespaceSelector": NEVER_MATCH, "objectSelector": NEVER_MATCH} for h in hooks]
    name = (
        f"istio-revision-tag-{tag}"
        if tag
        else ("istio-sidecar-injector" if revision == "default" else f"istio-sidecar-injector-{revision}")
    )
    labels = {
        "app": "sidecar-injector",
        "istio.io/rev": revision,
        "operator.istio.io/component": "Pilot",
        "release": "istiod",
    }
    if tag:
        labels["istio.io/tag"] = tag
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": meta(name, labels=labels),
        "webhooks": hooks,
    }


def istio(revision: str, version: str, ca_pem: bytes, ready: bool = True) -> list[Obj]:
    """istiod for one revision: Deployment, Service + EndpointSlice, ConfigMaps, the injector webhook."""
    suffix = "" if revision == "default" else f"-{revision}"
    labels = {"istio.io/rev": revision, "app": "istiod"}
    ports = [
        ("grpc-xds", 15010, 15010),
        ("https-dns", 15012, 15012),
        ("https-webhook", 443, 15017),
        ("http-monitoring", 15014, 15014),
    ]
    return [
        *namespace("istio-system"),
        deployment(f"istiod{suffix}", "istio-system", f"docker.io/istio/pilot:{version}", ready, labels),
        *service(f"istiod{suffix}", "istio-system", ports, 1 if ready else 0, labels),
        config_map(f"istio{suffix}", "istio-system", {"mesh": "defaultConfig: {}\n"}, labels),
        config_map(
            f"istio-sidecar-injector{suffix}",
            "istio-system",
            {"values": "{}", "config": "policy: enabled\n"},
            labels,
        ),
        istio_webhooks(revision, ca_pem),
    ]


def istio_root_cert(ns: str) -> Obj:
    return config_map(
        "istio-ca-root-cert",
        ns,
        {"root-cert.pem": "-----BEGIN CERTIFICATE-----\n"},
        {"istio.io/config": "true"},
    )


def ambient(ready: int, desired: int = 3) -> list[Obj]:
    env = [{"name": "PILOT_ENABLE_AMBIENT", "value": "true"}]
    return [
        *namespace("istio-system"),
        daemonset(
            "ztunnel", "istio-system", "docker.io/istio/ztunnel:1.27.1", ready, desired, {"app": "ztunnel"}
        ),
        daemonset("istio-cni-node", "istio-system", "docker.io/istio/install-cni:1.27.1", desired, desired),
        deployment(
            "istiod", "istio-system", "docker.io/istio/pilot:1.27.1", True, {"istio.io/rev": "default"}, env
        ),
    ]


# -------------------------------------------------------------------------------------------- Linkerd


def linkerd(ca_pem: bytes, version: str, ready: bool = True) -> list[Obj]:
    cp = {"linkerd.io/control-plane-ns": "linkerd"}
    hook = {
        "name": "linkerd-proxy-injector.linkerd.io",
        "namespaceSelector": _exprs(
            ("config.linkerd.io/admission-webhooks", "NotIn", ["disabled"]),
            ("kubernetes.io/metadata.name", "NotIn", ["kube-system", "cert-manager"]),
        ),
        "objectSelector": _exprs(
            ("linkerd.io/control-plane-component", "DoesNotExist", None),
            ("linkerd.io/cni-resource", "DoesNotExist", None),
        ),
        "clientConfig": {
            "service": {"name": "linkerd-proxy-injector", "namespace": "linkerd", "path": "/"},
            "caBundle": base64.b64encode(ca_pem).decode(),
        },
        "failurePolicy": "Ignore",
        "admissionReviewVersions": ["v1", "v1beta1"],
        "rules": [
            {
                "operations": ["CREATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["pods", "services"],
                "scope": "Namespaced",
            }
        ],
        "sideEffects": "None",
        "timeoutSeconds": 10,
    }
    webhook = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": meta(
            "linkerd-proxy-injector-webhook-config",
            labels={"linkerd.io/control-plane-component": "proxy-injector", **cp},
        ),
        "webhooks": [hook],
    }
    values = f"linkerdVersion: {version}\nproxy:\n  image:\n    name: cr.l5d.io/linkerd/proxy\n"
    objs = [
        *namespace(
            "linkerd",
            {"linkerd.io/is-control-plane": "true", "config.linkerd.io/admission-webhooks": "disabled", **cp},
        )
    ]
    objs.append(
        config_map(
            "linkerd-config",
            "linkerd",
            {"values": values},
            {"linkerd.io/control-plane-component": "controller", **cp},
        )
    )
    for part in ("identity", "destination", "proxy-injector"):
        objs.append(
            deployment(
                f"linkerd-{part}",
                "linkerd",
                f"cr.l5d.io/linkerd/controller:{version}",
                ready,
                {"linkerd.io/control-plane-component": part, **cp},
            )
        )
    objs += service(
        "linkerd-proxy-injector", "linkerd", [("proxy-injector", 443, 8443)], 1 if ready else 0, cp
    )
    return [*objs, webhook]


# ------------------------------------------------------------------------------------- Kuma, Consul


def kuma_crd() -> Obj:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": meta("meshes.kuma.io"),
        "spec": {
            "group": "kuma.io",
            "names": {"kind": "Mesh", "listKind": "MeshList", "plural": "meshes", "singular": "mesh"},
            "scope": "Cluster",
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


def kuma(ca_pem: bytes) -> list[Obj]:
    """Kuma's chart (cp-webhooks-and-secrets.yaml): a namespace-wide injector for namespaces labelled
    enabled/true, and a per-pod one for labelled pods in any namespace that carries the label at all."""
    system = ("kubernetes.io/metadata.name", "NotIn", ["kube-system", "kuma-system"])
    base = {
        "admissionReviewVersions": ["v1"],
        "failurePolicy": "Fail",
        "clientConfig": {
            "service": {"name": "kuma-control-plane", "namespace": "kuma-system", "path": "/inject-sidecar"},
            "caBundle": base64.b64encode(ca_pem).decode(),
        },
        "rules": [
            {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
        ],
        "sideEffects": "None",
    }
    hooks = [
        {
            "name": "namespace-kuma-injector.kuma.io",
            **base,
            "namespaceSelector": _exprs(("kuma.io/sidecar-injection", "In", ["enabled", "true"]), system),
        },
        {
            "name": "pods-kuma-injector.kuma.io",
            **base,
            "namespaceSelector": _exprs(("kuma.io/sidecar-injection", "Exists", None), system),
            "objectSelector": {"matchLabels": {"kuma.io/sidecar-injection": "enabled"}},
        },
    ]
    return [
        *namespace("kuma-system"),
        deployment(
            "kuma-control-plane",
            "kuma-system",
            "docker.io/kumahq/kuma-cp:2.11.2",
            True,
            {"app.kubernetes.io/name": "kuma"},
        ),
        *service(
            "kuma-control-plane",
            "kuma-system",
            [("https-api-server", 5682, 5682), ("https-admission-server", 443, 5443)],
        ),
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": meta(
                "kuma-admission-mutating-webhook-configuration", labels={"app": "kuma-control-plane"}
            ),
            "webhooks": hooks,
        },
    ]


def consul(ca_pem: bytes, ready: bool = True) -> list[Obj]:
    labels = {"app": "consul", "component": "connect-injector", "release": "consul"}
    hook = {
        "name": "consul-connect-injector.consul.hashicorp.com",
        "clientConfig": {
            "service": {"name": "consul-connect-injector", "namespace": "consul", "path": "/mutate"},
            "caBundle": base64.b64encode(ca_pem).decode(),
        },
        "rules": [
            {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
        ],
        "failurePolicy": "Fail",
        "sideEffects": "None",
        "admissionReviewVersions": ["v1", "v1beta1"],
        "namespaceSelector": _exprs(("kubernetes.io/metadata.name", "NotIn", ["kube-system", "consul"])),
    }
    return [
        *namespace("consul"),
        deployment(
            "consul-connect-injector", "consul", "hashicorp/consul-k8s-control-plane:1.8.1", ready, labels
        ),
        *service("consul-connect-injector", "consul", [("https", 443, 8080)], 1 if ready else 0, labels),
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": meta("consul-connect-injector", labels=labels),
            "webhooks": [hook],
        },
    ]
