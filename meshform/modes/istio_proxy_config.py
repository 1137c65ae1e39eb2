"""Istio's ProxyConfig as its injector reads, merges and writes it (istio, enrollment `sidecar`).

Istio reads meshConfig.defaultConfig and a pod's `proxy.istio.io/config` with golang/protobuf's
legacy jsonpb (pkg/util/protomarshal ApplyYAML: YAML to JSON, then a strict unmarshal retried
with unknown fields allowed) into the message it already holds (pkg/config/mesh MergeProxyConfig):

- every field the input sets replaces the held one *whole*: a nested message (tracing,
  readinessProbe), a list or a map is not merged into the held one, it is swapped;
- except proxyMetadata, merged key by key (the input's keys win), and proxyHeaders, whose
  forwardedClientCert / requestId / attemptCount / server / envoyDebugHeaders fall back to the held
  ones when the input leaves them empty;
- a null sets nothing; a field the message does not declare (a misspelling, or one the .proto
  reserves now, such as parentShutdownDuration) is dropped silently; a value of the wrong type
  refuses the whole input (istioctl fails);
- wrapper fields (concurrency, holdApplicationUntilProxyStarts, ...) and messages are present
  once set, even to 0 / false / {}; a plain scalar is present only when not its zero value.

PROXY_CONFIG is that message with Istio's defaults cleared (pkg/kube/inject cleanProxyConfig)
written as jsonpb writes it: fields in declaration order, map keys sorted, enums by name, int64 as
strings, durations as seconds with 0, 3, 6 or 9 fractional digits.

Values here are JSON-like: a message is a dict keyed by JSON names, an enum its name (its number
when the name is unknown), a duration a (seconds, nanos) tuple, a wrapper its bare value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

PROXY_CONFIG = "istio.mesh.v1alpha1.ProxyConfig"
_INT_RANGES = {
    "int32": (-(2**31), 2**31),
    "uint32": (0, 2**32),
    "int64": (-(2**63), 2**63),
    "uint64": (0, 2**64),
}
_WRAPPERS = {
    "google.protobuf.BoolValue": "bool",
    "google.protobuf.Int32Value": "int32",
    "google.protobuf.UInt32Value": "uint32",
    "google.protobuf.Int64Value": "int64",
    "google.protobuf.UInt64Value": "uint64",
    "google.protobuf.DoubleValue": "double",
    "google.protobuf.FloatValue": "float",
    "google.protobuf.StringValue": "string",
    "google.protobuf.BytesValue": "bytes",
}
_DURATION = "google.protobuf.Duration"
# proxyHeaders fields MergeProxyConfig keeps from the held message when the input leaves them empty
_HEADER_FALLBACKS = ("forwardedClientCert", "requestId", "attemptCount", "server", "envoyDebugHeaders")


class ProxyConfigError(ValueError):
    """A value Istio's unmarshal refuses; str() says where and why, `where` is the dotted path of
    the field it is in (JSON names)."""

    where: str = ""


class Schema:
    """One release's ProxyConfig messages and enums (templates/istio/<version>/proxy-config.yaml)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.messages: dict[str, list[tuple[str, str, Any, bool, str | None]]] = {
            name: [(f[0], f[1], f[2], bool(f[3]), f[4]) for f in fields]
            for name, fields in data["messages"].items()
        }
        self.enums: dict[str, dict[str, int]] = {k: dict(v) for k, v in data["enums"].items()}


@cache
def schema(version: str) -> Schema:
    import yaml

    from meshform.resources import mesh_template

    # libyaml's loader when present: the pure-Python one takes ~4x longer over this table
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return Schema(yaml.load(mesh_template("istio", version, "proxy-config.yaml"), Loader=loader))


