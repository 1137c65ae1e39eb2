"""Every input Istio's sidecar template reads is either reproduced by meshform or refused (MF323),
never ignored silently: the template istioctl ships (`istioctl manifest generate`, tests/tools/build.sh
istioctl) and the recorded one in ../shared/injectors/istio/config are scanned for `.Values.*`,
`.ProxyConfig.*`, `.MeshConfig.*`, the injector's own fields and every annotation and label key, and
each must be in meshform.modes.istio_inject.TEMPLATE_READS. Each refusal is then shown located."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, built_tool, invoke

from meshform.modes.istio_inject import TEMPLATE_READS

SHARED = ROOT.parent.parent / "shared" / "injectors" / "istio" / "config" / "inject-config.yaml"
_PATHS = re.compile(r"\.(Values|ProxyConfig|MeshConfig)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_KEYS = re.compile(
    r"(?:annotation|index|isset)\s+\.ObjectMeta(?:\.(Annotations|Labels))?\s+[`\"]([^`\"]+)[`\"]"
)
_FIELDS = re.compile(r"(?<![\w.$])\.([A-Z][A-Za-z]+)\b")


def reads(template: str) -> set[str]:
    """The inputs a Go template reads, spelled as TEMPLATE_READS spells them."""
    found = {m.group(1) + m.group(2) for m in _PATHS.finditer(template)}
    found |= {f"{m.group(1) or 'Annotations'}:{m.group(2)}" for m in _KEYS.finditer(template)}
    found |= {f".{m.group(1)}" for m in _FIELDS.finditer(template)}
    return found


def test_the_scan_finds_what_a_template_reads() -> None:
    text = (
        "{{ .Values.global.proxy.tracer }} {{ annotation .ObjectMeta `a/b` .Values.x }} "
        "{{ index .ObjectMeta.Labels `app` }} {{ .ProxyUID }} {{ $c.Name }}"
    )
    assert reads(text) == {
        "Values.global.proxy.tracer",
        "Values.x",
        "Annotations:a/b",
        "Labels:app",
        ".ProxyUID",
        ".ObjectMeta",
        ".Values",
    }


def _templates() -> list[tuple[str, str]]:
    found = []
    istioctl = built_tool("istioctl")
    if istioctl is not None:
        args = [istioctl, "manifest", "generate", "--set", "hub=docker.io/istio", "--set", "tag=1.31-dev"]
        out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout
        injector = next(
            d
            for d in yaml.safe_load_all(out)
            if isinstance(d, dict) and d.get("metadata", {}).get("name") == "istio-sidecar-injector"
        )
        found.append(("istioctl", yaml.safe_load(injector["data"]["config"])["templates"]["sidecar"]))
    if SHARED.is_file():
        found.append(("recorded", yaml.safe_load(SHARED.read_text())["templates"]["sidecar"]))
    return found


@pytest.mark.parametrize("source", ["istioctl", "recorded"])
def test_every_input_of_the_injectors_template_is_handled_or_refused(source: str) -> None:
    templates = dict(_templates())
    if source not in templates:
        pytest.skip(f"no {source} template here (tests/tools/build.sh istioctl; ../shared/injectors)")
    unknown = sorted(reads(templates[source]) - set(TEMPLATE_READS))
    assert unknown == [], f"the injector reads these, meshform neither reproduces nor refuses them: {unknown}"


POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations: {annotations}
spec:
  containers: [{{name: c, image: busybox}}]
"""


@pytest.mark.parametrize(
    ("values", "mesh", "annotations", "message", "where"),
    [
        (
            {"pilot": {"cni": {"enabled": True, "provider": "multus"}}},
            {},
            {},
            "values.pilot.cni.provider",
            "t.yaml:11:52",
        ),
        (
            {"pilot": {"env": {"COMPLIANCE_POLICY": "fips-140-3"}}},
            {},
            {},
            "COMPLIANCE_POLICY",
            "t.yaml:11:35",
        ),
        (
            {"global": {"proxy": {"tracer": "datadog"}}},
            {},
            {"apm.datadoghq.com/env": "{}"},
            "apm.datadoghq.com/env",
            "t.yaml:11:38",
        ),
        (
            {"global": {"proxy": {"tracer": "lightstep"}}},
            {},
            {"proxy.istio.io/config": "tracing: {tlsSettings: {mode: SIMPLE}}"},
            "tracing.tlsSettings",
            "t.yaml:11:38",
        ),
        (
            {},
            {
                "extensionProviders": [
                    {
                        "name": "otel",
                        "opentelemetry": {
                            "service": "c",
                            "port": 4317,
                            "serviceAttributeEnrichment": "OTEL_SEMANTIC_CONVENTIONS",
                        },
                    }
                ]
            },
            {},
            "serviceAttributeEnrichment",
            "t.yaml:16:13",
        ),
        ({}, {}, {"sidecar.istio.io/bootstrapOverride": "x"}, "bootstrapOverride", "w.yaml:5:55"),
    ],
)
def test_an_input_meshform_does_not_reproduce_is_refused_located(
    tmp_path: Path,
    values: dict[str, Any],
    mesh: dict[str, Any],
    annotations: dict[str, str],
    message: str,
    where: str,
) -> None:
    """Refused at the user's own value: the key inside the inline values (JSON text: its column on
    the line) or meshConfig (a mapping), or the pod's annotation."""
    code, out, err = _transform(tmp_path, values, mesh, annotations)
    assert (code, out) == (1, "")
    assert f"{tmp_path / where}: error MF323" in err and message in err and "use enrollment labels" in err, (
        err
    )


def test_the_same_settings_without_what_triggers_them_pre_inject(tmp_path: Path) -> None:
    """A tracer alone, CNI without multus, OpenTelemetry without the enrichment: nothing refused."""
    values = {"global": {"proxy": {"tracer": "datadog"}}, "pilot": {"cni": {"enabled": True}}}
    mesh = {"extensionProviders": [{"name": "otel", "opentelemetry": {"service": "c", "port": 4317}}]}
    code, out, err = _transform(tmp_path, values, mesh, {})
    assert code == 0, err
    assert "istio-validation" in out


def _transform(
    where: Path, values: dict[str, Any], mesh: dict[str, Any], annotations: dict[str, str]
) -> tuple[int, str, str]:
    """`transform` of one Pod with these annotations, pre-injected with these inline values / mesh."""
    options = {"values": json.dumps(values), "meshConfig": mesh}
    spec = {"mode": "istio", "enrollment": "sidecar", "modeOptions": {"istio": options}}
    doc = {"apiVersion": "meshform.dev/v1alpha1", "kind": "MeshTransformer", "metadata": {"name": "t"}}
    (where / "t.yaml").write_text(yaml.safe_dump({**doc, "spec": spec}))
    (where / "w.yaml").write_text(POD.format(annotations=json.dumps(annotations)))
    return invoke("transform", "--config", str(where / "t.yaml"), str(where / "w.yaml"))
