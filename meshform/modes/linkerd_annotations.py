"""Which `config.linkerd.io/*` annotations Linkerd reads, and which of their values a pre-injected pod
could not run with (edge-26.8.3: pkg/k8s/labels.go, pkg/inject/inject.go, charts/partials).

Linkerd's injector parses an override or ignores it (meshform.modes.linkerd_values mirrors that, with
a warning); what it parses, it writes into the pod as it is. Some of those values break Linkerd's own
patch (`linkerd inject` fails: the proxy version goes raw into a JSON string, the image and pull
policy unquoted into YAML), and others make a pod Kubernetes refuses (a containerPort of 99999, a
negative runAsUser, a request above its limit) or one whose proxy or proxy-init cannot start (a port
list proxy-init cannot parse). meshform refuses all of those, where the user wrote them: `problems`
returns one REFUSED note per such annotation, and an UNKNOWN note for each key Linkerd never reads.
The rules for a version, a pull policy, a log level and a port list are Linkerd's own CLI checks
(cli/cmd/options.go validateProxyValues, cli/cmd/range_slice.go).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from meshform.modes.linkerd_values import (
    ALPHA,
    BETA,
    CONFIG,
    IGNORED,
    REFUSED,
    TRACE_PREFIX,
    UNKNOWN,
    Note,
    go_duration,
    go_float,
    go_int,
    quantity,
)
from meshform.suggest import closest

# Every annotation under Linkerd's config prefixes that Linkerd reads (pkg/k8s/labels.go).
KNOWN = frozenset(
    CONFIG + name
    for name in [
        "proxy-image",
        "image-pull-policy",
        "debug-image",
        "debug-image-version",
        "debug-image-pull-policy",
        "control-port",
        "skip-inbound-ports",
        "opaque-ports",
        "skip-outbound-ports",
        "skip-subnets",
        "inbound-port",
        "admin-port",
        "outbound-port",
        "pod-inbound-ports",
        "proxy-cpu-request",
        "proxy-memory-request",
        "proxy-ephemeral-storage-request",
        "proxy-cpu-limit",
        "proxy-cpu-ratio-limit",
        "proxy-memory-limit",
        "proxy-ephemeral-storage-limit",
        "proxy-uid",
        "proxy-gid",
        "proxy-admin-shutdown",
        "proxy-log-level",
        "proxy-log-http-headers",
        "proxy-log-format",
        "enable-external-profiles",
        "proxy-version",
        "proxy-require-identity-inbound-ports",
        "proxy-metrics-hostname-labels",
        "proxy-outbound-connect-timeout",
        "proxy-inbound-connect-timeout",
        "proxy-outbound-discovery-cache-unused-timeout",
        "proxy-inbound-discovery-cache-unused-timeout",
        "proxy-disable-outbound-protocol-detect-timeout",
        "proxy-disable-inbound-protocol-detect-timeout",
        "enable-gateway",
        "enable-debug-sidecar",
        "close-wait-timeout",
        "proxy-enable-native-sidecar",
        "proxy-await",
        "default-inbound-policy",
        "access-log",
        "shutdown-grace-period",
        "proxy-additional-env",
        "admission-webhooks",
    ]
) | {
    ALPHA + "proxy-wait-before-exit-seconds",
    ALPHA + "proxy-enable-native-sidecar",
    BETA + "proxy-enable-native-sidecar",
}
# Kubernetes refuses an object whose annotations total more than this (TotalAnnotationSizeLimitB):
# no Linkerd injector ever sees a longer value.
MAX_ANNOTATIONS = 256 * 1024

_VERSION = re.compile(r"[.a-zA-Z0-9-]+")  # Linkerd's alphaNumDashDot, its check of a proxy version
_LOG_LEVEL = re.compile(  # Linkerd's validProxyLogLevel
    r"(((trace|debug|warn|info|error)|(\w|::)+|((\w|::)+=(trace|debug|warn|info|error)))(?:,|$))+"
)
# An image name Linkerd appends ":<version>" to: [host[:port]/]path, the reference grammar's name.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
)
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_PORTS = ("control-port", "inbound-port", "admin-port", "outbound-port")
_RANGE_LISTS = ("skip-inbound-ports", "skip-outbound-ports")
_DURATIONS = (
    "proxy-outbound-connect-timeout",
    "proxy-inbound-connect-timeout",
    "proxy-outbound-discovery-cache-unused-timeout",
    "proxy-inbound-discovery-cache-unused-timeout",
    "shutdown-grace-period",
)
_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_MAX_ID = 2**31 - 1  # runAsUser / runAsGroup: Kubernetes takes 0..2147483647
INJECT = "linkerd.io/inject"
_INJECT_VALUES = ("enabled", "disabled", "ingress")  # pkg/inject/report.go ValidInjectAnnotationValues


def problems(annotations: Mapping[str, str], values: Mapping[str, Any], debug: bool) -> list[Note]:
    """REFUSED notes for the annotation values the pod could not run with, and UNKNOWN notes for keys
    under Linkerd's prefixes that Linkerd does not read. `annotations` are the pod's, as text;
    `values` the values after the overrides (for a request against its limit); `debug`: whether the
    debug container is injected (its image annotations matter only then)."""
    notes = [_unknown(key, text) for key, text in annotations.items() if _is_unknown(key)]
    inject = annotations.get(INJECT)
    if inject is not None and inject not in ("", *_INJECT_VALUES):
        # `linkerd inject` reads only "disabled" and "ingress" and injects; the webhook would skip it.
        why = (
            f"not one of {', '.join(_INJECT_VALUES)} (`linkerd inject` injects whatever it says; Linkerd's "
            "webhook would leave such a pod uninjected)"
        )
        notes.append(Note(INJECT, inject, why, IGNORED))
    for key, text in annotations.items():
        if key.startswith(CONFIG):
            why = _refusal(key.removeprefix(CONFIG), text, debug)
            if why:
                notes.append(Note(key, text, why, REFUSED))
    notes += _trace_attributes(annotations, values)
    notes += _requests_over_limits(annotations, values)
    notes += _too_large(annotations)
    return notes


def _too_large(annotations: Mapping[str, str]) -> list[Note]:
    """Kubernetes refuses an object whose annotations (keys and values) total more than
    MAX_ANNOTATIONS bytes: said at the longest Linkerd annotation, as Linkerd's lists are what grows."""
    total = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    ours = [k for k in annotations if k.startswith(CONFIG)]
    if total <= MAX_ANNOTATIONS or not ours:
        return []
    key = max(ours, key=lambda k: len(annotations[k]))
    why = f"the pod's annotations total {total} bytes, and Kubernetes takes at most {MAX_ANNOTATIONS}"
    return [Note(key, annotations[key], why, REFUSED)]


