"""Traffic policy in the linkerd, kuma, consul and kubernetes-native modes: the objects and Service
annotations, their fields and units, their CRD schemas (and Kuma's admission rules), switching with
them, and what each mode refuses, leaves out or only approximates."""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml
from conftest import ROOT, render, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from k8s_schema import validate_manifest
from syrupy.assertion import SnapshotAssertion

from meshform.core import status
from meshform.core.workloads import pod_template
from meshform.frontends.emit import render_stream
from meshform.frontends.pipeline import govern_sources
from meshform.model.config import TransformConfig
from meshform.modes import DEFAULT, MODES, kuma_policy, linkerd_policy
from meshform.modes.policy_objects import int_or_string_percent, whole_cap, whole_share
from meshform.policy import records as r
from meshform.policy.context import ComponentPolicy, Edge, PolicyContext, PolicyPort, VersionTarget
from meshform.policy.durations import parse_ms
from meshform.yamlio.streams import FAST
from tests.policy.crds import Unavailable, istio_and_gateway_api, vendored
from tests.policy.kuma_admission import admission_errors
from tests.policy.samples import PERCENT, TRAFFIC, peer

FIXTURES = ROOT / "tests" / "fixtures" / "policy" / "others"
APP = FIXTURES / "app.yaml"  # every feature, best-effort, kuma mesh `payments`, consul enterprise
OPTIONS = {"kuma": {"mesh": "payments"}, "consul": {"enterprise": True}}
MODES_HERE = ("linkerd", "kuma", "consul", "kubernetes-native")
CORE_KINDS = {"ServiceAccount", "Service", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
LABELS = {
    "app.kubernetes.io/managed-by": "meshform",
    "app.kubernetes.io/part-of": "shop",
}


def _rendered(app: Path, mode: str) -> list[dict[str, Any]]:
    result = render(app, mode)
    assert result.ok, result.diagnostics
    return result.objects


def _policy_objects(app: Path, mode: str) -> list[dict[str, Any]]:
    return [o for o in _rendered(app, mode) if o["kind"] not in CORE_KINDS]


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, [f"{o['kind']}/{o['metadata']['name']}" for o in objects]
    return found[0]


def _names(objects: list[dict[str, Any]]) -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in objects]


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    notes = obj["metadata"].get("annotations") or {}
    return {k: v for k, v in notes.items() if k != status.STATUS}


STRICT = ("policyEnforcement: best-effort", "policyEnforcement: strict")


def _variant(tmp_path: Path, *edits: tuple[str, str], source: Path = APP) -> Path:
    """`source` with each (old, new) edit made in turn (each old must be there), as tmp_path/app.yaml."""
    text = source.read_text()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "app.yaml"
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------- linkerd

LINKERD_SERVICE = {
    "timeout.linkerd.io/request": "90s",  # 1m30s: Linkerd's parser takes one number and one unit
    "retry.linkerd.io/limit": "3",
    "retry.linkerd.io/http": "5xx,503",  # reset and connect-failure are not selectable
    "retry.linkerd.io/timeout": "500ms",
    "balancer.linkerd.io/failure-accrual": "consecutive",
    "balancer.linkerd.io/failure-accrual-consecutive-max-failures": "5",
    "balancer.linkerd.io/failure-accrual-consecutive-min-penalty": "2m",
    "balancer.linkerd.io/failure-accrual-consecutive-max-penalty": "2m",  # over the 1m default max
}


def test_linkerd_annotates_every_service_of_the_component() -> None:
    services = {o["metadata"]["name"]: o for o in _rendered(APP, "linkerd") if o["kind"] == "Service"}
    for name in ("reviews", "reviews-v1", "reviews-v2"):
        assert _annotations(services[name]) == LINKERD_SERVICE, name
        record = status.read(services[name])
        assert record is not None and set(record.annotations) == set(LINKERD_SERVICE)
        assert all(prior is None for prior in record.annotations.values())
    assert _annotations(services["web"]) == {}  # web's own traffic is empty; its edge is refused
    assert "annotations" not in services["ratings"]["metadata"]  # authorization only: no Service keys


