"""Every error of Istio pre-injection is located at the user's own value, on every front end that
reaches it: a pod annotation Istio refuses (MF323) at that annotation's value, in the workload
(transform, helm-postrender, krm, a List's item, a CronJob) or the Application (a component's or a
version's annotations); a value of the injector's inputs (MF322 of the wrong type, MF320 a version
without templates, MF323 a setting meshform does not reproduce) at that key of the values /
meshConfig, whatever its form: a bare YAML or JSON file, the ConfigMap as `kubectl get -o yaml`
prints it (a block scalar, a one-line JSON string; an escaped string at its data key's line, with the
line inside the text), inline in a MeshTransformer, a ResourceList's functionConfig or an
Application, as a mapping or as text.

Each expectation is where the offending key stands in the text the user wrote (`_spot`), found
independently of meshform's reader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import invoke

# ------------------------------------------------------------------------- pod annotations (MF323)

WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations:
        team: payments
        ANNOTATION
    spec:
      containers: [{name: web, image: ghcr.io/example/web:1}]
"""

# One per kind of refusal override_problems makes (its key, then its value as YAML).
ANNOTATIONS = [
    ("sidecar.istio.io/userVolume", "'{}'"),  # not pre-injected
    ("proxy.istio.io/config", "'[1'"),  # not a ProxyConfig
    ("proxy.istio.io/config", "'concurrency: lots'"),  # a ProxyConfig field of the wrong type
    ("sidecar.istio.io/interceptionMode", "BOGUS"),  # a rule Istio checks
    ("sidecar.istio.io/proxyMemory", "lots"),  # not a quantity
    ("prometheus.io/port", "'15090'"),  # reserved by Istio
    ("prometheus.istio.io/scrape-targets", "x"),  # not pre-injected
]


def _spot(text: str, key: str) -> str:
    """`line:col` of the first `key` (bare or JSON-quoted, followed by its colon) in `text`."""
    for number, line in enumerate(text.split("\n"), start=1):
        for token in (f'"{key}"', f"{key}:"):
            if token in line:
                return f"{number}:{line.index(token) + 1}"
    raise AssertionError(f"{key} is not in the text")


def _value_spot(text: str, key: str) -> str:
    """`line:col` of the value of the first `key` in `text` (what the user wrote: an annotation is
    located at its value, as every mode's is)."""
    line, col = (int(n) for n in _spot(text, key).split(":"))
    here = text.split("\n")[line - 1]
    after = here.index(":", col - 1 + len(key)) + 1
    return f"{line}:{after + len(here[after:]) - len(here[after:].lstrip()) + 1}"


def _annotated(key: str, value: str) -> str:
    return WORKLOAD.replace("ANNOTATION", f"{key}: {value}")


def _refused(code: int, out: str, err: str) -> str:
    assert (code, out) == (1, ""), err
    return err


@pytest.mark.parametrize(("key", "value"), ANNOTATIONS, ids=[f"{k}={v}" for k, v in ANNOTATIONS])
def test_a_refused_annotation_is_located_at_its_value_by_transform(
    tmp_path: Path, key: str, value: str
) -> None:
    workload = tmp_path / "w.yaml"
    workload.write_text(_annotated(key, value))
    err = _refused(*invoke("transform", "--mode", "istio", "--enrollment", "sidecar", str(workload)))
    assert f"{workload}:11:{9 + len(key) + 2}: error MF323" in err and key in err, err  # at the value


def test_helm_postrender_locates_the_annotation_in_its_stdin(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(_transformer("      values: {global: {hub: docker.io/istio}}\n"))
    text = _annotated("sidecar.istio.io/interceptionMode", "BOGUS")
    err = _refused(*invoke("helm-postrender", "--config", str(cfg), stdin=text.encode()))
    assert f"<stdin>:11:{9 + len('sidecar.istio.io/interceptionMode: ')}: error MF323" in err, err


def test_a_list_item_and_a_cronjob_are_located_at_their_own_annotation(tmp_path: Path) -> None:
    items = yaml.safe_load(_annotated("sidecar.istio.io/interceptionMode", "BOGUS"))
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "metadata": {"annotations": {"status.sidecar.istio.io/port": "abc"}},
                        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]},
                    }
                }
            },
        },
    }
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [items, cron]}, sort_keys=False)
    path = tmp_path / "list.yaml"
    path.write_text(text)
    err = _refused(*invoke("transform", "--mode", "istio", "--enrollment", "sidecar", str(path)))
    assert f"{path}:{_value_spot(text, 'sidecar.istio.io/interceptionMode')}: error MF323" in err, err
    assert f"{path}:{_value_spot(text, 'status.sidecar.istio.io/port')}: error MF323" in err, err


