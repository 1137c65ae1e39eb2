"""builtin: meshform's own mesh. No control plane: an Envoy sidecar pre-injected offline, with a
static bootstrap (a ConfigMap) that routes every dependency through 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from meshform.modes import envoy
from meshform.modes.base import (
    SIDECAR,
    EnrollContext,
    Enrollment,
    Finding,
    ModeFacts,
    Upstream,
    sidecar_findings,
)
from meshform.yamlio.writer import dump_document

PROXY = "meshform-proxy"
VOLUME = "meshform-envoy"
CONFIG_DIR = "/etc/meshform/envoy"
DEFAULT_IMAGE = "envoyproxy/envoy:v1.40.0"
TEMPLATE = "builtin-sidecar.yaml.j2"

FACTS = ModeFacts(
    name="builtin",
    summary="meshform's own mesh: Envoy pre-injected offline with a static config, no control plane",
    aliases=("BUILD_IN_SERVICE_MESH",),
    strategies=(SIDECAR,),
    native_sidecar=True,
    control_plane=("none needed (static Envoy bootstrap in a ConfigMap)",),
    proof_containers=(PROXY,),
    rewires_services=True,
    local_upstreams=True,
)


def config_map_name(workload: str) -> str:
    return f"{workload}-meshform-envoy"


def proxied(ctx: EnrollContext) -> list[Upstream]:
    """Dependencies the proxy carries: everything but UDP, which Envoy's TCP listeners cannot take."""
    return [u for u in ctx.upstreams if u.port.protocol != "udp"]


def _reserved(ctx: EnrollContext, proxy: envoy.ProxyPorts) -> dict[int, str]:
    ports = {proxy.admin: "admin", proxy.health: "health"}
    for i, _ in enumerate(p for p in ctx.ports if p.protocol != "udp"):
        ports[proxy.inbound_base + i] = "inbound"
    return ports


def _taken(ctx: EnrollContext, proxy: envoy.ProxyPorts) -> set[int]:
    """Local ports a dependency listener may not use. Ports below 1024 count as taken: the proxy runs
    as an unprivileged user and could not bind them on clusters that keep them privileged."""
    return {p.port for p in ctx.ports} | set(_reserved(ctx, proxy)) | set(range(1, 1024))


@dataclass(frozen=True)
class BuiltinMode:
    facts: ModeFacts = FACTS

    def enroll(self, ctx: EnrollContext) -> Enrollment:
        proxy = envoy.proxy_ports(ctx.options)
        inbound = envoy.inbound_routes(ctx.ports, proxy)
        upstreams = proxied(ctx)
        local = envoy.local_ports([u.port.port for u in upstreams], _taken(ctx, proxy), proxy.outbound_base)
        outbound = [
            envoy.Route(
                f"outbound|{u.name}|{u.port.port}",
                "127.0.0.1",
                lp,
                ctx.host_aliases.get(u.host, u.host),
                u.port.port,
                u.port.protocol,
                host_header=u.host,
            )
            for u, lp in zip(upstreams, local, strict=True)
        ]
        config = envoy.bootstrap(ctx.workload_name, ctx.component, inbound + outbound, proxy)
        meshed_ports = [p for p in ctx.ports if p.protocol != "udp"]
        return Enrollment(
            init_containers=[self._sidecar(ctx, proxy, [r.listen_port for r in inbound])],
            volumes=[{"name": VOLUME, "configMap": {"name": config_map_name(ctx.workload_name)}}],
            env=self._env(ctx, upstreams, local),
            service_target_ports={p.name: r.listen_port for p, r in zip(meshed_ports, inbound, strict=True)},
            objects=[self._config_map(ctx, config)],
        )

    def findings(self, ctx: EnrollContext) -> Iterator[Finding]:
        yield from sidecar_findings(self.facts, ctx)
        proxy = envoy.proxy_ports(ctx.options)
        reserved = _reserved(ctx, proxy)
        for port in ctx.ports:
            if port.port in reserved:
                yield Finding(
                    "MF212",
                    "error",
                    f"port {port.name} ({port.port}) is the builtin proxy's {reserved[port.port]} port",
                    "ports",
                )
        for upstream in ctx.upstreams:
            if upstream.port.protocol == "udp":
                yield Finding(
                    "MF402",
                    "warning",
                    f"dependency {upstream.name} is UDP: it bypasses the builtin proxy and is reached "
                    "at its Service address",
                    "dependencies",
                )

    def _sidecar(self, ctx: EnrollContext, proxy: envoy.ProxyPorts, inbound: list[int]) -> dict[str, Any]:
        from meshform.modes.templating import render_container
        from meshform.resources import template

        values = {
            "name": PROXY,
            "image": str(ctx.options.get("image", DEFAULT_IMAGE)),
            "config_dir": CONFIG_DIR,
            "volume": VOLUME,
            "log_level": str(ctx.options.get("logLevel", "warning")),
            "health_port": proxy.health,
            "inbound_ports": inbound,
        }
        return render_container(template(TEMPLATE), values, f"templates/{TEMPLATE}")

    def _env(
        self, ctx: EnrollContext, upstreams: list[Upstream], local: list[int]
    ) -> dict[str, dict[str, str]]:
        env: dict[str, str] = {}
        for upstream, port in zip(upstreams, local, strict=True):
            env[f"{upstream.env_prefix}_HOST"] = "127.0.0.1"
            env[f"{upstream.env_prefix}_PORT"] = str(port)
        containers = ctx.pod_spec.get("containers") or []
        return {c["name"]: dict(env) for c in containers} if env else {}

    def _config_map(self, ctx: EnrollContext, config: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": config_map_name(ctx.workload_name),
                "namespace": ctx.namespace,
                "labels": {
                    "app.kubernetes.io/name": ctx.component,
                    "app.kubernetes.io/part-of": ctx.app,
                    "app.kubernetes.io/managed-by": "meshform",
                },
            },
            "data": {"bootstrap.yaml": dump_document(config)},
        }


MODE = BuiltinMode()
