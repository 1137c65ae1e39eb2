"""Adopting workloads another tool injected: remove what `istioctl kube-inject`, `linkerd inject
--manual` (and the Kuma/Consul webhooks, in exported manifests) put on a workload, and give back the
workload as it was before.

Unlike meshform's own status annotation, these markers do not record prior values, so adoption is
one-way: the result is the clean workload, which meshform then governs (and records) itself.

Only what a marker *proves* the injector added is removed. A container merely named like a sidecar
(`linkerd-proxy`, `kuma-sidecar`, `consul-dataplane`) is the user's unless the pod also carries that
injector's marker (Linkerd's `linkerd.io/proxy-version`, Kuma's `kuma.io/sidecar-injected`, Consul's
`connect-inject-status`); for Istio, `sidecar.istio.io/status` lists exactly what it added. Istio puts
that status, and its labels, on a CronJob's `spec.jobTemplate.metadata`, so markers are read there too.

The injectors' CLIs write the workload back through Go's serializer, which adds zero-value stubs the
author never wrote (`status: {}`, `strategy: {}`, `resources: {}`, `creationTimestamp: null`, a List's
`metadata: {}`). Every one is a no-op for Kubernetes; they are dropped when the object carries the
serializer's fingerprint, a zero `status` (no author writes one), which kube-inject leaves even on the
hostNetwork pods it declines to inject.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from meshform.modes.istio_inject import ISTIO_CONTAINERS, ISTIO_VOLUMES

ISTIO_STATUS = "sidecar.istio.io/status"
# What istioctl kube-inject (and the webhook) can list in its status: its own containers and volumes,
# across the releases' templates (classic and native sidecars, CNI's istio-validation, the older
# istio-certs): the names meshform's own pre-injection may add. A status naming anything else is
# copied or forged, and removes nothing.
_ISTIO_ALLOWED = {
    "initContainers": ISTIO_CONTAINERS,
    "containers": ISTIO_CONTAINERS,
    "volumes": ISTIO_VOLUMES,
    "imagePullSecrets": None,  # the mesh's configured pull secrets: any name
}


@dataclass(frozen=True)
class Injector:
    """What one mesh's injector adds, by name, and the marker that proves it ran."""

    mesh: str
    markers: Mapping[str, str | None]  # pod key → value it has after injection (None: any value)
    containers: frozenset[str]
    volumes: frozenset[str]
    labels: tuple[str, ...]  # exact keys, or prefixes ending in "*"
    annotations: tuple[str, ...]
    # An annotation the CLI writes to say where it put the proxy: "true" = a native sidecar (an init
    # container), "false" = a classic one. It goes when it describes the proxy that was removed.
    placement: str = ""
    proxy: str = ""  # the proxy container's name, for `placement`

    def proven(self, metas: list[dict[str, Any]]) -> bool:
        return any(
            isinstance(keys, dict) and key in keys and value in (None, keys[key])
            for meta in metas
            for keys in (meta.get("labels"), meta.get("annotations"))
            for key, value in self.markers.items()
        )


