"""Kind 17 of issue 9: an object (or status record, config, kubeconfig, API answer) whose fields have the
wrong JSON type is a located, coded error, never an internal error: by example through the CLI, and by a
fuzzer that turns every field of its seeds into every other JSON type, through each command's code."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import ROOT, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from meshform.core import shapes
from meshform.core.govern import GovernOptions
from meshform.core.transform import Transformer
from meshform.core.workloads import pod_template
from meshform.diagnostics import MeshformError
from meshform.frontends import krm
from meshform.frontends.commands import check_command
from meshform.frontends.render import check_documents, render_documents
from meshform.model.config import TransformConfig
from meshform.modes import DEFAULT
from meshform.yamlio.reader import load_documents
from meshform.yamlio.streams import FAST, ROUND_TRIP, emit, load_text
from meshform.yamlio.writer import dump_document

SHAPES = ROOT / "tests" / "fixtures" / "shapes"
FUZZ = ROOT / "tests" / "fixtures" / "fuzz"


# --------------------------------------------------------------------------------- by example


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("metadata-string", [("MF150", 7, 5, "$.spec.template.metadata")]),
        ("labels-list", [("MF150", 8, 7, "$.spec.template.metadata.labels")]),
        (
            "containers-items",
            [
                ("MF150", 9, 9, "$.spec.template.spec.containers[0]"),
                ("MF150", 10, 8, "$.spec.template.spec.containers[1]"),
                ("MF150", 11, 9, "$.spec.template.spec.containers[2].name"),
            ],
        ),
        ("pod-metadata-list", [("MF150", 3, 1, "$.metadata")]),
        ("cronjob-template-string", [("MF150", 9, 7, "$.spec.jobTemplate.spec.template")]),
        # the status record is parsed by meshform.core.status: refused, located at the annotation
        (
            "status-labels-string",
            [("MF250", 10, 9, "$.spec.template.metadata.annotations.meshform.dev/status")],
        ),
        (
            "service-selector-list",
            [("MF150", 6, 3, "$.spec.selector"), ("MF150", 13, 3, "$.metadata.annotations")],
        ),
        ("list-item-env", [("MF150", 20, 11, "$.spec.template.spec.containers[0].env")]),
    ],
)
@pytest.mark.parametrize("command", ["transform", "check"])
def test_misshapen_object_is_located_and_coded(
    command: str, fixture: str, expected: list[tuple[str, int, int, str]]
) -> None:
    path = f"tests/fixtures/shapes/{fixture}.yaml"
    proc = run_cli(command, path, "--mode", "builtin", "--diagnostics", "json")
    assert proc.returncode == 1 and proc.stdout == b"", proc.stderr
    found = [d for d in json.loads(proc.stderr) if d["code"] in ("MF150", "MF250")]
    if command == "check":  # check reads no Service (only modes that rewire them), undoes no record
        expected = [e for e in expected if e[3] != "$.spec.selector" and e[0] != "MF250"]
    assert [(d["code"], d["line"], d["col"], d["path"]) for d in found] == expected
    assert all(d["file"] == path and d["hint"] for d in found)


def test_krm_gives_the_items_back_with_the_errors_as_results() -> None:
    text = (SHAPES / "metadata-string.yaml").read_text()
    item = "".join("  " + line + "\n" for line in text.splitlines()).lstrip()
    resource_list = (
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"
        "functionConfig: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {mode: istio}}\n"
        f"items:\n- {item}"
    )
    proc = run_cli("krm", stdin=resource_list.encode())
    assert proc.returncode == 1
    out = yaml.safe_load(proc.stdout)
    assert out["items"] == [yaml.safe_load(text)]
    (result,) = out["results"]
    assert result["tags"] == {"code": "MF150"} and result["severity"] == "error"
    assert result["field"] == {"path": "$.spec.template.metadata"}
    assert result["resourceRef"]["name"] == "web"


def test_config_values_of_the_wrong_type() -> None:
    proc = run_cli(
        "transform", "tests/fixtures/shapes/metadata-string.yaml", "--config",
        "tests/fixtures/shapes/config-mode-list.yaml", "--diagnostics", "json",
    )  # fmt: skip
    (diag,) = json.loads(proc.stderr)
    assert proc.returncode == 1
    assert (diag["code"], diag["line"], diag["col"], diag["message"]) == (
        "MF103",
        4,
        8,
        "data.mode is a list, not a string",
    )


def test_kubeconfig_sections_of_the_wrong_type(tmp_path: Path) -> None:
    proc = run_cli(
        "verify", "tests/fixtures/shapes/metadata-string.yaml", "--kubeconfig",
        "tests/fixtures/shapes/kubeconfig-sections.yaml",
    )  # fmt: skip
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.decode().splitlines() if " error " in ln]
    assert [ln.split(" error ")[0] for ln in lines] == [
        "tests/fixtures/shapes/kubeconfig-sections.yaml:6:3:",
        "tests/fixtures/shapes/kubeconfig-sections.yaml:13:7:",
    ]
    assert all("MF152" in ln for ln in lines)


def test_json_nested_past_what_python_parses_is_no_crash(tmp_path: Path) -> None:
    """meshform's status, Istio's status and Istio's saved probes are JSON inside strings."""
    deep = "[" * 100_000 + "]" * 100_000
    docs = yaml.safe_load_all((ROOT / "tests/fixtures/injected/istio-kube-inject.yaml").read_text())
    (injected,) = [d for d in docs if d]
    template = pod_template(injected)
    assert template is not None
    template["metadata"]["annotations"]["sidecar.istio.io/status"] = deep
    for container in template["spec"]["containers"]:
        for env in container.get("env") or []:
            if env["name"] in ("ISTIO_KUBE_APP_PROBERS", "ISTIO_PROMETHEUS_ANNOTATIONS"):
                env["value"] = deep
    ours = _replaced(injected, ("spec", "template", "metadata", "annotations", "meshform.dev/status"), deep)
    # Both are refused, located (an Istio marker meshform cannot read proves nothing: MF280), never a crash
    for doc, code in ((injected, 1), (ours, 1)):
        path = tmp_path / "in.yaml"
        path.write_text(dump_document(doc))
        proc = run_cli("transform", str(path), "--mode", "linkerd")
        assert proc.returncode == code, proc.stderr
        assert b"Traceback" not in proc.stderr
    # the Istio marker is checked first here (both are deep): either refusal is located and coded
    assert (b"MF250" in proc.stderr and b"is not valid JSON" in proc.stderr) or b"MF280" in proc.stderr


