"""What the Kubernetes API server refuses that a JSON schema does not say: the syntax and length of
names, label keys and values, annotation keys and their total size (k8s.io/apimachinery validation).

Each check returns the reason in words, or "" when the API server would accept the value, so callers
can locate the finding where it came from (the application model's field, or the rendered object).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

MAX_LABEL = 63
MAX_SUBDOMAIN = 253
MAX_ANNOTATIONS = 256 * 1024  # TotalAnnotationSizeLimitB: keys and values of one object, in bytes

_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

# Kinds whose names the API server holds to more than a DNS-1123 subdomain, and why.
NAME_RULES: dict[str, tuple[str, int, str]] = {
    "Service": ("dns-1035", MAX_LABEL, "a Service name is a DNS-1035 label (it starts with a letter)"),
    "Namespace": ("dns-1123", MAX_LABEL, "a Namespace name is a DNS-1123 label"),
    "CronJob": ("subdomain", 52, "a CronJob name leaves 11 characters for its Jobs' suffix"),
    "Job": ("subdomain", MAX_LABEL, "a Job's name is also the value of its pods' job-name label"),
    "StatefulSet": ("dns-1123", MAX_LABEL, "a StatefulSet's name is its pods' host name"),
}
_SYNTAX = {"dns-1035": _DNS1035_LABEL, "dns-1123": _DNS1123_LABEL, "subdomain": _DNS1123_SUBDOMAIN}


def is_dns_label(name: Any) -> bool:
    return isinstance(name, str) and len(name) <= MAX_LABEL and bool(_DNS1123_LABEL.fullmatch(name))


def label_value(value: Any) -> str:
    if not isinstance(value, str):
        return f"{value!r} is not a string"
    return _label_text(value)


# Rendered streams repeat the same few keys and values thousands of times: remember the verdicts.
@lru_cache(maxsize=4096)
def _label_text(value: str) -> str:
    if len(value) > MAX_LABEL:
        return f"{value[:20]!r}... is {len(value)} characters long; a label value has at most {MAX_LABEL}"
    if not _LABEL_VALUE.fullmatch(value):
        return (
            f"{value!r} is not a label value: letters, digits, '-', '_' and '.', starting and ending with "
            "a letter or digit"
        )
    return ""


def qualified_name(key: Any, what: str = "label") -> str:
    """A label or annotation key: an optional DNS subdomain prefix and `/`, then a name of at most 63."""
    if not isinstance(key, str):
        return f"{what} key {key!r} is not a string"
    return _key_text(key, what)


@lru_cache(maxsize=4096)
def _key_text(key: str, what: str) -> str:
    prefix, slash, name = key.rpartition("/")
    if slash and not (prefix and len(prefix) <= MAX_SUBDOMAIN and _DNS1123_SUBDOMAIN.fullmatch(prefix)):
        return f"{what} key {key!r}: the prefix before '/' must be a lower-case DNS subdomain"
    if not name or len(name) > MAX_LABEL or not _NAME_PART.fullmatch(name):
        return (
            f"{what} key {key!r}: the name part must be 1 to {MAX_LABEL} letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return ""


def _bytes(text: Any) -> int:
    text = str(text)
    return len(text) if text.isascii() else len(text.encode())


def annotations_size(annotations: Mapping[str, Any]) -> int:
    return sum(_bytes(k) + _bytes(v) for k, v in annotations.items())


def annotations_too_big(annotations: Mapping[str, Any]) -> str:
    size = annotations_size(annotations)
    if size > MAX_ANNOTATIONS:
        return f"annotations total {size} bytes; the API server allows {MAX_ANNOTATIONS} (256 KiB) per object"
    return ""


def object_name(kind: str, name: Any) -> str:
    """Why the API server refuses this name for an object of this kind ("" when it accepts it)."""
    syntax, limit, why = NAME_RULES.get(kind, ("subdomain", MAX_SUBDOMAIN, "a name is a DNS-1123 subdomain"))
    if not isinstance(name, str) or not name:
        return f"{kind} has no name"
    if len(name) > limit:
        return f"{kind} name {name!r} is {len(name)} characters long; at most {limit} ({why})"
    if not _SYNTAX[syntax].fullmatch(name):
        return f"{kind} name {name!r} is refused: {why}"
    return ""


def metadata_problems(meta: Mapping[str, Any]) -> list[str]:
    """Every label and annotation problem of one `metadata` (of an object or a pod template)."""
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    found = [
        qualified_name(k) or f"label {k}: {label_value(v)}"
        for k, v in labels.items()
        if qualified_name(k) or label_value(v)
    ]
    found += [qualified_name(k, "annotation") for k in annotations if qualified_name(k, "annotation")]
    too_big = annotations_too_big(annotations) if annotations else ""
    return [*found, too_big] if too_big else found
