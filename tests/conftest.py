"""Shared test helpers: rendering, YAML snapshots, running the real CLI as a subprocess."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from meshform.core.govern import GovernOptions
from meshform.core.transform import transform
from meshform.diagnostics import Diagnostic
from meshform.frontends.render import Result, render_file
from meshform.model.config import Rule, TransformConfig
from meshform.modes import DEFAULT, Registry
from meshform.yamlio.streams import FAST, emit, load_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*/app.yaml"))


@pytest.fixture(autouse=True, scope="session")
def _own_template_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never read or write the user's template cache (meshform.modes.template_cache), nor its
    key: a cache of their own per session, so no output can depend on what an earlier session or
    another meshform left there. In-process runs and CLI children alike read these variables."""
    root = tmp_path_factory.mktemp("template-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MESHFORM_TEMPLATE_CACHE", str(root / "cache"))
        patch.setenv("XDG_STATE_HOME", str(root / "state"))
        yield


class YamlSnapshot(SingleFileSnapshotExtension):
    """One readable .yaml file per snapshot, so reviews see real manifests."""

    _write_mode = WriteMode.TEXT
    file_extension = "yaml"


@pytest.fixture
def yaml_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(YamlSnapshot)


def render(path: Path | str, mode: str | None = None, enrollment: str | None = None, **kw: Any) -> Result:
    return render_file(str(path), DEFAULT, GovernOptions(mode, enrollment, **kw))


# The shop example pins its migration Job to kubernetes-native: a transform of its rendered output
# keeps it there by a rule, as a MeshTransformer would, so that transforming means what rendering does.
EXAMPLE_RULES = (Rule(names=("migrate",), mode="kubernetes-native"),)


@functools.cache
def rendered_example(path: Path, mode: str) -> str:
    """`meshform render EXAMPLE --mode M` as the example declares it (best-effort): the stream."""
    from meshform.frontends.emit import render_stream

    result = render(path, mode)
    assert result.ok, result.diagnostics
    return render_stream(result.objects, "yaml")


def transform_text(
    text: str, mode: str | TransformConfig, engine: str = FAST, registry: Registry = DEFAULT
) -> tuple[str, list[Diagnostic]]:
    """`meshform transform --mode MODE` (or with a config) of a stream, in-process: (output, diagnostics)."""
    config = mode if isinstance(mode, TransformConfig) else TransformConfig(mode=mode)
    chunks = load_text(text, "in.yaml", engine)
    diags = transform([i for c in chunks for i in c.items], config, registry)
    return emit(chunks, engine), diags


def run_measured(
    *args: str, stdin: Any = None, limit_mib: int = 3072, timeout: float = 120
) -> tuple[subprocess.CompletedProcess[bytes], float]:
    """The real CLI in a child whose address space is capped at `limit_mib` (a regression then fails
    fast instead of swapping the machine): the run, and its peak RSS in MiB as the kernel counted it
    for that child alone (wait4). `stdin` is a file object or None."""
    import resource
    import tempfile
    import threading

    def cap() -> None:
        limit = limit_mib * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "meshform", *args],
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=ROOT,
            preexec_fn=cap,
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())
    return done, usage.ru_maxrss / 1024


def run_cli(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """The real console entry point, as users and orchestrators run it."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "meshform", *args],
        input=stdin,
        capture_output=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=60,
        check=False,
    )


def built_tool(tool: str) -> str | None:
    """The binary tests/tools/build.sh built for `tool` (its pinned version), or None."""
    try:
        proc = subprocess.run(
            ["bash", str(ROOT / "tests" / "tools" / "build.sh"), "--print-path", tool],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        path = proc.stdout.strip() if proc.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        path = ""
    return path if path and os.access(path, os.X_OK) else None


def _find_kustomize() -> str | None:
    """The pinned build from tests/tools (never a kustomize of another version from PATH: snapshots)."""
    path = built_tool("kustomize")
    if path is not None:
        return path
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "meshform" / "tools"
    built = sorted(Path(os.environ.get("MESHFORM_TOOLS") or cache).glob("kustomize-v*/kustomize"))
    return str(built[-1]) if built and os.access(built[-1], os.X_OK) else None


@pytest.fixture(scope="module")
def kustomize() -> str:
    """The real kustomize (tests/tools); skips when it is not built, fails on CI (CI=true)."""
    path = _find_kustomize()
    if path is None:
        reason = "kustomize is not built: run `bash tests/tools/build.sh kustomize` (or `bash tests/run`)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " — required on CI")
        pytest.skip(reason)
    return path


def invoke(*args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The CLI in this process (exit code, stdout, stderr), through the same error boundary as the
    console entry point: for properties that run it hundreds of times."""
    from click.testing import CliRunner

    from meshform.cli import main

    with CliRunner().isolation(input=stdin, env=env) as streams:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = streams[0].getvalue(), streams[1].getvalue()
    return code, out.decode(), err.decode()


class _Str(str):
    pass


class _Map(dict):  # type: ignore[type-arg]
    pass


class _Seq(list):  # type: ignore[type-arg]
    pass


class _Int(int):
    pass


def subclassed(value: Any) -> Any:
    """The same data built of subclasses of str, dict, list and int (not bool): for code that tells
    the exact types apart on a fast path and must treat their subclasses alike."""
    if isinstance(value, dict):
        return _Map({subclassed(k): subclassed(v) for k, v in value.items()})
    if isinstance(value, list):
        return _Seq(subclassed(v) for v in value)
    if isinstance(value, str):
        return _Str(value)
    return _Int(value) if type(value) is int else value
