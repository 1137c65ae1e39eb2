"""The report, `linkerd check`-style for people (√ ‼ and a cross by group, a fix under each problem, a summary
line) and as JSON for programs (schemas/verify-report.schema.json)."""

from __future__ import annotations

import json
from typing import Any

from meshform.verify.results import Report, Status

MARKS = {
    Status.OK: "\u221a",
    Status.WARNING: "\u203c",
    Status.FAILED: "\u00d7",
}  # check, double bang, cross: as linkerd check


def text(report: Report) -> str:
    lines: list[str] = []
    for group, checks in report.groups():
        lines += [group, "-" * len(group)]
        for c in checks:
            lines.append(f"{MARKS[c.status]} {c.message}")
            if c.status is not Status.OK and c.fix:
                lines.append(f"    fix: {c.fix}")
        lines.append("")
    lines.append(summary(report))
    return "\n".join(lines) + "\n"


def summary(report: Report) -> str:
    failed, warned, passed = (report.count(s) for s in (Status.FAILED, Status.WARNING, Status.OK))
    mark = MARKS[Status.FAILED] if failed else MARKS[Status.OK]
    warnings = "warning" if warned == 1 else "warnings"
    return f"Status check results are {mark} ({failed} failed, {warned} {warnings}, {passed} passed)"


def as_json(report: Report) -> str:
    doc: dict[str, Any] = {
        "apiVersion": "meshform.dev/v1alpha1",
        "kind": "VerifyReport",
        "context": report.context,
        "server": report.server,
        "result": "failed" if report.failed else "passed",
        "summary": {
            "failed": report.count(Status.FAILED),
            "warnings": report.count(Status.WARNING),
            "passed": report.count(Status.OK),
        },
        "groups": [
            {
                "name": group,
                "checks": [
                    {
                        "status": c.status.value,
                        "message": c.message,
                        "fix": c.fix,
                        "reason": c.reason,
                        "resource": c.resource,
                    }
                    for c in checks
                ],
            }
            for group, checks in report.groups()
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


FORMATS = {"text": text, "json": as_json}
