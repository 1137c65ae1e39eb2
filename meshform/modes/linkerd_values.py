"""Linkerd's injector inputs: the chart values of `linkerd-config`, and a pod's `config.linkerd.io/*`
overrides applied on top of them the way `linkerd inject` applies them (edge-26.x).

Values are plain nested dicts (the YAML of linkerd-config's `values` key). Nothing here renders: this
module only decides *what* the proxy will be configured with; meshform.modes.linkerd_inject renders it.

Where Linkerd ignores an override it cannot parse (and logs a warning, or not), so does this module,
and it says so: `overridden` returns the values and a list of `Note`s the caller reports as warnings.
What Linkerd parses but the pod could not run with is meshform.modes.linkerd_annotations' business.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

CONFIG = "config.linkerd.io/"
ALPHA = "config.alpha.linkerd.io/"
BETA = "config.beta.linkerd.io/"
PREFIXES = (CONFIG, ALPHA, BETA)
TRACE_PREFIX = "resource.opentelemetry.io/"  # pod annotations that become trace attributes
DEFAULT_NAMESPACE = "linkerd"
INBOUND_POLICIES = frozenset(
    {"all-unauthenticated", "all-authenticated", "cluster-unauthenticated", "cluster-authenticated"}
    | {"deny", "audit"}
)


IGNORED, REFUSED, UNKNOWN = "ignored", "refused", "unknown"


@dataclass(frozen=True)
class Note:
    """What meshform says about one annotation: Linkerd ignores it (IGNORED: it injects as if it were
    not there), the pod could not run with it (REFUSED), or Linkerd does not read it at all (UNKNOWN)."""

    annotation: str
    value: str
    why: str
    kind: str = IGNORED
    skipped: str = ""  # the part of the value Linkerd ignores, when it reads the rest


class ValuesError(ValueError):
    """Values Linkerd's chart refuses to render (its `fail` calls); the message says which and why,
    `path` where in the values (() when the values as a whole)."""

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


# ------------------------------------------------------------------------------------ Go's parsers

_INT64 = 2**63 - 1
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "µs": Decimal("1e-6"),
    "μs": Decimal("1e-6"),
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
}


def go_duration(text: str) -> Decimal | None:
    """Seconds of a Go duration ("1m30s", "250ms", "-2h"); None where Go's ParseDuration fails."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return Decimal(0)
    if not body:
        return None
    total, at = Decimal(0), 0
    for match in _DURATION_PART.finditer(body):
        if match.start() != at:
            return None
        total += Decimal(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        at = match.end()
    if at != len(body) or total * 10**9 > _INT64:  # Go's Duration is int64 nanoseconds: it overflows
        return None
    return -total if text.startswith("-") else total


_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$"
)
_SUFFIX = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


def quantity(text: str) -> Decimal | None:
    """A Kubernetes resource quantity ("500m", "1.5", "2Gi", "1e3") as a number; None if invalid."""
    match = _QUANTITY.match(text.strip()) if text.strip() == text else None
    if match is None:
        return None
    try:
        number = Decimal(match.group(1))
        if match.group(3) is not None:
            number = number.scaleb(int(match.group(3)))
            return number if abs(number) <= _INT64 else None
    except (InvalidOperation, ValueError):
        return None
    amount = number * _SUFFIX.get(match.group(2) or "", Decimal(1))
    return amount if abs(amount) <= _INT64 else None  # beyond what Kubernetes counts in an int64


def whole_cores(amount: Decimal) -> int:
    """CPU cores rounded up, as Linkerd sizes the proxy's worker threads."""
    return int(amount.to_integral_value(rounding=ROUND_CEILING))


