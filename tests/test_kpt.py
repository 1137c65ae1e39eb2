"""meshform's KRM function under the real kpt: `kpt fn eval DIR --exec "meshform krm"` rewrites the user's
files in place, so comments must survive, kpt's bookkeeping annotations must not leak into the files,
and a failing run must leave every file untouched. kpt is optional: these tests skip without it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

from meshform.core.workloads import pod_template

KPT = shutil.which("kpt")
pytestmark = pytest.mark.skipif(KPT is None, reason="kpt is not installed (optional, not required on CI)")

FILES = {
    "deployment.yaml": """\
# The orders API: kpt must keep this head comment.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: orders-api   # inline comment on the name
  namespace: orders
spec:
  replicas: 2
  selector:
    matchLabels:
      app: orders-api
  template:
    metadata:
      labels:
        app: orders-api   # the selector's label
    spec:
      containers:
      # the only container
      - name: api
        image: ghcr.io/example/orders-api:1.4.0
        ports:
        - name: http   # http- prefix: Istio sniffs nothing
          containerPort: 8080
""",
    # Two documents in one file: kpt tracks them by path + index; they must stay in this file, in order.
    "worker.yaml": """\
# A worker and its Service, in one file.
apiVersion: v1
kind: Service
metadata:
  name: orders-worker
  namespace: orders
spec:
  selector:
    app: orders-worker
  ports:
  - name: http
    port: 80   # the public port
    targetPort: 8080
---
# The worker itself.
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: orders-worker
  namespace: orders
spec:
  serviceName: orders-worker
  selector:
    matchLabels:
      app: orders-worker
  template:
    metadata:
      labels:
        app: orders-worker
    spec:
      containers:
      - name: worker
        image: ghcr.io/example/orders-worker:1.4.0   # pinned
""",
    "jobs/report.yaml": """\
# Nightly report, one directory down.
apiVersion: batch/v1
kind: CronJob
metadata:
  name: orders-report
  namespace: orders
spec:
  schedule: "30 2 * * *"   # 02:30
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: ghcr.io/example/orders-report:1.4.0
""",
}

CONFIG = """\
apiVersion: meshform.dev/v1alpha1
kind: MeshTransformer
metadata:
  name: mesh
spec:
  mode: {mode}
