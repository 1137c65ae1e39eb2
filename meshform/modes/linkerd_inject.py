"""Linkerd pre-injection: what `linkerd inject --manual` adds to one pod template, as data.

The containers and volumes come from meshform's own Jinja templates for the Linkerd version the values
name (`templates/linkerd/<version>/`), rendered sandboxed and parsed as data; this module decides what
Linkerd decides in Go: whether the pod can be injected at all, the overridden values, the pod's inbound
ports, where each item goes (a native sidecar is the second init container; a classic proxy is the
first container while `proxy.await` holds it until ready), and the labels and annotations that mark the
pod as injected (Linkerd's `HasExistingSidecars` then leaves it alone).

Linkerd's output goes through Go's serializer, which drops empty strings, zero numbers and false
booleans of optional fields; `_go_zeroes` does the same to the rendered containers so the result equals
Linkerd's as data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from meshform.modes import linkerd_annotations, linkerd_values
from meshform.modes.linkerd_values import REFUSED, Note, ValuesError

PROXY = "linkerd-proxy"
INIT = "linkerd-init"
VALIDATOR = "linkerd-network-validator"
DEBUG = "linkerd-debug"
SA_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
# Labels naming the workload a pod belongs to, by the workload's kind (a bare Pod gets none).
KIND_LABELS = {
    "Deployment": "linkerd.io/proxy-deployment",
    "ReplicationController": "linkerd.io/proxy-replicationcontroller",
    "ReplicaSet": "linkerd.io/proxy-replicaset",
    "Job": "linkerd.io/proxy-job",
    "DaemonSet": "linkerd.io/proxy-daemonset",
    "StatefulSet": "linkerd.io/proxy-statefulset",
    "CronJob": "linkerd.io/proxy-cronjob",
}
ANNOTATIONS = ("linkerd.io/created-by", "linkerd.io/proxy-version", "linkerd.io/trust-root-sha256")
LABELS = ("linkerd.io/control-plane-ns", "linkerd.io/workload-ns", *KIND_LABELS.values())
CONTAINERS = (PROXY, INIT, VALIDATOR, DEBUG)
VOLUMES = (
    "linkerd-proxy-init-xtables-lock",
    "linkerd-identity-end-entity",
    "linkerd-podinfo",
    "linkerd-identity-token",
)
NAMES = frozenset({*CONTAINERS, *VOLUMES})  # every name an injection may add
# Containers (by name or image) that make Linkerd say "pod has a sidecar injected already".
_SIDECAR_NAMES = frozenset({PROXY, "istio-proxy"})
_SIDECAR_IMAGES = ("cr.l5d.io/linkerd/proxy:", "gcr.io/istio-release/proxyv2:")
_INIT_NAMES = frozenset({INIT, "istio-init"})
_INIT_IMAGES = ("cr.l5d.io/linkerd/proxy-init:", "gcr.io/istio-release/proxy_init:")


class Refused(ValueError):
    """Linkerd would not inject this pod; the message says why (in Linkerd's words where it has some)."""


class RefusedAnnotations(ValueError):
    """Annotation values the pre-injected pod could not run with (meshform.modes.linkerd_annotations):
    `notes` holds them (kind REFUSED) with every other note about the pod's annotations."""

    def __init__(self, notes: tuple[Note, ...]) -> None:
        super().__init__("; ".join(f"{n.annotation}: {n.why}" for n in notes if n.kind == REFUSED))
        self.notes = notes


@dataclass(frozen=True)
class Injection:
    """What to add to one pod template, and where. Lists keep Linkerd's order."""

    labels: dict[str, str]
    annotations: dict[str, str]
    init_first: list[dict[str, Any]] = field(default_factory=list)  # before the pod's init containers
    init_last: list[dict[str, Any]] = field(default_factory=list)  # after them
    containers_first: list[dict[str, Any]] = field(default_factory=list)
    containers_last: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)  # appended
    ignored: tuple[Note, ...] = ()


@dataclass(frozen=True)
class Workload:
    """The workload around the pod template: Linkerd labels the pod with its kind, name, namespace."""

    kind: str
    name: str
    namespace: str


# ---------------------------------------------------------------------------------------- defaults


@lru_cache(maxsize=8)
def _defaults_json(version: str) -> str:
    from meshform.resources import mesh_template
    from meshform.yamlio.streams import load_text

    source = f"templates/linkerd/{version}/values.yaml"
    docs = [chunk.data for chunk in load_text(mesh_template("linkerd", version, "values.yaml"), source)]
    return json.dumps(docs[0] if docs else {})


