"""Traffic policy in the builtin mesh, proven by the real Envoy carrying real traffic on loopback.

One application model declares every policy the builtin mesh renders; `meshform render` (in process,
with each Service host aliased to a loopback address) writes `web`'s sidecar bootstrap, and that Envoy
runs against scripted upstreams. Each test reads what Envoy's admin `/stats` and the responses show:
retries and their limit, per-try and route timeouts, circuit-breaker overflow, an ejected endpoint,
an injected delay, an abort rate and a split ratio within binomial bounds, 429s past a rate limit.

Upstreams listen on 127.0.0.2 (the split's versions on 127.0.0.3 and .4), the sidecar on 127.0.0.1.
Every loop is bounded in count and time; Envoy and every server stop when the module ends.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from envoy_harness import (
    QuietHandler,
    Reply,
    SidecarPorts,
    builtin_application,
    call,
    free_ports,
    running_mesh,
    stats,
    validate,
    web_sidecar,
)

NAMESPACE = "mesh-policy"
UPSTREAM = "127.0.0.2"
VERSION_ADDRESS = {"v1": "127.0.0.3", "v2": "127.0.0.4"}
DEPENDENCIES = (
    "retrying",
    "pertry",
    "deadline",
    "guarded",
    "ejecting",
    "delayed",
    "aborting",
    "reviews",
    "quota",
)
MAX_SLEEP = 2.0  # an upstream never holds a request longer, so the servers stop promptly
SAMPLES = 200  # requests behind each ratio: enough for a 5-sigma bound well inside (0, n)
SIGMAS = 5.0  # a correct Envoy fails a 5-sigma bound about once in 1.7 million runs
EARLY = 0.01  # Envoy's timers have millisecond resolution: one may fire a hair before its duration
LATE = 1.0  # generous for a busy machine, yet short of what the upstreams would take


# --- the upstreams -----------------------------------------------------------------------------------


class Scripted(ThreadingHTTPServer):
    """An upstream that does what each request's query says, so one server plays every failure.

    `sleep=S` waits S seconds first (at most MAX_SLEEP); `status=C` answers C; with `fail=N` only the
    first N requests of the same `key` get C, later ones 200. The body names the server and the try.
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], name: str) -> None:
        self.name = name
        self.hits: Counter[str] = Counter()  # requests per `key`
        self.lock = threading.Lock()
        super().__init__(address, ScriptedHandler)

    def hit(self, key: str) -> int:
        with self.lock:
            self.hits[key] += 1
            return self.hits[key]


class ScriptedHandler(QuietHandler):
    server: Scripted

    def do_GET(self) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        tries = self.server.hit(query.get("key", ""))
        time.sleep(min(float(query.get("sleep", 0)), MAX_SLEEP))
        status = int(query.get("status", 200))
        if "fail" in query and tries > int(query["fail"]):
            status = 200
        body = f"{self.server.name} try {tries}\n".encode()
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # Envoy gave up on this try (a timeout): nobody is listening any more


# --- the application model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Ports(SidecarPorts):
    web: int
    deps: dict[str, int]  # each dependency's Service port (and its local port in web's sidecar)


