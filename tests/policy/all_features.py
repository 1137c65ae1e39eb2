"""One application using every traffic-policy feature (tests/fixtures/policy/all-features.yaml), rendered
in every built-in mode under best-effort, and what each mode must emit for it: the input of the CRD
proofs (tests/policy/test_crd_schemas.py offline, tests/verify/test_policy_crds.py on the apiserver).

EXPECTED lists, per mode, the kinds meshform promises for these features (meshform/modes/
policy_support.py and issue 10's "Per mode"); a tuple of several kinds means any one of them will do.
NOT_MERGED names the modes whose renderer is not on this branch yet: their expected-kinds tests are
xfail(strict=True), so merging a renderer turns them into an XPASS failure until the mode is removed
from the set here (the one place to flip).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshform.core import status
from meshform.core.govern import GovernOptions
from meshform.core.workloads import pod_template
from meshform.frontends.emit import render_stream
from meshform.frontends.render import render_file
from meshform.modes import DEFAULT, MODES

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "policy" / "all-features.yaml"
NAMESPACE = "store"

EXPECTED: dict[str, tuple[tuple[str, ...], ...]] = {
    "kubernetes-native": (("NetworkPolicy",),),
    "builtin": (),  # the policy lives in the sidecar's Envoy config (a ConfigMap), no object of its own
    "istio": (
        ("DestinationRule",),
        ("VirtualService",),
        ("PeerAuthentication",),
        ("AuthorizationPolicy",),
        ("EnvoyFilter",),
    ),
    "istio-ambient": (
        ("Gateway",),  # the waypoint, class istio-waypoint
        ("AuthorizationPolicy",),
        ("DestinationRule",),  # connection pool and outlier detection, honoured by the waypoint
        ("VirtualService", "HTTPRoute"),  # timeouts, retries, faults, the split
    ),
    "linkerd": (
        ("HTTPRoute",),
        ("Server",),
        ("AuthorizationPolicy",),
        ("MeshTLSAuthentication",),
        ("HTTPLocalRateLimitPolicy",),
    ),
    "kuma": (
        ("MeshTimeout",),
        ("MeshRetry",),
        ("MeshCircuitBreaker",),
        ("MeshFaultInjection",),
        ("MeshRateLimit",),
        ("MeshHTTPRoute",),
        ("MeshTrafficPermission",),
    ),
    "consul": (
        ("ServiceDefaults",),
        ("ServiceRouter",),
        ("ServiceResolver",),
        ("ServiceSplitter",),
        ("ServiceIntentions",),
    ),
}
NOT_MERGED: frozenset[str] = frozenset()  # every renderer is merged


def modes() -> list[str]:
    """Every built-in mode; a new one must be added to EXPECTED first."""
    unknown = sorted(set(MODES) - set(EXPECTED))
    assert not unknown, f"add the policy kinds of {unknown} to EXPECTED"
    return list(MODES)


def expected_kinds_params() -> list[Any]:
    """The modes as pytest params, xfail(strict=True) where the renderer is not merged yet."""
    marks = pytest.mark.xfail(strict=True, reason="this mode's policy renderer is not merged yet")
    return [pytest.param(m, marks=marks) if m in NOT_MERGED else m for m in modes()]


@cache
def _rendered(mode: str) -> str:
    result = render_file(str(FIXTURE), DEFAULT, GovernOptions(mode))
    if not result.ok:
        raise AssertionError(f"{mode}: {[str(d) for d in result.diagnostics]}")
    return render_stream(result.objects, "yaml")


def objects(mode: str) -> list[dict[str, Any]]:
    """Everything `meshform render --mode MODE` emits, read back as the apiserver reads the YAML."""
    return [o for o in yaml.safe_load_all(_rendered(mode)) if o]


def added_objects(mode: str) -> list[dict[str, Any]]:
    """The objects a mode added beside the workloads (its policy objects, and for builtin its Envoy
    config): those a workload's status record lists as `objects`."""
    everything = objects(mode)
    listed = set()
    for obj in everything:
        template = pod_template(obj)
        record = status.read(template) if template is not None else None
        listed |= set(record.objects) if record is not None else set()
    return [o for o in everything if f"{o['kind']}/{o['metadata']['name']}" in listed]


def missing_kinds(mode: str, found: list[dict[str, Any]]) -> list[str]:
    """The EXPECTED entries of this mode that no object in `found` satisfies."""
    kinds = {o["kind"] for o in found}
    return [" or ".join(alternatives) for alternatives in EXPECTED[mode] if not kinds & set(alternatives)]
