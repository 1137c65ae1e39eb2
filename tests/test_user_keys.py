"""Keys the user wrote are the user's, and a key a selector needs stays: switching never removes or
flips them, says so in a located warning, and A → B → A stays exact."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest
import yaml
from conftest import run_cli, transform_text

from meshform.model.config import TransformConfig
from meshform.modes import MODES
from meshform.yamlio.writer import dump_stream

ALL_MODES = list(MODES)

# What `kustomize build` gives for commonLabels {app: cart, sidecar.istio.io/inject: "true"}: the label
# is in the Deployment's (immutable) selector, on its pods and in the Service's selector.
COMMON_LABELS = """\
apiVersion: v1
kind: Service
metadata:
  name: cart
  namespace: shop
spec:
  selector: {app: cart, sidecar.istio.io/inject: "true"}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
  namespace: shop
spec:
  selector:
    matchLabels: {app: cart, sidecar.istio.io/inject: "true"}
  template:
    metadata:
      labels: {app: cart, sidecar.istio.io/inject: "true"}
    spec:
      containers:
      - name: cart
        image: registry.example.com/cart:5.2
        ports: [{name: http, containerPort: 8080}]
"""


def docs(text: str) -> list[Any]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def template(obj: Any) -> Any:
    spec = obj["spec"]
    return spec["jobTemplate"]["spec"]["template"] if obj["kind"] == "CronJob" else spec.get("template", obj)


def governed(text: str, mode: str) -> tuple[str, list[Any]]:
    out, diags = transform_text(text, mode)
    assert not [d for d in diags if d.level == "error"], diags
    return out, diags


def selectors_match(text: str) -> None:
    for obj in docs(text):
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
            labels = template(obj)["metadata"].get("labels", {})
            assert obj["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("mode", [m for m in ALL_MODES if m != "istio"])
def test_a_label_the_selector_needs_stays_with_a_located_warning(mode: str) -> None:
    out, diags = governed(COMMON_LABELS, mode)
    selectors_match(out)
    warnings = [d for d in diags if d.code == "MF254"]
    assert [(d.line, d.level.value) for d in warnings] == [(10, "warning")]
    assert "spec.selector requires sidecar.istio.io/inject='true'" in warnings[0].message


@pytest.mark.parametrize("b", ALL_MODES)
@pytest.mark.parametrize("a", ALL_MODES)
def test_switching_with_a_selector_held_label_is_exact(a: str, b: str) -> None:
    once, _ = governed(COMMON_LABELS, a)
    assert docs(governed(governed(once, b)[0], a)[0]) == docs(once)  # (flow style comes back as block)
    assert docs(governed(once, "kubernetes-native")[0]) == docs(COMMON_LABELS)


def test_a_service_selector_holds_a_label_too() -> None:
    text = COMMON_LABELS.replace(
        'matchLabels: {app: cart, sidecar.istio.io/inject: "true"}', "matchLabels: {app: cart}"
    )
    out, diags = governed(text, "linkerd")
    assert template(docs(out)[1])["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"
    assert [
        "the selector of Service/shop/cart requires" in d.message for d in diags if d.code == "MF254"
    ] == [True]


def test_a_selector_that_forbids_a_label_keeps_it_off() -> None:
    text = COMMON_LABELS.replace(
        'matchLabels: {app: cart, sidecar.istio.io/inject: "true"}',
        "matchLabels: {app: cart}\n"
        "    matchExpressions: [{key: sidecar.istio.io/inject, operator: DoesNotExist}]",
    ).replace('labels: {app: cart, sidecar.istio.io/inject: "true"}', "labels: {app: cart}")
    out, diags = governed(text, "istio")
    assert "sidecar.istio.io/inject" not in template(docs(out)[1])["metadata"]["labels"]
    assert [d.code for d in diags] == ["MF254"]


def test_a_label_meshform_added_that_a_selector_later_needs_is_carried() -> None:
    """kustomize added the label meshform had put on the pods to the selector afterwards: switching
    away keeps it (recorded as meshform's, prior value and all), switching back is exact."""
    plain = COMMON_LABELS.replace(', sidecar.istio.io/inject: "true"}', "}")
    istio, _ = governed(plain, "istio")
    objects = docs(istio)
    objects[1]["spec"]["selector"]["matchLabels"]["sidecar.istio.io/inject"] = "true"
    held = dump_stream(objects)
    linkerd, _ = governed(held, "linkerd")
    selectors_match(linkerd)
    assert '\\"labels\\":{\\"sidecar.istio.io/inject\\":null}' in linkerd  # still meshform's, prior: absent
    assert governed(linkerd, "istio")[0] == held
    native, _ = governed(linkerd, "kubernetes-native")
    selectors_match(native)
    assert governed(native, "istio")[0] == held


# ------------------------------------------------------------------------------------- user opt-outs

OPT_OUTS = {  # mode → (field, key, the user's opt-out value)
    "istio": ("labels", "sidecar.istio.io/inject", "false"),
    "istio-ambient": ("labels", "istio.io/dataplane-mode", "none"),
    "linkerd": ("annotations", "linkerd.io/inject", "disabled"),
    "kuma": ("labels", "kuma.io/sidecar-injection", "disabled"),
    "consul": ("annotations", "consul.hashicorp.com/connect-inject", "false"),
}

JOB = """\
apiVersion: batch/v1
kind: Job
metadata: {{name: migrate, namespace: orders}}
spec:
  template:
    metadata:
      {field}:
        {key}: "{value}"   # keep this mesh out of a short-lived Job
        config.linkerd.io/skip-outbound-ports: "5432"
    spec:
      restartPolicy: Never
      containers:
      - {{name: migrate, image: registry.example.com/migrate:1.4}}
"""


@pytest.mark.parametrize("mode", OPT_OUTS)
def test_the_users_own_opt_out_wins_and_survives_every_round_trip(mode: str) -> None:
    field, key, value = OPT_OUTS[mode]
    text = JOB.format(field=field, key=key, value=value)
    out, diags = governed(text, mode)
    assert out == text  # left alone, comment and all
    assert [(d.code, d.line) for d in diags if d.code == "MF252"] == [("MF252", 1)]
    for other in ALL_MODES:
        there, _ = governed(text, other)
        assert template(docs(there)[0])["metadata"][field][key] == value, other
        assert docs(governed(there, mode)[0]) == docs(text), other  # back: the user's value, no record
    check = run_cli("check", "-", "--mode", mode, stdin=text.encode())
    assert check.returncode == 0, check.stderr  # `check` agrees: not meant to be governed


# rw-03: Linkerd enrolls the namespace; the Job opted out by the maintainers' advice (linkerd2#7425).
NAMESPACE = (
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: orders\n"
    "  annotations: {linkerd.io/inject: enabled}\n"
)


def test_an_opt_out_in_an_enrolled_namespace_comes_back_after_another_mesh() -> None:
    field, key, value = OPT_OUTS["linkerd"]
    text = NAMESPACE + "---\n" + JOB.format(field=field, key=key, value=value)
    linkerd, diags = governed(text, "linkerd")
    assert docs(linkerd) == docs(text) and [d.code for d in diags] == ["MF252"]
    istio, _ = governed(text, "istio")
    job = template(docs(istio)[1])["metadata"]
    assert job["annotations"][key] == "disabled" and job["labels"]["sidecar.istio.io/inject"] == "true"
    back, _ = governed(istio, "linkerd")
    assert docs(back) == docs(text)


def test_another_meshs_key_the_user_wrote_stays_with_a_warning() -> None:
    text = JOB.format(field="labels", key="istio.io/rev", value="canary")
    out, diags = governed(text, "linkerd")
    meta = template(docs(out)[0])["metadata"]
    assert (
        meta["labels"]["istio.io/rev"] == "canary" and meta["annotations"]["linkerd.io/inject"] == "enabled"
    )
    (warning,) = [d for d in diags if d.code == "MF253"]
    assert (
        "keeps its own istio.io/rev='canary' (it enrolls the pod in istio as well as linkerd)"
        in warning.message
    )
    assert docs(governed(out, "kubernetes-native")[0]) == docs(text)


def test_a_users_value_of_the_modes_own_key_is_not_flipped() -> None:
    text = JOB.format(field="labels", key="kuma.io/mesh", value="payments")
    config = TransformConfig(mode="kuma", mode_options=MappingProxyType({"kuma": {"mesh": "default"}}))
    out, diags = transform_text(text, config)
    labels = template(docs(out)[0])["metadata"]["labels"]
    assert labels["kuma.io/mesh"] == "payments" and labels["kuma.io/sidecar-injection"] == "enabled"
    (warning,) = [d for d in diags if d.code == "MF253"]
    assert "keeps its own kuma.io/mesh='payments' (kuma would set 'default')" in warning.message
    assert docs(transform_text(out, "kubernetes-native")[0]) == docs(text)


@pytest.mark.parametrize(
    ("mode", "key", "value"),
    [
        ("istio", "sidecar.istio.io/inject", "false"),
        ("istio", "sidecar.istio.io/inject", "no"),
        ("istio", "sidecar.istio.io/inject", "Off"),
        ("kuma", "kuma.io/sidecar-injection", "false"),
        ("kuma", "kuma.io/sidecar-injection", "disabled"),
    ],
)
def test_every_value_the_mesh_reads_as_opt_out_is_kept_by_transform_and_check(
    tmp_path: Any, mode: str, key: str, value: str
) -> None:
    doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "shop"},
        "spec": {
            "selector": {"matchLabels": {"app": "shop"}},
            "template": {
                "metadata": {"labels": {"app": "shop", key: value}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }
    path = tmp_path / "o.yaml"
    path.write_text(yaml.safe_dump(doc))
    out, diags = transform_text(path.read_text(), mode)
    assert [d.code for d in diags] == ["MF252"], diags
    assert yaml.safe_load(out) == doc
    checked = run_cli("check", str(path), "--mode", mode)
    assert checked.returncode == 0, checked.stderr
