"""`meshform modes --capabilities`: which traffic-policy feature each mode can enforce, how, and what
its mesh does when nothing is said. Text for people (one matrix, then the notes), JSON for programs."""

from __future__ import annotations

import json
from typing import Any

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
    modes = list(registry.modes.values())
    headers = ["FEATURE", *(m.facts.name for m in modes)]
    rows = [[f, *(_MARK[Support(_cell(m.facts, f)["support"])] for m in modes)] for f in FEATURES]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [headers, *rows]]
    for m in modes:
        lines += ["", f"{m.facts.name}:"]
        for f in FEATURES:
            cell = _cell(m.facts, f)
            if cell["note"] or cell.get("requiresOption"):
                needs = f" (needs {cell['requiresOption']}: true)" if cell.get("requiresOption") else ""
                lines.append(f"  {f}: {cell['support']}, {cell['note']}{needs}")
        lines += [f"  when nothing is said: {d}" for d in m.facts.policy_defaults]
    return "\n".join(lines) + "\n"
