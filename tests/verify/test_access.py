"""Who asks and how: kubeconfig contexts, exec credential plugins, RBAC, and the four different ways
of not getting an answer (forbidden, unreachable, timed out, not installed), on a real apiserver."""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from meshform.verify.client import Client, Kind
from meshform.verify.kubeconfig import load
from meshform.verify.results import Status
from verify import installers, kube
from verify.conftest import Cluster
from verify.controlplane import ROOT, free_port
from verify.helpers import app, checks, problems, reasons, run

PLUGIN = """#!{python}
import json, os, sys
with open({log!r}, "a") as fh:
    fh.write(os.environ.get("KUBERNETES_EXEC_INFO", "") + "\\n")
print(json.dumps({{"apiVersion": {api!r}, "kind": "ExecCredential", "status": {{"token": {token!r}}}}}))
"""


@pytest.fixture(scope="module")
def shop(world: Cluster) -> Cluster:
    kube.apply_all(
        world.cp,
        [
            *installers.namespace("access", {"istio-injection": "enabled"}),
            installers.istio_root_cert("access"),
        ],
    )
    return world


def plugin(tmp: Path, token: str, api: str = "client.authentication.k8s.io/v1") -> Path:
    path = tmp / "credential-plugin"
    path.write_text(
        PLUGIN.format(python=sys.executable, log=str(tmp / "exec-info.log"), api=api, token=token)
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def exec_user(command: Path, api: str = "client.authentication.k8s.io/v1") -> dict[str, object]:
    return {
        "exec": {
            "apiVersion": api,
            "command": str(command),
            "interactiveMode": "Never",
            "provideClusterInfo": True,
        }
    }


def test_forbidden_user(shop: Cluster, tmp_path: Path) -> None:
    report = run(shop, app(tmp_path, "access", "istio"), user="nobody")
    assert report.failed
    assert reasons(report) == {"forbidden"}, problems(report)
    assert reasons(report, Status.WARNING) == {"forbidden"}  # the dry run: cannot verify
    assert all("examples/verify/clusterrole.yaml" in c.fix for c in checks(report, status=Status.FAILED))


def test_the_shipped_clusterroles_are_enough(shop: Cluster, tmp_path: Path) -> None:
    report = run(shop, app(tmp_path, "access", "istio"), user="verifier")
    assert not report.failed and not checks(report, status=Status.WARNING), problems(report)


def test_exec_plugin_v1_with_cluster_info(shop: Cluster, tmp_path: Path) -> None:
    config = shop.cp.kubeconfig(
        tmp_path / "kc", "exec-user", **exec_user(plugin(tmp_path, shop.cp.token("admin")))
    )
    report = run(shop, app(tmp_path, "access", "istio"), kubeconfig=config)
    assert not report.failed, problems(report)
    info = json.loads((tmp_path / "exec-info.log").read_text().splitlines()[0])
    assert info["apiVersion"] == "client.authentication.k8s.io/v1" and info["spec"]["interactive"] is False
    assert info["spec"]["cluster"]["server"] == shop.cp.url
    assert info["spec"]["cluster"]["certificate-authority-data"]


def test_exec_plugin_v1beta1_and_a_refused_token(shop: Cluster, tmp_path: Path) -> None:
    beta = "client.authentication.k8s.io/v1beta1"
    config = shop.cp.kubeconfig(
        tmp_path / "kc", "exec-user", **exec_user(plugin(tmp_path, "not-a-token", beta), beta)
    )
    report = run(shop, app(tmp_path, "access", "istio"), kubeconfig=config)
    assert reasons(report) == {"unauthorized"} and len(report.checks) == 1


def test_exec_plugin_that_fails(shop: Cluster, tmp_path: Path) -> None:
    config = shop.cp.kubeconfig(tmp_path / "kc", "exec-user", **exec_user(tmp_path / "no-such-plugin"))
    report = run(shop, app(tmp_path, "access", "istio"), kubeconfig=config)
    assert reasons(report) == {"credential"}


def test_contexts_and_merged_kubeconfigs(
    shop: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nobody = shop.cp.kubeconfig(tmp_path / "a", "nobody")
    admin = json.loads(shop.cp.kubeconfig(tmp_path / "b", "admin").read_text())
    admin["current-context"] = "ignored: the first file's current-context wins"
    (tmp_path / "b").write_text(json.dumps(admin))
    monkeypatch.setenv("KUBECONFIG", f"{nobody}{os.pathsep}{tmp_path / 'b'}")
    assert load().context == "test-nobody"
    with Client(load(context="test-admin")) as admin, Client(load()) as nobody:
        assert admin.get("/api/v1/namespaces/access").kind is Kind.OK
        assert nobody.get("/api/v1/namespaces/access").kind is Kind.FORBIDDEN


def test_four_different_answers(shop: Cluster) -> None:
    down_config = shop.cp.kubeconfig(shop.workdir / "kc-down", server=f"https://127.0.0.1:{free_port()}")
    with (
        Client(load(str(shop.kubeconfig("admin")))) as admin,
        Client(load(str(shop.kubeconfig("nobody")))) as nobody,
        Client(load(str(down_config))) as down,
    ):
        assert admin.get("/api/v1/namespaces/no-such-namespace").kind is Kind.NOT_FOUND
        assert admin.get("/apis/kuma.io/v9/meshes").kind is Kind.NOT_FOUND  # an API group that is not there
        assert nobody.get("/api/v1/namespaces/access").kind is Kind.FORBIDDEN
        answer = down.get("/version")
        assert answer.kind is Kind.UNREACHABLE and answer.message == "connection refused"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers: the apiserver that hangs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    sock.close()


def test_apiserver_down_and_timed_out(shop: Cluster, tmp_path: Path, silent_server: int) -> None:
    model = app(tmp_path, "access", "istio")
    down = shop.cp.kubeconfig(tmp_path / "down", server=f"https://127.0.0.1:{free_port()}")
    report = run(shop, model, kubeconfig=down)
    assert reasons(report) == {"unreachable"} and len(report.checks) == 1
    hung = shop.cp.kubeconfig(tmp_path / "hung", server=f"https://127.0.0.1:{silent_server}")
    report = run(shop, model, kubeconfig=hung, timeout=0.5)
    assert reasons(report) == {"timeout"} and len(report.checks) == 1


def _cli(*args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "meshform", "verify", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def test_cli_text_json_and_exit_codes(shop: Cluster, tmp_path: Path) -> None:
    model = str(app(tmp_path, "access", "istio"))
    code, out, _ = _cli(model, "--kubeconfig", str(shop.kubeconfig("admin")))
    assert code == 0 and "\u221a Deployment/access/api: istio-proxy injected by the webhook (dry run)" in out
    assert out.rstrip().endswith("Status check results are \u221a (0 failed, 0 warnings, 9 passed)")
    code, out, _ = _cli(model, "--kubeconfig", str(shop.kubeconfig("nobody")), "-o", "json")
    doc = json.loads(out)
    schema = json.loads((ROOT / "schemas/verify-report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert code == 1 and doc["result"] == "failed" and doc["summary"]["failed"] == 2


def test_cli_reads_stdin_and_reports_usage_errors(shop: Cluster, tmp_path: Path) -> None:
    model = app(tmp_path, "access", "istio").read_bytes()
    code, out, _ = _cli("-", "--kubeconfig", str(shop.kubeconfig("admin")), stdin=model)
    assert code == 0, out
    assert _cli("-", "--kubeconfig", str(tmp_path / "missing"), stdin=model)[0] == 2
    assert _cli("-", "--kubeconfig", str(shop.kubeconfig("admin")), "--context", "nope", stdin=model)[0] == 2
    assert _cli("-", "--mode", "no-such-mode", stdin=model)[0] == 2
    assert _cli(str(tmp_path / "missing.yaml"), "--kubeconfig", str(shop.kubeconfig("admin")))[0] == 2


def test_plain_manifests_need_a_mode(shop: Cluster, tmp_path: Path) -> None:
    from verify.helpers import deployment

    report = run(shop, deployment(tmp_path, "access"))
    assert reasons(report) == {"nothing-to-verify"} and reasons(report, Status.WARNING) == {"not-verified"}
