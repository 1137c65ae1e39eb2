"""The checks Kuma's admission webhook adds to a policy's CRD schema, for policies in an application
namespace (Kuma v2.14.3, pkg/plugins/policies/*/api/v1alpha1/validator.go and
pkg/core/resources/apis/mesh/validators.go ValidateTargetRef): which targetRef kinds each policy takes
at the top, in `to[]` and in `from[]`, what each kind of reference may carry, and the value rules
meshform's output could break. The CRD schema says none of this (its kind enum lists every kind).
"""

from __future__ import annotations

import re
from typing import Any

from tests.policy.crds import go_duration_ns

_TOP = {"Mesh", "MeshSubset", "MeshService", "MeshServiceSubset", "Dataplane"}
_OUT = {"Mesh", "MeshService", "MeshExternalService", "MeshMultiZoneService"}
TO: dict[str, set[str]] = {
    "MeshTimeout": _OUT | {"MeshHTTPRoute"},
    "MeshRetry": _OUT | {"MeshHTTPRoute"},
    "MeshCircuitBreaker": _OUT,
    "MeshHTTPRoute": _OUT - {"Mesh"},
}
FROM: dict[str, set[str]] = {
    "MeshTimeout": {"Mesh"},
    "MeshCircuitBreaker": {"Mesh"},
    "MeshRateLimit": {"Mesh"},
    "MeshFaultInjection": {"Mesh", "MeshSubset", "MeshServiceSubset", "MeshService"},
    "MeshTrafficPermission": {"Mesh", "MeshSubset", "MeshService", "MeshServiceSubset"},
}
_NAME = re.compile(r"^[0-9a-z.\-_]*$")
_TAG_KEY = re.compile(r"^[a-zA-Z0-9.\-_:/]*$")
_TAG_VALUE = re.compile(r"^[a-zA-Z0-9.\-_:]*$")
_RETRY_ON = {"5xx", "GatewayError", "Reset", "Retriable4xx", "ConnectFailure", "EnvoyRatelimited"}
_RETRY_ON |= {"RefusedStream", "Http3PostConnectFailure"}
# Go's http.StatusText knows these codes; Kuma refuses a retryOn code it does not.
GO_STATUS = {100, 101, 102, 103, *range(200, 209), 226, *range(300, 306), 307, 308, *range(400, 419)}
GO_STATUS |= {421, 422, 423, 424, 425, 426, 428, 429, 431, 451, *range(500, 509), 510, 511}


def _ref_errors(ref: dict[str, Any], allowed: set[str], where: str, inbound: bool) -> list[str]:
    kind, out = ref.get("kind"), []
    if kind not in allowed:
        return [f"{where}.kind: {kind!r} is not supported here ({sorted(allowed)})"]
    has = {k for k in ("name", "labels", "tags", "namespace", "sectionName", "mesh") if ref.get(k)}
    forbidden = {
        "Mesh": {"name", "labels", "tags", "namespace", "sectionName", "mesh"},
        "Dataplane": {"tags", "mesh"} | (set() if inbound else {"sectionName"}),
        "MeshSubset": {"name", "labels", "namespace", "sectionName", "mesh"},
        "MeshService": {"tags", "mesh"},
    }.get(str(kind), set())
    out += [f"{where}.{f}: not allowed with kind {kind}" for f in sorted(has & forbidden)]
    if kind in ("Dataplane", "MeshService") and "labels" in has and has & {"name", "namespace"}:
        out.append(f"{where}.labels: either labels or name and namespace")
    if kind == "MeshService" and not has & {"name", "labels"}:
        out.append(f"{where}: name or labels must be set")
    if "name" in has and not _NAME.match(str(ref["name"])):
        out.append(f"{where}.name: {ref['name']!r} has characters Kuma refuses")
    for key, value in (ref.get("tags") or {}).items():
        if not (key and value and _TAG_KEY.match(key) and _TAG_VALUE.match(str(value))):
            out.append(f"{where}.tags.{key}: not a valid tag")
    return out


def _positive_duration(value: Any, where: str, floor_ns: float = 0) -> list[str]:
    ns = go_duration_ns(value) if isinstance(value, str) else None
    return (
        []
        if ns is not None and ns > floor_ns
        else [f"{where}: {value!r} must be a duration over {floor_ns}ns"]
    )


def _conf_errors(kind: str, conf: dict[str, Any], where: str) -> list[str]:
    out: list[str] = []
    if not conf:
        return [f"{where}: must configure something"]
    for name, value in (conf.get("connectionLimits") or {}).items():
        if not (isinstance(value, int) and value > 0):
            out.append(f"{where}.connectionLimits.{name}: {value!r} must be greater than 0")
    od = conf.get("outlierDetection")
    if od is not None:
        if not od.get("detectors"):
            out.append(f"{where}.outlierDetection.detectors: must be defined")
        for name in ("interval", "baseEjectionTime"):
            if name in od:
                out += _positive_duration(od[name], f"{where}.outlierDetection.{name}")
    rate = ((conf.get("local") or {}).get("http") or {}).get("requestRate")
    if rate is not None:
        out += _positive_duration(rate.get("interval"), f"{where}.requestRate.interval", 50e6)
    for item in (conf.get("http") or {}).get("retryOn", []) if kind == "MeshRetry" else []:
        if item not in _RETRY_ON and not (item.isdigit() and int(item) in GO_STATUS):
            out.append(f"{where}.http.retryOn: unknown item {item!r}")
    return out


def admission_errors(obj: dict[str, Any]) -> list[str]:
    """What Kuma's webhook would refuse in one policy ([] when it admits it)."""
    kind, spec, out = obj["kind"], obj["spec"], []
    if not (obj["metadata"].get("labels") or {}).get("kuma.io/mesh"):
        out.append("metadata.labels: kuma.io/mesh is required on Kubernetes")
    to, sources = spec.get("to") or [], spec.get("from") or []
    if to and sources:
        out.append("spec: it's not allowed to mix 'to' and 'from' arrays in the same policy")
    if not (to or sources):
        out.append("spec: at least one of 'from' or 'to' has to be defined")
    out += _ref_errors(spec.get("targetRef") or {"kind": "Mesh"}, _TOP, "spec.targetRef", bool(sources))
    for i, item in enumerate(to):
        out += _ref_errors(item["targetRef"], TO.get(kind, set()), f"spec.to[{i}].targetRef", False)
        if "default" in item:
            out += _conf_errors(kind, item["default"], f"spec.to[{i}].default")
    for i, item in enumerate(sources):
        out += _ref_errors(item["targetRef"], FROM.get(kind, set()), f"spec.from[{i}].targetRef", True)
        out += _conf_errors(kind, item["default"], f"spec.from[{i}].default")
    return out
