"""Consul names a workload after the Kubernetes Service selecting its pods and, with ACLs on, refuses a
pod whose ServiceAccount has another name (rw-01). render satisfies it; transform says where it cannot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, render, run_cli

from meshform.core.workloads import pod_template

FIXTURES = ROOT / "tests" / "fixtures" / "consul"


def _by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _account(obj: dict[str, Any]) -> str:
    template = pod_template(obj)
    assert template is not None
    return str(template["spec"]["serviceAccountName"])


@pytest.mark.parametrize("mode", [None, "istio", "kubernetes-native"])
def test_render_names_each_service_account_after_its_service(mode: str | None) -> None:
    """One name per component in every mode, so switching modes never renames an identity."""
    result = render(FIXTURES / "app.yaml", mode=mode)
    assert result.ok, result.diagnostics
    accounts = set(_by_kind(result.objects, "ServiceAccount"))
    services = set(_by_kind(result.objects, "Service"))
    workloads = {o["metadata"]["name"]: o for o in result.objects if pod_template(o) is not None}
    # every version of api, and the CronJob's job template, run as the account named like the Service
    assert {_account(workloads[n]) for n in ("api-v1", "api-v2")} == {"api"}
    assert _account(workloads["report"]) == "report"
    assert services == {"api", "report", "legacy"} and accounts == services | {"nightly"}
    assert _account(workloads["nightly"]) == "nightly"


def test_render_warns_located_where_consul_cannot_register_the_workload() -> None:
    result = render(FIXTURES / "app.yaml")
    found = [(d.code, d.line, d.path) for d in result.diagnostics if d.code.startswith("MF41")]
    assert found == [("MF410", 24, "$.spec.components[2]")]
    [nightly] = [d for d in result.diagnostics if d.code == "MF410"]
    assert "Job/nightly" in nightly.message and "give the component a port" in nightly.fix


def test_other_modes_say_nothing_about_services() -> None:
    result = render(FIXTURES / "app.yaml", mode="istio")
    assert result.ok and not [d for d in result.diagnostics if d.code.startswith("MF41")]


def test_rw01_render_in_consul_mode(tmp_path: Path) -> None:
    app = tmp_path / "app.yaml"
    app.write_text(
        (FIXTURES / "app.yaml").read_text().split("  - name: report")[0]
        + "  - name: nightly\n    image: r/n:1\n    workload: Job\n    dependencies: [api]\n"
    )
    proc = run_cli("render", str(app), "--mode", "consul", "--diagnostics", "json")
    assert proc.returncode == 0
    codes = [d["code"] for d in json.loads(proc.stderr)]
    assert "MF410" in codes and "MF412" not in codes
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert _by_kind(docs, "ServiceAccount").keys() == {"api", "nightly"}


def test_transform_warns_located_where_the_input_breaks_the_rule() -> None:
    proc = run_cli("transform", str(FIXTURES / "manifests.yaml"), "--mode", "consul", "--diagnostics", "json")
    assert proc.returncode == 0
    found = sorted((d["code"], d["line"], d["message"].split(" ")[0]) for d in json.loads(proc.stderr))
    assert [f for f in found if f[0] != "MF403"] == [
        ("MF410", 83, "no"),  # Job nightly: no Service in the input
        ("MF411", 20, "the"),  # web: two Services and no connect-service annotation
        ("MF412", 9, "Deployment/shop/api"),  # ServiceAccount shop-api != Service api
        ("MF412", 93, "Pod/shop/bare"),  # no serviceAccountName: runs as `default`
    ]
    warnings = {d["line"]: d for d in json.loads(proc.stderr)}
    assert "'shop-api'" in warnings[9]["message"] and "named 'api'" in warnings[9]["hint"]
    # named (annotation = its account) and ok (two-key selector, account = Service) pass silently;
    # the output is still governed
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    enrolled = [d for d in docs if (t := pod_template(d)) and "consul.hashicorp.com/connect-inject" in str(t)]
    assert len(enrolled) == 6


def test_other_modes_read_no_services_for_it() -> None:
    proc = run_cli("transform", str(FIXTURES / "manifests.yaml"), "--mode", "istio", "--diagnostics", "json")
    assert proc.returncode == 0 and not [d for d in json.loads(proc.stderr) if d["code"].startswith("MF41")]


def test_many_workloads_behind_the_same_services_stay_fast(tmp_path: Path) -> None:
    """N Deployments and N Services all selecting `app: x`: every pod behind every Service. Once cubic
    (Items compared whole, per pair), now each selection is found once; 2,000 pairs finish well within
    a generous bound, in a subprocess so a regression fails instead of hanging, and each MF411 names a
    bounded number of Services."""
    import subprocess
    import sys

    docs = []
    for i in range(2000):
        docs.append(
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: w{i}, namespace: s}}\n"
            "spec:\n  selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: x}}\n"
            "    spec: {containers: [{name: c, image: x}]}\n---\n"
            f"apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: s}}\n"
            "spec: {selector: {app: x}, ports: [{port: 80}]}\n"
        )
    source = tmp_path / "many.yaml"
    source.write_text("---\n".join(docs))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshform",
            "transform",
            "--mode",
            "consul",
            "--diagnostics",
            "json",
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("consul.hashicorp.com/connect-inject") >= 2000
    found = json.loads(done.stderr)
    mf411 = [d for d in found if d.get("code") == "MF411"]
    assert mf411 and all("and 1990 more" in d["message"] for d in mf411)
    assert all(len(d["message"]) < 400 for d in mf411)
