"""A local HTTPS test injector that behaves like the meshes' webhooks, and the HTTP CONNECT proxy the
apiserver dials Service-backed webhooks through.

The injector answers AdmissionReviews with a JSONPatch that adds the mesh's proxy container, deciding
as the real injector does *after* the apiserver's selectors let the pod through: Istio and Kuma inject
unless the pod opts out; Linkerd reads the pod's annotation, else its namespace's. Which mesh answers
depends on the path (`/inject...` Istio, `/` Linkerd, `/inject-sidecar` Kuma, `/mutate` Consul); Istio's
revision comes from the Service host (`istiod-<rev>...`) or a `/inject/rev/<rev>` path.
"""

from __future__ import annotations

import base64
import json
import selectors
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from verify.pki import CA

ISTIO_VERSIONS = {"default": "1.27.1", "canary": "1.28.0"}
LINKERD_VERSION = "edge-25.9.1"
SERVICE_HOSTS = (
    "istiod.istio-system.svc",
    "istiod-canary.istio-system.svc",
    "linkerd-proxy-injector.linkerd.svc",
    "kuma-control-plane.kuma-system.svc",
    "consul-connect-injector.consul.svc",
)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _names(spec: dict[str, Any]) -> set[str]:
    return {c.get("name", "") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])}


