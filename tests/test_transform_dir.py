"""`transform DIR` reads only Kubernetes objects: the files of kustomize, kpt, Helm, npm and meshform
itself that share a directory with manifests are skipped with a note (MF434), never fed into the
output; a Helm chart's templates are Go templates, refused with a located error (MF435)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_cli

MIXED = ROOT / "tests" / "fixtures" / "mixed_dir"
CHART = ROOT / "tests" / "fixtures" / "charts" / "shop"


def objects(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def notes(err: str) -> dict[str, str]:
    """file (relative to the fixture) → the MF434 note about it."""
    out = {}
    for line in err.splitlines():
        if " info MF434 " in line:
            where, _, message = line.partition(" info MF434 ")
            out[str(Path(where.rsplit(":", 3)[0]).relative_to(MIXED))] = message
    return out


def test_only_kubernetes_objects_of_a_walked_directory_are_read() -> None:
    proc = run_cli("transform", str(MIXED), "--mode", "istio")
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert [(o["kind"], o["metadata"]["name"]) for o in objects(proc.stdout.decode())] == [
        ("Deployment", "web"),
        ("Service", "web"),
        ("ConfigMap", "rules"),  # its {{ $labels }} is Prometheus' data in a valid object: kept
    ]
    assert notes(err) == {
        "kustomization.yaml": "skipped: kustomize's config (Kustomization), not a Kubernetes object",
        "tools/Kptfile.yaml": "skipped: kpt's package file (Kptfile), not a Kubernetes object",
        "tools/fn-config.yaml": "skipped: a local-config ConfigMap (config.kubernetes.io/local-config: "
        "true, never deployed), not a Kubernetes object",
        "tools/mesh.yaml": "skipped: meshform's own config (MeshTransformer), not a Kubernetes object",
        "tools/package.json": "skipped: no Kubernetes object in it (a document with apiVersion and kind)",
        "tools/values.yaml": "skipped: no Kubernetes object in it (a document with apiVersion and kind)",
    }
    assert "kustomize build DIR | meshform transform -" in err  # what to run instead


def test_a_file_named_on_the_command_line_is_read_as_given() -> None:
    proc = run_cli("transform", str(MIXED / "tools" / "values.yaml"), str(MIXED / "app"), "--mode", "istio")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().startswith("replicaCount: 2\n")  # asked for: passed through, as before
    assert "MF434" not in proc.stderr.decode()


@pytest.mark.parametrize("how", ["in-place", "o-dir", "diff", "check"])
def test_skipped_files_are_neither_rewritten_nor_written_nor_checked(how: str, tmp_path: Path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(MIXED, work)
    before = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    if how == "in-place":
        proc = run_cli("transform", str(work), "--mode", "istio", "--in-place")
        changed = {p.relative_to(work).as_posix() for p, b in before.items() if p.read_bytes() != b}
        assert changed == {"app/deployment.yaml"}
    elif how == "o-dir":
        proc = run_cli("transform", str(work), "--mode", "istio", "-o", f"{tmp_path / 'out'}/")
        written = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
        assert written == ["apps_v1_deployment_web.yaml", "v1_configmap_rules.yaml", "v1_service_web.yaml"]
    elif how == "diff":
        proc = run_cli("transform", str(work), "--mode", "istio", "--diff")
        assert proc.returncode == 1  # a change, in the Deployment only
        assert [line for line in proc.stdout.decode().splitlines() if line.startswith("+++")] == [
            f"+++ b/{str(work).lstrip('/')}/app/deployment.yaml"  # git's form: b/tmp/..., never b//tmp
        ]
        return
    else:
        proc = run_cli("check", str(work), "--mode", "istio")
        assert proc.returncode == 1
        assert "MF801 Deployment/shop/web" in proc.stderr.decode()
        assert "3 object(s)" not in proc.stderr.decode()
        return
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "command",
    [["transform"], ["transform", "--in-place"], ["transform", "--diff"], ["check"], ["status"]],
    ids=["stdout", "in-place", "diff", "check", "status"],
)
def test_a_directory_of_nothing_but_tool_files_is_an_empty_input(tmp_path: Path, command: list[str]) -> None:
    shutil.copy(MIXED / "kustomization.yaml", tmp_path)
    shutil.copy(MIXED / "tools" / "values.yaml", tmp_path)
    proc = run_cli(command[0], str(tmp_path), "--mode", "istio", *command[1:])
    assert (proc.returncode, proc.stdout) == (2 if "--diff" in command else 1, b"")  # --diff: 2 trouble
    err = proc.stderr.decode()
    assert f"{tmp_path}: error MF703 no documents in the input" in err.splitlines()  # at the directory
    assert "MF434" in err and "<stdin>" not in err


def test_a_helm_chart_directory_is_refused_at_each_template(tmp_path: Path) -> None:
    proc = run_cli("transform", str(CHART), "--mode", "istio")
    err = proc.stderr.decode()
    assert (proc.returncode, proc.stdout) == (1, b"")
    refused = sorted(
        line.split(": error MF435")[0].removeprefix(f"{CHART}/")
        for line in err.splitlines()
        if "error MF435" in line
    )
    first = {
        name: _first_template(CHART / "templates" / name)
        for name in ("cronjob.yaml", "deployment.yaml", "migrate-hook.yaml", "service.yaml")
    }
    assert refused == [f"templates/{name}:{line}:{col}" for name, (line, col) in sorted(first.items())]
    assert "helm template NAME CHART | meshform transform -" in err
    assert "Traceback" not in err and "MF002" not in err


def _first_template(path: Path) -> tuple[int, int]:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if "{{" in line:
            return number, line.index("{{") + 1
    raise AssertionError(path)


PLAIN_TEMPLATE = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fixed}\ndata: {a: b}\n"


@pytest.mark.parametrize("how", [[], ["--in-place"], ["-o", "OUT/"]], ids=["stdout", "in-place", "outdir"])
def test_a_chart_template_without_go_template_text_is_refused_with_its_chart(
    tmp_path: Path, how: list[str]
) -> None:
    """A chart is rendered whole by Helm: a template that happens to hold no {{ is refused with its
    siblings, never governed alone (a chart of only such templates would otherwise pass in part)."""
    for siblings in (True, False):
        chart = tmp_path / f"shop-{siblings}"
        shutil.copytree(CHART, chart)
        if not siblings:
            for template in (chart / "templates").glob("*.yaml"):
                template.unlink()
        (chart / "templates" / "fixed.yaml").write_text(PLAIN_TEMPLATE)
        args = [a.replace("OUT", str(tmp_path / f"out-{siblings}")) for a in how]
        proc = run_cli("transform", str(chart), "--mode", "istio", *args)
        assert (proc.returncode, proc.stdout) == (1, b""), proc.stderr
        assert (
            f"{chart}/templates/fixed.yaml:1:1: error MF435 this is a Helm chart template"
            in proc.stderr.decode()
        )
        assert (chart / "templates" / "fixed.yaml").read_text() == PLAIN_TEMPLATE
        assert not (tmp_path / f"out-{siblings}").exists()


@pytest.mark.parametrize("named", ["templates/deployment.yaml", "templates/service.yaml"])
def test_a_chart_template_named_directly_is_refused_too(named: str) -> None:
    proc = run_cli("transform", str(CHART / named), "--mode", "istio")
    assert (proc.returncode, proc.stdout) == (1, b"")
    assert "error MF435 this is a Helm chart template" in proc.stderr.decode()


def test_an_unparseable_go_template_on_stdin_is_said_to_be_one() -> None:
    text = (
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n{{- if .Values.x }}\ndata: {}\n{{- end }}\n"
    )
    proc = run_cli("transform", "-", "--mode", "istio", stdin=text)
    assert (proc.returncode, proc.stdout) == (1, b"")
    assert proc.stderr.decode().startswith("<stdin>:5:1: error MF435 this is a Go template, not YAML")


def test_the_rendered_chart_is_governed() -> None:
    from test_helm import _helm_binary  # the pinned build; skips (fails on CI) without it

    rendered = subprocess.run(
        [_helm_binary("helm3"), "template", "shop", str(CHART)], capture_output=True, check=True, timeout=60
    ).stdout
    proc = run_cli("transform", "-", "--mode", "istio", stdin=rendered)
    assert proc.returncode == 0, proc.stderr
    assert "meshform.dev/status" in proc.stdout.decode()


OTHER = ROOT / "tests" / "fixtures" / "other_yaml_dir"


@pytest.mark.parametrize("engine", [[], ["--preserve-comments"]], ids=["fast", "round-trip"])
def test_other_tools_yaml_no_reader_takes_is_skipped_in_a_walk(engine: list[str]) -> None:
    proc = run_cli("transform", str(OTHER), "--mode", "istio", *engine)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert [o["kind"] for o in objects(proc.stdout.decode())] == ["Deployment"]
    skipped = {
        line.split(":", 1)[0].removeprefix(f"{OTHER}/"): line.split(" info MF434 ")[1]
        for line in err.splitlines()
        if " info MF434 " in line
    }
    assert sorted(skipped) == ["list.yaml", "mkdocs.yml", "playbook.yml"]  # a playbook's {{ }} too
    assert "(MF007: unsupported YAML tag '!!python/name" in skipped["mkdocs.yml"]
    assert "(MF008: this document is a YAML sequence" in skipped["playbook.yml"]
    assert " error " not in err


@pytest.mark.parametrize(
    "text",
    [
        "- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n",  # objects in a sequence: refused
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: !!python/name:os.system}\n",
        "a: [\n",  # not YAML at all: a truncated manifest, maybe
    ],
    ids=["sequence-of-objects", "tagged-manifest", "syntax-error"],
)
def test_a_broken_manifest_in_a_walk_is_still_refused(tmp_path: Path, text: str) -> None:
    shutil.copytree(OTHER, tmp_path / "d")
    (tmp_path / "d" / "broken.yaml").write_text(text)
    proc = run_cli("transform", str(tmp_path / "d"), "--mode", "istio")
    assert (proc.returncode, proc.stdout) == (1, b"")
    assert f"{tmp_path / 'd' / 'broken.yaml'}:" in proc.stderr.decode()


@pytest.mark.parametrize("name", ["playbook.yml", "mkdocs.yml"])
def test_other_tools_yaml_named_on_the_command_line_is_refused(name: str) -> None:
    proc = run_cli("transform", str(OTHER / name), "--mode", "istio")
    assert (proc.returncode, proc.stdout) == (1, b"")
    assert "MF434" not in proc.stderr.decode()
