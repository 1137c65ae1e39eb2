"""Linkerd pre-injection reads a pod's config.linkerd.io/* annotations as Linkerd (edge-26.8.3) does.

Own corpus, one file per annotation family (fixtures/linkerd/annotations/*.yaml), each Deployment
saying in test.meshform.dev/expect which code its pod annotations must get:
- MF354 (warning): Linkerd cannot read the value and injects as if it were not there; so does meshform
  (the output equals the one without that annotation);
- MF353 (error, exit 1): Linkerd would write the value into a pod that cannot run (or its own patch
  breaks on it); meshform leaves the workload as it was;
- MF355 (warning): a key Linkerd does not read, with the key it probably means;
each located at the annotation's value in the user's file.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_cli, transform_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshform.core.workloads import pod_template
from meshform.diagnostics import Diagnostic
from meshform.model.config import TransformConfig
from meshform.modes import linkerd_annotations, linkerd_inject, linkerd_values

OWN = ROOT / "tests" / "fixtures" / "linkerd"
FAMILIES = sorted((OWN / "annotations").glob("*.yaml"))
VALUES: dict[str, Any] = yaml.safe_load(
    yaml.safe_load((OWN / "linkerd-config.yaml").read_text())["data"]["values"]
)
EXPECT = "test.meshform.dev/expect"
OURS = ("MF353", "MF354", "MF355")
STATUS = "meshform.dev/status"


def config(values: dict[str, Any] = VALUES) -> TransformConfig:
    return TransformConfig(
        mode="linkerd", enrollment="sidecar", mode_options=MappingProxyType({"linkerd": {"values": values}})
    )


def docs(text: str) -> list[Any]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def annotation_of(diag: Diagnostic) -> str:
    return diag.path.split(".metadata.annotations.", 1)[1]


def value_position(text: str, name: str, key: str) -> tuple[int, int]:
    """Line and column of `key`'s value in the Deployment `name` of a fixture (both 1-based)."""
    lines = text.splitlines()
    start = lines.index(f"  name: {name}")
    for number, line in enumerate(lines[start:], start + 1):
        if line.lstrip().startswith(f"{key}: "):
            return number, line.index(f"{key}: ") + len(key) + 3
    raise AssertionError(f"{key} not in {name}")


def injected(obj: dict[str, Any]) -> bool:
    template = pod_template(obj)
    assert template is not None
    spec = template["spec"]
    return any(c["name"] == "linkerd-proxy" for c in spec.get("initContainers", []) + spec["containers"])


@pytest.mark.parametrize("family", FAMILIES, ids=lambda p: p.stem)
def test_each_annotation_gets_linkerds_verdict_at_its_value(family: Path) -> None:
    text = family.read_text()
    out, diags = transform_text(text, config())
    ours = [d for d in diags if d.code in OURS]
    assert not [d for d in diags if d not in ours], diags
    for original, result in zip(docs(text), docs(out), strict=True):
        name, expected = original["metadata"]["name"], original["metadata"]["annotations"][EXPECT]
        found = [d for d in ours if d.resource == f"Deployment/{name}"]
        assert {d.code for d in found} == ({expected} if expected else set()), (name, found)
        for diag in found:
            assert (diag.line, diag.col) == value_position(text, name, annotation_of(diag)), (name, diag)
            assert diag.level == ("error" if diag.code == "MF353" else "warning")
        assert injected(result) is (expected != "MF353"), name


def without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    template = pod_template(out)
    assert template is not None
    del template["metadata"]["annotations"][key]
    return out


@pytest.mark.parametrize("family", FAMILIES, ids=lambda p: p.stem)
def test_what_linkerd_ignores_injects_as_without_it(family: Path) -> None:
    """MF354/MF355: the same pod as without the annotation (less the annotation itself)."""
    text = family.read_text()
    out, diags = transform_text(text, config())
    ignored = {
        (d.resource, annotation_of(d))
        for d in diags
        if d.code in ("MF354", "MF355") and "keeps the rest" not in d.message
    }
    for original, result in zip(docs(text), docs(out), strict=True):
        ref = f"Deployment/{original['metadata']['name']}"
        for key in sorted(k for r, k in ignored if r == ref):
            alone, _ = transform_text(yaml.safe_dump(without(original, key)), config())
            assert without(result, key) == docs(alone)[0], (ref, key)


def test_a_refused_annotation_is_exit_1_with_nothing_written(tmp_path: Path) -> None:
    transformer = tmp_path / "meshform.yaml"
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(VALUES))
    transformer.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nmetadata: {name: l5d}\nspec:\n"
        "  mode: linkerd\n  enrollment: sidecar\n  modeOptions:\n    linkerd: {valuesFile: values.yaml}\n"
    )
    family = OWN / "annotations" / "images.yaml"
    proc = run_cli("transform", "--config", str(transformer), str(family))
    assert proc.returncode == 1 and proc.stdout == b""
    line, col = value_position(family.read_text(), "version-injection", "config.linkerd.io/proxy-version")
    assert f"images.yaml:{line}:{col}: error MF353 config.linkerd.io/proxy-version".encode() in proc.stderr
    assert b"Traceback" not in proc.stderr and b"cr.l5d.io/linkerd/proxy:{{evil}}" not in proc.stderr


