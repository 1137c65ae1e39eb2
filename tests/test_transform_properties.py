"""Properties of governing existing manifests, over generated workloads of every kind and both engines:
idempotent, reversible (A → B → A, un-govern), nothing lost, deterministic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshform.core.transform import transform
from meshform.core.workloads import TEMPLATE_PATHS, pod_template
from meshform.model.config import TransformConfig
from meshform.modes import DEFAULT, MODES
from meshform.yamlio.streams import FAST, ROUND_TRIP, emit, load_text
from meshform.yamlio.writer import dump_stream

ALL_MODES = list(MODES)
ENGINES = [FAST, ROUND_TRIP]


@pytest.fixture(params=["yaml-rs", "pyyaml"], autouse=True)
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every property holds whichever reader the fast engine uses."""
    if request.param == "pyyaml":
        monkeypatch.setenv("MESHFORM_YAML_ENGINE", "pyyaml")
    return str(request.param)


CORPUS = sorted((ROOT / "tests" / "fixtures" / "corpus").glob("*.yaml"))


def govern(text: str, mode: str, engine: str = FAST) -> str:
    chunks = load_text(text, "in.yaml", engine)
    items = [i for c in chunks for i in c.items]
    diags = transform(items, TransformConfig(mode=mode), DEFAULT)
    assert not [d for d in diags if d.level == "error"], diags
    return emit(chunks, engine)


def docs(text: str) -> list[Any]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


# ------------------------------------------------------------------------------------ generated input

WEIRD = st.sampled_from(
    [
        "on",
        "yes",
        "0777",
        "1:30",
        "a: b",
        "x\ny",
        "#c",
        "*a",
        "!!str",
        "{x}",
        "2024-01-01",
        "plain",
        "",
        " lead",
        "1e3",
        "~",
    ]
)
KEY = st.sampled_from(["team", "example.com/owner", "tier", "app.kubernetes.io/component"])


@st.composite
def pod_spec(draw: st.DrawFn, name: str) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": f"{name}:1"}
    ports = [
        {
            "name": f"{draw(st.sampled_from(['http', 'grpc', 'tcp', 'metrics']))}-{i}",
            "containerPort": 8000 + i,
        }
        for i in range(draw(st.integers(0, 2)))
    ]
    if ports:
        container["ports"] = ports
    if draw(st.booleans()):
        container["env"] = [{"name": f"E{i}", "value": draw(WEIRD)} for i in range(draw(st.integers(1, 2)))]
    spec: dict[str, Any] = {"containers": [container]}
    if draw(st.integers(0, 6)) == 0:
        spec["hostNetwork"] = True
    if draw(st.booleans()):
        spec["initContainers"] = [{"name": "setup", "image": "setup:1"}]
    if draw(st.booleans()):
        spec["volumes"] = [{"name": "data", "emptyDir": {}}]
    return spec


@st.composite
def workload(draw: st.DrawFn, index: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(list(TEMPLATE_PATHS)))
    name = f"w{index}"
    labels = {"app": name, **draw(st.dictionaries(KEY, WEIRD, max_size=2))}
    meta: dict[str, Any] = {"labels": labels}
    if draw(st.booleans()):
        meta["annotations"] = draw(st.dictionaries(KEY, WEIRD, min_size=1, max_size=2))
    template = {"metadata": meta, "spec": draw(pod_spec(name))}
    obj: dict[str, Any] = {
        "apiVersion": "v1"
        if kind in ("Pod", "ReplicationController")
        else "batch/v1"
        if kind in ("Job", "CronJob")
        else "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "gen"},
    }
    if kind == "Pod":
        obj["metadata"].update(meta)
        obj["spec"] = template["spec"]
    elif kind == "CronJob":
        obj["spec"] = {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}
    else:
        obj["spec"] = {"template": template}
    return obj


@st.composite
def streams(draw: st.DrawFn) -> str:
    objects: list[Any] = []
    for i in range(draw(st.integers(1, 4))):
        obj = draw(workload(i))
        objects.append(obj)
        ports = pod_template(obj)["spec"]["containers"][0].get("ports")  # type: ignore[index]
        if ports and draw(st.booleans()):
            objects.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": f"w{i}", "namespace": "gen"},
                    "spec": {
                        "selector": {"app": f"w{i}"},
                        "ports": [
                            {"name": p["name"], "port": 80 + j, "targetPort": p["name"]}
                            for j, p in enumerate(ports)
                        ],
                    },
                }
            )
    return dump_stream(objects)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.sampled_from(ALL_MODES), st.sampled_from(ALL_MODES), st.sampled_from(ENGINES))
def test_generated_workloads_switch_exactly(text: str, a: str, b: str, engine: str) -> None:
    once = govern(text, a, engine)
    assert govern(once, a, engine) == once  # f(f(x)) == f(x), byte for byte
    assert govern(govern(once, b, engine), a, engine) == once  # A → B → A
    assert govern(text, a, engine) == once  # deterministic
    assert docs(govern(once, "kubernetes-native", engine)) == docs(text)  # un-govern gives x back


# ------------------------------------------------------------------------------------ nothing lost


def _strip_owned(obj: Any) -> Any:
    """Remove what the status records say meshform added, independently of meshform's own remover."""
    obj = json.loads(json.dumps(obj))
    template = pod_template(obj)
    meta = (template or obj).get("metadata") or {}
    record = json.loads((meta.get("annotations") or {}).pop("meshform.dev/status", "null") or "null")
    if record is None:
        return obj
    if template is None:  # a Service the builtin mode rewired
        for port in obj["spec"]["ports"]:
            if port.get("name") in record["targetPorts"]:
                port["targetPort"] = record["targetPorts"][port["name"]]
    else:
        for field in ("labels", "annotations"):
            for key, prior in (record.get(field) or {}).items():
                meta[field].pop(key) if prior is None else meta[field].__setitem__(key, prior)
        for field in ("initContainers", "containers", "volumes"):
            if field in template["spec"]:
                template["spec"][field] = [
                    c for c in template["spec"][field] if c["name"] not in record.get(field, [])
                ]
        for container in template["spec"]["containers"]:
            for var, prior in (record.get("env") or {}).get(container["name"], {}).items():
                container["env"] = [
                    e if e["name"] != var else {**e, "value": prior}
                    for e in container["env"]
                    if not (e["name"] == var and prior is None)
                ]
    for field in reversed(record.get("created", [])):
        target = (
            (template or {})
            if field == "metadata"
            else meta
            if field in ("labels", "annotations")
            else ((template or {}).get("spec", {}))
        )
        if target.get(field) in ({}, []):
            del target[field]
    return obj


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_nothing_lost_over_the_golden_corpus(path: Path, mode: str, engine: str) -> None:
    text = path.read_text()
    assert _without_owned(docs(govern(text, mode, engine))) == docs(text)


def _added(obj: Any) -> bool:
    return obj.get("kind") == "ConfigMap" and obj["metadata"]["name"].endswith("-meshform-envoy")


def _without_owned(objects: list[Any]) -> list[Any]:
    """Every object once, in order, with meshform's additions removed (Lists item by item)."""
    out = []
    for obj in objects:
        if _added(obj):
            continue
        if str(obj.get("kind", "")).endswith("List"):
            obj = {**obj, "items": _without_owned(obj["items"])}
        out.append(_strip_owned(obj))
    return out
