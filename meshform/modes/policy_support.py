"""How far each built-in mode carries each traffic-policy feature, and what its mesh does when nothing is
said: the matrix `meshform modes --capabilities` prints and validation enforces.

Facts from the meshes' sources (istio.io/api v1.32.0, linkerd2 2.18, kuma v2.14.3, consul-k8s v1.9.11,
Envoy v1.40.0), as gathered in the project's design notes on traffic policy.
"""

from __future__ import annotations

from collections.abc import Mapping

from meshform.policy import records as r
from meshform.policy.context import Capability, Support

YES, PARTIAL, NO = Support.YES, Support.PARTIAL, Support.NO
Table = Mapping[str, Capability]

NATIVE: Table = {
    r.AUTHORIZATION: Capability(
        PARTIAL,
        "a NetworkPolicy admitting the dependents' pods: L3/L4, not identity-based, needs an enforcing CNI",
    ),
}
# Every mode's *_DEFAULTS says what `retries` without `on` means there (NO_ON_PREFIX): the meshes differ.
NO_ON_PREFIX = "retries without `on`: "
NATIVE_DEFAULTS = (
    "no proxy: no timeout, retry, limit or fault beyond what the application does itself",
    NO_ON_PREFIX + "nothing is retried (no proxy)",
)

BUILTIN: Table = {
    r.TIMEOUT: Capability(YES),
    r.RETRIES: Capability(YES, "without `on`: connect-failure, refused-stream and 503"),
    r.CIRCUIT_BREAKER: Capability(YES, "per calling proxy"),
    # A ClusterIP Service is a single address to Envoy (kube-proxy balances behind it), so ejecting
    # it takes out the whole Service, and Envoy's panic threshold then routes to it all the same.
    r.OUTLIER_DETECTION: Capability(
        PARTIAL, "ejects the addresses a Service name resolves to: per pod only for headless Services"
    ),
    r.FAULT_DELAY: Capability(
        YES, "injected by the calling proxy before it routes: the delay does not count against the timeout"
    ),
    r.FAULT_ABORT: Capability(
        YES, "injected by the calling proxy before it routes: aborted requests are never retried"
    ),
    r.RATE_LIMIT: Capability(
        YES,
        "a token bucket per HTTP port in each of the provider's proxies; "
        "an edge's own limit is a bucket in the caller's proxy",
    ),
    r.SPLIT: Capability(YES, "weighted clusters to per-version Services"),
    r.AUTHORIZATION: Capability(NO, "needs workload identities (certificates) a static config cannot issue"),
    r.EDGE_OVERRIDES: Capability(YES),
}
BUILTIN_DEFAULTS = (
    "no route timeout (meshform writes 0s over Envoy's 15s default)",
    "no retries without a retry policy",
    "circuit breakers 1024 connections / 1024 pending / 1024 requests / 3 retries",
    "no outlier detection",
    NO_ON_PREFIX + "connect-failure, refused-stream and 503 (Istio's list without its gRPC conditions)",
)