# ----------------------------------------------------------------------------------- the fuzzer

# For each JSON type, values of the other types. To the core, strings, numbers and booleans are all
# single values (it converts them): what breaks a reader is a collection for a value, a value for a
# collection, and null (or a null item) where something is expected.
OTHER_TYPES: dict[str, list[Any]] = {
    "mapping": ["x", ["x"], None],
    "list": ["x", {"x": "y"}, [None]],
    "string": [["x"], {"x": "y"}, None],
    "number": [["x"], {"x": "y"}],
    "boolean": [["x"], {"x": "y"}],
    "null": [["x"], {"x": "y"}, "x"],
}


def _type(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "string" if isinstance(value, str) else "null"


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, (*path, key))


def _replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    node = copy.deepcopy(node)
    parent = node
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return node


def mutants(doc: Any) -> Iterator[tuple[str, Any]]:
    """Every field of the document as every other JSON type; inside a status record (the JSON in
    the annotation), every field of the record too."""
    for path in list(_paths(doc))[1:]:
        current = doc
        for key in path:
            current = current[key]
        for value in OTHER_TYPES[_type(current)]:
            yield f"{list(path)}={json.dumps(value)}", _replaced(doc, path, value)
        if path[-1] in ("meshform.dev/status", "sidecar.istio.io/status") and isinstance(current, str):
            record = json.loads(current)
            for inner in list(_paths(record))[1:]:
                field = record
                for key in inner:
                    field = field[key]
                for value in OTHER_TYPES[_type(field)]:
                    forged = json.dumps(_replaced(record, inner, value))
                    yield f"{list(path)}#{list(inner)}={json.dumps(value)}", _replaced(doc, path, forged)


def _seeds(name: str) -> list[Any]:
    return [d for d in yaml.safe_load_all((ROOT / "tests" / "fixtures" / name).read_text()) if d]


SEEDS = ["fuzz/workloads.yaml", "fuzz/governed.yaml", "injected/istio-kube-inject.yaml"]
CONFIGS = [TransformConfig(mode="builtin"), TransformConfig(mode="linkerd")]


def _assert_located(diags: list[Any], where: str) -> None:
    for d in diags:
        if d.code in ("MF150", "MF250"):
            assert d.line >= 1 and d.col >= 1, (where, d)


