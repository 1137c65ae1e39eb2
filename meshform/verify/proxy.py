"""Which HTTP proxy, if any, verify goes through to reach the API server: kubectl's rules.

client-go (kubectl) takes the cluster's `proxy-url` from the kubeconfig when it has one, for every
request, loopback included. Without it, Go's environment rules apply: `HTTPS_PROXY` (or `https_proxy`)
for an https server, `HTTP_PROXY` for an http one; `NO_PROXY` lists hosts, `.domain`/`domain` suffixes,
IP addresses and CIDR ranges (optionally `:port`), or `*`, that go direct; `localhost` and loopback
addresses always go direct. A proxy URL without a scheme means http://.

verify speaks HTTP CONNECT to an `http://` proxy (credentials in the URL become Proxy-Authorization:
Basic), then TLS to the API server inside the tunnel, so the proxy never sees the traffic. Proxies it
cannot use — `https://` (TLS to the proxy itself) and `socks5://` — are refused with a message that
says so (KubeconfigError, exit 2), never silently bypassed.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from meshform.verify.kubeconfig import KubeconfigError

SUPPORTED = ("http",)


@dataclass(frozen=True)
class Proxy:
    """An http:// proxy verify tunnels through: where it listens, and its credentials if any."""

    host: str
    port: int
    authorization: str = ""  # a Proxy-Authorization header value, from user:password in the URL
    source: str = ""  # "kubeconfig proxy-url" or the environment variable that named it

    def shown(self) -> str:
        """host:port for messages (never its credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def parse(raw: str, source: str) -> Proxy:
    """A proxy URL as Go reads it (no scheme: http://). KubeconfigError for one verify cannot use."""
    text = raw.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        url = urllib.parse.urlsplit(text)
        port = url.port
    except ValueError:
        raise KubeconfigError(f"{source} {_redacted(raw)!r} is not a valid proxy URL") from None
    if url.scheme not in SUPPORTED:
        raise KubeconfigError(
            f"{source} {_redacted(raw)!r}: meshform verify cannot use a {url.scheme}:// proxy "
            "(it speaks HTTP CONNECT to an http:// proxy); run it where the API server is reachable "
            "through an http:// proxy or directly"
        )
    if not url.hostname:
        raise KubeconfigError(f"{source} {_redacted(raw)!r} names no proxy host")
    authorization = ""
    if url.username is not None:
        pair = f"{urllib.parse.unquote(url.username)}:{urllib.parse.unquote(url.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode()
    return Proxy(url.hostname, port or 80, authorization, source)


def _redacted(raw: str) -> str:
    scheme, sep, rest = raw.partition("://")
    netloc, slash, path = (rest if sep else raw).partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return f"{scheme}{sep}{netloc}{slash}{path}" if sep else f"{netloc}{slash}{path}"


def choose(
    proxy_url: str, scheme: str, host: str, port: int, environ: Mapping[str, str] | None = None
) -> Proxy | None:
    """The proxy for a request to scheme://host:port: the kubeconfig's `proxy-url` if given, else
    the environment's (None: go direct)."""
    if proxy_url:
        return parse(proxy_url, "kubeconfig proxy-url")
    env = os.environ if environ is None else environ
    names = ("HTTPS_PROXY", "https_proxy") if scheme == "https" else ("HTTP_PROXY", "http_proxy")
    name = next((n for n in names if env.get(n)), None)
    if name is None or not _use_proxy(host, port, env.get("NO_PROXY") or env.get("no_proxy") or ""):
        return None
    return parse(env[name], name)


def _use_proxy(host: str, port: int, no_proxy: str) -> bool:
    """Go's httpproxy rules: loopback never, then NO_PROXY's entries."""
    host = host.lower().strip("[]")
    address = _ip(host)
    if host == "localhost" or (address is not None and address.is_loopback):
        return False
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return False
        if _matches(entry, host, address, port):
            return False
    return True


def _matches(
    entry: str, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, port: int
) -> bool:
    if "/" in entry:  # a CIDR range
        try:
            return address is not None and address in ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
    name, want_port = entry, ""
    if _ip(entry.strip("[]")) is None and entry.count(":") == 1:
        name, _, want_port = entry.partition(":")
    elif entry.startswith("[") and "]:" in entry:
        name, _, want_port = entry.partition("]:")
        name += "]"
    if want_port and want_port != str(port):
        return False
    name = name.strip("[]")
    listed = _ip(name)
    if listed is not None:
        return address == listed
    if address is not None:
        return False
    if name.startswith("*."):
        name = name[1:]
    if name.startswith("."):  # subdomains only
        return host.endswith(name)
    return host == name or host.endswith("." + name)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
