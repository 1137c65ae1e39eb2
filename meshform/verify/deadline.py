"""One request, one deadline: connect, the TLS handshake and every write and read share it.

http.client's `timeout` bounds each socket operation, so a server that trickles a byte just inside it
keeps a request alive for ever. Here each blocking operation may wait only for what is left of the
request's time; when nothing is left it raises TimeoutError, which the client reports as "timed out".
CPython bounds a whole `sendall`, a handshake and one `recv_into` by the socket timeout set before it.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshform.verify.proxy import Proxy


class Deadline:
    """The moment one request must be over by."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; TimeoutError when there are none."""
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request's time ran out")
        return remaining


class _Socket:
    """A connected socket whose blocking calls wait at most until its connection's current deadline."""

    def __init__(self, sock: socket.socket, owner: _Deadlined) -> None:
        self._sock = sock
        self._owner = owner

    def _arm(self) -> socket.socket:
        self._sock.settimeout(self._owner.deadline.left())
        return self._sock

    def sendall(self, data: Any) -> None:
        self._arm().sendall(data)

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        return self._arm().recv_into(buffer, nbytes)

    def makefile(self, mode: str = "rb", buffering: int | None = None, **_: Any) -> io.BufferedReader:
        # what socket.makefile does, with reads going through this object
        self._sock._io_refs += 1  # type: ignore[attr-defined]
        return io.BufferedReader(socket.SocketIO(self, "rb"), buffering or io.DEFAULT_BUFFER_SIZE)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:  # close, _decref_socketios, fileno, ...
        return getattr(self._sock, name)


class ProxyError(OSError):
    """The proxy would not open a tunnel to the API server; the message says what it answered."""


MAX_PROXY_HEAD = 64 * 1024  # a CONNECT answer is a status line and a few headers


class _Deadlined:
    """The part both connection classes share: a deadline the caller sets before each request, and
    the proxy (if any) to tunnel through with HTTP CONNECT."""

    deadline: Deadline = Deadline(0)
    proxy: Proxy | None = None
    host: str
    port: int

    def _tcp(self) -> socket.socket:
        where = (self.proxy.host, self.proxy.port) if self.proxy else (self.host, self.port)
        sock = socket.create_connection(where, self.deadline.left())
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.proxy is not None:
            try:
                self._tunnel_through(sock, self.proxy)
            except BaseException:
                sock.close()
                raise
        return sock

    def _tunnel_through(self, sock: socket.socket, proxy: Proxy) -> None:
        """CONNECT host:port, every read and write within the request's deadline."""
        target = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        head = [f"CONNECT {target} HTTP/1.1", f"Host: {target}", "User-Agent: meshform-verify"]
        if proxy.authorization:
            head.append(f"Proxy-Authorization: {proxy.authorization}")
        sock.settimeout(self.deadline.left())
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            sock.settimeout(self.deadline.left())
            chunk = sock.recv(4096)
            if not chunk or len(answer) + len(chunk) > MAX_PROXY_HEAD:
                raise ProxyError(
                    f"the proxy {proxy.shown()} closed the connection instead of answering CONNECT"
                )
            answer += chunk
        status, _, rest = answer.partition(b"\r\n\r\n")
        line = status.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or parts[1] != "200":
            raise ProxyError(f"the proxy {proxy.shown()} refused CONNECT {target}: {line[:200]!r}")
        if rest:  # nothing may follow the proxy's answer before the tunnel is ours
            raise ProxyError(f"the proxy {proxy.shown()} sent data after its CONNECT answer")


class HTTPConnection(_Deadlined, http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = _Socket(self._tcp(), self)


class HTTPSConnection(_Deadlined, http.client.HTTPSConnection):
    """HTTPS with an explicit TLS server name (kubeconfig `tls-server-name`)."""

    def __init__(self, host: str, port: int | None, context: ssl.SSLContext, sni: str) -> None:
        super().__init__(host, port, context=context)
        self._ssl = context
        self._sni = sni

    def connect(self) -> None:
        sock = self._tcp()
        sock.settimeout(self.deadline.left())
        wrapped = self._ssl.wrap_socket(sock, server_hostname=self._sni or self.host)
        self.sock = _Socket(wrapped, self)
