"""Traffic policy in the istio and istio-ambient modes: the objects, their fields and units, their CRD
schemas, switching with them, and what each mode refuses or only approximates."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml
from conftest import ROOT, render, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from syrupy.assertion import SnapshotAssertion

from meshform.core import status
from meshform.core.workloads import pod_template
from meshform.frontends.emit import render_stream
from meshform.frontends.pipeline import govern_sources
from meshform.model.config import TransformConfig
from meshform.modes import DEFAULT, MODES, istio_policy
from meshform.policy import records as r
from meshform.policy.bucket import MIN_FILL_MS, token_bucket
from meshform.policy.context import (
    CallerEdge,
    ComponentPolicy,
    PolicyContext,
    PolicyPort,
    VersionTarget,
)
from meshform.yamlio.streams import FAST
from tests.policy.crds import Unavailable, istio_and_gateway_api
from tests.policy.samples import TRAFFIC, peer

FIXTURES = ROOT / "tests" / "fixtures" / "policy" / "istio"
ISTIO_APP = FIXTURES / "app.yaml"  # every feature istio renders, strict
AMBIENT_APP = FIXTURES / "ambient.yaml"  # every feature ambient renders, strict
BEST_EFFORT = FIXTURES / "best-effort.yaml"  # the istio model, best-effort
APPROXIMATIONS = FIXTURES / "approximations.yaml"
CORE_KINDS = {"ServiceAccount", "Service", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}


def _policy_objects(path: Path, mode: str | None = None, **kw: Any) -> list[dict[str, Any]]:
    result = render(path, mode, **kw)
    assert result.ok, result.diagnostics
    return [o for o in result.objects if o["kind"] not in CORE_KINDS]


def _names(objects: list[dict[str, Any]]) -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in objects]


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, _names(objects)
    return found[0]


def _service(path: Path, mode: str, name: str) -> dict[str, Any]:
    result = render(path, mode)
    return next(o for o in result.objects if o["kind"] == "Service" and o["metadata"]["name"] == name)


# ------------------------------------------------------------------------------------------- istio


def test_istio_renders_every_feature(yaml_snapshot: SnapshotAssertion) -> None:
    objects = _policy_objects(ISTIO_APP)
    assert _names(objects) == [
        "DestinationRule/reviews",
        "VirtualService/reviews",
        "PeerAuthentication/reviews",
        "AuthorizationPolicy/reviews",
        "EnvoyFilter/reviews",
    ]
    assert render_stream(objects, "yaml") == yaml_snapshot
    for o in objects:
        assert o["metadata"]["namespace"] == "shop"
        assert o["metadata"]["labels"] == {
            "app.kubernetes.io/part-of": "shop",
            "app.kubernetes.io/managed-by": "meshform",
            "app.kubernetes.io/name": "reviews",
        }


def test_istio_destination_rule_fields() -> None:
    dr = _one(_policy_objects(ISTIO_APP), "DestinationRule", "reviews")
    assert dr["apiVersion"] == "networking.istio.io/v1"
    assert dr["spec"]["host"] == "reviews.shop.svc.cluster.local"
    assert dr["spec"]["trafficPolicy"] == {
        "connectionPool": {
            "tcp": {"maxConnections": 100},
            "http": {"http1MaxPendingRequests": 10, "http2MaxRequests": 100, "maxRetries": 3},
        },
        "outlierDetection": {
            "consecutive5xxErrors": 5,
            "interval": "10s",
            "baseEjectionTime": "30s",
            "maxEjectionPercent": 50,
        },
    }
    assert dr["spec"]["subsets"] == [
        {"name": "v1", "labels": {"version": "v1"}},
        {"name": "v2", "labels": {"version": "v2"}},
    ]


def test_istio_virtual_service_routes_callers_first() -> None:
    vs = _one(_policy_objects(ISTIO_APP), "VirtualService", "reviews")
    assert vs["apiVersion"] == "networking.istio.io/v1"
    assert vs["spec"]["hosts"] == ["reviews.shop.svc.cluster.local"]
    web, default = vs["spec"]["http"]  # api declares no override: it gets the default route
    split = [
        {"destination": {"host": "reviews.shop.svc.cluster.local", "subset": "v1"}, "weight": 80},
        {"destination": {"host": "reviews.shop.svc.cluster.local", "subset": "v2"}, "weight": 20},
    ]
    fault = {
        "delay": {"fixedDelay": "2s", "percentage": {"value": 10}},
        "abort": {"httpStatus": 503, "percentage": {"value": 0.5}},
    }
    assert web == {
        "match": [
            {
                "sourceLabels": {"app": "web", "app.kubernetes.io/part-of": "shop"},
                "sourceNamespace": "shop",
                "port": 9080,
            }
        ],
        "route": split,
        "timeout": "1s",  # the edge's own
        "retries": {"attempts": 0},  # explicit: saying nothing means Istio's 2 retries
        "fault": fault,  # the provider's, which the edge does not override
    }
    assert default == {
        "route": split,
        "timeout": "2s",
        "retries": {
            "attempts": 3,
            "perTryTimeout": "0.500s",
            "retryOn": "5xx,reset,connect-failure,503",
            "backoff": "0.025s",
        },
        "fault": fault,
    }


def test_istio_authorization_allows_only_the_dependents() -> None:
    objects = _policy_objects(ISTIO_APP)
    pa = _one(objects, "PeerAuthentication", "reviews")
    ap = _one(objects, "AuthorizationPolicy", "reviews")
    selector = {"matchLabels": {"app": "reviews", "app.kubernetes.io/part-of": "shop"}}
    assert pa["apiVersion"] == ap["apiVersion"] == "security.istio.io/v1"
    assert pa["spec"] == {"selector": selector, "mtls": {"mode": "STRICT"}}
    assert ap["spec"] == {
        "selector": selector,
        "action": "ALLOW",
        "rules": [
            {
                "from": [
                    {
                        "source": {
                            "principals": [
                                "cluster.local/ns/shop/sa/api",
                                "cluster.local/ns/shop/sa/web",
                            ]
                        }
                    }
                ]
            }
        ],
    }


def test_istio_trust_domain_option(tmp_path: Path) -> None:
    text = ISTIO_APP.read_text().replace(
        "  governanceMode: istio\n",
        "  governanceMode: istio\n  modeOptions: {istio: {trustDomain: corp.example}}\n",
    )
    (tmp_path / "app.yaml").write_text(text)
    ap = _one(_policy_objects(tmp_path / "app.yaml"), "AuthorizationPolicy", "reviews")
    assert ap["spec"]["rules"][0]["from"][0]["source"]["principals"] == [
        "corp.example/ns/shop/sa/api",
        "corp.example/ns/shop/sa/web",
    ]


def test_istio_rate_limit_envoy_filter() -> None:
    ef = _one(_policy_objects(ISTIO_APP), "EnvoyFilter", "reviews")
    assert ef["apiVersion"] == "networking.istio.io/v1alpha3"
    assert ef["spec"]["workloadSelector"] == {
        "labels": {"app": "reviews", "app.kubernetes.io/part-of": "shop"}
    }
    (patch,) = ef["spec"]["configPatches"]
    assert patch["applyTo"] == "HTTP_FILTER"
    assert patch["match"]["context"] == "SIDECAR_INBOUND"
    assert patch["match"]["listener"]["filterChain"]["filter"]["subFilter"] == {
        "name": "envoy.filters.http.router"
    }
    assert patch["patch"]["operation"] == "INSERT_BEFORE"
    value = patch["patch"]["value"]
    assert value["name"] == "envoy.filters.http.local_ratelimit"
    config = value["typed_config"]["value"]
    assert value["typed_config"]["type_url"].endswith("local_ratelimit.v3.LocalRateLimit")
    # 100 per second in bursts of 20: 5 tokens every 50ms into a bucket of 20
    assert config["token_bucket"] == {"max_tokens": 20, "tokens_per_fill": 5, "fill_interval": "0.050s"}
    hundred = {"numerator": 100, "denominator": "HUNDRED"}  # Envoy's default is 0%: nothing enforced
    assert config["filter_enabled"]["default_value"] == hundred
    assert config["filter_enforced"]["default_value"] == hundred


def test_istio_objects_follow_the_owning_workload_and_are_recorded() -> None:
    result = render(ISTIO_APP)
    names = _names(result.objects)
    start = names.index("Deployment/reviews-v1") + 1
    policy = names[start : start + 5]
    assert policy[0] == "DestinationRule/reviews" and names[start + 5] == "Deployment/reviews-v2"
    owner = next(
        o for o in result.objects if o["metadata"]["name"] == "reviews-v1" and o["kind"] == "Deployment"
    )
    record = status.read(pod_template(owner))
    assert record is not None
    assert list(record.objects) == policy
    assert record.policy is not None and record.policy["owner"] is True
    assert record.policy["context"]["callers"][0]["caller"]["component"] == "web"


def test_only_what_is_declared(tmp_path: Path) -> None:
    """A timeout without retries renders no retries (Istio's own default stays); `attempts: 0` with
    other retry fields renders attempts alone; a caller's override on a provider with no policy of its
    own still gets its route, before a plain default route."""
    (tmp_path / "app.yaml").write_text(
        """apiVersion: meshform.dev/v1alpha1
kind: Application
metadata: {name: shop, namespace: shop}
spec:
  governanceMode: istio
  components:
  - name: web
    image: web:1
    ports: [{name: http, port: 8080}]
    traffic: {timeout: 250ms}
    dependencies:
    - name: api
      traffic: {retries: {attempts: 0, perTryTimeout: 100ms, on: [5xx]}}
  - name: api
    image: api:1
    ports: [{name: http, port: 8080}, {name: grpc, port: 9090, protocol: grpc}]
"""
    )
    objects = _policy_objects(tmp_path / "app.yaml")
    assert _names(objects) == [
        "VirtualService/web",
        "VirtualService/api",
    ]
    assert _one(objects, "VirtualService", "web")["spec"]["http"] == [
        {"route": [{"destination": {"host": "web.shop.svc.cluster.local"}}], "timeout": "0.250s"}
    ]
    caller, default = _one(objects, "VirtualService", "api")["spec"]["http"]
    assert caller["match"][0]["port"] == 8080  # the edge's port only; grpc gets the default route
    assert caller["retries"] == {"attempts": 0}
    assert default == {"route": [{"destination": {"host": "api.shop.svc.cluster.local"}}]}


def test_istio_refuses_per_caller_destination_policy(tmp_path: Path) -> None:
    """Istio keeps one DestinationRule per host: a caller cannot have its own circuit breaker."""
    text = ISTIO_APP.read_text().replace(
        "        retries: {attempts: 0}\n",
        "        retries: {attempts: 0}\n        circuitBreaker: {maxConnections: 10}\n",
    )
    (tmp_path / "app.yaml").write_text(text)
    proc = run_cli("render", str(tmp_path / "app.yaml"))
    assert proc.returncode == 1 and proc.stdout == b""
    err = proc.stderr.decode()
    line = text.splitlines().index("        circuitBreaker: {maxConnections: 10}") + 1
    assert f"app.yaml:{line}:9: error MF910 istio cannot enforce circuitBreaker for one caller alone" in err
    assert "modes that can: builtin, kuma" in err
    assert "$.spec.components[0].dependencies[0].traffic.circuitBreaker" in err


def test_istio_approximations_warn(yaml_snapshot: SnapshotAssertion) -> None:
    result = render(APPROXIMATIONS)
    assert result.ok
    warnings = sorted(d.message for d in result.diagnostics if d.code in ("MF920", "MF930"))
    assert [d.code for d in result.diagnostics if "maxEjectionPercent" in d.message] == ["MF920"]
    assert warnings == [
        "Istio sets only the backoff's base interval on web's route: maxInterval 20ms becomes Envoy's 10 x "
        "base, 100ms",
        "Istio sets only the backoff's base interval: maxInterval 2s becomes Envoy's 10 x base, 1s",
        "Istio takes a whole maxEjectionPercent: 12.5 becomes 12",
        "rateLimit burst 1 is smaller than one refill of the token bucket: raised to 3 (Envoy adds 3 tokens "
        "every 1s)",
    ]
    objects = [o for o in result.objects if o["kind"] not in CORE_KINDS]
    assert render_stream(objects, "yaml") == yaml_snapshot
    vs = _one(objects, "VirtualService", "api")
    caller, default = vs["spec"]["http"]
    assert "timeout" not in caller  # the edge's 0s: no timeout for this caller
    assert default["retries"] == {"attempts": 4, "backoff": "0.100s"}  # perTryTimeout 0s: none
    assert "fault" not in default  # a 0s delay is no delay
    assert _one(objects, "DestinationRule", "api")["spec"]["trafficPolicy"]["outlierDetection"] == {
        "consecutive5xxErrors": 2,
        "maxEjectionPercent": 12,
    }


# ---------------------------------------------------------------------------------------- ambient


def test_ambient_renders_every_feature(yaml_snapshot: SnapshotAssertion) -> None:
    objects = _policy_objects(AMBIENT_APP)
    assert _names(objects) == [
        "Gateway/reviews-waypoint",
        "DestinationRule/reviews",
        "VirtualService/reviews",
        "PeerAuthentication/reviews",
        "AuthorizationPolicy/reviews",
        "AuthorizationPolicy/reviews-ztunnel",
        "PeerAuthentication/ratings",
        "AuthorizationPolicy/ratings",
    ]
    assert render_stream(objects, "yaml") == yaml_snapshot


def test_ambient_waypoint_and_service_enrollment() -> None:
    objects = _policy_objects(AMBIENT_APP)
    gw = _one(objects, "Gateway", "reviews-waypoint")
    assert gw["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert gw["metadata"]["labels"]["istio.io/waypoint-for"] == "service"
    assert gw["spec"] == {
        "gatewayClassName": "istio-waypoint",
        "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}],
    }
    svc = _service(AMBIENT_APP, "istio-ambient", "reviews")
    assert svc["metadata"]["labels"]["istio.io/use-waypoint"] == "reviews-waypoint"
    record = status.read(svc)
    assert record is not None
    assert (record.mode, dict(record.labels), record.created, dict(record.target_ports)) == (
        "istio-ambient",
        {"istio.io/use-waypoint": None},
        ("annotations",),
        {},
    )
    for name in ("ratings", "reviews-v1", "web"):  # no L7 policy, or not the component's Service
        assert (
            "istio.io/use-waypoint" not in _service(AMBIENT_APP, "istio-ambient", name)["metadata"]["labels"]
        )


def test_ambient_l7_policy_at_the_waypoint() -> None:
    objects = _policy_objects(AMBIENT_APP)
    dr = _one(objects, "DestinationRule", "reviews")
    assert dr["spec"]["trafficPolicy"] == {
        "connectionPool": {"tcp": {"maxConnections": 64}, "http": {"http1MaxPendingRequests": 8}},
        "outlierDetection": {"consecutive5xxErrors": 3, "interval": "5s"},
    }
    (route,) = _one(objects, "VirtualService", "reviews")["spec"]["http"]  # no per-caller routes
    assert route == {
        "route": [
            {"destination": {"host": "reviews.shop.svc.cluster.local", "subset": "v1"}, "weight": 90},
            {"destination": {"host": "reviews.shop.svc.cluster.local", "subset": "v2"}, "weight": 10},
        ],
        "timeout": "90s",
        "retries": {
            "attempts": 2,
            "perTryTimeout": "0.250s",
            "retryOn": "gateway-error,retriable-4xx,502",
            "backoff": "0.050s",
        },
        "fault": {"abort": {"httpStatus": 500, "percentage": {"value": 1.5}}},
    }


def test_ambient_authorization_with_and_without_a_waypoint() -> None:
    objects = _policy_objects(AMBIENT_APP)
    # reviews has a waypoint: ztunnel sees the waypoint's identity, so the dependents are allowed at the
    # waypoint and ztunnel admits only the waypoint
    at_waypoint = _one(objects, "AuthorizationPolicy", "reviews")["spec"]
    assert at_waypoint == {
        "targetRefs": [{"group": "", "kind": "Service", "name": "reviews"}],
        "action": "ALLOW",
        "rules": [{"from": [{"source": {"principals": ["prod.example.org/ns/shop/sa/web"]}}]}],
    }
    ztunnel = _one(objects, "AuthorizationPolicy", "reviews-ztunnel")["spec"]
    assert ztunnel["selector"] == {"matchLabels": {"app": "reviews", "app.kubernetes.io/part-of": "shop"}}
    assert ztunnel["rules"] == [
        {"from": [{"source": {"principals": ["prod.example.org/ns/shop/sa/reviews-waypoint"]}}]}
    ]
    # ratings has no L7 policy: an L4 policy with a selector and principals only, on ztunnel
    assert _one(objects, "AuthorizationPolicy", "ratings")["spec"] == {
        "selector": {"matchLabels": {"app": "ratings", "app.kubernetes.io/part-of": "shop"}},
        "action": "ALLOW",
        "rules": [{"from": [{"source": {"principals": ["prod.example.org/ns/shop/sa/reviews"]}}]}],
    }
    assert _one(objects, "PeerAuthentication", "ratings")["spec"]["mtls"] == {"mode": "STRICT"}


def test_ambient_shared_waypoint_is_used_not_emitted(tmp_path: Path) -> None:
    text = AMBIENT_APP.read_text().replace("{trustDomain: prod.example.org}", "{waypoint: shop-waypoint}")
    (tmp_path / "app.yaml").write_text(text)
    objects = _policy_objects(tmp_path / "app.yaml")
    assert not [o for o in objects if o["kind"] == "Gateway"]
    svc = _service(tmp_path / "app.yaml", "istio-ambient", "reviews")
    assert svc["metadata"]["labels"]["istio.io/use-waypoint"] == "shop-waypoint"
    ztunnel = _one(objects, "AuthorizationPolicy", "reviews-ztunnel")["spec"]
    assert ztunnel["rules"][0]["from"][0]["source"]["principals"] == [
        "cluster.local/ns/shop/sa/shop-waypoint"
    ]


def test_ambient_strict_refuses_rate_limit_and_edge_overrides() -> None:
    proc = run_cli("render", str(ISTIO_APP), "--mode", "istio-ambient")
    assert proc.returncode == 1 and proc.stdout == b""
    err = proc.stderr.decode()
    lines = ISTIO_APP.read_text().splitlines()
    rate = next(i for i, t in enumerate(lines, 1) if "rateLimit:" in t)
    deps = next(i for i, t in enumerate(lines, 1) if t == "    dependencies:")
    assert f"app.yaml:{rate}:7: error MF910 istio-ambient cannot enforce rateLimit for 'reviews'" in err
    assert f"app.yaml:{deps}:5: error MF910 istio-ambient cannot enforce dependencies[].traffic" in err
    assert "modes that can: builtin, istio, linkerd, kuma" in err


def test_ambient_best_effort_warns_and_leaves_out() -> None:
    result = render(BEST_EFFORT, "istio-ambient")
    assert result.ok
    warned = sorted((d.code, d.path) for d in result.diagnostics if d.code == "MF911")
    assert warned == [
        ("MF911", "$.spec.components[0].dependencies"),
        ("MF911", "$.spec.components[2].traffic.rateLimit"),
    ]
    objects = [o for o in result.objects if o["kind"] not in CORE_KINDS]
    assert not [o for o in objects if o["kind"] == "EnvoyFilter"]
    assert len(_one(objects, "VirtualService", "reviews")["spec"]["http"]) == 1  # no caller route
    # istio renders all of it from the same model
    assert len(_policy_objects(BEST_EFFORT, "istio")) == 5


# ------------------------------------------------------------------------------ CRD schema validity


@pytest.fixture(scope="module")
def crds() -> Any:
    try:
        return istio_and_gateway_api()
    except Unavailable as exc:
        pytest.skip(str(exc))


CRD_CASES = [
    (ISTIO_APP, "istio"),
    (AMBIENT_APP, "istio-ambient"),
    (APPROXIMATIONS, "istio"),
    (BEST_EFFORT, "istio-ambient"),
]


@pytest.mark.parametrize("app,mode", CRD_CASES, ids=[f"{p.stem}-{m}" for p, m in CRD_CASES])
def test_every_object_validates_against_its_crd(crds: Any, app: Path, mode: str) -> None:
    text = render_stream(_policy_objects(app, mode), "yaml")
    for obj in yaml.safe_load_all(text):  # as the apiserver reads it
        assert crds.errors(obj) == [], f"{obj['kind']}/{obj['metadata']['name']}"


def test_the_crd_check_catches_what_the_apiserver_refuses(crds: Any) -> None:
    vs = _one(_policy_objects(ISTIO_APP), "VirtualService", "reviews")
    vs["spec"]["http"][1]["timeout"] = "0s"  # CEL: at least 1ms
    vs["spec"]["http"][1]["retries"]["retryOn"] = 5  # a string
    vs["spec"]["http"][1]["retry"] = {"attempts": 1}  # no such field
    assert crds.errors(vs) == [
        "spec.http.1.retries.retryOn: 5 is not of type 'string'",
        "spec.http.1.timeout: '0s': must be a valid duration greater than 1ms",
        "spec.http.1: Additional properties are not allowed ('retry' was unexpected)",
    ]
    gw = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "w"},
        "spec": {},
    }
    assert crds.errors(gw) == [
        "spec: 'gatewayClassName' is a required property",
        "spec: 'listeners' is a required property",
    ]


# ------------------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None)
@given(traffic=TRAFFIC, override=TRAFFIC, split=st.booleans(), authz=st.booleans())
def test_any_policy_renders_crd_valid_istio_objects(
    traffic: r.Traffic, override: r.Traffic, split: bool, authz: bool
) -> None:
    """Whatever the model holds, the istio and ambient objects pass their CRDs (durations included)."""
    try:
        crds = istio_and_gateway_api()
    except Unavailable as exc:
        pytest.skip(str(exc))
    port = PolicyPort("http", 9080, "http")
    versions = (
        (
            VersionTarget("v1", 70, "api-v1", {"version": "v1"}),
            VersionTarget("v2", 30, "api-v2", {"version": "v2"}),
        )
        if split
        else ()
    )
    ctx = PolicyContext(
        app="shop",
        component=peer("api"),
        ports=(port,),
        policy=ComponentPolicy(traffic=traffic, authorization=r.ALLOW_DEPENDENTS if authz else None),
        versions=versions,
        dependents=(peer("web"),),
        callers=(CallerEdge(peer("web"), port, override, traffic.overridden_by(override)),),
    )
    for mode in ("istio", "istio-ambient"):
        for obj in yaml.safe_load_all(render_stream(MODES[mode].render_policy(ctx), "yaml")):
            assert crds.errors(obj) == [], (mode, obj)


@settings(max_examples=300, deadline=None)
@given(rate=st.integers(1, 1_000_000), burst=st.none() | st.integers(1, 1_000_000))
def test_token_bucket_keeps_the_rate_exactly(rate: int, burst: int | None) -> None:
    bucket = token_bucket(r.RateLimit(rate, burst))
    assert bucket.fill_interval_ms >= MIN_FILL_MS
    assert bucket.tokens_per_fill * 1000 == rate * bucket.fill_interval_ms  # exactly `rate` per second
    assert bucket.max_tokens == max(burst or rate, bucket.tokens_per_fill)
    assert bucket.burst_raised == ((burst or rate) < bucket.tokens_per_fill)


def test_istio_durations_are_protobuf_style() -> None:
    assert istio_policy._duration(90_000) == "90s"
    assert istio_policy._duration(250) == "0.250s"
    assert istio_policy._duration(0) is None  # off: Istio's CRDs refuse anything under 1ms


# ---------------------------------------------------------------------------------------- switching

# Best-effort: every mode takes what it can, the record keeps the rest. Strict: only to a mode that
# enforces all of it (istio does everything ambient does; the other way is test_strict_transform_refuses).
SWITCH_CASES = [
    *((BEST_EFFORT, a, b) for a in ("istio", "istio-ambient") for b in MODES),
    (AMBIENT_APP, "istio-ambient", "istio"),
]


def _transform(tmp_path: Path, text: str, mode: str, options: dict[str, Any]) -> str:
    """`meshform transform --mode M` with the model's modeOptions in its config (transform takes a
    mode's options from its own config, not from what render was given)."""
    path = tmp_path / f"in-{mode}.yaml"
    path.write_text(text)
    outcome = govern_sources(
        [str(path)], TransformConfig(mode, mode_options=MappingProxyType(options)), DEFAULT
    )
    assert outcome.ok, outcome.diagnostics
    return outcome.text(FAST)


def _rendered(app: Path, mode: str) -> str:
    result = render(app, mode)
    assert result.ok, result.diagnostics
    return render_stream(result.objects, "yaml")


@pytest.mark.parametrize("app,a,b", SWITCH_CASES, ids=[f"{p.stem}-{a}-{b}" for p, a, b in SWITCH_CASES])
def test_switch_away_and_back_is_byte_identical(tmp_path: Path, app: Path, a: str, b: str) -> None:
    """A → B → A on rendered output gives A byte for byte (the status records the neutral policy and
    every object), and A → B is what rendering B gives where B is istio or ambient."""
    options = yaml.safe_load(app.read_text())["spec"].get("modeOptions", {})
    want = _rendered(app, a)
    switched = _transform(tmp_path, want, b, options)
    if b in ("istio", "istio-ambient"):
        assert switched == _rendered(app, b), f"{a} → {b} differs from rendering {b}"
    assert _transform(tmp_path, switched, a, options) == want, f"{a} → {b} → {a} is not {a}"


def test_switch_on_the_command_line(tmp_path: Path) -> None:
    """The same through the real CLI: ambient → istio drops the waypoint and the Service's label."""
    ambient = run_cli("render", str(BEST_EFFORT), "--mode", "istio-ambient")
    assert ambient.returncode == 0, ambient.stderr.decode()
    (tmp_path / "a.yaml").write_bytes(ambient.stdout)
    istio = run_cli("transform", str(tmp_path / "a.yaml"), "--mode", "istio")
    assert istio.returncode == 0, istio.stderr.decode()
    assert b"istio-waypoint" not in istio.stdout and b"use-waypoint" not in istio.stdout
    assert b"kind: VirtualService" in istio.stdout and b"kind: EnvoyFilter" in istio.stdout
    (tmp_path / "b.yaml").write_bytes(istio.stdout)
    back = run_cli("transform", str(tmp_path / "b.yaml"), "--mode", "istio-ambient")
    assert back.returncode == 0 and back.stdout == ambient.stdout


def test_strict_transform_refuses(tmp_path: Path) -> None:
    """The record remembers `strict`: transforming rendered istio output to ambient refuses the rate
    limit and the caller's override, located at the owning workloads, and writes nothing."""
    (tmp_path / "a.yaml").write_text(_rendered(ISTIO_APP, "istio"))
    proc = run_cli("transform", str(tmp_path / "a.yaml"), "--mode", "istio-ambient")
    assert proc.returncode == 1 and proc.stdout == b""
    err = proc.stderr.decode()
    assert "error MF910 istio-ambient cannot enforce rateLimit for Deployment/shop/reviews-v1" in err
    assert "error MF910 istio-ambient cannot enforce dependencies[].traffic for Deployment/shop/web" in err


@pytest.mark.parametrize(
    "labels",
    [None, {"istio.io/use-waypoint": "theirs", "team": "a"}],
    ids=["service-without-labels", "service-with-its-own-waypoint-label"],
)
def test_service_enrollment_is_undone_exactly(tmp_path: Path, labels: dict[str, str] | None) -> None:
    """The waypoint label on a Service is recorded with the value it replaced (or that there was no
    label map at all), so leaving ambient gives the Service back as it was."""
    objects = list(yaml.safe_load_all(_rendered(BEST_EFFORT, "istio")))
    svc = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "reviews")
    del svc["metadata"]["labels"]
    if labels is not None:
        svc["metadata"]["labels"] = labels
    before = render_stream(objects, "yaml")
    ambient = _transform(tmp_path, before, "istio-ambient", {})
    enrolled = next(
        o
        for o in yaml.safe_load_all(ambient)
        if o["kind"] == "Service" and o["metadata"]["name"] == "reviews"
    )
    assert enrolled["metadata"]["labels"] == {**(labels or {}), "istio.io/use-waypoint": "reviews-waypoint"}
    assert _transform(tmp_path, ambient, "istio", {}) == before


