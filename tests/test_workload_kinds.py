"""Workload kinds beyond Kubernetes' own: the built-in extensions (Argo Rollouts, OpenKruise) are governed
like a Deployment, more are declared in `spec.workloadKinds`, an unknown kind carrying a pod template is
said (never silently left ungoverned), and a rule naming a kind meshform cannot govern is an error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_cli, transform_text
from hypothesis import given, settings
from hypothesis import strategies as st

from meshform.core.workloads import find_pod_template, pod_template
from meshform.model.config import TransformConfig
from meshform.model.workload_kinds import BUILTIN, WorkloadKind, WorkloadKinds

FIXTURES = ROOT / "tests" / "fixtures" / "workload_kinds"
EXTENSIONS = FIXTURES / "extensions.yaml"
UNKNOWN = FIXTURES / "unknown.yaml"
CONFIG = FIXTURES / "config.yaml"
STATUS = "meshform.dev/status"


def transform(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    proc = run_cli("transform", *args, stdin=stdin)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def objects(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def template_of(obj: dict[str, Any], kinds: WorkloadKinds = BUILTIN) -> dict[str, Any]:
    template = pod_template(obj, kinds)
    assert template is not None, obj["kind"]
    return template


@pytest.mark.parametrize("mode", ["istio", "linkerd", "builtin"])
def test_every_builtin_extension_kind_is_governed_and_switches_back_exactly(mode: str) -> None:
    original = EXTENSIONS.read_text()
    code, governed, err = transform("-", "--mode", mode, stdin=original.encode())
    assert code == 0, err
    assert "MF431" not in err and "MF432" not in err
    out = [o for o in objects(governed) if o["kind"] != "ConfigMap"]  # builtin adds its Envoy config
    assert [(o["apiVersion"], o["kind"]) for o in out] == [
        ("argoproj.io/v1alpha1", "Rollout"),
        ("apps.kruise.io/v1alpha1", "CloneSet"),
        ("apps.kruise.io/v1beta1", "StatefulSet"),
        ("apps.kruise.io/v1alpha1", "DaemonSet"),
    ]
    for obj in out:
        annotations = template_of(obj)["metadata"]["annotations"]
        assert yaml.safe_load(annotations[STATUS])["mode"] == mode, obj["kind"]
    code, clean, err = transform("-", "--mode", "kubernetes-native", stdin=governed.encode())
    assert code == 0, err
    assert objects(clean) == objects(original)  # everything the mode added is removed again


def test_check_fails_an_ungoverned_rollout_and_passes_a_governed_one() -> None:
    text = EXTENSIONS.read_bytes()
    proc = run_cli("check", "--mode", "istio", "-", stdin=text)
    assert proc.returncode == 1
    assert "MF801 Rollout/shop/web should be governed by istio" in proc.stderr.decode()
    governed = run_cli("transform", "--mode", "istio", "-", stdin=text).stdout
    assert run_cli("check", "--mode", "istio", "-", stdin=governed).returncode == 0


def test_unknown_kind_with_a_pod_template_is_a_located_warning_and_passes_unchanged() -> None:
    text = UNKNOWN.read_text()
    code, out, err = transform("-", "--mode", "istio", stdin=text.encode())
    assert code == 0, err
    assert out == text  # nothing governed, nothing rewritten
    warnings = [line for line in err.splitlines() if " warning MF431 " in line]
    assert warnings == [
        "<stdin>:10:3: warning MF431 Service/shop/hello (serving.knative.dev/v1) carries a pod template at "
        "$.spec.template, but is no workload kind meshform knows: its pods are left ungoverned "
        "[$.spec.template]",
        "<stdin>:22:5: warning MF431 Deployment/shop/custom (example.com/v1) carries a pod template at "
        "$.spec.workers.pod, but is no workload kind meshform knows: its pods are left ungoverned "
        "[$.spec.workers.pod]",
    ]
    assert "podTemplatePath: spec/workers/pod" in err  # the hint writes the declaration to add
    assert "by-ref" not in err and "widgets" not in err  # a workloadRef Rollout, a CRD's schema


def test_opted_out_unknown_kind_is_not_warned_about() -> None:
    text = UNKNOWN.read_text().replace(
        "  name: hello\n", '  name: hello\n  annotations:\n    meshform.dev/ignore: "true"\n'
    )
    code, _, err = transform("-", "--mode", "istio", stdin=text.encode())
    assert code == 0 and "hello" not in err and "custom" in err


def test_declared_kinds_are_governed_and_rules_select_by_kind_or_kind_dot_group(tmp_path: Path) -> None:
    stream = EXTENSIONS.read_text() + "---\n" + UNKNOWN.read_text()
    stream += "---\n" + _apps_statefulset("plain-db")
    code, out, err = transform("-", "--config", str(CONFIG), stdin=stream.encode())
    assert code == 0, err
    assert "MF431" not in err
    modes = {
        (o["kind"], o["metadata"]["name"]): yaml.safe_load(
            (template_of_declared(o)["metadata"].get("annotations") or {}).get(STATUS, "{}")
        ).get("mode")
        for o in objects(out)
        if o["kind"] != "CustomResourceDefinition" and o["metadata"]["name"] != "by-ref"
    }
    assert modes == {
        ("Rollout", "web"): "linkerd",  # rules: [Rollout] → linkerd
        ("CloneSet", "api"): "istio",
        ("StatefulSet", "db"): None,  # StatefulSet.apps.kruise.io → kubernetes-native adds nothing
        ("DaemonSet", "agent"): "istio",
        ("Service", "hello"): "istio",  # declared: serving.knative.dev Service at spec/template
        ("Deployment", "custom"): "istio",  # declared: example.com Deployment at spec/workers/pod
        ("StatefulSet", "plain-db"): "istio",  # apps/v1: not selected by StatefulSet.apps.kruise.io
    }


def template_of_declared(obj: dict[str, Any]) -> dict[str, Any]:
    found = find_pod_template(obj)
    assert found is not None
    node: Any = obj
    for key in found:
        node = node[key]
    return dict(node)


def _apps_statefulset(name: str) -> str:
    return f"""apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: {name}, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: db, image: pg}}]}}
