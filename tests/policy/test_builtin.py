"""Traffic policy rendered by the builtin mesh into its static Envoy bootstrap (`meshform render`).

The fixture `tests/fixtures/policy/builtin/app.yaml` uses every feature builtin renders. These tests
pin the exact Envoy fields and units (and a snapshot of the whole output), check every bootstrap with
`envoy --mode validate`, switch A→B→A with `meshform transform`, and show strict refusal and
best-effort warnings. Real traffic through these configs: tests/policy/test_builtin_traffic.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_cli
from envoy_harness import bootstraps, find, validate
from syrupy.assertion import SnapshotAssertion

from meshform.modes import DEFAULT
from meshform.modes.builtin_policy import fraction

FIXTURES = ROOT / "tests/fixtures/policy/builtin"
APP = FIXTURES / "app.yaml"
OTHER_MODES = ("kubernetes-native", "istio", "istio-ambient", "linkerd", "kuma", "consul")
ROUTER = "envoy.filters.http.router"


def meshform(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    done = run_cli(*args, stdin=stdin)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def rendered(path: Path = APP, *args: str) -> str:
    code, out, err = meshform("render", str(path), *args)
    assert code == 0, err
    return out


def best_effort(tmp_path: Path, source: Path = APP) -> Path:
    """The same model under `policyEnforcement: best-effort`."""
    text = source.read_text().replace(
        "  governanceMode: builtin\n", "  governanceMode: builtin\n  policyEnforcement: best-effort\n"
    )
    assert "best-effort" in text
    out = tmp_path / source.name
    out.write_text(text)
    return out


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(rendered()))


@pytest.fixture(scope="module")
def configs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Workload → its parsed Envoy bootstrap."""
    return {name: yaml.safe_load(text) for name, text in bootstraps(objects).items()}


