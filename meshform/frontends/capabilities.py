"""`meshform modes --capabilities`: which traffic-policy feature each mode can enforce, how, and what
its mesh does when nothing is said. Text for people (one matrix, then the notes), JSON for programs."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from meshform.frontends.modes_table import WIDTH
from meshform.modes import Registry
from meshform.modes.base import ModeFacts
from meshform.policy.context import Support
from meshform.policy.records import FEATURES

_MARK = {Support.YES: "yes", Support.PARTIAL: "partial", Support.NO: "no"}


def _cell(facts: ModeFacts, feature: str) -> dict[str, Any]:
    cap = facts.policy.get(feature)
    if cap is None:
        return {"support": Support.NO.value, "note": ""}
    out: dict[str, Any] = {"support": cap.support.value, "note": cap.note}
    if cap.requires_option:
        out["requiresOption"] = f"modeOptions.{facts.name}.{cap.requires_option}"
    if cap.http_only:  # enforced by reading HTTP: not on a component whose ports are all TCP
        out["httpOnly"] = True
    return out


def capabilities_json(registry: Registry) -> str:
    rows = [
        {
            "mode": m.facts.name,
            "features": {f: _cell(m.facts, f) for f in FEATURES},
            "defaults": list(m.facts.policy_defaults),
        }
        for m in registry.modes.values()
    ]
    return json.dumps(rows, indent=2) + "\n"


def capabilities_text(registry: Registry) -> str:
    """The support matrix (split into blocks of mode columns when the modes do not fit WIDTH), then
    each mode's notes, wrapped to WIDTH."""
    modes = list(registry.modes.values())
    headers = ["FEATURE", *(m.facts.name for m in modes)]
    rows = [[f, *(_MARK[Support(_cell(m.facts, f)["support"])] for m in modes)] for f in FEATURES]
    lines = _matrix([headers, *rows])
    for m in modes:
        lines += ["", f"{m.facts.name}:"]
        for f in FEATURES:
            cell = _cell(m.facts, f)
            if cell["note"] or cell.get("requiresOption"):
                needs = f" (needs {cell['requiresOption']}: true)" if cell.get("requiresOption") else ""
                lines += _note(f"{f}: {cell['support']}, {cell['note']}{needs}")
        for default in m.facts.policy_defaults:
            lines += _note(f"when nothing is said: {default}")
    return "\n".join(lines) + "\n"


def _matrix(rows: list[list[str]]) -> list[str]:
    """The rows as aligned columns; the first (feature) column is repeated in front of each block of
    mode columns that fits WIDTH, blocks separated by a blank line (user modes add columns)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    blocks: list[list[int]] = [[]]
    used = widths[0]
    for i in range(1, len(widths)):
        if blocks[-1] and used + 2 + widths[i] > WIDTH:
            blocks.append([])
            used = widths[0]
        blocks[-1].append(i)
        used += 2 + widths[i]
    lines: list[str] = []
    for block in blocks:
        lines += [""] if lines else []
        columns = [0, *block]
        lines += ["  ".join(r[i].ljust(widths[i]) for i in columns).rstrip() for r in rows]
    return lines


def _note(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False)
