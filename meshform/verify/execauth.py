"""Exec credential plugins (client.authentication.k8s.io/v1 and v1beta1), as kubectl runs them.

The plugin gets KUBERNETES_EXEC_INFO (never interactive: verify runs in CI as often as at a desk) and
prints an ExecCredential whose status carries a bearer token or a client certificate.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from meshform.verify.kubeconfig import Endpoint, ExecConfig, KubeconfigError

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
TIMEOUT = 60.0  # seconds; cloud plugins may refresh a token over the network


@dataclass(frozen=True)
class Credential:
    token: str = ""
    cert_data: bytes | None = None
    key_data: bytes | None = None


def _command(config: ExecConfig) -> str:
    cmd = config.command
    if os.sep in cmd and not os.path.isabs(cmd):  # kubectl: relative to the kubeconfig's directory
        return os.path.join(config.base_dir, cmd)
    found = shutil.which(cmd)
    if found is None:
        raise KubeconfigError(f"exec credential plugin {cmd!r} not found on PATH")
    return found


def _exec_info(config: ExecConfig, endpoint: Endpoint) -> str:
    spec: dict[str, Any] = {"interactive": False}
    if config.provide_cluster_info:
        spec["cluster"] = endpoint.cluster_info()
    return json.dumps({"apiVersion": config.api_version, "kind": "ExecCredential", "spec": spec})


def run(endpoint: Endpoint) -> Credential:
    """Run the endpoint's plugin once; raise KubeconfigError with the plugin's own words on failure."""
    config = endpoint.exec
    if config is None:
        return Credential()
    if config.api_version not in API_VERSIONS:
        raise KubeconfigError(f"exec plugin apiVersion {config.api_version!r} is not supported")
    env = {**os.environ, **config.env, "KUBERNETES_EXEC_INFO": _exec_info(config, endpoint)}
    try:
        done = subprocess.run(
            [_command(config), *config.args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KubeconfigError(f"exec credential plugin {config.command!r} failed: {exc}") from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise KubeconfigError(f"exec plugin {config.command!r} exited {done.returncode}: {tail[0]}")
    return _parse(done.stdout, config)


def _parse(stdout: bytes, config: ExecConfig) -> Credential:
    try:
        cred = json.loads(stdout)
    except (ValueError, RecursionError):
        raise KubeconfigError(f"exec plugin {config.command!r} printed no ExecCredential JSON") from None
    if not isinstance(cred, dict) or cred.get("kind") != "ExecCredential":
        raise KubeconfigError(f"exec plugin {config.command!r} printed no ExecCredential")
    if cred.get("apiVersion") != config.api_version:
        raise KubeconfigError(
            f"exec plugin answered {cred.get('apiVersion')!r}, the kubeconfig asked {config.api_version!r}"
        )
    status = cred.get("status")
    status = status if isinstance(status, dict) else {}
    if status.get("token"):
        return Credential(token=str(status["token"]))
    if status.get("clientCertificateData") and status.get("clientKeyData"):
        return Credential(
            cert_data=str(status["clientCertificateData"]).encode(),
            key_data=str(status["clientKeyData"]).encode(),
        )
    raise KubeconfigError(f"exec plugin {config.command!r} returned neither a token nor a certificate")
