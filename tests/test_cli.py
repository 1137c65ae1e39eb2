"""The CLI contract: exit codes, streams, output forms, start-up hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT, run_cli

from meshform.version import __version__

BOOKINFO = "examples/bookinfo/app.yaml"


def test_version() -> None:
    proc = run_cli("--version")
    assert (proc.returncode, proc.stdout.decode()) == (0, f"meshform {__version__}\n")


def test_import_cli_loads_no_heavy_library() -> None:
    code = (
        "import sys, meshform.cli\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('jsonschema', 'jinja2', 'kubernetes', 'lightkube', 'kr8s', 'ruamel', 'yaml')]\n"
        "print(','.join(sorted(heavy)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=30)
    assert proc.stdout.decode().strip() == ""


def test_render_yaml_stream_to_stdout() -> None:
    proc = run_cli("render", BOOKINFO, "--mode", "istio")
    assert proc.returncode == 0, proc.stderr
    docs = list(yaml.safe_load_all(proc.stdout))
    assert [d["kind"] for d in docs][:3] == ["ServiceAccount", "Service", "Deployment"]
    assert proc.stderr == b""


def test_render_json_is_a_list() -> None:
    proc = run_cli("render", BOOKINFO, "--format", "json")
    payload = json.loads(proc.stdout)
    # 4 ServiceAccounts, 4 Services, 6 Deployments (reviews has 3 versions) and, since reviews'
    # versions are weighted, a Service per version (reviews-v1..v3) for a mode's split to target
    assert payload["kind"] == "List" and len(payload["items"]) == 17


def test_render_from_stdin() -> None:
    proc = run_cli("render", "-", stdin=(ROOT / BOOKINFO).read_bytes())
    assert proc.returncode == 0 and b"kind: Deployment" in proc.stdout


def test_render_to_directory_uses_kustomize_file_names(tmp_path: Path) -> None:
    proc = run_cli("render", BOOKINFO, "--mode", "builtin", "-o", f"{tmp_path / 'out'}/")
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir() if p.name != ".meshform-output")
    assert "apps_v1_deployment_reviews-v2.yaml" in names
    assert "v1_configmap_reviews-v2-meshform-envoy.yaml" in names
    assert "v1_service_productpage.yaml" in names
    assert "v1_service_reviews-v3.yaml" in names  # the per-version Services of the weighted split
    assert len(names) == 23
    listed = (tmp_path / "out" / ".meshform-output").read_text().splitlines()
    assert listed[1:] == names  # the list of what meshform wrote, after one comment line
    assert proc.stdout == b""


def test_mode_flag_does_not_override_a_components_own_mode() -> None:
    proc = run_cli("render", "examples/three-tier/app.yaml", "--mode", "linkerd", "--format", "json")
    items = json.loads(proc.stdout)["items"]
    migrate = next(i for i in items if i["kind"] == "Job")  # pinned to kubernetes-native
    assert "linkerd.io/inject" not in migrate["spec"]["template"]["metadata"].get("annotations", {})
    web = next(i for i in items if i["kind"] == "Deployment" and i["metadata"]["name"] == "web")
    assert web["spec"]["template"]["metadata"]["annotations"]["linkerd.io/inject"] == "enabled"


def test_usage_errors_exit_2() -> None:
    assert run_cli("render", BOOKINFO, "--mode", "no-such-mesh").returncode == 2
    assert run_cli("render").returncode == 2
    assert run_cli("frobnicate").returncode == 2
    assert run_cli("render", BOOKINFO, "--enrollment", "magic").returncode == 2


def test_missing_file_is_a_located_error() -> None:
    proc = run_cli("render", "nope.yaml")
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith("nope.yaml: error MF001 cannot read")  # at the file


def test_warnings_go_to_stderr_and_do_not_fail() -> None:
    proc = run_cli("render", BOOKINFO, "--mode", "kuma", "--diagnostics", "github")
    assert proc.returncode == 0
    assert proc.stderr.decode().startswith("::warning file=examples/bookinfo/app.yaml,line=")
    assert b"MF404" in proc.stderr


def test_validate_ok_and_modes_table() -> None:
    proc = run_cli("validate", BOOKINFO, "examples/three-tier/app.yaml")
    assert proc.returncode == 0 and proc.stdout == b""
    table = run_cli("modes").stdout.decode()
    for mode in ("kubernetes-native", "builtin", "istio", "istio-ambient", "linkerd", "kuma", "consul"):
        assert f"\n{mode}" in table
    assert "annotation linkerd.io/inject=enabled" in run_cli("modes", "-o", "wide").stdout.decode()


def test_closed_pipe_gives_no_traceback() -> None:
    cmd = f"{sys.executable} -m meshform render {BOOKINFO} --mode builtin | head -n 1"
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", cmd], capture_output=True, cwd=ROOT, timeout=60, check=False
    )
    assert proc.stdout == b"apiVersion: v1\n"
    assert b"Traceback" not in proc.stderr and b"Error" not in proc.stderr


def test_closed_pipe_on_a_large_stream_gives_no_traceback(tmp_path: Path) -> None:
    """Output far larger than a pipe buffer, so `head` really closes the pipe under meshform."""
    from bench.corpus import stream

    big = tmp_path / "big.yaml"
    big.write_text(stream(300))
    items = "".join("- " + doc.replace("\n", "\n  ").rstrip() + "\n" for doc in stream(300).split("---\n"))
    resource_list = tmp_path / "rl.yaml"
    resource_list.write_text(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
        + items
        + "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n"
        + "  metadata: {name: fn}\n  data: {mode: istio}\n"
    )
    for cmd in (f"-m meshform transform {big} --mode builtin", f"-m meshform krm < {resource_list}"):
        proc = subprocess.run(
            ["bash", "-c", f"{sys.executable} {cmd} | head -c 100"],
            capture_output=True,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        assert len(proc.stdout) == 100, cmd
        assert b"Traceback" not in proc.stderr and b"Exception" not in proc.stderr, proc.stderr[-500:]
