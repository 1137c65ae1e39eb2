"""The KRM function contract (see the design's protocols), checked against `meshform krm` as a subprocess:
one ResourceList in, one out; results with severity, resourceRef and file; annotations meshform does not
own left alone; on failure the items unchanged and a non-zero exit; comments kept.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from conftest import run_cli

from meshform.core.workloads import pod_template

ITEMS = """\
# The API: a head comment on the first item.
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: api   # inline comment
    namespace: shop
    annotations:
      config.kubernetes.io/path: legacy/api.yaml
      config.kubernetes.io/index: '3'
      internal.config.kubernetes.io/path: deploy/api.yaml
      internal.config.kubernetes.io/index: '1'
      internal.config.kubernetes.io/seqindent: compact
      internal.config.kubernetes.io/annotations-migration-resource-id: '0'
      config.k8s.io/id: '7'
      kustomize.config.k8s.io/id: |
        group: apps
        version: v1
        kind: Deployment
        name: api
        namespace: shop
      kustomize.config.k8s.io/behavior: merge
      config.kubernetes.io/local-config: 'false'
      postrenderer.helm.sh/postrender-filename: shop/templates/api.yaml
  spec:
    selector:
      matchLabels: {app: api}
    template:
      metadata:
        labels: {app: api}   # flow style kept
      spec:
        containers:
        # the main container
        - name: api
          image: ghcr.io/example/api:1
          ports:
          - {name: http, containerPort: 8080}
- apiVersion: v1
  kind: Service
  metadata:
    name: api
    namespace: shop
    annotations:
      internal.config.kubernetes.io/path: deploy/api.yaml
      internal.config.kubernetes.io/index: '0'
      config.k8s.io/id: '8'
  spec:
    selector: {app: api}
    ports:
    - name: http
      port: 80   # the public port
      targetPort: http
# A nightly job at the end.
- apiVersion: batch/v1
  kind: CronJob
  metadata:
    name: report
    namespace: shop
    annotations:
      config.kubernetes.io/path: jobs/report.yaml
  spec:
    schedule: "0 3 * * *"
    jobTemplate:
      spec:
        template:
          spec:
            restartPolicy: OnFailure
            containers:
            - name: report
              image: ghcr.io/example/report:1
"""

MESH_TRANSFORMER = """\
functionConfig:
  apiVersion: meshform.dev/v1alpha1
  kind: MeshTransformer
  metadata:
    name: mesh
    annotations:
      config.kubernetes.io/function: |
        exec:
          path: ./meshform-fn
  spec:
    mode: {mode}
"""

CONFIG_MAP = """\
functionConfig:
  apiVersion: v1
  kind: ConfigMap
  metadata:
    name: function-input
    annotations:
      config.kubernetes.io/local-config: "true"
  data:
    mode: {mode}
