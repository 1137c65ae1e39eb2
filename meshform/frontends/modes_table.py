"""`meshform modes`: the registry as a table a person reads, or JSON a program reads."""

from __future__ import annotations

import json
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


def modes_text(registry: Registry) -> str:
    headers = ("MODE", "ENROLL A WORKLOAD", "NAMESPACE", "RESTART", "STRATEGIES", "CONTROL PLANE SIGNALS")
    rows = []
    for mode in registry.modes.values():
        r = row(mode.facts)
        name = r["mode"] + (f" ({', '.join(r['aliases'])})" if r["aliases"] else "")
        rows.append(
            (
                name,
                r["enroll"],
                r["namespace"],
                "yes" if r["restartOnSwitch"] else "no",
                ",".join(r["strategies"]),
                " | ".join(r["controlPlane"]),
            )
        )
    widths = [max(len(x[i]) for x in [headers, *rows]) for i in range(len(headers) - 1)]
    lines = []
    for cells in [headers, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)) + "  " + cells[-1])
    return "\n".join(line.rstrip() for line in lines) + "\n"