LINKERD = Injector(
    mesh="linkerd",
    markers={"linkerd.io/proxy-version": None, "linkerd.io/created-by": None},
    containers=frozenset({"linkerd-proxy", "linkerd-init", "linkerd-network-validator"}),
    volumes=frozenset(
        {"linkerd-identity-end-entity", "linkerd-proxy-init-xtables-lock", "linkerd-identity-token"}
    ),
    labels=("linkerd.io/control-plane-ns", "linkerd.io/workload-ns", "linkerd.io/proxy-*"),
    # not linkerd.io/inject: `inject --manual` never writes it, so any value there is the user's
    annotations=(
        "linkerd.io/created-by",
        "linkerd.io/proxy-version",
        "linkerd.io/trust-root-sha256",
        "linkerd.io/identity-mode",
    ),
    placement="config.linkerd.io/proxy-enable-native-sidecar",
    proxy="linkerd-proxy",
)
KUMA = Injector(
    mesh="kuma",
    markers={"kuma.io/sidecar-injected": "true"},
    containers=frozenset({"kuma-sidecar", "kuma-init", "kuma-validation"}),
    volumes=frozenset(),
    labels=(),
    annotations=("kuma.io/sidecar-injected", "kuma.io/envoy-admin-port", "kuma.io/transparent-proxying"),
)
CONSUL = Injector(
    mesh="consul",
    markers={"consul.hashicorp.com/connect-inject-status": "injected"},
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
# Istio writes these only when the pod has none, naming its first container: one still naming the
# first container means what the absent annotation means; any other value is the author's.
DEFAULT_CONTAINER = (
    "kubectl.kubernetes.io/default-container",
    "kubectl.kubernetes.io/default-logs-container",
)
PROMETHEUS = ("prometheus.io/scrape", "prometheus.io/path", "prometheus.io/port")
PROBES = ("readinessProbe", "livenessProbe", "startupProbe")
HOOKS = ("postStart", "preStop")
_HANDLERS = ("httpGet", "tcpSocket", "grpc", "exec")


# ---------------------------------------------------------------------------------------------- helpers


def _env(container: dict[str, Any], name: str) -> str | None:
    for entry in container.get("env") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get("value")
            return value if isinstance(value, str) else None
    return None


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except (ValueError, RecursionError):
        return None


def _matches(key: Any, patterns: Iterable[str]) -> bool:
    return any(key == p or (p.endswith("*") and str(key).startswith(p[:-1])) for p in patterns)


def _drop_keys(mapping: Any, keys: Iterable[str]) -> None:
    if isinstance(mapping, dict):
        for key in [k for k in mapping if _matches(k, keys)]:
            del mapping[key]


def _drop_named(spec: dict[str, Any], field_name: str, names: Iterable[str]) -> list[dict[str, Any]]:
    items = spec.get(field_name)
    if not isinstance(items, list):
        return []
    names = set(names)
    gone = [i for i in items if isinstance(i, dict) and i.get("name") in names]
    if gone:
        spec[field_name] = [i for i in items if i not in gone]
        if not spec[field_name]:
            del spec[field_name]
    return gone


def marker_metadata(obj: Any, template: dict[str, Any]) -> list[dict[str, Any]]:
    """Where injectors put their markers: the pod template's metadata and, for a CronJob, the Job
    template's (istioctl kube-inject writes its status and labels there)."""
    metas = [template.get("metadata")]
    if isinstance(obj, dict) and obj.get("kind") == "CronJob":
        metas.append(((obj.get("spec") or {}).get("jobTemplate") or {}).get("metadata"))
    return [m for m in metas if isinstance(m, dict)]


# ------------------------------------------------------------------------------------------------ istio


def kube_inject_ignored(obj: Any, template: dict[str, Any]) -> list[str]:
    """The Istio annotations of a CronJob's pod template that `istioctl kube-inject` did not read
    when it injected it: kube-inject takes a CronJob's pod metadata from spec.jobTemplate.metadata
    (its status is there, not on the pod template), so a pod template override it ignored (a key of
    an `...istio.io/` domain the Job template lacks or holds otherwise) makes a re-injection, which
    reads the pod template as the webhook does, differ from kube-inject's. [] for anything else."""
    if not isinstance(obj, dict) or obj.get("kind") != "CronJob":
        return []
    metas = marker_metadata(obj, template)
    own = (metas[0].get("annotations") if metas and metas[0] is template.get("metadata") else None) or {}
    job = (metas[-1].get("annotations") if len(metas) == 2 else None) or {}
    if (
        not isinstance(own, dict)
        or not isinstance(job, dict)
        or ISTIO_STATUS not in job
        or ISTIO_STATUS in own
    ):
        return []
    return sorted(
        str(k) for k, v in own.items() if str(k).partition("/")[0].endswith("istio.io") and job.get(k) != v
    )


def _restore_probes(spec: dict[str, Any], probers_json: str | None) -> None:
    """Istio rewrote app probes to /app-health/<c>/<kind> and httpGet/tcpSocket lifecycle hooks to
    /app-lifecycle/<c>/<kind> on the agent, in init containers (native sidecars) and containers alike,
    keeping every original in ISTIO_KUBE_APP_PROBERS: put them back."""
    originals = _json(probers_json)
    if not isinstance(originals, dict):
        return
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if not isinstance(container, dict):
            continue
        lifecycle = container.get("lifecycle")
        handlers = [container.get(f) for f in PROBES]
        handlers += [lifecycle.get(h) for h in HOOKS] if isinstance(lifecycle, dict) else []
        for handler in handlers:
            if not isinstance(handler, dict):
                continue
            path = (handler.get("httpGet") or {}).get("path")
            original = originals.get(path) if isinstance(path, str) else None
            if isinstance(original, dict):
                _swap_handler(handler, original, container)


def _swap_handler(probe: dict[str, Any], original: dict[str, Any], container: dict[str, Any]) -> None:
    """Replace the probe's handler in place (same key position), keeping its timing fields. The
    original keeps its scheme as written (Istio only omits an absent one)."""
    handler = {k: v for k, v in original.items() if k in _HANDLERS}
    for action in ("httpGet", "tcpSocket"):
        if isinstance(handler.get(action), dict):
            handler[action] = _named_port(handler[action], container)
    if isinstance(handler.get("grpc"), dict):  # Istio writes an absent service as null
        handler["grpc"] = {k: v for k, v in handler["grpc"].items() if v is not None}
    rebuilt: dict[str, Any] = {}
    for key, value in probe.items():
        if key in _HANDLERS:
            rebuilt.update(handler)
        else:
            rebuilt[key] = value
    probe.clear()
    probe.update(rebuilt)


def _named_port(action: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """Istio resolves a probe's named port to its number before saving it; give the name back when
    the container declares exactly one named port with that number. Name and number mean the same to
    the kubelet, and probing by name is what most charts (Helm's default among them) write."""
    port = action.get("port")
    named = [
        p.get("name")
        for p in container.get("ports") or []
        if isinstance(p, dict) and p.get("containerPort") == port and isinstance(p.get("name"), str)
    ]
    if isinstance(port, int) and len(named) == 1:
        return {**action, "port": named[0]}
    return action


def _status_port(agent: dict[str, Any]) -> str:
    """The port the agent serves on: its PROXY_CONFIG's statusPort (the mesh's defaultConfig with the
    pod's proxy.istio.io/config applied, written when not Istio's default), else 15020."""
    config = _json(_env(agent, "PROXY_CONFIG"))
    port = config.get("statusPort") if isinstance(config, dict) else None
    return str(port) if isinstance(port, int) and not isinstance(port, bool) else "15020"


def _restore_prometheus(annotations: dict[str, Any], saved: str | None, status_port: str) -> None:
    """Istio points prometheus.io/* at its agent, keeping the app's own in an env var."""
    if annotations.get("prometheus.io/port") != status_port:
        return
    _drop_keys(annotations, PROMETHEUS)
    original = _json(saved)
    for key in ("scrape", "path", "port"):
        if isinstance(original, dict) and original.get(key):
            annotations[f"prometheus.io/{key}"] = str(original[key])


def marker_problem(obj: Any, template: dict[str, Any]) -> tuple[int, str] | None:
    """Why a foreign injector's marker cannot be that injector's (None: it can, or there is none):
    the index into marker_metadata() of the metadata holding it, and the reason. Istio's status is the
    only marker that lists names; it must have the shape Istio writes (a JSON object whose lists are
    null or strings) and list only what Istio adds."""
    for index, meta in enumerate(marker_metadata(obj, template)):
        annotations = meta.get("annotations")
        if not isinstance(annotations, dict) or ISTIO_STATUS not in annotations:
            continue
        found = _istio_problem(annotations[ISTIO_STATUS])
        if found:
            return index, found
    return None


def marks(obj: Any, template: dict[str, Any]) -> list[tuple[str, str]]:
    """(mesh, marker key) for each injector whose marker this workload carries: what `meshform status`
    reports as another injector's marks. Read only; `adopt` is what removes them."""
    metas = marker_metadata(obj, template)
    found = (
        [("istio", ISTIO_STATUS)] if any(ISTIO_STATUS in _keys_of(m, "annotations") for m in metas) else []
    )
    for injector in (LINKERD, KUMA, CONSUL):
        found += [
            (injector.mesh, key)
            for key, value in injector.markers.items()
            if any(value in (None, keys.get(key)) and key in keys for m in metas for keys in _both(m))
        ][:1]
    return found


def _keys_of(meta: dict[str, Any], field_name: str) -> dict[str, Any]:
    keys = meta.get(field_name)
    return keys if isinstance(keys, dict) else {}


def _both(meta: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return _keys_of(meta, "labels"), _keys_of(meta, "annotations")


def _istio_problem(text: Any) -> str | None:
    record = _json(text) if isinstance(text, str) else None
    if not isinstance(record, dict):
        return "is not the JSON object Istio writes"
    for key, allowed in _ISTIO_ALLOWED.items():
        value = record.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f"has {key!r} that is not a list of names"
        for name in value:
            if allowed is not None and name not in allowed:
                return f"lists {key} {name!r}, which Istio never adds"
    if not any(key in record for key in _ISTIO_ALLOWED):
        return "lists none of what Istio records (initContainers, containers, volumes, imagePullSecrets)"
    return None


def _istio_record(metas: list[dict[str, Any]]) -> dict[str, Any] | None:
    for meta in metas:
        record = _json((meta.get("annotations") or {}).get(ISTIO_STATUS))
        if isinstance(record, dict):
            return record
    return None


def _names(record: dict[str, Any], key: str) -> set[str]:
    value = record.get(key)
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


def _uninject_istio(metas: list[dict[str, Any]], spec: dict[str, Any]) -> bool:
    record = _istio_record(metas)
    if record is None:
        return False
    added = _names(record, "containers") | _names(record, "initContainers")
    proxies = [
        c
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
        if isinstance(c, dict) and c.get("name") == "istio-proxy" and "istio-proxy" in added
    ]
    agent = proxies[0] if proxies else {}
    _restore_probes(spec, _env(agent, "ISTIO_KUBE_APP_PROBERS"))
    _drop_named(spec, "containers", added)
    _drop_named(spec, "initContainers", added)
    _drop_named(spec, "volumes", _names(record, "volumes"))
    _drop_named(spec, "imagePullSecrets", _names(record, "imagePullSecrets"))
    first = next((c.get("name") for c in spec.get("containers") or [] if isinstance(c, dict)), None)
    for meta in metas:
        annotations = meta.get("annotations")
        if not isinstance(annotations, dict):
            _drop_keys(meta.get("labels"), ISTIO_LABELS)
            continue
        if ISTIO_STATUS in annotations:
            _restore_prometheus(annotations, _env(agent, "ISTIO_PROMETHEUS_ANNOTATIONS"), _status_port(agent))
        annotations.pop(ISTIO_STATUS, None)
        if "istio.io/rev" in annotations and annotations["istio.io/rev"] == record.get("revision"):
            del annotations["istio.io/rev"]
        for key in DEFAULT_CONTAINER:
            if first is not None and annotations.get(key) == first:
                del annotations[key]
        _drop_keys(meta.get("labels"), ISTIO_LABELS)
    return True


# ------------------------------------------------------------------------------------- other injectors


def _uninject(metas: list[dict[str, Any]], spec: dict[str, Any], injector: Injector) -> bool:
    if not injector.proven(metas):
        return False
    classic = _drop_named(spec, "containers", injector.containers)
    native = _drop_named(spec, "initContainers", injector.containers)
    _drop_named(spec, "volumes", injector.volumes)
    for meta in metas:
        _drop_keys(meta.get("labels"), injector.labels)
        annotations = meta.get("annotations")
        if not isinstance(annotations, dict):
            continue
        _drop_keys(annotations, injector.annotations)
        where = annotations.get(injector.placement)
        if _has({"false": classic, "true": native}.get(str(where), []), injector.proxy):
            del annotations[injector.placement]
    return True


def _has(items: list[dict[str, Any]], name: str) -> bool:
    return any(i.get("name") == name for i in items)


# ------------------------------------------------------------------------------------------------ stubs


def _zero(value: Any) -> bool:
    """A Go zero value as its serializer writes it: {}, 0, "", false, null, or a mapping of those."""
    if isinstance(value, dict):
        return all(_zero(v) for v in value.values())
    return value is None or value is False or value == 0 or value == ""


def _serialized_by_go(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("status"), dict) and _zero(obj["status"])


def _drop_stubs(obj: dict[str, Any], template: dict[str, Any], metas: list[dict[str, Any]]) -> None:
    del obj["status"]
    spec = obj.get("spec")
    for key in ("strategy", "updateStrategy"):
        if isinstance(spec, dict) and spec.get(key) == {}:
            del spec[key]
    for meta in [obj.get("metadata"), *metas]:
        if isinstance(meta, dict) and "creationTimestamp" in meta and meta["creationTimestamp"] is None:
            del meta["creationTimestamp"]
    for key in ("containers", "initContainers"):
        for container in template["spec"].get(key) or []:
            if isinstance(container, dict) and container.get("resources") == {}:
                del container["resources"]


def _drop_empty(obj: Any, metas: list[dict[str, Any]]) -> None:
    for meta in metas:
        for key in ("labels", "annotations"):
            if meta.get(key) == {}:
                del meta[key]
    job = ((obj.get("spec") or {}).get("jobTemplate") or {}) if obj.get("kind") == "CronJob" else {}
    if job.get("metadata") == {}:
        del job["metadata"]


def adopts(obj: Any, template: dict[str, Any]) -> bool:
    """Would `adopt` change anything? False means it leaves `obj` (and `parent`) exactly as they are:
    the same tests adopt makes before it changes anything, in its order (each injector's is made on
    what the ones before left, which is the object as given when they did nothing)."""
    metas = marker_metadata(obj, template)
    return (
        _istio_record(metas) is not None
        or any(i.proven(metas) for i in (LINKERD, KUMA, CONSUL))
        or _serialized_by_go(obj)
    )


def adopt(obj: Any, template: dict[str, Any], parent: Any = None) -> list[str]:
    """Give back `obj` (a workload whose pod template is `template`; `parent` the List it is an item
    of, if any) as it was before another injector ran. Returns the meshes that had injected it."""
    metas = marker_metadata(obj, template)
    spec = template["spec"]
    found = ["istio"] if _uninject_istio(metas, spec) else []
    found += [i.mesh for i in (LINKERD, KUMA, CONSUL) if _uninject(metas, spec, i)]
    stubs = _serialized_by_go(obj)
    if stubs:
        _drop_stubs(obj, template, metas)
        if isinstance(parent, dict) and parent.get("kind") == "List" and parent.get("metadata") == {}:
            del parent["metadata"]
    if found or stubs:  # what emptied on the way goes too; an author's own `{}` elsewhere stays
        _drop_empty(obj, metas)
    return found