def go_bool(text: str) -> bool | None:
    """Go's strconv.ParseBool."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


_GO_FLOAT = re.compile(
    r"[+-]?(?:(?:\d+(?:_\d+)*)?\.?\d+(?:_\d+)*(?:[eE][+-]?\d+)?|\d+\.|inf|infinity|nan)", re.I
)


def go_float(text: str) -> float | None:
    """Go's strconv.ParseFloat for decimal forms, Inf and NaN (no surrounding space); None where it
    fails."""
    if not _GO_FLOAT.fullmatch(text):
        return None
    return float(text.replace("_", ""))


def go_int(text: str, bits: int = 64, signed: bool = True) -> int | None:
    """Go's strconv.ParseInt/ParseUint (base 10)."""
    if not re.fullmatch(r"[+-]?\d+" if signed else r"\+?\d+", text):
        return None
    value = int(text)
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return value if low <= value <= high else None


def opaque_ports(text: str, named: Mapping[str, int], skipped: list[str] | None = None) -> str:
    """config.linkerd.io/opaque-ports → the proxy's list: named ports resolved, invalid ranges left out
    (Linkerd logs and skips them; each one skipped is added to `skipped` when given)."""
    out = []
    for item in (p.strip() for p in text.removesuffix(",").split(",")):
        if item in named:
            out.append(str(named[item]))
            continue
        bounds = item.split("-")
        numbers = [go_int(b, 64) for b in (bounds if len(bounds) == 2 else bounds[:1] * 2)]
        low, high = numbers
        if (
            len(bounds) > 2
            or low is None
            or high is None
            or not (0 <= low <= 65535 and 0 <= high <= 65535)
            or high < low
        ):
            if skipped is not None:
                skipped.append(item)
            continue
        out.append(str(low) if low == high else f"{low}-{high}")
    return ",".join(out)


# --------------------------------------------------------------------------------------- overrides


def _at(values: dict[str, Any], *path: str) -> dict[str, Any]:
    """The nested mapping at `path`, created (or replaced when null) as needed."""
    node = values
    for key in path:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    return node


def _port(values: dict[str, Any], name: str, text: str, notes: list[Note], key: str) -> None:
    number = go_int(text, 32)
    if number is None:
        notes.append(Note(key, text, "not a port number"))
    else:
        _at(values, "proxy", "ports")[name] = number


def _millis(text: str) -> str | None:
    seconds = go_duration(text)
    return None if seconds is None else f"{int(seconds * 1000)}ms"


def _seconds(text: str) -> str | None:
    seconds = go_duration(text)
    return None if seconds is None else f"{int(seconds)}s"


_STRINGS: dict[str, tuple[str, ...]] = {  # annotation → the value it sets as written
    "proxy-image": ("proxy", "image", "name"),
    "proxy-version": ("proxy", "image", "version"),
    "image-pull-policy": ("proxy", "image", "pullPolicy"),
    "proxy-log-level": ("proxy", "logLevel"),
    "proxy-log-http-headers": ("proxy", "logHTTPHeaders"),
    "proxy-log-format": ("proxy", "logFormat"),
    "proxy-require-identity-inbound-ports": ("proxy", "requireIdentityOnInboundPorts"),
    "skip-inbound-ports": ("proxyInit", "ignoreInboundPorts"),
    "skip-outbound-ports": ("proxyInit", "ignoreOutboundPorts"),
    "skip-subnets": ("proxyInit", "skipSubnets"),
    "access-log": ("proxy", "accessLog"),
    "debug-image": ("debugContainer", "image", "name"),
    "debug-image-version": ("debugContainer", "image", "version"),
    "debug-image-pull-policy": ("debugContainer", "image", "pullPolicy"),
}
_PORTS = {
    "control-port": "control",
    "inbound-port": "inbound",
    "admin-port": "admin",
    "outbound-port": "outbound",
}
_BOOLS: dict[str, tuple[str, ...]] = {
    "proxy-metrics-hostname-labels": ("proxy", "metrics", "hostnameLabels"),
    "proxy-disable-outbound-protocol-detect-timeout": ("proxy", "disableOutboundProtocolDetectTimeout"),
    "proxy-disable-inbound-protocol-detect-timeout": ("proxy", "disableInboundProtocolDetectTimeout"),
    "enable-gateway": ("proxy", "isGateway"),
    "enable-external-profiles": ("proxy", "enableExternalProfiles"),
}
_DURATIONS: dict[str, tuple[tuple[str, ...], Any]] = {
    "proxy-outbound-connect-timeout": (("proxy", "outboundConnectTimeout"), _millis),
    "proxy-inbound-connect-timeout": (("proxy", "inboundConnectTimeout"), _millis),
    "proxy-outbound-discovery-cache-unused-timeout": (
        ("proxy", "outboundDiscoveryCacheUnusedTimeout"),
        _seconds,
    ),
    "proxy-inbound-discovery-cache-unused-timeout": (
        ("proxy", "inboundDiscoveryCacheUnusedTimeout"),
        _seconds,
    ),
    "shutdown-grace-period": (("proxy", "shutdownGracePeriod"), _millis),
}
_ENABLED = {"proxy-admin-shutdown": ("proxy", "enableShutdownEndpoint"), "proxy-await": ("proxy", "await")}
_RESOURCES = {
    "proxy-cpu-request": ("cpu", "request"),
    "proxy-cpu-limit": ("cpu", "limit"),
    "proxy-memory-request": ("memory", "request"),
    "proxy-memory-limit": ("memory", "limit"),
    "proxy-ephemeral-storage-request": ("ephemeral-storage", "request"),
    "proxy-ephemeral-storage-limit": ("ephemeral-storage", "limit"),
}


