"""The comment-preserving engine: ruamel.yaml round-trip, for output written back to people's files.

Keeps comments, key order, quoting and each document's own indentation. Strings meshform writes follow
the same rule as the fast emitter: quoted whenever a YAML 1.1 or 1.2 reader could read them otherwise.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import replace
from typing import Any

from meshform.diagnostics import MeshformError
from meshform.yamlio.reader import load_round_trip
from meshform.yamlio.writer import block_ok, plain_ok

WIDTH = 4096  # never fold long strings


def _yaml(indent: tuple[int, int] = (2, 0)) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.representer import RoundTripRepresenter

    class Representer(RoundTripRepresenter):
        def represent_str(self, data: str) -> Any:
            if type(data) is str:  # a plain Python str: a value meshform wrote (or a plain input scalar)
                if block_ok(data):
                    return self.represent_scalar("tag:yaml.org,2002:str", data, style="|")
                if not plain_ok(data):
                    return self.represent_scalar("tag:yaml.org,2002:str", data, style='"')
            return super().represent_str(data)

    Representer.add_representer(str, Representer.represent_str)
    yaml = YAML(typ="rt")
    yaml.Representer = Representer
    yaml.preserve_quotes = True
    yaml.allow_duplicate_keys = False
    yaml.width = WIDTH
    mapping, offset = indent
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    return yaml


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def guess_indent(text: str) -> tuple[int, int]:
    """(mapping indent, sequence dash offset) as the document's author wrote them (kubectl: 2, 0)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    mapping: int | None = None
    offset: int | None = None
    for prev, line in itertools.pairwise(lines):
        if not prev.rstrip().endswith(":"):
            continue
        base = _depth(prev) + (2 if prev.lstrip().startswith("- ") else 0)
        step = _depth(line) - base
        if line.lstrip().startswith("- ") and offset is None and step >= 0:
            offset = step
        elif not line.lstrip().startswith("- ") and mapping is None and step > 0:
            mapping = step
        if mapping is not None and offset is not None:
            break
    return mapping or 2, offset or 0


def load(text: str, file: str, first_line: int) -> tuple[Any, tuple[int, int]]:
    """One document's round-trip data and its indentation style."""
    indent = guess_indent(text)
    try:
        docs = load_round_trip(text, file, _yaml(indent))
    except MeshformError as exc:
        raise MeshformError([replace(d, line=d.line + first_line - 1) for d in exc.diagnostics]) from None
    return (docs[0] if docs else None), indent


def dump(data: Any, indent: tuple[int, int] = (2, 0)) -> str:
    out = io.StringIO()
    _yaml(indent).dump(data, out)
    return out.getvalue()