def _krm_refused(text: str) -> str:
    """krm's stderr for a ResourceList it refuses: exit 1, the items given back unchanged."""
    code, out, err = invoke("krm", stdin=text.encode())
    assert code == 1 and yaml.safe_load(out)["items"] == yaml.safe_load(text)["items"], err
    return err


def _resource_list(items: str, config: str) -> str:
    indented = "".join(f"  {line}\n" if line else "\n" for line in config.split("\n")[:-1])
    body = "".join(("- " if i == 0 else "  ") + line + "\n" for i, line in enumerate(items.split("\n")[:-1]))
    return (
        f"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n{body}functionConfig:\n{indented}"
    )


def test_krm_locates_the_annotation_in_the_resource_list() -> None:
    config = _transformer("      values: {global: {hub: docker.io/istio}}\n")
    text = _resource_list(_annotated("sidecar.istio.io/interceptionMode", "BOGUS"), config)
    err = _krm_refused(text)
    assert f"<stdin>:{_value_spot(text, 'sidecar.istio.io/interceptionMode')}: error MF323" in err, err


APP = """\
apiVersion: meshform.dev/v1alpha1
kind: Application
metadata: {name: shop, namespace: shop}
spec:
  governanceMode: istio
  enrollment: sidecar
  modeOptions:
    istio:
OPTIONS
  components:
  - name: web
    image: ghcr.io/example/web:1
    annotations:
      sidecar.istio.io/proxyCPU: lots
    versions:
    - name: v1
      annotations:
        status.sidecar.istio.io/port: abc
"""


@pytest.mark.parametrize("command", ["render", "validate"])
def test_render_locates_a_component_and_a_version_annotation(tmp_path: Path, command: str) -> None:
    app = tmp_path / "app.yaml"
    text = APP.replace("OPTIONS\n", "      values: {global: {hub: docker.io/istio}}\n")
    app.write_text(text)
    err = _refused(*invoke(command, str(app)))
    assert f"{app}:{_value_spot(text, 'sidecar.istio.io/proxyCPU')}: error MF323" in err, err
    assert f"{app}:{_value_spot(text, 'status.sidecar.istio.io/port')}: error MF323" in err, err


# ------------------------------------------------------------ the injector's inputs (values, mesh)


@dataclass(frozen=True)
class Problem:
    """A values document with one bad key: the code it gets, and that key (unique in the text)."""

    name: str
    values: dict[str, object]
    key: str
    code: str


PROBLEMS = [
    Problem(
        "typed", {"global": {"hub": "docker.io/istio", "proxy": {"statusPort": "abc"}}}, "statusPort", "MF322"
    ),
    Problem("version", {"global": {"hub": "docker.io/istio", "tag": "1.24.3"}}, "tag", "MF320"),
    Problem("install", {"pilot": {"cni": {"enabled": True, "provider": "multus"}}}, "provider", "MF323"),
]


def _block(text: str, indent: int) -> str:
    return "".join(" " * indent + line + "\n" if line else "\n" for line in text.split("\n") if line)


