"""What verify found: one frozen `Check` per finding, grouped, and the `Report` they make."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from meshform.verify.client import Answer, Kind

RBAC_FIX = (
    "grant the ClusterRoles in examples/verify/clusterrole.yaml to this user (kubectl apply -f, then bind)"
)


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"


@dataclass(frozen=True)
class Check:
    group: str
    status: Status
    message: str
    fix: str = ""  # one line, for warnings and failures
    reason: str = "ok"  # machine-readable why: forbidden, unreachable, timeout, not-installed, ...
    resource: str = ""  # Kind/namespace/name the finding is about


def ok(group: str, message: str, resource: str = "") -> Check:
    return Check(group, Status.OK, message, resource=resource)


def warn(group: str, message: str, fix: str, reason: str, resource: str = "") -> Check:
    return Check(group, Status.WARNING, message, fix, reason, resource)


def fail(group: str, message: str, fix: str, reason: str, resource: str = "") -> Check:
    return Check(group, Status.FAILED, message, fix, reason, resource)


_REASONS = {
    Kind.FORBIDDEN: ("forbidden", "forbidden by RBAC", RBAC_FIX),
    Kind.UNAUTHORIZED: (
        "unauthorized",
        "the credential was refused (401)",
        "refresh the kubeconfig's credential",
    ),
    Kind.UNREACHABLE: (
        "unreachable",
        "the API server is unreachable",
        "check the server address and network",
    ),
    Kind.TIMEOUT: ("timeout", "timed out", "retry with a longer --timeout, or check the API server's load"),
}


def unavailable(group: str, answer: Answer, what: str, missing_fix: str, resource: str = "") -> Check:
    """A lookup that did not give an object, with its real reason: never everything as 'not installed'."""
    if answer.kind is Kind.NOT_FOUND:
        return fail(group, f"{what}: not installed (not found)", missing_fix, "not-installed", resource)
    reason, words, fix = _REASONS.get(answer.kind, ("error", f"API error {answer.code}", "see the message"))
    detail = f" ({answer.message})" if answer.message else ""
    return fail(group, f"cannot read {what}: {words}{detail}", fix, reason, resource)


@dataclass(frozen=True)
class Report:
    context: str
    server: str
    checks: tuple[Check, ...]

    def count(self, status: Status) -> int:
        return sum(1 for c in self.checks if c.status is status)

    @property
    def failed(self) -> bool:
        return self.count(Status.FAILED) > 0

    def groups(self) -> list[tuple[str, list[Check]]]:
        """Groups in the order they were first reported."""
        out: dict[str, list[Check]] = {}
        for check in self.checks:
            out.setdefault(check.group, []).append(check)
        return list(out.items())
