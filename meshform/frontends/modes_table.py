"""`meshform modes`: the registry as a table a person reads, or JSON a program reads."""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

from meshform.modes import Registry
from meshform.modes.base import ModeFacts


def _enroll(f: ModeFacts) -> str:
    keys = [f"label {k}={v}" for k, v in f.pod_labels.items()]
    keys += [f"annotation {k}={v}" for k, v in f.pod_annotations.items()]
    if "sidecar" in f.strategies and f.sidecar and not keys:
        keys = ["pre-injected sidecar"]
    return "; ".join(keys) or "nothing"


def _namespace(f: ModeFacts) -> str:
    keys = [f"label {k}={v}" for k, v in f.namespace_labels.items()]
    keys += [f"annotation {k}={v}" for k, v in f.namespace_annotations.items()]
    if not keys:
        return "none"
    return ("required: " if f.namespace_required else "optional: ") + "; ".join(keys)


def row(f: ModeFacts) -> dict[str, Any]:
    return {
        "mode": f.name,
        "aliases": list(f.aliases),
        "summary": f.summary,
        "enroll": _enroll(f),
        "namespace": _namespace(f),
        "restartOnSwitch": f.restart_on_switch,
        "strategies": list(f.strategies),
        "controlPlane": list(f.control_plane),
    }


def modes_json(registry: Registry) -> str:
    return json.dumps([row(m.facts) for m in registry.modes.values()], indent=2) + "\n"


WIDTH = 100  # the default table fits a terminal this wide; `-o wide` puts every cell on one line
HEADERS = ("MODE", "ENROLL A WORKLOAD", "NAMESPACE", "RESTART", "STRATEGIES", "CONTROL PLANE SIGNALS")
NARROW = 5  # columns of the default table: the control plane's signals are in -o wide and -o json
GAP = "  "
MIN_COLUMN = 12


def _cells(f: ModeFacts) -> tuple[list[str], ...]:
    """Each cell as its parts (a part is one line of the narrow table when it fits)."""
    r = row(f)
    return (
        [r["mode"], *(f"({a})" for a in r["aliases"])],
        r["enroll"].split("; "),
        r["namespace"].split("; "),
        ["yes" if r["restartOnSwitch"] else "no"],
        [",".join(r["strategies"])],
        r["controlPlane"],
    )


def modes_text(registry: Registry, wide: bool = False) -> str:
    """The table: one line per mode with `wide`, else the first NARROW columns wrapped to WIDTH."""
    cells = [_cells(mode.facts) for mode in registry.modes.values()]
    if wide:
        return _table([HEADERS, *(_one_line(c) for c in cells)])
    return _wrapped([HEADERS[:NARROW], *(c[:NARROW] for c in cells)])


def _one_line(cells: tuple[list[str], ...]) -> tuple[str, ...]:
    name, *rest = cells
    return (" ".join(name), *("; ".join(c) for c in rest[:-1]), " | ".join(rest[-1]))


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = [GAP.join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + GAP + r[-1] for r in rows]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _wrapped(rows: list[tuple[str, ...] | tuple[list[str], ...]]) -> str:
    """Columns shrunk, widest first, until the table fits WIDTH; a cell's parts wrap inside its
    column at spaces, `/`, `=` and `,` (a long key breaks where a person would break it)."""
    parts = [[[c] if isinstance(c, str) else c for c in r] for r in rows]
    widths = [max(len(p) for r in parts for p in r[i]) for i in range(len(parts[0]))]
    floors = [max(len(w) for r in parts for p in r[i] for w in _Wrapper.wordsep_simple_re.split(p)) for i in
              range(len(widths))]  # fmt: skip
    # Words (keys, names) stay whole while they can; a user's mode with very long ones still fits,
    # broken inside its words, down to MIN_COLUMN characters a column.
    for floor in (floors, [MIN_COLUMN] * len(widths)):
        while sum(widths) + len(GAP) * (len(widths) - 1) > WIDTH:
            shrinkable = [i for i, w in enumerate(widths) if w > floor[i]]
            if not shrinkable:
                break
            widths[max(shrinkable, key=lambda i: widths[i])] -= 1
    blocks: list[str] = []
    for r in parts:
        columns = [[line for p in cell for line in _wrap(p, w)] for cell, w in zip(r, widths, strict=True)]
        lines = []
        for k in range(max(len(c) for c in columns)):
            cells = [(c[k] if k < len(c) else "").ljust(w) for c, w in zip(columns, widths, strict=True)]
            lines.append(GAP.join(cells).rstrip() + "\n")
        blocks.append("".join(lines))
    return blocks[0] + "\n".join(blocks[1:])  # a blank line between modes: their cells wrap


class _Wrapper(textwrap.TextWrapper):
    # Break after a space, `/`, `=` or `,` too: `consul.hashicorp.com/` + `connect-inject=true`.
    wordsep_simple_re = re.compile(r"(\s+|(?<=[/=,])(?=\S))")


def _wrap(text: str, width: int) -> list[str]:
    wrapper = _Wrapper(width=width, break_on_hyphens=False, break_long_words=True)
    return wrapper.wrap(text) or [""]