def listener(config: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [x for x in config["static_resources"]["listeners"] if x["name"] == name]
    return found


def cluster(config: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [x for x in config["static_resources"]["clusters"] if x["name"] == name]
    return found


def hcm(config: dict[str, Any], name: str) -> dict[str, Any]:
    (network,) = listener(config, name)["filter_chains"][0]["filters"]
    typed: dict[str, Any] = network["typed_config"]
    return typed


def route(config: dict[str, Any], name: str) -> dict[str, Any]:
    (vhost,) = hcm(config, name)["route_config"]["virtual_hosts"]
    (only,) = vhost["routes"]
    action: dict[str, Any] = only["route"]
    return action


def http_filters(config: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """Filter name → typed_config, in the order Envoy runs them."""
    return {f["name"]: f["typed_config"] for f in hcm(config, name)["http_filters"]}


HUNDRED_PERCENT = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}


# --- the caller's outbound hops ----------------------------------------------------------------------


def test_split_goes_to_weighted_per_version_clusters(configs: dict[str, dict[str, Any]]) -> None:
    web = configs["frontend"]
    action = route(web, "outbound|reviews|9080")
    assert "cluster" not in action
    assert action["weighted_clusters"] == {
        "clusters": [
            {"name": "outbound|reviews-v1|9080", "weight": 80},
            {"name": "outbound|reviews-v2|9080", "weight": 20},
        ]
    }
    assert action["host_rewrite_literal"] == "reviews.shop.svc.cluster.local"  # what the app called
    for version in ("v1", "v2"):
        endpoint = cluster(web, f"outbound|reviews-{version}|9080")["load_assignment"]["endpoints"][0]
        address = endpoint["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
        assert address == {"address": f"reviews-{version}.shop.svc.cluster.local", "port_value": 9080}
    names = [c["name"] for c in web["static_resources"]["clusters"]]
    assert "outbound|reviews|9080" not in names  # nothing routes to the whole Service any more


def test_provider_timeout_and_retries_on_the_callers_route(configs: dict[str, dict[str, Any]]) -> None:
    action = route(configs["frontend"], "outbound|reviews|9080")
    assert action["timeout"] == "2s"  # declared: replaces meshform's 0s (and Envoy's 15s default)
    assert action["retry_policy"] == {
        "retry_on": "5xx,reset,connect-failure,retriable-status-codes",
        "num_retries": 3,
        "per_try_timeout": "0.500s",
        "retriable_status_codes": [409],
        "retry_back_off": {"base_interval": "0.025s", "max_interval": "0.250s"},
    }


def test_edge_override_with_attempts_zero_is_explicit(configs: dict[str, dict[str, Any]]) -> None:
    """frontend's edge to ratings says `timeout: 1s, retries: {attempts: 0}` over ratings' 3s and 2
    retries on gateway-error: its conditions stay, and Envoy's default of one retry is written off."""
    action = route(configs["frontend"], "outbound|ratings|9080")
    assert action["timeout"] == "1s"
    assert action["retry_policy"] == {"retry_on": "gateway-error", "num_retries": 0}
    # reviews calls ratings without an override: the provider's own policy.
    plain = route(configs["reviews-v1"], "outbound|ratings|9080")
    assert plain["timeout"] == "3s"
    assert plain["retry_policy"] == {"retry_on": "gateway-error", "num_retries": 2}


def test_fault_filter_sits_before_the_router_with_both_percentages(
    configs: dict[str, dict[str, Any]],
) -> None:
    filters = http_filters(configs["frontend"], "outbound|reviews|9080")
    assert list(filters) == ["envoy.filters.http.fault", ROUTER]
    fault = filters["envoy.filters.http.fault"]
    assert fault["@type"] == "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
    assert fault["delay"] == {"fixed_delay": "2s", "percentage": {"numerator": 10, "denominator": "HUNDRED"}}
    assert fault["abort"] == {
        "http_status": 503,
        "percentage": {"numerator": 50, "denominator": "TEN_THOUSAND"},  # 0.5%
    }
    ratings = http_filters(configs["frontend"], "outbound|ratings|9080")["envoy.filters.http.fault"]
    assert ratings["abort"]["percentage"] == {"numerator": 125, "denominator": "MILLION"}  # 0.0125%
    assert "delay" not in ratings


@pytest.mark.parametrize(
    ("percent", "numerator", "denominator"),
    [
        (0, 0, "HUNDRED"),
        (100, 100, "HUNDRED"),
        (10.0, 10, "HUNDRED"),
        (0.1, 10, "TEN_THOUSAND"),  # 0.1 * 100 is not exact in binary: decimal arithmetic
        (37.5, 3750, "TEN_THOUSAND"),
        (99.99, 9999, "TEN_THOUSAND"),
        (0.0001, 1, "MILLION"),
        (12.3456, 123456, "MILLION"),
        (12.34567, 123457, "MILLION"),  # finer than a millionth: nearest (and MF920 says so)
    ],
)
def test_fraction_takes_the_coarsest_exact_denominator(
    percent: float, numerator: int, denominator: str
) -> None:
    assert fraction(percent) == {"numerator": numerator, "denominator": denominator}


def test_edge_rate_limit_is_a_bucket_in_the_callers_proxy(configs: dict[str, dict[str, Any]]) -> None:
    filters = http_filters(configs["frontend"], "outbound|ratings|9080")
    assert list(filters) == ["envoy.filters.http.fault", "envoy.filters.http.local_ratelimit", ROUTER]
    limit = filters["envoy.filters.http.local_ratelimit"]
    assert limit["token_bucket"] == {"max_tokens": 50, "tokens_per_fill": 3, "fill_interval": "0.060s"}
    assert limit["stat_prefix"] == "outbound_ratings_9080"


def test_limits_and_ejection_on_every_cluster_of_the_hop(configs: dict[str, dict[str, Any]]) -> None:
    for version in ("v1", "v2"):
        c = cluster(configs["frontend"], f"outbound|reviews-{version}|9080")
        assert c["circuit_breakers"] == {
            "thresholds": [
                {
                    "priority": "DEFAULT",
                    "max_connections": 100,
                    "max_pending_requests": 10,
                    "max_requests": 100,
                    "max_retries": 3,
                    "track_remaining": True,
                }
            ]
        }
        assert c["outlier_detection"] == {
            "consecutive_5xx": 5,
            "interval": "10s",
            "base_ejection_time": "30s",
            "max_ejection_percent": 50,
        }


def test_tcp_dependency_gets_connection_limits_and_ejection_only(configs: dict[str, dict[str, Any]]) -> None:
    web = configs["frontend"]
    (network,) = listener(web, "outbound|db|5432")["filter_chains"][0]["filters"]
    assert network["name"] == "envoy.filters.network.tcp_proxy"
    db = cluster(web, "outbound|db|5432")
    assert db["circuit_breakers"]["thresholds"] == [
        {"priority": "DEFAULT", "max_connections": 20, "track_remaining": True}
    ]
    assert db["outlier_detection"] == {"consecutive_5xx": 3}


# --- the provider's inbound listener -----------------------------------------------------------------


def test_provider_rate_limit_on_each_versions_inbound_listener(configs: dict[str, dict[str, Any]]) -> None:
    for workload in ("reviews-v1", "reviews-v2"):
        filters = http_filters(configs[workload], "inbound|9080")
        assert list(filters) == ["envoy.filters.http.local_ratelimit", ROUTER]
        assert filters["envoy.filters.http.local_ratelimit"] == {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "inbound_9080",
            "status": {"code": 429},
            # 100/s in bursts of 20: 5 every 50ms (100 once a second into a bucket of 20 would be 20/s)
            "token_bucket": {"max_tokens": 20, "tokens_per_fill": 5, "fill_interval": "0.050s"},
            "filter_enabled": HUNDRED_PERCENT,
            "filter_enforced": HUNDRED_PERCENT,
        }


def test_hops_without_policy_render_as_before(configs: dict[str, dict[str, Any]]) -> None:
    """No declared timeout: `0s` as before (not Envoy's 15s); the router alone; plain clusters."""
    web = configs["frontend"]
    assert route(web, "inbound|8080") == {"cluster": "inbound|8080", "timeout": "0s"}
    assert list(http_filters(web, "inbound|8080")) == [ROUTER]
    assert set(cluster(web, "inbound|8080")) == {"name", "type", "connect_timeout", "load_assignment"}


def test_every_per_version_service_targets_the_proxy_and_records_it(objects: list[dict[str, Any]]) -> None:
    for name in ("reviews", "reviews-v1", "reviews-v2"):
        service = find(objects, "Service", name)
        assert service["spec"]["ports"][0]["targetPort"] == 15100
        assert '"targetPorts":{"http":9080}' in service["metadata"]["annotations"]["meshform.dev/status"]


def test_render_snapshot(yaml_snapshot: SnapshotAssertion) -> None:
    assert rendered() == yaml_snapshot


# --- Envoy accepts every bootstrap -------------------------------------------------------------------


@pytest.mark.parametrize("enforcement", ["strict", "best-effort"])
def test_every_bootstrap_passes_envoy_validate(enforcement: str, tmp_path: Path) -> None:
    path = APP if enforcement == "strict" else best_effort(tmp_path)
    found = bootstraps(list(yaml.safe_load_all(rendered(path))))
    assert sorted(found) == ["db", "frontend", "ratings", "reviews-v1", "reviews-v2"]
    for workload, text in found.items():
        (tmp_path / workload).mkdir()
        validate(text, tmp_path / workload)


# --- switching ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("other", OTHER_MODES)
def test_builtin_to_other_and_back_is_byte_identical(other: str, tmp_path: Path) -> None:
    model = best_effort(tmp_path)  # what `other` cannot enforce is left out there, and comes back
    builtin = rendered(model)

    code, there, err = meshform("transform", "--mode", other, "-", stdin=builtin.encode())
    assert code == 0, err
    assert there == rendered(model, "--mode", other)  # as if rendered in `other` from the model
    code, back, err = meshform("transform", "--mode", "builtin", "-", stdin=there.encode())
    assert code == 0, err
    assert back == builtin


def test_strict_switch_to_a_mode_that_cannot_enforce_is_refused() -> None:
    code, out, err = meshform("transform", "--mode", "linkerd", "-", stdin=rendered().encode())
    assert code == 1
    assert "error MF910 linkerd cannot enforce circuitBreaker" in err
    assert out == ""


# --- what builtin cannot enforce ---------------------------------------------------------------------


def test_authorization_is_refused_under_strict() -> None:
    code, out, err = meshform("render", str(FIXTURES / "authorization.yaml"))
    assert code == 1
    assert out == ""
    assert "authorization.yaml:21:5: error MF910 builtin cannot enforce authorization for 'api'" in err
    assert "modes that can: kubernetes-native, istio, istio-ambient, linkerd, kuma, consul" in err


def test_authorization_is_left_out_under_best_effort(tmp_path: Path) -> None:
    model = best_effort(tmp_path, FIXTURES / "authorization.yaml")
    code, out, err = meshform("render", str(model))
    assert code == 0, err
    assert "authorization.yaml:22:5: warning MF911 builtin cannot enforce authorization" in err
    configs = {k: yaml.safe_load(v) for k, v in bootstraps(list(yaml.safe_load_all(out))).items()}
    assert route(configs["client"], "outbound|api|8080")["timeout"] == "2s"  # the rest is rendered
    assert not [
        o
        for o in yaml.safe_load_all(out)
        if o["kind"] not in ("ServiceAccount", "Service", "Deployment", "ConfigMap")
    ]


ROUNDED = """\
apiVersion: meshform.dev/v1alpha1
kind: Application
metadata: {name: odd, namespace: odd}
spec:
  governanceMode: builtin
  components:
  - name: client
    image: example.invalid/client:1
    dependencies: [api]
  - name: api
    image: example.invalid/api:1
    ports: [{name: http, port: 8080}]
    traffic:
      outlierDetection: {maxEjectionPercent: 33.3}
      faultInjection: {abort: {httpStatus: 503, percent: 12.34567}}
"""


def test_values_envoy_cannot_carry_exactly_are_rounded_with_a_warning(tmp_path: Path) -> None:
    model = tmp_path / "odd.yaml"
    model.write_text(ROUNDED)
    code, out, err = meshform("render", str(model))
    assert code == 0, err
    assert "odd.yaml:9:5: warning MF920 maxEjectionPercent 33.3 for dependency api is rendered as 33" in err
    assert "faultInjection.abort.percent 12.34567 for dependency api is rendered as 123457/1000000" in err
    client = yaml.safe_load(bootstraps(list(yaml.safe_load_all(out)))["client"])
    assert cluster(client, "outbound|api|8080")["outlier_detection"] == {"max_ejection_percent": 33}


def test_builtin_renders_no_policy_objects() -> None:
    """The policy lives in the bootstrap: render_policy adds no objects of its own."""
    assert DEFAULT.modes["builtin"].facts.policy  # it does support policy...
    kinds = {o["kind"] for o in yaml.safe_load_all(rendered())}
    assert kinds == {"ServiceAccount", "Service", "Deployment", "ConfigMap"}  # ...inside its ConfigMaps
