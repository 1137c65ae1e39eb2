"""Standard output that cannot be written, and usage errors in the diagnostics format asked for
(adv-18): never a traceback, never "internal error", always the same exit codes."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest
from conftest import ROOT, run_cli

MESHFORM = f"{shlex.quote(sys.executable)} -m meshform"
COMMANDS = [
    "--version",
    # --mode builtin: the README's first command, which enforces all of bookinfo's traffic policy
    # (kubernetes-native would warn, MF911, of what it leaves out: these runs must say nothing)
    "render examples/bookinfo/app.yaml --mode builtin",
    "modes",
    "render examples/bookinfo/app.yaml --mode builtin -o -",
]


def _shell(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60, check=False
    )


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("redirect", "code", "said"),
    [
        (">/dev/full", 1, "meshform: cannot write the output: No space left on device\n"),
        (">&-", 1, "meshform: cannot write the output: standard output is closed\n"),
    ],
    ids=["dev-full", "closed"],
)
def test_unwritable_stdout_is_said_once(command: str, redirect: str, code: int, said: str) -> None:
    proc = _shell(f"{MESHFORM} {command} {redirect}")
    assert (proc.returncode, proc.stderr) == (code, said)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_reader_that_went_away_ends_the_run_quietly(command: str) -> None:
    # the reader exits at once; whether the write still fits in the pipe before that is a race, so
    # either exit is fine, but nothing may be printed
    proc = _shell(f"{MESHFORM} {command} | true; echo ${{PIPESTATUS[0]}}")
    assert proc.stdout.strip() in ("0", "1") and proc.stderr == ""


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["render", "--bogus", "x.yaml"], "MF501"),
        (["validate"], "MF501"),
        (["render", "examples/bookinfo/app.yaml", "--mode", "nope"], "MF204"),
        (["transform", "x.yaml"], "MF501"),
        (["frobnicate"], "MF501"),
    ],
)
@pytest.mark.parametrize("spelling", [["--diagnostics", "json"], ["--diagnostics=json"]])
def test_usage_errors_are_json_when_asked(args: list[str], code: str, spelling: list[str]) -> None:
    proc = run_cli(*args, *spelling)
    assert proc.returncode == 2 and proc.stdout == b""
    [d] = json.loads(proc.stderr)
    assert (d["code"], d["level"], d["file"]) == (code, "error", "<command line>") and d["message"]


def test_usage_errors_in_github_and_text_formats() -> None:
    github = run_cli("render", "--bogus", "x.yaml", "--diagnostics", "github")
    assert github.returncode == 2
    assert github.stderr.decode().startswith("::error file=<command line>::MF501 No such option")  # no line 0
    text = run_cli("render", "--bogus", "x.yaml")
    assert text.returncode == 2 and text.stderr.decode().startswith("Usage: meshform render")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_pipe_without_reader_ends_the_run_quietly(command: str) -> None:
    read, write = os.pipe()
    os.close(read)  # no reader at all: the first write fails with EPIPE, deterministically
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "meshform", *command.split()],
            stdout=write,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (1, b"")