def app_model(p: Ports) -> str:
    """Every builtin policy, one dependency each, so each test reads its own cluster's stats. Two
    edges override their provider: `pertry` (2 retries, not 5) and `ejecting` (attempts: 0)."""
    d = p.deps
    return (
        builtin_application(NAMESPACE, p)
        + f"""\
  - name: web
    image: example.invalid/web:1
    ports: [{{name: http, port: {p.web}}}]
    traffic:
      rateLimit: {{requestsPerSecond: 1, burst: 3}}
    dependencies:
    - retrying
    - name: pertry
      traffic: {{retries: {{attempts: 2}}}}
    - deadline
    - guarded
    - name: ejecting
      traffic: {{retries: {{attempts: 0}}}}
    - delayed
    - aborting
    - reviews
    - name: quota
      traffic: {{rateLimit: {{requestsPerSecond: 1, burst: 2}}}}
  - name: retrying
    image: example.invalid/retrying:1
    ports: [{{name: http, port: {d["retrying"]}}}]
    traffic:
      retries: {{attempts: 2, on: [reset, 503], backoff: {{baseInterval: 5ms, maxInterval: 20ms}}}}
  - name: pertry
    image: example.invalid/pertry:1
    ports: [{{name: http, port: {d["pertry"]}}}]
    traffic:
      timeout: 5s
      retries: {{attempts: 5, perTryTimeout: 100ms, on: [5xx], backoff: {{baseInterval: 5ms}}}}
  - name: deadline
    image: example.invalid/deadline:1
    ports: [{{name: http, port: {d["deadline"]}}}]
    traffic: {{timeout: 250ms}}
  - name: guarded
    image: example.invalid/guarded:1
    ports: [{{name: http, port: {d["guarded"]}}}]
    traffic:
      circuitBreaker: {{maxConnections: 1, maxPendingRequests: 1, maxRequests: 1}}
  - name: ejecting
    image: example.invalid/ejecting:1
    ports: [{{name: http, port: {d["ejecting"]}}}]
    traffic:
      retries: {{attempts: 3, on: [5xx]}}
      outlierDetection: {{consecutive5xx: 3, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100}}
  - name: delayed
    image: example.invalid/delayed:1
    ports: [{{name: http, port: {d["delayed"]}}}]
    traffic:
      faultInjection: {{delay: {{fixedDelay: 300ms, percent: 100}}}}
  - name: aborting
    image: example.invalid/aborting:1
    ports: [{{name: http, port: {d["aborting"]}}}]
    traffic:
      faultInjection: {{abort: {{httpStatus: 503, percent: 37.5}}}}
  - name: reviews
    image: example.invalid/reviews:1
    ports: [{{name: http, port: {d["reviews"]}}}]
    versions: [{{name: v1, weight: 80}}, {{name: v2, weight: 20}}]
  - name: quota
    image: example.invalid/quota:1
    ports: [{{name: http, port: {d["quota"]}}}]
"""
    )


def aliases() -> dict[str, str]:
    """Service host → loopback address: every dependency on UPSTREAM, each version on its own."""
    out = {f"{name}.{NAMESPACE}.svc.cluster.local": UPSTREAM for name in DEPENDENCIES}
    for version, address in VERSION_ADDRESS.items():
        out[f"reviews-{version}.{NAMESPACE}.svc.cluster.local"] = address
    return out


# --- the running mesh --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mesh:
    ports: Ports
    bootstrap: str
    upstreams: dict[str, Scripted]  # dependency (or reviews-<version>) → its server

    def call(self, dependency: str, path: str = "/") -> Reply:
        """A request from web's app through its sidecar: 127.0.0.1:<the dependency's local port>."""
        return call("127.0.0.1", self.ports.deps[dependency], path)

    def stats(self) -> dict[str, int]:
        return stats(self.ports.admin)

    def cluster(self, dependency: str) -> str:
        return f"cluster.outbound|{dependency}|{self.ports.deps[dependency]}"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    found = free_ports(5 + len(DEPENDENCIES))
    ports = Ports(*found[:5], deps=dict(zip(DEPENDENCIES, found[5:], strict=True)))
    _, config = web_sidecar(tmp_path_factory.mktemp("policy-mesh"), app_model(ports), aliases())
    servers = {
        name: Scripted((UPSTREAM, port), name) for name, port in ports.deps.items() if name != "reviews"
    }
    for version, address in VERSION_ADDRESS.items():
        servers[f"reviews-{version}"] = Scripted((address, ports.deps["reviews"]), version)
    servers["web"] = Scripted(("127.0.0.1", ports.web), "web")
    with running_mesh(servers.values(), config, ports):
        yield Mesh(ports, config.read_text(), servers)


def delta(mesh: Mesh, action: Callable[[], Any]) -> tuple[Any, Counter[str]]:
    """What `action` returned, and how much each of Envoy's stats grew while it ran."""
    before = mesh.stats()
    result = action()
    after = mesh.stats()
    return result, Counter({k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)})


def wait_for(read: Callable[[], int], want: int, seconds: float = 5.0) -> int:
    """Poll `read` until it reaches `want` (Envoy updates some stats after the response), bounded."""
    deadline = time.monotonic() + seconds
    value = read()
    while value < want and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


def binomial_bounds(n: int, percent: float) -> tuple[float, float]:
    """mean ± SIGMAS standard deviations of the count of successes in n trials at `percent`."""
    p = percent / 100
    mean, sigma = n * p, math.sqrt(n * p * (1 - p))
    return mean - SIGMAS * sigma, mean + SIGMAS * sigma


# --- the bootstrap -----------------------------------------------------------------------------------


