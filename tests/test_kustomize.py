"""The kustomize examples, built by the REAL kustomize with meshform as an exec KRM function.

kustomize is located with `tests/tools/build.sh --print-path kustomize` (built by `tests/run`). When it is
missing the tests skip locally and fail on CI (CI=true), where a silently skipped integration would hide
exactly the breakage these tests exist for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_cli
from k8s_schema import validate_manifest
from syrupy.assertion import SnapshotAssertion

from meshform.core.workloads import pod_template

EXAMPLE = ROOT / "examples" / "kustomize"
BUILDS = ["overlays/istio", "overlays/linkerd", "generator"]
IDS = [b.rpartition("/")[2] for b in BUILDS]  # ids name the snapshot files: no "/"
EXEC = ("--enable-alpha-plugins", "--enable-exec")


def _env(path: str | None = None) -> dict[str, str]:
    """meshform (and the python3 with its dependencies) first on PATH, as the exec scripts expect."""
    bin_dir = os.path.dirname(sys.executable)
    return {**os.environ, "PATH": path if path is not None else f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def build(
    kustomize: str, target: Path, *flags: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kustomize, "build", *flags, str(target)],
        capture_output=True,
        text=True,
        env=env or _env(),
        timeout=120,
        check=False,
    )


def _objects(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def _workload_templates(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {}
    for obj in objects:
        template = pod_template(obj)
        if template is not None:
            found[f"{obj['kind']}/{obj['metadata']['name']}"] = template
    return found


@pytest.mark.parametrize("target", BUILDS, ids=IDS)
def test_build_with_exec(kustomize: str, target: str, yaml_snapshot: SnapshotAssertion) -> None:
    proc = build(kustomize, EXAMPLE / target, *EXEC)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == yaml_snapshot
    objects = _objects(proc.stdout)
    assert objects
    for obj in objects:
        assert obj["kind"] not in ("MeshTransformer", "ConfigMap"), "the function config leaked"
        errors = validate_manifest(obj, "1.37")
        assert not errors, f"{obj['kind']}/{obj['metadata']['name']}: {errors}"


def test_istio_overlay_enrolls_every_workload(kustomize: str) -> None:
    proc = build(kustomize, EXAMPLE / "overlays/istio", *EXEC)
    assert proc.returncode == 0, proc.stderr
    templates = _workload_templates(_objects(proc.stdout))
    assert set(templates) == {"Deployment/orders-api", "CronJob/orders-report"}
    for ref, template in templates.items():
        assert template["metadata"]["labels"]["sidecar.istio.io/inject"] == "true", ref
        assert "linkerd.io/inject" not in (template["metadata"].get("annotations") or {}), ref


def test_linkerd_overlay_switches_the_same_base(kustomize: str) -> None:
    proc = build(kustomize, EXAMPLE / "overlays/linkerd", *EXEC)
    assert proc.returncode == 0, proc.stderr
    templates = _workload_templates(_objects(proc.stdout))
    assert set(templates) == {"Deployment/orders-api", "CronJob/orders-report"}
    for ref, template in templates.items():
        assert template["metadata"]["annotations"]["linkerd.io/inject"] == "enabled", ref
        assert "sidecar.istio.io/inject" not in template["metadata"]["labels"], ref


def test_generator_renders_the_application(kustomize: str) -> None:
    proc = build(kustomize, EXAMPLE / "generator", *EXEC)
    assert proc.returncode == 0, proc.stderr
    objects = _objects(proc.stdout)
    templates = _workload_templates(objects)
    assert set(templates) == {"Deployment/web", "Deployment/api", "Deployment/cache"}
    for name in ("web", "api"):  # render.yaml's data.mode replaces the model's kubernetes-native
        assert templates[f"Deployment/{name}"]["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"
    assert "sidecar.istio.io/inject" not in templates["Deployment/cache"]["metadata"]["labels"]
    # kustomize's own transformers still run over what the generator returned
    assert all(o["metadata"]["labels"]["example.com/built-by"] == "kustomize" for o in objects)


def test_without_enable_exec_the_build_succeeds_ungoverned_and_check_catches_it(kustomize: str) -> None:
    target = EXAMPLE / "overlays/istio"
    skipped = build(kustomize, target, "--enable-alpha-plugins")
    assert skipped.returncode == 0, skipped.stderr  # kustomize says nothing ...
    base = build(kustomize, EXAMPLE / "base")
    assert base.returncode == 0, base.stderr
    assert skipped.stdout == base.stdout  # ... and the overlay's transformer did nothing

    for selection in (["--mode", "istio"], ["--config", str(target / "mesh.yaml")]):
        check = run_cli("check", *selection, "-", stdin=skipped.stdout.encode())
        assert check.returncode == 1, check.stderr
        stderr = check.stderr.decode()
        assert stderr.count("MF801") == 2, stderr
        assert "Deployment/orders/orders-api should be governed by istio" in stderr
        assert "CronJob/orders/orders-report should be governed by istio" in stderr
        assert check.stdout == b""

    governed = build(kustomize, target, *EXEC)
    assert governed.returncode == 0, governed.stderr
    check = run_cli("check", "--mode", "istio", "-", stdin=governed.stdout.encode())
    assert check.returncode == 0, check.stderr


def test_linkerd_output_fails_an_istio_check(kustomize: str) -> None:
    proc = build(kustomize, EXAMPLE / "overlays/linkerd", *EXEC)
    assert proc.returncode == 0, proc.stderr
    assert run_cli("check", "--mode", "linkerd", "-", stdin=proc.stdout.encode()).returncode == 0
    wrong = run_cli("check", "--mode", "istio", "-", stdin=proc.stdout.encode())
    assert wrong.returncode == 1
    assert b"MF801" in wrong.stderr


@pytest.mark.parametrize("target", BUILDS, ids=IDS)
def test_meshform_missing_from_path_fails_the_build(kustomize: str, target: str, tmp_path: Path) -> None:
    """Never a silently ungoverned build: the scripts fail when they cannot find meshform."""
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = build(kustomize, EXAMPLE / target, *EXEC, env=_env(path=str(empty)))
    assert proc.returncode != 0
    assert proc.stdout == ""


def _generator_copy(tmp_path: Path, **data: str) -> Path:
    work = tmp_path / "generator"
    shutil.copytree(EXAMPLE / "generator", work)
    config = yaml.safe_load((work / "render.yaml").read_text())
    config["data"] = data
    (work / "render.yaml").write_text(yaml.safe_dump(config))
    return work


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"app": "app.yaml", "mode": "no-such-mode"}, "MF204 unknown governance mode 'no-such-mode'"),
        ({"app": "../../base/deployment.yaml"}, "MF436 data.app '../../base/deployment.yaml' leads outside"),
        ({"app": "/etc/hostname"}, "MF436 data.app '/etc/hostname' is absolute"),
        ({"app": "app.yaml", "mod": "istio"}, "MF436 unknown key 'mod' in the generator's data"),
        ({"app": "app.yaml", "mode": ""}, "MF436 data.mode must be a non-empty string"),
        ({"app": "app.yaml", "enrollment": "inject"}, "MF436 data.enrollment 'inject' is not labels"),
        ({"app": "app.yaml", "modesFile": "../modes.yaml"}, "MF436 data.modesFile '../modes.yaml' leads"),
        ({"modesFile": "modes.yaml"}, "MF436 data.app is required"),
        ({"mode": "istio"}, "MF436 no resources to govern"),  # a transformer's config: nothing to govern
    ],
    ids=[
        "unknown-mode",
        "outside",
        "absolute",
        "unknown-key",
        "empty-mode",
        "bad-enrollment",
        "modes-file-outside",
        "no-app",
        "transformer-config",
    ],
)
def test_generator_errors_fail_the_build(
    kustomize: str, tmp_path: Path, data: dict[str, str], message: str
) -> None:
    proc = build(kustomize, _generator_copy(tmp_path, **data), *EXEC)
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert message in proc.stderr


def test_generator_reports_model_errors_with_their_location(kustomize: str, tmp_path: Path) -> None:
    work = _generator_copy(tmp_path, app="app.yaml")
    app = work / "app.yaml"
    app.write_text(app.read_text().replace("    image: ghcr.io/example/catalog-web:3.1.0\n", ""))
    proc = build(kustomize, work, *EXEC)
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert proc.stderr.startswith("app.yaml:12:5: error MF101 missing required field 'image'")


def test_transformer_errors_reach_the_kustomize_user(kustomize: str, tmp_path: Path) -> None:
    work = tmp_path / "kustomize"
    shutil.copytree(EXAMPLE, work)
    mesh = work / "overlays" / "istio" / "mesh.yaml"
    mesh.write_text(mesh.read_text().replace("mode: istio", "mode: no-such-mode"))
    proc = build(kustomize, work / "overlays" / "istio", *EXEC)
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "MF204" in proc.stderr


def test_workload_kinds_in_the_transformer_config(kustomize: str, tmp_path: Path) -> None:
    """A Rollout (built in) and a declared Knative Service are governed inside `kustomize build`; a rule
    naming a kind meshform cannot govern fails the build, located in the config."""
    work = tmp_path / "rollouts"
    work.mkdir()
    shutil.copy(EXAMPLE / "overlays" / "istio" / "meshform-fn", work / "meshform-fn")
    shutil.copy(ROOT / "tests" / "fixtures" / "workload_kinds" / "extensions.yaml", work / "extensions.yaml")
    shutil.copy(ROOT / "tests" / "fixtures" / "workload_kinds" / "unknown.yaml", work / "unknown.yaml")
    (work / "kustomization.yaml").write_text(
        "resources: [extensions.yaml, unknown.yaml]\ntransformers: [mesh.yaml]\n"
    )
    mesh = (EXAMPLE / "overlays" / "istio" / "mesh.yaml").read_text() + (
        "  workloadKinds:\n  - {group: serving.knative.dev, kind: Service, podTemplatePath: spec/template}\n"
        "  rules:\n  - kinds: [Rollout]\n    mode: linkerd\n"
    )
    (work / "mesh.yaml").write_text(mesh)
    proc = build(kustomize, work, *EXEC)
    assert proc.returncode == 0, proc.stderr
    governed = {
        (o["kind"], o["metadata"]["name"]): o["spec"]["template"]["metadata"].get("annotations", {})
        for o in _objects(proc.stdout)
        if o["kind"] not in ("CustomResourceDefinition", "Deployment") and "template" in o["spec"]
    }
    assert {k: "meshform.dev/status" in v for k, v in governed.items()} == {
        ("Rollout", "web"): True,
        ("CloneSet", "api"): True,
        ("StatefulSet", "db"): True,
        ("DaemonSet", "agent"): True,
        ("Service", "hello"): True,
    }
    assert governed[("Rollout", "web")]["linkerd.io/inject"] == "enabled"
    (work / "mesh.yaml").write_text(mesh.replace("kinds: [Rollout]", "kinds: [Rollouts]"))
    proc = build(kustomize, work, *EXEC)
    assert proc.returncode != 0 and proc.stdout == ""
    assert "MF430 rule 1 names kind 'Rollouts'" in proc.stderr
