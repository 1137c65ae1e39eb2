"""The conventions users of kustomize, kubectl, istioctl and git bring (issue 12, items 6-9): --diff is
exactly what --in-place writes, coloured only for a person; mode names in any case and a "did you
mean" for typos; each command's own --help with examples; shell completion; a modes table that fits
a terminal."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from meshform.frontends.difftext import diff_path

K8S = ROOT / "tests" / "fixtures" / "cli" / "k8s"
MODES_FILE = ROOT / "tests" / "fixtures" / "cli" / "modes.yaml"
COMMANDS = (
    "render",
    "validate",
    "modes",
    "transform",
    "helm-postrender",
    "check",
    "krm",
    "verify",
    "completion",
)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------- --diff


@pytest.mark.parametrize("mode", ["istio", "linkerd", "builtin"])
def test_diff_applied_with_git_is_exactly_what_in_place_writes(tmp_path: Path, mode: str) -> None:
    """CRLF, a byte-order mark on a changed first hunk, files without a last newline, comments: the
    diff, applied by `git apply`, gives the bytes --in-place writes."""
    for side in ("diffed", "rewritten"):
        shutil.copytree(K8S, tmp_path / side / "k8s")
    diff = run_cli("transform", "./k8s", "--mode", mode, "--diff", cwd=tmp_path / "diffed")
    assert diff.returncode == 1, diff.stderr  # 1: there is a change
    headers = [line for line in diff.stdout.decode().splitlines() if line.startswith(("--- ", "+++ "))]
    assert "--- a/k8s/web.yaml" in headers and "+++ b/k8s/web.yaml" in headers  # no a/./k8s
    assert not any("unchanged-no-newline" in h for h in headers)
    (tmp_path / "change.patch").write_bytes(diff.stdout)
    applied = subprocess.run(
        ["git", "apply", "--whitespace=nowarn", str(tmp_path / "change.patch")],
        cwd=tmp_path / "diffed",
        capture_output=True,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    proc = run_cli("transform", "k8s", "--mode", mode, "--in-place", cwd=tmp_path / "rewritten")
    assert proc.returncode == 0, proc.stderr
    assert tree(tmp_path / "diffed") == tree(tmp_path / "rewritten")
    assert tree(tmp_path / "rewritten") != tree(K8S)
    again = run_cli("transform", "k8s", "--mode", mode, "--diff", cwd=tmp_path / "rewritten")
    assert (again.returncode, again.stdout) == (0, b"")  # nothing left to change


def test_diff_and_a_format_or_output_are_a_usage_error() -> None:
    for extra in (("-o", "out.yaml"), ("--format", "json")):
        proc = run_cli("transform", str(K8S / "web.yaml"), "--mode", "istio", "--diff", *extra)
        assert proc.returncode == 2 and proc.stdout == b"", proc.stderr


def test_diff_with_in_place_is_a_usage_error_and_writes_nothing(tmp_path: Path) -> None:
    shutil.copy(K8S / "web.yaml", tmp_path / "web.yaml")
    before = (tmp_path / "web.yaml").read_bytes()
    for order in (("--diff", "--in-place"), ("--in-place", "--diff")):
        proc = run_cli("transform", str(tmp_path / "web.yaml"), "--mode", "istio", *order)
        assert (proc.returncode, proc.stdout) == (2, b""), proc.stderr
        assert "or --in-place, not both" in proc.stderr.decode()
        assert (tmp_path / "web.yaml").read_bytes() == before


def test_diff_of_stdin_is_the_stream_as_read(tmp_path: Path) -> None:
    text = (K8S / "web.yaml").read_bytes()
    proc = run_cli("transform", "-", "--mode", "istio", "--diff", stdin=text)
    assert proc.returncode == 1
    lines = proc.stdout.decode().splitlines()
    assert lines[:2] == ["--- a/<stdin>", "+++ b/<stdin>"]
    assert '+      labels: {app: web, sidecar.istio.io/inject: "true"}' in lines


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("./k8s/web.yaml", "k8s/web.yaml"),
        ("k8s//web.yaml", "k8s/web.yaml"),
        ("k8s/../k8s/web.yaml", "k8s/web.yaml"),
        ("/work/here/k8s/web.yaml", "k8s/web.yaml"),
        ("/elsewhere/web.yaml", "elsewhere/web.yaml"),
        ("../web.yaml", "../web.yaml"),  # git diff --no-index keeps a relative path's ..
        ("../../x/k8s/./web.yaml", "../../x/k8s/web.yaml"),
        ("/work/elsewhere/web.yaml", "work/elsewhere/web.yaml"),  # absolute, outside: as git does
        ("<stdin>", "<stdin>"),
    ],
)
def test_diff_paths_are_clean(path: str, expected: str) -> None:
    assert diff_path(path, cwd="/work/here") == expected


def test_diff_of_a_file_outside_the_working_directory_names_it_as_git_does(tmp_path: Path) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(K8S / "web.yaml", tmp_path / "k8s" / "web.yaml")
    for given, shown in (
        ("../../k8s/web.yaml", "../../k8s/web.yaml"),
        ("../../k8s", "../../k8s/web.yaml"),  # walked from a relative directory
        (str(tmp_path / "k8s" / "web.yaml"), str(tmp_path / "k8s" / "web.yaml").lstrip("/")),
    ):
        proc = run_cli("transform", given, "--mode", "istio", "--diff", cwd=tmp_path / "a" / "b")
        assert proc.returncode == 1, proc.stderr
        assert proc.stdout.decode().splitlines()[:2] == [f"--- a/{shown}", f"+++ b/{shown}"]


def _on_a_terminal(*args: str, env: dict[str, str]) -> bytes:
    """The CLI with its stdout on a pseudo-terminal, as a person runs it: what it printed there."""
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "meshform", *args],
            stdout=secondary,
            stderr=subprocess.PIPE,
            env={**os.environ, **env},
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        os.close(secondary)
        secondary = -1
        assert proc.returncode == 1, proc.stderr
        out = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the terminal's other end is closed and everything was read
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        os.close(primary)
        if secondary >= 0:
            os.close(secondary)


def test_diff_is_coloured_on_a_terminal_only() -> None:
    args = ("transform", str(K8S / "web.yaml"), "--mode", "istio", "--diff")
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    coloured = _on_a_terminal(*args, env={**env, "NO_COLOR": ""})  # empty: not set, per no-color.org
    assert b'\x1b[32m+      labels: {app: web, sidecar.istio.io/inject: "true"}\x1b[m' in coloured
    assert b"\x1b[31m-      labels: {app: web}\x1b[m" in coloured and b"\x1b[36m@@ " in coloured
    plain = _on_a_terminal(*args, env={"NO_COLOR": "1"})
    assert b"\x1b" not in plain and b"+      labels: {app: web" in plain
    piped = run_cli(*args)
    assert b"\x1b" not in piped.stdout and piped.stdout.replace(b"\n", b"\r\n") == plain  # the tty adds CR


def test_a_terminal_never_receives_the_inputs_direction_overrides(tmp_path: Path) -> None:
    """The reader refuses C0/C1 controls (MF005); a bidirectional override it accepts in a comment
    would reorder what a person sees on a terminal: shown escaped there, exact in a pipe."""
    hostile = tmp_path / "hostile.yaml"
    text = (
        (K8S / "web.yaml")
        .read_text()
        .replace("labels: {app: web}\n    spec", "labels: {app: web} # \u202e\n    spec")
    )
    hostile.write_text(text)
    args = ("transform", str(hostile), "--mode", "istio", "--diff")
    shown = _on_a_terminal(*args, env={"NO_COLOR": "1"})
    assert "\u202e".encode() not in shown and b"\\u202e" in shown
    assert "\u202e".encode() in run_cli(*args).stdout


# ------------------------------------------------------------------------- names in any case, typos


def test_mode_names_are_case_insensitive(tmp_path: Path) -> None:
    web = str(K8S / "web.yaml")
    expected = run_cli("transform", web, "--mode", "istio")
    assert expected.returncode == 0
    for spelling in ("ISTIO", "Istio", "istio_service_mesh"):  # an alias in any case too
        assert run_cli("transform", web, "--mode", spelling).stdout == expected.stdout
    config = tmp_path / "config.yaml"
    config.write_text("apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nmetadata: {name: m}\n"
                      "spec:\n  mode: Istio\n")  # fmt: skip
    assert run_cli("transform", web, "--config", str(config)).stdout == expected.stdout
    post = run_cli("helm-postrender", stdin=(K8S / "web.yaml").read_bytes(), env={"MESHFORM_MODE": "ISTIO"})
    assert post.returncode == 0 and post.stdout == expected.stdout
    rendered = run_cli("render", "examples/bookinfo/app.yaml", "--mode", "LinkerD")
    assert rendered.stdout == run_cli("render", "examples/bookinfo/app.yaml", "--mode", "linkerd").stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("transform", "--mode", "isito"), "unknown mode 'isito' (did you mean 'istio'"),
        (("render", "examples/bookinfo/app.yaml", "--mode", "linkred"), "(did you mean 'linkerd'?)"),
        (
            ("transform", "--mode", "acme-mseh", "--modes-file", str(MODES_FILE)),
            "(did you mean 'acme-mesh'?)",
        ),
        (("trasform",), "No such command 'trasform' (did you mean 'transform'?)"),
        (("transform", "--mdoe", "istio"), "Did you mean '--mode'?"),
        (("transform", "--in-plac"), "Did you mean '--in-place'?"),
    ],
    ids=["mode", "render-mode", "modes-file-mode", "command", "option", "flag"],
)
def test_typos_get_a_suggestion(args: tuple[str, ...], expected: str) -> None:
    proc = run_cli(*args, stdin=b"")
    assert proc.returncode == 2 and proc.stdout == b""
    assert expected in proc.stderr.decode(), proc.stderr.decode()


def test_a_config_naming_a_misspelt_mode_gets_a_suggestion(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nmetadata: {name: m}\n"
                      "spec:\n  rules:\n  - {mode: linkrd, namespaces: [shop]}\n")  # fmt: skip
    proc = run_cli("transform", str(K8S / "web.yaml"), "--config", str(config))
    assert proc.returncode == 1
    assert "MF204 unknown governance mode 'linkrd' in the config" in proc.stderr.decode()
    assert "(did you mean 'linkerd'?)" in proc.stderr.decode()


def test_nothing_close_gets_no_suggestion() -> None:
    proc = run_cli("transform", "--mode", "zzzz", stdin=b"")
    assert proc.returncode == 2 and "did you mean" not in proc.stderr.decode()


# ------------------------------------------------------------------------------------------ --help


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_its_own_help_with_examples(command: str) -> None:
    proc = run_cli(command, "--help")
    assert proc.returncode == 0
    text = proc.stdout.decode()
    examples = text[text.index("Examples:") : text.index("Options:")]
    assert f"meshform {command}" in examples or "kustomize build" in examples  # krm runs under kustomize
    if command in ("transform", "check", "helm-postrender"):
        assert "governanceMode" not in text  # render's semantics are not theirs
        assert "--config's rules" in text


def test_format_options_say_what_o_means() -> None:
    for command in ("modes", "verify"):
        assert "a format here, not a file" in run_cli(command, "--help").stdout.decode()
    for command in ("transform", "render"):
        text = run_cli(command, "--help").stdout.decode()
        assert "kustomize build -o" in text and "--format" in text


# ------------------------------------------------------------------------------------ completion


def _bash_complete(*words: str) -> list[str]:
    """Complete the last word as bash does: the script `meshform completion bash` prints, sourced,
    its function called with COMP_WORDS/COMP_CWORD set as bash sets them."""
    script = (
        'eval "$(meshform completion bash)"\n'
        'COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=()\n'
        "_meshform_completion meshform\n"
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    bindir = str(Path(sys.executable).parent)
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script, "bash", "meshform", *words],
        capture_output=True,
        env={**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")},
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and shutil.which("meshform", path=bindir), proc.stderr
    return [line for line in proc.stdout.decode().splitlines() if line]


def test_bash_completes_commands_options_and_modes() -> None:
    assert _bash_complete("tr") == ["transform"]
    assert set(_bash_complete("transform", "--di")) == {"--diff", "--diagnostics"}
    assert _bash_complete("transform", "--mode", "is") == ["istio", "istio-ambient", "ISTIO_SERVICE_MESH"]
    assert _bash_complete("completion", "") == ["bash", "zsh", "fish"]
    assert _bash_complete("modes", "-o", "") == ["text", "wide", "json"]


def test_bash_completes_modes_of_the_modes_file() -> None:
    assert _bash_complete("transform", "--modes-file", str(MODES_FILE), "--mode", "ac") == [
        "acme-mesh",
        "ACME",
    ]
    missing = _bash_complete("render", "--modes-file", "missing.yaml", "--mode", "ku")
    assert missing == ["kubernetes-native", "kuma", "KUBERNETES_NATIVE_SERVICE"]  # the built-in ones


def test_click_completion_protocol_directly() -> None:
    """What each shell's script asks meshform (the variables click's scripts set)."""
    env = {
        "_MESHFORM_COMPLETE": "bash_complete",
        "COMP_WORDS": "meshform check --mode lin",
        "COMP_CWORD": "3",
    }
    proc = run_cli(env=env)
    assert proc.returncode == 0 and proc.stdout.decode().split() == ["plain,linkerd"]
    zsh = run_cli(env={"_MESHFORM_COMPLETE": "zsh_complete", "COMP_WORDS": "meshform verify --mode ISTIO_",
                       "COMP_CWORD": "3"})  # fmt: skip
    assert zsh.stdout.decode().splitlines()[:2] == ["plain", "ISTIO_SERVICE_MESH"]
    fish = run_cli(env={"_MESHFORM_COMPLETE": "fish_complete", "COMP_WORDS": "meshform transform --mode lin",
                        "COMP_CWORD": "linkerd"[:3]})  # fmt: skip
    assert fish.stdout.decode().startswith("plain,linkerd")


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells_load_the_script(shell: str, tmp_path: Path) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed here")
    script = tmp_path / f"meshform.{shell}"
    script.write_bytes(run_cli("completion", shell).stdout)
    check = [shell, "-n", str(script)] if shell == "zsh" else [shell, "--no-execute", str(script)]
    proc = subprocess.run(check, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


def test_completion_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for shell in ("bash", "zsh", "fish"):
        assert f"meshform completion {shell}" in readme


# --------------------------------------------------------------------------------------- modes table


@pytest.mark.parametrize("extra", [(), ("--modes-file", str(MODES_FILE))], ids=["built-in", "modes-file"])
def test_the_modes_table_fits_100_columns(extra: tuple[str, ...]) -> None:
    table = run_cli("modes", *extra).stdout.decode()
    assert max(len(line) for line in table.splitlines()) <= 100
    for word in ("kubernetes-native", "KUBERNETES_NATIVE_SERVICE", "sidecar.istio.io/", "required: label"):
        assert word in table
    wide = run_cli("modes", "-o", "wide", *extra).stdout.decode().splitlines()
    listed = json.loads(run_cli("modes", "-o", "json", *extra).stdout)
    assert len(wide) == 1 + len(listed) and "CONTROL PLANE SIGNALS" in wide[0]
    if extra:
        assert "acme-mesh" in table and "label acme.io/mesh=" in table


@pytest.mark.parametrize("extra", [(), ("--modes-file", str(MODES_FILE))], ids=["built-in", "modes-file"])
def test_the_capabilities_fit_100_columns_and_say_what_the_json_says(extra: tuple[str, ...]) -> None:
    text = run_cli("modes", "--capabilities", *extra).stdout.decode()
    assert max(len(line) for line in text.splitlines()) <= 100
    listed = json.loads(run_cli("modes", "--capabilities", "-o", "json", *extra).stdout)
    matrix, notes = text.split("\n\n" + listed[0]["mode"] + ":\n", 1)
    said: dict[tuple[str, str], str] = {}
    for block in matrix.split("\n\n"):  # blocks of mode columns, each led by the FEATURE column
        header, *rows = [line.split() for line in block.splitlines()]
        assert header[0] == "FEATURE"
        said |= {(row[0], mode): mark for row in rows for mode, mark in zip(header[1:], row[1:], strict=True)}
    assert said == {(f, m["mode"]): c["support"] for m in listed for f, c in m["features"].items()}
    flat = " ".join(notes.split())  # notes wrap; their words are all there
    for m in listed:
        for default in m["defaults"]:
            assert f"when nothing is said: {' '.join(default.split())}" in flat


def test_a_mode_with_very_long_keys_still_fits(tmp_path: Path) -> None:
    key = "very-long-organisation-name.example.com/" + "mesh-enrollment-switch-" * 2 + "x"
    modes = tmp_path / "modes.yaml"
    modes.write_text(
        MODES_FILE.read_text()
        .replace("acme.io/mesh: enabled", f"{key}: enabled")
        .replace("aliases: [ACME]", "aliases: [ACME_CORPORATION_INTERNAL_SERVICE_MESH_OF_THE_YEAR]")
    )
    table = run_cli("modes", "--modes-file", str(modes)).stdout.decode()
    assert max(len(line) for line in table.splitlines()) <= 100
    lines = table.splitlines()
    start, end = lines[0].index("ENROLL A WORKLOAD"), lines[0].index("NAMESPACE")
    block = lines[next(i for i, line in enumerate(lines) if line.startswith("acme-mesh")) :]
    block = block[: block.index("")] if "" in block else block
    enroll = "".join(line[start:end].strip() for line in block)
    assert enroll.replace(" ", "") == f"label{key}=enabled"  # broken across lines, nothing lost
