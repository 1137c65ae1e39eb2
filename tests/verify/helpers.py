"""One-line helpers for the verify tests: write an app or manifests, run verify, pick checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meshform.modes import DEFAULT, Registry
from meshform.verify.results import Check, Report, Status
from meshform.verify.run import Options, verify
from verify.conftest import Cluster


def app(
    tmp: Path, ns: str, mode: str, name: str = "api", options: dict[str, Any] | None = None, **component: Any
) -> Path:
    """A one-component application model (JSON is YAML) in namespace `ns`."""
    spec = {
        "name": name,
        "image": "ghcr.io/example/api:1",
        "ports": [{"name": "http", "port": 8080, "protocol": "http"}],
    }
    doc = {
        "apiVersion": "meshform.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "shop", "namespace": ns},
        "spec": {"governanceMode": mode, "components": [{**spec, **component}]},
    }
    if options:
        doc["spec"]["modeOptions"] = options
    path = tmp / f"app-{ns}-{mode}.yaml"
    path.write_text(json.dumps(doc))
    return path


def deployment(
    tmp: Path,
    ns: str,
    name: str = "web",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    extra: list[dict[str, Any]] | None = None,
) -> Path:
    """Plain manifests (verified as they are, with --mode): one Deployment, its own default SA."""
    meta: dict[str, Any] = {"labels": {"app": name, **(labels or {})}}
    if annotations:
        meta["annotations"] = annotations
    doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": meta,
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}, *(extra or [])]},
            },
        },
    }
    path = tmp / f"deploy-{ns}-{name}.yaml"
    path.write_text(json.dumps(doc))
    return path


def run(
    cluster: Cluster,
    *paths: Path,
    user: str = "admin",
    mode: str | None = None,
    registry: Registry = DEFAULT,
    kubeconfig: Path | None = None,
    timeout: float = 15.0,
) -> Report:
    config = kubeconfig or cluster.kubeconfig(user)
    return verify(Options(tuple(str(p) for p in paths), mode, str(config), None, timeout), registry)


def checks(report: Report, group: str = "", status: Status | None = None, reason: str = "") -> list[Check]:
    return [
        c
        for c in report.checks
        if c.group.startswith(group)
        and (status is None or c.status is status)
        and (not reason or c.reason == reason)
    ]


def reasons(report: Report, status: Status = Status.FAILED) -> set[str]:
    return {c.reason for c in report.checks if c.status is status}


def problems(report: Report) -> list[str]:
    """Every warning and failure, for assertion messages."""
    return [f"{c.status.value}: [{c.group}] {c.message}" for c in report.checks if c.status is not Status.OK]
