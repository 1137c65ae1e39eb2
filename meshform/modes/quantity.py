"""Kubernetes resource quantities in their canonical form, as the API machinery writes them back.

An injector renders `cpu: 2000m` / `memory: 1024Mi`, and Go's `resource.Quantity` serializes them as
`"2"` / `"1Gi"`; the pod the cluster stores holds the canonical form, so pre-injection must too.
The rules (k8s.io/apimachinery resource.Quantity.CanonicalizeBytes): a binary-suffixed integer of
magnitude at least 1024 keeps a binary suffix, the largest power of 1024 that divides it; anything
else is decimal, with the exponent a multiple of 3 that leaves the smallest integral mantissa
(`0.5` → `500m`, `1500` → `1500`, `2000m` → `2`).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_FORM = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))((?:[KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_NAMES = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
_DECIMAL_NAMES = {e: s for s, e in _DECIMAL.items()}


def canonical(value: object) -> str | None:
    """The canonical text of a quantity (a string or a number); None when it is not one."""
    text = str(value).strip() if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
    found = _FORM.match(text)
    if not found:
        return None
    number, suffix = found.group(1), found.group(2) or ""
    try:
        amount = Decimal(number)
    except InvalidOperation:
        return None
    if suffix in _BINARY:
        whole = amount * (Decimal(2) ** _BINARY[suffix])
        if whole == whole.to_integral_value() and abs(whole) >= 1024:
            return _binary(int(whole))
        return _decimal(whole)
    exponent = int(suffix[1:]) if suffix[:1] in ("e", "E") else _DECIMAL[suffix]
    return _decimal(amount.scaleb(exponent))


def _binary(whole: int) -> str:
    power = 0
    while power < 6 and whole % (1 << (10 * (power + 1))) == 0:
        power += 1
    return f"{whole >> (10 * power)}{_BINARY_NAMES[power]}"


def _decimal(amount: Decimal) -> str:
    """Decimal SI: round up to nano precision (as Kubernetes does), then the largest exponent (a
    multiple of 3, at most 18) that keeps the mantissa an integer."""
    nanos = (amount * Decimal(10) ** 9).to_integral_value(rounding="ROUND_CEILING")
    if nanos == 0:
        return "0"
    exponent = -9
    while exponent < 18 and nanos % 1000 == 0:
        nanos //= 1000
        exponent += 3
    return f"{int(nanos)}{_DECIMAL_NAMES[exponent]}"