@dataclass
class Injector:
    ca: CA
    namespace_annotations: Callable[[str], dict[str, str]]
    calls: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    def start(self, workdir: Path) -> None:
        pair = self.ca.issue("test-injector", dns=SERVICE_HOSTS, ips=("127.0.0.1",))
        (workdir / "injector.crt").write_bytes(pair.cert_pem)
        (workdir / "injector.key").write_bytes(pair.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(workdir / "injector.crt", workdir / "injector.key")
        injector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body = json.dumps(injector.review(self.path, self.headers.get("Host", ""), review)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server, self.port = server, int(server.server_address[1])
        threading.Thread(target=server.serve_forever, name="test-injector", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def review(self, path: str, host: str, review: dict[str, Any]) -> dict[str, Any]:
        request = review["request"]
        pod = request["object"]
        mesh, patch = self.patch_for(path, host, request.get("namespace", ""), pod)
        self.calls.append(
            {"mesh": mesh, "namespace": request.get("namespace"), "dryRun": request.get("dryRun")}
        )
        response: dict[str, Any] = {"uid": request["uid"], "allowed": True}
        if patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}

    def patch_for(self, path: str, host: str, ns: str, pod: dict[str, Any]) -> tuple[str, list[Any]]:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
        if path.startswith("/inject-sidecar"):
            off = labels.get("kuma.io/sidecar-injection") == "disabled"
            return "kuma", [] if off or "kuma-sidecar" in _names(spec) else _sidecar(
                pod, "kuma-sidecar", "kumahq/kuma-dp:2.11.2", {"kuma.io/sidecar-injected": "true"}
            )
        if path.startswith("/mutate"):
            on = annotations.get("consul.hashicorp.com/connect-inject") == "true"
            return "consul", _sidecar(
                pod, "consul-dataplane", "hashicorp/consul-dataplane:1.8.1", {}
            ) if on and "consul-dataplane" not in _names(spec) else []
        if path.startswith("/inject"):
            return "istio", self._istio(path, host, pod)
        return "linkerd", self._linkerd(ns, pod)

    def _istio(self, path: str, host: str, pod: dict[str, Any]) -> list[Any]:
        meta = pod.get("metadata") or {}
        if (meta.get("labels") or {}).get("sidecar.istio.io/inject") == "false":
            return []
        if "istio-proxy" in _names(pod.get("spec") or {}) or pod.get("spec", {}).get("hostNetwork"):
            return []
        rev = path.split("/rev/", 1)[1] if "/rev/" in path else "default"
        if host.startswith("istiod-"):
            rev = host.split(".", 1)[0].removeprefix("istiod-")
        status = json.dumps(
            {"initContainers": ["istio-init"], "containers": ["istio-proxy"], "revision": rev}
        )
        image = f"docker.io/istio/proxyv2:{ISTIO_VERSIONS.get(rev, '1.27.1')}"
        return _sidecar(pod, "istio-proxy", image, {"sidecar.istio.io/status": status}, init="istio-init")

    def _linkerd(self, ns: str, pod: dict[str, Any]) -> list[Any]:
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        wanted = annotations.get("linkerd.io/inject") or self.namespace_annotations(ns).get(
            "linkerd.io/inject"
        )
        names = _names(pod.get("spec") or {})
        # Linkerd refuses to inject next to another mesh's proxy, and never twice.
        if wanted not in ("enabled", "ingress") or names & {"linkerd-proxy", "istio-proxy", "istio-init"}:
            return []
        marks = {
            "linkerd.io/proxy-version": LINKERD_VERSION,
            "linkerd.io/created-by": f"linkerd/proxy-injector {LINKERD_VERSION}",
        }
        return _sidecar(
            pod, "linkerd-proxy", f"cr.l5d.io/linkerd/proxy:{LINKERD_VERSION}", marks, init="linkerd-init"
        )


def _sidecar(pod: dict[str, Any], name: str, image: str, marks: dict[str, str], init: str = "") -> list[Any]:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    ops: list[Any] = [{"op": "add", "path": "/spec/containers/-", "value": {"name": name, "image": image}}]
    if init:
        first = {"name": init, "image": image}
        if spec.get("initContainers"):
            ops.append({"op": "add", "path": "/spec/initContainers/0", "value": first})
        else:
            ops.append({"op": "add", "path": "/spec/initContainers", "value": [first]})
    if marks and not meta.get("annotations"):
        ops.append({"op": "add", "path": "/metadata/annotations", "value": marks})
    else:
        ops += [
            {"op": "add", "path": f"/metadata/annotations/{_escape(k)}", "value": v} for k, v in marks.items()
        ]
    return ops


@dataclass
class ConnectProxy:
    """HTTP CONNECT proxy on a Unix socket: what the apiserver dials for a Service → the test injector.

    The apiserver dials the Service's ClusterIP; the injector still sees the Service's DNS name in the
    Host header and TLS server name, which is how it tells Istio revisions apart."""

    socket_path: Path
    default_port: int = 0  # where every target goes (the apiserver dials a Service's ClusterIP)...
    routes: dict[str, int] = field(default_factory=dict)  # ...unless its host is routed elsewhere
    _server: socketserver.ThreadingUnixStreamServer | None = None

    def start(self) -> None:
        # A Unix socket: the apiserver's egress selector speaks plain HTTP CONNECT only over UDS
        # (its TCP transport insists on mutual TLS).
        self._server = start_server(
            socketserver.ThreadingUnixStreamServer, str(self.socket_path), self.tunnel, "connect-proxy"
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def tunnel(self, client: socket.socket) -> None:
        head = read_head(client)
        if not head:
            return
        target = head.split(b" ", 2)[1].decode()
        port = self.routes.get(target.rsplit(":", 1)[0], self.default_port)
        if not port:
            client.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            return
        open_tunnel(client, ("127.0.0.1", port))


def start_server(kind: Any, address: Any, on_connection: Any, name: str) -> Any:
    """A threading socketserver of `kind` on `address` calling on_connection(socket), serving in a
    daemon thread (test CONNECT proxies)."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            on_connection(self.request)

    server = kind(address, Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server


def read_head(client: socket.socket) -> bytes:
    """A request head up to its blank line (b"" when the client closed first)."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 8192:
        chunk = client.recv(1024)
        if not chunk:
            return b""
        head += chunk
    return head


def open_tunnel(client: socket.socket, address: tuple[str, int]) -> None:
    """Answer CONNECT: 502 when the upstream refuses, else 200 and pump both ways until one closes."""
    try:
        upstream = socket.create_connection(address, timeout=5)
    except OSError:
        client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        return
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    _pump(client, upstream)


def _pump(a: socket.socket, b: socket.socket) -> None:
    with b, selectors.DefaultSelector() as sel:
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        while True:
            for key, _ in sel.select(timeout=30):
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                if not data:
                    return
                key.data.sendall(data)
