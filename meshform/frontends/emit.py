"""Writing results: one stream on stdout, or one file per object in a directory (kustomize's names)."""

from __future__ import annotations

from typing import Any

from meshform.frontends.outdir import Entry, write_dir
from meshform.yamlio.writer import dump_document, dump_json, dump_stream


def render_stream(objects: list[dict[str, Any]], fmt: str) -> str:
    return dump_json(objects) if fmt == "json" else dump_stream(objects)


def write_objects(objects: list[dict[str, Any]], directory: str, fmt: str, origin: str) -> list[str]:
    """Each object to its own file in `directory` (see frontends.outdir), all or nothing; `origin`
    is the file the objects came from, for diagnostics. Raises MeshformError."""
    entries = [Entry(obj, _dump(obj, fmt), origin, 0) for obj in objects]
    return write_dir(entries, directory, f".{fmt}")


def _dump(obj: dict[str, Any], fmt: str) -> str:
    return dump_json([obj]) if fmt == "json" else dump_document(obj)