def _is_unknown(key: str) -> bool:
    return key.startswith((CONFIG, ALPHA, BETA)) and key not in KNOWN


def _unknown(key: str, text: str) -> Note:
    prefix = next(p for p in (CONFIG, ALPHA, BETA) if key.startswith(p))
    names = sorted(k.removeprefix(CONFIG) for k in KNOWN if k.startswith(CONFIG))
    name = key.removeprefix(prefix)  # a misspelling often adds the "proxy-" other keys have
    close = closest(name.removeprefix("proxy-"), names, 1) or closest(name, names, 1)
    hint = f" (did you mean {CONFIG}{close[0]}?)" if close else ""
    return Note(key, text, f"not an annotation Linkerd reads{hint}", UNKNOWN)


def _refusal(name: str, text: str, debug: bool) -> str:
    """Why the pod could not run with this value of config.linkerd.io/<name> ("" when it could)."""
    if name in _PORTS:
        return _port(text)
    if name in ("proxy-uid", "proxy-gid"):
        return _id(name, text)
    if name in _RANGE_LISTS:
        return _range_list(text, strict=True)
    if name == "proxy-require-identity-inbound-ports":
        return _range_list(text, strict=False)
    if name in _DURATIONS:
        seconds = go_duration(text)
        if seconds is not None and seconds < 0:
            return "a negative duration, which the proxy cannot read"
        return ""
    if name.startswith("debug-") and not debug:
        return ""  # read only for the debug container, which this pod does not get
    return _FIXED.get(name, _free)(text)


def _port(text: str) -> str:
    number = go_int(text, 32)
    if number is not None and not 1 <= number <= 65535:
        return f"port {number} is not a TCP port 1-65535 (Kubernetes refuses such a containerPort)"
    return ""


def _id(name: str, text: str) -> str:
    number = go_int(text)
    if number is None:
        return ""  # Linkerd ignores it (a warning of its own)
    if name == "proxy-gid" and number < 0:
        return ""  # Linkerd leaves runAsGroup out for a negative group (its default is -1)
    if not 0 <= number <= _MAX_ID:
        field = "runAsUser" if name == "proxy-uid" else "runAsGroup"
        return f"{number} is not an ID 0-{_MAX_ID} (Kubernetes refuses such a {field})"
    if name == "proxy-uid" and number == 0:
        return "0 is root, and Linkerd runs the proxy with runAsNonRoot: the kubelet refuses to start it"
    return ""


