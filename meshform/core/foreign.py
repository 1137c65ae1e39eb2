"""Adopting workloads another tool injected: remove what `istioctl kube-inject`, `linkerd inject
--manual` (and the Kuma/Consul webhooks, in exported manifests) put on a pod template.

Unlike meshform's own status annotation, these markers do not record prior values, so adoption is
one-way: the result is the clean workload, which meshform then governs (and records) itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ISTIO_STATUS = "sidecar.istio.io/status"


@dataclass(frozen=True)
class Injector:
    """What one mesh's injector adds, by name."""

    mesh: str
    containers: frozenset[str]
    volumes: frozenset[str]
    labels: tuple[str, ...]  # exact keys, or prefixes ending in "/"
    annotations: tuple[str, ...]
    keep: tuple[tuple[str, str], ...] = ()  # (key, value) pairs the uninjector keeps


LINKERD = Injector(
    mesh="linkerd",
    containers=frozenset({"linkerd-proxy", "linkerd-init", "linkerd-network-validator"}),
    volumes=frozenset(
        {"linkerd-identity-end-entity", "linkerd-proxy-init-xtables-lock", "linkerd-identity-token"}
    ),
    labels=("linkerd.io/",),
    annotations=("linkerd.io/",),
    keep=(("linkerd.io/inject", "disabled"),),
)
KUMA = Injector(
    mesh="kuma",
    containers=frozenset({"kuma-sidecar", "kuma-init", "kuma-validation"}),
    volumes=frozenset(),
    labels=(),
    annotations=("kuma.io/sidecar-injected", "kuma.io/envoy-admin-port", "kuma.io/transparent-proxying"),
)
CONSUL = Injector(
    mesh="consul",
    containers=frozenset({"consul-dataplane", "consul-connect-inject-init"}),
    volumes=frozenset({"consul-connect-inject-data"}),
    labels=("consul.hashicorp.com/connect-inject-status",),
    annotations=("consul.hashicorp.com/connect-inject-status",),
)
ISTIO_LABELS = (
    "security.istio.io/tlsMode",
    "service.istio.io/canonical-name",
    "service.istio.io/canonical-revision",
)
ISTIO_ANNOTATIONS = (
    ISTIO_STATUS,
    "istio.io/rev",
    "kubectl.kubernetes.io/default-container",
    "kubectl.kubernetes.io/default-logs-container",
)
PROMETHEUS = ("prometheus.io/scrape", "prometheus.io/path", "prometheus.io/port")


def _env(container: dict[str, Any], name: str) -> str | None:
    for entry in container.get("env") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get("value")
            return value if isinstance(value, str) else None
    return None


def _drop_keys(mapping: Any, keys: Iterable[str], keep: tuple[tuple[str, str], ...] = ()) -> bool:
    if not isinstance(mapping, dict):
        return False
    doomed = [
        k
        for k in mapping
        if any(k == p or (p.endswith("/") and str(k).startswith(p)) for p in keys)
        and (k, mapping[k]) not in keep
    ]
    for key in doomed:
        del mapping[key]
    return bool(doomed)


def _drop_named(spec: dict[str, Any], field: str, names: Iterable[str]) -> list[dict[str, Any]]:
    items = spec.get(field)
    if not isinstance(items, list):
        return []
    names = set(names)
    gone = [i for i in items if isinstance(i, dict) and i.get("name") in names]
    if gone:
        spec[field] = [i for i in items if i not in gone]
        if not spec[field]:
            del spec[field]
    return gone


def _restore_probes(spec: dict[str, Any], probers_json: str | None) -> None:
    """Istio rewrote app probes to /app-health/<c>/<kind> on the agent; put the originals back."""
    if not probers_json:
        return
    try:
        originals = json.loads(probers_json)
    except ValueError:
        return
    if not isinstance(originals, dict):
        return
    for container in spec.get("containers") or []:
        for field in ("readinessProbe", "livenessProbe", "startupProbe"):
            probe = container.get(field)
            path = ((probe or {}).get("httpGet") or {}).get("path")
            original = originals.get(path)
            if isinstance(original, dict):
                _swap_handler(probe, original)


_HANDLERS = ("httpGet", "tcpSocket", "grpc", "exec")


def _swap_handler(probe: dict[str, Any], original: dict[str, Any]) -> None:
    """Replace the probe's handler in place (same key position), keeping its timing fields."""
    handler = {k: v for k, v in original.items() if k in _HANDLERS}
    http = handler.get("httpGet")
    if isinstance(http, dict) and http.get("scheme") == "HTTP":
        del http["scheme"]  # Istio spells out Kubernetes' default; the author almost never did
    rebuilt: dict[str, Any] = {}
    for key, value in probe.items():
        if key in _HANDLERS:
            rebuilt.update(handler)
        else:
            rebuilt[key] = value
    probe.clear()
    probe.update(rebuilt)


def _uninject_istio(template: dict[str, Any]) -> bool:
    meta, spec = template.get("metadata") or {}, template["spec"]
    annotations = meta.get("annotations") or {}
    raw = annotations.get(ISTIO_STATUS)
    if not isinstance(raw, str):
        return False
    try:
        record = json.loads(raw)
    except ValueError:
        record = {}
    proxies = [
        c
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
        if isinstance(c, dict) and c.get("name") == "istio-proxy"
    ]
    agent = proxies[0] if proxies else {}
    _restore_probes(spec, _env(agent, "ISTIO_KUBE_APP_PROBERS"))
    _restore_prometheus(annotations, _env(agent, "ISTIO_PROMETHEUS_ANNOTATIONS"))
    added = set(record.get("containers") or []) | set(record.get("initContainers") or []) | {"istio-proxy"}
    _drop_named(spec, "containers", added)
    _drop_named(spec, "initContainers", added | {"istio-init", "istio-validation"})
    _drop_named(spec, "volumes", record.get("volumes") or [])
    _drop_named(spec, "imagePullSecrets", record.get("imagePullSecrets") or [])
    _drop_keys(meta.get("labels"), ISTIO_LABELS)
    _drop_keys(annotations, ISTIO_ANNOTATIONS)
    return True


def _restore_prometheus(annotations: dict[str, Any], saved: str | None) -> None:
    """Istio points prometheus.io/* at its agent, keeping the app's own in an env var."""
    if annotations.get("prometheus.io/port") != "15020":
        return
    _drop_keys(annotations, PROMETHEUS)
    try:
        original = json.loads(saved) if saved else {}
    except ValueError:
        original = {}
    for key in ("scrape", "path", "port"):
        if isinstance(original, dict) and original.get(key):
            annotations[f"prometheus.io/{key}"] = str(original[key])


def _uninject(template: dict[str, Any], injector: Injector) -> bool:
    meta, spec = template.get("metadata") or {}, template["spec"]
    changed = bool(_drop_named(spec, "containers", injector.containers))
    changed |= bool(_drop_named(spec, "initContainers", injector.containers))
    if changed:
        _drop_named(spec, "volumes", injector.volumes)
        _drop_keys(meta.get("labels"), injector.labels, injector.keep)
        _drop_keys(meta.get("annotations"), injector.annotations, injector.keep)
    return changed


def uninject(template: dict[str, Any]) -> list[str]:
    """Remove every known injector's artifacts; returns the meshes that had injected this pod."""
    found = ["istio"] if _uninject_istio(template) else []
    found += [i.mesh for i in (LINKERD, KUMA, CONSUL) if _uninject(template, i)]
    meta = template.get("metadata")
    for key in ("labels", "annotations"):
        if isinstance(meta, dict) and meta.get(key) == {}:
            del meta[key]
    return found