def test_linkerd_objects() -> None:
    objects = _policy_objects(APP, "linkerd")
    assert _names(objects) == [
        "HTTPRoute/reviews-http",
        "Server/reviews-http",
        "AuthorizationPolicy/reviews-http",
        "HTTPLocalRateLimitPolicy/reviews-http",
        "Server/reviews-admin",
        "AuthorizationPolicy/reviews-admin",
        "MeshTLSAuthentication/reviews",
        "Server/ratings-grpc",
        "AuthorizationPolicy/ratings-grpc",
        "MeshTLSAuthentication/ratings",
    ]
    for obj in objects:
        assert obj["metadata"]["namespace"] == "shop"
        assert obj["metadata"]["labels"].items() >= LABELS.items()
    route = _one(objects, "HTTPRoute", "reviews-http")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"] == {
        "parentRefs": [{"group": "core", "kind": "Service", "name": "reviews", "port": 9080}],
        "rules": [
            {
                "backendRefs": [
                    {"name": "reviews-v1", "port": 9080, "weight": 80},
                    {"name": "reviews-v2", "port": 9080, "weight": 20},
                ]
            }
        ],
    }
    server = _one(objects, "Server", "reviews-http")
    assert server["apiVersion"] == "policy.linkerd.io/v1beta3"
    assert server["spec"] == {
        "podSelector": {"matchLabels": {"app": "reviews", "app.kubernetes.io/part-of": "shop"}},
        "port": 9080,
        "accessPolicy": "deny",  # only the dependents, through the AuthorizationPolicy
        "proxyProtocol": "HTTP/1",
    }
    assert "proxyProtocol" not in _one(objects, "Server", "reviews-admin")["spec"]  # tcp: detected
    assert _one(objects, "Server", "ratings-grpc")["spec"]["proxyProtocol"] == "gRPC"
    authz = _one(objects, "AuthorizationPolicy", "reviews-admin")
    assert authz["apiVersion"] == "policy.linkerd.io/v1alpha1"
    assert authz["spec"] == {
        "targetRef": {"group": "policy.linkerd.io", "kind": "Server", "name": "reviews-admin"},
        "requiredAuthenticationRefs": [
            {"group": "policy.linkerd.io", "kind": "MeshTLSAuthentication", "name": "reviews"}
        ],
    }
    # The dependents' ServiceAccounts, a Job's among them (it has no Service).
    assert _one(objects, "MeshTLSAuthentication", "reviews")["spec"] == {
        "identityRefs": [
            {"kind": "ServiceAccount", "name": "loadgen"},
            {"kind": "ServiceAccount", "name": "web"},
        ]
    }
    assert _one(objects, "HTTPLocalRateLimitPolicy", "reviews-http")["spec"] == {
        "targetRef": {"group": "policy.linkerd.io", "kind": "Server", "name": "reviews-http"},
        "total": {"requestsPerSecond": 100},
    }


def _ctx(
    traffic: r.Traffic, authorization: str | None = None, dependents: tuple[str, ...] = ("web",)
) -> PolicyContext:
    """Component `api` of `shop` with one HTTP port and this policy, depended on by `dependents`."""
    return PolicyContext(
        app="shop",
        component=peer("api"),
        ports=(PolicyPort("http", 8080, "http"),),
        policy=ComponentPolicy(traffic=traffic, authorization=authorization),
        dependents=tuple(peer(name) for name in dependents),
    )


def test_linkerd_says_no_retries_by_saying_nothing() -> None:
    """Linkerd reads `retry.linkerd.io/limit: "0"` as unset (then 1 retry); its default is none."""
    none = linkerd_policy.service_annotations(_ctx(r.Traffic(retries=r.Retries(0, 200, ("5xx",)))))
    assert none == {}
    on_errors_only = r.Traffic(retries=r.Retries(2, None, ("reset", "connect-failure")))
    assert linkerd_policy.service_annotations(_ctx(on_errors_only)) == {"retry.linkerd.io/limit": "2"}
    retriable_4xx = r.Traffic(retries=r.Retries(1, None, ("retriable-4xx", "gateway-error", "429")))
    assert linkerd_policy.service_annotations(_ctx(retriable_4xx))["retry.linkerd.io/http"] == (
        "409,gateway-error,429"
    )


def test_linkerd_rate_limit_alone_opens_its_server() -> None:
    """A Server denies every client it does not authorize; a rate limit must not add authorization."""
    objects = linkerd_policy.render(_ctx(r.Traffic(rate_limit=r.RateLimit(5))))
    assert _names(objects) == ["Server/api-http", "HTTPLocalRateLimitPolicy/api-http"]
    assert objects[0]["spec"]["accessPolicy"] == "all-unauthenticated"


def test_linkerd_dependents_without_callers_deny_everyone() -> None:
    ctx = _ctx(r.Traffic(), r.ALLOW_DEPENDENTS, dependents=())
    assert _names(linkerd_policy.render(ctx)) == ["Server/api-http"]  # deny, and nobody allowed


@pytest.mark.parametrize(
    "ms,text", [(90_000, "90s"), (1_500, "1500ms"), (7_200_000, "2h"), (120_000, "2m"), (0, "0ms")]
)
def test_linkerd_durations_are_one_number_and_one_unit(ms: int, text: str) -> None:
    assert linkerd_policy.duration(ms) == text