def one_deployment(annotations: dict[str, str], ports: str = "[{name: http, containerPort: 8080}]") -> str:
    lines = "".join(f"        {k}: {json.dumps(v)}\n" for k, v in annotations.items())
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata:\n      labels: {app: web}\n"
        f"      annotations:\n{lines}    spec:\n      containers:\n      - name: app\n"
        f"        image: ghcr.io/example/app:1\n        ports: {ports}\n"
    )


def proxy_env(obj: dict[str, Any]) -> dict[str, Any]:
    template = pod_template(obj)
    assert template is not None
    spec = template["spec"]
    proxy = next(c for c in spec["initContainers"] + spec["containers"] if c["name"] == "linkerd-proxy")
    return {e["name"]: e for e in proxy["env"]}


def test_a_port_list_over_kubernetes_limit_is_refused_at_the_annotation() -> None:
    """60k opaque ports: Kubernetes refuses annotations over 256 KiB, so no injector ever sees them;
    the error is at the user's annotation (it was MF030 in meshform's template)."""
    ports = ",".join(str(p) for p in range(1, 60001))
    text = one_deployment({"config.linkerd.io/opaque-ports": ports})
    out, diags = transform_text(text, config())
    assert [(d.code, d.line, d.col) for d in diags] == [("MF353", 10, 41)]
    assert "262144" in diags[0].message and len(diags[0].message) < 400
    assert not injected(docs(out)[0])
    # two lists that each fit but together do not: said at the longer one
    half = ",".join(str(p) for p in range(1, 30001))
    text = one_deployment(
        {"config.linkerd.io/skip-inbound-ports": "1-2", "config.linkerd.io/opaque-ports": half + ",1"}
        | {"config.linkerd.io/skip-outbound-ports": half}
    )
    _, diags = transform_text(text, config())
    assert [(d.code, annotation_of(d)) for d in diags] == [("MF353", "config.linkerd.io/opaque-ports")]


def test_a_long_list_within_the_limit_is_written_as_linkerd_writes_it() -> None:
    """Named ports are resolved item by item, duplicates kept: the proxy's list may be several times
    the annotation, past the budget of a user's template, and is still rendered."""
    names = ",".join(["http"] * 50_000)
    out, diags = transform_text(one_deployment({"config.linkerd.io/opaque-ports": names}), config())
    assert diags == []
    found = proxy_env(docs(out)[0])["LINKERD2_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION"]["value"]
    assert found == ",".join(["8080"] * 50_000)


def test_opaque_ports_linkerd_cannot_read_are_skipped_and_the_rest_kept() -> None:
    text = one_deployment({"config.linkerd.io/opaque-ports": "80,nope,9000-8000,http"})
    out, diags = transform_text(text, config())
    assert [(d.code, d.line, d.col) for d in diags] == [("MF354", 10, 41)]
    assert "skips 'nope', '9000-8000' and keeps the rest" in diags[0].message
    found = proxy_env(docs(out)[0])["LINKERD2_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION"]["value"]
    assert found == "80,8080"


def test_values_linkerd_accepts_are_written_as_linkerd_writes_them() -> None:
    text = one_deployment(
        {
            "config.linkerd.io/proxy-additional-env": '[{"NAME": "EXTRA", "value": "1", "bogus": 2}]',
            "config.linkerd.io/proxy-require-identity-inbound-ports": "80, 443",
            "config.linkerd.io/proxy-gid": "-1",
            "config.linkerd.io/opaque-ports": "http,7000-7002,",
        }
    )
    out, diags = transform_text(text, config())
    assert diags == []
    env = proxy_env(docs(out)[0])
    assert env["EXTRA"] == {
        "name": "EXTRA",
        "value": "1",
    }  # Go's unmarshal: case-insensitive, unknown dropped
    assert env["LINKERD2_PROXY_INBOUND_PORTS_REQUIRE_IDENTITY"]["value"] == "80, 443"
    assert env["LINKERD2_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION"]["value"] == "8080,7000-7002"
    template = pod_template(docs(out)[0])
    assert template is not None
    proxy = next(c for c in template["spec"]["initContainers"] if c["name"] == "linkerd-proxy")
    assert "runAsGroup" not in proxy["securityContext"]  # Linkerd leaves a negative group out


def test_render_locates_the_finding_at_the_components_annotation(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(VALUES))
    app = tmp_path / "app.yaml"
    app.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: Application\nmetadata: {name: shop, namespace: store}\n"
        "spec:\n  governanceMode: linkerd\n  modeOptions:\n    linkerd: {valuesFile: values.yaml}\n"
        "  components:\n  - name: web\n    image: ghcr.io/example/web:1\n"
        "    annotations:\n      config.linkerd.io/admin-port: '99999'\n"
        "    versions:\n    - name: v1\n    - name: v2\n"
        "      annotations: {config.linkerd.io/proxy-uid: '-5'}\n"
    )
    proc = run_cli("render", str(app), "--enrollment", "sidecar")
    assert proc.returncode == 1 and proc.stdout == b""
    assert b"app.yaml:12:37: error MF353 config.linkerd.io/admin-port" in proc.stderr
    assert b"app.yaml:16:50: error MF353 config.linkerd.io/proxy-uid" in proc.stderr


