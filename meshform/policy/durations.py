"""Durations as people write them (Go/Kubernetes style: `250ms`, `2s`, `1m30s`), held as whole
milliseconds, and written back in each target's own syntax.

Targets disagree: Envoy and Istio read protobuf JSON durations (seconds with an `s`, decimals allowed:
`0.250s`; `250ms` is refused by protobuf JSON), the Gateway API allows `^([0-9]{1,5}(h|m|s|ms)){1,4}$`
(no decimals), Kuma, Linkerd and Consul read Go's `time.ParseDuration` syntax. Milliseconds are the
finest unit any of them honours for traffic policy.
"""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
PATTERN = r"^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$"  # the JSON Schema's pattern for a duration
_UNIT_MS = {"h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
MAX_MS = 365 * 24 * 3_600_000  # a year: past any sane timeout, and inside every target's range


class DurationError(ValueError):
    """Not a duration meshform can carry to every target (message says why)."""


def parse_ms(text: str) -> int:
    """`1m30s` → 90000. Raises DurationError for anything but whole milliseconds up to a year."""
    if not isinstance(text, str) or not re.fullmatch(PATTERN, text):
        raise DurationError(f"{text!r} is not a duration: write it like 250ms, 2s or 1m30s")
    total = 0.0
    for number, unit in _PART.findall(text):
        total += float(number) * _UNIT_MS[unit]
    if total != int(total):
        raise DurationError(f"{text!r} is finer than a millisecond")
    if total > MAX_MS:
        raise DurationError(f"{text!r} is longer than a year")
    return int(total)


def go_style(ms: int) -> str:
    """90000 → `1m30s`, 250 → `250ms`, 0 → `0s`: Go's syntax without fractions, which the Gateway API
    pattern, Kubernetes' metav1.Duration, Linkerd and Consul all accept."""
    if ms == 0:
        return "0s"
    out = []
    for unit in ("h", "m", "s", "ms"):
        count, ms = divmod(ms, _UNIT_MS[unit])
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def proto_style(ms: int) -> str:
    """90000 → `90s`, 250 → `0.250s`: the protobuf JSON form Envoy and Istio read."""
    seconds, millis = divmod(ms, 1000)
    return f"{seconds}s" if not millis else f"{seconds}.{millis:03d}s"