def _range_list(text: str, strict: bool) -> str:
    """Linkerd's validateRangeSlice; `strict` False lets items have spaces around them (the proxy's own
    port list parser trims them; proxy-init's does not)."""
    if text == "":
        return ""
    for item in text.split(","):
        item = item if strict else item.strip()
        bounds = item.split("-") if "-" in item else [item, item]
        numbers = [_atoi(b) for b in bounds]
        if len(bounds) != 2 or None in numbers or not all(0 <= n <= 65535 for n in numbers if n is not None):
            return f"{item[:40]!r} is not a port 0-65535 nor a range <lower>-<upper> of them"
        if numbers[1] < numbers[0]:  # type: ignore[operator]
            return f"{item!r}: the upper bound is below the lower one"
    return ""


def _atoi(text: str) -> int | None:
    return go_int(text, 64)


def _image(text: str) -> str:
    if _IMAGE.fullmatch(text):
        return ""
    return "not an image name ([host[:port]/]path in lower case, without a tag: Linkerd appends the version)"


def _version(text: str) -> str:
    if text == "" or _VERSION.fullmatch(text):
        return ""
    return "not a version Linkerd accepts (letters, digits, '.' and '-' only)"


def _pull_policy(text: str) -> str:
    return "" if text in ("", *_PULL_POLICIES) else f"not one of {', '.join(_PULL_POLICIES)}"


def _log_level(text: str) -> str:
    if _LOG_LEVEL.fullmatch(text):
        return ""
    return "not a proxy log level Linkerd accepts (such as warn,linkerd=info)"