def _merged(defaults: Any, given: Any) -> Any:
    """`given` over `defaults`, mapping by mapping; a null in `given` keeps the default (as the chart's
    defaults stand where a values file leaves a key empty)."""
    if isinstance(defaults, dict) and isinstance(given, dict):
        out = dict(defaults)
        for key, value in given.items():
            out[key] = _merged(defaults.get(key), value) if key in defaults else value
        return out
    return defaults if given is None else given


@dataclass(frozen=True)
class Install:
    """One Linkerd install's values over its chart defaults, checked, and their JSON (a cache key)."""

    values: dict[str, Any]
    key: str


_INSTALLS: dict[int, tuple[Mapping[str, Any], str, Install]] = {}


def install(values: Mapping[str, Any], version: str) -> Install:
    """The install for these values, merged and checked once per values object of a run (every
    workload of a run reads the same modeOptions). Raises ValuesError."""
    hit = _INSTALLS.get(id(values))
    if hit is not None and hit[0] is values and hit[1] == version:
        return hit[2]
    merged = checked(values, version)
    for path, why in linkerd_annotations.value_problems(values)[:1]:
        raise ValuesError(f"{why}; no pod is pre-injected with it", path)
    found = Install(merged, json.dumps(merged, sort_keys=True))
    if len(_INSTALLS) >= 16:
        _INSTALLS.clear()
    _INSTALLS[id(values)] = (values, version, found)  # holding `values` keeps its id from being reused
    return found


def checked(values: Mapping[str, Any], version: str) -> dict[str, Any]:
    """The values over the chart defaults, as Linkerd's chart would render them. Raises ValuesError
    (with the path of the value) where it would not."""
    merged = with_defaults(values, version)
    linkerd_values.check(merged)
    return merged


def with_defaults(values: Mapping[str, Any], version: str) -> dict[str, Any]:
    """The values over the chart defaults of the Linkerd `version` (a template set's name). Raises
    ValuesError where a value has another type than the chart's (Linkerd fails to read such values)."""
    defaults = json.loads(_defaults_json(version))
    merged: dict[str, Any] = _merged(defaults, dict(values))
    _same_types(defaults, merged, "")
    return merged


def _same_types(defaults: Any, given: Any, path: str) -> None:
    """Mappings stay mappings, numbers numbers and booleans booleans (text may be any scalar)."""
    kinds = ((dict, "a mapping"), (bool, "true or false"), (int, "a whole number"))
    for kind, words in kinds:
        if isinstance(defaults, kind):
            if not isinstance(given, kind) or (kind is int and isinstance(given, bool)):
                message = f"{path or 'values'} must be {words}, not {given!r:.40}"
                raise ValuesError(message, tuple(path.split(".")) if path else ())
            break
    if isinstance(defaults, dict):
        for key, value in defaults.items():
            _same_types(value, given[key], f"{path}.{key}" if path else key)


# ---------------------------------------------------------------------------------------- refusals


def refusal(spec: Mapping[str, Any], values: Mapping[str, Any]) -> str:
    """Why Linkerd would not inject a pod with this spec ("" when it would)."""
    if spec.get("hostNetwork") is True:
        return "hostNetwork is enabled"
    containers = [
        c for c in (spec.get("initContainers") or []) + (spec.get("containers") or []) if isinstance(c, dict)
    ]
    for c in containers:
        image = str(c.get("image") or "")
        if c.get("name") in _SIDECAR_NAMES or image.startswith(_SIDECAR_IMAGES):
            return f"pod has a sidecar injected already (container {c.get('name')})"
    for c in spec.get("initContainers") or []:
        image = str(c.get("image") or "") if isinstance(c, dict) else ""
        if isinstance(c, dict) and (c.get("name") in _INIT_NAMES or image.startswith(_INIT_IMAGES)):
            return f"pod has a sidecar injected already (init container {c.get('name')})"
    projected = bool((values.get("identity") or {}).get("serviceAccountTokenProjection"))
    if spec.get("automountServiceAccountToken") is False and not projected:
        return (
            'automountServiceAccountToken set to "false", with Values.identity.serviceAccountTokenProjection '
            'set to "false"'
        )
    return ""


# ------------------------------------------------------------------------------------- pod reading


