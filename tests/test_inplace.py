"""`transform --in-place` never leaves a file half-written, mixed, or different in form (issue 9, kind 2).

A kill at any moment leaves the old file or the new one; concurrent runs take turns (each reads the
other's result); mode, owner, CRLF and a byte-order mark are kept; a read-only file or directory, a
symlink out of the walked tree, a FIFO are located errors (or a skipped file) and no run ever rewrites
some files of a tree and not others. The result is exactly what the same engine prints on stdout.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.corpus import stream
from meshform.diagnostics import MeshformError
from meshform.frontends.atomic import Replacement, replace_files
from meshform.frontends.inplace import rewrite
from meshform.frontends.pipeline import govern_sources
from meshform.model.config import TransformConfig
from meshform.modes import DEFAULT
from meshform.yamlio.streams import ROUND_TRIP

FIXTURES = ROOT / "tests" / "fixtures" / "inplace"
NOBODY = 65534


def meshform(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return run_cli("transform", *args, stdin=stdin)


def stdout_of(path: Path, mode: str) -> bytes:
    """What the round-trip engine prints for the file: the text --in-place must write."""
    proc = meshform(str(path), "--mode", mode, "--preserve-comments")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def assert_error(proc: subprocess.CompletedProcess[bytes], first_line: str) -> None:
    assert proc.stderr.decode().startswith(first_line), proc.stderr.decode()


def digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def test_result_is_the_stdout_result_with_bom_crlf_and_mode_kept(tmp_path: Path) -> None:
    target = tmp_path / "windows.yaml"
    shutil.copy(FIXTURES / "windows.yaml", target)
    target.chmod(0o640)
    expected = stdout_of(target, "istio")
    proc = meshform(str(target), "--mode", "istio", "--in-place")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    written = target.read_bytes()
    assert written == codecs.BOM_UTF8 + expected
    assert written.count(b"\r\n") == written.count(b"\n")  # CRLF throughout, changed document too
    original = (FIXTURES / "windows.yaml").read_bytes()
    config_map = original[: original.index(b"---\r\n")]
    assert written.startswith(config_map)  # the unchanged document, byte for byte
    assert b"automountServiceAccountToken: no   # YAML 1.1: false" in written
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["windows.yaml"]  # no temporary file left
    again = meshform(str(target), "--mode", "istio", "--in-place")
    assert again.returncode == 0 and target.read_bytes() == written  # a second run changes nothing


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another owner")
def test_owner_is_kept_when_root(tmp_path: Path) -> None:
    target = tmp_path / "windows.yaml"
    shutil.copy(FIXTURES / "windows.yaml", target)
    os.chown(target, NOBODY, NOBODY)
    assert meshform(str(target), "--mode", "linkerd", "--in-place").returncode == 0
    st_after = target.stat()
    assert (st_after.st_uid, st_after.st_gid) == (NOBODY, NOBODY)
    assert b"linkerd.io/inject: enabled" in target.read_bytes()


# ------------------------------------------------------------------------------- kill and concurrency


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "meshform", "transform", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, bytes]:
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, bytes]:
    """A 240-document commented stream (~3 s on the round-trip engine) and its governed form."""
    path = tmp_path_factory.mktemp("big") / "big.yaml"
    path.write_text(stream(120, comments=True))
    return path, path.read_bytes(), stdout_of(path, "istio")


def _first_write(directory: Path, target: Path, proc: subprocess.Popen[bytes]) -> None:
    """Return as soon as the run starts writing anything in the directory (the riskiest moment)."""
    before = (sorted(p.name for p in directory.iterdir()), target.stat().st_size, target.stat().st_mtime_ns)
    while proc.poll() is None:
        now = (sorted(p.name for p in directory.iterdir()), target.stat().st_size, target.stat().st_mtime_ns)
        if now != before:
            return
        time.sleep(0.005)


@pytest.mark.parametrize("when", [0.4, 1.2, 2.0, "first-write"])
def test_a_kill_leaves_the_old_file_or_the_new_one(
    big: tuple[Path, bytes, bytes], tmp_path: Path, when: float | str
) -> None:
    source, before, governed = big
    target = tmp_path / "f.yaml"
    shutil.copy(source, target)
    proc = _spawn(str(target), "--mode", "istio", "--in-place")
    if isinstance(when, float):
        time.sleep(when)
    else:
        _first_write(tmp_path, target, proc)
    proc.send_signal(signal.SIGKILL)
    _finish(proc)
    assert target.read_bytes() in (before, governed)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "f.yaml"]
    assert all(n.startswith(".f.yaml.") and n.endswith(".meshform-tmp") for n in leftovers), leftovers


def test_concurrent_runs_take_turns(big: tuple[Path, bytes, bytes], tmp_path: Path) -> None:
    source, _, governed = big
    target = tmp_path / "c.yaml"
    shutil.copy(source, target)
    first = _spawn(str(target), "--mode", "istio", "--in-place")
    time.sleep(0.3)
    second = _spawn(str(target), "--mode", "linkerd", "--in-place")
    assert _finish(first) == (0, b"") and _finish(second) == (0, b"")
    serial = tmp_path / "serial.yaml"
    serial.write_bytes(governed)  # what istio wrote, then governed by linkerd
    assert target.read_bytes() == stdout_of(serial, "linkerd")


def test_a_waiting_run_reads_the_file_that_replaced_the_locked_one(tmp_path: Path) -> None:
    target = tmp_path / "app.yaml"
    shutil.copy(FIXTURES / "windows.yaml", target)
    holder = os.open(target, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # as a concurrent run holds it
    proc = _spawn(str(target), "--mode", "istio", "--in-place")
    try:
        time.sleep(1.0)
        assert proc.poll() is None  # waiting for the lock, file untouched
        assert target.read_bytes() == (FIXTURES / "windows.yaml").read_bytes()
        replacement = tmp_path / "other.yaml"  # the other run's result arrives, as a new file
        replacement.write_text((ROOT / "tests/fixtures/corpus/04-jobs.yaml").read_text())
        os.replace(replacement, target)
    finally:
        os.close(holder)
    assert _finish(proc)[0] == 0
    expected = tmp_path / "expected.yaml"
    expected.write_text((ROOT / "tests/fixtures/corpus/04-jobs.yaml").read_text())
    assert target.read_bytes() == stdout_of(expected, "istio")


def test_a_file_changed_by_another_program_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "a.yaml"
    target.write_text("a: 1\n")
    read_then = target.stat()
    target.write_text("a: 2  # an editor saved this while meshform ran\n")
    with pytest.raises(MeshformError) as caught:
        replace_files([Replacement(str(target), b"a: 3\n", read_then)], {})
    assert [d.code for d in caught.value.diagnostics] == ["MF718"]
    assert target.read_text() == "a: 2  # an editor saved this while meshform ran\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.yaml"]


# ------------------------------------------------------------------------------- read-only, all or nothing


@contextlib.contextmanager
def shared_tmp() -> Iterator[Path]:
    """A directory another user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="meshform-inplace-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for p in [path, *path.rglob("*")]:
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
        shutil.rmtree(path)


