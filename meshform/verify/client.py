"""The cluster access: a small read-only Kubernetes client on http.client and ssl.

Chosen on measurements (Python 3.11, this 2-core machine, median of 7 fresh interpreters; exec plugins
tried against the test kube-apiserver v1.37.2):

    client                 import    dependencies        exec v1   dryRun
    kubernetes 37.0.2      ~424 ms   26 pkgs, 156 MB     yes       yes
    lightkube 1.0.1        ~339 ms    9 pkgs,  12 MB     no (refuses client.authentication.k8s.io/v1)
    kr8s 0.20.15           ~388 ms   17 pkgs,  56 MB     yes       no parameter on create
    this module            ~75 ms*    none               yes       yes     (* over a bare interpreter,
                                                                    mostly yaml/ssl meshform loads anyway)

Beyond the numbers: every failure keeps its own name. That is why `verify` exists: *forbidden*,
*unreachable*, *timed out* and *not installed* are different answers, and each `Answer` says which one
it is, with no retry loop turning a refused connection into a long wait. The client only GETs and
creates with dryRun=All.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl
import tempfile
import urllib.parse
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from meshform.diagnostics import json_type
from meshform.verify import deadline, execauth, proxy
from meshform.verify.kubeconfig import Endpoint, KubeconfigError

DEFAULT_TIMEOUT = (
    15.0  # seconds a whole request may take (above a webhook's default 10 s, so its failure reaches us)
)
MAX_BODY = 16 * 1024 * 1024  # every answer verify reads (a list of webhooks, one Namespace) is far below;
# parsed JSON costs ~10x its text in memory, so this keeps a hostile server under the 300 MiB budget


class Kind(StrEnum):
    OK = "ok"
    NOT_FOUND = "not-found"  # 404: the object (or its API group) is not there
    FORBIDDEN = "forbidden"  # 403 from RBAC: the credential may not read it
    UNAUTHORIZED = "unauthorized"  # 401: the credential itself is refused
    REJECTED = "rejected"  # 400/403/422 from validation or admission: the request was understood
    UNREACHABLE = "unreachable"  # connection refused, DNS, TLS, reset
    TIMEOUT = "timeout"
    ERROR = "error"  # 5xx and anything else


@dataclass(frozen=True)
class Answer:
    kind: Kind
    data: Any = None
    message: str = ""
    code: int = 0

    @property
    def ok(self) -> bool:
        return self.kind is Kind.OK


def _ssl_context(endpoint: Endpoint, cert: bytes | None, key: bytes | None) -> ssl.SSLContext:
    if endpoint.ca_data:
        context = ssl.create_default_context(cadata=endpoint.ca_data.decode())
    else:
        context = ssl.create_default_context()
    if endpoint.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert and key:
        # ssl loads client certificates from files only: write them to a private directory, load, delete.
        with tempfile.TemporaryDirectory(prefix="meshform-") as tmp:
            paths = (os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key"))
            for path, data in zip(paths, (cert, key), strict=True):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
            try:
                context.load_cert_chain(*paths)
            except ssl.SSLError as exc:
                raise KubeconfigError(f"cannot load the client certificate: {exc.reason}") from None
    return context


def _status_message(body: Any, raw: bytes) -> str:
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return raw.decode(errors="replace").strip()[:300]


def _classify(code: int, body: Any, raw: bytes) -> Answer:
    message = _status_message(body, raw)
    if 200 <= code < 300:
        if not isinstance(body, dict):  # every answer of the API is an object; anything else is not one
            return Answer(Kind.ERROR, None, f"the answer is {json_type(body)}, not a JSON object", code)
        return Answer(Kind.OK, body, code=code)
    kind = {401: Kind.UNAUTHORIZED, 404: Kind.NOT_FOUND, 504: Kind.TIMEOUT}.get(code)
    if code == 403:
        # RBAC says `User "x" cannot <verb> resource ...`; admission (a missing ServiceAccount, a
        # policy) also answers 403, but the request itself was allowed.
        kind = Kind.FORBIDDEN if " cannot " in message else Kind.REJECTED
    elif code in (400, 409, 422):
        kind = Kind.REJECTED
    return Answer(kind or Kind.ERROR, body, message, code)


def _network_answer(exc: BaseException, through: proxy.Proxy | None) -> Answer:
    answer = _network_cause(exc)
    if through is None or isinstance(exc, deadline.ProxyError):  # a ProxyError names its proxy
        return answer
    return Answer(
        answer.kind, message=f"through the proxy {through.shown()} ({through.source}): {answer.message}"
    )


def _network_cause(exc: BaseException) -> Answer:
    if isinstance(exc, deadline.ProxyError):
        return Answer(Kind.UNREACHABLE, message=str(exc))
    if isinstance(exc, TimeoutError | socket.timeout):
        return Answer(Kind.TIMEOUT, message="no answer before the timeout")
    if isinstance(exc, socket.gaierror):
        return Answer(Kind.UNREACHABLE, message=f"DNS lookup failed: {exc.strerror or exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Answer(Kind.UNREACHABLE, message=f"TLS verification failed: {exc.verify_message}")
    if isinstance(exc, ConnectionRefusedError):
        return Answer(Kind.UNREACHABLE, message="connection refused")
    return Answer(Kind.UNREACHABLE, message=f"{type(exc).__name__}: {exc}")


def redacted(server: str) -> str:
    """The server URL with any user:password replaced, for printing."""
    scheme, sep, rest = server.partition("://")
    netloc, slash, path = rest.partition("/")
    if sep and "@" in netloc:
        return f"{scheme}://***@{netloc.rpartition('@')[2]}{slash}{path}"
    return server


def server_url(server: str) -> urllib.parse.SplitResult:
    """A kubeconfig `server` as a URL: http(s), a host, a port in range, no control characters and no
    credentials inside it (they would be sent in clear and printed). KubeconfigError otherwise; the
    message shows the server escaped and without its credentials."""
    shown = repr(redacted(server))
    try:
        url = urllib.parse.urlsplit(server)
        url.port  # noqa: B018 - parsing the port is the check: out of range or not a number raises
    except ValueError:
        raise KubeconfigError(f"server {shown} is not a valid URL (host or port)") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in server):
        raise KubeconfigError(f"server {shown} contains control characters")
    if url.scheme not in ("https", "http") or not url.hostname:
        raise KubeconfigError(f"server {shown} is not an http(s) URL")
    if url.username is not None or url.password is not None:
        raise KubeconfigError(
            f"server {shown} carries credentials in the URL; put them in the kubeconfig user"
        )
    return url


class Client:
    def __init__(self, endpoint: Endpoint, timeout: float = DEFAULT_TIMEOUT) -> None:
        url = server_url(endpoint.server)
        self.endpoint = endpoint
        self.timeout = timeout
        self._url = url
        # kubectl's choice: the kubeconfig's proxy-url, else HTTPS_PROXY/HTTP_PROXY unless NO_PROXY
        # (or loopback) says direct. A proxy verify cannot use is a KubeconfigError here, before any
        # request, so it is never silently bypassed.
        port = url.port or (443 if url.scheme == "https" else 80)
        self.proxy = proxy.choose(endpoint.proxy_url, url.scheme, url.hostname or "", port)
        self._cred: execauth.Credential | None = None
        self._context: ssl.SSLContext | None = None
        self._conn: deadline.HTTPConnection | deadline.HTTPSConnection | None = None

    def _credential(self, refresh: bool = False) -> execauth.Credential:
        if self._cred is None or refresh:
            self._cred = execauth.run(self.endpoint)
            self._context = None
            self._close()
        return self._cred

    def _headers(self) -> dict[str, str]:
        ep, cred = self.endpoint, self._credential()
        headers = {"Accept": "application/json", "User-Agent": "meshform-verify"}
        token = cred.token or ep.token
        if not token and ep.token_file:
            try:
                with open(ep.token_file, encoding="utf-8") as fh:  # re-read: projected tokens rotate
                    token = fh.read().strip()
            except OSError as exc:
                raise KubeconfigError(f"cannot read tokenFile {ep.token_file}: {exc.strerror}") from None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif ep.basic:
            pair = base64.b64encode(":".join(ep.basic).encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        return headers

    def _connection(self, until: deadline.Deadline) -> deadline.HTTPConnection | deadline.HTTPSConnection:
        if self._conn is None:
            self._conn = self._connect()
        self._conn.deadline = until
        self._conn.proxy = self.proxy
        return self._conn

    def _connect(self) -> deadline.HTTPConnection | deadline.HTTPSConnection:
        host, port = self._url.hostname or "", self._url.port
        if self._url.scheme == "http":
            return deadline.HTTPConnection(host, port)
        if self._context is None:
            cred = self._credential()
            cert = cred.cert_data or self.endpoint.cert_data
            key = cred.key_data or self.endpoint.key_data
            self._context = _ssl_context(self.endpoint, cert, key)
        return deadline.HTTPSConnection(host, port, self._context, self.endpoint.tls_server_name)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        self._close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _send(
        self, method: str, path: str, body: bytes | None, until: deadline.Deadline
    ) -> tuple[int, bytes]:
        headers = self._headers()
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            conn = self._connection(until)
            try:
                conn.request(method, self._url.path.rstrip("/") + path, body=body, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.read(MAX_BODY)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._close()  # a kept-alive connection the server closed: one fresh try (all reads,
                if attempt == 2:  # and dry runs, are safe to repeat)
                    raise
            except BaseException:
                self._close()
                raise
        raise AssertionError("unreachable")

    def request(
        self, method: str, path: str, query: dict[str, str] | None = None, body: Any = None
    ) -> Answer:
        if query:
            path = f"{path}?{urllib.parse.urlencode(query)}"
        payload = json.dumps(body).encode() if body is not None else None
        until = deadline.Deadline(self.timeout)  # the whole request, retries included
        try:
            code, raw = self._send(method, path, payload, until)
            if code == 401 and self.endpoint.exec is not None:
                self._credential(refresh=True)  # an expired plugin token: ask the plugin once more
                code, raw = self._send(method, path, payload, until)
        except (OSError, http.client.HTTPException) as exc:
            return _network_answer(exc, self.proxy)
        try:
            data = json.loads(raw) if raw else None
        except (ValueError, RecursionError):  # not JSON, or nested past what Python parses
            data = None
        return _classify(code, data, raw)

    def get(self, path: str, **query: str) -> Answer:
        return self.request("GET", path, query or None)

    def dry_run_create(self, path: str, body: Any) -> Answer:
        """POST with dryRun=All: admission (webhooks included) runs, nothing is stored."""
        return self.request("POST", path, {"dryRun": "All"}, body)
