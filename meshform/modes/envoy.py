"""The builtin mesh's static Envoy bootstrap: no control plane, every route known at render time.

Each dependency gets an outbound listener on 127.0.0.1:<local port> routed to the dependency's
Service; each of the component's own ports gets an inbound listener forwarding to the app on
127.0.0.1. A health listener serves Envoy's readiness so kubelet can probe the sidecar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from meshform.modes.base import Port

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
HTTP2_PROTOCOLS = ("http2", "grpc")


@dataclass(frozen=True)
class Backend:
    """One cluster of a weighted split (a per-version Service), in place of the route's own cluster."""

    cluster: str
    host: str
    weight: int


@dataclass(frozen=True)
class Policy:
    """Traffic policy as fragments of one hop's Envoy config (meshform.modes.builtin_policy builds
    them). Empty, the hop renders exactly as it did before there was policy."""

    route: Mapping[str, Any] = field(default_factory=dict)  # RouteAction fields (timeout, retry_policy)
    cluster: Mapping[str, Any] = field(default_factory=dict)  # Cluster fields, on every cluster of the hop
    filters: tuple[Mapping[str, Any], ...] = ()  # HTTP filters, in order, before the router
    backends: tuple[Backend, ...] = ()  # weighted clusters in place of the route's own cluster


@dataclass(frozen=True)
class Route:
    """One listener → cluster hop."""

    name: str
    listen_address: str
    listen_port: int
    target_host: str
    target_port: int
    protocol: str
    host_header: str | None = None  # outbound: what the app meant to call, not 127.0.0.1:<local port>
    policy: Policy = Policy()


@dataclass(frozen=True)
class ProxyPorts:
    admin: int = 15000
    health: int = 15021
    inbound_base: int = 15100
    outbound_base: int = 20000


def _address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _is_ip(host: str) -> bool:
    return host.replace(".", "").isdigit() or ":" in host


def _cluster(
    name: str, host: str, port: int, protocol: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(host, port)}}]}],
        },
    }
    if not _is_ip(host):
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    if protocol in HTTP2_PROTOCOLS:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": HTTP_OPTIONS,
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    cluster.update(extra or {})
    return cluster


def _destination(cluster: str, backends: tuple[Backend, ...]) -> dict[str, Any]:
    if not backends:
        return {"cluster": cluster}
    weighted = [{"name": b.cluster, "weight": b.weight} for b in backends]
    return {"weighted_clusters": {"clusters": weighted}}


def _http_filter(
    stat: str,
    cluster: str,
    prefix_rewrite: str | None = None,
    path: str = "/",
    host: str | None = None,
    policy: Policy = Policy(),
) -> dict[str, Any]:
    route = _destination(cluster, policy.backends)
    if prefix_rewrite is not None:
        route["prefix_rewrite"] = prefix_rewrite
    else:
        # Envoy's default is 15s: without a declared timeout, streaming and long calls are the app's
        # business, not the proxy's. A declared one (policy.route) takes this key's place.
        route["timeout"] = "0s"
    if host is not None:
        route["host_rewrite_literal"] = host
    route.update(policy.route)
    filters = [*policy.filters, {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}]
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": HCM,
            "stat_prefix": stat,
            "codec_type": "AUTO",
            "route_config": {
                "name": stat,
                "virtual_hosts": [
                    {"name": stat, "domains": ["*"], "routes": [{"match": {"prefix": path}, "route": route}]}
                ],
            },
            "http_filters": filters,
        },
    }


def _tcp_filter(stat: str, cluster: str) -> dict[str, Any]:
    return {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {"@type": TCP_PROXY, "stat_prefix": stat, "cluster": cluster},
    }


def stat_name(route: str) -> str:
    """The stat prefix of a route's listener (`outbound|api|80` → `outbound_api_80`)."""
    return route.replace("|", "_")


def _listener(route: Route) -> dict[str, Any]:
    stat = stat_name(route.name)
    if route.protocol == "tcp":
        network = _tcp_filter(stat, route.name)
    else:
        network = _http_filter(stat, route.name, host=route.host_header, policy=route.policy)
    return {
        "name": route.name,
        "address": _address(route.listen_address, route.listen_port),
        "filter_chains": [{"filters": [network]}],
    }


def _clusters(route: Route) -> list[dict[str, Any]]:
    """The route's own cluster, or one per backend of its split (each with the hop's limits)."""
    extra = route.policy.cluster
    backends = route.policy.backends or (Backend(route.name, route.target_host, 0),)
    return [_cluster(b.cluster, b.host, route.target_port, route.protocol, extra) for b in backends]


def bootstrap(node_id: str, cluster: str, routes: list[Route], ports: ProxyPorts) -> dict[str, Any]:
    """A complete static bootstrap (Envoy v3 API)."""
    listeners = [
        {
            "name": "health",
            "address": _address("0.0.0.0", ports.health),
            "filter_chains": [{"filters": [_http_filter("health", "admin", "/ready", "/healthz/ready")]}],
        }
    ]
    clusters = [_cluster("admin", "127.0.0.1", ports.admin, "http")]
    for route in routes:
        listeners.append(_listener(route))
        clusters += _clusters(route)
    return {
        "node": {"id": node_id, "cluster": cluster},
        "admin": {"address": _address("127.0.0.1", ports.admin)},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }


def inbound_routes(ports: tuple[Port, ...], proxy: ProxyPorts) -> list[Route]:
    """Inbound listener i on inbound_base + i forwards to the app's own port on loopback."""
    return [
        Route(f"inbound|{p.port}", "0.0.0.0", proxy.inbound_base + i, "127.0.0.1", p.port, p.protocol)
        for i, p in enumerate(ports)
        if p.protocol != "udp"
    ]


def local_ports(wanted: list[int], taken: set[int], base: int) -> list[int]:
    """Give each dependency its own port on loopback: its Service port when free (as Rainbond does),
    else the next free one from `base`."""
    used = set(taken)
    out = []
    for port in wanted:
        if port in used:
            port = base
            while port in used:
                port += 1
        used.add(port)
        out.append(port)
    return out


def proxy_ports(options: Mapping[str, Any]) -> ProxyPorts:
    d = ProxyPorts()
    return ProxyPorts(
        admin=int(options.get("adminPort", d.admin)),
        health=int(options.get("healthPort", d.health)),
        inbound_base=int(options.get("inboundPortBase", d.inbound_base)),
        outbound_base=int(options.get("outboundPortBase", d.outbound_base)),
    )
