"""The injectors' own inputs for pre-injection (modeOptions.<mesh>.valuesFile / meshConfigFile, inline
values / meshConfig): the ConfigMap as kubectl prints it or the bare value, every bad input a located
error; and the status record's `fields` (an injector's rewrite of the app's containers) undone exactly."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from meshform.core import status
from meshform.diagnostics import MeshformError
from meshform.model import injector_inputs
from meshform.modes.base import Enrollment
from meshform.resources import mesh_template, mesh_versions
from meshform.yamlio.reader import read_file

VALUES = {"global": {"hub": "docker.io/istio", "proxy": {"logLevel": "warning"}}}
CONFIG_MAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio-sidecar-injector
  namespace: istio-system
data:
  config: "policy: enabled"
  values: |-
{body}
"""


def _app(tmp: Path, options: str) -> Path:
    app = tmp / "app.yaml"
    app.write_text(f"spec:\n  modeOptions:\n    istio:\n{options}")
    return app


def _resolve(app: Path) -> dict[str, object]:
    doc = read_file(str(app))[0]
    return injector_inputs.resolve(doc.data["spec"]["modeOptions"], doc, ("spec", "modeOptions"))


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.splitlines())


FORMS = [
    "configmap",
    "bare-json",
    "bare-yaml",
    "inline",
    "inline-text",
    "inline-configmap",
    "inline-configmap-text",
]


def _configmap(name: str, key: str, text: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {key: text}}


@pytest.mark.parametrize("form", FORMS)
def test_every_form_of_the_values_gives_the_same_data(tmp_path: Path, form: str) -> None:
    body = json.dumps(VALUES, indent=2)
    if form == "configmap":
        (tmp_path / "v.yaml").write_text(CONFIG_MAP.format(body=_indent(body)))
        option = "      valuesFile: v.yaml\n"
    elif form == "bare-json":
        (tmp_path / "v.json").write_text(body)
        option = "      valuesFile: v.json\n"
    elif form == "bare-yaml":
        (tmp_path / "v.yaml").write_text("global:\n  hub: docker.io/istio\n  proxy:\n    logLevel: warning\n")
        option = "      valuesFile: v.yaml\n"
    elif form == "inline":
        option = "      values:\n        global: {hub: docker.io/istio, proxy: {logLevel: warning}}\n"
    elif form == "inline-text":
        option = f"      values: {json.dumps(json.dumps(VALUES))}\n"
    elif form == "inline-configmap":  # the ConfigMap itself, pasted as a mapping
        option = "      values:\n" + _indent(_indent(yaml.safe_dump(_configmap("i", "values", body))))
    else:  # ... or as its text
        text = yaml.safe_dump(_configmap("i", "values", body))
        option = f"      values: {json.dumps(text)}\n"
    options = _resolve(_app(tmp_path, option))["istio"]
    assert isinstance(options, dict)
    assert options["values"] == VALUES
    assert "valuesFile" not in options and options["valuesAt"][0].endswith((".yaml", ".json"))


@pytest.mark.parametrize("as_text", [False, True], ids=["mapping", "text"])
@pytest.mark.parametrize(
    ("mesh", "key", "data_key", "value"),
    [
        ("istio", "values", "values", VALUES),
        ("istio", "meshConfig", "mesh", {"trustDomain": "corp.example", "defaultConfig": {"concurrency": 2}}),
        ("linkerd", "values", "values", {"linkerdVersion": "edge-26.8.3", "proxy": {"logLevel": "debug"}}),
    ],
)
def test_an_inline_configmap_is_read_as_the_file_form_is(
    tmp_path: Path, mesh: str, key: str, data_key: str, value: dict[str, object], as_text: bool
) -> None:
    """The ConfigMap pasted inline (a mapping or its text) gives its data key's value, not the
    ConfigMap itself taken for a bare value (which silently left the defaults in force)."""
    cm = _configmap("c", data_key, json.dumps(value))
    inline = json.dumps(yaml.safe_dump(cm)) if as_text else json.dumps(cm)
    app = tmp_path / "app.yaml"
    app.write_text(f"spec:\n  modeOptions:\n    {mesh}:\n      {key}: {inline}\n")
    (tmp_path / "cm.yaml").write_text(yaml.safe_dump(cm))
    (tmp_path / "file.yaml").write_text(f"spec:\n  modeOptions:\n    {mesh}:\n      {key}File: cm.yaml\n")
    inline_opts, file_opts = _resolve_mesh(app, mesh), _resolve_mesh(tmp_path / "file.yaml", mesh)
    assert inline_opts[key] == file_opts[key] == value


def _resolve_mesh(app: Path, mesh: str) -> dict[str, object]:
    found = _resolve(app)[mesh]
    assert isinstance(found, dict)
    return found


@pytest.mark.parametrize(
    ("option", "message", "where"),
    [
        # a bad value inside the pasted ConfigMap: located at its own key in the options' file
        (
            "      values:\n        kind: ConfigMap\n        data:\n          values: '{\"global\": [1,'\n",
            "MF002 data.values",
            (7, 34),  # the end of the text, where it stands in the file
        ),
        (
            "      values:\n        kind: ConfigMap\n        data: {other: x}\n",
            "ConfigMap has no data.values",
            (6, 9),
        ),
        ("      values:\n        kind: ConfigMap\n        data: {values: 5}\n", "must be a string", (6, 16)),
        (
            "      values: 'kind: ConfigMap\n\n        data: {other: x}'\n",
            "ConfigMap has no data.values",
            (4, 7),
        ),
        ("      values:\n        apiVersion: v1\n        kind: Secret\n", "not a Secret", (6, 9)),
    ],
)
def test_a_bad_inline_configmap_is_located(
    tmp_path: Path, option: str, message: str, where: tuple[int, int]
) -> None:
    name, line, col, code, found = _error(tmp_path, option)
    wanted, _, message = message.rpartition(" ") if message.startswith("MF0") else ("MF322", "", message)
    assert (name, code) == ("app.yaml", wanted) and message in found and (line, col) == where, found


