"""The builtin mesh's static Envoy bootstrap: no control plane, every route known at render time.

Each dependency gets an outbound listener on 127.0.0.1:<local port> routed to the dependency's
Service; each of the component's own ports gets an inbound listener forwarding to the app on
127.0.0.1. A health listener serves Envoy's readiness so kubelet can probe the sidecar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from meshform.modes.base import Port

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
HTTP2_PROTOCOLS = ("http2", "grpc")


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


def _cluster(name: str, host: str, port: int, protocol: str) -> dict[str, Any]:
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
    return cluster


def _http_filter(
    stat: str, cluster: str, prefix_rewrite: str | None = None, path: str = "/", host: str | None = None
) -> dict[str, Any]:
    route: dict[str, Any] = {"cluster": cluster}
    if prefix_rewrite is not None:
        route["prefix_rewrite"] = prefix_rewrite
    else:
        route["timeout"] = "0s"  # streaming and long calls are the app's business, not the proxy's
    if host is not None:
        route["host_rewrite_literal"] = host
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
            "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}],
        },
    }


def _tcp_filter(stat: str, cluster: str) -> dict[str, Any]:
    return {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {"@type": TCP_PROXY, "stat_prefix": stat, "cluster": cluster},
    }


def _listener(route: Route) -> dict[str, Any]:
    stat = route.name.replace("|", "_")
    if route.protocol == "tcp":
        network = _tcp_filter(stat, route.name)
    else:
        network = _http_filter(stat, route.name, host=route.host_header)
    return {
        "name": route.name,
        "address": _address(route.listen_address, route.listen_port),
        "filter_chains": [{"filters": [network]}],
    }


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
        clusters.append(_cluster(route.name, route.target_host, route.target_port, route.protocol))
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
