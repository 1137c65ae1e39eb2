"""Where results go, as `kustomize build -o` decides it: `-` is stdout; an existing directory, or a
path ending in `/`, gets one file per object (kustomize's names, see frontends.outdir); any other path
is one file holding the whole stream. `--format` picks YAML or JSON for each of them."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from meshform.yamlio.writer import dump_document, dump_json, dump_stream

if TYPE_CHECKING:
    from meshform.frontends.outdir import Entry

# Writing a file (frontends.atomic: tempfile, shutil, ~3 ms to import) and a directory of objects
# (frontends.outdir) are imported where they are used: most runs write to stdout.

FORMATS = ("yaml", "json")


def is_directory(output: str) -> bool:
    """Does `-o output` ask for one file per object?"""
    return output != "-" and (output.endswith(("/", os.sep)) or os.path.isdir(output))


def write_stream(text: str, output: str) -> None:
    """The whole stream to stdout or to the file `output`, never a part of it. Raises MeshformError."""
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        from meshform.frontends.atomic import write_file

        write_file(output, text.encode("utf-8"))


def render_stream(objects: list[dict[str, Any]], fmt: str) -> str:
    return dump_json(objects) if fmt == "json" else dump_stream(objects)


def json_entries(entries: list[Entry]) -> list[Entry]:
    """The same objects, each as a JSON document of its own."""
    from meshform.frontends.outdir import Entry

    return [Entry(e.obj, dump_json([e.obj]), e.file, e.line) for e in entries]


def write_objects(objects: list[dict[str, Any]], directory: str, fmt: str, origin: str) -> list[str]:
    """Each object to its own file in `directory` (see frontends.outdir), all or nothing; `origin`
    is the file the objects came from, for diagnostics. Raises MeshformError."""
    from meshform.frontends.outdir import Entry, write_dir

    entries = [Entry(obj, _dump(obj, fmt), origin, 0) for obj in objects]
    return write_dir(entries, directory, f".{fmt}")


def _dump(obj: dict[str, Any], fmt: str) -> str:
    return dump_json([obj]) if fmt == "json" else dump_document(obj)