@given(st.integers(min_value=0, max_value=365 * 24 * 3_600_000))
def test_linkerd_durations_keep_every_millisecond(ms: int) -> None:
    text = linkerd_policy.duration(ms)
    assert re.fullmatch(r"[0-9]+(ms|s|m|h)", text)
    assert parse_ms(text) == ms


# ---------------------------------------------------------------------------------------------- kuma

KUMA_REVIEWS = {"kind": "MeshService", "name": "reviews_shop_svc_9080"}
REVIEWS_PODS = {"kind": "Dataplane", "labels": {"app": "reviews", "app.kubernetes.io/part-of": "shop"}}


def test_kuma_objects() -> None:
    objects = _policy_objects(APP, "kuma")
    assert _names(objects) == [
        "MeshTimeout/web-to-reviews",
        "MeshRetry/web-to-reviews",
        "MeshFaultInjection/web-to-reviews",
        "MeshTimeout/reviews",
        "MeshRetry/reviews",
        "MeshCircuitBreaker/reviews",
        "MeshFaultInjection/reviews",
        "MeshRateLimit/reviews",
        "MeshHTTPRoute/reviews",
        "MeshTrafficPermission/reviews",
        "MeshTrafficPermission/ratings",
    ]
    for obj in objects:
        assert obj["apiVersion"] == "kuma.io/v1alpha1"
        assert obj["metadata"]["labels"]["kuma.io/mesh"] == "payments"
    timeout = _one(objects, "MeshTimeout", "reviews")["spec"]
    assert timeout == {
        "targetRef": {"kind": "Mesh"},  # every caller's proxy
        "to": [{"targetRef": KUMA_REVIEWS, "default": {"http": {"requestTimeout": "1m30s"}}}],
    }
    retry = _one(objects, "MeshRetry", "reviews")["spec"]["to"][0]["default"]["http"]
    assert retry == {
        "numRetries": 3,
        "perTryTimeout": "500ms",
        "backOff": {"baseInterval": "25ms", "maxInterval": "250ms"},
        "retryOn": ["5xx", "Reset", "ConnectFailure", "503"],
    }
    breaker = _one(objects, "MeshCircuitBreaker", "reviews")["spec"]
    assert [t["targetRef"]["name"] for t in breaker["to"]] == [
        "reviews_shop_svc_9080",
        "reviews_shop_svc_9100",  # the tcp port too: limits and ejection are L4
    ]
    assert breaker["to"][0]["default"] == {
        "connectionLimits": {
            "maxConnections": 100,
            "maxPendingRequests": 10,
            "maxRequests": 100,
            "maxRetries": 3,
        },
        "outlierDetection": {
            "disabled": False,
            "interval": "10s",
            "baseEjectionTime": "2m",
            "maxEjectionPercent": 12,  # 12.5: Kuma takes whole percents (MF930)
            "detectors": {"totalFailures": {"consecutive": 5}},
        },
    }
    fault = _one(objects, "MeshFaultInjection", "reviews")["spec"]
    assert fault == {
        "targetRef": REVIEWS_PODS,  # applied on the provider's inbound side
        "from": [
            {
                "targetRef": {"kind": "Mesh"},
                "default": {
                    "http": [
                        {
                            "delay": {"value": "2s", "percentage": 10},
                            "abort": {"httpStatus": 503, "percentage": "0.5"},  # int-or-string
                        }
                    ]
                },
            }
        ],
    }
    limit = _one(objects, "MeshRateLimit", "reviews")["spec"]["from"][0]["default"]["local"]["http"]
    # 100/s with bursts of 20: 20 requests every 200ms
    assert limit == {"requestRate": {"num": 20, "interval": "200ms"}, "onRateLimit": {"status": 429}}
    route = _one(objects, "MeshHTTPRoute", "reviews")["spec"]
    assert route["targetRef"] == {"kind": "Mesh"}
    assert route["to"] == [
        {
            "targetRef": KUMA_REVIEWS,
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "default": {
                        "backendRefs": [
                            {"kind": "MeshService", "name": "reviews-v1_shop_svc_9080", "weight": 80},
                            {"kind": "MeshService", "name": "reviews-v2_shop_svc_9080", "weight": 20},
                        ]
                    },
                }
            ],
        }
    ]
    permission = _one(objects, "MeshTrafficPermission", "reviews")["spec"]
    assert permission == {
        "targetRef": REVIEWS_PODS,
        "from": [
            {"targetRef": {"kind": "Mesh"}, "default": {"action": "Deny"}},
            *(
                {
                    "targetRef": {
                        "kind": "MeshSubset",
                        "tags": {
                            "app": caller,
                            "app.kubernetes.io/part-of": "shop",
                            "k8s.kuma.io/namespace": "shop",
                        },
                    },
                    "default": {"action": "Allow"},
                }
                for caller in ("loadgen", "web")
            ),
        ],
    }


