"""A model of `istioctl kube-inject` and `linkerd inject --manual` for property tests over generated
workloads. What they add and where is read off their real output in fixtures/injected/real (the sidecar
containers and volumes are copied from there): Istio's status, labels and Prometheus merge on the pod
template (a CronJob's on `spec.jobTemplate.metadata`), probes moved to its agent with the originals in
ISTIO_KUBE_APP_PROBERS (named ports resolved to numbers, HTTPS asked over HTTP), and Go's zero-value
stubs; Linkerd's labels, annotations, proxy (classic: first container; native: an init container).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from meshform.core.workloads import pod_template

REAL = Path(__file__).resolve().parent / "fixtures" / "injected" / "real"
PROBES = {"readinessProbe": "readyz", "livenessProbe": "livez", "startupProbe": "startupz"}
STATUS_PORT = 15020


@cache
def _real_pod(mesh: str, variant: str) -> dict[str, Any]:
    data: dict[str, Any] = next(yaml.safe_load_all((REAL / mesh / variant / "pod.yaml").read_text()))
    return data


def _parts(mesh: str, variant: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    spec = _real_pod(mesh, variant)["spec"]
    return {
        key: [copy.deepcopy(i) for i in spec.get(key, []) if i["name"].startswith(prefix)]
        for key in ("initContainers", "containers", "volumes")
    }


def _go_stubs(obj: dict[str, Any]) -> None:
    """What Go's serializer writes for fields the author left out."""
    kind = obj["kind"]
    obj["status"] = (
        {"currentNumberScheduled": 0, "desiredNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0}
        if kind == "DaemonSet"
        else {}
    )
    if kind == "Deployment":
        obj["spec"].setdefault("strategy", {})
    if kind in ("DaemonSet", "StatefulSet"):
        obj["spec"].setdefault("updateStrategy", {})
    for container in pod_template(obj)["spec"]["containers"]:  # type: ignore[index]
        container.setdefault("resources", {})


def _resolved(action: dict[str, Any], container: dict[str, Any]) -> dict[str, Any] | None:
    port = action.get("port")
    if isinstance(port, str):
        numbers = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
        if not numbers:
            return None  # Istio leaves a probe on an unknown port name alone
        return {**action, "port": numbers[0]}
    return dict(action)


def _rewrite_probes(container: dict[str, Any]) -> dict[str, Any]:
    """Istio's probe rewrite: the original (port resolved) is saved, the probe asks the agent."""
    saved = {}
    for field, kind in PROBES.items():
        probe = container.get(field)
        handler = next((h for h in ("httpGet", "tcpSocket") if h in (probe or {})), None)
        if probe is None or handler is None:
            continue
        original = _resolved(probe[handler], container)
        if original is None:
            continue
        url = f"/app-health/{container['name']}/{kind}"
        saved[url] = {handler: original}
        http: dict[str, Any] = {"path": url, "port": STATUS_PORT}
        if handler == "httpGet":
            http = {**probe["httpGet"], **http}
            if http.get("scheme") == "HTTPS":
                http["scheme"] = "HTTP"
        rebuilt = {}
        for key, value in probe.items():
            rebuilt[("httpGet" if key == handler else key)] = http if key == handler else value
        container[field] = rebuilt
    return saved


def istio(obj: dict[str, Any], native: bool) -> dict[str, Any]:
    """`istioctl kube-inject` (native: ENABLE_NATIVE_SIDECARS) of one workload."""
    out = copy.deepcopy(obj)
    _go_stubs(out)
    template = pod_template(out)
    assert template is not None
    spec = template["spec"]
    if spec.get("hostNetwork") is True:
        return out  # skipped, but written back through the serializer all the same
    if out["kind"] == "CronJob":
        meta = out["spec"]["jobTemplate"].setdefault("metadata", {})
    else:
        meta = template.setdefault("metadata", {})
    parts = _parts("istio", "native" if native else "classic", "istio")
    proxy = next(c for c in parts["initContainers"] + parts["containers"] if c["name"] == "istio-proxy")
    proxy["env"] = [e for e in proxy["env"] if not e["name"].startswith(("ISTIO_KUBE_APP", "ISTIO_PROM"))]
    probers = {}
    for container in spec["containers"]:
        probers.update(_rewrite_probes(container))
    if probers:
        proxy["env"].append({"name": "ISTIO_KUBE_APP_PROBERS", "value": json.dumps(probers, sort_keys=True)})
    annotations = meta.setdefault("annotations", {})
    scrape = {k[len("prometheus.io/") :]: v for k, v in annotations.items() if k.startswith("prometheus.io/")}
    if scrape.get("scrape") != "false":
        if scrape:
            proxy["env"].append({"name": "ISTIO_PROMETHEUS_ANNOTATIONS", "value": json.dumps(scrape)})
        annotations.update(
            {
                "prometheus.io/path": "/stats/prometheus",
                "prometheus.io/port": "15020",
                "prometheus.io/scrape": "true",
            }
        )
    first = spec["containers"][0]["name"]
    annotations.setdefault("kubectl.kubernetes.io/default-container", first)
    annotations.setdefault("kubectl.kubernetes.io/default-logs-container", first)
    annotations["istio.io/rev"] = "default"
    names = {k: [i["name"] for i in v] or None for k, v in parts.items()}
    status = {**names, "imagePullSecrets": None, "revision": "default"}
    annotations["sidecar.istio.io/status"] = json.dumps(status, separators=(",", ":"))
    labels = meta.setdefault("labels", {})
    pod_labels = template.get("metadata", {}).get("labels", {})
    labels["security.istio.io/tlsMode"] = "istio"
    labels.setdefault(
        "service.istio.io/canonical-name",
        pod_labels.get("app.kubernetes.io/name") or pod_labels.get("app") or out["metadata"]["name"],
    )
    labels.setdefault("service.istio.io/canonical-revision", pod_labels.get("version", "latest"))
    spec["initContainers"] = parts["initContainers"] + spec.get("initContainers", [])
    spec["containers"] += parts["containers"]
    spec["volumes"] = spec.get("volumes", []) + parts["volumes"]
    return out


LINKERD_KINDS = ("Deployment", "DaemonSet", "Job", "Pod", "ReplicaSet", "StatefulSet")


def linkerd(obj: dict[str, Any], native: bool) -> dict[str, Any] | None:
    """`linkerd inject --manual` (classic: --native-sidecar=false) of one workload; None where it refuses."""
    out = copy.deepcopy(obj)
    template = pod_template(out)
    assert template is not None
    spec = template["spec"]
    if spec.get("hostNetwork") is True or out["kind"] not in LINKERD_KINDS:
        return None
    meta = template.setdefault("metadata", {})
    annotations = meta.setdefault("annotations", {})
    annotations.update(
        {
            "linkerd.io/created-by": "linkerd/cli edge-26.8.3",
            "linkerd.io/proxy-version": "edge-26.8.3",
            "linkerd.io/trust-root-sha256": "c35ea041e7d0396411efda68f8dee29e7822683896098911",
        }
    )
    if not native:
        annotations["config.linkerd.io/proxy-enable-native-sidecar"] = "false"
    labels = meta.setdefault("labels", {})
    labels["linkerd.io/control-plane-ns"] = "linkerd"
    if out["kind"] != "Pod":
        labels[f"linkerd.io/proxy-{out['kind'].lower()}"] = out["metadata"]["name"]
    labels["linkerd.io/workload-ns"] = out["metadata"].get("namespace", "default")
    parts = _parts("linkerd", "native" if native else "classic", "linkerd")
    if native:
        spec["initContainers"] = parts["initContainers"] + spec.get("initContainers", [])
    else:
        spec["initContainers"] = spec.get("initContainers", []) + parts["initContainers"]
        spec["containers"] = parts["containers"] + spec["containers"]
    spec["volumes"] = spec.get("volumes", []) + parts["volumes"]
    return out