def default_proxy_config() -> dict[str, Any]:
    """Istio's DefaultProxyConfig (pkg/config/mesh), what every install's defaultConfig starts from."""
    return {
        "configPath": "./etc/istio/proxy",
        "binaryPath": "/usr/local/bin/envoy",
        "serviceCluster": "istio-proxy",
        "drainDuration": (45, 0),
        "discoveryAddress": "istiod.istio-system.svc:15012",
        "proxyAdminPort": 15000,
        "controlPlaneAuthPolicy": "MUTUAL_TLS",
        "statNameLength": 189,
        "statusPort": 15020,
        "terminationDrainDuration": (5, 0),
    }


# ------------------------------------------------------------------------------------------ decode


def decode(given: Any, version: str) -> dict[str, Any]:
    """`given` (a ProxyConfig as YAML/JSON data) as Istio unmarshals it: only the fields it sets.
    None (an empty input) is {}. Raises ProxyConfigError for what Istio refuses."""
    if given is None:
        return {}
    return _message(schema(version), PROXY_CONFIG, given, "")


MESH_CONFIG = "istio.mesh.v1alpha1.MeshConfig"


def decode_mesh(given: Mapping[str, Any], version: str) -> dict[str, Any]:
    """The MeshConfig fields outside defaultConfig that meshform's schema holds, as Istio unmarshals
    them (unknown fields dropped, as Istio does). Raises ProxyConfigError for what Istio refuses."""
    return _message(schema(version), MESH_CONFIG, given, "")


def _message(s: Schema, name: str, given: Any, path: str) -> dict[str, Any]:
    if not isinstance(given, Mapping):
        raise ProxyConfigError(f"{path or 'the ProxyConfig'} must be a mapping, not {_shown(given)}")
    out: dict[str, Any] = {}
    for json_name, proto_name, kind, repeated, oneof in s.messages[name]:
        found = _ABSENT
        for key in (proto_name, json_name):  # jsonpb looks up both; the JSON name wins
            if key in given:
                found = given[key]
        if found is _ABSENT or found is None:
            continue
        where = f"{path}.{json_name}" if path else json_name
        if oneof is not None:  # setting one member of a oneof clears the others
            for other in s.messages[name]:
                if other[4] == oneof:
                    out.pop(other[0], None)
        try:
            out[json_name] = _field(s, kind, repeated, found, where)
        except ProxyConfigError as exc:
            exc.where = exc.where or where  # the innermost field that holds the value
            raise
    return out


_ABSENT = object()


def _field(s: Schema, kind: Any, repeated: bool, given: Any, where: str) -> Any:
    if isinstance(kind, list):  # [map, key type, value type]
        if not isinstance(given, Mapping):
            raise ProxyConfigError(f"{where} must be a mapping, not {_shown(given)}")
        return {str(k): _single(s, kind[2], v, f"{where}.{k}") for k, v in given.items()}
    if repeated:
        if not isinstance(given, list):
            raise ProxyConfigError(f"{where} must be a list, not {_shown(given)}")
        return [_single(s, kind, v, f"{where}[{i}]") for i, v in enumerate(given)]
    return _single(s, kind, given, where)


def _single(s: Schema, kind: str, given: Any, where: str) -> Any:
    """One value. A null inside a list or map is the type's zero value (Go's json leaves it)."""
    if kind in s.messages:
        return {} if given is None else _message(s, kind, given, where)
    if kind in s.enums:
        return _enum(s.enums[kind], given, where)
    if kind == _DURATION:
        if not isinstance(given, str):
            raise ProxyConfigError(f'{where} must be a duration such as "5s", not {_shown(given)}')
        return _duration(given, where)
    return _scalar(_WRAPPERS.get(kind, kind), given, where)


def _enum(values: Mapping[str, int], given: Any, where: str) -> str | int:
    if isinstance(given, str):
        if given not in values:
            raise ProxyConfigError(f"{where}: unknown value {given!r} (one of {', '.join(values)})")
        return given
    number = _scalar("int32", given, where)
    named = [name for name, value in values.items() if value == number]
    return named[0] if named else number


