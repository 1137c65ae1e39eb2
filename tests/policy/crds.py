"""The CustomResourceDefinitions meshform's policy objects are proven against, and one loader for them:
given an object, find its CRD by group, kind and version and validate the object with jsonschema against
that version's `openAPIV3Schema`, as the apiserver would.

Where the CRDs come from:
- Istio: the Go module `istio.io/api@v1.32.0`, `kubernetes/customresourcedefinitions.gen.yaml`;
- Gateway API: `sigs.k8s.io/gateway-api@v1.6.3`, `config/crd/standard/*.yaml` (and `experimental/`);
  both copied out of the module cache by `bash tests/tools/build.sh crds` into the tools cache
  (`tests/run` does it); missing there, `Unavailable` says so (a skip, a failure under CI=true);
- Kuma, Linkerd, Consul: vendored under tests/fixtures/crds/<mesh>/ (see the README there).

The schema is read as a structural schema, the way the apiserver's strict field validation reads it:
- an object's unknown fields are errors (the apiserver prunes or, with `fieldValidation=Strict`,
  refuses them; pruning hides typos) unless `x-kubernetes-preserve-unknown-fields`; `allOf`, `anyOf`,
  `oneOf` and `not` only validate values, they never declare fields;
- `nullable`, `x-kubernetes-int-or-string` (an integer or a string, nothing else),
  `x-kubernetes-embedded-resource` (apiVersion, kind, metadata allowed), `x-kubernetes-list-type`
  (`set`: unique items; `map`: unique `x-kubernetes-list-map-keys`);
- every object gets the envelope the apiserver adds (apiVersion, kind, metadata, with name and label
  syntax checked as ObjectMeta's validation does);
- of the CEL rules (`x-kubernetes-validations`), the duration floors Istio puts on every duration
  (`duration(self) >= duration('1ms')`) are evaluated; the rest is left to the apiserver's dry run
  (tests/verify/test_policy_crds.py).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend

ROOT = Path(__file__).resolve().parents[2]
VENDORED = ROOT / "tests" / "fixtures" / "crds"
BUILD = ROOT / "tests" / "tools" / "build.sh"

_GO_DURATION = re.compile(r"^-?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$")
_UNIT_NS = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the Istio file alone is ~1 MB
_MIN_DURATION_RULE = re.compile(r"^duration\(self\) >= duration\('(\w+)'\)$")
_VALUE_ONLY = ("allOf", "anyOf", "oneOf", "not")  # structural schemas: these never declare fields
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"


class Unavailable(Exception):
    """The CRDs cannot be had here (the tools cache was not filled): the reason, for a skip."""


# ----------------------------------------------------------------------------------------- sources


def cached(tool: str) -> Path:
    """A data tool's directory in the tools cache (`build.sh --print-path`). Raises Unavailable."""
    done = subprocess.run(
        ["bash", str(BUILD), "--print-path", tool], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise Unavailable(done.stderr.strip() or f"{tool} is not in the tools cache")
    return Path(done.stdout.strip())


@dataclass(frozen=True)
class Bundle:
    """One set of CRD files: a tools-cache directory (from a Go module) or a vendored folder."""

    name: str
    pattern: str
    tool: str = ""  # a build.sh data tool; "" = vendored under tests/fixtures/crds

    def files(self) -> list[Path]:
        """Raises Unavailable when the cache is not filled."""
        base = cached(self.tool) if self.tool else VENDORED
        found = sorted(base.glob(self.pattern))
        if not found:
            raise Unavailable(f"{self.name}: no {self.pattern} in {base}")
        return found


ISTIO = Bundle("istio.io/api v1.32.0", "*.yaml", "istio-crds")
GATEWAY_API = Bundle("gateway-api v1.6.3 standard", "standard/*.yaml", "gateway-api-crds")
GATEWAY_API_EXPERIMENTAL = Bundle(
    "gateway-api v1.6.3 experimental", "experimental/*.yaml", "gateway-api-crds"
)
KUMA = Bundle("kuma v2.14.3", "kuma/*.yaml")
LINKERD = Bundle("linkerd 2.18", "linkerd/*.yaml")
CONSUL = Bundle("consul-k8s v1.9.11", "consul/*.yaml")


@cache
def crd_documents(bundle: Bundle) -> tuple[dict[str, Any], ...]:
    """Every CustomResourceDefinition of a bundle (other documents, such as Gateway API's
    ValidatingAdmissionPolicy, are left out). Raises Unavailable."""
    out = []
    for path in bundle.files():
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_LOADER):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                out.append(doc)
    return tuple(out)


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


# ------------------------------------------------------------------------ the structural validator


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