def test_kuma_edge_overrides_target_the_callers_proxies() -> None:
    objects = _policy_objects(APP, "kuma")
    web = {"kind": "Dataplane", "labels": {"app": "web", "app.kubernetes.io/part-of": "shop"}}
    timeout = _one(objects, "MeshTimeout", "web-to-reviews")["spec"]
    assert timeout == {
        "targetRef": web,
        "to": [{"targetRef": KUMA_REVIEWS, "default": {"http": {"requestTimeout": "1s"}}}],
    }
    # attempts: 0 is said (Kuma's default policy retries 5 times); the provider's other fields stay.
    retry = _one(objects, "MeshRetry", "web-to-reviews")["spec"]["to"][0]["default"]["http"]
    assert retry["numRetries"] == 0 and retry["perTryTimeout"] == "500ms"
    fault = _one(objects, "MeshFaultInjection", "web-to-reviews")["spec"]
    assert fault["targetRef"] == REVIEWS_PODS
    assert fault["from"][0]["targetRef"]["tags"]["app"] == "web"
    assert fault["from"][0]["default"]["http"][0]["abort"] == {"httpStatus": 500, "percentage": 1}


def test_kuma_real_mesh_services(tmp_path: Path) -> None:
    app = _variant(tmp_path, ("kuma: {mesh: payments}", "kuma: {mesh: payments, meshServices: Exclusive}"))
    objects = _policy_objects(app, "kuma")
    ref = {"kind": "MeshService", "name": "reviews", "namespace": "shop", "sectionName": "http"}
    assert _one(objects, "MeshTimeout", "reviews")["spec"]["to"][0]["targetRef"] == ref
    backends = _one(objects, "MeshHTTPRoute", "reviews")["spec"]["to"][0]["rules"][0]["default"][
        "backendRefs"
    ]
    assert backends[0] == {
        "kind": "MeshService",
        "name": "reviews-v1",
        "namespace": "shop",
        "port": 9080,
        "weight": 80,
    }


def test_kuma_http2_ports_say_their_protocol(tmp_path: Path) -> None:
    """`appProtocol: kubernetes.io/h2c` is unknown to Kuma, which would treat the port as tcp."""
    app = _variant(
        tmp_path,
        ("{name: http, port: 9080}, {name: admin", "{name: h2, port: 9080, protocol: http2}, {name: admin"),
    )
    services = {o["metadata"]["name"]: o for o in _rendered(app, "kuma") if o["kind"] == "Service"}
    for name in ("reviews", "reviews-v1", "reviews-v2"):
        assert _annotations(services[name]) == {"9080.service.kuma.io/protocol": "http2"}


@pytest.mark.parametrize(
    "rate,burst,num,interval",
    [(100, None, 100, "1s"), (100, 20, 20, "200ms"), (1000, 20, 1000, "1s"), (3, 2, 2, "667ms")],
)
def test_kuma_rate_limit_bucket(rate: int, burst: int | None, num: int, interval: str) -> None:
    conf = kuma_policy._rate_conf(r.Traffic(rate_limit=r.RateLimit(rate, burst)))
    assert conf["local"]["http"]["requestRate"] == {"num": num, "interval": interval}


# -------------------------------------------------------------------------------------------- consul