def test_govern_switches_the_service_label_too() -> None:
    """The application-model path (render's govern) re-governs the same Service in place."""
    from meshform.core.expand import expand
    from meshform.core.govern import GovernOptions, govern
    from meshform.model import application as model
    from meshform.model.semantics import Locator
    from meshform.yamlio.reader import read_file

    doc = read_file(str(BEST_EFFORT))[0]
    app = model.build(doc.data)
    expansion = expand(app)

    def governed(mode: str) -> str:
        objects, _ = govern(app, expansion, DEFAULT, GovernOptions(mode), Locator(doc))
        return render_stream(objects, "yaml")

    ambient = governed("istio-ambient")
    assert "istio.io/use-waypoint: reviews-waypoint" in ambient
    assert "use-waypoint" not in governed("istio")
    assert governed("istio-ambient") == ambient


@pytest.mark.parametrize(
    "recorded,labels,problem",
    [
        (
            {"team": None},
            {"team": "a"},
            "records label 'team', which mode 'istio-ambient' never puts on a Service",
        ),
        (
            {"istio.io/use-waypoint": None},
            {},
            "records label 'istio.io/use-waypoint', which the Service does not have",
        ),
    ],
    ids=["not-a-service-key", "label-gone"],
)
def test_a_forged_service_record_removes_nothing(
    tmp_path: Path, recorded: dict[str, Any], labels: dict[str, str], problem: str
) -> None:
    """A Service's record is checked before its labels are removed on its word (MF251)."""
    objects = list(yaml.safe_load_all(_rendered(BEST_EFFORT, "istio-ambient")))
    svc = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "reviews")
    svc["metadata"]["labels"] = labels
    record = {"mode": "istio-ambient", "version": "0.1.0", "labels": recorded}
    svc["metadata"]["annotations"][status.STATUS] = json.dumps(record)
    path = tmp_path / "in.yaml"
    path.write_text(render_stream(objects, "yaml"))
    outcome = govern_sources([str(path)], TransformConfig("istio"), DEFAULT)
    errors = [d for d in outcome.diagnostics if d.code == "MF251"]
    assert errors and problem in errors[0].message