def as_another_user(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run meshform as a user that file modes apply to (root ignores them): nobody via setpriv."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root ignores file modes and setpriv is missing to drop to another user")
        prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "meshform", "transform", *args],
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def _tree(root: Path, bad: int | None = None) -> list[Path]:
    """Five manifests in root/{0..4}/app.yaml; the `bad` one is invalid YAML."""
    paths = []
    for i in range(5):
        (root / str(i)).mkdir()
        path = root / str(i) / "app.yaml"
        text = (FIXTURES / "windows.yaml").read_bytes()
        path.write_bytes(b"a: [\n" if i == bad else text)
        paths.append(path)
    return paths


def test_read_only_file_is_a_located_error() -> None:
    with shared_tmp() as work:
        target = work / "ro.yaml"
        shutil.copy(FIXTURES / "windows.yaml", target)
        target.chmod(0o444)
        work.chmod(0o777)
        proc = as_another_user(str(target), "--mode", "istio", "--in-place")
        assert proc.returncode == 1 and proc.stdout == b""
        assert_error(proc, f"{target}: error MF713 cannot write: the file is read-only")
        assert target.read_bytes() == (FIXTURES / "windows.yaml").read_bytes()


def test_read_only_directory_rewrites_no_file_of_the_run() -> None:
    with shared_tmp() as work:
        paths = _tree(work)
        for p in paths:
            p.chmod(0o666)
            p.parent.chmod(0o777)
        paths[2].parent.chmod(0o555)  # the third file's directory is read-only
        before = digest(work)
        proc = as_another_user(str(work), "--mode", "istio", "--in-place")
        assert proc.returncode == 1 and proc.stdout == b"", proc.stderr
        err = proc.stderr.decode()
        assert err.startswith(f"{paths[2].resolve()}: error MF713 cannot write: Permission denied"), err
        assert "internal error" not in err and "Traceback" not in err
        assert digest(work) == before  # not one file rewritten
        assert sorted(p.name for p in work.rglob("*") if p.is_file()) == ["app.yaml"] * 5