"""

COMMENT = re.compile(r"#\s*(.*\S)\s*$")


def _package(tmp_path: Path) -> Path:
    pkg = tmp_path / "pkg"
    for name, text in FILES.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    return pkg


def _snapshot(pkg: Path) -> dict[str, str]:
    return {str(p.relative_to(pkg)): p.read_text() for p in sorted(pkg.rglob("*")) if p.is_file()}


def _comments(text: str) -> list[str]:
    """Comment texts in order; kpt normalises the spacing before an inline `#`, not the words."""
    return [m.group(1) for line in text.splitlines() if (m := COMMENT.search(line))]


def _kpt(pkg: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert KPT is not None
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [KPT, "fn", "eval", str(pkg), "--exec", "meshform krm", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def _objects(pkg: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        name: [d for d in yaml.safe_load_all(text) if d is not None] for name, text in _snapshot(pkg).items()
    }


def _assert_rewritten(before: dict[str, str], pkg: Path, check_template: Any) -> None:
    after = _snapshot(pkg)
    assert set(after) == set(before), "kpt moved resources into other files"
    for name, text in after.items():
        assert _comments(text) == _comments(before[name]), name
        assert "config.kubernetes.io/" not in text, f"kpt's path/index annotations leaked into {name}"
        assert "config.k8s.io/id" not in text, name
    objects = _objects(pkg)
    assert [o["kind"] for o in objects["worker.yaml"]] == ["Service", "StatefulSet"]
    enrolled = 0
    for docs in objects.values():
        for obj in docs:
            template = pod_template(obj)
            if template is not None:
                check_template(template)
                enrolled += 1
    assert enrolled == 3


def test_fn_eval_with_fn_config_rewrites_files_keeping_comments(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    before = _snapshot(pkg)
    config = tmp_path / "mesh.yaml"
    config.write_text(CONFIG.format(mode="istio"))
    proc = _kpt(pkg, "--fn-config", str(config))
    assert proc.returncode == 0, proc.stderr

    def istio(template: dict[str, Any]) -> None:
        assert template["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"
        assert "meshform.dev/status" in template["metadata"]["annotations"]

    _assert_rewritten(before, pkg, istio)
    assert _snapshot(pkg)["worker.yaml"].startswith("# A worker and its Service, in one file.\n")

    # a second run is a no-op
    again = _snapshot(pkg)
    proc = _kpt(pkg, "--fn-config", str(config))
    assert proc.returncode == 0, proc.stderr
    assert _snapshot(pkg) == again


def test_fn_eval_with_key_value_config_map(tmp_path: Path) -> None:
    """`-- mode=linkerd`: kpt synthesises a ConfigMap functionConfig."""
    pkg = _package(tmp_path)
    before = _snapshot(pkg)
    proc = _kpt(pkg, "--", "mode=linkerd")
    assert proc.returncode == 0, proc.stderr

    def linkerd(template: dict[str, Any]) -> None:
        assert template["metadata"]["annotations"]["linkerd.io/inject"] == "enabled"

    _assert_rewritten(before, pkg, linkerd)


def test_switching_mode_in_place(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    before = _snapshot(pkg)
    assert _kpt(pkg, "--", "mode=istio").returncode == 0
    proc = _kpt(pkg, "--", "mode=linkerd")
    assert proc.returncode == 0, proc.stderr

    def linkerd_only(template: dict[str, Any]) -> None:
        assert template["metadata"]["annotations"]["linkerd.io/inject"] == "enabled"
        assert "sidecar.istio.io/inject" not in template["metadata"].get("labels", {})

    _assert_rewritten(before, pkg, linkerd_only)


def test_unknown_mode_fails_and_leaves_files_unchanged(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    before = _snapshot(pkg)
    config = tmp_path / "mesh.yaml"
    config.write_text(CONFIG.format(mode="no-such-mode"))
    proc = _kpt(pkg, "--fn-config", str(config))
    assert proc.returncode != 0
    assert "MF204" in proc.stderr
    assert "no-such-mode" in proc.stderr
    assert _snapshot(pkg) == before


def test_invalid_config_fails_and_leaves_files_unchanged(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    before = _snapshot(pkg)
    proc = _kpt(pkg, "--", "mode=istio", "enrolment=labels")  # misspelt key
    assert proc.returncode != 0
    assert "MF102" in proc.stderr
    assert _snapshot(pkg) == before


ROLLOUT = """\
# A canary Rollout: kpt must keep this comment too.
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: orders-canary
  namespace: orders
spec:
  selector:
    matchLabels:
      app: orders-canary
  template:
    metadata:
      labels:
        app: orders-canary   # the selector's label
    spec:
      containers:
      - name: api
        image: ghcr.io/example/orders-api:1.5.0
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: orders-fn
  namespace: orders
spec:
  template:
    spec:
      containers:
      - image: ghcr.io/example/orders-fn:1.0.0
"""


def test_workload_kinds_from_the_fn_config_govern_extensions_and_declared_kinds(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "rollout.yaml").write_text(ROLLOUT)
    config = tmp_path / "mesh.yaml"
    config.write_text(
        CONFIG.format(mode="istio")
        + "  workloadKinds:\n"
        + "  - {group: serving.knative.dev, kind: Service, podTemplatePath: spec/template}\n"
    )
    proc = _kpt(pkg, "--fn-config", str(config))
    assert proc.returncode == 0, proc.stderr
    text = (pkg / "rollout.yaml").read_text()
    assert _comments(text) == _comments(ROLLOUT)
    rollout, knative = [d for d in yaml.safe_load_all(text) if d is not None]
    for obj in (rollout, knative):
        assert obj["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"


def test_generator_renders_the_model_into_the_package(tmp_path: Path) -> None:
    """kpt runs an exec function in its own working directory: data.app is read from there."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    shutil.copy(ROOT / "examples" / "kustomize" / "generator" / "app.yaml", pkg / "app.yaml")
    config = tmp_path / "render.yaml"
    config.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: render}\ndata: {app: app.yaml, mode: istio}\n"
    )
    proc = _kpt(Path("."), "--fn-config", str(config), cwd=pkg)
    assert proc.returncode == 0, proc.stderr
    generated = {name: docs for name, docs in _objects(pkg).items() if name != "app.yaml"}
    kinds = sorted(d["kind"] for docs in generated.values() for d in docs)
    assert kinds == ["Deployment"] * 3 + ["Service"] * 3 + ["ServiceAccount"] * 3
    web = next(
        d
        for docs in generated.values()
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "web"
    )
    assert web["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"
