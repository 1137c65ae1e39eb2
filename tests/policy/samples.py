"""Policy data the mode renderers' tests share: a hypothesis strategy for any neutral Traffic the
model can hold, and a Peer of the `shop` application."""

from __future__ import annotations

from types import MappingProxyType

from hypothesis import strategies as st

from meshform.policy import records as r
from meshform.policy.context import Peer

MS = st.integers(min_value=0, max_value=3_600_000)
PERCENT = st.floats(min_value=0, max_value=100, allow_nan=False).map(lambda f: round(f, 3))
# 599: a status code the model allows that Go's http.StatusText (Kuma's check) does not name.
RETRY_ON = st.lists(st.sampled_from([*r.RETRY_CONDITIONS, "503", "429", "599"]), unique=True).map(tuple)
TRAFFIC = st.builds(
    r.Traffic,
    timeout_ms=st.none() | MS,
    retries=st.none()
    | st.builds(
        r.Retries,
        attempts=st.integers(0, 10),
        per_try_timeout_ms=st.none() | MS,
        on=RETRY_ON,
        backoff=st.none() | st.builds(r.Backoff, st.integers(1, 10_000), st.none() | st.integers(1, 100_000)),
    ),
    circuit_breaker=st.none()
    | st.builds(
        r.CircuitBreaker,
        *(st.none() | st.integers(1, 10_000) for _ in range(3)),
        st.none() | st.integers(0, 100),
    ),
    outlier_detection=st.none()
    | st.builds(
        r.OutlierDetection,
        st.none() | st.integers(1, 100),
        st.none() | MS,
        st.none() | MS,
        st.none() | PERCENT,
    ),
    fault_injection=st.none()
    | st.builds(
        r.FaultInjection,
        st.none() | st.builds(r.Delay, MS, PERCENT),
        st.none() | st.builds(r.Abort, st.integers(200, 599), PERCENT),
    ),
    rate_limit=st.none()
    | st.builds(r.RateLimit, st.integers(1, 100_000), st.none() | st.integers(1, 100_000)),
)


def peer(name: str, namespace: str = "shop") -> Peer:
    """Component `name` of the `shop` application, as a policy's other end sees it."""
    selector = MappingProxyType({"app": name, "app.kubernetes.io/part-of": "shop"})
    return Peer(name, namespace, name, f"{name}.{namespace}.svc.cluster.local", f"shop-{name}", selector)