def test_consul_objects() -> None:
    objects = _policy_objects(APP, "consul")
    assert _names(objects) == [
        "ServiceDefaults/web",
        "ServiceDefaults/reviews",
        "ServiceRouter/reviews",
        "ServiceResolver/reviews",
        "ServiceSplitter/reviews",
        "ServiceIntentions/reviews",
        "ServiceDefaults/ratings",
        "ServiceIntentions/ratings",
        "ServiceDefaults/loadgen",
    ]
    upstream = {
        "name": "reviews",
        "limits": {"maxConnections": 100, "maxPendingRequests": 10, "maxConcurrentRequests": 100},
        "passiveHealthCheck": {
            "interval": "10s",
            "maxFailures": 5,
            "baseEjectionTime": "2m",
            "maxEjectionPercent": 12,
        },
    }
    # Circuit breaking is the callers' setting in Consul, on their own ServiceDefaults.
    assert _one(objects, "ServiceDefaults", "web")["spec"] == {
        "protocol": "http",
        "upstreamConfig": {"overrides": [upstream]},
    }
    assert _one(objects, "ServiceDefaults", "loadgen")["spec"]["upstreamConfig"]["overrides"] == [upstream]
    assert _one(objects, "ServiceDefaults", "reviews")["spec"] == {
        "protocol": "http",
        "envoyExtensions": [
            {
                "name": "builtin/fault-injection",
                "arguments": {
                    "config": {
                        "delay": {"duration": 2000, "percentage": 10},  # milliseconds
                        "abort": {"httpStatus": 503, "percentage": 1},  # 0.5: whole percents (MF930)
                    }
                },
            }
        ],
        "rateLimits": {"instanceLevel": {"requestsPerSecond": 100, "requestsMaxBurst": 20}},
    }
    assert _one(objects, "ServiceDefaults", "ratings")["spec"] == {"protocol": "grpc"}
    assert _one(objects, "ServiceRouter", "reviews")["spec"] == {
        "routes": [
            {
                "match": {"http": {"pathPrefix": "/"}},
                "destination": {
                    "requestTimeout": "1m30s",
                    "numRetries": 3,
                    "retryOn": ["5xx", "reset"],
                    "retryOnStatusCodes": [503],
                    "retryOnConnectFailure": True,
                },
            }
        ]
    }
    assert _one(objects, "ServiceResolver", "reviews")["spec"] == {
        "subsets": {
            "v1": {"filter": 'Service.Meta.version == "v1"'},
            "v2": {"filter": 'Service.Meta.version == "v2"'},
        }
    }
    assert _one(objects, "ServiceSplitter", "reviews")["spec"] == {
        "splits": [{"weight": 80, "serviceSubset": "v1"}, {"weight": 20, "serviceSubset": "v2"}]
    }
    assert _one(objects, "ServiceIntentions", "reviews")["spec"] == {
        "destination": {"name": "reviews"},
        "sources": [
            {"name": "loadgen", "action": "allow"},
            {"name": "web", "action": "allow"},
            {"name": "*", "action": "deny"},  # whatever the ACL default policy is
        ],
    }


def test_consul_pods_carry_their_version_as_service_metadata() -> None:
    pods = {
        o["metadata"]["name"]: pod_template(o) for o in _rendered(APP, "consul") if o["kind"] == "Deployment"
    }
    for version in ("v1", "v2"):
        template = pods[f"reviews-{version}"]
        assert template is not None
        notes = _annotations(template)
        assert notes["consul.hashicorp.com/service-meta-version"] == version
        assert notes["consul.hashicorp.com/kubernetes-service"] == "reviews"  # not reviews-v1 too
        record = status.read(template)
        assert record is not None and "consul.hashicorp.com/service-meta-version" in record.annotations
    assert "consul.hashicorp.com/service-meta-version" not in _annotations(pods["web"] or {})


def test_consul_attempts_zero_builds_no_retry_policy() -> None:
    from meshform.modes import consul_policy

    ctx = _ctx(r.Traffic(timeout_ms=250, retries=r.Retries(0, None, ("5xx", "connect-failure"))))
    router = _one(consul_policy.render(ctx), "ServiceRouter", "api")
    assert router["spec"]["routes"][0]["destination"] == {"requestTimeout": "250ms", "numRetries": 0}
    # attempts without conditions: Consul would retry nothing; connect failures are always safe
    ctx = _ctx(r.Traffic(retries=r.Retries(2)))
    router = _one(consul_policy.render(ctx), "ServiceRouter", "api")
    assert router["spec"]["routes"][0]["destination"] == {"numRetries": 2, "retryOnConnectFailure": True}


def test_consul_without_enterprise_refuses_faults_and_rate_limits(tmp_path: Path) -> None:
    app = _variant(tmp_path, STRICT, ("consul: {enterprise: true}", "consul: {enterprise: false}"))
    result = run_cli("render", str(app), "--mode", "consul")
    assert result.returncode == 1 and result.stdout == b""
    err = result.stderr.decode()
    assert f"{app}:33:24: error MF910 consul cannot enforce faultInjection.delay for 'reviews' " in err
    assert (
        "(needs modeOptions.consul.enterprise: true); modes that can: builtin, istio, istio-ambient, kuma"
        in err
    )
    assert f"{app}:34:7: error MF910 consul cannot enforce rateLimit for 'reviews'" in err


# ---------------------------------------------------------------------------------- kubernetes-native


