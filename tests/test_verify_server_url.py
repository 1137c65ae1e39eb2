"""A kubeconfig's `server` is input: a malformed one is a clear kubeconfig error (exit 2), never an
internal error, and credentials inside the URL are never printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from meshform.verify.client import redacted

APP = Path(__file__).parent.parent / "examples" / "bookinfo" / "app.yaml"


def _kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kc.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: k, cluster: {{server: {server!r}}}}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    return path


@pytest.mark.parametrize(
    "server",
    ["http://[::1", "http://host:99999", "http://127.0.0.1:-1", "http://127.0.0.1:1\x1b[2J", "ftp://host"],
)
def test_a_malformed_server_is_a_kubeconfig_error(tmp_path: Path, server: str) -> None:
    kc = _kubeconfig(tmp_path, server.replace("\x1b", "\\e"))
    kc.write_text(kc.read_text().replace("\\\\e", "\x1b"))
    proc = subprocess.run(
        [sys.executable, "-m", "meshform", "verify", str(APP), "--kubeconfig", str(kc), "--timeout", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert "server" in proc.stderr and "\x1b" not in proc.stderr


def test_credentials_in_the_server_url_are_refused_and_never_printed(tmp_path: Path) -> None:
    kc = _kubeconfig(tmp_path, "http://admin:hunter2@127.0.0.1:1")
    proc = subprocess.run(
        [sys.executable, "-m", "meshform", "verify", str(APP), "--kubeconfig", str(kc)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "hunter2" not in proc.stderr + proc.stdout and "credentials" in proc.stderr
    assert redacted("https://u:p@h:1/x") == "https://***@h:1/x"
