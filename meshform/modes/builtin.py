"""builtin: meshform's own mesh. No control plane: an Envoy sidecar pre-injected offline, with a
static bootstrap (a ConfigMap) that routes every dependency through 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from meshform.modes import policy_support
from meshform.modes.base import (
    SIDECAR,
    EnrollContext,
    Enrollment,
    Finding,
    ModeFacts,
    Upstream,
    sidecar_findings,
)
from meshform.modes.policy_objects import fault_before_router
from meshform.policy.context import PolicyContext

if TYPE_CHECKING:
    from meshform.modes import envoy

# The proxy's config (envoy, builtin_policy) is imported where a builtin workload is enrolled: every
# run imports this module for the mode's facts, few of them govern anything with builtin.

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
    policy=policy_support.BUILTIN,
    policy_defaults=policy_support.BUILTIN_DEFAULTS,
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


def _inbound(ctx: EnrollContext, proxy: envoy.ProxyPorts) -> list[envoy.Route]:
    """The component's own ports; its HTTP ones carry its declared rate limit."""
    from meshform.modes import builtin_policy, envoy

    routes = envoy.inbound_routes(ctx.ports, proxy)
    limit = ctx.policy.policy.traffic.rate_limit if ctx.policy else None
    if limit is None:
        return routes
    return [
        replace(r, policy=builtin_policy.inbound(limit, envoy.stat_name(r.name)))
        if r.protocol in builtin_policy.HTTP
        else r
        for r in routes
    ]


def _outbound(ctx: EnrollContext, upstreams: list[Upstream], local: list[int]) -> list[envoy.Route]:
    """One hop per proxied dependency, on its local port, carrying the policy of its edge."""
    from meshform.modes import builtin_policy, envoy

    edges = {(e.to.component, e.port.port): e for e in ctx.policy.edges} if ctx.policy else {}
    routes = []
    for u, port in zip(upstreams, local, strict=True):
        name = f"outbound|{u.name}|{u.port.port}"
        edge = edges.get((u.name, u.port.port))
        policy = envoy.Policy()
        if edge is not None:
            policy = builtin_policy.outbound(edge, envoy.stat_name(name), ctx.host_aliases)
        target = ctx.host_aliases.get(u.host, u.host)
        routes.append(
            envoy.Route(name, "127.0.0.1", port, target, u.port.port, u.port.protocol, u.host, policy)
        )
    return routes


@dataclass(frozen=True)
class BuiltinMode:
    facts: ModeFacts = FACTS

    def enroll(self, ctx: EnrollContext) -> Enrollment:
        from meshform.modes import envoy

        proxy = envoy.proxy_ports(ctx.options)
        inbound = _inbound(ctx, proxy)
        upstreams = proxied(ctx)
        local = envoy.local_ports([u.port.port for u in upstreams], _taken(ctx, proxy), proxy.outbound_base)
        outbound = _outbound(ctx, upstreams, local)
        config = envoy.bootstrap(ctx.workload_name, ctx.component, inbound + outbound, proxy)
        meshed_ports = [p for p in ctx.ports if p.protocol != "udp"]
        return Enrollment(
            init_containers=[self._sidecar(ctx, proxy, [r.listen_port for r in inbound])],
            volumes=[{"name": VOLUME, "configMap": {"name": config_map_name(ctx.workload_name)}}],
            env=self._env(ctx, upstreams, local),
            service_target_ports={p.name: r.listen_port for p, r in zip(meshed_ports, inbound, strict=True)},
            objects=[self._config_map(ctx, config)],
        )

    def render_policy(self, ctx: PolicyContext) -> list[dict[str, Any]]:
        return []

    def findings(self, ctx: EnrollContext) -> Iterator[Finding]:
        from meshform.modes import builtin_policy, envoy

        yield from sidecar_findings(self.facts, ctx)
        if ctx.policy is not None:
            for where, message in builtin_policy.rounded(ctx.policy):
                yield Finding("MF920", "warning", message, where)
            if ctx.policy_owner:  # the inbound rate limit, once per component
                for where, message in builtin_policy.approximated(ctx.policy):
                    yield Finding("MF930", "warning", message, where)
        yield from fault_before_router(ctx, "Envoy")
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
        from meshform.yamlio.writer import dump_document

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