def test_invalid_file_in_the_tree_rewrites_none(tmp_path: Path) -> None:
    _tree(tmp_path, bad=2)
    before = digest(tmp_path)
    proc = meshform(str(tmp_path), "--mode", "istio", "--in-place")
    assert proc.returncode == 1 and "2/app.yaml:2:1: error MF002" in proc.stderr.decode()
    assert digest(tmp_path) == before


def test_in_place_needs_files() -> None:
    for args in ([], ["-"], ["x.yaml", "-o", "out"]):
        proc = meshform(*args, "--mode", "istio", "--in-place", stdin=b"a: 1\n")
        assert proc.returncode == 2 and proc.stdout == b""


# ------------------------------------------------------------------------------------ symlinks, FIFOs


def test_symlink_out_of_the_walked_tree_is_refused(tmp_path: Path) -> None:
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    (repo / "k8s").mkdir(parents=True)
    outside.mkdir()
    shutil.copy(FIXTURES / "windows.yaml", outside / "deploy.yaml")
    shutil.copy(FIXTURES / "windows.yaml", repo / "k8s" / "own.yaml")
    (repo / "k8s" / "app.yaml").symlink_to("../../outside/deploy.yaml")
    before = digest(tmp_path)
    for extra in (["--in-place"], []):  # reading it into stdout would leak it as well
        proc = meshform(str(repo / "k8s"), "--mode", "istio", *extra)
        assert proc.returncode == 1 and proc.stdout == b""
        assert_error(proc, f"{repo / 'k8s' / 'app.yaml'}: error MF712 symlink leads outside")
    assert digest(tmp_path) == before


def test_symlinks_inside_the_tree_and_named_ones_rewrite_their_target(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "windows.yaml", tmp_path / "real.yaml")
    (tmp_path / "alias.yaml").symlink_to("real.yaml")  # the same file twice in one walk: once
    expected = stdout_of(tmp_path / "real.yaml", "istio")
    assert meshform(str(tmp_path), "--mode", "istio", "--in-place").returncode == 0
    assert (tmp_path / "real.yaml").read_bytes() == codecs.BOM_UTF8 + expected
    assert (tmp_path / "alias.yaml").is_symlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "named.yaml").symlink_to("../real.yaml")  # named on the command line: followed
    assert meshform(str(elsewhere / "named.yaml"), "--mode", "linkerd", "--in-place").returncode == 0
    assert (elsewhere / "named.yaml").is_symlink()
    assert b"linkerd.io/inject: enabled" in (tmp_path / "real.yaml").read_bytes()


