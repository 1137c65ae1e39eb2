"""ProxyConfig read, merged and written as Istio's protobuf JSON does (meshform.modes.istio_proxy_config),
without istioctl: the expected strings are what `istioctl kube-inject` 1.31 wrote for these inputs
(tests/test_istio_preinject.py checks the same against the real istioctl over
tests/fixtures/istio-inject/proxy-config-merge.yaml)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshform.modes import istio_proxy_config as pc

V = "1.31"


def _written(*layers: dict) -> str:
    proxy = pc.default_proxy_config()
    for layer in layers:
        proxy = pc.merged(proxy, pc.decode(layer, V), V)
    return pc.to_json(proxy, V)


@pytest.mark.parametrize(
    ("given", "written"),
    [
        (
            {"concurrency": 0, "holdApplicationUntilProxyStarts": False, "readinessProbe": {}},
            '{"concurrency":0,"readinessProbe":{},"holdApplicationUntilProxyStarts":false}',
        ),
        (
            {"concurrency": "2", "proxy_admin_port": 15001, "statNameLength": 0},
            '{"proxyAdminPort":15001,"concurrency":2}',
        ),
        (
            {"notAField": 1, "parentShutdownDuration": "60s", "zipkinAddress": "z:9411"},
            '{"zipkinAddress":"z:9411"}',
        ),
        (
            {"tracing": {"customTags": {"zone": {"literal": {"value": "a"}}, "app": {}}, "sampling": 1e-7}},
            '{"tracing":{"customTags":{"app":{},"zone":{"literal":{"value":"a"}}},"sampling":1e-7}}',
        ),
        (
            {"drainDuration": "1m30s", "terminationDrainDuration": "1.5s", "fileFlushInterval": "500ms"},
            '{"drainDuration":"90s","terminationDrainDuration":"1.500s","fileFlushInterval":"0.500s"}',
        ),
        (
            {
                "controlPlaneAuthPolicy": 0,
                "interceptionMode": "REDIRECT",
                "connectionSettings": {"profile": 1},
            },
            '{"connectionSettings":{"profile":"EDGE"}}',
        ),
        ({"concurrency": None, "tracing": None}, "{}"),
        ({"meshId": "a<b>&c"}, '{"meshId":"a\\u003cb\\u003e\\u0026c"}'),
    ],
)
def test_a_pod_proxy_config_is_written_as_istio_writes_it(given: dict, written: str) -> None:
    assert _written(given) == written


def test_the_annotation_replaces_fields_whole_and_merges_proxy_metadata() -> None:
    install = {
        "proxyMetadata": {"A": "install", "B": "install"},
        "tracing": {"sampling": 5, "zipkin": {"address": "z:9411"}},
        "extraStatTags": ["tag_a"],
        "proxyHeaders": {"server": {"value": "install"}, "requestId": {"disabled": True}},
    }
    pod = {
        "proxyMetadata": {"B": "pod"},
        "tracing": {"sampling": 50},
        "extraStatTags": [],
        "proxyHeaders": {},
    }
    assert _written(install, pod) == (
        '{"tracing":{"sampling":50},"proxyMetadata":{"A":"install","B":"pod"},'
        '"proxyHeaders":{"requestId":{"disabled":true},"server":{"value":"install"}}}'
    )


@pytest.mark.parametrize(
    "given",
    [
        {"concurrency": 1.5},
        {"concurrency": "lots"},
        {"holdApplicationUntilProxyStarts": "true"},
        {"tracing": []},
        {"interceptionMode": "BOGUS"},
        {"drainDuration": 5},
        {"drainDuration": "5x"},
        {"proxyMetadata": {"A": 1}},
        {"extraStatTags": "a"},
        {"tracing": {"zipkin": {"address": 9411}, "bogus": 1}},
    ],
)
def test_a_value_protobuf_json_refuses_is_an_error(given: dict) -> None:
    with pytest.raises(pc.ProxyConfigError):
        pc.decode(given, V)


@pytest.mark.parametrize(
    ("given", "refused"),
    [
        ({"drainDuration": "1.5s"}, True),
        ({"drainDuration": "2m"}, False),
        ({"statusPort": 0}, True),
        ({"discoveryAddress": "istiod"}, True),
        ({"discoveryAddress": "istiod.123:15012"}, True),
        ({"discoveryAddress": "[fd00::1]:15012"}, False),
        ({"discoveryAddress": "Istiod.Example:+15012"}, False),
        ({"tracing": {"datadog": {"address": "$(HOST_IP):8126"}}}, False),
        ({"tracing": {"zipkin": {}}}, True),
        ({"controlPlaneAuthPolicy": "INHERIT"}, True),
        ({"privateKeyProvider": {"qat": {"pollDelay": "0s"}}}, True),
    ],
)
def test_istios_proxy_config_validation(given: dict, refused: bool) -> None:
    proxy = pc.merged(pc.default_proxy_config(), pc.decode(given, V), V)
    assert bool(pc.problems(proxy)) is refused


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=999))
def test_a_written_duration_reads_back_the_same(seconds: int, millis: int) -> None:
    proxy = pc.decode({"fileFlushInterval": f"{seconds}.{millis:03d}s"}, V)
    text = json.loads(pc.to_json(proxy, V))["fileFlushInterval"]
    assert pc.decode({"fileFlushInterval": text}, V) == proxy
