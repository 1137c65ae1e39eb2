"""The KRM function's generator mode: render the application model its functionConfig names.

`meshform krm` is a generator when its functionConfig is a ConfigMap naming a model in `data.app`
(the transformer's ConfigMap has no such key):

    data:
      app: app.yaml          # required: the application model, relative to the working directory
      mode: istio            # optional: as `meshform render --mode`
      enrollment: labels     # optional: labels | sidecar
      modesFile: modes.yaml  # optional: as `meshform render --modes-file`, relative like app

kustomize runs an exec function in the kustomization's directory and kpt in the package's: the paths
are read from there and must stay inside it, as kustomize's own loader requires. The rendered objects
are appended to the ResourceList's items (the functionConfig among them is local config, which
kustomize and kpt leave out of their output).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from meshform.diagnostics import Diagnostic, Level, MeshformError, listing
from meshform.modes import Registry
from meshform.suggest import did_you_mean
from meshform.yamlio.manifests import LOCAL_CONFIG

KEYS = ("app", "mode", "enrollment", "modesFile", "policyEnforcement")
CONFIG = "$.functionConfig"


@dataclass(frozen=True)
class Request:
    """What the functionConfig asks to render: absolute paths, already checked to stay inside."""

    app: str
    mode: str | None
    enrollment: str | None
    modes_file: str | None
    policy_enforcement: str | None = None  # over the model's spec.policyEnforcement, as the flag


# Keys only the generator's data has: one of them makes the functionConfig a generator's.
GENERATOR_KEYS = ("app", "modesFile")


def is_generator(config: Any) -> bool:
    """Does this functionConfig ask for the generator (a ConfigMap whose data names an app)?"""
    if not isinstance(config, dict) or config.get("kind") != "ConfigMap":
        return False
    data = config.get("data")
    return isinstance(data, dict) and any(k in data for k in GENERATOR_KEYS)


def nothing_to_govern(items: list[Any], file: str) -> list[Diagnostic]:
    """The transformer given no resource but local config (a generator's ConfigMap without data.app,
    or an empty build) would answer with nothing: kustomize would build an empty, successful output."""
    if any(not _local_config(i) for i in items):
        return []
    message = "no resources to govern: the ResourceList holds only local config"
    hint = "a generator's ConfigMap names its application model in data.app"
    return [Diagnostic(file, 1, 1, Level.ERROR, "MF436", message, "$.items", "", hint)]


def _local_config(obj: Any) -> bool:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    local = annotations.get(LOCAL_CONFIG) if isinstance(annotations, dict) else None
    return str(local).lower() == "true"


def _error(file: str, key: str, message: str, hint: str = "") -> MeshformError:
    path = f"{CONFIG}.data.{key}" if key else CONFIG
    return MeshformError([Diagnostic(file, 1, 1, Level.ERROR, "MF436", message, path, "", hint)])


def request(config: dict[str, Any], file: str, root: str) -> Request:
    """The functionConfig's data → a Request; a MeshformError (MF436, MF104) when it cannot be one."""
    data = config["data"]
    if "app" not in data:
        raise _error(file, "", "data.app is required: the application model to render")
    unknown = [str(k) for k in data if k not in KEYS]
    if unknown:
        raise _error(
            file, unknown[0], f"unknown key {unknown[0]!r} in the generator's data (known: {listing(KEYS)})"
        )
    for key, value in data.items():
        if not isinstance(value, str) or not value:
            raise _error(file, str(key), f"data.{key} must be a non-empty string")
    enrollment = data.get("enrollment")
    if enrollment not in (None, "labels", "sidecar"):
        raise _error(file, "enrollment", f"data.enrollment {enrollment!r} is not labels or sidecar")
    enforcement = data.get("policyEnforcement")
    if enforcement not in (None, "strict", "best-effort"):  # a typo must not silently drop policy
        message = f"data.policyEnforcement {enforcement!r} is not strict or best-effort"
        raise _error(file, "policyEnforcement", message)
    modes_file = data.get("modesFile")
    return Request(
        _inside(root, data["app"], "app", file),
        data.get("mode"),
        enrollment,
        _inside(root, modes_file, "modesFile", file) if modes_file else None,
        enforcement,
    )


def _inside(root: str, path: str, key: str, file: str) -> str:
    """A path relative to the working directory (`root`) that stays inside it, symlinks resolved."""
    if os.path.isabs(path):
        raise _error(
            file,
            key,
            f"data.{key} {path!r} is absolute",
            "give a path relative to the kustomization (or kpt package) directory",
        )
    real_root = os.path.realpath(root)
    full = os.path.realpath(os.path.join(real_root, path))
    if os.path.commonpath([real_root, full]) != real_root:
        raise _error(
            file,
            key,
            f"data.{key} {path!r} leads outside {real_root}",
            "keep the application model inside the kustomization (or kpt package) directory",
        )
    return os.path.normpath(path)  # as the user wrote it: findings name the file so


def generate(config: dict[str, Any], registry: Registry, file: str) -> tuple[list[Any], list[Diagnostic]]:
    """Render the model the functionConfig names: (objects, findings). Raises MeshformError when the
    functionConfig or the modes file is wrong."""
    from meshform.core.govern import GovernOptions
    from meshform.frontends.render import render_file
    from meshform.model.modes_file import load_registry

    asked = request(config, file, os.getcwd())
    if asked.modes_file is not None:
        registry = load_registry(asked.modes_file)
    if asked.mode is not None and registry.resolve(asked.mode) is None:
        message = f"unknown governance mode {asked.mode!r} (known: {listing(registry.names())})"
        message += did_you_mean(asked.mode, registry.names())
        raise MeshformError([Diagnostic(file, 1, 1, Level.ERROR, "MF204", message, f"{CONFIG}.data.mode")])
    opts = GovernOptions(asked.mode, asked.enrollment, policy_enforcement=asked.policy_enforcement)
    result = render_file(asked.app, registry, opts)
    return result.objects, result.diagnostics