def test_native_network_policy_from_the_dependents_pods() -> None:
    objects = _policy_objects(APP, "kubernetes-native")
    assert _names(objects) == ["NetworkPolicy/reviews", "NetworkPolicy/ratings"]
    policy = _one(objects, "NetworkPolicy", "reviews")
    assert policy["apiVersion"] == "networking.k8s.io/v1"
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {"app": "reviews", "app.kubernetes.io/part-of": "shop"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {"podSelector": {"matchLabels": {"app": "loadgen", "app.kubernetes.io/part-of": "shop"}}},
                    {"podSelector": {"matchLabels": {"app": "web", "app.kubernetes.io/part-of": "shop"}}},
                ],
                "ports": [{"protocol": "TCP", "port": 9080}, {"protocol": "TCP", "port": 9100}],
            }
        ],
    }
    for obj in objects:
        assert validate_manifest(obj) == []


def test_native_warns_that_a_network_policy_is_not_identity(tmp_path: Path) -> None:
    result = run_cli("render", str(APP), "--mode", "kubernetes-native")
    assert result.returncode == 0
    lines = [line for line in result.stderr.decode().splitlines() if "MF940" in line]
    assert lines == [  # once per component, at its authorization, whatever its number of versions
        f"{APP}:35:5: warning MF940 kubernetes-native enforces authorization of 'reviews' with a "
        "NetworkPolicy: by pod labels at L3/L4, not by workload identity, and only where the cluster's "
        "CNI enforces NetworkPolicy [$.spec.components[1].authorization]",
        f"{APP}:41:5: warning MF940 kubernetes-native enforces authorization of 'ratings' with a "
        "NetworkPolicy: by pod labels at L3/L4, not by workload identity, and only where the cluster's "
        "CNI enforces NetworkPolicy [$.spec.components[2].authorization]",
    ]


def test_native_dependents_without_callers_admit_nothing() -> None:
    ctx = _ctx(r.Traffic(), r.ALLOW_DEPENDENTS, dependents=())
    (policy,) = MODES["kubernetes-native"].render_policy(ctx)
    assert policy["spec"]["ingress"] == []


# ------------------------------------------------------------------ strict refusal, best-effort, MF930


def test_strict_refuses_what_each_mode_cannot_do(tmp_path: Path) -> None:
    app = _variant(tmp_path, STRICT)
    expected = {
        "linkerd": [
            ":18:5: error MF910 linkerd cannot enforce dependencies[].traffic for 'web'",
            ":31:7: error MF910 linkerd cannot enforce circuitBreaker for 'reviews' (Linkerd has no "
            "connection or request limits); modes that can: builtin, istio, istio-ambient, kuma, consul",
            ":33:24: error MF910 linkerd cannot enforce faultInjection.delay for 'reviews'",
        ],
        "kuma": [],
        "consul": [":18:5: error MF910 consul cannot enforce dependencies[].traffic for 'web'"],
        "kubernetes-native": [":29:7: error MF910 kubernetes-native cannot enforce timeout for 'reviews'"],
    }
    for mode, errors in expected.items():
        result = run_cli("render", str(app), "--mode", mode)
        err = result.stderr.decode()
        assert result.returncode == (1 if errors else 0), (mode, err)
        for error in errors:
            assert f"{app}{error}" in err, (mode, err)
        if errors:
            assert result.stdout == b""


def test_kuma_refuses_a_rate_limit_for_one_caller(tmp_path: Path) -> None:
    app = _variant(
        tmp_path, ("timeout: 1s\n", "timeout: 1s\n        rateLimit: {requestsPerSecond: 5}\n"), STRICT
    )
    result = run_cli("render", str(app), "--mode", "kuma")
    assert result.returncode == 1
    assert (
        f"{app}:22:9: error MF910 kuma cannot enforce rateLimit for one caller alone ('web')"
        in result.stderr.decode()
    )


def test_best_effort_warns_and_renders(tmp_path: Path) -> None:
    result = run_cli("render", str(APP), "--mode", "linkerd")
    err = result.stderr.decode()
    assert result.returncode == 0 and result.stdout
    assert f"{APP}:31:7: warning MF911 linkerd cannot enforce circuitBreaker for 'reviews'" in err
    assert "; left out (best-effort)" in err


A, R = "MF930", "MF920"  # approximated (cannot be said), rounded
# What a mode cannot carry at all is MF931/MF932 from the model checks (test_policy_values.py), not
# a renderer's approximation.
APPROXIMATED = {
    "linkerd": [],
    "kuma": [(R, "Kuma takes a whole maxEjectionPercent: 12.5 becomes 12")],
    "consul": [
        # web's and loadgen's upstream settings towards reviews, then reviews' own
        (R, "Consul takes a whole maxEjectionPercent: 12.5 towards reviews becomes 12"),
        (R, "Consul takes whole percents: faultInjection.abort 0.5% becomes 1%"),
        (R, "Consul takes a whole maxEjectionPercent: 12.5 towards reviews becomes 12"),
    ],
    "kubernetes-native": [],
}