def _configmap(value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio-sidecar-injector\ndata:\n{value}"


# form → (the values file's text, or None when the values are inline; the inline option's text)
FORMS = {
    "bare-yaml": lambda v: (yaml.safe_dump(v), "      valuesFile: values.yaml\n"),
    "bare-json": lambda v: (json.dumps(v, indent=2), "      valuesFile: values.yaml\n"),
    "configmap-block-json": lambda v: (
        _configmap("  values: |-\n" + _block(json.dumps(v, indent=2), 4)),
        "      valuesFile: values.yaml\n",
    ),
    "configmap-one-line-json": lambda v: (
        _configmap(f"  values: '{json.dumps(v)}'\n"),
        "      valuesFile: values.yaml\n",
    ),
    "inline-mapping": lambda v: (None, "      values:\n" + _block(yaml.safe_dump(v), 8)),
    "inline-text": lambda v: (None, "      values: |\n" + _block(json.dumps(v, indent=2), 8)),
}


def _transformer(options: str) -> str:
    return (
        "apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nmetadata: {name: t}\nspec:\n"
        f"  mode: istio\n  enrollment: sidecar\n  modeOptions:\n    istio:\n{options}"
    )


def _inputs(tmp_path: Path, problem: Problem, form: str) -> tuple[str, str]:
    """(the options' text, the file and text the problem's key is in, as `file\\0text`)."""
    file_text, options = FORMS[form](problem.values)
    if file_text is None:
        return options, ""
    (tmp_path / "values.yaml").write_text(file_text)
    return options, file_text


POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: busybox}]\n"


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("problem", PROBLEMS, ids=[p.name for p in PROBLEMS])
@pytest.mark.parametrize("command", ["transform", "helm-postrender"])
def test_a_bad_input_value_is_located_at_its_key(
    tmp_path: Path, command: str, problem: Problem, form: str
) -> None:
    options, file_text = _inputs(tmp_path, problem, form)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(_transformer(options))
    where, text = (tmp_path / "values.yaml", file_text) if file_text else (cfg, cfg.read_text())
    args = (
        ("transform", "--config", str(cfg), "-")
        if command == "transform"
        else (command, "--config", str(cfg))
    )
    err = _refused(*invoke(*args, stdin=POD.encode()))
    assert f"{where}:{_spot(text, problem.key)}: error {problem.code}" in err, err


@pytest.mark.parametrize("form", ["inline-mapping", "inline-text"])
@pytest.mark.parametrize("problem", PROBLEMS, ids=[p.name for p in PROBLEMS])
def test_krm_locates_a_bad_inline_value_in_the_function_config(problem: Problem, form: str) -> None:
    """A MF323 is found while governing the items, from the functionConfig's data (read without
    positions on the fast path): still at its key in the ResourceList."""
    _, options = FORMS[form](problem.values)
    text = _resource_list(POD, _transformer(options))
    err = _krm_refused(text)
    assert f"<stdin>:{_spot(text, problem.key)}: error {problem.code}" in err, err


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("problem", PROBLEMS, ids=[p.name for p in PROBLEMS])
def test_render_locates_a_bad_input_value_at_its_key(tmp_path: Path, problem: Problem, form: str) -> None:
    options, file_text = _inputs(tmp_path, problem, form)
    app = tmp_path / "app.yaml"
    app.write_text(APP.replace("OPTIONS\n", options).split("    annotations:")[0])
    where, text = (tmp_path / "values.yaml", file_text) if file_text else (app, app.read_text())
    err = _refused(*invoke("render", str(app)))
    assert f"{where}:{_spot(text, problem.key)}: error {problem.code}" in err, err


def test_an_escaped_configmap_string_is_located_at_its_data_key_and_says_the_line_inside(
    tmp_path: Path,
) -> None:
    """`values: "{\\n  \\"global\\"..."`: no line of the file is the text's own, so the data key's
    line, and the line inside the value in the message."""
    text = json.dumps({"global": {"hub": "docker.io/istio", "proxy": {"statusPort": "abc"}}}, indent=2)
    (tmp_path / "values.yaml").write_text(_configmap(f"  values: {json.dumps(text)}\n"))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(_transformer("      valuesFile: values.yaml\n"))
    err = _refused(*invoke("transform", "--config", str(cfg), "-", stdin=POD.encode()))
    assert f"{tmp_path / 'values.yaml'}:6:3: error MF322" in err and "(line 5 of data.values)" in err, err


def test_a_values_file_of_two_documents_is_located_at_the_second(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("global: {hub: h}\n---\n# the second\nglobal: {}\n")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(_transformer("      valuesFile: values.yaml\n"))
    err = _refused(*invoke("transform", "--config", str(cfg), "-", stdin=POD.encode()))
    assert f"{tmp_path / 'values.yaml'}:4:1: error MF322" in err and "found 2" in err, err
