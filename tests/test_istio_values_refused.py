"""Istio injector inputs that istioctl refuses, or writes other than given, are refused located at the
user's key (review 11b #5, #6, #7); a CIDR or port list value that is not one is a located warning.

Differential where istioctl is built: for each text value Istio's injection template writes into
its YAML (quoted or plain) and each hostile character, meshform refuses (MF322 at the key) exactly
when istioctl fails or writes something else than the value. Own fixtures otherwise."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, invoke
from test_istio_preinject import config, installs, istioctl, kube_inject_run

from meshform.modes import istio_inject

__all__ = ["installs", "istioctl"]  # module fixtures, used by name

WORKLOAD = (ROOT / "tests" / "fixtures" / "istio-inject" / "kinds.yaml").read_text()
LOCATED = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):\d+: (?P<level>error|warning) (?P<code>MF\d+) ", re.M)
DEFAULT_VALUES = {"global": {"hub": "docker.io/istio", "tag": "1.31-dev", "proxy": {}}}


def _set(tree: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node = tree
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return tree


def _line_of(text: str, key: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if f'"{key}"' in line or f"{key}:" in line)


def _run(tmp_path: Path, values: dict[str, Any], mesh: dict[str, Any] | None = None) -> tuple[int, str, str]:
    (tmp_path / "values.json").write_text(json.dumps(values, indent=1))
    (tmp_path / "mesh.yaml").write_text(yaml.safe_dump(mesh or {"trustDomain": "cluster.local"}))
    (tmp_path / "in.yaml").write_text(WORKLOAD)
    cfg = config(tmp_path, True, "values.json", "mesh.yaml")
    return invoke("transform", str(tmp_path / "in.yaml"), "--config", str(cfg))


HOSTILE = ['a"b', "a\\qb", "a\nb", "a: b", "a #b", "a\x7fb", "a\x00b", "10.0.0.0/8,a b"]
TEXT_FIELDS = [
    "global.proxy.excludeIPRanges",
    "global.proxy.includeInboundPorts",
    "global.meshID",
    "global.hub",
    "global.proxy.logLevel",
    "global.proxy.clusterDomain",
]


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("text", HOSTILE, ids=repr)
def test_refused_exactly_where_istioctl_fails_or_writes_something_else(
    istioctl: str, installs: dict[str, Path], tmp_path: Path, field: str, text: str
) -> None:
    values = _set(json.loads((installs["default"] / "values.json").read_text()), field, text)
    (tmp_path / "values.json").write_text(json.dumps(values, indent=1))
    (tmp_path / "inject-config.yaml").write_text((installs["default"] / "inject-config.yaml").read_text())
    (tmp_path / "mesh.yaml").write_text((installs["default"] / "mesh.yaml").read_text())
    real = kube_inject_run(istioctl, tmp_path, WORKLOAD)
    strings = [s for doc in yaml.safe_load_all(real.stdout or "") for s in _strings(doc)]
    istio_writes_it = real.returncode == 0 and any(text in s for s in strings)
    (tmp_path / "in.yaml").write_text(WORKLOAD)
    code, _, err = invoke(
        "transform",
        str(tmp_path / "in.yaml"),
        "--config",
        str(config(tmp_path, True, "values.json", "mesh.yaml")),
    )
    refused = [m for m in LOCATED.finditer(err) if m["code"] == "MF322"]
    assert bool(refused) == (not istio_writes_it), (real.returncode, real.stderr[-200:], err)
    if refused:
        assert code == 1 and len(refused) == 1
        assert refused[0]["file"].endswith("values.json") and int(refused[0]["line"]) > 1


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


@pytest.mark.parametrize(
    ("field", "text", "words"),
    [
        ("global.proxy.excludeIPRanges", 'a,b"\n- privileged', "breaks the YAML"),
        ("global.proxy.includeIPRanges", "10.0.0.0/8\n", "written by Istio's injection template as"),
        ("global.hub", "evil\n  privileged: true", "written by Istio's injection template as"),
        ("global.tag", "1.31-dev\t\x01", "breaks the YAML"),
        ("global.proxy.image", 'proxyv2"', "breaks the YAML"),
        ("global.network", "n\x7f", "breaks the YAML"),
        ("global.proxy.componentLogLevel", "misc: error", "breaks the YAML"),
        ("global.proxy.logLevel", "info #x", "written by Istio's injection template as"),
    ],
)
def test_a_value_istios_template_cannot_write_is_refused_at_its_key(
    tmp_path: Path, field: str, text: str, words: str
) -> None:
    code, out, err = _run(tmp_path, _set(json.loads(json.dumps(DEFAULT_VALUES)), field, text))
    found = LOCATED.findall(err)
    assert code == 1 and out == "", err
    assert len(found) == 1 and found[0][2:] == ("error", "MF322"), err
    key = field.rsplit(".", 1)[1]
    assert int(found[0][1]) == _line_of((tmp_path / "values.json").read_text(), key)
    assert words in err


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("global.proxy.excludeIPRanges", "10.0.0.0"),
        ("global.proxy.includeIPRanges", "10.0.0.0/8,all"),
        ("global.proxy.excludeInboundPorts", "http"),
        ("global.proxy.includeInboundPorts", "80,99999"),
        ("global.proxy.excludeOutboundPorts", "1-2"),
    ],
)
def test_a_list_value_that_is_no_list_is_a_located_warning(tmp_path: Path, field: str, text: str) -> None:
    code, out, err = _run(tmp_path, _set(json.loads(json.dumps(DEFAULT_VALUES)), field, text))
    found = [f for f in LOCATED.findall(err) if f[3] != "MF401"]  # kinds.yaml has a hostNetwork pod
    assert code == 0 and out, err
    assert [f[2:] for f in found] == [("warning", "MF356")], err  # once, not once per workload
    key = field.rsplit(".", 1)[1]
    assert int(found[0][1]) == _line_of((tmp_path / "values.json").read_text(), key)


def test_the_pods_own_annotation_replaces_the_list_value_so_no_warning() -> None:
    values = {"global": {"proxy": {"excludeIPRanges": "10.0.0.0"}}}
    annotated = {"traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.0.0.0/8"}
    assert list(istio_inject.value_list_problems(values, annotated)) == []
    assert [p for p, _ in istio_inject.value_list_problems(values, {})] == [
        ("global", "proxy", "excludeIPRanges")
    ]


@pytest.mark.parametrize(
    ("mesh", "key"),
    [
        ({"outboundTrafficPolicy": {"mode": "bogus"}}, "mode"),
        ({"inboundTrafficPolicy": {"mode": "localhost"}}, "mode"),
        ({"ingressControllerMode": "bogus"}, "ingressControllerMode"),
        ({"accessLogEncoding": "XML"}, "accessLogEncoding"),
        ({"h2UpgradePolicy": "bogus"}, "h2UpgradePolicy"),
        ({"pathNormalization": {"normalization": "bogus"}}, "normalization"),
        ({"connectTimeout": "forever"}, "connectTimeout"),
        ({"dnsRefreshRate": "5"}, "dnsRefreshRate"),
        ({"tcpKeepalive": {"time": "x"}}, "time"),
        ({"tcpKeepalive": {"probes": -1}}, "probes"),
        ({"proxyListenPort": "abc"}, "proxyListenPort"),
        ({"enableTracing": "yes"}, "enableTracing"),
        ({"enableAutoMtls": "yes"}, "enableAutoMtls"),
        ({"trustDomainAliases": "x"}, "trustDomainAliases"),
        ({"rootNamespace": 5}, "rootNamespace"),
        ({"outboundTrafficPolicy": "x"}, "outboundTrafficPolicy"),
        ({"localityLbSetting": {"enabled": "x"}}, "enabled"),
    ],
)
def test_meshconfig_outside_defaultconfig_that_istio_refuses_is_located(
    tmp_path: Path, mesh: dict[str, Any], key: str
) -> None:
    code, out, err = _run(tmp_path, DEFAULT_VALUES, {"trustDomain": "cluster.local", **mesh})
    found = LOCATED.findall(err)
    assert code == 1 and out == "", err
    assert len(found) == 1 and found[0][2:] == ("error", "MF322"), err
    assert found[0][0].endswith("mesh.yaml")
    assert int(found[0][1]) == _line_of((tmp_path / "mesh.yaml").read_text(), key)


@pytest.mark.parametrize(
    "mesh",
    [
        {"inboundTrafficPolicy": {"mode": "LOCALHOST"}},
        {"outboundTrafficPolicy": {"mode": 1}},
        {"ingressControllerMode": "STRICT"},
        {"connectTimeout": "10s", "proxyHttpPort": 70000, "defaultServiceExportTo": ["*"]},
        {"notAMeshField": 1},  # Istio drops unknown fields
    ],
)
def test_meshconfig_istio_accepts_passes(tmp_path: Path, mesh: dict[str, Any]) -> None:
    code, out, err = _run(tmp_path, DEFAULT_VALUES, {"trustDomain": "cluster.local", **mesh})
    assert code == 0 and out and "MF322" not in err, err