@pytest.mark.parametrize("mode", MODES_HERE)
def test_approximations_are_said_once_per_component(mode: str) -> None:
    result = render(APP, mode)
    found = [(d.code, d.message) for d in result.diagnostics if d.code in (A, R)]
    assert sorted(found) == sorted(APPROXIMATED[mode])
    assert all(d.level == "warning" for d in result.diagnostics if d.code in (A, R))


# -------------------------------------------------------------------------- CRD schemas and admission


def _catalogue(mode: str) -> Any:
    return {"linkerd": vendored("linkerd"), "kuma": vendored("kuma"), "consul": vendored("consul")}.get(mode)


def _check(mode: str, objects: list[dict[str, Any]]) -> None:
    for obj in yaml.safe_load_all(render_stream(objects, "yaml")):  # as the apiserver reads it
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if mode == "kubernetes-native":
            assert validate_manifest(obj) == [], where
            continue
        assert _catalogue(mode).errors(obj) == [], where
        if mode == "kuma":
            assert admission_errors(obj) == [], where


@pytest.mark.parametrize("mode", MODES_HERE)
def test_every_object_validates_against_its_crd(mode: str, tmp_path: Path) -> None:
    _check(mode, _policy_objects(APP, mode))
    real = _variant(tmp_path, ("kuma: {mesh: payments}", "kuma: {mesh: payments, meshServices: Everywhere}"))
    _check(mode, _policy_objects(real, mode))


def test_linkerd_http_route_validates_against_gateway_api_v1_6_3() -> None:
    try:
        crds = istio_and_gateway_api()
    except Unavailable as exc:
        pytest.skip(str(exc))
    for obj in _policy_objects(APP, "linkerd"):
        if obj["kind"] == "HTTPRoute":
            assert crds.errors(obj) == []


def test_the_checks_catch_what_the_meshes_refuse() -> None:
    server = _one(_policy_objects(APP, "linkerd"), "Server", "reviews-http")
    del server["spec"]["podSelector"]  # oneOf: podSelector or externalWorkloadSelector
    server["spec"]["proxy"] = "HTTP/1"
    assert vendored("linkerd").errors(server) == [
        "spec: Additional properties are not allowed ('proxy' was unexpected)",
        "spec: {'port': 9080, 'accessPolicy': 'deny', 'proxyProtocol': 'HTTP/1', 'proxy': 'HTTP/1'} is not "
        "valid under any of the given schemas",
    ]
    defaults = _one(_policy_objects(APP, "consul"), "ServiceDefaults", "web")
    defaults["spec"]["upstreamConfig"]["overrides"][0]["limits"]["maxConnections"] = "100"
    assert vendored("consul").errors(defaults) == [
        "spec.upstreamConfig.overrides.0.limits.maxConnections: '100' is not of type 'integer'"
    ]
    retry = _one(_policy_objects(APP, "kuma"), "MeshRetry", "reviews")
    retry["spec"]["from"] = [{"targetRef": {"kind": "MeshSubset", "name": "x"}, "default": {}}]
    retry["spec"]["to"][0]["default"]["http"]["retryOn"].append("599")
    assert admission_errors(retry) == [
        "spec: it's not allowed to mix 'to' and 'from' arrays in the same policy",
        "spec.to[0].default.http.retryOn: unknown item '599'",
        "spec.from[0].targetRef.kind: 'MeshSubset' is not supported here ([])",
        "spec.from[0].default: must configure something",
    ]


@settings(max_examples=150, deadline=None)
@given(traffic=TRAFFIC, override=TRAFFIC, split=st.booleans(), authz=st.booleans(), real=st.booleans())
def test_any_policy_renders_valid_objects(
    traffic: r.Traffic, override: r.Traffic, split: bool, authz: bool, real: bool
) -> None:
    """Whatever the model holds, every object passes its CRD (and Kuma's admission), every Linkerd
    annotation parses as Linkerd parses it."""
    http, tcp = PolicyPort("http", 9080, "http"), PolicyPort("db", 5432, "tcp")
    versions = (
        (
            VersionTarget("v1", 70, "api-v1", {"version": "v1"}),
            VersionTarget("v2", 30, "api-v2", {"version": "v2"}),
        )
        if split
        else ()
    )
    effective = traffic.overridden_by(override)
    for mode in MODES_HERE:
        options = {"enterprise": True} if mode == "consul" else {"meshServices": "Exclusive"} if real else {}
        ctx = PolicyContext(
            app="shop",
            component=peer("api"),
            ports=(http, tcp),
            policy=ComponentPolicy(traffic=traffic, authorization=r.ALLOW_DEPENDENTS if authz else None),
            versions=versions,
            dependents=(peer("web"), peer("batch")),
            edges=(Edge(peer("reviews"), http, override, effective),),
            options=MappingProxyType(options),
        )
        _check(mode, MODES[mode].render_policy(ctx))
    for key, value in linkerd_policy.service_annotations(_ctx(traffic)).items():
        if key.endswith(("timeout", "request", "penalty")):  # Linkerd's parser: one number, one unit
            assert re.fullmatch(r"[0-9]+(ms|s|m|h)", value), (key, value)