def _scalar(kind: str, given: Any, where: str) -> Any:
    if given is None:
        return {"bool": False, "string": "", "bytes": ""}.get(kind, 0)
    if kind == "bool":
        if isinstance(given, bool):
            return given
        raise ProxyConfigError(f"{where} must be true or false, not {_shown(given)}")
    if kind in ("string", "bytes"):
        if isinstance(given, str):
            return given
        raise ProxyConfigError(f"{where} must be a string, not {_shown(given)}")
    if kind in _INT_RANGES:
        # jsonpb strips quotes and reads a JSON integer (leading blanks allowed, no fraction)
        text = given.strip("\t\n\r ") if isinstance(given, str) else given
        if isinstance(text, str) and re.fullmatch(r"-?(0|[1-9][0-9]*)", text):
            text = int(text)
        low, high = _INT_RANGES[kind]
        if isinstance(text, int) and not isinstance(text, bool) and low <= text < high:
            return text
        raise ProxyConfigError(
            f"{where} must be a whole number from {low} to {high - 1}, not {_shown(given)}"
        )
    if kind in ("double", "float"):
        if isinstance(given, str) and given in ("NaN", "Infinity", "-Infinity"):
            return float(given.replace("Infinity", "inf"))
        text = given.strip("\t\n\r ") if isinstance(given, str) else given
        if isinstance(text, str) and re.fullmatch(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", text):
            text = float(text)
        if isinstance(text, (int, float)) and not isinstance(text, bool) and math.isfinite(text):
            return float(text)
        raise ProxyConfigError(f"{where} must be a number, not {_shown(given)}")
    raise ProxyConfigError(f"{where}: meshform does not read {kind} fields")


_UNITS = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,
    "μs": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def _duration(text: str, where: str) -> tuple[int, int]:
    """Go's time.ParseDuration, as (seconds, nanos) with the sign on both."""
    body, sign = text, 1
    if body[:1] in "+-" and body:
        sign, body = (-1 if body[0] == "-" else 1), body[1:]
    if body == "0":
        return (0, 0)
    nanos, at = 0, 0
    while at < len(body):
        part = _DURATION_PART.match(body, at)
        if part is None or part.group(1) in ("", "."):
            raise ProxyConfigError(f'{where}: {text!r} is not a duration (such as "5s" or "1m30s")')
        whole, _, fraction = part.group(1).partition(".")
        unit = _UNITS[part.group(2)]
        nanos += int(whole or 0) * unit + (int(fraction) * unit // 10 ** len(fraction) if fraction else 0)
        at = part.end()
    if not body or nanos >= 2**63:
        raise ProxyConfigError(f'{where}: {text!r} is not a duration (such as "5s" or "1m30s")')
    total = sign * nanos
    return (int(total / 10**9), total - int(total / 10**9) * 10**9)


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------------------------------- merge


def merged(held: Mapping[str, Any], given: Mapping[str, Any], version: str) -> Mapping[str, Any]:
    """MergeProxyConfig: `given` (decoded) applied over `held` (see the module docstring). Nothing
    given is `held` itself (most pods carry no proxy.istio.io/config): callers never change it."""
    if not given:
        return held
    out = dict(held)
    fields = _oneofs(version)
    for name, value in given.items():
        oneof = fields.get(name)
        if oneof is not None:
            for other, group in fields.items():
                if group == oneof:
                    out.pop(other, None)
        out[name] = value
    if "proxyMetadata" in given or "proxyMetadata" in held:
        out["proxyMetadata"] = {**(held.get("proxyMetadata") or {}), **(given.get("proxyMetadata") or {})}
    headers, before = given.get("proxyHeaders"), held.get("proxyHeaders")
    if isinstance(headers, Mapping) and isinstance(before, Mapping):
        out["proxyHeaders"] = {**headers} | {
            key: before[key]
            for key in _HEADER_FALLBACKS
            if key in before and headers.get(key) in (None, "UNDEFINED", 0)
        }
    return out


@cache
def _oneofs(version: str) -> dict[str, str | None]:
    """ProxyConfig's fields by JSON name, each with its oneof (None: none)."""
    return {f[0]: f[4] for f in schema(version).messages[PROXY_CONFIG]}


# ------------------------------------------------------------------------------------------- write


def to_json(proxy: Mapping[str, Any], version: str) -> str:
    """PROXY_CONFIG: `proxy` with Istio's defaults cleared, as jsonpb writes it (Go's compact JSON,
    <, > and & escaped)."""
    s = schema(version)
    default = default_proxy_config()
    clean = {
        k: v
        for k, v in proxy.items()
        if not (k in default and v == default[k])
        and not (k == "controlPlaneAuthPolicy" and v == "MUTUAL_TLS")
        and not (k == "proxyMetadata" and not v)
    }
    return _write(s, PROXY_CONFIG, clean)


def _write(s: Schema, name: str, message: Mapping[str, Any]) -> str:
    parts = []
    for json_name, _, kind, repeated, oneof in s.messages[name]:
        if json_name not in message:
            continue
        value = message[json_name]
        if isinstance(kind, list):
            if not value:
                continue
            text = (
                "{"
                + ",".join(f"{_string(str(k))}:{_value(s, kind[2], v)}" for k, v in sorted(value.items()))
                + "}"
            )
        elif repeated:
            if not value:
                continue
            text = "[" + ",".join(_value(s, kind, v) for v in value) + "]"
        elif oneof is None and _zero(s, kind, value):
            continue  # a proto3 scalar at its zero value is not set
        else:
            text = _value(s, kind, value)
        parts.append(f"{_string(json_name)}:{text}")
    return "{" + ",".join(parts) + "}"


def _zero(s: Schema, kind: str, value: Any) -> bool:
    if kind in s.messages or kind in _WRAPPERS or kind == _DURATION:
        return False
    if kind in s.enums:
        return s.enums[kind].get(value, value) == 0 if isinstance(value, str) else value == 0
    return value in (0, "", False) and not (isinstance(value, float) and math.copysign(1, value) < 0)


def _value(s: Schema, kind: str, value: Any) -> str:
    if kind in s.messages:
        return _write(s, kind, value)
    if kind in s.enums:
        if isinstance(value, int):
            named = [n for n, v in s.enums[kind].items() if v == value]
            return _string(named[0]) if named else str(value)
        return _string(value)
    if kind == _DURATION:
        return _string(_duration_text(value))
    kind = _WRAPPERS.get(kind, kind)
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind in ("int64", "uint64"):
        return f'"{value}"'
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, int):
        return str(value)
    return _string(str(value))


def _duration_text(value: tuple[int, int]) -> str:
    seconds, nanos = value
    sign = "-" if seconds < 0 or nanos < 0 else ""
    text = f"{sign}{abs(seconds)}.{abs(nanos):09d}"
    for tail in ("000", "000", ".000"):
        text = text.removesuffix(tail)
    return text + "s"


def _go_float(value: float) -> str:
    """Go's encoding/json for a float64: shortest form, exponent only below 1e-6 or from 1e21."""
    if math.isnan(value):
        return '"NaN"'
    if math.isinf(value):
        return '"Infinity"' if value > 0 else '"-Infinity"'
    if value == 0 or 1e-6 <= abs(value) < 1e21:
        text = repr(value)
        if "e" in text:
            from decimal import Decimal

            text = format(Decimal(text), "f")
        return text.removesuffix(".0")
    mantissa, _, exponent = repr(value).partition("e")
    mantissa = mantissa.removesuffix(".0")
    sign, digits = (exponent[0], exponent[1:]) if exponent[0] in "+-" else ("+", exponent)
    return f"{mantissa}e{sign}{int(digits)}"  # Go writes e-7, not e-07


def _string(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        out = out.replace(char, escape)
    return out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# ---------------------------------------------------------------------------------------- validate


def problems(proxy: Mapping[str, Any]) -> list[str]:
    """What Istio's ValidateMeshConfigProxyConfig (pkg/config/validation/agent) refuses in `proxy`
    (a decoded ProxyConfig over DefaultProxyConfig), in words; istioctl refuses such a pod's
    proxy.istio.io/config, and such a meshConfig.defaultConfig, outright."""
    found: list[str] = []
    for key, what in (("configPath", "config path"), ("binaryPath", "binary path")):
        if not proxy.get(key):
            found.append(f"{key}: the {what} must be set")
    if "serviceCluster" in proxy and not proxy["serviceCluster"]:
        found.append("serviceCluster must not be empty")
    elif "serviceCluster" not in proxy and "tracingServiceName" not in proxy:
        found.append("serviceCluster or tracingServiceName must be set")
    found += _drain_problems(proxy.get("drainDuration", (0, 0)))
    address = str(proxy.get("discoveryAddress") or "")
    found += _address_problems("discoveryAddress", address) if address else ["discoveryAddress must be set"]
    tracing = proxy.get("tracing") or {}
    if "lightstep" in tracing:
        lightstep = tracing["lightstep"]
        found += _address_problems("tracing.lightstep.address", str(lightstep.get("address", "")))
        if not lightstep.get("accessToken"):
            found.append("tracing.lightstep.accessToken is required")
    for tracer in ("zipkin", "datadog"):
        if tracer in tracing:
            given = str(tracing[tracer].get("address", "")).replace("$(HOST_IP)", "127.0.0.1", 1)
            found += _address_problems(f"tracing.{tracer}.address", given)
    if "tlsSettings" in tracing:
        found += [f"tracing.tlsSettings: {p}" for p in _tls_problems(tracing["tlsSettings"])]
    for key in ("statsdUdpAddress", "envoyMetricsServiceAddress"):
        if proxy.get(key):
            found += _address_problems(key, str(proxy[key]))
    for key in ("envoyMetricsService", "envoyAccessLogService"):
        if (proxy.get(key) or {}).get("address"):
            found += _address_problems(f"{key}.address", str(proxy[key]["address"]))
    for key in ("proxyAdminPort", "statusPort"):
        if not 1 <= int(proxy.get(key, 0)) <= 65535:
            found.append(f"{key} {proxy.get(key, 0)} must be a port from 1 to 65535")
    if proxy.get("controlPlaneAuthPolicy", "NONE") not in ("NONE", "MUTUAL_TLS"):
        found.append(f"controlPlaneAuthPolicy {proxy['controlPlaneAuthPolicy']} must be NONE or MUTUAL_TLS")
    if "privateKeyProvider" in proxy:
        found += _key_provider_problems(proxy["privateKeyProvider"])
    if "connectionSettings" in proxy:
        found += _connection_problems(proxy["connectionSettings"])
    return found


def _nanos(duration: tuple[int, int]) -> int:
    return duration[0] * 10**9 + duration[1]


def _drain_problems(duration: tuple[int, int]) -> list[str]:
    nanos = _nanos(duration)
    if nanos < 10**6:
        return ["drainDuration must be at least 1ms"]
    if nanos % 10**6:
        return ["drainDuration: only durations to ms precision are supported"]
    if nanos % 10**9:
        return ["drainDuration: drain time only supports durations to seconds precision"]
    return []


_DNS_LABEL = re.compile(r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")  # Istio's labels.IsDNS1123Label


def _address_problems(key: str, address: str) -> list[str]:
    """Istio's ValidateProxyAddress: host:port (Go's SplitHostPort), a port 1..65535 (Go's Atoi),
    the host a DNS-1123 name whose last label is not a number, or an IP address."""
    split = _split_host_port(address)
    if split is None:
        return [f"{key} {address!r} must be host:port"]
    host, port = split
    if not re.fullmatch(r"[+-]?[0-9]+", port) or not 1 <= int(port) <= 65535:
        return [f"{key} {address!r}: the port must be a number from 1 to 65535"]
    if _fqdn(host) or _ip(host):
        return []
    return [f"{key} {address!r}: {host!r} is not a valid hostname or an IP address"]


def _split_host_port(address: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort (None where it errs)."""
    if address.startswith("["):
        end = address.find("]")
        if end < 0 or address[end + 1 : end + 2] != ":" or ":" in address[end + 2 :]:
            return None
        host, port = address[1:end], address[end + 2 :]
        return None if "[" in host or "]" in host else (host, port)
    host, colon, port = address.rpartition(":")
    if not colon or ":" in host or "[" in host or "]" in host or "]" in port:
        return None
    return host, port


def _fqdn(host: str) -> bool:
    if not host or len(host) > 255:
        return False
    labels = host.split(".")
    if re.fullmatch(r"[+-]?[0-9]+", labels[-1]):
        return False
    if labels[-1] == "":
        labels = labels[:-1]
    return all(len(label) <= 63 and _DNS_LABEL.fullmatch(label) for label in labels)


def _ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _tls_problems(tls: Mapping[str, Any]) -> list[str]:
    """Istio's ValidateTLS for the tracer's ClientTLSSettings (no config namespace here)."""
    found = []
    mode, credential = tls.get("mode", "DISABLE"), str(tls.get("credentialName") or "")
    if credential.startswith("configmap://"):
        found.append("a configmap:// credentialName must be in the configuration's namespace")
    sans = bool(tls.get("subjectAltNames"))
    if tls.get("insecureSkipVerify") is True:
        if mode == "SIMPLE" and (tls.get("caCertificates") or credential or sans):
            found.append(
                "cannot specify caCertificates, credentialName or subjectAltNames with insecureSkipVerify"
            )
        if mode == "MUTUAL" and (tls.get("caCertificates") or sans):
            found.append("cannot specify caCertificates or subjectAltNames with insecureSkipVerify")
    if mode in ("SIMPLE", "MUTUAL") and credential:
        if any(tls.get(k) for k in ("clientCertificate", "caCertificates", "privateKey", "caCrl")):
            found.append("cannot specify client certificates, CA certificates or CA CRL with credentialName")
        return found
    if mode == "MUTUAL":
        found += [
            f"{k} is required for mutual TLS" for k in ("clientCertificate", "privateKey") if not tls.get(k)
        ]
    return found


def _key_provider_problems(provider: Mapping[str, Any]) -> list[str]:
    for kind in ("cryptomb", "qat"):
        if kind in provider:
            delay = provider[kind].get("pollDelay")
            if delay is None:
                return [f"privateKeyProvider.{kind}.pollDelay is required"]
            return [f"privateKeyProvider.{kind}.pollDelay must be non zero"] if delay == (0, 0) else []
    return ["privateKeyProvider needs a provider (cryptomb or qat)"]


# connectionSettings fields Istio's validateConnectionSettings bounds: (field, least allowed value)
_CONNECTION_BOUNDS = (
    ("listenerPerConnectionBufferLimitBytes", 0),
    ("clusterPerConnectionBufferLimitBytes", 0),
    ("httpMaxConcurrentStreams", 1),
    ("http2InitialStreamWindowSize", 65535),
    ("http2InitialConnectionWindowSize", 65535),
    ("listenerConnectionLimit", 1),
    ("globalDownstreamConnectionLimit", 1),
)


def _connection_problems(settings: Mapping[str, Any]) -> list[str]:
    found = [
        f"connectionSettings.{key} must not be negative"
        for key, value in settings.items()
        if isinstance(value, tuple) and _nanos(value) < 0
    ]
    found += [
        f"connectionSettings.{key} must be at least {least}"
        for key, least in _CONNECTION_BOUNDS
        if key in settings and settings[key] < least
    ]
    return found
