"""Compare meshform's Istio pre-injection with `istioctl kube-inject`, as data.

Both outputs are read as YAML; what Go's serializer adds to any object it writes back (zero-value
stubs a Kubernetes API server treats as absent: `status: {}` or of zeros, `creationTimestamp: null`,
an empty `resources: {}` / `strategy: {}` / `updateStrategy: {}`, a StatefulSet's `serviceName: ""`,
a List's `metadata: {}`, a gRPC probe's `service: null`) is dropped from istioctl's side, and
meshform's own `meshform.dev/status` from meshform's. Every other difference is returned by path.
"""

from __future__ import annotations

from typing import Any

import yaml

MESHFORM_STATUS = "meshform.dev/status"
# Keys Go writes even when the object has no value there (structs without omitempty): dropped when
# all they hold is zeros.
_GO_STUBS = frozenset(
    {"status", "creationTimestamp", "resources", "strategy", "updateStrategy", "serviceName"}
)
# Pointer fields Go writes as null when unset (no omitempty): a gRPC probe's `service`.
_GO_NULLS = frozenset({"service"})


def _zero(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_zero(v) for v in value.values())
    return value in (None, 0, "") and value is not False


def documents(text: str) -> list[Any]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def _without_stubs(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_stubs(v)
            for k, v in value.items()
            if not (k in _GO_STUBS and _zero(v))
            and not (k == "metadata" and v == {})
            and not (k in _GO_NULLS and v is None)
        }
    if isinstance(value, list):
        return [_without_stubs(v) for v in value]
    return value


def _without_status(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "annotations" and isinstance(v, dict):
                v = {a: b for a, b in v.items() if a != MESHFORM_STATUS}
                if not v:
                    continue
            out[k] = _without_status(v)
        return out
    if isinstance(value, list):
        return [_without_status(v) for v in value]
    return value


def differences(meshform: Any, istioctl: Any, path: str = "$") -> list[str]:
    """Every path where the two differ, meshform's status (istioctl passes it through) and Go's stubs
    aside."""
    return _diff(_without_status(meshform), _without_status(_without_stubs(istioctl)), path)


def _diff(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            where = f"{path}.{key}"
            if key not in a:
                out.append(f"{where}: only in istioctl: {_short(b[key])}")
            elif key not in b:
                out.append(f"{where}: only in meshform: {_short(a[key])}")
            else:
                out += _diff(a[key], b[key], where)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            names = [x.get("name") if isinstance(x, dict) else x for x in a]
            other = [x.get("name") if isinstance(x, dict) else x for x in b]
            return [
                f"{path}: {len(a)} items {_short(names)} in meshform, {len(b)} {_short(other)} in istioctl"
            ]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _diff(x, y, f"{path}[{i}]")]
    if a != b or type(a) is not type(b):
        return [f"{path}: meshform {_short(a)} != istioctl {_short(b)}"]
    return []


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 300 else text[:300] + "..."