"""

V1 = "config.kubernetes.io/v1"
V1BETA1 = "config.kubernetes.io/v1beta1"
NOT_OURS = re.compile(
    r"^(config\.kubernetes\.io/|internal\.config\.kubernetes\.io/|config\.k8s\.io/id$"
    r"|kustomize\.config\.k8s\.io/|postrenderer\.helm\.sh/)"
)
COMMENT = re.compile(r"#\s*(.*\S)\s*$")


def resource_list(
    config: str = MESH_TRANSFORMER, mode: str = "istio", api: str = V1, items: str = ITEMS
) -> str:
    return f"apiVersion: {api}\nkind: ResourceList\nitems:\n{items}{config.replace('{mode}', mode)}"


def krm(text: str | bytes) -> tuple[int, str, str]:
    proc = run_cli("krm", stdin=text.encode() if isinstance(text, str) else text)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def parse(out: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(out) if d is not None]
    assert len(docs) == 1, "stdout must hold exactly one ResourceList"
    data: dict[str, Any] = docs[0]
    assert data["kind"] == "ResourceList"
    return data


def input_items(text: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = yaml.safe_load(text)["items"]
    return items


def comments(text: str) -> list[str]:
    return [m.group(1) for line in text.splitlines() if (m := COMMENT.search(line))]


def not_ours(obj: dict[str, Any]) -> dict[str, str]:
    annotations = obj["metadata"].get("annotations") or {}
    return {k: v for k, v in annotations.items() if NOT_OURS.match(k)}


def templates(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in (pod_template(o) for o in items) if t is not None]


# ------------------------------------------------------------------------------------------------ happy


@pytest.mark.parametrize("api", [V1, V1BETA1])
@pytest.mark.parametrize("config", [MESH_TRANSFORMER, CONFIG_MAP], ids=["MeshTransformer", "ConfigMap"])
def test_governs_items(api: str, config: str) -> None:
    text = resource_list(config, "istio", api)
    code, out, _ = krm(text)
    assert code == 0
    data = parse(out)
    assert data["apiVersion"] == api  # answered in the version it was asked in
    assert data["results"] == []
    before = input_items(text)
    assert [(o["kind"], o["metadata"]["name"]) for o in data["items"]] == [
        (o["kind"], o["metadata"]["name"]) for o in before
    ]
    governed = templates(data["items"])
    assert len(governed) == 2
    for template in governed:
        assert template["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"
        assert json.loads(template["metadata"]["annotations"]["meshform.dev/status"])["mode"] == "istio"
    assert data["items"][1] == before[1]  # the Service: nothing to do in istio mode


@pytest.mark.parametrize("mode", ["istio", "linkerd", "builtin", "kuma"])
def test_annotations_it_does_not_own_survive(mode: str) -> None:
    text = resource_list(mode=mode)
    code, out, _ = krm(text)
    assert code == 0
    after = {(o["kind"], o["metadata"]["name"]): o for o in parse(out)["items"]}
    for obj in input_items(text):
        kept = not_ours(after[obj["kind"], obj["metadata"]["name"]])
        assert kept == not_ours(obj), f"{obj['kind']}/{obj['metadata']['name']}"
    deployment = after["Deployment", "api"]
    assert deployment["metadata"]["annotations"]["kustomize.config.k8s.io/id"].endswith("namespace: shop\n")


def test_comments_in_items_survive() -> None:
    text = resource_list()
    code, out, _ = krm(text)
    assert code == 0
    assert comments(out) == comments(text)
    assert "# The API: a head comment on the first item.\n- apiVersion: apps/v1" in out
    assert "labels: {app: api, sidecar.istio.io/inject: " in out  # flow style kept too


def test_second_run_is_a_no_op() -> None:
    code, first, _ = krm(resource_list())
    assert code == 0
    code, second, _ = krm(first)
    assert code == 0
    assert second == first


def test_json_resource_list() -> None:
    doc = yaml.safe_load(resource_list())
    code, out, _ = krm(json.dumps(doc))
    assert code == 0
    data = parse(out)
    assert len(templates(data["items"])) == 2
    assert all("sidecar.istio.io/inject" in t["metadata"]["labels"] for t in templates(data["items"]))


# ---------------------------------------------------------------------------------------------- results


def test_warning_result_carries_severity_resource_ref_and_file() -> None:
    """consul's classic sidecar keeps Jobs from completing: a warning, exit 0."""
    code, out, _ = krm(resource_list(mode="consul"))
    assert code == 0
    results = parse(out)["results"]
    (warning,) = [r for r in results if "MF403" in r["message"]]
    assert warning["severity"] == "warning"
    assert warning["resourceRef"] == {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "name": "report",
        "namespace": "shop",
    }
    # only the legacy path annotation, no index: index 0
    assert warning["file"] == {"path": "jobs/report.yaml", "index": 0}


def test_unknown_mode_is_one_error_before_any_item_is_touched() -> None:
    code, out, err = krm(resource_list(mode="no-such-mode"))
    assert code == 1
    (result,) = parse(out)["results"]
    assert (
        result["severity"] == "error" and "MF204" in result["message"] and "no-such-mode" in result["message"]
    )
    assert "MF204" in err  # kustomize drops stdout of a failed function: stderr says it too


# A status copied onto the Deployment, naming its own container: an error, and nothing is removed.
FORGED_STATUS = (
    "labels: {app: api}   # flow style kept\n"
    '        annotations: {meshform.dev/status: \'{"mode":"istio","containers":["api"]}\'}'
)


def test_error_results_locate_each_item_by_the_internal_annotations() -> None:
    items = ITEMS.replace("labels: {app: api}   # flow style kept", FORGED_STATUS)
    code, out, _ = krm(resource_list(items=items))
    assert code == 1
    results = {r["resourceRef"]["kind"]: r for r in parse(out)["results"]}
    assert set(results) == {"Deployment"}
    assert results["Deployment"]["severity"] == "error" and "MF251" in results["Deployment"]["message"]
    # internal.config.kubernetes.io/* wins over the legacy config.kubernetes.io/* pair; index is an int
    assert results["Deployment"]["file"] == {"path": "deploy/api.yaml", "index": 1}
    assert results["Deployment"]["resourceRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "api",
        "namespace": "shop",
    }


