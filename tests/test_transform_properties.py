"""Properties of governing existing manifests, over generated workloads of every kind and both engines:
idempotent, reversible (A → B → A, un-govern), nothing lost, deterministic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import injectors
import pytest
import yaml
from conftest import EXAMPLE_RULES, EXAMPLES, ROOT, rendered_example, transform_text
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from meshform.core.workloads import pod_template
from meshform.model.config import TransformConfig
from meshform.model.workload_kinds import BUILTIN
from meshform.modes import DEFAULT, MODES
from meshform.yamlio.streams import FAST, ROUND_TRIP
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


def govern(text: str, mode: str | TransformConfig, engine: str = FAST) -> str:
    out, diags = transform_text(text, mode, engine)
    # A namespace that keeps the mesh away (the corpus' `shop` has no Kuma label) is the cluster's
    # problem, reported; the transformation itself must still be complete and exact.
    assert not [d for d in diags if d.level == "error" and d.code != "MF404"], diags
    return out


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
def probes(draw: st.DrawFn, ports: list[dict[str, Any]]) -> dict[str, Any]:
    """A probe by port name where the container names its ports, by number where it has none (Istio
    saves both as the number; meshform gives the name back where the container has one)."""
    port: str | int = draw(st.sampled_from([p["name"] for p in ports])) if ports else 8080
    handler = draw(st.sampled_from(["httpGet", "tcpSocket", "exec"]))
    probe: dict[str, Any]
    if handler == "httpGet":
        probe = {"httpGet": {"path": draw(st.sampled_from(["/", "/healthz", "/ready"])), "port": port}}
        scheme = draw(st.sampled_from([None, "HTTP", "HTTPS"]))
        if scheme:
            probe["httpGet"]["scheme"] = scheme
    elif handler == "tcpSocket":
        probe = {"tcpSocket": {"port": port}}
    else:
        probe = {"exec": {"command": ["true"]}}
    if draw(st.booleans()):
        probe["periodSeconds"] = draw(st.integers(1, 30))
    return probe


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
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        if draw(st.booleans()):
            container[probe] = draw(probes(ports))
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
    entry = draw(st.sampled_from(BUILTIN.entries))  # Kubernetes' own and the built-in extensions
    kind = entry.kind
    name = f"w{index}"
    labels = {"app": name, **draw(st.dictionaries(KEY, WEIRD, max_size=2))}
    meta: dict[str, Any] = {"labels": labels}
    if draw(st.booleans()):
        meta["annotations"] = draw(st.dictionaries(KEY, WEIRD, min_size=1, max_size=2))
    template = {"metadata": meta, "spec": draw(pod_spec(name))}
    obj: dict[str, Any] = {
        "apiVersion": f"{entry.group}/v1" if entry.group else "v1",
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


INJECTED = sorted((ROOT / "tests" / "fixtures" / "injected").glob("*.yaml"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(streams(), st.sampled_from(INJECTED).map(lambda p: p.read_text())),
    st.sampled_from(ALL_MODES),
    st.sampled_from(ALL_MODES),
    st.booleans(),
)
def test_changed_is_exactly_whether_the_object_changed(text: str, a: str, b: str, governed: bool) -> None:
    """Transformer decides item.changed without a copy where nothing can have been removed (no
    record, no other injector's marks): it must still be exactly `the object differs from the input`,
    for fresh, governed (a record to remove) and foreign-injected workloads alike."""
    import copy

    from meshform.core.transform import transform
    from meshform.yamlio.streams import load_text

    if governed:
        text = govern(text, b)
    items = [i for c in load_text(text, "in.yaml", FAST) for i in c.items]
    before = [copy.deepcopy(i.obj) for i in items]
    transform(items, TransformConfig(mode=a), DEFAULT)
    for item, obj in zip(items, before, strict=True):
        if pod_template(item.obj) is not None:
            assert item.changed == (item.obj != obj), (a, b, governed)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(EXAMPLES),
    st.sampled_from(ALL_MODES),
    st.sampled_from(ALL_MODES),
    st.sampled_from(ENGINES),
)
def test_examples_with_policy_switch_exactly(example: Path, a: str, b: str, engine: str) -> None:
    """The examples' traffic policy (recorded in the status, its objects emitted after each workload)
    switches exactly through `transform` on either engine: A -> B -> A gives rendered A byte for byte."""
    once = rendered_example(example, a)
    config = TransformConfig(mode=a, rules=EXAMPLE_RULES)
    assert govern(once, config, engine) == once
    assert govern(govern(once, TransformConfig(mode=b, rules=EXAMPLE_RULES), engine), config, engine) == once


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


# --------------------------------------------------- keys the user wrote, keys a selector holds (9, 10)

# Mesh labels a user may have written on the pod template: enrollments of some mesh, opt-outs of some.
USER_LABELS = [
    ("sidecar.istio.io/inject", "true"),
    ("sidecar.istio.io/inject", "false"),
    ("istio.io/rev", "canary"),
    ("istio.io/dataplane-mode", "ambient"),
    ("istio.io/dataplane-mode", "none"),
    ("kuma.io/sidecar-injection", "enabled"),
    ("kuma.io/sidecar-injection", "disabled"),
]
USER_ANNOTATIONS = [
    ("linkerd.io/inject", "enabled"),
    ("linkerd.io/inject", "disabled"),
    ("consul.hashicorp.com/connect-inject", "true"),
    ("consul.hashicorp.com/connect-inject", "false"),
    ("config.linkerd.io/proxy-cpu-request", "100m"),
]
MESH_KEYS = {k for k, _ in USER_LABELS + USER_ANNOTATIONS}
NAMESPACES = st.sampled_from(
    [None, {"labels": {"istio-injection": "enabled"}}, {"annotations": {"linkerd.io/inject": "enabled"}}]
)
SELECTOR_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")


@st.composite
def meshed_workload(draw: st.DrawFn, index: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A workload carrying the user's own mesh keys, some of them required by its selector (as
    kustomize's commonLabels put them there) or by a Service's; and that Service."""
    obj = draw(workload(index))
    template = pod_template(obj)
    assert template is not None
    meta = template.setdefault("metadata", {})
    user_labels = dict(draw(st.lists(st.sampled_from(USER_LABELS), max_size=2, unique_by=lambda kv: kv[0])))
    meta.setdefault("labels", {}).update(user_labels)
    pairs = st.lists(st.sampled_from(USER_ANNOTATIONS), max_size=2, unique_by=lambda kv: kv[0])
    user_annotations = dict(draw(pairs))
    if user_annotations:
        meta.setdefault("annotations", {}).update(user_annotations)
    held = {k: v for k, v in user_labels.items() if draw(st.booleans())}
    selector: dict[str, Any] = {"app": meta["labels"]["app"], **held}
    if obj["kind"] in SELECTOR_KINDS:
        obj["spec"]["selector"] = {"matchLabels": selector}
        if draw(st.integers(0, 3)) == 0:  # "the pod must not carry it": meshform must not add it
            obj["spec"]["selector"]["matchExpressions"] = [
                {"key": "sidecar.istio.io/inject", "operator": "DoesNotExist"}
            ]
            assume("sidecar.istio.io/inject" not in user_labels)
    elif obj["kind"] == "ReplicationController":
        obj["spec"]["selector"] = selector
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"w{index}", "namespace": "gen"},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": 80}]},
    }
    return obj, [service] if held and draw(st.booleans()) else []