"""


def _config(tmp_path: Path, spec: str) -> str:
    path = tmp_path / "mesh.yaml"
    path.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nmetadata: {name: mesh}\nspec:\n" + spec
    )
    return str(path)


@pytest.mark.parametrize(
    ("rule_kinds", "expected"),
    [
        ("[Rollout, ConfigMap]", ["7:22: error MF430 rule 1 names kind 'ConfigMap'"]),
        ("[Deploymnet]", ["7:13: error MF430 rule 1 names kind 'Deploymnet'", "did you mean 'Deployment'?"]),
        # the one "did you mean" rule (meshform.suggest) ignores case, as for modes and commands
        ("[ROLLOUT]", ["7:13: error MF430 rule 1 names kind 'ROLLOUT'", "did you mean 'Rollout'?"]),
        ("[Rollout.example.com]", ["7:13: error MF430 rule 1 names kind 'Rollout.example.com'"]),
        ("[Service]", ["7:13: error MF430 rule 1 names kind 'Service'"]),
    ],
)
def test_a_rule_naming_a_kind_meshform_cannot_govern_is_a_located_error(
    tmp_path: Path, rule_kinds: str, expected: list[str]
) -> None:
    config = _config(tmp_path, f"  mode: istio\n  rules:\n  - kinds: {rule_kinds}\n    skip: true\n")
    code, out, err = transform("-", "--config", config, stdin=EXTENSIONS.read_bytes())
    assert (code, out) == (1, "")
    for part in expected:
        assert part in err, err
    assert "spec.workloadKinds" in err  # the hint says how to make it governable


def test_a_rule_may_name_a_kind_the_config_declares(tmp_path: Path) -> None:
    spec = (
        "  mode: istio\n  workloadKinds:\n  - {group: serving.knative.dev, kind: Service, "
        "podTemplatePath: spec/template}\n  rules:\n  - kinds: [Service.serving.knative.dev]\n"
        "    skip: true\n"
    )
    code, out, err = transform("-", "--config", _config(tmp_path, spec), stdin=UNKNOWN.read_bytes())
    assert code == 0, err
    assert STATUS not in out.split("---")[0]  # the rule skipped it
    assert "hello" not in err  # declared: no MF431 for it either


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (
            "  - {group: apps, kind: Deployment, podTemplatePath: spec/other}\n",
            "mesh.yaml:7:5: error MF433 Deployment.apps is Kubernetes' own workload kind",
        ),
        (
            "  - {group: example.com, kind: Job, podTemplatePath: spec/template}\n" * 2,
            "mesh.yaml:8:5: error MF433 Job.example.com is declared twice",  # the second one
        ),
        ("  - {group: example.com, kind: Job}\n", "mesh.yaml:7:5: error MF101"),
        (
            "  - {group: Example_com, kind: Job, podTemplatePath: spec/template}\n",
            "mesh.yaml:7:6: error MF105 'Example_com' is not an API group, as in apiVersion",
        ),
        (
            "  - {group: example.com, kind: Job, podTemplatePath: spec.template}\n",
            "mesh.yaml:7:37: error MF105 'spec.template' is not a slash-separated path to the object's "
            "PodTemplateSpec, as in kustomize fieldSpecs: spec/template",
        ),
    ],
)
def test_bad_workload_kind_declarations_are_located_errors(
    tmp_path: Path, entries: str, expected: str
) -> None:
    config = _config(tmp_path, "  mode: istio\n  workloadKinds:\n" + entries)
    code, out, err = transform("-", "--config", config, stdin=EXTENSIONS.read_bytes())
    assert (code, out) == (1, "")
    assert expected in err, err


def test_a_declared_kind_may_move_a_builtin_extensions_template(tmp_path: Path) -> None:
    moved = EXTENSIONS.read_text().split("---\n")[1].replace("  template:", "  podTemplate:")
    spec = (
        "  mode: istio\n  workloadKinds:\n"
        "  - {group: apps.kruise.io, kind: CloneSet, podTemplatePath: spec/podTemplate}\n"
    )
    code, out, err = transform("-", "--config", _config(tmp_path, spec), stdin=moved.encode())
    assert code == 0, err
    assert STATUS in objects(out)[0]["spec"]["podTemplate"]["metadata"]["annotations"]
    code, _, err = transform("-", "--mode", "istio", stdin=moved.encode())
    assert code == 0
    assert "warning MF432 CloneSet/shop/api has no pod template at $.spec.template" in err


def test_the_krm_function_takes_workload_kinds_from_its_function_config() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    items = objects(UNKNOWN.read_text())
    resource_list = {
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": items,
        "functionConfig": config,
    }
    proc = run_cli("krm", stdin=yaml.safe_dump(resource_list).encode())
    assert proc.returncode == 0, proc.stderr
    out = yaml.safe_load(proc.stdout)
    governed = {o["metadata"]["name"] for o in out["items"] if STATUS in str(o)}
    assert governed == {"hello", "custom"}


def test_an_object_without_api_version_is_matched_by_kubernetes_kind_name_only() -> None:
    template = {"metadata": {}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    assert pod_template({"kind": "Deployment", "spec": {"template": template}}) is template
    assert pod_template({"kind": "Rollout", "spec": {"template": template}}) is None
    assert (
        pod_template({"apiVersion": "example.com/v1", "kind": "Deployment", "spec": {"template": template}})
        is None
    )
    assert BUILTIN.governs("CloneSet") and BUILTIN.governs("StatefulSet.apps.kruise.io")
    assert not BUILTIN.governs("StatefulSet.example.com") and not BUILTIN.governs("ConfigMap")


SEGMENT = st.sampled_from(["spec", "template", "pod", "workers", "runtime", "podSpecTemplate"])


@settings(max_examples=60, deadline=None)
@given(
    group=st.sampled_from(["example.com", "apps.example.io", "x.y.z"]),
    path=st.lists(SEGMENT, min_size=1, max_size=4).map(tuple),
    mode=st.sampled_from(["istio", "linkerd", "builtin", "kuma"]),
)
def test_a_declared_kind_is_governed_at_its_path_and_switches_back_exactly(
    group: str, path: tuple[str, ...], mode: str
) -> None:
    """Any declared (group, kind, path): governed at that path, nowhere else; removed exactly."""
    template = {
        "metadata": {"labels": {"app": "w"}},
        "spec": {
            "containers": [{"name": "w", "image": "w:1", "ports": [{"name": "http", "containerPort": 80}]}]
        },
    }
    obj: dict[str, Any] = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "n"},
    }
    node = obj
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = template
    text = yaml.safe_dump(obj, sort_keys=False)
    kinds = BUILTIN.with_declared([WorkloadKind(group, "Widget", path)])
    out, diags = transform_text(text, TransformConfig(mode=mode, workload_kinds=kinds))
    assert not [d for d in diags if d.level.value == "error"], diags
    governed = next(d for d in yaml.safe_load_all(out) if d and d["kind"] == "Widget")
    assert STATUS in template_of(governed, kinds)["metadata"]["annotations"]
    back, diags = transform_text(out, TransformConfig(mode="kubernetes-native", workload_kinds=kinds))
    assert [d for d in yaml.safe_load_all(back) if d] == [obj]
    undeclared, diags = transform_text(text, TransformConfig(mode=mode))
    assert undeclared == text and [d.code for d in diags] == ["MF431"]


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"])
def test_a_bare_kubernetes_kind_in_a_rule_means_kubernetes_own_kind(tmp_path: Path, kind: str) -> None:
    config = _config(tmp_path, f"  mode: istio\n  rules:\n  - kinds: [{kind}, CloneSet]\n    mode: linkerd\n")
    plain = _apps_statefulset("plain").replace("kind: StatefulSet", f"kind: {kind}")
    stream = EXTENSIONS.read_text() + "---\n" + plain
    code, out, err = transform("-", "--config", config, stdin=stream.encode())
    assert code == 0, err
    modes = {
        (o["apiVersion"], o["kind"], o["metadata"]["name"]): yaml.safe_load(
            template_of(o)["metadata"]["annotations"][STATUS]
        )["mode"]
        for o in objects(out)
        if o["kind"] in (kind, "CloneSet")
    }
    kruise = {
        "StatefulSet": ("apps.kruise.io/v1beta1", "db"),
        "DaemonSet": ("apps.kruise.io/v1alpha1", "agent"),
    }
    assert (
        modes
        == {
            ("apps/v1", kind, "plain"): "linkerd",  # the bare name: Kubernetes' own kind
            (
                *kruise[kind][:1],
                kind,
                kruise[kind][1],
            ): "istio",  # its apps.kruise.io namesake is not selected
            (
                "apps.kruise.io/v1alpha1",
                "CloneSet",
                "api",
            ): "linkerd",  # a bare non-Kubernetes name: any group
        }
    )


def test_kind_dot_group_selects_the_namesake(tmp_path: Path) -> None:
    config = _config(
        tmp_path, "  mode: istio\n  rules:\n  - kinds: [StatefulSet.apps.kruise.io]\n    mode: linkerd\n"
    )
    stream = EXTENSIONS.read_text() + "---\n" + _apps_statefulset("plain")
    code, out, err = transform("-", "--config", config, stdin=stream.encode())
    assert code == 0, err
    modes = {
        (o["apiVersion"], o["metadata"]["name"]): yaml.safe_load(
            template_of(o)["metadata"]["annotations"][STATUS]
        )["mode"]
        for o in objects(out)
        if o["kind"] == "StatefulSet"
    }
    assert modes == {("apps.kruise.io/v1beta1", "db"): "linkerd", ("apps/v1", "plain"): "istio"}


def test_every_pattern_description_reads_in_the_mf105_message() -> None:
    """MF105 says "'VALUE' is not DESCRIPTION": a pattern's description must be a noun phrase."""
    import json

    def patterns(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["description"]] if "pattern" in node and "description" in node else []
            return found + [d for v in node.values() for d in patterns(v)]
        return [d for v in node for d in patterns(v)] if isinstance(node, list) else []

    described = [
        d for p in sorted((ROOT / "schemas").glob("*.json")) for d in patterns(json.loads(p.read_text()))
    ]
    assert described
    assert [d for d in described if not d.startswith(("a ", "an ")) or d.endswith(".")] == []
