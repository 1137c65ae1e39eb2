"""Where the shipped data lives: schemas/ and templates/, installed as meshform.schemas/.templates."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

# importlib.resources is imported where it is used: it brings tempfile, shutil and random, ~15% of
# the start-up of a `transform` that never reads a schema or a template.


@cache
def schema(name: str) -> dict[str, Any]:
    from importlib.resources import files

    loaded: dict[str, Any] = json.loads(files("meshform.schemas").joinpath(name).read_text("utf-8"))
    # "$defsOf": this schema also has that schema's $defs (its own win), so a definition both need,
    # such as modeOptions, is written once and both apply the same rule.
    shared = loaded.pop("$defsOf", None)
    if isinstance(shared, str):
        loaded["$defs"] = {**schema(shared).get("$defs", {}), **loaded.get("$defs", {})}
    return loaded


def template(name: str) -> str:
    from importlib.resources import files

    return files("meshform.templates").joinpath(name).read_text("utf-8")


@cache
def mesh_versions(mesh: str) -> tuple[str, ...]:
    """The versions of `mesh` meshform has pre-injection templates for: templates/<mesh>/<version>/."""
    from importlib.resources import files

    folder = files("meshform.templates").joinpath(mesh)
    if not folder.is_dir():
        return ()
    return tuple(sorted(entry.name for entry in folder.iterdir() if entry.is_dir()))


@cache
def mesh_template(mesh: str, version: str, name: str) -> str:
    """One template of templates/<mesh>/<version>/ (a version from mesh_versions)."""
    from importlib.resources import files

    return files("meshform.templates").joinpath(mesh, version, name).read_text("utf-8")
