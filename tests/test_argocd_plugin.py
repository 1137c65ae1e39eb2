"""examples/argocd/plugin.yaml run exactly as Argo CD's CMP server runs it (cmpserver/plugin/plugin.go):
each command is executed directly (`command[0]` with `command[1:] + args`, no shell of its own), in the
application's source directory, with the sidecar's environment plus the build environment
(ARGOCD_APP_NAME, ARGOCD_APP_NAMESPACE, ...) and the Application's plugin env prefixed ARGOCD_ENV_.
Discovery matches when the find command exits 0 with non-empty stdout (a non-zero exit is an error);
generate's stdout, trailing newline trimmed, is split into manifests and must hold only Kubernetes
objects; a non-zero exit fails the sync."""

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

PLUGIN = yaml.safe_load((ROOT / "examples" / "argocd" / "plugin.yaml").read_text())
REPO = ROOT / "tests" / "fixtures" / "argocd" / "repo"
SH = shutil.which("sh")
pytestmark = pytest.mark.skipif(SH is None, reason="no POSIX sh (Argo CD's sidecar images have one)")


def argocd_env(app: str, source_path: str, plugin_env: dict[str, str]) -> dict[str, str]:
    """The sidecar's environment (meshform on PATH, as its image has it) plus what the repo server
    sends: the build environment and the Application's plugin env, prefixed."""
    bin_dir = os.path.dirname(sys.executable)
    return {
        "PATH": f"{bin_dir}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "ARGOCD_APP_NAME": app,
        "ARGOCD_APP_NAMESPACE": "argocd",
        "ARGOCD_APP_REVISION": "0123456789abcdef0123456789abcdef01234567",
        "ARGOCD_APP_SOURCE_PATH": source_path,
        "ARGOCD_APP_SOURCE_REPO_URL": "https://git.example.com/shop/deploy.git",
        "ARGOCD_APP_SOURCE_TARGET_REVISION": "HEAD",
        "KUBE_VERSION": "1.31.0",
        "KUBE_API_VERSIONS": "v1,apps/v1,batch/v1",
        **{f"ARGOCD_ENV_{k}": v for k, v in plugin_env.items()},
    }


def run(step: dict[str, Any], app_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [*step["command"], *step.get("args", [])]
    return subprocess.run(argv, cwd=app_dir, env=env, capture_output=True, text=True, timeout=60, check=False)


def discover(app_dir: Path, **plugin_env: str) -> bool:
    proc = run(PLUGIN["spec"]["discover"]["find"], app_dir, argocd_env("orders", app_dir.name, plugin_env))
    assert proc.returncode == 0, f"a failing find command is an error in Argo CD: {proc.stderr}"
    return proc.stdout.removesuffix("\n") != ""


def generate(app_dir: Path, **plugin_env: str) -> subprocess.CompletedProcess[str]:
    return run(PLUGIN["spec"]["generate"], app_dir, argocd_env("orders", app_dir.name, plugin_env))


def manifests(stdout: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(stdout.removesuffix("\n")) if d is not None]
    for doc in docs:  # "Standard output must be ONLY valid Kubernetes Objects"
        assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), doc
    return docs


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the repository, as Argo CD unpacks it into the sidecar's work directory."""
    shutil.copytree(REPO, tmp_path / "repo")
    return tmp_path / "repo"


def test_discovery_matches_a_model_and_a_configured_plain_directory_only(repo: Path) -> None:
    assert discover(repo / "model")
    assert discover(repo / "plain")  # its app.yaml is a Deployment: matched by meshform.yaml
    assert not discover(repo / "unconfigured")
    assert not discover(repo / "unconfigured", MESHFORM_MODE="istio")  # the env alone: no match


@pytest.mark.parametrize("mode", [None, "linkerd"])
def test_generate_renders_the_model_as_meshform_render_does(repo: Path, mode: str | None) -> None:
    env = {"MESHFORM_MODE": mode} if mode else {}
    proc = generate(repo / "model", **env)
    assert proc.returncode == 0, proc.stderr
    expected = run_cli("render", "app.yaml", *(("--mode", mode) if mode else ()), cwd=repo / "model")
    assert manifests(proc.stdout) == manifests(expected.stdout.decode())


