"""`meshform status`: each workload's mode and why, as a table a person reads or JSON a program reads.

The JSON is `{"workloads": [...], "problems": N}`, one entry per workload in input order (the shape
of `WorkloadStatus.to_json`). The text is a table (one row per workload, cells wrapped to keep it
within 100 columns) followed by each workload's problems as located diagnostics.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence

from meshform.core.explain import Explainer, WorkloadStatus
from meshform.diagnostics import Diagnostic, format_text, printable
from meshform.frontends.pipeline import nothing_read, read_sources
from meshform.model.config import TransformConfig
from meshform.modes import Registry

HEADERS = ("WORKLOAD", "MODE", "MESHFORM ADDED", "OBJECTS", "PROBLEMS")
WIDTH = 100  # detail lines wrap here; the table's cells are short by design


def explain_sources(
    paths: list[str], config: TransformConfig | None, registry: Registry
) -> tuple[list[WorkloadStatus], list[Diagnostic]]:
    """Read every source (every document parsed: policy objects are shown too) and explain each
    workload. The diagnostics are what kept an input or an object from being read: with an error
    among them the caller shows nothing (never a view of part of the input)."""
    outcome = read_sources(paths, registry)
    outcome.diagnostics += nothing_read(
        outcome
    )  # an empty stream is a failed step upstream, not "no workloads"
    if not outcome.ok:
        return [], outcome.diagnostics
    explainer = Explainer([i for c in outcome.chunks() for i in c.items], config, registry)
    return explainer.workloads(), outcome.diagnostics + explainer.diagnostics


def status_json(workloads: Sequence[WorkloadStatus]) -> str:
    body = {
        "workloads": [w.to_json() for w in workloads],
        "problems": sum(len(w.problems) for w in workloads),
    }
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def _added(w: WorkloadStatus) -> str:
    return ", ".join(f"{len(names)} {field}" for field, names in w.added.items()) or "-"


def _row(w: WorkloadStatus) -> tuple[str, ...]:
    ns = f"{w.namespace}/" if w.namespace else ""
    return (
        f"{ns}{w.kind}/{w.name}",
        w.mode or "none",
        _added(w),
        str(len(w.objects)) if w.objects else "-",
        ",".join(dict.fromkeys(d.code for d in w.problems)) or "-",
    )


def _details(w: WorkloadStatus) -> list[tuple[str, str]]:
    """(label, text) lines under a workload's row: everything the row only counts."""
    out = []
    if w.selected is not None:
        chosen = w.selected
        out.append(("selected", f"{chosen.mode} by {chosen.by}" if chosen.mode else f"none ({chosen.by})"))
    out += [("why", reason) for reason in w.why]
    out += [("added", f"{field} {', '.join(names)}") for field, names in w.added.items()]
    if w.objects:
        out.append(("objects", ", ".join(w.objects)))
    out += [("marks", f"{mark} left by another injector") for mark in w.foreign]
    return out


def status_text(workloads: Sequence[WorkloadStatus]) -> str:
    """The table (each row followed by its details, indented), then `file:line:col: level CODE
    message` for each problem, so a reader can jump to it."""
    rows = [HEADERS, *(_row(w) for w in workloads)]
    widths = [max(len(printable(r[i])) for r in rows) for i in range(len(HEADERS) - 1)]
    lines = [_line(HEADERS, widths)]
    for w, row in zip(workloads, rows[1:], strict=True):
        lines.append(_line(row, widths))
        for label, text in _details(w):
            lines += textwrap.wrap(
                printable(text),
                WIDTH,
                initial_indent=f"  {label}: ",
                subsequent_indent=" " * (len(label) + 4),
                break_on_hyphens=False,
                break_long_words=False,
            )
    if not workloads:
        lines.append("(no workloads in the input)")
    problems = [d for w in workloads for d in w.problems]
    if problems:
        lines += ["", f"{len(problems)} problem(s):"]
        lines += [format_text(d) for d in problems]
    return "\n".join(lines) + "\n"


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    head = "  ".join(printable(c).ljust(w) for c, w in zip(cells, widths, strict=False))
    return f"{head}  {printable(cells[-1])}".rstrip()