@given(PERCENT)
def test_percent_conversions(percent: float) -> None:
    text = int_or_string_percent(percent)
    assert float(text) == percent and "e" not in str(text)
    assert whole_cap(percent) <= percent < whole_cap(percent) + 1
    assert abs(whole_share(percent) - percent) <= 0.5 or (0 < percent < 0.5 and whole_share(percent) == 1)


# --------------------------------------------------------------------------------------------- switching


def _transform(tmp_path: Path, text: str, mode: str) -> str:
    """`meshform transform` with a config carrying the model's modeOptions (transform takes a mode's
    options from its own config)."""
    path = tmp_path / f"in-{mode}.yaml"
    path.write_text(text)
    config = TransformConfig(mode, mode_options=MappingProxyType(OPTIONS))
    outcome = govern_sources([str(path)], config, DEFAULT)
    assert outcome.ok, outcome.diagnostics
    return outcome.text(FAST)


def _text(mode: str) -> str:
    return render_stream(_rendered(APP, mode), "yaml")


SWITCHES = [(a, b) for a in MODES_HERE for b in (*MODES_HERE, "istio", "builtin") if a != b]


@pytest.mark.parametrize("a,b", SWITCHES, ids=[f"{a}-{b}" for a, b in SWITCHES])
def test_switching_carries_the_policy(tmp_path: Path, a: str, b: str) -> None:
    rendered_a = _text(a)
    switched = _transform(tmp_path, rendered_a, b)
    if b in MODES_HERE:
        assert switched == _text(b), f"{a} → {b} differs from rendering {b}"
    assert _transform(tmp_path, switched, a) == rendered_a, f"{a} → {b} → {a} is not {a}"


def test_service_keys_come_back_exactly() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api", "annotations": {"timeout.linkerd.io/request": "5s", "team": "a"}},
        "spec": {"ports": [{"name": "http", "port": 80}]},
    }
    before = yaml.safe_dump(service)
    status.apply_service(
        service, "linkerd", {}, None, {"timeout.linkerd.io/request": "90s", "retry.linkerd.io/limit": "3"}
    )
    assert _annotations(service) == {
        "timeout.linkerd.io/request": "90s",
        "retry.linkerd.io/limit": "3",
        "team": "a",
    }
    record = status.read(service)
    assert record is not None and dict(record.annotations) == {
        "timeout.linkerd.io/request": "5s",  # the user's value comes back
        "retry.linkerd.io/limit": None,
    }
    status.remove_service(service, record)
    assert yaml.safe_dump(service) == before
    bare = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"}, "spec": {"ports": []}}
    status.apply_service(bare, "kuma", {}, {"l": "1"}, {"a": "b"})
    record = status.read(bare)
    assert record is not None and record.created == ("labels", "annotations")
    status.remove_service(bare, record)
    assert bare == {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"}, "spec": {"ports": []}}


# -------------------------------------------------------------------------------------------- snapshots


@pytest.mark.parametrize("mode", MODES_HERE)
def test_policy_objects_snapshot(mode: str, yaml_snapshot: SnapshotAssertion) -> None:
    assert render_stream(_policy_objects(APP, mode), "yaml") == yaml_snapshot


def test_vendored_crds_are_the_shared_ones() -> None:
    """The copies under tests/fixtures/crds are the projects' files unchanged (where /work/shared is)."""
    shared = ROOT.parent.parent / "shared" / "crds"
    if not shared.is_dir():
        pytest.skip("the shared CRD folder is not on this machine")
    for mesh in ("kuma", "consul"):
        for path in (ROOT / "tests" / "fixtures" / "crds" / mesh).glob("*.yaml"):
            assert path.read_bytes() == (shared / mesh / path.name).read_bytes()
    bundle = (shared / "linkerd" / "linkerd-crds-2.18.yaml").read_text()
    for path in (ROOT / "tests" / "fixtures" / "crds" / "linkerd").glob("*.yaml"):
        assert path.read_text() in bundle
