"""Validate emitted mesh objects against the real CustomResourceDefinitions' `openAPIV3Schema`.

Where the CRDs come from (nothing is vendored for these two):
- Istio: the Go module `istio.io/api@v1.32.0`, file `kubernetes/customresourcedefinitions.gen.yaml`;
- Gateway API: `sigs.k8s.io/gateway-api@v1.6.3`, `config/crd/standard/*.yaml`;
found with `go mod download -json MODULE@VERSION` (the module cache first, then the proxy). Callers
skip, with the reason `crd_sources` gives, where neither Go nor the cache is available.

The schema is checked as the apiserver's strict field validation would: an object's unknown fields are
errors (structural schemas would prune them silently, which hides typos), `nullable` is honoured, and of
the CEL rules (`x-kubernetes-validations`) the duration rules Istio puts on every duration field are
evaluated (`duration(self) >= duration('1ms')`); other CEL rules are left to the apiserver's dry run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend

ISTIO = ("istio.io/api", "v1.32.0", "kubernetes/customresourcedefinitions.gen.yaml")
GATEWAY_API = ("sigs.k8s.io/gateway-api", "v1.6.3", "config/crd/standard/*.yaml")

_GO_DURATION = re.compile(r"^-?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$")
_UNIT_NS = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the Istio file alone is ~1 MB
_MIN_DURATION_RULE = re.compile(r"^duration\(self\) >= duration\('(\w+)'\)$")


class Unavailable(Exception):
    """The CRDs cannot be had here (no Go, no module cache, no network): the reason, for a skip."""


@cache
def module_dir(module: str, version: str) -> Path:
    """The unpacked module, via `go mod download -json` (cache first). Raises Unavailable."""
    go = shutil.which("go")
    if go is None:
        raise Unavailable("go is not on PATH, so the CRD module cannot be found")
    proc = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or not info.get("Dir"):
        raise Unavailable(f"go mod download {module}@{version}: {info.get('Error') or proc.stderr.strip()}")
    return Path(info["Dir"])


def crd_files(source: tuple[str, str, str]) -> list[Path]:
    module, version, pattern = source
    files = sorted(module_dir(module, version).glob(pattern))
    if not files:
        raise Unavailable(f"{module}@{version} has no {pattern}")
    return files


# ------------------------------------------------------------------------------------- go durations


def go_duration_ns(text: str) -> float | None:
    """Go's time.ParseDuration (which CEL's duration() follows) in nanoseconds, None if invalid."""
    if text in ("0", "-0", "+0"):
        return 0.0
    if not _GO_DURATION.match(text):
        return None
    sign = -1 if text.startswith("-") else 1
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text)
    return sign * sum(float(n) * _UNIT_NS[u] for n, u in parts)


def _cel(
    validator: Any, rules: list[dict[str, Any]], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    for rule in rules:
        found = _MIN_DURATION_RULE.match(rule.get("rule", ""))
        if found is None or not isinstance(instance, str):
            continue  # left to the apiserver
        value, minimum = go_duration_ns(instance), go_duration_ns(found.group(1))
        if value is None or minimum is None or value < minimum:
            yield ValidationError(f"{instance!r}: {rule.get('message', rule['rule'])}")


def _type(validator: Any, types: Any, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if instance is None and schema.get("nullable"):
        return
    yield from Draft4Validator.VALIDATORS["type"](validator, types, instance, schema)


CRDValidator = extend(Draft4Validator, {"x-kubernetes-validations": _cel, "type": _type})


# ---------------------------------------------------------------------------------------- catalogue


def _strict(schema: Any) -> Any:
    """Unknown fields become errors, as with `kubectl --validate=strict`."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _with_envelope(schema: dict[str, Any]) -> dict[str, Any]:
    """The apiserver adds apiVersion, kind and metadata to every CRD's schema; some CRDs omit them."""
    envelope = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}
    return {**schema, "properties": {**envelope, **schema.get("properties", {})}}


@dataclass(frozen=True)
class Catalogue:
    """(apiVersion, kind) → the served version's validator."""

    schemas: dict[tuple[str, str], dict[str, Any]]

    def errors(self, obj: dict[str, Any]) -> list[str]:
        """Every schema violation of one object, as readable strings ([] when valid)."""
        key = (obj.get("apiVersion", ""), obj.get("kind", ""))
        schema = self.schemas.get(key)
        if schema is None:
            return [f"no served CRD version for {key[0]} {key[1]}"]
        found = CRDValidator(schema).iter_errors(obj)
        return sorted(f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in found)


def catalogue(files: Iterable[Path]) -> Catalogue:
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in files:
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_LOADER):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if version.get("served") is False:
                    continue
                schema = _strict(_with_envelope(version["schema"]["openAPIV3Schema"]))
                schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = schema
    return Catalogue(schemas)


@cache
def istio_and_gateway_api() -> Catalogue:
    """Istio's and the Gateway API's (standard channel) CRDs. Raises Unavailable."""
    return catalogue([*crd_files(ISTIO), *crd_files(GATEWAY_API)])


# ------------------------------------------------------------------------- vendored mesh CRDs

VENDORED = Path(__file__).resolve().parent.parent / "fixtures" / "crds"


@cache
def vendored(mesh: str) -> Catalogue:
    """The CRDs copied into tests/fixtures/crds/<mesh>/ (kuma, linkerd, consul; see the README there)."""
    return catalogue(sorted((VENDORED / mesh).glob("*.yaml")))