def _error(tmp_path: Path, option: str) -> tuple[str, int, int, str, str]:
    with pytest.raises(MeshformError) as caught:
        _resolve(_app(tmp_path, option))
    d = caught.value.diagnostics[0]
    return Path(d.file).name, d.line, d.col, d.code, d.message


def test_a_missing_file_is_located_at_the_option(tmp_path: Path) -> None:
    assert _error(tmp_path, "      valuesFile: nope.yaml\n")[:4] == ("app.yaml", 4, 7, "MF321")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    found = _error(tmp_path, "      meshConfigFile: d\n")
    assert found[3] == "MF321" and "is a directory" in found[4]


def test_bad_yaml_in_the_file_is_located_in_the_file(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text("global:\n  hub: [unclosed\n")
    assert _error(tmp_path, "      valuesFile: v.yaml\n")[:4] == ("v.yaml", 3, 1, "MF002")


def test_bad_json_inside_the_configmap_value_is_located_at_that_value(tmp_path: Path) -> None:
    """The block scalar's text stands in the file as is: the error at its place there (line 9, the
    end of `    {"global": [1,`), not at the data key."""
    (tmp_path / "v.yaml").write_text(CONFIG_MAP.format(body=_indent('{"global": [1,')))
    name, line, col, code, message = _error(tmp_path, "      valuesFile: v.yaml\n")
    assert (name, line, col, code) == ("v.yaml", 9, 19, "MF002") and "data.values" in message


def test_bad_json_in_an_escaped_configmap_string_is_located_at_its_key_with_the_line_inside(
    tmp_path: Path,
) -> None:
    (tmp_path / "v.yaml").write_text(CONFIG_MAP.replace("|-\n{body}", '"{\\n  \\"global\\": [1,"'))
    name, line, col, code, message = _error(tmp_path, "      valuesFile: v.yaml\n")
    assert (name, line, col, code) == ("v.yaml", 8, 3, "MF002") and "(line 2 of data.values)" in message


@pytest.mark.parametrize(
    ("content", "message", "where"),
    [
        ("- a\n- b\n", "expected the ConfigMap", (1, 1)),
        ("kind: ConfigMap\ndata:\n  other: x\n", "ConfigMap has no data.values", (2, 1)),
        ("kind: ConfigMap\ndata:\n  values: 5\n", "data.values must be a string", (3, 3)),
        ("kind: ConfigMap\ndata:\n  values: '[1]'\n", "data.values must be one mapping", (3, 3)),
        ("a: 1\n---\nb: 2\n", "must hold one document", (3, 1)),  # the one too many
    ],
)
def test_a_file_of_the_wrong_shape_is_mf322(
    tmp_path: Path, content: str, message: str, where: tuple[int, int]
) -> None:
    (tmp_path / "v.yaml").write_text(content)
    name, line, col, code, found = _error(tmp_path, "      valuesFile: v.yaml\n")
    assert (name, code, (line, col)) == ("v.yaml", "MF322", where) and message in found


def test_file_and_inline_together_are_refused(tmp_path: Path) -> None:
    found = _error(tmp_path, "      valuesFile: v.yaml\n      values: {}\n")
    assert found[3] == "MF322" and "not both" in found[4]


def test_an_inline_value_of_the_wrong_type_is_located(tmp_path: Path) -> None:
    assert _error(tmp_path, "      meshConfig: 5\n")[1:4] == (4, 7, "MF322")


# ------------------------------------------------------------------------------- rewritten app fields


def test_rewritten_container_fields_are_recorded_and_restored_exactly() -> None:
    probe = {"httpGet": {"path": "/", "port": 8000}}
    template = {
        "metadata": {"labels": {"app": "a"}},
        "spec": {"containers": [{"name": "app", "image": "x", "readinessProbe": probe}]},
    }
    original = copy.deepcopy(template)
    rewritten = {"httpGet": {"path": "/app-health/app/readyz", "port": 15020}}
    wanted = Enrollment(container_fields={"app": {"readinessProbe": rewritten, "livenessProbe": None}})
    status.apply(template, "istio", "sidecar", wanted)
    assert template["spec"]["containers"][0]["readinessProbe"] == rewritten
    record = status.read(template)
    assert record is not None and dict(record.fields["app"]) == {
        "readinessProbe": '{"httpGet":{"path":"/","port":8000}}',  # JSON text: keeps the user's key order
        "livenessProbe": None,
    }
    status.remove(template, record)
    assert template == original


def test_a_fields_record_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(status.StatusError, match="field 'fields' must be"):
        status.parse('{"mode": "istio", "fields": {"app": 1}}')
    with pytest.raises(status.StatusError, match="field 'fields' must be"):
        status.parse('{"mode": "istio", "fields": {"app": {"readinessProbe": "{not json"}}}')


@pytest.mark.parametrize("version", mesh_versions("istio"))
def test_istio_defaults_read_by_libyaml_are_what_the_reference_reader_reads(version: str) -> None:
    """istio_inject._defaults reads its defaults.yaml with libyaml's safe loader (the pure-Python one
    cost every run ~5 ms): the same data as yaml.safe_load, to the type of every value."""
    from meshform.modes.istio_inject import _defaults

    reference = yaml.safe_load(mesh_template("istio", version, "defaults.yaml"))
    assert json.dumps(_defaults(version), sort_keys=True) == json.dumps(reference, sort_keys=True)
    assert _defaults(version) == reference
