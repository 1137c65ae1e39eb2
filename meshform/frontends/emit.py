"""Writing results: one stream on stdout, or one file per object in a directory (kustomize's names)."""

from __future__ import annotations

import os
from typing import Any

from meshform.yamlio.writer import dump_document, dump_json, dump_stream


def file_name(obj: dict[str, Any]) -> str:
    """`<group>_<version>_<kind>_<name>.yaml`, lower case, the form `kustomize build -o DIR` uses."""
    api = str(obj.get("apiVersion", ""))
    group, _, version = api.rpartition("/")
    name = str(obj.get("metadata", {}).get("name", "unnamed"))
    parts = (
        [group, version, str(obj.get("kind", "")), name]
        if group
        else [version, str(obj.get("kind", "")), name]
    )
    return "_".join(parts).lower().replace("/", "-") + ".yaml"


def render_stream(objects: list[dict[str, Any]], fmt: str) -> str:
    return dump_json(objects) if fmt == "json" else dump_stream(objects)


def write_dir(objects: list[dict[str, Any]], directory: str, fmt: str) -> list[str]:
    """Write every object to its own file; names are unique (a clash would lose an object)."""
    os.makedirs(directory, exist_ok=True)
    written: list[str] = []
    for obj in objects:
        name = file_name(obj)
        if fmt == "json":
            name = name.removesuffix(".yaml") + ".json"
        path = os.path.join(directory, name)
        if path in written:
            stem, ext = os.path.splitext(path)
            path = f"{stem}_{len(written)}{ext}"
        text = dump_json([obj]) if fmt == "json" else dump_document(obj)
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        written.append(path)
    return written