@st.composite
def meshed_streams(draw: st.DrawFn) -> tuple[str, bool]:
    """(stream, whether a Namespace enrolls its pods in some mesh)."""
    namespace = draw(NAMESPACES)
    objects: list[Any] = []
    if namespace is not None:
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gen", **namespace}})
    for i in range(draw(st.integers(1, 3))):
        obj, services = draw(meshed_workload(i))
        objects += [obj, *services]
    return dump_stream(objects), namespace is not None


def _pod_keys(obj: Any) -> dict[str, Any]:
    template = pod_template(obj)
    meta = (template or {}).get("metadata") or {}
    return {**(meta.get("labels") or {}), **(meta.get("annotations") or {})}


def _still_sound(original: str, governed: str) -> None:
    """Every user mesh key is where the user put it, with the user's value; every selector still
    matches its pods (the workload's own, and each Service that selected them before)."""
    before, after = docs(original), [o for o in docs(governed) if not _added(o)]
    services = [o["spec"]["selector"] for o in before if o["kind"] == "Service"]
    for b, a in zip(before, after, strict=True):
        if pod_template(b) is None:
            continue
        user = {k: v for k, v in _pod_keys(b).items() if k in MESH_KEYS}
        assert user.items() <= _pod_keys(a).items(), (user, _pod_keys(a))
        labels, selected = _labels(a), [s for s in services if s.items() <= _labels(b).items()]
        selector = a["spec"].get("selector") or {} if a["kind"] != "Pod" else {}
        if a["kind"] == "ReplicationController":
            selector = {"matchLabels": selector}
        for wanted in [selector.get("matchLabels") or {}, *selected]:
            assert wanted.items() <= labels.items(), (wanted, labels)
        assert not {e["key"] for e in selector.get("matchExpressions") or []} & set(labels)


