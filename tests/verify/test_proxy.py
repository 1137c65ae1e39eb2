"""`meshform verify` through an HTTP proxy, as kubectl goes (issue 12, item 13): the kubeconfig's
`proxy-url`, else HTTPS_PROXY unless NO_PROXY (or a loopback server) says direct. A real CONNECT
proxy on 127.0.0.1 in front of the real kube-apiserver; the proxy records every tunnel it opened."""

from __future__ import annotations

import base64
import json
import os
import socket
import socketserver
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from meshform.verify.kubeconfig import KubeconfigError
from meshform.verify.proxy import choose
from verify import installers, kube
from verify.conftest import Cluster
from verify.helpers import app
from verify.injector import open_tunnel, read_head, start_server

HIDDEN = "kube.meshform.test"  # resolves nowhere: reaching it at all proves the proxy carried it


@dataclass
class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that resolves `hosts` itself, and may demand credentials."""

    hosts: dict[str, str] = field(default_factory=dict)
    credentials: str = ""  # "user:password" demanded in Proxy-Authorization, or "" for none
    tunnels: list[str] = field(default_factory=list)  # CONNECT targets opened
    seen_auth: list[str] = field(default_factory=list)
    port: int = 0
    _server: socketserver.ThreadingTCPServer | None = None

    def start(self) -> None:
        self._server = start_server(
            socketserver.ThreadingTCPServer, ("127.0.0.1", 0), self.serve, "tcp-proxy"
        )
        self.port = self._server.server_address[1]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def serve(self, client: socket.socket) -> None:
        head = read_head(client)
        if not head:
            return
        lines = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        auth = headers.get("Proxy-Authorization", "")
        self.seen_auth.append(auth)
        wanted = "Basic " + base64.b64encode(self.credentials.encode()).decode()
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        if self.credentials and auth != wanted:
            client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = target.rpartition(":")
        self.tunnels.append(target)
        open_tunnel(client, (self.hosts.get(host, host), int(port)))


@pytest.fixture(scope="module")
def proxied(cluster: Cluster) -> Cluster:
    kube.apply_all(cluster.cp, installers.namespace("proxied", {}))
    return cluster


@pytest.fixture
def proxy(proxied: Cluster) -> Iterator[ConnectProxy]:
    found = ConnectProxy(hosts={HIDDEN: "127.0.0.1"})
    found.start()
    yield found
    found.stop()


def _kubeconfig(cluster: Cluster, tmp_path: Path, **fields: str) -> Path:
    """The admin kubeconfig with cluster fields changed (server, proxy-url, tls-server-name)."""
    path = cluster.kubeconfig("admin")
    config = json.loads(path.read_text())
    config["clusters"][0]["cluster"].update(fields)
    out = tmp_path / "kubeconfig"
    out.write_text(json.dumps(config))
    return out


def _apiserver_port(cluster: Cluster) -> str:
    return cluster.cp.url.rpartition(":")[2]


def _verify(tmp_path: Path, config: Path, **env: str) -> tuple[int, dict[str, Any], str]:
    model = app(tmp_path, "proxied", "kubernetes-native")
    clean = {
        k: v for k, v in os.environ.items() if k.lower() not in ("https_proxy", "http_proxy", "no_proxy")
    }
    proc = run_cli(
        "verify", str(model), "--kubeconfig", str(config), "-o", "json", "--timeout", "5", env=clean | env
    )
    report = json.loads(proc.stdout) if proc.stdout else {}
    return proc.returncode, report, proc.stderr.decode()


def _api(report: dict[str, Any]) -> dict[str, Any]:
    [group] = [g for g in report["groups"] if g["name"] == "kubernetes-api"]
    [check] = group["checks"]
    return check


def _without_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_kubeconfig_proxy_url_is_used_even_for_loopback(
    cluster: Cluster, proxy: ConnectProxy, tmp_path: Path
) -> None:
    config = _kubeconfig(cluster, tmp_path, **{"proxy-url": f"http://127.0.0.1:{proxy.port}"})
    code, report, stderr = _verify(tmp_path, config)
    assert code == 0, json.dumps(report, indent=1) + stderr
    check = _api(report)
    assert check["status"] == "ok"
    assert f"through the proxy http://127.0.0.1:{proxy.port} (kubeconfig proxy-url)" in check["message"]
    assert proxy.tunnels and set(proxy.tunnels) == {f"127.0.0.1:{_apiserver_port(cluster)}"}


def test_https_proxy_from_the_environment_carries_a_name_only_it_resolves(
    cluster: Cluster, proxy: ConnectProxy, tmp_path: Path
) -> None:
    server = f"https://{HIDDEN}:{_apiserver_port(cluster)}"
    config = _kubeconfig(cluster, tmp_path, server=server, **{"tls-server-name": "localhost"})
    code, report, stderr = _verify(tmp_path, config, HTTPS_PROXY=f"127.0.0.1:{proxy.port}")  # no scheme: http
    assert code == 0, json.dumps(report, indent=1) + stderr
    assert "(HTTPS_PROXY)" in _api(report)["message"]
    assert set(proxy.tunnels) == {f"{HIDDEN}:{_apiserver_port(cluster)}"}


@pytest.mark.parametrize(
    "no_proxy", [".meshform.test", "meshform.test", f"{HIDDEN}", "*", "example.org, *.meshform.test"]
)
def test_no_proxy_sends_the_request_direct(
    cluster: Cluster, proxy: ConnectProxy, tmp_path: Path, no_proxy: str
) -> None:
    server = f"https://{HIDDEN}:{_apiserver_port(cluster)}"
    config = _kubeconfig(cluster, tmp_path, server=server, **{"tls-server-name": "localhost"})
    code, report, _ = _verify(
        tmp_path, config, https_proxy=f"http://127.0.0.1:{proxy.port}", NO_PROXY=no_proxy
    )
    assert code == 1
    check = _api(report)
    assert check["reason"] == "unreachable"
    assert "DNS lookup failed" in check["message"]  # direct: nobody resolves the hidden name
    assert proxy.tunnels == []


def test_a_loopback_server_never_uses_the_environment_proxy(
    cluster: Cluster, proxy: ConnectProxy, tmp_path: Path
) -> None:
    code, report, stderr = _verify(
        tmp_path, cluster.kubeconfig("admin"), HTTPS_PROXY=f"http://127.0.0.1:{proxy.port}"
    )
    assert code == 0, json.dumps(report, indent=1) + stderr
    assert "proxy" not in _api(report)["message"]
    assert proxy.tunnels == []


def test_proxy_credentials_come_from_the_url_and_are_never_printed(
    cluster: Cluster, proxy: ConnectProxy, tmp_path: Path
) -> None:
    proxy.credentials = "ops:s3cret"
    refused = _kubeconfig(cluster, tmp_path, **{"proxy-url": f"http://127.0.0.1:{proxy.port}"})
    code, report, _ = _verify(tmp_path, refused)
    assert code == 1
    check = _api(report)
    assert check["reason"] == "unreachable"
    assert f"the proxy http://127.0.0.1:{proxy.port} refused CONNECT" in check["message"]
    assert "407 Proxy Authentication Required" in check["message"]
    allowed = _kubeconfig(cluster, tmp_path, **{"proxy-url": f"http://ops:s3cret@127.0.0.1:{proxy.port}"})
    code, report, stderr = _verify(tmp_path, allowed)
    assert code == 0, json.dumps(report, indent=1) + stderr
    assert "s3cret" not in json.dumps(report) + stderr
    assert proxy.seen_auth[-1] == "Basic " + base64.b64encode(b"ops:s3cret").decode()


@pytest.mark.parametrize("url", ["socks5://127.0.0.1:1080", "https://proxy.example:3128"])
def test_a_proxy_verify_cannot_use_is_said_not_bypassed(cluster: Cluster, tmp_path: Path, url: str) -> None:
    config = _kubeconfig(cluster, tmp_path, **{"proxy-url": url})
    code, report, stderr = _verify(tmp_path, config)
    assert code == 2
    assert report == {}
    scheme = url.partition("://")[0]
    assert f"meshform verify cannot use a {scheme}:// proxy" in stderr


def test_an_unreachable_proxy_is_named(cluster: Cluster, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = _kubeconfig(cluster, tmp_path, **{"proxy-url": f"http://127.0.0.1:{port}"})
    code, report, _ = _verify(tmp_path, config)
    assert code == 1
    message = _api(report)["message"]
    assert f"through the proxy http://127.0.0.1:{port} (kubeconfig proxy-url): connection refused" in message


@pytest.mark.parametrize(
    ("host", "no_proxy", "proxied"),
    [
        ("api.example.com", "", True),
        ("api.example.com", "example.com", False),
        ("example.com", "example.com", False),
        ("example.com", ".example.com", True),  # ".d" is subdomains only (Go)
        ("api.example.com", ".example.com", False),
        ("api.example.com", "*.example.com", False),
        ("notexample.com", "example.com", True),
        ("api.example.com", "example.com:6443", False),
        ("api.example.com", "example.com:443", True),
        ("10.1.2.3", "10.0.0.0/8", False),
        ("10.1.2.3", "10.1.2.3", False),
        ("10.1.2.4", "10.1.2.3", True),
        ("fd00::1", "fd00::/8", False),
        ("localhost", "", False),
        ("127.0.0.1", "", False),
        ("::1", "", False),
        ("api.example.com", " , *", False),
    ],
)
def test_no_proxy_rules_are_gos(host: str, no_proxy: str, proxied: bool) -> None:
    env = {"HTTPS_PROXY": "http://proxy.internal:3128", "NO_PROXY": no_proxy}
    chosen = choose("", "https", host, 6443, env)
    assert (chosen is not None) is proxied
    if chosen is not None:
        assert (chosen.host, chosen.port, chosen.source) == ("proxy.internal", 3128, "HTTPS_PROXY")


def test_http_servers_use_http_proxy_and_kubeconfig_wins() -> None:
    env = {"HTTPS_PROXY": "http://a:1", "HTTP_PROXY": "http://b:2"}
    assert choose("", "http", "api.example.com", 80, env).host == "b"  # type: ignore[union-attr]
    assert choose("http://c:3", "https", "127.0.0.1", 6443, env).host == "c"  # type: ignore[union-attr]
    with pytest.raises(KubeconfigError, match=r"cannot use a socks5:// proxy"):
        choose("socks5://d:4", "https", "api.example.com", 6443, {})
    with pytest.raises(KubeconfigError, match=r"\*\*\*@"):  # the password is not in the message
        choose("ftp://u:pw@d:4", "https", "api.example.com", 6443, {})
