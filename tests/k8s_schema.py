"""Fast validation of Kubernetes objects against the strict schemas shipped by kubernetes-validate.

``kubernetes_validate.validate()`` re-reads and re-parses the schema files (including the ~1.8 MB
``_definitions.json``) and builds a fresh validator on every call, which costs tens of milliseconds per
object. Here each schema directory is read once: its ``_definitions.json`` is put into a
``referencing.Registry`` under its ``$id`` (``https://kubernetes.io/api/_definitions.json``), so the
per-kind files' ``$ref``s (written as ``/api/_definitions.json#/$defs/...``, resolved against the file's
own ``$id`` such as ``https://kubernetes.io/api/deployment/apps/v1``) resolve in memory, with no file or
network lookups during validation. Validators are built once per (Kubernetes minor, apiVersion, kind) and
cached, which brings a typical workload object down to about a millisecond.

Every schema directory uses the same ``$id`` URIs, so each Kubernetes minor gets its own registry.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry, Resource

__all__ = ["available_versions", "validate_manifest"]

_SCHEMA_PACKAGE = "kubernetes_validate"
_SCHEMA_ROOT = "kubernetes-json-schema"
_STRICT_DIR = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-local-strict$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?$")
_DEFINITIONS = "_definitions.json"


def _schema_root() -> Traversable:
    return resources.files(_SCHEMA_PACKAGE).joinpath(_SCHEMA_ROOT)


@lru_cache(maxsize=1)
def _strict_dirs() -> dict[tuple[int, int], tuple[int, str]]:
    """Map (major, minor) to (patch, directory name) of the highest-patch strict schema directory."""
    found: dict[tuple[int, int], tuple[int, str]] = {}
    for entry in _schema_root().iterdir():
        match = _STRICT_DIR.match(entry.name)
        if match is None or not entry.is_dir():
            continue
        major, minor, patch = (int(group) for group in match.groups())
        if (major, minor) not in found or patch > found[(major, minor)][0]:
            found[(major, minor)] = (patch, entry.name)
    return found


def available_versions() -> list[str]:
    """Kubernetes minors (e.g. ``"1.37"``) for which strict schemas are installed, oldest first."""
    return [f"{major}.{minor}" for major, minor in sorted(_strict_dirs())]


def _schema_dir_name(version: str) -> str:
    match = _VERSION.match(version.strip())
    if match is None:
        raise LookupError(f"cannot parse Kubernetes version {version!r}; expected e.g. '1.37'")
    key = (int(match.group(1)), int(match.group(2)))
    try:
        return _strict_dirs()[key][1]
    except KeyError:
        raise LookupError(
            f"no strict Kubernetes schemas for version {version!r}; "
            f"available: {', '.join(available_versions())}"
        ) from None


def _read_json(dir_name: str, file_name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        _schema_root().joinpath(dir_name).joinpath(file_name).read_text("utf-8")
    )
    return data


@lru_cache(maxsize=4)
def _registry(dir_name: str) -> Registry[Any]:
    """A registry holding the shared definitions of one schema directory, keyed by their ``$id``."""
    definitions = _read_json(dir_name, _DEFINITIONS)
    registry: Registry[Any] = Registry().with_resource(
        definitions["$id"], Resource.from_contents(definitions)
    )
    return registry


def _schema_file_name(api_version: str, kind: str) -> str:
    # Same naming as kubernetes-validate: drop the domain suffix of the group and join with '-'
    # ("rbac.authorization.k8s.io/v1" -> "rbac-v1", "apps/v1" -> "apps-v1", "v1" -> "v1").
    api_part = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{api_part}.json"


@lru_cache(maxsize=256)
def _validator(dir_name: str, api_version: str, kind: str) -> Validator:
    file_name = _schema_file_name(api_version, kind)
    try:
        schema = _read_json(dir_name, file_name)
    except FileNotFoundError:
        raise LookupError(
            f"no Kubernetes schema for apiVersion={api_version!r} kind={kind!r} in {dir_name}"
        ) from None
    # The directory also holds schemas of sub-objects (e.g. deploymentspec-apps-v1.json) and the file-name
    # mapping is lossy ("apps.example.com/v1" also maps to "apps-v1"), so insist on an exact
    # group/version/kind match with the schema's own declaration.
    group, _, version = api_version.rpartition("/")
    declared = schema.get("x-kubernetes-group-version-kind") or []
    if {"group": group, "version": version, "kind": kind} not in declared:
        raise LookupError(
            f"no Kubernetes schema for apiVersion={api_version!r} kind={kind!r} in {dir_name} "
            f"({file_name} declares {declared or 'no top-level kind'})"
        )
    cls = validator_for(schema, default=Draft202012Validator)
    return cls(schema, registry=_registry(dir_name))


def _describe(error: ValidationError) -> str:
    return f"{error.json_path}: {error.message}"


def validate_manifest(obj: dict[str, Any], version: str = "1.37") -> list[str]:
    """Validate one Kubernetes object against the strict schema of Kubernetes ``version``.

    Returns human-readable ``"<json path>: <message>"`` strings, sorted by path; an empty list means valid.
    Raises ``LookupError`` when the version is not installed or apiVersion/kind has no schema.
    """
    if not isinstance(obj, dict):
        raise TypeError(f"expected a Kubernetes object as a dict, got {type(obj).__name__}")
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        raise LookupError(
            f"object needs string apiVersion and kind, got apiVersion={api_version!r} kind={kind!r}"
        )
    validator = _validator(_schema_dir_name(version), api_version, kind)
    errors = sorted(validator.iter_errors(obj), key=lambda error: (error.json_path, error.message))
    return [_describe(error) for error in errors]