def _labels(obj: Any) -> dict[str, Any]:
    labels: dict[str, Any] = ((pod_template(obj) or {}).get("metadata") or {}).get("labels") or {}
    return labels


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meshed_streams(), st.sampled_from(ALL_MODES), st.sampled_from(ALL_MODES), st.sampled_from(ENGINES))
def test_user_keys_and_selector_held_keys_survive_switching_exactly(
    stream: tuple[str, bool], a: str, b: str, engine: str
) -> None:
    text, namespace_enrolls = stream
    once = govern(text, a, engine)
    assert govern(once, a, engine) == once  # f(f(x)) == f(x)
    switched = govern(once, b, engine)
    assert govern(switched, a, engine) == once  # A → B → A
    for out in (once, switched):
        _still_sound(text, out)
    if not namespace_enrolls:  # (else un-governing adds the namespace mesh's opt-out, recorded)
        assert docs(govern(once, "kubernetes-native", engine)) == docs(text)


# ---------------------------------------------------------------------- un-injection of injector output (11)


@st.composite
def injected(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(workload, what istioctl kube-inject or linkerd inject --manual make of it, whether it was Istio)."""
    obj = draw(workload(0))
    template = pod_template(obj)
    assert template is not None
    if draw(st.booleans()):  # the app's own scrape config, which Istio saves and overrides
        meta = template.setdefault("metadata", {})
        scrape = {"prometheus.io/scrape": draw(st.sampled_from(["true", "false"]))}
        meta.setdefault("annotations", {}).update({**scrape, "prometheus.io/port": "9102"})
    native, istio = draw(st.booleans()), draw(st.booleans())
    result = injectors.istio(obj, native) if istio else injectors.linkerd(obj, native)
    assume(result is not None)
    assert result is not None
    return obj, result, istio


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(injected(), st.sampled_from(ALL_MODES), st.sampled_from(ENGINES), st.booleans())
def test_uninjection_gives_back_the_workload_exactly(
    case: tuple[dict[str, Any], dict[str, Any], bool], mode: str, engine: str, in_list: bool
) -> None:
    original, output, istio = case
    if in_list:  # kube-inject of a v1 List: the Go serializer adds the List's empty metadata too
        original = {"apiVersion": "v1", "kind": "List", "items": [original]}
        output = {
            "apiVersion": "v1",
            "kind": "List",
            **({"metadata": {}} if istio else {}),
            "items": [output],
        }
    plain, inject = dump_stream([original]), dump_stream([output])
    assert docs(govern(inject, "kubernetes-native", engine)) == docs(plain)
    assert docs(govern(inject, mode, engine)) == docs(govern(plain, mode, engine))
