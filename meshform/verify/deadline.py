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
from typing import Any


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


class _Deadlined:
    """The part both connection classes share: a deadline the caller sets before each request."""

    deadline: Deadline = Deadline(0)
    host: str
    port: int

    def _tcp(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), self.deadline.left())
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


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