ISTIO: Table = {
    r.TIMEOUT: Capability(YES, "VirtualService"),
    r.RETRIES: Capability(
        PARTIAL, "VirtualService; backoff needs Istio >= 1.26 and sets only the base (Envoy caps at 10x)"
    ),
    r.CIRCUIT_BREAKER: Capability(YES, "DestinationRule connectionPool"),
    r.OUTLIER_DETECTION: Capability(YES, "DestinationRule; maxEjectionPercent in whole percent"),
    r.FAULT_DELAY: Capability(YES, "VirtualService; the delay does not count against the route's timeout"),
    r.FAULT_ABORT: Capability(YES, "VirtualService; aborted requests are answered locally, never retried"),
    r.RATE_LIMIT: Capability(
        PARTIAL,
        "an EnvoyFilter inserting Envoy's local rate limit into the sidecar's inbound HTTP chain "
        "(no first-class API)",
    ),
    r.SPLIT: Capability(YES, "DestinationRule subsets + VirtualService weights"),
    r.AUTHORIZATION: Capability(
        YES,
        "PeerAuthentication STRICT + AuthorizationPolicy ALLOW of the dependents' principals "
        "(trust domain modeOptions.istio.trustDomain, default cluster.local)",
    ),
    r.EDGE_OVERRIDES: Capability(
        PARTIAL,
        "routes in the provider's VirtualService matched by the caller's labels: timeout, retries and "
        "faults only; connection pool, outlier detection and rate limit are per destination",
    ),
}
# What Istio's per-caller VirtualService route can carry (ModeFacts.edge_features).
ISTIO_EDGE_FEATURES = frozenset({r.TIMEOUT, r.RETRIES, r.FAULT_DELAY, r.FAULT_ABORT})
ISTIO_DEFAULTS = (
    "no route timeout",
    "no retries declared: Istio's implicit 2 retries on connect-failure,refused-stream,unavailable,"
    "cancelled,503",
    "connection pool limits 2^32-1 (Envoy's 1024 defaults removed)",
    "no outlier detection",
    NO_ON_PREFIX
    + "no retryOn is written, so Istio's connect-failure,refused-stream,unavailable,cancelled,503",
)

_WAYPOINT = "at a waypoint meshform emits (Gateway class istio-waypoint)"
_WAYPOINT_VS = _WAYPOINT + ", as a VirtualService (Alpha in ambient)"
_WAYPOINT_DR = _WAYPOINT + ", as a DestinationRule"
AMBIENT: Table = {
    r.TIMEOUT: Capability(PARTIAL, _WAYPOINT_VS),
    r.RETRIES: Capability(PARTIAL, _WAYPOINT_VS + "; backoff sets only the base"),
    r.CIRCUIT_BREAKER: Capability(PARTIAL, _WAYPOINT_DR),
    r.OUTLIER_DETECTION: Capability(PARTIAL, _WAYPOINT_DR),
    r.FAULT_DELAY: Capability(PARTIAL, _WAYPOINT_VS),
    r.FAULT_ABORT: Capability(PARTIAL, _WAYPOINT_VS),
    r.RATE_LIMIT: Capability(NO, "EnvoyFilter is not supported with waypoints"),
    r.SPLIT: Capability(PARTIAL, _WAYPOINT + ", as DestinationRule subsets + VirtualService weights"),
    r.AUTHORIZATION: Capability(
        YES,
        "L4 AuthorizationPolicy enforced by ztunnel; with a waypoint, the dependents are allowed there "
        "and ztunnel admits only the waypoint",
    ),
    r.EDGE_OVERRIDES: Capability(NO, "a waypoint applies one policy to every caller"),
}
AMBIENT_DEFAULTS = (
    "mTLS always on (HBONE)",
    "no L7 policy without a waypoint",
    "no sidecar-style implicit retries",
    NO_ON_PREFIX + "at the waypoint, Istio's connect-failure,refused-stream,unavailable,cancelled,503",
)

LINKERD: Table = {
    r.TIMEOUT: Capability(YES, "annotation timeout.linkerd.io/request on the Services (2.16+)"),
    r.RETRIES: Capability(
        PARTIAL, "Service annotations (2.16+); no backoff, reset/connect-failure not selectable"
    ),
    r.CIRCUIT_BREAKER: Capability(NO, "Linkerd has no connection or request limits"),
    # Failure accrual counts HTTP response statuses (linkerd.io/2/reference/circuit-breaking): an
    # opaque TCP port (a database) gets nothing from it, where Envoy-based meshes eject on connect
    # failures.
    r.OUTLIER_DETECTION: Capability(
        PARTIAL,
        "failure accrual: consecutive HTTP failures, no max ejection percent; not on TCP-only ports",
        http_only=True,
    ),
    r.FAULT_DELAY: Capability(NO, "Linkerd has no fault injection"),
    r.FAULT_ABORT: Capability(NO, "Linkerd has no fault injection"),
    r.RATE_LIMIT: Capability(
        PARTIAL, "HTTPLocalRateLimitPolicy on a Server per HTTP port (2.17+); a rate, no burst size"
    ),
    r.SPLIT: Capability(YES, "HTTPRoute to per-version Services"),
    r.AUTHORIZATION: Capability(YES, "Server + AuthorizationPolicy + MeshTLSAuthentication"),
    r.EDGE_OVERRIDES: Capability(NO, "Service annotations apply to every caller"),
}
LINKERD_DEFAULTS = (
    "no timeout",
    "no retries",
    "failure accrual off",
    "default inbound policy all-unauthenticated",
    NO_ON_PREFIX + "only retry.linkerd.io/limit is written: Linkerd retries no failed response until "
    "retry.linkerd.io/http names statuses (it retries refused streams by itself)",
)

