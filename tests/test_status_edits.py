"""A value meshform wrote into the user's objects (an annotation, a label, an env value, a rewritten
container field) and the user edited since is not put back silently: its record keeps a digest of what
it wrote, and a mismatch is MF251 at the edited value, with nothing changed — on a re-run of the same
mode, on a switch, and with --in-place. Unedited, switching is exact as before, and a record written
before the digests existed is read as before."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, invoke, rendered_example
from test_istio_preinject import _inline_config

from meshform.core import status

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations: {prometheus.io/scrape: "true", prometheus.io/port: "9102"}
    spec:
      containers:
      - name: app
        image: web:1
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /ready, port: http}}
        livenessProbe: {httpGet: {path: /live, port: 8080}, periodSeconds: 5}
"""


def _run(text: str, *args: str) -> tuple[int, str, str]:
    return invoke("transform", *args, "-", stdin=text.encode())


def _template(doc: dict[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = doc["spec"]["template"]
    return template


def _app(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in _template(doc)["spec"]["containers"] if c["name"] == "app")


def _set_readiness_period(doc: dict[str, Any]) -> None:
    _app(doc)["readinessProbe"]["periodSeconds"] = 99


def _replace_readiness(doc: dict[str, Any]) -> None:
    _app(doc)["readinessProbe"] = {"exec": {"command": ["x"]}}


def _drop_liveness(doc: dict[str, Any]) -> None:
    del _app(doc)["livenessProbe"]


def _edit_port_annotation(doc: dict[str, Any]) -> None:
    _template(doc)["metadata"]["annotations"]["prometheus.io/port"] = "9999"


def _edit_label(doc: dict[str, Any]) -> None:
    _template(doc)["metadata"]["labels"]["security.istio.io/tlsMode"] = "disabled"


# edit → (the path the error names, the words naming the value)
EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    "probe field": (
        _set_readiness_period,
        "$.spec.template.spec.containers[0].readinessProbe",
        "field readinessProbe of container app",
    ),
    "probe replaced": (
        _replace_readiness,
        "$.spec.template.spec.containers[0].readinessProbe",
        "field readinessProbe of container app",
    ),
    "probe removed": (
        _drop_liveness,
        "$.spec.template.spec.containers[0].livenessProbe",
        "field livenessProbe of container app",
    ),
    "annotation": (
        _edit_port_annotation,
        "$.spec.template.metadata.annotations.prometheus.io/port",
        "annotation prometheus.io/port",
    ),
    "label": (
        _edit_label,
        "$.spec.template.metadata.labels.security.istio.io/tlsMode",
        "label security.istio.io/tlsMode",
    ),
}


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    cfg = _inline_config(tmp_path_factory.mktemp("cfg"), native=True)
    code, out, err = _run(APP, "--config", str(cfg))
    assert code == 0, err
    return cfg, out


def _edited(text: str, edit: Callable[[dict[str, Any]], None]) -> str:
    doc = yaml.safe_load(text)
    edit(doc)
    return yaml.safe_dump(doc, sort_keys=False)


def _line_of(text: str, path: str) -> int:
    """The line of the key the path ends in, as the error must locate it (a removed field: the
    line its container starts on, the nearest place there is)."""
    key = {"livenessProbe": "- name: app", "port": "prometheus.io/port", "tlsMode": "security.istio.io/"}.get(
        re.split(r"[./]", path)[-1], path.rsplit(".", 1)[-1]
    )
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.strip().startswith(key))


@pytest.mark.parametrize("name", EDITS)
@pytest.mark.parametrize("target", ["same mode", "kubernetes-native"])
def test_an_edited_value_is_mf251_at_it_and_nothing_changes(
    sidecar: tuple[Path, str], name: str, target: str
) -> None:
    cfg, injected = sidecar
    edit, path, words = EDITS[name]
    text = _edited(injected, edit)
    args = ("--config", str(cfg)) if target == "same mode" else ("--mode", "kubernetes-native")
    code, out, err = _run(text, *args)
    assert (code, out) == (1, "")
    line = _line_of(text, path)
    assert re.search(
        rf"^<stdin>:{line}:\d+: error MF251 Deployment/shop/web: the {words} is not what", err, re.M
    )
    assert f"[{path}]" in err and "put back what meshform wrote" in err


@pytest.mark.parametrize("name", EDITS)
def test_an_edited_value_keeps_the_file_in_place(
    sidecar: tuple[Path, str], name: str, tmp_path: Path
) -> None:
    _, injected = sidecar
    path = tmp_path / "web.yaml"
    path.write_text(_edited(injected, EDITS[name][0]))
    before = path.read_text()
    code, _, err = invoke("transform", str(path), "--mode", "kubernetes-native", "--in-place")
    assert code == 1 and "error MF251" in err
    assert path.read_text() == before