def without_own(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The pod spec less the containers and volumes a Linkerd injection adds (by their fixed names)."""
    out = dict(spec)
    for key, own in (("initContainers", CONTAINERS), ("containers", CONTAINERS), ("volumes", VOLUMES)):
        if isinstance(spec.get(key), list):
            out[key] = [i for i in spec[key] if not (isinstance(i, dict) and i.get("name") in own)]
    return out


def _containers(spec: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    return [c for c in spec.get(key) or [] if isinstance(c, dict)]


def named_ports(spec: Mapping[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in _containers(spec, "initContainers") + _containers(spec, "containers"):
        for p in c.get("ports") or []:
            if isinstance(p, dict) and p.get("name") and isinstance(p.get("containerPort"), int):
                out[str(p["name"])] = p["containerPort"]
    return out


def inbound_ports(spec: Mapping[str, Any]) -> str:
    """The pod's ports and the numeric ports of its HTTP readiness and liveness probes, sorted as text
    (Linkerd sorts them as strings: "10000" before "8080")."""
    ports: set[int] = set()
    for c in _containers(spec, "initContainers") + _containers(spec, "containers"):
        ports.update(
            p["containerPort"]
            for p in c.get("ports") or []
            if isinstance(p, dict) and isinstance(p.get("containerPort"), int)
        )
        for probe in (c.get("readinessProbe"), c.get("livenessProbe")):
            port = ((probe or {}).get("httpGet") or {}).get("port") if isinstance(probe, dict) else None
            if isinstance(port, int) and not isinstance(port, bool):
                ports.add(port)
    return ",".join(sorted(str(p) for p in ports))


def _first_container(spec: Mapping[str, Any]) -> dict[str, Any]:
    containers = _containers(spec, "containers")
    return containers[0] if containers else {}


def _sa_mount(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first container's mount of the service account token, which the proxy shares."""
    for mount in _first_container(spec).get("volumeMounts") or []:
        if isinstance(mount, dict) and mount.get("mountPath") == SA_MOUNT_PATH:
            return {
                "mountPath": SA_MOUNT_PATH,
                "name": mount.get("name"),
                "readOnly": bool(mount.get("readOnly")),
            }
    return None


def _capabilities(spec: Mapping[str, Any], values: Mapping[str, Any]) -> tuple[Any, list[str], list[str]]:
    """The proxy's capabilities (the first container's, for pod security admission) and the init
    container's extra add/drop lists (it keeps NET_ADMIN and NET_RAW whatever the app drops)."""
    security = _first_container(spec).get("securityContext")
    caps = security.get("capabilities") if isinstance(security, dict) else None
    if isinstance(caps, dict):
        add = [str(c) for c in caps.get("add") or []]
        drop = [str(c) for c in caps.get("drop") or []]
        proxy = {k: v for k, v in (("add", add), ("drop", drop)) if v} or None
        return proxy, add, [d for d in drop if d not in ("NET_RAW", "NET_ADMIN")]
    proxy_caps = (values.get("proxy") or {}).get("capabilities") or None
    init_caps = (values.get("proxyInit") or {}).get("capabilities") or {}
    if isinstance(proxy_caps, dict):
        proxy_caps = {k: proxy_caps[k] for k in ("add", "drop") if proxy_caps.get(k)} or None
    return proxy_caps, list(init_caps.get("add") or []), list(init_caps.get("drop") or [])


def _resources(values: Mapping[str, Any]) -> dict[str, Any]:
    spec = (values.get("proxy") or {}).get("resources") or {}
    out: dict[str, dict[str, str]] = {}
    for bound, key in (("limit", "limits"), ("request", "requests")):
        for resource in ("cpu", "memory", "ephemeral-storage"):
            amount = (spec.get(resource) or {}).get(bound)
            if amount:
                out.setdefault(key, {})[resource] = str(amount)
    return out


@lru_cache(maxsize=256)
def _snake(name: str) -> str:
    """Sprig's snakecase, upper-cased: keepAliveInterval → KEEP_ALIVE_INTERVAL, http2 → HTTP2."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name))
    return spaced.replace("-", "_").upper()


def _scoped(proxy: Mapping[str, Any]) -> list[list[str]]:
    """proxy.inbound / proxy.outbound server parameters as LINKERD2_PROXY_<DIR>_<SCOPE>_<PROTO>_<PARAM>,
    in sorted key order like Go's map iteration in templates."""
    out = []
    for direction in ("inbound", "outbound"):
        for scope, protocols in _entries(proxy.get(direction), f"proxy.{direction}"):
            for protocol, params in _entries(protocols, f"proxy.{direction}.{scope}"):
                for param, value in _entries(params, f"proxy.{direction}.{scope}.{protocol}"):
                    name = "_".join(_snake(p) for p in ("LINKERD2_PROXY", direction, scope, protocol, param))
                    out.append([name, _go_text(value)])
    return out


def _entries(node: Any, path: str) -> list[tuple[str, Any]]:
    if node is None:
        return []
    if not isinstance(node, dict):
        raise ValuesError(f"{path} must be a mapping, not {node!r:.40}")
    return sorted((str(k), v) for k, v in node.items())


def _go_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _trace_attributes(proxy: Mapping[str, Any]) -> str:
    labels = (proxy.get("tracing") or {}).get("labels") or {}
    return "".join(f"{k}={_go_text(v)}\n" for k, v in sorted(labels.items()))


def _close_wait(annotations: Mapping[str, Any], values: Mapping[str, Any], notes: list[Note]) -> int:
    """proxy-init's close-wait timeout in whole seconds (0: none). The chart refuses one for an init
    container that does not run as root (`fail "proxyInit.runAsRoot must be set..."`)."""
    key = "config.linkerd.io/close-wait-timeout"
    if key not in annotations:
        return 0
    seconds = linkerd_values.go_duration(str(annotations[key]))
    if seconds is None:
        notes.append(Note(key, str(annotations[key]), "not a Go duration such as 30s"))
        return 0
    if int(seconds) and not (values.get("proxyInit") or {}).get("runAsRoot"):
        why = "needs proxyInit.runAsRoot: true in the linkerd-config values (Linkerd's chart says so)"
        notes.append(Note(key, str(annotations[key]), why, REFUSED))
    return int(seconds)


# --------------------------------------------------------------------------------------- rendering


_RENDERED: dict[tuple[str, str, str, str], str] = {}


def _render(version: str, name: str, v: Mapping[str, Any], v_key: str, inputs: Mapping[str, Any]) -> Any:
    """templates/linkerd/<version>/<name> with the values `v` (whose JSON is `v_key`) and `inputs`, as
    fresh data, Go's zero values dropped from containers. Workloads alike get the same proxy: each
    distinct rendering is kept as JSON (loading it is much cheaper than copying the data)."""
    from meshform.modes import injection

    key = (version, name, v_key, json.dumps(inputs, sort_keys=True))
    text = _RENDERED.get(key)
    if text is None:
        found = injection.render("linkerd", version, name, {"v": v, **inputs})
        text = json.dumps(found if "volumes" in found else _go_zeroes(found))
        if len(_RENDERED) >= 1024:
            _RENDERED.clear()
        _RENDERED[key] = text
    return json.loads(text)


def _go_zeroes(container: dict[str, Any]) -> dict[str, Any]:
    """Drop what Go's serializer drops: empty env values, zero probe numbers, false readOnly, empty
    resources."""
    for entry in container.get("env") or []:
        if entry.get("value") == "":
            del entry["value"]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        for key, value in list((container.get(probe) or {}).items()):
            if value == 0 and not isinstance(value, bool):
                del container[probe][key]
    for mount in container.get("volumeMounts") or []:
        if mount.get("readOnly") is False:
            del mount["readOnly"]
    if container.get("resources") == {}:
        del container["resources"]
    if container.get("volumeMounts") == []:
        del container["volumeMounts"]
    return container


def inject(
    values: Mapping[str, Any],
    version: str,
    workload: Workload,
    template: Mapping[str, Any],
    control_plane_ns: str,
    created_by: str,
) -> Injection:
    """What `linkerd inject --manual` adds to `template` (a pod template, or a Pod's metadata+spec),
    rendered from meshform's template set `version` (see meshform.modes.injection.version_for).

    Raises Refused where Linkerd would not inject, ValuesError where its chart fails on these
    values (or the template renders something that is not a mapping)."""
    spec = template.get("spec") or {}
    meta = template.get("metadata") or {}
    base = install(values, version)
    why = refusal(spec, base.values)
    if why:
        raise Refused(why)
    annotations = meta.get("annotations") or {}
    v, notes = linkerd_values.overridden(
        base.values, annotations, meta.get("labels") or {}, named_ports(spec)
    )
    close_wait = _close_wait(annotations, v, notes)
    debug = _debug_wanted(annotations, notes)
    if notes or any(_read_by_linkerd(str(k)) for k in annotations):
        texts = {str(k): linkerd_values.as_text(a) for k, a in annotations.items()}
        notes += linkerd_annotations.problems(texts, v, debug)
    if any(n.kind == REFUSED for n in notes):
        raise RefusedAnnotations(tuple(notes))
    v_key = base.key
    if v is not base.values:
        linkerd_values.check(v)
        v_key = json.dumps(v, sort_keys=True)
    proxy = v["proxy"]
    tracing = bool((proxy.get("tracing") or {}).get("enabled"))
    sa_mount = _sa_mount(spec)
    proxy_caps, init_add, init_drop = _capabilities(spec, v)
    common = {"resources": _resources(v), "sa_mount": sa_mount}
    sidecar = _render(
        version,
        "proxy.yaml.j2",
        v,
        v_key,
        {
            **common,
            "ns": control_plane_ns,
            "trust_domain": v.get("identityTrustDomain") or v.get("clusterDomain"),
            "listen_host": "0.0.0.0" if v.get("disableIPv6") else "[::]",
            "inbound_ports": inbound_ports(spec),
            "scoped": _scoped(proxy),
            "capabilities": proxy_caps,
            "tracing": tracing,
            "trace_attributes": _trace_attributes(proxy),
        },
    )
    if v.get("cniEnabled"):
        first = _render(version, "network-validator.yaml.j2", v, v_key, common)
    else:
        first = _render(
            version,
            "proxy-init.yaml.j2",
            v,
            v_key,
            {
                **common,
                "capabilities_add": init_add,
                "capabilities_drop": init_drop,
                "close_wait_seconds": close_wait,
            },
        )
    injection = Injection(
        labels=_labels(workload, control_plane_ns),
        annotations={
            "linkerd.io/created-by": created_by,
            "linkerd.io/proxy-version": str(proxy["image"].get("version") or v.get("linkerdVersion")),
            "linkerd.io/trust-root-sha256": _sha256(str(v.get("identityTrustAnchorsPEM") or "")),
        },
        volumes=_render(
            version, "volumes.yaml.j2", v, v_key, {"proxy_init": not v.get("cniEnabled"), "tracing": tracing}
        )["volumes"],
        ignored=tuple(notes),
    )
    if debug:
        injection.containers_last.append(_render(version, "debug.yaml.j2", v, v_key, {}))
    if proxy.get("nativeSidecar"):
        injection.init_first.extend([first, sidecar])
    else:
        injection.init_last.append(first)
        (injection.containers_first if proxy.get("await") else injection.containers_last).append(sidecar)
    return injection


def _read_by_linkerd(key: str) -> bool:
    """An annotation whose value meshform.modes.linkerd_annotations checks."""
    prefixes = (*linkerd_values.PREFIXES, linkerd_values.TRACE_PREFIX)
    return key.startswith(prefixes) or key == linkerd_annotations.INJECT


def _debug_wanted(annotations: Mapping[str, Any], notes: list[Note]) -> bool:
    """config.linkerd.io/enable-debug-sidecar; Linkerd reads anything but a boolean as false (with a
    warning), and an empty value as not set."""
    key = "config.linkerd.io/enable-debug-sidecar"
    text = linkerd_values.as_text(annotations.get(key))
    flag = linkerd_values.go_bool(text)
    if text and flag is None:
        notes.append(Note(key, text, "not a boolean"))
    return flag is True


def _labels(workload: Workload, control_plane_ns: str) -> dict[str, str]:
    labels = {"linkerd.io/control-plane-ns": control_plane_ns}
    if workload.kind in KIND_LABELS:
        labels[KIND_LABELS[workload.kind]] = workload.name
    labels["linkerd.io/workload-ns"] = workload.namespace
    return labels


def _sha256(text: str) -> str:
    # hashlib is imported here, not at the top: every run imports this module (Linkerd's facts name
    # its keys), only a Linkerd pre-injection hashes.
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def input_problems(options: Mapping[str, Any]) -> Iterator[tuple[str, tuple[str, ...], str]]:
    """("values", path in them, message) per problem of the user's linkerd-config `values` (in
    `options`, loaded): a type or a chart refusal (ValuesError), or a value the pod could not run with
    (the rules of its config.linkerd.io annotation, meshform.modes.linkerd_annotations). Said once per
    input, at the key, before any workload is enrolled. No values: nothing (enrolling says they are
    needed)."""
    from meshform.modes import injection

    given = options.get("values")
    if not isinstance(given, Mapping) or not given:
        return
    try:  # the trust anchors are said when a pod is enrolled (MF352 "needs the cluster's linkerd-config")
        linkerd_values.check(with_defaults(given, injection.version_for("linkerd", options)), anchors=False)
    except ValuesError as exc:
        yield "values", exc.path, f"linkerd values: {exc}"
        return
    for path, why in linkerd_annotations.value_problems(given):
        yield "values", path, f"linkerd values: {why}; no pod is pre-injected with it"