@pytest.mark.parametrize(("plugin_env", "mode"), [({}, "istio"), ({"MESHFORM_MODE": "linkerd"}, "linkerd")])
def test_generate_transforms_the_plain_manifests_with_their_config(
    repo: Path, plugin_env: dict[str, str], mode: str
) -> None:
    proc = generate(repo / "plain", **plugin_env)
    assert proc.returncode == 0, proc.stderr
    docs = manifests(proc.stdout)
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Deployment", "orders-api"),
        ("Service", "orders-api"),
    ]  # meshform.yaml, the config, is not among them
    status = docs[0]["spec"]["template"]["metadata"]["annotations"]["meshform.dev/status"]
    assert yaml.safe_load(status)["mode"] == mode


def test_generate_fails_without_output_on_a_bad_model(repo: Path) -> None:
    app = repo / "model" / "app.yaml"
    app.write_text(app.read_text().replace("    image: ghcr.io/example/orders-api:1.4.0\n", ""))
    assert discover(repo / "model")
    proc = generate(repo / "model")
    assert proc.returncode != 0 and proc.stdout == ""
    assert "app.yaml:10:5: error MF101 missing required field 'image'" in proc.stderr


def test_generate_fails_on_an_unknown_mode_from_the_application(repo: Path) -> None:
    proc = generate(repo / "plain", MESHFORM_MODE="no-such-mesh")
    assert proc.returncode != 0 and proc.stdout == ""
    assert "no-such-mesh" in proc.stderr


def test_generate_refuses_an_empty_result(repo: Path) -> None:
    for manifest in ("app.yaml", "service.yaml"):
        (repo / "plain" / manifest).unlink()
    assert discover(repo / "plain")
    proc = generate(repo / "plain")
    assert proc.returncode != 0 and proc.stdout == ""
    assert "MF703" in proc.stderr


def test_generate_outside_a_matched_directory_says_why(repo: Path) -> None:
    proc = generate(repo / "unconfigured", MESHFORM_MODE="istio")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "neither an app.yaml meshform Application nor a meshform.yaml config" in proc.stderr


CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: orders
  annotations: {config.kubernetes.io/local-config: "true"}
data:
  mode: linkerd
"""


@pytest.mark.parametrize(
    ("name", "text", "mode"),
    [
        ("meshform.yml", None, "istio"),  # the .yml spelling of the MeshTransformer
        ("meshform.yaml", CONFIGMAP, "linkerd"),  # the kpt-style ConfigMap config the README offers
        ("meshform.yml", CONFIGMAP, "linkerd"),
    ],
)
def test_discovery_and_generate_take_every_config_spelling(
    repo: Path, name: str, text: str | None, mode: str
) -> None:
    """A config discovery missed would make Argo CD deploy the raw manifests, ungoverned."""
    config = repo / "plain" / "meshform.yaml"
    body = config.read_text() if text is None else text
    config.unlink()
    (repo / "plain" / name).write_text(body)
    assert discover(repo / "plain")
    proc = generate(repo / "plain")
    assert proc.returncode == 0, proc.stderr
    docs = manifests(proc.stdout)
    assert [d["kind"] for d in docs] == ["Deployment", "Service"]  # the config is not among them
    status = docs[0]["spec"]["template"]["metadata"]["annotations"]["meshform.dev/status"]
    assert yaml.safe_load(status)["mode"] == mode


def test_discovery_takes_app_yml_and_not_an_unrelated_meshform_file(repo: Path) -> None:
    (repo / "model" / "app.yaml").rename(repo / "model" / "app.yml")
    assert discover(repo / "model")
    proc = generate(repo / "model")
    assert proc.returncode == 0, proc.stderr
    (repo / "unconfigured" / "meshform.yml").write_text("apiVersion: apps/v1\nkind: Deployment\n")
    assert not discover(repo / "unconfigured")


def test_discover_and_generate_decide_alike() -> None:
    """Discovery and generate each carry the same `found` (Argo CD runs them as separate commands)."""

    def found(script: str) -> str:
        start = script.index("is() {")
        return "\n".join(line.strip() for line in script[start : script.index("\n}", start) + 2].splitlines())

    assert found(PLUGIN["spec"]["discover"]["find"]["command"][2]) == found(
        PLUGIN["spec"]["generate"]["command"][2]
    )