def test_rendered_bootstrap_passes_envoy_validate(mesh: Mesh, tmp_path: Path) -> None:
    validate(mesh.bootstrap, tmp_path)


# --- retries -----------------------------------------------------------------------------------------


def test_retries_on_a_listed_status_succeed_within_the_limit(mesh: Mesh) -> None:
    reply, grown = delta(mesh, lambda: mesh.call("retrying", "/?key=twice&status=503&fail=2"))

    assert (reply.status, reply.body) == (200, b"retrying try 3\n")  # 2 retries after the first try
    assert mesh.upstreams["retrying"].hits["twice"] == 3
    assert grown[f"{mesh.cluster('retrying')}.upstream_rq_retry"] == 2
    assert grown[f"{mesh.cluster('retrying')}.upstream_rq_retry_success"] == 1


def test_retries_stop_at_attempts(mesh: Mesh) -> None:
    reply, grown = delta(mesh, lambda: mesh.call("retrying", "/?key=always&status=503&fail=99"))

    assert reply.status == 503
    assert mesh.upstreams["retrying"].hits["always"] == 3  # 1 + attempts (2), then Envoy gives up
    assert grown[f"{mesh.cluster('retrying')}.upstream_rq_retry"] == 2
    assert grown[f"{mesh.cluster('retrying')}.upstream_rq_retry_limit_exceeded"] == 1


def test_a_status_not_listed_in_on_is_not_retried(mesh: Mesh) -> None:
    reply, grown = delta(mesh, lambda: mesh.call("retrying", "/?key=five-hundred&status=500&fail=99"))

    assert reply.status == 500  # `on: [reset, 503]`: retriable-status-codes holds 503 only
    assert mesh.upstreams["retrying"].hits["five-hundred"] == 1
    assert grown[f"{mesh.cluster('retrying')}.upstream_rq_retry"] == 0


# --- timeouts ----------------------------------------------------------------------------------------


def test_per_try_timeout_gives_504_after_the_edges_attempts(mesh: Mesh) -> None:
    reply, grown = delta(mesh, lambda: mesh.call("pertry", "/?key=slow&sleep=0.5"))

    assert reply.status == 504
    assert reply.body == b"upstream request timeout"
    # The edge's `attempts: 2` beat the provider's 5: three tries of 100ms each, then 504.
    assert grown[f"{mesh.cluster('pertry')}.upstream_rq_per_try_timeout"] == 3
    assert grown[f"{mesh.cluster('pertry')}.upstream_rq_retry_limit_exceeded"] == 1
    assert wait_for(lambda: mesh.upstreams["pertry"].hits["slow"], 3) == 3
    assert 0.3 - EARLY <= reply.seconds < 0.3 + LATE  # 3 x 100ms and backoff, not 3 x 0.5s


def test_route_timeout_gives_504(mesh: Mesh) -> None:
    reply, grown = delta(mesh, lambda: mesh.call("deadline", "/?sleep=2"))

    assert (reply.status, reply.body) == (504, b"upstream request timeout")
    assert grown[f"{mesh.cluster('deadline')}.upstream_rq_timeout"] == 1
    assert 0.25 - EARLY <= reply.seconds < 0.25 + LATE  # the declared 250ms, not the upstream's 2s


# --- circuit breaker and outlier detection -----------------------------------------------------------


def test_circuit_breaker_overflow_is_503_overloaded(mesh: Mesh) -> None:
    """Six concurrent requests against limits of one connection, one pending, one request: one is
    served, one waits for it, the rest overflow at once."""

    def burst() -> list[Reply]:
        with ThreadPoolExecutor(max_workers=6) as pool:
            return list(pool.map(lambda _: mesh.call("guarded", "/?sleep=1"), range(6)))

    replies, grown = delta(mesh, burst)

    overflowed = [r for r in replies if r.status == 503]
    assert overflowed, [r.status for r in replies]
    assert all(r.headers.get("x-envoy-overloaded") == "true" for r in overflowed)
    assert {r.status for r in replies} == {200, 503}
    assert grown[f"{mesh.cluster('guarded')}.upstream_rq_pending_overflow"] == len(overflowed)
    assert f"{mesh.cluster('guarded')}.circuit_breakers.default.remaining_rq" in mesh.stats()  # tracked