def _set(values: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    _at(values, *path[:-1])[path[-1]] = value


def _apply_simple(values: dict[str, Any], key: str, text: str, notes: list[Note]) -> None:
    name = key.removeprefix(CONFIG)
    if name in _STRINGS:
        _set(values, _STRINGS[name], text)
    elif name in _PORTS:
        _port(values, _PORTS[name], text, notes, key)
    elif name in _BOOLS:
        flag = go_bool(text)
        if flag is None:
            notes.append(Note(key, text, "not a boolean"))
        else:
            _set(values, _BOOLS[name], flag)
    elif name in _DURATIONS:
        path, convert = _DURATIONS[name]
        converted = convert(text)
        if converted is None:
            notes.append(Note(key, text, "not a Go duration such as 500ms or 1m30s"))
        else:
            _set(values, path, converted)
    elif name in _ENABLED:
        if text in ("enabled", "disabled"):
            _set(values, _ENABLED[name], text == "enabled")
        else:
            notes.append(Note(key, text, "must be enabled or disabled"))


def _apply_ids(values: dict[str, Any], annotations: Mapping[str, str], notes: list[Note]) -> None:
    for name, field in (("proxy-uid", "uid"), ("proxy-gid", "gid")):
        key = CONFIG + name
        if key in annotations:
            number = go_int(annotations[key])
            if number is None:
                notes.append(Note(key, annotations[key], "not an integer"))
            else:
                _at(values, "proxy")[field] = number


def _apply_resources(values: dict[str, Any], annotations: Mapping[str, str], notes: list[Note]) -> None:
    workers = _at(values, "proxy", "runtime", "workers")
    for name, (resource, bound) in _RESOURCES.items():
        key = CONFIG + name
        if key not in annotations:
            continue
        amount = quantity(annotations[key])
        if amount is None:
            notes.append(Note(key, annotations[key], "not a resource quantity"))
            continue
        _at(values, "proxy", "resources", resource)[bound] = annotations[key]
        if resource == "cpu":  # the proxy sizes its worker threads by whole cores
            workers["minimum" if bound == "request" else "maximum"] = whole_cores(amount)
    key = CONFIG + "proxy-cpu-ratio-limit"
    if key in annotations:
        ratio = go_float(annotations[key])
        if ratio is None:
            notes.append(Note(key, annotations[key], "not a number"))
        else:
            if 0.0 < ratio < 1.0 or ratio != ratio:  # Go's range check lets NaN through (see MF353)
                workers["maximumCPURatio"] = ratio
            else:
                notes.append(Note(key, annotations[key], "must be between 0.0 and 1.0"))


def _apply_native(values: dict[str, Any], annotations: Mapping[str, str], notes: list[Note]) -> None:
    """The stable annotation beats the beta one, which beats the alpha one (Linkerd's order): the first
    one present decides, even when Linkerd cannot read it (the values' setting then stays)."""
    for prefix in (CONFIG, BETA, ALPHA):
        key = prefix + "proxy-enable-native-sidecar"
        if key in annotations:
            flag = go_bool(annotations[key])
            if flag is None:
                notes.append(Note(key, annotations[key], "not a boolean"))
            else:
                _at(values, "proxy")["nativeSidecar"] = flag
            return


def _apply_misc(
    values: dict[str, Any], annotations: Mapping[str, str], named: Mapping[str, int], notes: list[Note]
) -> None:
    if annotations.get("linkerd.io/inject") == "ingress":
        _at(values, "proxy")["isIngress"] = True
    key = ALPHA + "proxy-wait-before-exit-seconds"
    if key in annotations:
        seconds = go_int(annotations[key], 64, signed=False)
        if seconds is None:
            notes.append(Note(key, annotations[key], "not a whole number of seconds"))
        else:
            _at(values, "proxy")["waitBeforeExitSeconds"] = seconds
    key = CONFIG + "opaque-ports"
    if key in annotations:
        skipped: list[str] = []
        _at(values, "proxy")["opaquePorts"] = opaque_ports(annotations[key], named, skipped)
        if skipped:
            shown = ", ".join(repr(s[:20]) for s in skipped[:8]) + (", ..." if len(skipped) > 8 else "")
            notes.append(Note(key, annotations[key], "items that are no port or range", skipped=shown))
    key = CONFIG + "pod-inbound-ports"
    if key in annotations:
        notes.append(Note(key, annotations[key], "computed by Linkerd from the pod's ports and probes"))
    key = CONFIG + "default-inbound-policy"
    if key in annotations:
        if annotations[key] in INBOUND_POLICIES:
            _at(values, "proxy")["defaultInboundPolicy"] = annotations[key]
        else:
            notes.append(Note(key, annotations[key], f"must be one of {', '.join(sorted(INBOUND_POLICIES))}"))


def _apply_tracing(values: dict[str, Any], annotations: Mapping[str, str], labels: Mapping[str, str]) -> None:
    tracing = _at(values, "proxy").get("tracing")
    if not isinstance(tracing, dict):
        return
    extra = tracing["labels"] = dict(tracing.get("labels") or {})
    for label in ("app.kubernetes.io/instance", "app.kubernetes.io/name"):
        if label in labels:
            extra["service.name"] = labels[label]
            break
    for key, value in annotations.items():
        if key.startswith(TRACE_PREFIX):  # resource attributes, named by the rest of the key
            extra[key.removeprefix(TRACE_PREFIX)] = value


_ENV_FIELDS = {"name": "name", "value": "value", "valuefrom": "valueFrom"}


def env_vars(text: str) -> list[dict[str, Any]] | None:
    """A JSON list of Kubernetes EnvVars as Go's json.Unmarshal reads it into []corev1.EnvVar: field
    names matched case-insensitively, unknown fields and nulls dropped, a wrong type fails (None)."""
    import json

    try:
        found = json.loads(text)
    except ValueError:
        return None
    if not isinstance(found, list):
        return None
    out = []
    for entry in found:
        if not isinstance(entry, dict):
            return None
        var: dict[str, Any] = {"name": ""}
        for key, value in entry.items():
            field = _ENV_FIELDS.get(str(key).lower())
            if field is None or value is None:
                continue
            if not isinstance(value, dict if field == "valueFrom" else str):
                return None
            var[field] = value
        out.append(var)
    return out


def _additional_env(values: dict[str, Any], annotations: Mapping[str, str], notes: list[Note]) -> None:
    """config.linkerd.io/proxy-additional-env: a JSON list of EnvVars merged by name into the values'."""
    key = CONFIG + "proxy-additional-env"
    text = annotations.get(key, "")
    if not text:
        return
    extra = env_vars(text)
    if extra is None:
        notes.append(Note(key, text, "not a JSON list of environment variables"))
        return
    merged = list(_at(values, "proxy").get("additionalEnv") or [])
    for entry in extra:
        at = next((i for i, e in enumerate(merged) if e.get("name") == entry["name"]), None)
        if at is None:
            merged.append(entry)
        else:
            merged[at] = entry
    values["proxy"]["additionalEnv"] = merged


def overridden(
    values: Mapping[str, Any],
    annotations: Mapping[str, Any],
    labels: Mapping[str, Any],
    named_ports: Mapping[str, int],
) -> tuple[dict[str, Any], list[Note]]:
    """A copy of `values` with the pod template's overrides applied, and the overrides Linkerd ignores.

    `annotations`/`labels` are the pod template's; non-string values (a YAML number written unquoted)
    are read as Kubernetes would store them, as text. `named_ports` maps the pod's port names (init and
    app containers) to numbers, for config.linkerd.io/opaque-ports. Without any override, `values`
    itself comes back (most pods have none: no copy per pod); callers must not change it."""
    texts = {str(k): as_text(v) for k, v in annotations.items()}
    if not _overrides_anything(values, texts, labels):
        return values if isinstance(values, dict) else dict(values), []
    out = copy.deepcopy(dict(values))
    notes: list[Note] = []
    for key, text in texts.items():
        if key.startswith(CONFIG):
            _apply_simple(out, key, text, notes)
    _apply_ids(out, texts, notes)
    _apply_native(out, texts, notes)
    _apply_resources(out, texts, notes)
    _apply_misc(out, texts, named_ports, notes)
    _apply_tracing(out, texts, {str(k): as_text(v) for k, v in labels.items()})
    _additional_env(out, texts, notes)
    return out, notes


def _overrides_anything(
    values: Mapping[str, Any], annotations: Mapping[str, str], labels: Mapping[str, Any]
) -> bool:
    if any(k.startswith(PREFIXES) for k in annotations):
        return True
    if annotations.get("linkerd.io/inject") == "ingress":
        return True
    tracing = (values.get("proxy") or {}).get("tracing")
    return isinstance(tracing, dict) and bool(tracing.get("enabled")) and bool(labels or annotations)


def as_text(value: Any) -> str:
    """An annotation's value as Kubernetes stores it (a YAML number or boolean written unquoted as its
    text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def check(values: Mapping[str, Any], anchors: bool = True) -> None:
    """Raise ValuesError where Linkerd's chart would refuse to render these values. `anchors` False
    leaves out the missing trust anchors (what enrolling a pod needs, not a value of the input)."""
    proxy = values.get("proxy") or {}
    if proxy.get("logHTTPHeaders") not in ("insecure", "off", "", None):
        raise ValuesError("proxy.logHTTPHeaders must be one of: insecure | off", ("proxy", "logHTTPHeaders"))
    mode = (values.get("proxyInit") or {}).get("iptablesMode") or "legacy"
    if mode not in ("nft", "legacy"):
        message = f'unsupported value "{mode}" for proxyInit.iptablesMode (valid: "nft", "legacy")'
        raise ValuesError(message, ("proxyInit", "iptablesMode"))
    if (
        anchors
        and not values.get("identityTrustAnchorsPEM")
        and not proxy.get("loadTrustBundleFromConfigMap")
    ):
        raise ValuesError("identityTrustAnchorsPEM is missing: the proxy needs the identity trust anchors")
    for key in ("additionalEnv", "experimentalEnv"):
        entries = proxy.get(key)
        if entries is not None and not (
            isinstance(entries, list)
            and all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries)
        ):
            message = f"proxy.{key} must be a list of environment variables (each with a name)"
            raise ValuesError(message, ("proxy", key))
    tracing = proxy.get("tracing") or {}
    if tracing.get("enabled"):
        collector = tracing.get("collector") or {}
        identity = collector.get("meshIdentity") or {}
        for name, present in (
            ("proxy.tracing.collector.endpoint", collector.get("endpoint")),
            ("proxy.tracing.collector.meshIdentity.serviceAccountName", identity.get("serviceAccountName")),
            ("proxy.tracing.collector.meshIdentity.namespace", identity.get("namespace")),
        ):
            if not present:
                raise ValuesError(f"{name} must be set if proxy tracing is enabled", tuple(name.split(".")))