@pytest.mark.parametrize(
    ("key", "means"),
    [
        ("config.linkerd.io/proxy-admin-port", "config.linkerd.io/admin-port"),
        ("config.linkerd.io/proxy-inbound-port", "config.linkerd.io/inbound-port"),
        ("config.linkerd.io/proxy-cpu-requests", "config.linkerd.io/proxy-cpu-request"),
        (
            "config.alpha.linkerd.io/proxy-enable-native-sidecars",
            "config.linkerd.io/proxy-enable-native-sidecar",
        ),
    ],
)
def test_a_misspelt_key_names_the_one_linkerd_reads(key: str, means: str) -> None:
    (note,) = linkerd_annotations.problems({key: "1"}, VALUES, debug=False)
    assert note.kind == "unknown" and f"did you mean {means}?" in note.why
    assert means in linkerd_annotations.KNOWN


# ------------------------------------------------------------------------------- hypothesis


WORKLOAD = linkerd_inject.Workload("Deployment", "web", "shop")
MERGED = linkerd_inject.with_defaults(VALUES, "edge-26.8")  # the values over the chart's defaults
_VERSION_RULE = re.compile(r"[.a-zA-Z0-9-]*")  # Linkerd's alphaNumDashDot (or empty: the default)


def injection(annotations: dict[str, str]) -> linkerd_inject.Injection | None:
    """meshform's pre-injection of one pod with these annotations; None when it refuses them."""
    template = {
        "metadata": {"annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": "app:1", "ports": [{"containerPort": 8080}]}]},
    }
    try:
        return linkerd_inject.inject(VALUES, "edge-26.8", WORKLOAD, template, "linkerd", "meshform test")
    except linkerd_inject.RefusedAnnotations as exc:
        assert all(n.kind in ("refused", "ignored", "unknown") for n in exc.notes)
        return None


def sidecar(found: linkerd_inject.Injection) -> dict[str, Any]:
    return next(c for c in found.init_first + found.containers_first if c["name"] == "linkerd-proxy")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=30))
def test_a_proxy_version_reaches_the_pod_only_as_linkerd_accepts_it(version: str) -> None:
    found = injection({"config.linkerd.io/proxy-version": version})
    if found is not None:
        assert _VERSION_RULE.fullmatch(version)
        expected = version or MERGED["linkerdVersion"]
        assert sidecar(found)["image"] == f"{MERGED['proxy']['image']['name']}:{expected}"
        assert found.annotations["linkerd.io/proxy-version"] == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.integers(-(2**40), 2**40).map(str), st.text(max_size=12)))
def test_an_admin_port_is_a_tcp_port_or_linkerds_default(text: str) -> None:
    found = injection({"config.linkerd.io/admin-port": text})
    number = linkerd_values.go_int(text, 32)
    if found is None:
        assert number is not None and not 1 <= number <= 65535
        return
    ports = {p["name"]: p["containerPort"] for p in sidecar(found)["ports"]}
    assert ports["linkerd-admin"] == (MERGED["proxy"]["ports"]["admin"] if number is None else number)
    assert 1 <= ports["linkerd-admin"] <= 65535


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet='0123456789,- \n"+', max_size=20))
def test_skip_ports_reach_proxy_init_only_as_a_list_of_ports_and_ranges(text: str) -> None:
    found = injection({"config.linkerd.io/skip-outbound-ports": text})
    if found is None:
        return
    init = next(c for c in found.init_first + found.init_last if c["name"] == "linkerd-init")
    args = init["args"]
    if text == "":
        assert "--outbound-ports-to-ignore" not in args
        return
    assert args[args.index("--outbound-ports-to-ignore") + 1] == text
    for item in text.split(","):
        low, _, high = item.partition("-")
        assert low.lstrip("+").isdigit() and (not high or high.lstrip("+").isdigit())
        assert 0 <= int(low) <= int(high or low) <= 65535


def test_a_trace_attribute_with_a_line_break_is_refused_when_tracing_is_on() -> None:
    """Linkerd writes `<name>=<value>` lines into a YAML block scalar: a line break ends the block."""
    tracing = {
        "enabled": True,
        "collector": {
            "endpoint": "collector.tracing:4317",
            "meshIdentity": {"serviceAccountName": "otel", "namespace": "tracing"},
        },
    }
    values = {**VALUES, "proxy": {**VALUES["proxy"], "tracing": tracing}}
    text = one_deployment({"resource.opentelemetry.io/team": "ledger\nprivileged: true"})
    _, diags = transform_text(text, config(values))
    assert [(d.code, d.line, d.col) for d in diags] == [("MF353", 10, 41)]
    _, diags = transform_text(text, config())  # without tracing Linkerd does not read it
    assert diags == []
