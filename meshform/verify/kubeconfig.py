"""Which cluster, as whom: a kubeconfig context resolved into one `Endpoint`, kubectl's way.

`--kubeconfig`, else every file in $KUBECONFIG (the first file to define a name wins), else
~/.kube/config, else the in-cluster service account. File paths in a kubeconfig are relative to it.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from meshform.core import shapes
from meshform.diagnostics import MeshformError, json_type
from meshform.yamlio.reader import load_documents, read_text

IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SHAPE_CODE = "MF152"


class KubeconfigError(Exception):
    """The kubeconfig cannot name a usable cluster and credential (a usage problem, exit 2)."""


@dataclass(frozen=True)
class ExecConfig:
    """A `users[].user.exec` credential plugin (client.authentication.k8s.io/v1 or v1beta1)."""

    api_version: str
    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    provide_cluster_info: bool = False
    base_dir: str = ""  # a relative command with a slash is relative to the kubeconfig's directory


@dataclass(frozen=True)
class Endpoint:
    context: str
    server: str
    ca_data: bytes | None = None  # PEM; None = the system's trust store
    insecure: bool = False
    tls_server_name: str = ""
    proxy_url: str = ""  # the cluster's proxy-url (meshform.verify.proxy reads it, and the environment)
    token: str = ""
    token_file: str = ""
    cert_data: bytes | None = None
    key_data: bytes | None = None
    basic: tuple[str, str] | None = None
    exec: ExecConfig | None = None
    namespace: str = "default"  # the context's namespace: where manifests without one would go
    source: str = ""  # where it came from, for messages

    def cluster_info(self) -> dict[str, Any]:
        """The `spec.cluster` an exec plugin gets when it asks for provideClusterInfo."""
        info: dict[str, Any] = {"server": self.server, "insecure-skip-tls-verify": self.insecure}
        if self.ca_data:
            info["certificate-authority-data"] = base64.b64encode(self.ca_data).decode()
        if self.tls_server_name:
            info["tls-server-name"] = self.tls_server_name
        return info


_STRINGS = ("token", "tokenFile", "username", "password", "client-certificate", "client-key")
KUBECONFIG = shapes.fields(
    **{
        "current-context": shapes.scalar,
        "clusters": shapes.list_of(
            shapes.fields(
                name=shapes.scalar,
                cluster=shapes.fields(
                    **dict.fromkeys(
                        (
                            "server",
                            "certificate-authority",
                            "certificate-authority-data",
                            "insecure-skip-tls-verify",
                            "tls-server-name",
                            "proxy-url",
                        ),
                        shapes.scalar,
                    )
                ),
            ),
            "a named cluster",
        ),
        "users": shapes.list_of(
            shapes.fields(
                name=shapes.scalar,
                user=shapes.fields(
                    **dict.fromkeys((*_STRINGS, *(f"{k}-data" for k in _STRINGS[-2:])), shapes.scalar),
                    **{
                        "auth-provider": shapes.fields(name=shapes.scalar),
                        "exec": shapes.fields(
                            command=shapes.scalar,
                            apiVersion=shapes.scalar,
                            args=shapes.list_of(shapes.scalar, "an argument"),
                            env=shapes.list_of(
                                shapes.fields(name=shapes.scalar, value=shapes.scalar), "a name and value"
                            ),
                            provideClusterInfo=shapes.scalar,
                        ),
                    },
                ),
            ),
            "a named user",
        ),
        "contexts": shapes.list_of(
            shapes.fields(
                name=shapes.scalar,
                context=shapes.fields(cluster=shapes.scalar, user=shapes.scalar, namespace=shapes.scalar),
            ),
            "a named context",
        ),
    }
)
"""The fields of a kubeconfig this module reads, with the types kubectl gives them."""


def _read_yaml(path: str) -> dict[str, Any]:
    """A kubeconfig file as data, read (and bounded) like every input; a section of the wrong type is
    a located MF152 (MeshformError), as is YAML that does not parse."""
    text, name = read_text(path)
    docs = [d for d in load_documents(text, name) if d.data is not None]
    data = docs[0].data if docs else None
    if not isinstance(data, dict):
        found = shapes.Problem((), f"the kubeconfig is {json_type(data)}, not a mapping", SHAPE_CODE)
        raise MeshformError([shapes.located(found, name, text)])
    problems = [replace(p, code=SHAPE_CODE) for p in KUBECONFIG(data, ())]
    if problems:
        raise MeshformError([shapes.located(p, name, text) for p in problems])
    data["__dir__"] = os.path.dirname(os.path.abspath(path))
    return data


def _paths(explicit: str | None) -> list[str]:
    if explicit:
        return [explicit]
    env = os.environ.get("KUBECONFIG", "")
    found = [p for p in env.split(os.pathsep) if p and os.path.exists(p)]
    default = os.path.join(os.path.expanduser("~"), ".kube", "config")
    return found or ([default] if os.path.exists(default) else [])


@dataclass
class _Merged:
    """Named entries from every file, the first file's entry winning, with each entry's directory."""

    current: str = ""
    entries: dict[str, dict[str, tuple[dict[str, Any], str]]] = field(
        default_factory=lambda: {"clusters": {}, "users": {}, "contexts": {}}
    )

    def add(self, data: dict[str, Any]) -> None:
        self.current = self.current or str(data.get("current-context") or "")
        for section, key in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for entry in data.get(section) or []:
                if isinstance(entry, dict) and entry.get("name"):
                    body = entry.get(key) or {}
                    self.entries[section].setdefault(str(entry["name"]), (body, data["__dir__"]))

    def get(self, section: str, name: str) -> tuple[dict[str, Any], str]:
        if name not in self.entries[section]:
            raise KubeconfigError(f"kubeconfig has no {section[:-1]} named {name!r}")
        return self.entries[section][name]


def _file_or_data(body: Mapping[str, Any], key: str, base: str) -> bytes | None:
    if body.get(f"{key}-data"):
        try:
            return base64.b64decode(str(body[f"{key}-data"]))
        except ValueError:
            raise KubeconfigError(f"{key}-data is not base64") from None
    if body.get(key):
        path = os.path.join(base, os.path.expanduser(str(body[key])))
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise KubeconfigError(f"cannot read {key} {path}: {exc.strerror}") from None
    return None


def _exec(raw: Mapping[str, Any], base: str) -> ExecConfig:
    if not raw.get("command") or not raw.get("apiVersion"):
        raise KubeconfigError("exec credential plugin needs command and apiVersion")
    env = {str(e["name"]): str(e.get("value", "")) for e in raw.get("env") or [] if e.get("name") is not None}
    return ExecConfig(
        api_version=str(raw["apiVersion"]),
        command=str(raw["command"]),
        args=tuple(str(a) for a in raw.get("args") or ()),
        env=env,
        provide_cluster_info=bool(raw.get("provideClusterInfo")),
        base_dir=base,
    )


def _user_fields(user: Mapping[str, Any], base: str) -> dict[str, Any]:
    if user.get("auth-provider"):
        name = (user["auth-provider"] or {}).get("name", "?")
        raise KubeconfigError(
            f"auth-provider {name!r} is not supported (kubectl removed it too); use an exec plugin"
        )
    out: dict[str, Any] = {
        "token": str(user.get("token") or ""),
        "cert_data": _file_or_data(user, "client-certificate", base),
        "key_data": _file_or_data(user, "client-key", base),
    }
    if user.get("tokenFile"):
        out["token_file"] = os.path.join(base, str(user["tokenFile"]))
    if user.get("username"):
        out["basic"] = (str(user["username"]), str(user.get("password") or ""))
    if user.get("exec"):
        out["exec"] = _exec(user["exec"], base)
    return out


def load(path: str | None = None, context: str | None = None) -> Endpoint:
    """Resolve the context to use into an Endpoint, or raise KubeconfigError saying what is missing."""
    paths = _paths(path)
    if not paths:
        if not context and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return in_cluster()
        raise KubeconfigError("no kubeconfig: give --kubeconfig, set KUBECONFIG or create ~/.kube/config")
    merged = _Merged()
    for p in paths:
        merged.add(_read_yaml(p))
    name = context or merged.current
    if not name:
        raise KubeconfigError("the kubeconfig has no current-context; give --context")
    ctx, _ = merged.get("contexts", name)
    cluster, cbase = merged.get("clusters", str(ctx.get("cluster", "")))
    user, ubase = merged.get("users", str(ctx.get("user", ""))) if ctx.get("user") else ({}, "")
    if not cluster.get("server"):
        raise KubeconfigError(f"cluster of context {name!r} has no server")
    return Endpoint(
        context=name,
        server=str(cluster["server"]).rstrip("/"),
        ca_data=_file_or_data(cluster, "certificate-authority", cbase),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=str(cluster.get("tls-server-name") or ""),
        proxy_url=str(cluster.get("proxy-url") or ""),
        namespace=str(ctx.get("namespace") or "default"),
        source=", ".join(paths),
        **_user_fields(user, ubase),
    )


def in_cluster() -> Endpoint:
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    host = f"[{host}]" if ":" in host else host
    ca = _file_or_data({"certificate-authority": "ca.crt"}, "certificate-authority", IN_CLUSTER_DIR)
    return Endpoint(
        context="in-cluster",
        server=f"https://{host}:{port}",
        ca_data=ca,
        token_file=os.path.join(IN_CLUSTER_DIR, "token"),
        source="in-cluster service account",
    )
