"""`verify` against hostile API servers on 127.0.0.1: nothing from outside reaches the terminal raw
(escape sequences in an error body, a context name, an exec plugin's words), and a server that trickles
its answer a byte at a time cannot keep a request alive past --timeout."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import ROOT

HOSTILE = b"\x1b]0;PWNED-TITLE\x07\x1b[2J\x1b[31mfake: all checks passed\x1b[0m\xc2\x9b31m\xe2\x80\xae"
Serve = Callable[[socket.socket], None]


@pytest.fixture
def server() -> Iterator[Callable[[Serve], int]]:
    """Start a one-thread TCP server with a handler per connection; yields a starter returning its port."""
    stop = threading.Event()
    listeners: list[socket.socket] = []

    def start(handle: Serve) -> int:
        srv = socket.create_server(("127.0.0.1", 0))
        srv.settimeout(0.1)
        listeners.append(srv)

        def loop() -> None:
            while not stop.is_set():
                try:
                    conn, _ = srv.accept()
                except TimeoutError:
                    continue
                except OSError:  # closed at teardown
                    return
                threading.Thread(target=_guarded, args=(handle, conn), daemon=True).start()

        threading.Thread(target=loop, daemon=True).start()
        return int(srv.getsockname()[1])

    def _guarded(handle: Serve, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                handle(conn)
            except OSError:  # the client gave up and closed: that is the point
                pass

    yield start
    stop.set()
    for srv in listeners:
        srv.close()


def _trickle(head: bytes, body_bytes: int = 0) -> Serve:
    def handle(conn: socket.socket) -> None:
        end = time.monotonic() + 60  # far beyond any --timeout used here
        for i in range(len(head)):
            conn.sendall(head[i : i + 1])
            time.sleep(0.2)
        while body_bytes and time.monotonic() < end:
            conn.sendall(b"x")
            time.sleep(0.2)

    return handle


def _answer(status: bytes, body: bytes) -> Serve:
    def handle(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    return handle


def _kubeconfig(tmp: Path, port: int, context: str = "t", user: str = "token: abc") -> Path:
    path = tmp / "kubeconfig.yaml"
    path.write_text(
        f"""apiVersion: v1
kind: Config
current-context: "{context}"
clusters:
- name: c
  cluster: {{server: "http://127.0.0.1:{port}"}}
contexts:
- name: "{context}"
  context: {{cluster: c, user: u, namespace: shop}}
users:
- name: u
  user:
    {user}
"""
    )
    return path


def _verify(
    tmp: Path, kubeconfig: Path, *extra: str, timeout: float = 1.0
) -> subprocess.CompletedProcess[bytes]:
    manifest = tmp / "web.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
        "    spec: {containers: [{name: web, image: nginx}]}\n"
    )
    cmd = [sys.executable, "-m", "meshform", "verify", str(manifest), "--mode", "istio"]
    cmd += ["--kubeconfig", str(kubeconfig), "--timeout", str(timeout), *extra]
    # generous: a request that is not bounded by its deadline trickles for 60 s and fails this
    return subprocess.run(cmd, capture_output=True, timeout=30, cwd=ROOT, check=False)


def _api_check(proc: subprocess.CompletedProcess[bytes]) -> dict[str, object]:
    report = json.loads(proc.stdout)
    [group] = [g for g in report["groups"] if g["name"] == "kubernetes-api"]
    return dict(group["checks"][0])


@pytest.mark.parametrize(
    "handle",
    [
        _trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", body_bytes=100000),
        _trickle(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"y" * 400 + b"\r\n\r\n"),
    ],
    ids=["body", "headers"],
)
def test_a_trickling_server_times_out(server: Callable[[Serve], int], tmp_path: Path, handle: Serve) -> None:
    port = server(handle)
    proc = _verify(tmp_path, _kubeconfig(tmp_path, port), "-o", "json")
    assert proc.returncode == 1, proc.stderr
    check = _api_check(proc)
    assert check["reason"] == "timeout" and "timed out" in str(check["message"])


def test_server_text_is_escaped_in_text_output(server: Callable[[Serve], int], tmp_path: Path) -> None:
    port = server(_answer(b"500 X", HOSTILE))
    proc = _verify(tmp_path, _kubeconfig(tmp_path, port))
    out = proc.stdout.decode()
    assert proc.returncode == 1
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out and "\u202e" not in out
    assert "(\\x1b]0;PWNED-TITLE\\x07\\x1b[2J\\x1b[31mfake: all checks passed\\x1b[0m\\x9b31m\\u202e)" in out


def test_server_text_is_escaped_in_json_output(server: Callable[[Serve], int], tmp_path: Path) -> None:
    port = server(_answer(b"500 X", HOSTILE))
    proc = _verify(tmp_path, _kubeconfig(tmp_path, port), "-o", "json")
    raw = proc.stdout.decode()
    assert not any(ch in raw for ch in "\x1b\x07\x9b\u202e")
    assert str(_api_check(proc)["message"]).endswith("\x1b[0m\x9b31m\u202e)")  # the same text, escaped


def test_kubeconfig_values_and_plugin_words_are_escaped(
    server: Callable[[Serve], int], tmp_path: Path
) -> None:
    port = server(_answer(b"200 OK", b'{"gitVersion": "v1.37.2"}'))
    plugin = tmp_path / "plugin.sh"
    plugin.write_text("#!/bin/sh\nprintf 'token expired \\033[2J\\033]0;PWNED\\007\\n' >&2\nexit 1\n")
    plugin.chmod(0o755)
    user = f"exec: {{apiVersion: client.authentication.k8s.io/v1, command: {plugin}, interactiveMode: Never}}"
    context = "ctx\\u001b[31mred"
    proc = _verify(tmp_path, _kubeconfig(tmp_path, port, context, user))
    out = proc.stdout.decode()
    assert proc.returncode == 1 and "\x1b" not in out and "\x07" not in out
    assert "ctx\\x1b[31mred" in out and "token expired \\x1b[2J\\x1b]0;PWNED\\x07" in out