def _through_transform_and_check(text: str, where: str, round_trip: bool, scratch: Path) -> None:
    """What `transform` (each engine) does after reading, minus printing; and `check`, whole."""
    runs = [(FAST, CONFIGS[0]), (FAST, CONFIGS[1])] + ([(ROUND_TRIP, CONFIGS[0])] if round_trip else [])
    for engine, config in runs:
        chunks = load_text(text, "in.yaml", engine)
        run = Transformer([i for c in chunks for i in c.items], config, DEFAULT)
        diags = run.run()
        _assert_located(diags, where)
        if not any(d.level.value == "error" for d in diags):
            emit(chunks, engine)
    scratch.write_text(text)
    assert check_command([str(scratch)], TransformConfig(mode="istio"), DEFAULT, "json") in (0, 1), where


def _through_krm(docs: list[Any], where: str) -> None:
    listed = {
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "functionConfig": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        "items": docs,
    }
    listed["functionConfig"]["data"] = {"mode": "builtin"}
    out, diags = krm.run(dump_document(listed), DEFAULT)
    back = yaml.safe_load(out)
    assert back["kind"] == "ResourceList", where
    if any(d.level.value == "error" for d in diags):
        assert back["items"] == docs, where  # never partial: every item exactly as it came
        _assert_located(diags, where)


SAMPLE = 10  # the round-trip engine (ruamel, ~30x slower) reads every tenth mutant: its data differ
# from the fast engine's only in their Python types, which the shape checks treat alike


@pytest.mark.parametrize("seed", SEEDS)
def test_no_field_of_any_shape_breaks_transform_check_or_krm(seed: str, tmp_path: Path) -> None:
    docs = _seeds(seed)
    tried = 0
    for index, doc in enumerate(docs):
        for name, mutant in mutants(doc):
            where = f"{seed} document {index}: {name}"
            variant = [*docs[:index], mutant, *docs[index + 1 :]]
            text = "---\n".join(dump_document(d) for d in variant)
            sampled = tried % SAMPLE == 0
            _through_transform_and_check(text, where, sampled, tmp_path / "in.yaml")
            if sampled:
                _through_krm(variant, where)
            tried += 1
    assert tried > 300  # every field of every seed, as every other type


APPS = sorted((ROOT / "examples").glob("*/app.yaml"))


@pytest.mark.parametrize("app", APPS, ids=[a.parent.name for a in APPS])
def test_no_field_of_any_shape_breaks_validate_or_render(app: Path) -> None:
    seed = yaml.safe_load(app.read_text())
    for name, mutant in mutants(seed):
        text = dump_document(mutant)
        try:
            docs = load_documents(text, "app.yaml")
        except MeshformError:
            continue  # refused as YAML (e.g. a key that is now a list): located by the reader
        for mode in (None, "builtin"):
            result = render_documents(docs, DEFAULT, GovernOptions(mode))
            for d in [*check_documents(docs, DEFAULT, GovernOptions(mode)), *result.diagnostics]:
                assert d.line >= 1 and d.col >= 1, (name, d)


def test_the_fuzzer_reaches_the_cases_of_the_issue() -> None:
    """The adv-05 inputs are among the mutants: metadata as a string, labels as a list..."""
    (deployment,) = [d for d in _seeds("fuzz/workloads.yaml") if d["kind"] == "Deployment"]
    names = {name for name, _ in mutants(deployment)}
    for expected in (
        "['spec', 'template', 'metadata']=\"x\"",
        "['spec', 'template', 'metadata', 'labels']=[\"x\"]",
        "['spec', 'template', 'spec', 'containers']=\"x\"",
        "['spec', 'template', 'spec', 'containers']=[null]",
        "['spec', 'template', 'spec', 'containers', 0, 'name']=[\"x\"]",
    ):
        assert expected in names


# --------------------------------------------------------------------- verify: odd API answers

ODD_ANSWERS: list[Any] = [
    [],
    "x",
    7,
    None,
    {"items": "x", "resources": 7, "gitVersion": ["x"]},
    {"items": [1, "x", None, {"metadata": "x", "spec": [], "status": 1}]},
    {
        "items": [
            {
                "kind": "Deployment",
                "metadata": {"name": ["x"], "labels": "x", "annotations": [1], "namespace": {}},
                "spec": {"replicas": "many", "template": "x", "selector": [1]},
                "status": {"availableReplicas": "x", "conditions": "x", "numberReady": [1]},
                "webhooks": [1, {"clientConfig": "x", "namespaceSelector": "x", "objectSelector": [1]}],
                "subsets": "x",
                "endpoints": [{"conditions": "x"}],
                "data": "x",
            }
        ],
        "metadata": "x",
        "spec": {"containers": "x"},
        "status": "x",
        "webhooks": "x",
        "data": ["x"],
    },
]