def test_fifo_in_a_walked_directory_is_skipped_and_never_opened(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "windows.yaml", tmp_path / "app.yaml")
    os.mkfifo(tmp_path / "pipe.yaml")
    proc = meshform(str(tmp_path), "--mode", "istio", "--in-place")  # run_cli's timeout: no hang
    assert proc.returncode == 0
    assert_error(proc, f"{tmp_path / 'pipe.yaml'}: warning MF711 skipped: a FIFO")
    assert b"sidecar.istio.io/inject" in (tmp_path / "app.yaml").read_bytes()
    assert stat.S_ISFIFO((tmp_path / "pipe.yaml").lstat().st_mode)


@pytest.mark.parametrize("extra", [["--in-place"], []])
def test_fifo_named_directly_is_an_error_not_a_hang(tmp_path: Path, extra: list[str]) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    proc = meshform(str(tmp_path / "pipe.yaml"), "--mode", "istio", *extra)
    assert proc.returncode == 1 and proc.stdout == b""
    assert_error(proc, f"{tmp_path / 'pipe.yaml'}: error MF710 a FIFO, not a regular file")


def test_process_substitution_still_reads() -> None:
    """`<(helm template ...)` hands meshform an anonymous pipe as /dev/fd/N: a stream, not a FIFO."""
    if shutil.which("bash") is None:
        pytest.skip("bash is needed for process substitution")
    cmd = f'"{sys.executable}" -m meshform transform <(cat tests/fixtures/inplace/windows.yaml) --mode istio'
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, cwd=ROOT, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert b"sidecar.istio.io/inject" in proc.stdout


# ------------------------------------------------------------------------------------------ property

SCALARS = ["on", "yes", "NO", "0777", "1:30", "2024-01-01", "~", "web", "'quoted'", '"on"', "1e3", "0o17"]


@st.composite
def manifests(draw: st.DrawFn) -> bytes:
    """A file of workloads and other objects with comments, YAML 1.1 scalars, and CRLF or a BOM."""
    docs = []
    for i in range(draw(st.integers(1, 4))):
        value = draw(st.sampled_from(SCALARS))
        comment = f"# document {i}\n" if draw(st.booleans()) else ""
        if draw(st.booleans()):
            body = (
                f"apiVersion: apps/v1\nkind: Deployment\n"
                f"metadata:\n  name: w{i}\n  annotations: {{a: {value}}}\n"
                f"spec:\n  template:\n    metadata:\n      labels: {{app: w{i}}}  # app\n    spec:\n"
                f"      containers:\n      - name: c\n        image: nginx\n        tty: {value}\n"
            )
        else:
            body = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\ndata:\n  k: {value}\n"
        docs.append(comment + body)
    text = "---\n".join(docs)
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return (codecs.BOM_UTF8 if draw(st.booleans()) else b"") + text.encode()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=manifests(), mode=st.sampled_from(["istio", "linkerd", "kuma", "kubernetes-native"]))
def test_in_place_result_is_the_stdout_result(content: bytes, mode: str) -> None:
    config = TransformConfig(mode=mode)
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "m.yaml")
        Path(path).write_bytes(content)
        printed = govern_sources([path], config, DEFAULT, ROUND_TRIP).text(ROUND_TRIP)
        assert [d for d in rewrite([path], config, DEFAULT, ROUND_TRIP) if d.level == "error"] == []
        written = Path(path).read_bytes()
        bom = codecs.BOM_UTF8 if content.startswith(codecs.BOM_UTF8) else b""
        if written != content:  # nothing to change: the file is left as it was
            assert written == bom + printed.encode()
        assert _docs(written) == _docs(printed.encode())  # and it reads back as printed
        assert [d for d in rewrite([path], config, DEFAULT, ROUND_TRIP) if d.level == "error"] == []
        assert Path(path).read_bytes() == written  # a second run is a no-op


def _docs(raw: bytes) -> list[Any]:
    return list(yaml.safe_load_all(raw.decode("utf-8-sig")))