def _int_or_string(
    validator: Any, on: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    number = isinstance(instance, int) and not isinstance(instance, bool)
    allowed = isinstance(instance, str) or number or (instance is None and schema.get("nullable"))
    if on and not allowed:
        yield ValidationError(f"{instance!r} is not an integer or a string (x-kubernetes-int-or-string)")


def _list_type(validator: Any, kind: Any, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if not isinstance(instance, list):
        return
    if kind == "set":
        keys = [repr(i) for i in instance]
    elif kind == "map":
        names = schema.get("x-kubernetes-list-map-keys") or []
        keys = [repr([i.get(k) for k in names]) if isinstance(i, dict) else repr(i) for i in instance]
    else:
        return
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        yield ValidationError(f"duplicate entries in a list-type {kind}: {', '.join(duplicates)}")


CRDValidator = extend(
    Draft4Validator,
    {
        "x-kubernetes-validations": _cel,
        "type": _type,
        "x-kubernetes-int-or-string": _int_or_string,
        "x-kubernetes-list-type": _list_type,
    },
)


def _structural(schema: Any) -> Any:
    """Unknown fields become errors wherever the schema declares the fields (a schema of `type:
    object` with neither properties nor additionalProperties declares none: all are unknown)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _structural(out[key])
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: _structural(v) for k, v in out["properties"].items()}
    if out.get("x-kubernetes-embedded-resource"):
        out["properties"] = {**_ENVELOPE, **out.get("properties", {})}
    declares = "properties" in out or out.get("type") == "object"
    if declares and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


_ENVELOPE: dict[str, Any] = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 253, "pattern": _DNS_SUBDOMAIN},
            "labels": {
                "type": "object",
                "additionalProperties": {"type": "string", "maxLength": 63, "pattern": _LABEL_VALUE},
            },
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
}


def _with_envelope(schema: dict[str, Any]) -> dict[str, Any]:
    """The apiserver validates apiVersion, kind and metadata itself, whatever the CRD says of them."""
    return {**schema, "properties": {**schema.get("properties", {}), **_ENVELOPE}}


# ---------------------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class CRDVersion:
    """One version of one CRD, as a bundle serves it."""

    source: str  # the bundle's name
    crd: str  # metadata.name, e.g. virtualservices.networking.istio.io
    schema: dict[str, Any]  # openAPIV3Schema, structural and enveloped

    def errors(self, obj: dict[str, Any]) -> list[str]:
        found = CRDValidator(self.schema).iter_errors(obj)
        return sorted(f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in found)


@dataclass(frozen=True)
class Catalogue:
    """(apiVersion, kind) → the served CRD versions of every bundle that defines it."""

    versions: dict[tuple[str, str], tuple[CRDVersion, ...]]

    def find(self, obj: dict[str, Any]) -> tuple[CRDVersion, ...]:
        """The CRD versions (one per bundle defining it) that serve this object's group/version/kind."""
        return self.versions.get((str(obj.get("apiVersion", "")), str(obj.get("kind", ""))), ())

    def errors(self, obj: dict[str, Any]) -> list[str]:
        """Every schema violation of one object, as readable strings ([] when valid); an object two
        bundles define (Linkerd's own HTTPRoute and the Gateway API's) must pass both, each named."""
        found = self.find(obj)
        if not found:
            return [f"no served CRD version for {obj.get('apiVersion')} {obj.get('kind')}"]
        if len(found) == 1:
            return found[0].errors(obj)
        return [f"[{v.source}] {e}" for v in found for e in v.errors(obj)]


def catalogue_of(bundles: Sequence[Bundle]) -> Catalogue:
    """Raises Unavailable when a bundle's files are not there."""
    versions: dict[tuple[str, str], list[CRDVersion]] = {}
    for bundle in bundles:
        for doc in crd_documents(bundle):
            spec = doc["spec"]
            for version in spec["versions"]:
                if version.get("served") is False:
                    continue
                schema = _with_envelope(_structural(version["schema"]["openAPIV3Schema"]))
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                versions.setdefault(key, []).append(CRDVersion(bundle.name, doc["metadata"]["name"], schema))
    return Catalogue({k: tuple(v) for k, v in versions.items()})


@cache
def istio_and_gateway_api() -> Catalogue:
    """Istio's and the Gateway API's (standard channel) CRDs. Raises Unavailable."""
    return catalogue_of([ISTIO, GATEWAY_API])


@cache
def vendored(mesh: str) -> Catalogue:
    """The CRDs copied into tests/fixtures/crds/<mesh>/ (kuma, linkerd, consul)."""
    return catalogue_of([{"kuma": KUMA, "linkerd": LINKERD, "consul": CONSUL}[mesh]])


# Every CRD bundle a mode's objects may meet on a cluster: Linkerd's HTTPRoute must pass both its own
# bundled CRD and the Gateway API's, since either may be the one installed.
MODE_BUNDLES: dict[str, tuple[Bundle, ...]] = {
    "istio": (ISTIO, GATEWAY_API),
    "istio-ambient": (ISTIO, GATEWAY_API),
    "linkerd": (LINKERD, GATEWAY_API),
    "kuma": (KUMA,),
    "consul": (CONSUL,),
    "kubernetes-native": (),
    "builtin": (),
}


@cache
def for_mode(mode: str) -> Catalogue:
    """Raises Unavailable."""
    return catalogue_of(MODE_BUNDLES[mode])


def schema_errors(obj: dict[str, Any], catalogue: Catalogue) -> list[str]:
    """Kubernetes' own strict schema where Kubernetes defines the kind, else the CRD's."""
    from k8s_schema import validate_manifest  # tests/ is on the path when pytest runs

    try:
        return validate_manifest(obj)
    except LookupError:
        return catalogue.errors(obj)


def require(load: Any, *args: Any) -> Any:
    """`load(*args)`, or a skip with the reason (a failure under CI=true, where `tests/run` has
    filled the cache, so a missing CRD can never hide in a green run)."""
    import pytest

    try:
        return load(*args)
    except Unavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