def _one_of(*allowed: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        return "" if text in allowed else f"not one of {' | '.join(repr(a) for a in allowed if a)}"

    return check


def _subnets(text: str) -> str:
    for item in text.split(",") if text else []:
        try:
            if "/" not in item:
                raise ValueError(item)
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return f"{item[:60]!r} is not a CIDR such as 10.0.0.0/8 (proxy-init cannot start with it)"
    return ""


def _ratio(text: str) -> str:
    number = go_float(text)
    if number is not None and number != number:
        return "NaN is no CPU ratio (Linkerd would write it as it is)"
    return ""


def _env(text: str) -> str:
    from meshform.modes.linkerd_values import env_vars

    for var in env_vars(text) or []:
        if not re.fullmatch(r"[-._a-zA-Z][-._a-zA-Z0-9]*", var["name"]):
            return f"env name {var['name'][:40]!r} is not one Kubernetes takes"
    return ""


def _free(text: str) -> str:
    return ""


_FIXED: dict[str, Callable[[str], str]] = {
    "proxy-image": _image,
    "debug-image": _image,
    "proxy-version": _version,
    "debug-image-version": _version,
    "image-pull-policy": _pull_policy,
    "debug-image-pull-policy": _pull_policy,
    "proxy-log-level": _log_level,
    # The chart fails on any other value (`fail "logHTTPHeaders must be one of: insecure | off"`).
    "proxy-log-http-headers": _one_of("insecure", "off", ""),
    "skip-subnets": _subnets,
    "proxy-cpu-ratio-limit": _ratio,
    "proxy-additional-env": _env,
}


def _trace_attributes(annotations: Mapping[str, str], values: Mapping[str, Any]) -> list[Note]:
    """With tracing on, Linkerd writes each resource.opentelemetry.io/<name> annotation as a line
    `<name>=<value>` of a YAML block scalar: a line break in the value ends the block, and Linkerd's
    patch no longer parses."""
    tracing = (values.get("proxy") or {}).get("tracing")
    if not (isinstance(tracing, dict) and tracing.get("enabled")):
        return []
    why = "a value with a line break, which breaks Linkerd's trace attributes (one line per annotation)"
    return [
        Note(key, text, why, REFUSED)
        for key, text in annotations.items()
        if key.startswith(TRACE_PREFIX) and ("\n" in text or "\r" in text)
    ]


def _requests_over_limits(annotations: Mapping[str, str], values: Mapping[str, Any]) -> list[Note]:
    """A negative amount, or a request above its limit, where an annotation set either: Kubernetes
    refuses the pod (Linkerd's CLI refuses the same in its own flags)."""
    notes = []
    resources = (values.get("proxy") or {}).get("resources") or {}
    for resource in _RESOURCES:
        bounds = resources.get(resource) or {}
        amounts = {b: quantity(str(bounds.get(b) or "")) for b in ("request", "limit")}
        for bound, amount in amounts.items():
            key = f"{CONFIG}proxy-{resource}-{bound}"
            if key in annotations and amount is not None and amount < 0:
                notes.append(
                    Note(key, annotations[key], "a negative amount, which Kubernetes refuses", REFUSED)
                )
        request, limit = amounts["request"], amounts["limit"]
        if request is not None and limit is not None and request > limit:
            for bound in ("request", "limit"):
                key = f"{CONFIG}proxy-{resource}-{bound}"
                if key in annotations:
                    why = (
                        f"the proxy's {resource} request {bounds['request']} is above its limit "
                        f"{bounds['limit']}, which Kubernetes refuses"
                    )
                    notes.append(Note(key, annotations[key], why, REFUSED))
                    break
    return notes


# The linkerd-config values each annotation above overrides: the same value there makes the same pod,
# so it gets the same check (Linkerd's chart writes either into the pod as it is).
VALUE_KEYS: dict[tuple[str, ...], str] = {
    ("proxy", "ports", "control"): "control-port",
    ("proxy", "ports", "inbound"): "inbound-port",
    ("proxy", "ports", "admin"): "admin-port",
    ("proxy", "ports", "outbound"): "outbound-port",
    ("proxy", "uid"): "proxy-uid",
    ("proxy", "gid"): "proxy-gid",
    ("proxyInit", "ignoreInboundPorts"): "skip-inbound-ports",
    ("proxyInit", "ignoreOutboundPorts"): "skip-outbound-ports",
    ("proxyInit", "skipSubnets"): "skip-subnets",
    ("proxy", "requireIdentityOnInboundPorts"): "proxy-require-identity-inbound-ports",
    ("proxy", "image", "name"): "proxy-image",
    ("proxy", "image", "version"): "proxy-version",
    ("proxy", "image", "pullPolicy"): "image-pull-policy",
    ("proxy", "logLevel"): "proxy-log-level",
    ("proxy", "outboundConnectTimeout"): "proxy-outbound-connect-timeout",
    ("proxy", "inboundConnectTimeout"): "proxy-inbound-connect-timeout",
    ("proxy", "outboundDiscoveryCacheUnusedTimeout"): "proxy-outbound-discovery-cache-unused-timeout",
    ("proxy", "inboundDiscoveryCacheUnusedTimeout"): "proxy-inbound-discovery-cache-unused-timeout",
    ("proxy", "shutdownGracePeriod"): "shutdown-grace-period",
    ("proxy", "additionalEnv"): "proxy-additional-env",
}


def value_problems(values: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """(path, why) per value the user's linkerd-config `values` set that the pod could not run with:
    the checks `problems` applies to the annotation overriding that value (MF353's rules), at the key."""
    import json

    from meshform.modes.linkerd_values import as_text

    found = []
    for path, name in VALUE_KEYS.items():
        node: Any = values
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if node is None or isinstance(node, (Mapping, bool)):
            continue  # absent, or of another type: the type check says so
        if isinstance(node, list):
            text = json.dumps(node) if name == "proxy-additional-env" else ""
        else:
            text = as_text(node)
        why = _refusal(name, text, debug=False)
        if why:
            found.append((path, f"{'.'.join(path)}: {text[:60]!r}: {why}"))
    proxy = values.get("proxy")
    resources = proxy.get("resources") if isinstance(proxy, Mapping) else None
    if not isinstance(resources, Mapping):
        return found
    for resource in _RESOURCES:
        bounds = resources.get(resource)
        if not isinstance(bounds, Mapping):
            continue
        amounts = {
            b: quantity(as_text(bounds.get(b))) for b in ("request", "limit") if bounds.get(b) is not None
        }
        for bound, amount in amounts.items():
            if amount is not None and amount < 0:
                path = ("proxy", "resources", resource, bound)
                found.append((path, f"{'.'.join(path)}: a negative amount, which Kubernetes refuses"))
        request, limit = amounts.get("request"), amounts.get("limit")
        if request is not None and limit is not None and request > limit:
            path = ("proxy", "resources", resource, "request")
            why = f"the proxy's {resource} request {bounds['request']} is above its limit {bounds['limit']}"
            found.append((path, f"{why}, which Kubernetes refuses"))
    return found
