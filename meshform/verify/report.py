"""The report, `linkerd check`-style for people (√ ‼ and a cross by group, a fix under each problem, a summary
line) and as JSON for programs (schemas/verify-report.schema.json)."""

from __future__ import annotations

import json
import re
from typing import Any

from meshform.diagnostics import printable
from meshform.verify.results import Report, Status

MARKS = {
    Status.OK: "\u221a",
    Status.WARNING: "\u203c",
    Status.FAILED: "\u00d7",
}  # check, double bang, cross: as linkerd check


def text(report: Report) -> str:
    """Every message is escaped: object names, kubeconfig values and the API server's own words come
    from outside, and a terminal must not act on control characters in them."""
    lines: list[str] = []
    for group, checks in report.groups():
        lines += [printable(group), "-" * len(group)]
        for c in checks:
            lines.append(f"{MARKS[c.status]} {printable(c.message)}")
            if c.status is not Status.OK and c.fix:
                lines.append(f"    fix: {printable(c.fix)}")
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
    return _UNSAFE_IN_JSON.sub(_json_escape, json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"


# json.dumps escapes C0 controls but, with ensure_ascii=False, writes DEL, C1 controls and the bidi
# overrides as they are; they can only occur inside strings, where \uXXXX is the same character.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


FORMATS = {"text": text, "json": as_json}