def test_outlier_detection_ejects_the_failing_endpoint(mesh: Mesh) -> None:
    name = f"{mesh.cluster('ejecting')}.outlier_detection"
    replies, grown = delta(mesh, lambda: [mesh.call("ejecting", "/?key=bad&status=500") for _ in range(3)])

    assert [r.status for r in replies] == [500, 500, 500]
    assert mesh.upstreams["ejecting"].hits["bad"] == 3  # the edge's `attempts: 0`: no retry at all
    assert grown[f"{mesh.cluster('ejecting')}.upstream_rq_retry"] == 0
    assert wait_for(lambda: mesh.stats().get(f"{name}.ejections_enforced_total", 0), 1) == 1
    assert mesh.stats()[f"{name}.ejections_active"] == 1
    assert mesh.stats()[f"{name}.ejections_enforced_consecutive_5xx"] == 1


# --- fault injection ---------------------------------------------------------------------------------


def test_injected_delay_is_measured(mesh: Mesh) -> None:
    replies, grown = delta(mesh, lambda: [mesh.call("delayed") for _ in range(3)])

    assert [r.status for r in replies] == [200, 200, 200]
    for reply in replies:
        assert 0.3 - EARLY <= reply.seconds < 0.3 + LATE, reply.seconds  # the declared 300ms
    assert grown[f"http.outbound_delayed_{mesh.ports.deps['delayed']}.fault.delays_injected"] == 3


def test_abort_rate_is_within_a_binomial_bound(mesh: Mesh) -> None:
    replies, grown = delta(mesh, lambda: [mesh.call("aborting") for _ in range(SAMPLES)])

    aborted = [r for r in replies if r.status == 503]
    assert all(r.body == b"fault filter abort" for r in aborted)
    assert {r.status for r in replies} <= {200, 503}
    low, high = binomial_bounds(SAMPLES, 37.5)  # 375/TEN_THOUSAND in the config
    assert low <= len(aborted) <= high, (len(aborted), low, high)
    assert grown[f"http.outbound_aborting_{mesh.ports.deps['aborting']}.fault.aborts_injected"] == len(
        aborted
    )
    assert sum(mesh.upstreams["aborting"].hits.values()) == SAMPLES - len(aborted)  # never reached


# --- rate limits -------------------------------------------------------------------------------------


def limited(mesh: Mesh, send: Callable[[], Reply], burst: int, rps: int, stat: str) -> None:
    """Ten requests against a bucket of `burst` refilled by `rps` a second: the bucket's worth pass
    (plus what refilled meanwhile), the rest are 429, and Envoy counts each."""
    start = time.monotonic()
    replies, grown = delta(mesh, lambda: [send() for _ in range(10)])
    elapsed = time.monotonic() - start

    passed = sum(r.status == 200 for r in replies)
    refused = [r for r in replies if r.status == 429]
    assert passed + len(refused) == 10
    assert burst <= passed <= burst + rps * (math.floor(elapsed) + 1)
    assert refused, "the bucket never ran dry"
    assert [r.status for r in replies[:burst]] == [200] * burst
    assert grown[f"{stat}.http_local_rate_limit.rate_limited"] == len(refused)
    assert grown[f"{stat}.http_local_rate_limit.enforced"] == len(refused)


def test_provider_rate_limit_answers_429_on_its_inbound_listener(mesh: Mesh) -> None:
    inbound = mesh.ports.inbound_base  # where web's Service now sends its callers
    limited(mesh, lambda: call("127.0.0.1", inbound, "/"), 3, 1, f"inbound_{mesh.ports.web}")


def test_edge_rate_limit_answers_429_in_the_callers_proxy(mesh: Mesh) -> None:
    limited(mesh, lambda: mesh.call("quota"), 2, 1, f"outbound_quota_{mesh.ports.deps['quota']}")


# --- split -------------------------------------------------------------------------------------------


def test_split_ratio_is_within_a_binomial_bound(mesh: Mesh) -> None:
    replies, grown = delta(mesh, lambda: [mesh.call("reviews") for _ in range(SAMPLES)])

    assert {r.status for r in replies} == {200}
    by_version = Counter(r.body.split()[0].decode() for r in replies)
    assert set(by_version) <= {"v1", "v2"}
    low, high = binomial_bounds(SAMPLES, 80)
    assert low <= by_version["v1"] <= high, (by_version, low, high)
    port = mesh.ports.deps["reviews"]
    for version in ("v1", "v2"):  # each version's per-version Service cluster counted its share
        assert grown[f"cluster.outbound|reviews-{version}|{port}.upstream_rq_total"] == by_version[version]
