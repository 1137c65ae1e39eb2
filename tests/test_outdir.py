"""`-o DIR`: every input object in exactly one file, kustomize's names, all or nothing (issue 9, kind 4)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_cli

MIXED = ROOT / "tests" / "fixtures" / "outdir" / "mixed.yaml"
MARKER = ".meshform-output"
# kustomize's names for mixed.yaml (checked against the real binary below): the namespaced objects
# span several namespaces (a, b, shop, and "default" for none), so each carries its namespace.
NAMES = [
    "a_rbac.authorization.k8s.io_v1_role_reader.yaml",
    "a_rbac.authorization.k8s.io_v1_role_reader_2.yaml",
    "b_rbac.authorization.k8s.io_v1_role_reader.yaml",
    "default_v1_configmap_settings.yaml",
    "default_v1_service_web.yaml",
    "rbac.authorization.k8s.io_v1_clusterrole_reader.yaml",
    "shop_apps_v1_deployment_web.yaml",
]


def transform(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return run_cli("transform", *args, stdin=stdin)


def written(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != MARKER)


def canonical(objects: list[Any]) -> list[str]:
    return sorted(json.dumps(o, sort_keys=True, default=str) for o in objects)


def objects_of_stream(text: bytes) -> list[Any]:
    out: list[Any] = []
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict) and doc.get("kind") == "List":
            out += doc["items"]
        elif doc is not None:
            out.append(doc)
    return out


@pytest.mark.parametrize("mode", ["istio", "builtin"])
def test_every_object_lands_in_exactly_one_file(tmp_path: Path, mode: str) -> None:
    out = tmp_path / "out"
    proc = transform(str(MIXED), "--mode", mode, "-o", f"{out}/")
    assert proc.returncode == 0 and proc.stdout == b"", proc.stderr
    extra = ["shop_v1_configmap_web-meshform-envoy.yaml"] if mode == "builtin" else []
    assert written(out) == sorted(NAMES + extra)
    files = [yaml.safe_load((out / name).read_text()) for name in written(out)]
    stdout = transform(str(MIXED), "--mode", mode).stdout
    assert canonical(files) == canonical(objects_of_stream(stdout))  # the same objects, each once
    assert (
        (out / "default_v1_configmap_settings.yaml")
        .read_text()
        .startswith(
            "# Every object here must land in exactly one file"  # an unchanged document keeps its text
        )
    )
    listed = (out / MARKER).read_text().splitlines()
    assert listed[0].startswith("#") and listed[1:] == written(out)


def test_file_names_are_the_ones_kustomize_writes(kustomize: str, tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "mixed.yaml").write_bytes(MIXED.read_bytes())
    (tmp_path / "base" / "kustomization.yaml").write_text("resources: [mixed.yaml]\n")
    (tmp_path / "k").mkdir()  # kustomize writes one file per object only into an existing directory
    built = subprocess.run(
        [kustomize, "build", str(tmp_path / "base"), "-o", str(tmp_path / "k")],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == NAMES
    proc = transform(str(MIXED), "--mode", "kubernetes-native", "-o", f"{tmp_path / 'm'}/")
    assert proc.returncode == 0 and written(tmp_path / "m") == NAMES


# ------------------------------------------------------------------------------- failures write nothing

DEPLOYMENT = MIXED.read_text().split("---\n")[-1]


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n" + DEPLOYMENT + "---\n"
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default}\n",
            "<stdin>:21:1: error MF715 default_v1_configmap_a.yaml would also hold the object of <stdin>:1",
        ),
        (
            DEPLOYMENT + "---\n- just\n- a list\n",
            # refused as it is read, on every output (a sequence's workloads would pass ungoverned)
            "<stdin>:17:1: error MF008 this document is a YAML sequence",
        ),
        (DEPLOYMENT + "---\nplain words\n", "<stdin>:17:1: error MF716 a scalar is not a Kubernetes object"),
        (
            DEPLOYMENT + "---\napiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Secret, "
            "metadata: {name: s}}, 7]\n",
            # refused as it is read, on every output, at the item itself (issue 9, kind 7)
            "<stdin>:19:62: error MF008 item 2 of this List is the int 7, not a Kubernetes object",
        ),
        (
            DEPLOYMENT + "---\napiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n",
            "<stdin>:17:1: error MF717 no apiVersion, kind and metadata.name to name the object's file by",
        ),
        (
            DEPLOYMENT + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ../../etc/passwd}\n",
            "<stdin>:17:1: error MF717 metadata.name '../../etc/passwd' cannot be part of a file name",
        ),
    ],
    ids=["duplicate", "list-document", "scalar-document", "list-item", "unnamed", "path-in-name"],
)
def test_a_failure_writes_nothing(tmp_path: Path, stream: str, expected: str) -> None:
    out = tmp_path / "out"
    proc = transform("-", "--mode", "istio", "-o", f"{out}/", stdin=stream.encode())
    assert proc.returncode == 1 and proc.stdout == b""
    assert proc.stderr.decode().startswith(expected), proc.stderr.decode()
    assert list(tmp_path.iterdir()) == []  # no directory, no temporary one beside it


def test_null_and_comment_only_documents_are_no_objects(tmp_path: Path) -> None:
    stream = "# only a comment\n---\nnull\n---\n~\n---\n" + DEPLOYMENT
    proc = transform("-", "--mode", "istio", "-o", f"{tmp_path / 'out'}/", stdin=stream.encode())
    assert proc.returncode == 0, proc.stderr
    assert written(tmp_path / "out") == ["apps_v1_deployment_web.yaml"]


# ----------------------------------------------------------------------------------- existing targets


def test_a_directory_with_other_files_is_refused_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    proc = transform(str(MIXED), "--mode", "istio", "-o", f"{out}/")
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith(
        f"{out}: error MF714 holds files meshform did not write (notes.txt)"
    )
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_empty_directory_is_filled_and_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o750)
    # an existing directory is one file per object without the trailing `/`, as in kustomize
    assert transform(str(MIXED), "--mode", "istio", "-o", str(out)).returncode == 0
    assert written(out) == NAMES and (out.stat().st_mode & 0o777) == 0o750


def test_meshforms_own_directory_is_replaced_whole(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert transform(str(MIXED), "--mode", "istio", "-o", f"{out}/").returncode == 0
    proc = transform("-", "--mode", "istio", "-o", f"{out}/", stdin=DEPLOYMENT.encode())
    assert proc.returncode == 0, proc.stderr
    assert written(out) == ["apps_v1_deployment_web.yaml"]  # the previous run's files are gone
    (out / "added-by-hand.yaml").write_text("a: 1\n")
    proc = transform(str(MIXED), "--mode", "istio", "-o", f"{out}/")
    assert (
        proc.returncode == 1
        and b"MF714 holds files meshform did not write (added-by-hand.yaml)" in proc.stderr
    )
    assert written(out) == ["added-by-hand.yaml", "apps_v1_deployment_web.yaml"]


@pytest.mark.parametrize("command", ["transform", "render"])
def test_a_file_target_ending_in_a_slash_is_an_error(tmp_path: Path, command: str) -> None:
    (tmp_path / "out").write_text("precious\n")
    source = str(MIXED) if command == "transform" else "examples/bookinfo/app.yaml"
    proc = run_cli(command, source, "--mode", "istio", "-o", f"{tmp_path / 'out'}/")
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith(
        f"{tmp_path / 'out'}: error MF714 exists and is not a directory"  # at the file, not :0:0
    )
    assert (tmp_path / "out").read_text() == "precious\n"
    nested = run_cli(command, source, "--mode", "istio", "-o", f"{tmp_path / 'out' / 'sub'}/")
    assert nested.returncode == 1 and b"error MF713 cannot write: Not a directory" in nested.stderr


# ------------------------------------------------------------------------------------------ -o FILE


@pytest.mark.parametrize("command", ["transform", "render"])
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_file_target_gets_the_whole_stream(tmp_path: Path, command: str, fmt: str) -> None:
    source = str(MIXED) if command == "transform" else "examples/bookinfo/app.yaml"
    stdout = run_cli(command, source, "--mode", "istio", "--format", fmt)
    assert stdout.returncode == 0 and stdout.stdout, stdout.stderr
    target = tmp_path / "all.out"  # no extension and no `/`: a file, whatever --format says
    target.write_text("old\n")
    target.chmod(0o640)
    proc = run_cli(command, source, "--mode", "istio", "--format", fmt, "-o", str(target))
    assert proc.returncode == 0 and proc.stdout == b"", proc.stderr
    assert target.read_bytes() == stdout.stdout  # the same bytes stdout gets
    assert (target.stat().st_mode & 0o777) == 0o640  # replaced whole, keeping its mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.out"]  # no temporary file left
    if fmt == "json":
        assert json.loads(target.read_text())["kind"] == "List"


def test_a_failure_leaves_the_file_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "all.yaml"
    target.write_text("precious\n")
    proc = transform("-", "--mode", "istio", "-o", str(target), stdin=b"a: [\n")
    assert proc.returncode == 1 and proc.stdout == b""
    assert target.read_text() == "precious\n"


def test_file_or_directory_is_decided_as_kustomize_decides(kustomize: str, tmp_path: Path) -> None:
    """kustomize writes one stream to a path that is not a directory, one file per object into one
    that is; meshform does the same with the same `-o` arguments."""
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "mixed.yaml").write_bytes(MIXED.read_bytes())
    (tmp_path / "base" / "kustomization.yaml").write_text("resources: [mixed.yaml]\n")
    for tool in ("k", "m"):
        (tmp_path / f"{tool}-dir").mkdir()
    for target in ("stream.yaml", "dir"):
        built = subprocess.run(
            [kustomize, "build", str(tmp_path / "base"), "-o", str(tmp_path / f"k-{target}")],
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert built.returncode == 0, built.stderr
        proc = transform(str(MIXED), "--mode", "kubernetes-native", "-o", str(tmp_path / f"m-{target}"))
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "k-stream.yaml").is_file() and (tmp_path / "m-stream.yaml").is_file()
    k_objects = objects_of_stream((tmp_path / "k-stream.yaml").read_bytes())
    assert canonical(k_objects) == canonical(objects_of_stream((tmp_path / "m-stream.yaml").read_bytes()))
    assert sorted(p.name for p in (tmp_path / "k-dir").iterdir()) == written(tmp_path / "m-dir") == NAMES