def test_an_edited_env_value_is_mf251_at_it() -> None:
    """builtin sets <DEP>_HOST / <DEP>_PORT in the app's env: an edit of one is not undone (a port
    edited to another port: a host not 127.0.0.1 is refused by provenance already)."""
    native = rendered_example(EXAMPLES[0], "kubernetes-native")
    code, builtin, err = _run(native, "--mode", "builtin")
    assert code == 0, err
    docs = list(yaml.safe_load_all(builtin))
    for doc in docs:
        for container in (
            (doc or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        ):
            for entry in container.get("env") or []:
                if entry["name"].endswith("_PORT"):
                    entry["value"] = "1234"
                    text = yaml.safe_dump_all(docs, sort_keys=False)
                    for args in (("--mode", "builtin"), ("--mode", "kubernetes-native")):
                        code, out, err = _run(text, *args)
                        assert (code, out) == (1, ""), err
                        assert f"error MF251 {doc['kind']}/" in err
                        assert f"the env variable {entry['name']} of container {container['name']}" in err
                        assert ".value]" in err
                    return
    pytest.fail("the example has no dependency env to edit")


def test_unedited_switching_is_exact_and_a_rerun_is_a_no_op(sidecar: tuple[Path, str]) -> None:
    cfg, injected = sidecar
    assert '\\"written\\":' in injected
    assert _run(injected, "--config", str(cfg))[1] == injected
    code, plain, err = _run(injected, "--mode", "kubernetes-native")
    assert code == 0, err
    assert _run(plain, "--config", str(cfg))[1] == injected


def test_a_record_without_digests_is_read_as_before(sidecar: tuple[Path, str]) -> None:
    """A record written by a meshform before the digests still un-injects (edits there go unseen)."""
    _, injected = sidecar
    doc = yaml.safe_load(injected)
    annotations = _template(doc)["metadata"]["annotations"]
    record = json.loads(annotations[status.STATUS])
    del record["written"]
    annotations[status.STATUS] = json.dumps(record)
    old = yaml.safe_dump(doc, sort_keys=False)
    want = _run(injected, "--mode", "kubernetes-native")[1]
    code, out, err = _run(old, "--mode", "kubernetes-native")
    assert code == 0, err
    assert yaml.safe_load(out) == yaml.safe_load(want)
    _set_readiness_period(doc)
    assert _run(yaml.safe_dump(doc), "--mode", "kubernetes-native")[0] == 0


@pytest.mark.parametrize(
    "written",
    [
        {"annotations/a": "xyz"},
        {"env/app": "0123abcd"},
        {"fields//x": "0123abcd"},
        {"probes/a": "0123abcd"},
        {"labels/a": 5},
        [],
    ],
)
def test_a_malformed_written_field_is_mf250(written: Any) -> None:
    with pytest.raises(status.StatusError, match="field 'written' must be"):
        status.parse(json.dumps({"mode": "istio", "written": written}))


def test_an_edited_service_target_port_is_mf251_at_it() -> None:
    """builtin points a Service's targetPort at its proxy: a targetPort edited since is not undone."""
    code, builtin, err = _run(rendered_example(EXAMPLES[0], "kubernetes-native"), "--mode", "builtin")
    assert code == 0, err
    docs = list(yaml.safe_load_all(builtin))
    service = next(
        d for d in docs if d["kind"] == "Service" and status.STATUS in d["metadata"]["annotations"]
    )
    port = service["spec"]["ports"][0]
    port["targetPort"] = 18080
    code, out, err = _run(yaml.safe_dump_all(docs, sort_keys=False), "--mode", "kubernetes-native")
    assert (code, out) == (1, "")
    name = f"Service/{service['metadata']['namespace']}/{service['metadata']['name']}"
    assert f"error MF251 {name}: the targetPort of port {port['name']} is not what" in err
    assert "[$.spec.ports[0].targetPort]" in err


CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick, namespace: shop}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        metadata:
          labels: {app: tick}
        spec:
          restartPolicy: OnFailure
          containers:
          - {name: app, image: tick:1}
"""


def test_an_edited_job_template_annotation_is_mf251_at_it(sidecar: tuple[Path, str]) -> None:
    """Istio's keys meshform also writes on a CronJob's spec.jobTemplate.metadata are checked too."""
    cfg, _ = sidecar
    code, injected, err = _run(CRONJOB, "--config", str(cfg))
    assert code == 0, err
    doc = yaml.safe_load(injected)
    annotations = doc["spec"]["jobTemplate"]["metadata"]["annotations"]
    key = next(k for k in annotations if k != "sidecar.istio.io/status")
    annotations[key] = "edited"
    code, out, err = _run(yaml.safe_dump(doc, sort_keys=False), "--mode", "kubernetes-native")
    assert (code, out) == (1, "")
    assert f"error MF251 CronJob/shop/tick: the jobTemplate annotation {key} is not what" in err
    assert f"[$.spec.jobTemplate.metadata.annotations.{key}]" in err
