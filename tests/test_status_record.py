"""The status record is input too: a malformed one is a located error, a copied or forged one is not
believed, and nothing is removed on the word of either. Objects it lists are dropped only when they
name their workload as owner."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from conftest import run_cli, transform_text

from meshform.core import status
from meshform.core.status import StatusError

# ------------------------------------------------------------------------------------------------ shape


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (5, "is a int, not the JSON text"),
        ("{", "not valid JSON"),
        ("[1]", "not a JSON object"),
        ("{}", "has no mode"),
        ('{"mode": ""}', "field 'mode' must be a mode name"),
        ('{"mode": 1}', "field 'mode' must be a mode name"),
        ('{"mode": "istio", "labels": "abc"}', "field 'labels' must be an object"),
        ('{"mode": "istio", "annotations": []}', "field 'annotations' must be an object"),
        ('{"mode": "istio", "containers": 5}', "field 'containers' must be a list of distinct names"),
        (
            '{"mode": "istio", "containers": ["a", "a"]}',
            "field 'containers' must be a list of distinct names",
        ),
        ('{"mode": "istio", "initContainers": [1]}', "field 'initContainers' must be a list"),
        ('{"mode": "istio", "volumes": [""]}', "field 'volumes' must be a list"),
        ('{"mode": "istio", "env": {"web": "x"}}', "field 'env' must be an object of container"),
        ('{"mode": "istio", "objects": ["db"]}', "field 'objects' must be a list of distinct \"Kind/name\""),
        ('{"mode": "istio", "created": 5}', "field 'created' must be a list"),
        ('{"mode": "istio", "created": ["spec"]}', "field 'created' must be a list"),
        ('{"mode": "istio", "strategy": 3}', "field 'strategy' must be a string"),
        ('{"mode": "istio", "targetPorts": [80]}', "field 'targetPorts' must be an object"),
        ('{"mode": "istio", "jobLabels": ["a"]}', "field 'jobLabels' must be an object"),
        ('{"mode": "istio", "jobAnnotations": "x"}', "field 'jobAnnotations' must be an object"),
        ('{"mode": "istio", "jobCreated": ["spec"]}', "field 'jobCreated' must be a list"),
        ('{"mode": "istio", "futureField": 1}', "unknown field 'futureField' (written by a newer meshform?)"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_a_malformed_record_is_refused_with_the_reason(raw: Any, message: str) -> None:
    with pytest.raises(
        StatusError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")
    ):
        status.parse(raw)


def test_what_meshform_writes_parses_back() -> None:
    out, _ = transform_text(WEB.format(annotations=""), "builtin")
    template = yaml.safe_load(out.split("---\n")[0])["spec"]["template"]
    record = status.read(template)
    assert record is not None and record.mode == "builtin"
    assert record.init_containers == ("meshform-proxy",) and record.objects == (
        "ConfigMap/web-meshform-envoy",
    )


WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: shop}}
spec:
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web, team: core}}{annotations}
    spec:
      containers:
      - {{name: web, image: nginx, ports: [{{name: http, containerPort: 8080}}]}}
      - {{name: log, image: fluentbit}}
"""
DB = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: shop}
spec:
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - {name: db, image: postgres}
"""


def with_status(record: dict[str, Any] | str) -> str:
    raw = record if isinstance(record, str) else json.dumps(record)
    return WEB.format(annotations="\n      annotations:\n        meshform.dev/status: " + json.dumps(raw))


def transform(text: str, *args: str) -> tuple[int, str, str]:
    proc = run_cli("transform", "-", *args, stdin=text.encode())
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


@pytest.mark.parametrize(
    "raw",
    [
        '{"mode":"istio","labels":"abc"}',
        '{"mode":"istio","containers":5}',
        '{"mode":"istio","created":5}',
        "nope",
    ],
)
def test_a_malformed_record_is_a_located_error_and_nothing_is_written(raw: str) -> None:
    code, out, err = transform(DB + "---\n" + with_status(raw), "--mode", "linkerd")
    assert (code, out) == (1, "")
    assert err.startswith(  # at the annotation itself (line 24 of the stream)
        "<stdin>:24:9: error MF250 Deployment/shop/web: its meshform.dev/status annotation "
    )
    assert "internal error" not in err and "Traceback" not in err


# ------------------------------------------------------------------------------------------ provenance

FORGED = {
    "a user label": {"mode": "istio", "labels": {"team": None}},
    "a key the pod lacks": {"mode": "istio", "labels": {"sidecar.istio.io/inject": None}},
    "a container a label mode never adds": {"mode": "istio", "containers": ["web"]},
    "a user container as the proxy": {"mode": "builtin", "strategy": "sidecar", "containers": ["web"]},
    "the proxy as a regular container": {
        "mode": "builtin",
        "strategy": "sidecar",
        "containers": ["meshform-proxy"],
    },
    "another object": {"mode": "istio", "objects": ["Deployment/db"]},
    "another workload's ConfigMap": {"mode": "builtin", "objects": ["ConfigMap/db-meshform-envoy"]},
    "env of a label mode": {"mode": "istio", "env": {"web": {"DB_HOST": None}}},
    "env that is no dependency variable": {"mode": "builtin", "env": {"web": {"PASSWORD": None}}},
    "an unknown mode": {"mode": "acme-mesh"},
}


@pytest.mark.parametrize("record", FORGED.values(), ids=FORGED.keys())
@pytest.mark.parametrize("mode", ["linkerd", "kubernetes-native"])
def test_a_forged_record_is_not_believed_and_nothing_is_removed(record: dict[str, Any], mode: str) -> None:
    code, out, err = transform(DB + "---\n" + with_status(record), "--mode", mode)
    assert (code, out) == (1, "")
    assert "<stdin>:24:9: error MF251 Deployment/shop/web: its meshform.dev/status annotation records " in err


def test_env_meshform_did_not_set_is_not_believed() -> None:
    record = {"mode": "builtin", "env": {"web": {"DB_HOST": None}}}
    text = with_status(record).replace(
        "image: nginx,", "image: nginx, env: [{name: DB_HOST, value: db.prod}],"
    )
    code, _, err = transform(text, "--mode", "istio")
    assert code == 1 and "whose value 'db.prod' meshform did not set" in err


def test_the_reported_case_keeps_every_container_label_and_object(tmp_path: Any) -> None:
    forged = {
        "mode": "istio",
        "strategy": "labels",
        "containers": ["web"],
        "labels": {"team": None},
        "objects": ["Deployment/db"],
        "created": [],
    }
    path = tmp_path / "forged.yaml"
    path.write_text(DB + "---\n" + with_status(forged))
    before = path.read_text()
    proc = run_cli("transform", str(path), "--mode", "linkerd", "--in-place")
    assert proc.returncode == 1 and b"MF251" in proc.stderr
    assert path.read_text() == before


def test_a_genuine_record_still_switches_and_reverts() -> None:
    text = DB + "---\n" + WEB.format(annotations="")
    governed, _ = transform_text(text, "builtin")
    switched, diags = transform_text(governed, "linkerd")
    assert not diags
    assert transform_text(switched, "builtin")[0] == governed
    assert [d for d in yaml.safe_load_all(transform_text(governed, "kubernetes-native")[0]) if d] == [
        d for d in yaml.safe_load_all(text) if d
    ]


def test_a_record_copied_to_another_workload_is_not_believed() -> None:
    governed, _ = transform_text(DB + "---\n" + WEB.format(annotations=""), "builtin")
    objects = [d for d in yaml.safe_load_all(governed) if d]
    db, web = objects[0], objects[2]
    copied = web["spec"]["template"]["metadata"]["annotations"]["meshform.dev/status"]
    db["spec"]["template"]["metadata"]["annotations"] = {"meshform.dev/status": copied}
    code, out, err = transform(yaml.safe_dump_all(objects), "--mode", "istio")
    assert (code, out) == (1, "") and "Deployment/shop/db: its meshform.dev/status annotation records" in err


def test_a_listed_object_that_does_not_name_its_workload_stays() -> None:
    """The record is genuine, but the ConfigMap of that name is not meshform's (no owner labels)."""
    governed, _ = transform_text(WEB.format(annotations=""), "builtin")
    objects = [d for d in yaml.safe_load_all(governed) if d]
    config_map = objects[1]
    config_map["metadata"]["labels"] = {"team": "core"}
    config_map["data"] = {"mine": "yes"}
    switched, diags = transform_text(yaml.safe_dump_all(objects), "istio")
    assert not [d for d in diags if d.level == "error"]
    assert [d for d in yaml.safe_load_all(switched) if d and d["kind"] == "ConfigMap"] == [config_map]
    _, diags = transform_text(yaml.safe_dump_all(objects), "builtin")  # and builtin will not take its name
    assert [d.code for d in diags if d.level == "error"] == ["MF255"]


def test_a_forged_service_record_is_not_believed() -> None:
    service = (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\n  annotations:\n"
        """    meshform.dev/status: '{"mode":"istio","targetPorts":{"http":null}}'\n"""
        "spec:\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n"
    )
    code, out, err = transform(WEB.format(annotations="") + "---\n" + service, "--mode", "builtin")
    assert (code, out) == (1, "")
    assert "error MF251 Service/shop/web: its meshform.dev/status annotation records mode 'istio'" in err


def test_an_application_cannot_carry_a_status(tmp_path: Any) -> None:
    app = tmp_path / "app.yaml"
    app.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: Application\nmetadata: {name: shop, namespace: shop}\n"
        "spec:\n  components:\n  - name: web\n    image: nginx\n"
        """    annotations: {meshform.dev/status: '{"mode":"istio","containers":["web"]}'}\n"""
    )
    proc = run_cli("validate", str(app))
    assert proc.returncode == 1 and b"error MF256" in proc.stderr