KUMA: Table = {
    r.TIMEOUT: Capability(YES, "MeshTimeout"),
    r.RETRIES: Capability(YES, "MeshRetry"),
    r.CIRCUIT_BREAKER: Capability(YES, "MeshCircuitBreaker connectionLimits; maxRetries 0 cannot be said"),
    r.OUTLIER_DETECTION: Capability(YES, "MeshCircuitBreaker outlierDetection"),
    r.FAULT_DELAY: Capability(YES, "MeshFaultInjection, on the provider's inbound side"),
    r.FAULT_ABORT: Capability(YES, "MeshFaultInjection, on the provider's inbound side"),
    r.RATE_LIMIT: Capability(YES, "MeshRateLimit: `burst` requests every burst/requestsPerSecond"),
    r.SPLIT: Capability(YES, "MeshHTTPRoute"),
    r.AUTHORIZATION: Capability(YES, "MeshTrafficPermission (needs mTLS on the Mesh)"),
    r.EDGE_OVERRIDES: Capability(
        PARTIAL,
        "policies targeting the caller's proxies (faults: the caller's tags on the provider's side); "
        "not rateLimit, which MeshRateLimit takes from the whole Mesh only",
    ),
}
# What a Kuma policy can give one caller alone (ModeFacts.edge_features).
KUMA_EDGE_FEATURES = frozenset(
    {r.TIMEOUT, r.RETRIES, r.CIRCUIT_BREAKER, r.OUTLIER_DETECTION, r.FAULT_DELAY, r.FAULT_ABORT}
)
KUMA_DEFAULTS = (
    "mesh-timeout-all: request 15s, connect 5s, idle 1h",
    "mesh-retry-all: 5 retries, per try 16s, backoff 25ms to 250ms",
    "mesh-circuit-breaker-all: 1024 connections / pending / requests, 3 retries",
    NO_ON_PREFIX + "MeshRetry without retryOn: Kuma's own default conditions apply",
)

_ENTERPRISE = "Consul Enterprise only"
CONSUL: Table = {
    r.TIMEOUT: Capability(YES, "ServiceRouter, with ServiceDefaults protocol http"),
    r.RETRIES: Capability(PARTIAL, "ServiceRouter; no per-try timeout, no backoff"),
    r.CIRCUIT_BREAKER: Capability(
        PARTIAL, "the callers' ServiceDefaults upstreamConfig limits; no limit on concurrent retries"
    ),
    r.OUTLIER_DETECTION: Capability(YES, "the callers' ServiceDefaults passiveHealthCheck"),
    r.FAULT_DELAY: Capability(PARTIAL, _ENTERPRISE, "enterprise"),
    r.FAULT_ABORT: Capability(PARTIAL, _ENTERPRISE, "enterprise"),
    r.RATE_LIMIT: Capability(PARTIAL, _ENTERPRISE, "enterprise"),
    r.SPLIT: Capability(YES, "ServiceResolver subsets + ServiceSplitter"),
    r.AUTHORIZATION: Capability(YES, "ServiceIntentions"),
    r.EDGE_OVERRIDES: Capability(NO, "routers and resolvers apply to every caller"),
}
CONSUL_DEFAULTS = (
    "protocol tcp: nothing L7 works until ServiceDefaults says http",
    "1 retry on connect failure",
    "mTLS always on",
    NO_ON_PREFIX + "retryOnConnectFailure only: connection failures are retried, no response is",
)
