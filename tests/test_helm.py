"""meshform as a real Helm post-renderer: `helm template` of tests/fixtures/charts/shop.

Helm 3 runs the meshform console script itself (`--post-renderer <path> --post-renderer-args ...`).
Helm 4 runs only plugins, so it gets helm-plugin/ installed with `helm plugin install`. Every helm
home directory is moved into a temporary directory.
The helm binaries are the ones tests/tools/build.sh builds. When one is missing the tests skip,
except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from k8s_schema import validate_manifest
from syrupy.assertion import SnapshotAssertion

CHART = ROOT / "tests" / "fixtures" / "charts" / "shop"
PLUGIN = ROOT / "helm-plugin"
BUILD_SH = ROOT / "tests" / "tools" / "build.sh"
MESHFORM = os.path.join(os.path.dirname(sys.executable), "meshform")
RELEASE = "demo"
FILENAME_ANNOTATION = "postrenderer.helm.sh/postrender-filename"
ISTIO_LABEL = "sidecar.istio.io/inject"
HOOK_JOB = ("Job", "demo-shop-migrate")
WORKLOADS = [("Deployment", "demo-shop-web"), ("CronJob", "demo-shop-report")]
# Where each object comes from in the chart (`# Source:` in helm's output).
SOURCES = {
    ("Service", "demo-shop-web"): "shop/templates/service.yaml",
    ("Deployment", "demo-shop-web"): "shop/templates/deployment.yaml",
    ("CronJob", "demo-shop-report"): "shop/templates/cronjob.yaml",
    HOOK_JOB: "shop/templates/migrate-hook.yaml",
}
GOVERN_HOOKS = (
    "apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nspec:\n  mode: istio\n  helmHooks: govern\n"
)

Run = Callable[..., subprocess.CompletedProcess[str]]


def _helm_binary(tool: str) -> str:
    """Path of a helm build.sh has built; skip (fail under CI=true) when it isn't there."""
    hint = f"; build it with: bash tests/tools/build.sh {tool}"
    if not BUILD_SH.is_file():
        reason = f"{BUILD_SH.relative_to(ROOT)} is missing{hint}"
    else:
        try:
            proc = subprocess.run(
                ["bash", str(BUILD_SH), "--print-path", tool],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = f"cannot run {BUILD_SH.relative_to(ROOT)}: {exc}{hint}"
        else:
            path = proc.stdout.strip()
            if proc.returncode == 0 and os.access(path, os.X_OK):
                return path
            reason = proc.stderr.strip() or f"build.sh --print-path {tool} printed {path!r}{hint}"
    reason = f"{tool} not available: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _helm_env(home: Path, path: str | None = None) -> dict[str, str]:
    """The caller's environment with every helm directory moved under `home`, and no meshform settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELM_", "MESHFORM_"))}
    env.update(
        HELM_CACHE_HOME=str(home / "cache"),
        HELM_CONFIG_HOME=str(home / "config"),
        HELM_DATA_HOME=str(home / "data"),
        # `helm plugin install` always writes into $HELM_DATA_HOME/plugins; lookups read HELM_PLUGINS.
        HELM_PLUGINS=str(home / "data" / "plugins"),
        KUBECONFIG=str(home / "kubeconfig-unused"),
    )
    if path is not None:
        env["PATH"] = path
    return env


def _runner(helm: str, env: dict[str, str]) -> Run:
    def run(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [helm, *args],
            capture_output=True,
            text=True,
            env={**env, **(extra_env or {})},
            cwd=ROOT,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture(scope="module")
def helm3(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _runner(_helm_binary("helm3"), _helm_env(tmp_path_factory.mktemp("helm3-home")))


@pytest.fixture(scope="module")
def helm4_command(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """The Helm 4 binary and the environment it runs in (meshform, this venv's, first on PATH)."""
    home = tmp_path_factory.mktemp("helm4-home")
    path = os.pathsep.join([os.path.dirname(MESHFORM), os.environ.get("PATH", os.defpath)])
    return _helm_binary("helm4"), _helm_env(home, path)


@pytest.fixture(scope="module")
def helm4(helm4_command: tuple[str, dict[str, str]]) -> Run:
    """Helm 4 with helm-plugin/ installed."""
    run = _runner(*helm4_command)
    proc = run("plugin", "install", str(PLUGIN))
    assert proc.returncode == 0, proc.stderr
    assert "Installed plugin: meshform" in proc.stdout
    listed = run("plugin", "list")
    assert re.search(r"^meshform\s+0\.1\.0\s+postrenderer/v1\s", listed.stdout, re.M), listed.stdout
    return run


def _template(run: Run, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return run("template", RELEASE, str(CHART), *args, **kw)


def _helm3_post(*meshform_args: str) -> list[str]:
    args = ["--post-renderer", MESHFORM, "--post-renderer-args", "helm-postrender"]
    for arg in meshform_args:
        args += ["--post-renderer-args", arg]
    return args


def _helm4_post(*meshform_args: str) -> list[str]:
    args = ["--post-renderer", "meshform"]
    for arg in meshform_args:
        args += ["--post-renderer-args", arg]
    return args


def _objects(stream: str) -> dict[tuple[str, str], dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(stream) if d]
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert len(objects) == len(docs), "duplicate objects"
    return objects


def _sources(stream: str) -> dict[tuple[str, str], str]:
    """(kind, name) → the `# Source:` file helm printed above each document."""
    found = {}
    for doc in stream.split("\n---\n"):
        match = re.search(r"^# Source: (\S+)$", doc, re.M)
        obj = yaml.safe_load(doc)
        if obj:
            assert match, f"no # Source: comment above\n{doc}"
            found[(obj["kind"], obj["metadata"]["name"])] = match.group(1)
    return found


def _pod_template(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    template: dict[str, Any] = spec["template"]
    return template


def _assert_istio(obj: dict[str, Any]) -> None:
    meta = _pod_template(obj)["metadata"]
    assert meta["labels"][ISTIO_LABEL] == "true", obj["metadata"]["name"]
    status = json.loads(meta["annotations"]["meshform.dev/status"])
    assert (status["mode"], status["strategy"]) == ("istio", "labels")


def _assert_valid(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    for key, obj in objects.items():
        assert validate_manifest(obj, "1.37") == [], key


# --- Helm 3: the meshform executable itself -----------------------------------------------------------


def test_helm3_post_renderer_governs_workloads(helm3: Run, yaml_snapshot: SnapshotAssertion) -> None:
    plain = _objects(_template(helm3).stdout)
    proc = _template(helm3, *_helm3_post("--mode=istio"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    objects = _objects(proc.stdout)
    assert set(objects) == set(SOURCES)
    for key in WORKLOADS:
        _assert_istio(objects[key])
    # Helm 3 sends only the release's regular manifests to a post-renderer, never its hooks.
    assert objects[HOOK_JOB] == plain[HOOK_JOB]
    assert objects[("Service", "demo-shop-web")] == plain[("Service", "demo-shop-web")]
    _assert_valid(objects)
    # Every governed document keeps the `# Source:` line Helm 3 maps output to templates by.
    assert _sources(proc.stdout) == SOURCES
    assert proc.stdout == yaml_snapshot


@pytest.mark.parametrize("template", ["deployment", "cronjob", "service"])
def test_helm3_show_only_finds_governed_templates(helm3: Run, template: str) -> None:
    """`helm template --show-only` selects by `# Source:`: it must still find a governed document."""
    proc = _template(helm3, "--show-only", f"templates/{template}.yaml", *_helm3_post("--mode=istio"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"---\n# Source: shop/templates/{template}.yaml\n")
    objects = list(_objects(proc.stdout).values())
    assert [SOURCES[(o["kind"], o["metadata"]["name"])] for o in objects] == [
        f"shop/templates/{template}.yaml"
    ]
    if template != "service":
        _assert_istio(objects[0])


def test_helm3_never_post_renders_hooks(helm3: Run, tmp_path: Path) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text(GOVERN_HOOKS)
    plain = _objects(_template(helm3).stdout)
    proc = _template(helm3, *_helm3_post(f"--config={config}"))
    assert proc.returncode == 0, proc.stderr
    objects = _objects(proc.stdout)
    _assert_istio(objects[("Deployment", "demo-shop-web")])
    assert objects[HOOK_JOB] == plain[HOOK_JOB]


def test_helm3_mode_from_environment(helm3: Run) -> None:
    proc = _template(helm3, *_helm3_post(), extra_env={"MESHFORM_MODE": "istio"})
    assert proc.returncode == 0, proc.stderr
    _assert_istio(_objects(proc.stdout)[("Deployment", "demo-shop-web")])


# --- Helm 4: the helm-plugin/ postrenderer/v1 plugin --------------------------------------------------


def _capturing_meshform(tmp_path: Path) -> Path:
    """A MESHFORM_BIN that records what meshform read and wrote, then behaves exactly like it."""
    wrapper = tmp_path / "meshform-capture"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'cat > "{tmp_path}/in.yaml"\n'
        f'"{MESHFORM}" "$@" < "{tmp_path}/in.yaml" > "{tmp_path}/out.yaml"\n'
        "rc=$?\n"
        f'cat "{tmp_path}/out.yaml"\n'
        'exit "$rc"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def test_helm4_plugin_governs_workloads_skips_hooks(
    helm4: Run, tmp_path: Path, yaml_snapshot: SnapshotAssertion
) -> None:
    plain = _objects(_template(helm4).stdout)
    wrapper = _capturing_meshform(tmp_path)
    proc = _template(helm4, *_helm4_post("--mode=istio"), extra_env={"MESHFORM_BIN": str(wrapper)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    objects = _objects(proc.stdout)
    assert set(objects) == set(SOURCES)
    for key in WORKLOADS:
        _assert_istio(objects[key])
    assert objects[HOOK_JOB] == plain[HOOK_JOB]
    _assert_valid(objects)

    # Helm 4 sent hooks too, each document marked with its file, and meshform kept every mark.
    sent = _objects((tmp_path / "in.yaml").read_text())
    returned = _objects((tmp_path / "out.yaml").read_text())
    assert list(sent) == list(returned)
    for key, source in SOURCES.items():
        assert sent[key]["metadata"]["annotations"][FILENAME_ANNOTATION] == source
        assert returned[key]["metadata"]["annotations"][FILENAME_ANNOTATION] == source
    assert returned[HOOK_JOB] == sent[HOOK_JOB]
    # ... so Helm put each object back under its own template file (and removed the mark).
    assert _sources(proc.stdout) == SOURCES
    assert FILENAME_ANNOTATION not in proc.stdout
    assert proc.stdout == yaml_snapshot


def test_helm4_plugin_governs_hooks_when_configured(
    helm4: Run, tmp_path: Path, yaml_snapshot: SnapshotAssertion
) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text(GOVERN_HOOKS)
    proc = _template(helm4, *_helm4_post(f"--config={config}"))
    assert proc.returncode == 0, proc.stderr
    objects = _objects(proc.stdout)
    for key in [*WORKLOADS, HOOK_JOB]:
        _assert_istio(objects[key])
    hook = objects[HOOK_JOB]["metadata"]["annotations"]
    assert hook["helm.sh/hook"] == "pre-install"
    assert FILENAME_ANNOTATION not in hook
    assert _sources(proc.stdout) == SOURCES
    _assert_valid(objects)
    assert proc.stdout == yaml_snapshot


def test_helm4_plugin_mode_from_environment(helm4: Run) -> None:
    proc = _template(helm4, *_helm4_post(), extra_env={"MESHFORM_MODE": "linkerd"})
    assert proc.returncode == 0, proc.stderr
    objects = _objects(proc.stdout)
    for key in WORKLOADS:
        assert _pod_template(objects[key])["metadata"]["annotations"]["linkerd.io/inject"] == "enabled"
    assert "linkerd.io/inject" not in str(objects[HOOK_JOB])


def test_helm4_plugin_without_meshform_on_path(helm4: Run) -> None:
    path = os.pathsep.join(["/usr/bin", "/bin"])
    if shutil.which("meshform", path=path):
        pytest.skip("a meshform is installed system-wide")
    proc = _template(helm4, *_helm4_post("--mode=istio"), extra_env={"PATH": path})
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert 'plugin "meshform" exited with error' in proc.stderr
    if Path("/proc/self/fd/2").exists():
        assert "meshform is not on PATH (install it, or set MESHFORM_BIN)" in proc.stderr


# --- failures: helm fails, meshform's error is shown ------------------------------------------------


@pytest.mark.parametrize("helm_major", [3, 4], ids=["helm3", "helm4"])
@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("flag", "MF204 unknown mode 'nosuch'"),
        ("config", "error MF204 unknown governance mode 'nosuch' in the config"),
    ],
    ids=["flag", "config"],
)
def test_unknown_mode_fails_helm(
    request: pytest.FixtureRequest, tmp_path: Path, helm_major: int, how: str, expected: str
) -> None:
    run: Run = request.getfixturevalue(f"helm{helm_major}")
    if how == "flag":
        args = ["--mode=nosuch"]
    else:
        config = tmp_path / "mesh.yaml"
        config.write_text("apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nspec:\n  mode: nosuch\n")
        args = [f"--config={config}"]
    log = tmp_path / "meshform.log"
    post = _helm3_post(*args) if helm_major == 3 else _helm4_post(*args)
    proc = _template(run, *post, extra_env={"MESHFORM_HELM_LOG": str(log)})
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "error while running post render" in proc.stderr
    if helm_major == 3:
        assert f"error while running command {MESHFORM}. error output:" in proc.stderr
        assert expected in proc.stderr
    else:
        # Helm 4 drops the plugin's stderr; the plugin script writes it to Helm's stderr itself
        # (Linux, stderr a pipe as here) and to MESHFORM_HELM_LOG.
        assert 'plugin "meshform" exited with error' in proc.stderr
        assert expected in log.read_text()
        if Path("/proc/self/fd/2").exists():
            assert expected in proc.stderr


@pytest.mark.parametrize("mode", ["w", "a"], ids=["2>file", "2>>file"])
def test_helm4_plugin_diagnostics_reach_a_stderr_file(
    helm4: Run, helm4_command: tuple[str, dict[str, str]], tmp_path: Path, mode: str
) -> None:
    """Helm's stderr a regular file: appended (2>>), or written at Helm's offset behind a gap that
    Helm's own error line lands in (2>): both messages whole, nothing but text in the file."""
    helm, env = helm4_command
    log = tmp_path / "helm.log"
    log.write_text("earlier run\n")
    with open(log, mode) as stderr:  # "w": O_TRUNC without O_APPEND, as a shell's 2> opens it
        proc = subprocess.run(
            [helm, "template", RELEASE, str(CHART), *_helm4_post("--mode=nosuch")],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
    assert proc.returncode != 0
    assert proc.stdout == b""
    text = log.read_text()
    assert "\0" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    [helm_line] = [i for i, line in enumerate(lines) if 'plugin "meshform" exited with error' in line]
    [ours] = [i for i, line in enumerate(lines) if "MF204 unknown mode 'nosuch'" in line]
    assert lines[helm_line].startswith("Error: error while running post render on files: ")
    assert lines[-1 if mode == "a" else helm_line + 1] == "Use --debug flag to render out invalid YAML"
    if mode == "a":  # what was there stays; ours first, Helm's lines appended after them
        assert lines[0] == "earlier run"
        assert ours < helm_line
    else:  # Helm's lines first (written at its offset, into the gap), then ours whole
        assert helm_line == 0
        assert lines[helm_line + 2] == "Usage: meshform helm-postrender [OPTIONS]"
        assert ours > helm_line
        assert "earlier run" not in text