REPORT_SCHEMA = json.loads((ROOT / "schemas" / "verify-report.schema.json").read_text())


class _Odd(BaseHTTPRequestHandler):
    body = b"{}"

    def _answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def odd_server() -> Iterator[tuple[ThreadingHTTPServer, type[_Odd]]]:
    handler = type("Handler", (_Odd,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


RAW_ANSWERS = [json.dumps(a).encode() for a in ODD_ANSWERS] + [
    b"[" * 100_000 + b"]" * 100_000,  # nested past what Python's json parses
    b"not json at all",
]


@pytest.mark.parametrize("answer", range(len(RAW_ANSWERS)))
def test_verify_survives_any_answer_of_the_api_server(
    tmp_path: Path, odd_server: tuple[ThreadingHTTPServer, type[_Odd]], answer: int
) -> None:
    server, handler = odd_server
    handler.body = RAW_ANSWERS[answer]
    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c"}}],
            }
        )
    )
    proc = run_cli("verify", str(_every_mode(tmp_path)), "--kubeconfig", str(config), "-o", "json",
                   "--timeout", "5")  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    assert b"Traceback" not in proc.stderr and b"internal error" not in proc.stderr
    jsonschema.validate(json.loads(proc.stdout), REPORT_SCHEMA)


def _every_mode(tmp_path: Path) -> Path:
    """One workload per mode (each says so in its status record): one run of verify checks them all."""
    (web,) = [d for d in _seeds("fuzz/workloads.yaml") if d["kind"] == "Deployment"]
    docs = []
    for mode in ("istio", "istio-ambient", "linkerd", "kuma", "consul", "builtin"):
        record = json.dumps({"mode": mode, "strategy": "labels"})
        doc = _replaced(web, ("metadata", "name"), f"web-{mode}")
        docs.append(
            _replaced(doc, ("spec", "template", "metadata", "annotations", "meshform.dev/status"), record)
        )
    path = tmp_path / "every-mode.yaml"
    path.write_text("---\n".join(dump_document(d) for d in docs))
    return path


# ------------------------------------------------------------------- the quick answer agrees


def _agree(obj: Any, where: str) -> None:
    for shape in (*shapes.BY_KIND.values(), shapes.OTHER, shapes._workload_shape(("spec", "template"))):
        assert shape.ok(obj) == (not list(shape(obj, ()))), where
    full = [
        *shapes.scalar(obj.get("apiVersion"), ("apiVersion",)),
        *shapes.scalar(obj.get("kind"), ("kind",)),
        *shapes.shape_of(obj)(obj, ()),
    ]
    assert list(shapes.problems(obj)) == full, where


@pytest.mark.parametrize("seed", SEEDS)
def test_the_quick_answer_agrees_with_the_problems_found(seed: str) -> None:
    """shapes.Shape.ok (the fast path every object takes) says "no problem" exactly when the full
    check finds none, for every shape (Kubernetes' kinds, any other object, a custom workload kind),
    on every mutant of the fuzzer's seeds: each field as every other JSON type, a null list item."""
    for doc in _seeds(seed):
        _agree(doc, "seed")
        for where, mutant in mutants(doc):
            _agree(mutant, where)
        for path in list(_paths(doc))[1:]:
            if isinstance(path[-1], int):  # an item of a list as null: an error, not an absent item
                _agree(_replaced(doc, path, None), f"{list(path)}=null")


@given(
    kind=st.sampled_from(["Pod", "Deployment", "CronJob", "Service", "ConfigMap"]),
    api=st.none() | st.integers() | st.text(max_size=2) | st.lists(st.none(), max_size=1),
    labels=st.none()
    | st.dictionaries(st.text(max_size=2), st.none() | st.integers() | st.just([]), max_size=2),
)
@settings(max_examples=200, deadline=None)
def test_the_quick_answer_agrees_on_keys_and_scalars(kind: str, api: Any, labels: Any) -> None:
    _agree({"apiVersion": api, "kind": kind, "metadata": {"labels": labels}}, f"{api!r} {labels!r}")
