"""etcd + kube-apiserver on loopback for the verify tests, and a tiny admin API helper for fixtures.

The binaries are the real ones `tests/tools/build.sh kube` builds. Every port is a free loopback port,
every file lives in a temporary directory, and `stop()` ends both processes (bounded waits).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verify.pki import CA, rsa_key_pem

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 90.0  # seconds; /readyz turns 200 a few seconds after the port opens (2-core machine)
USERS = {
    # user: (token, groups). admin is cluster-admin; verifier gets only examples/verify/clusterrole.yaml;
    # nobody has no RBAC at all (only what every authenticated user may do).
    "admin": ("admin-token-0123456789", "system:masters"),
    "verifier": ("verifier-token-0123456789", ""),
    "nobody": ("nobody-token-0123456789", ""),
}


def tool_path(name: str) -> Path | None:
    """The built binary, or None when `tests/tools/build.sh` has not built it."""
    done = subprocess.run(
        ["bash", str(ROOT / "tests/tools/build.sh"), "--print-path", name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    path = Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None
    return path if path is not None and os.access(path, os.X_OK) else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ControlPlane:
    workdir: Path
    ca: CA
    egress_socket: Path
    url: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def token(self, user: str) -> str:
        return USERS[user][0]

    @property
    def ca_file(self) -> Path:
        return self.workdir / "ca.crt"

    def start(self, etcd: Path, apiserver: Path) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca_file.write_bytes(self.ca.pem)
        etcd_port = self._start_etcd(etcd)
        self._start_apiserver(apiserver, etcd_port)
        self.wait_ready()

    def _spawn(self, name: str, argv: list[str]) -> None:
        with open(self.workdir / f"{name}.log", "wb") as log:  # the child keeps its own descriptor
            self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir))

    def _start_etcd(self, etcd: Path) -> int:
        client, peer = free_port(), free_port()
        self._spawn(
            "etcd",
            [
                str(etcd),
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",  # test data; speed over durability
                "--log-level=warn",
            ],
        )
        return client

    def _files(self) -> list[str]:
        serving = self.ca.issue("kube-apiserver", dns=("localhost",), ips=("127.0.0.1",))
        (self.workdir / "apiserver.crt").write_bytes(serving.cert_pem)
        (self.workdir / "apiserver.key").write_bytes(serving.key_pem)
        sa_key, sa_pub = rsa_key_pem()
        (self.workdir / "sa.key").write_bytes(sa_key)
        (self.workdir / "sa.pub").write_bytes(sa_pub)
        rows = [f'{tok},{user},uid-{user},"{groups}"' for user, (tok, groups) in USERS.items()]
        (self.workdir / "tokens.csv").write_text("\n".join(rows) + "\n")
        # Webhooks that name a Service are dialled through this HTTP CONNECT proxy (what konnectivity
        # does in real clusters), so installer-shaped webhook configurations reach the test injector.
        (self.workdir / "egress.yaml").write_text(
            "apiVersion: apiserver.k8s.io/v1beta1\nkind: EgressSelectorConfiguration\negressSelections:\n"
            "- name: cluster\n  connection:\n    proxyProtocol: HTTPConnect\n    transport:\n      uds:\n"
            f'        udsName: "{self.egress_socket}"\n'
        )
        return [
            f"--tls-cert-file={self.workdir / 'apiserver.crt'}",
            f"--tls-private-key-file={self.workdir / 'apiserver.key'}",
            f"--service-account-key-file={self.workdir / 'sa.pub'}",
            f"--service-account-signing-key-file={self.workdir / 'sa.key'}",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            f"--egress-selector-config-file={self.workdir / 'egress.yaml'}",
        ]

    def _start_apiserver(self, apiserver: Path, etcd_port: int) -> None:
        port = free_port()
        self.url = f"https://127.0.0.1:{port}"
        self._spawn(
            "kube-apiserver",
            [
                str(apiserver),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--endpoint-reconciler-type=none",  # the kubernetes Service would need a non-loopback IP
                "--enable-priority-and-fairness=false",
                "--v=0",
                *self._files(),
            ],
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"control plane exited early; see logs in {self.workdir}")
            try:
                status, _ = self.request("GET", "/readyz")
                if status == 200:
                    return
                last = f"HTTP {status}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise RuntimeError(
            f"kube-apiserver not ready after {READY_TIMEOUT:.0f}s ({last}); logs in {self.workdir}"
        )

    def stop(self) -> None:
        for proc in reversed(self.procs):  # apiserver first, then etcd
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # a graceful apiserver shutdown is not worth waiting for
                proc.kill()
                proc.wait(timeout=10)
        self.procs.clear()

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca.pem.decode())

    def request(
        self, method: str, path: str, body: Any = None, user: str = "admin", content_type: str = ""
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token(user)}")
        req.add_header("Content-Type", content_type or "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(), timeout=30) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def kubeconfig(self, path: Path, user: str = "admin", server: str = "", **auth: Any) -> Path:
        """A kubeconfig for one user (a token by default; pass exec={...} for an exec plugin)."""
        creds = auth or {"token": self.token(user)}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {"server": server or self.url, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": user, "user": creds}],
            "contexts": [{"name": f"test-{user}", "context": {"cluster": "test", "user": user}}],
            "current-context": f"test-{user}",
        }
        path.write_text(json.dumps(config, indent=2))
        return path