def test_info_result_for_a_skipped_helm_hook() -> None:
    items = ITEMS.replace(
        "      config.kubernetes.io/path: jobs/report.yaml\n",
        "      config.kubernetes.io/path: jobs/report.yaml\n      helm.sh/hook: post-install\n",
    )
    code, out, _ = krm(resource_list(items=items))
    assert code == 0
    data = parse(out)
    (info,) = data["results"]
    assert info["severity"] == "info"
    assert "MF405" in info["message"]
    assert info["resourceRef"]["name"] == "report"
    report = data["items"][2]
    assert report == input_items(resource_list(items=items))[2]  # left alone


# ------------------------------------------------------------------------------------------------ errors

FAILURES = {
    "unknown-mode": resource_list(mode="no-such-mode"),
    "unknown-config-key": resource_list(CONFIG_MAP.replace("mode: {mode}", "mode: istio\n    mod: x")),
    "invalid-meshtransformer": resource_list(
        MESH_TRANSFORMER.replace("mode: {mode}", "mode: istio\n    x: 1")
    ),
    "wrong-config-kind": resource_list(
        "functionConfig:\n  apiVersion: v1\n  kind: Secret\n  metadata: {name: s}\n  data: {mode: istio}\n"
    ),
    "no-function-config": resource_list(config=""),
    "forged-status": resource_list(
        items=ITEMS.replace("labels: {app: api}   # flow style kept", FORGED_STATUS)
    ),
}


@pytest.mark.parametrize("text", FAILURES.values(), ids=FAILURES.keys())
def test_error_path_returns_items_unchanged_and_exits_non_zero(text: str) -> None:
    code, out, _ = krm(text)
    assert code != 0
    data = parse(out)  # still a ResourceList on stdout: the orchestrator reads the results
    assert data["items"] == input_items(text)
    assert data["items"], "never items: [] on a failure path"
    assert not re.search(r"^items: \[\]", out, re.M)
    errors = [r for r in data["results"] if r.get("severity", "error") == "error"]
    assert errors
    assert all(r["message"] for r in errors)
    assert comments(out) == comments(text)


@pytest.mark.parametrize(
    "stdin",
    [
        b"",
        b"   \n",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        b"apiVersion: v1\nkind: List\nitems: []\n",
        b"apiVersion: config.kubernetes.io/v2\nkind: ResourceList\nitems: []\n",
        b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n",
        b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: {}\n",
        resource_list().encode() + b"---\n" + resource_list().encode(),
        b"items: [\n",
        b"\xff\xfe not text",
        b"- a\n- b\n",
    ],
    ids=[
        "empty",
        "blank",
        "config-map",
        "list",
        "v2",
        "no-items",
        "items-not-a-list",
        "two-lists",
        "bad-yaml",
        "not-utf8",
        "sequence",
    ],
)
def test_not_a_resource_list_exits_1_with_nothing_on_stdout(stdin: bytes) -> None:
    code, out, err = krm(stdin)
    assert code == 1
    assert out == ""
    assert err.strip()
    assert "Traceback" not in err


def _line_col(text: str, needle: str) -> str:
    before = text[: text.index(needle)]
    return f"{before.count(chr(10)) + 1}:{len(before) - before.rfind(chr(10))}"


@pytest.mark.parametrize(
    ("spec", "needle", "code"),
    [
        ("    rules:\n    - kinds: [Widgett]\n      mode: linkerd\n", "Widgett", "MF430"),
        (
            "    workloadKinds:\n    - {group: example.com, kind: W, podTemplatePath: a.b}\n",
            "podTemplatePath: a.b",
            "MF105",
        ),
    ],
    ids=["rule-kind", "schema"],
)
def test_a_function_config_error_is_located_in_the_resource_list(spec: str, needle: str, code: str) -> None:
    text = resource_list() + spec
    status, _out, err = krm(text)
    assert status == 1
    first = err.splitlines()[0]
    assert first.startswith(f"<stdin>:{_line_col(text, needle)}: error {code}"), first
    assert "<stdin>:1:1:" not in err
