"""`meshform transform` on existing manifests: adoption, rules, namespaces, preservation, output forms."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, invoke, run_cli
from k8s_schema import validate_manifest

INJECTED = ROOT / "tests" / "fixtures" / "injected"
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
MODES = ["kubernetes-native", "builtin", "istio", "istio-ambient", "linkerd", "kuma", "consul"]


def transform(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    proc = run_cli("transform", *args, stdin=stdin)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def load(text: str) -> list[Any]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


CLEAN = load((INJECTED / "clean.yaml").read_text())


@pytest.mark.parametrize("injected", ["istio-kube-inject.yaml", "linkerd-inject.yaml"])
def test_manually_injected_manifest_comes_back_clean(injected: str) -> None:
    code, out, err = transform(str(INJECTED / injected), "--mode", "kubernetes-native")
    assert code == 0, err
    assert load(out) == CLEAN


@pytest.mark.parametrize("injected", ["istio-kube-inject.yaml", "linkerd-inject.yaml"])
@pytest.mark.parametrize("mode", MODES)
def test_injected_manifest_switches_to_every_mode_and_back(injected: str, mode: str, tmp_path: Path) -> None:
    code, governed, err = transform(str(INJECTED / injected), "--mode", mode)
    assert code == 0, err
    template = load(governed)[0]["spec"]["template"]
    names = [
        c["name"] for c in template["spec"].get("containers", []) + template["spec"].get("initContainers", [])
    ]
    assert not {"istio-proxy", "istio-init", "linkerd-proxy", "linkerd-init"} & set(names)
    _, again, _ = transform("-", "--mode", mode, stdin=governed.encode())
    assert again == governed  # idempotent
    _, back, _ = transform("-", "--mode", "istio", stdin=governed.encode())
    _, forth, _ = transform("-", "--mode", mode, stdin=back.encode())
    assert forth == governed  # mode → istio → mode
    _, clean, _ = transform("-", "--mode", "kubernetes-native", stdin=governed.encode())
    assert load(clean) == CLEAN


def test_unchanged_documents_pass_through_byte_for_byte() -> None:
    text = (CORPUS / "03-crd.yaml").read_text()
    code, out, _ = transform("-", "--mode", "istio", stdin=text.encode())
    assert code == 0 and out == text


def test_owned_annotations_are_never_touched() -> None:
    code, out, _ = transform(str(CORPUS / "01-app.yaml"), "--mode", "builtin")
    assert code == 0
    web = next(d for d in load(out) if d["kind"] == "Deployment")
    original = next(d for d in load((CORPUS / "01-app.yaml").read_text()) if d["kind"] == "Deployment")
    assert web["metadata"]["annotations"] == original["metadata"]["annotations"]


def test_builtin_rewires_matching_services_and_reverts_exactly() -> None:
    src = (CORPUS / "01-app.yaml").read_text()
    _, governed, _ = transform("-", "--mode", "builtin", stdin=src.encode())
    docs = load(governed)
    service = next(d for d in docs if d["kind"] == "Service")
    assert service["spec"]["ports"][0]["targetPort"] == 15100
    assert [d["kind"] for d in docs] == ["Namespace", "Deployment", "ConfigMap", "Service"]
    _, native, _ = transform("-", "--mode", "kubernetes-native", stdin=governed.encode())
    assert load(native) == load(src)


def test_rules_select_by_kind_name_namespace_and_labels(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nspec:\n  mode: istio\n  rules:\n"
        "  - kinds: [StatefulSet]\n    mode: kubernetes-native\n"
        "  - names: ['leg*']\n    mode: linkerd\n"
        "  - selector: {matchExpressions: [{key: app, operator: In, values: [older]}]}\n    skip: true\n"
    )
    code, out, err = transform(str(CORPUS), "--config", str(cfg))
    assert code == 0, err
    docs = {(d["kind"], d["metadata"]["name"]): d for d in load(out) if d.get("kind") != "List"}
    assert "meshform.dev/status" not in json.dumps(docs[("ReplicationController", "older")])
    assert (
        docs[("ReplicaSet", "legacy")]["spec"]["template"]["metadata"]["annotations"]["linkerd.io/inject"]
        == "enabled"
    )
    assert docs[("Pod", "debug")]["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"


def test_opt_out_annotation_and_helm_hooks(tmp_path: Path) -> None:
    manifest = (
        (CORPUS / "04-jobs.yaml")
        .read_text()
        .replace("  name: nightly\n", '  name: nightly\n  annotations:\n    meshform.dev/ignore: "true"\n')
    )
    code, out, err = transform("-", "--mode", "istio", stdin=manifest.encode())
    assert code == 0
    nightly, migrate, _ = load(out)
    assert "sidecar.istio.io/inject" not in json.dumps(nightly)
    assert "sidecar.istio.io/inject" not in json.dumps(migrate)
    assert "MF405" in err
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nspec: {mode: istio, helmHooks: govern}\n"
    )
    _, out, _ = transform("-", "--config", str(cfg), stdin=manifest.encode())
    assert "sidecar.istio.io/inject" in json.dumps(load(out)[1])


def test_kpt_style_config_map(tmp_path: Path) -> None:
    cfg = tmp_path / "fn.yaml"
    cfg.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fn}\ndata: {mode: consul}\n")
    code, out, _ = transform(str(CORPUS / "05-pods.yaml"), "--config", str(cfg))
    assert code == 0 and out.count('consul.hashicorp.com/connect-inject: "true"') == 3


NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n{meta}---\n"
WORKLOAD = (CORPUS / "05-pods.yaml").read_text().split("---\n")[1]


@pytest.mark.parametrize(
    ("meta", "mode", "code", "diag"),
    [
        ("  labels: {istio-injection: disabled}\n", "istio", 1, "MF602"),
        (
            "  labels: {istio-injection: enabled}\n  annotations: {linkerd.io/inject: enabled}\n",
            "istio",
            1,
            "MF601",
        ),
        ("  labels: {istio-injection: enabled, istio.io/dataplane-mode: ambient}\n", "istio", 0, "MF601"),
        ("  labels: {config.linkerd.io/admission-webhooks: disabled}\n", "linkerd", 1, "MF603"),
        ("  labels: {team: x}\n", "kuma", 1, "MF404"),  # a known namespace without the key: not governed
    ],
    ids=["istio-disabled", "two-meshes", "sidecar-and-ambient", "linkerd-excluded", "kuma-unlabelled"],
)
def test_namespace_precedence_traps(meta: str, mode: str, code: int, diag: str) -> None:
    rc, out, err = transform("-", "--mode", mode, stdin=(NS.format(meta=meta) + WORKLOAD).encode())
    assert rc == code and diag in err
    assert (out == "") == (code != 0)  # nothing on stdout when it fails


def test_namespace_enrolled_in_another_mesh_gets_an_opt_out() -> None:
    stream = NS.format(meta="  labels: {istio-injection: enabled}\n") + WORKLOAD
    rc, out, _ = transform("-", "--mode", "linkerd", stdin=stream.encode())
    labels = load(out)[1]["spec"]["template"]["metadata"]["labels"]
    assert rc == 0 and labels["sidecar.istio.io/inject"] == "false"
    _, native, _ = transform("-", "--mode", "kubernetes-native", stdin=out.encode())
    assert load(native)[1]["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    _, back, _ = transform("-", "--mode", "istio", stdin=out.encode())
    assert load(back)[1]["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"


def test_workload_opting_out_of_its_target_mode_is_left_out_with_a_warning() -> None:
    stream = WORKLOAD.replace(
        "labels: {app: legacy}\n    spec:",
        "labels: {app: legacy, sidecar.istio.io/inject: 'false'}\n    spec:",
    )
    rc, out, err = transform("-", "--mode", "istio", stdin=stream.encode())
    assert rc == 0 and "warning MF252" in err and "meshform.dev/ignore" in err
    assert out == stream  # the user's opt-out wins: left exactly as written
    check = run_cli("check", "-", "--mode", "istio", stdin=stream.encode())
    assert check.returncode == 0, check.stderr  # and `check` agrees it is not meant to be governed


def test_in_place_keeps_comments_and_quoting(tmp_path: Path) -> None:
    target = tmp_path / "app.yaml"
    shutil.copy(CORPUS / "01-app.yaml", target)
    code, out, err = transform(str(target), "--mode", "linkerd", "--in-place")
    assert code == 0 and out == "", err
    text = target.read_text()
    for kept in (
        "# A hand-written app",
        "replicas: 3 # three",
        "team: 'payments'   # single-quoted on purpose",
        "config.kubernetes.io/index: '0'",
        'image: "nginx:1.27"',
        "linkerd.io/inject: enabled",
    ):
        assert kept in text
    code, diff_out, _ = transform(str(target), "--mode", "linkerd", "--diff")
    assert (code, diff_out) == (0, "")
    code, diff_out, _ = transform(str(target), "--mode", "istio", "--diff")
    assert code == 1 and '+        sidecar.istio.io/inject: "true"' in diff_out


def test_diff_exit_code_above_one_on_error() -> None:
    rc, out, _ = transform("-", "--mode", "istio", "--diff", stdin=b"a: [\n")
    assert rc == 2 and out == ""


def test_output_directory_and_schema_validity(tmp_path: Path) -> None:
    code, _, err = transform(str(CORPUS), "--mode", "builtin", "-o", f"{tmp_path / 'out'}/")
    assert code == 0, err
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "apps_v1_deployment_web.yaml" in files and "v1_configmap_web-meshform-envoy.yaml" in files
    invalid_inputs = 0
    for path in (tmp_path / "out").glob("*.yaml"):
        obj = yaml.safe_load(path.read_text())
        if obj["kind"] in ("Widget", "CustomResourceDefinition"):
            continue
        errors = validate_manifest(obj, "1.37")
        # The corpus carries one deliberately unknown field; meshform must keep it, not fix it.
        invalid_inputs += errors == [
            "$.spec.template.spec.containers[0]: Additional properties are not allowed "
            "('x-unknown-field' was unexpected)"
        ]
        assert errors == [] or invalid_inputs == 1, path.name


@pytest.mark.parametrize("bad", [b"a: [\n", b"kind: X\n  bad: indent\n", b"\xff\xfe", b"a: 1\na: 2\n"])
def test_bad_input_is_located_and_stdout_stays_empty(bad: bytes) -> None:
    rc, out, err = transform("-", "--mode", "istio", stdin=bad)
    assert rc == 1 and out == "" and err.startswith("<stdin>:") and "Traceback" not in err


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ("istio: {valuesfile: values.json}", "valuesfile"),
        ("linkerd: {bogusKey: 1}", "bogusKey"),
        ("builtin: {adminport: 9901}", "adminport"),
        ("kuma: {meshServices: Sometimes}", "meshServices"),
        ("istio-mesh: {}", "istio-mesh"),
    ],
)
def test_a_transformers_mode_options_follow_the_applications_rule(
    tmp_path: Path, options: str, field: str
) -> None:
    """modeOptions of a MeshTransformer are checked by the very definition an Application's are: a
    misspelt key is MF102/MF104 located at it, exit 1, never silently the defaults."""
    cfg = tmp_path / "t.yaml"
    cfg.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nmetadata: {name: t}\n"
        f"spec:\n  mode: istio\n  modeOptions:\n    {options}\n"
    )
    code, out, err = invoke("transform", "--config", str(cfg), "-", stdin=b"apiVersion: v1\nkind: Pod\n")
    assert (code, out) == (1, "")
    assert f"{cfg}:7:" in err and field in err and ("MF102" in err or "MF104" in err), err
