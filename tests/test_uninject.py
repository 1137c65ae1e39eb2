"""Un-injection of real `istioctl kube-inject` / `linkerd inject --manual` output gives back the
original workload exactly (as data), and switching it to the other mesh equals governing the original.

Data: fixtures/injected/real (the injectors' unchanged output and their corpus inputs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_cli, transform_text

from meshform.yamlio.streams import FAST, ROUND_TRIP

REAL = ROOT / "tests" / "fixtures" / "injected" / "real"
OUTPUTS = sorted(p for mesh in ("istio", "linkerd") for p in (REAL / mesh).glob("*/*.yaml"))
OTHER = {"istio": "linkerd", "linkerd": "istio"}


def _id(path: Path) -> str:
    return "/".join(path.relative_to(REAL).parts)


def govern(text: str, mode: str, engine: str = FAST) -> tuple[str, list[Any]]:
    out, diags = transform_text(text, mode, engine)
    assert not [d for d in diags if d.level == "error"], diags
    return out, diags


def docs(text: str) -> list[Any]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def corpus(output: Path) -> str:
    return (REAL / "corpus" / output.name).read_text()


@pytest.mark.parametrize("engine", [FAST, ROUND_TRIP])
@pytest.mark.parametrize("output", OUTPUTS, ids=_id)
def test_uninjection_gives_back_the_original(output: Path, engine: str) -> None:
    clean, _ = govern(output.read_text(), "kubernetes-native", engine)
    assert docs(clean) == docs(corpus(output))


@pytest.mark.parametrize("output", OUTPUTS, ids=_id)
def test_switching_to_the_other_mesh_equals_governing_the_original(output: Path) -> None:
    mesh = output.relative_to(REAL).parts[0]
    for mode in (OTHER[mesh], "builtin"):
        switched, _ = govern(output.read_text(), mode)
        direct, _ = govern(corpus(output), mode)
        assert docs(switched) == docs(direct), mode


def test_cronjob_markers_on_the_job_template_go_too() -> None:
    """kube-inject writes a CronJob's status and labels on spec.jobTemplate.metadata, not the pod's."""
    output = (REAL / "istio" / "native" / "cronjob.yaml").read_text()
    assert "sidecar.istio.io/status" in str(docs(output)[0]["spec"]["jobTemplate"]["metadata"])
    proc = run_cli("transform", "-", "--mode", "kubernetes-native", stdin=output.encode())
    assert proc.returncode == 0, proc.stderr
    (cronjob,) = docs(proc.stdout.decode())
    assert "metadata" not in cronjob["spec"]["jobTemplate"]
    assert cronjob == docs(corpus(REAL / "cronjob.yaml"))[0]


def _variant(
    mesh: str, name: str, edits: list[tuple[str, str]], original_edits: list[tuple[str, str]]
) -> tuple[str, str]:
    output, original = (REAL / mesh / name).read_text(), (REAL / "corpus" / Path(name).name).read_text()
    for old, new in edits:
        assert old in output, old
        output = output.replace(old, new)
    for old, new in original_edits:
        assert old in original, old
        original = original.replace(old, new)
    return output, original


# Real output, edited the way the injector would have written it for a slightly different original.
VARIANTS = {
    # the author probed the port by name: Istio saved the number, meshform gives the name back
    "named-port": _variant(
        "istio",
        "classic/pod.yaml",
        [("    - containerPort: 8000\n", "    - containerPort: 8000\n      name: web\n")],
        [
            ("    - containerPort: 8000\n", "    - containerPort: 8000\n      name: web\n"),
            ("        port: 8000", "        port: web"),
        ],
    ),
    # the author spelled out scheme: HTTP (Kubernetes' default): it stays spelled out
    "explicit-http-scheme": _variant(
        "istio",
        "native/pod.yaml",
        [('{"httpGet":{"path":"/","port":8000}}', '{"httpGet":{"path":"/","port":8000,"scheme":"HTTP"}}')],
        [("        port: 8000\n", "        port: 8000\n        scheme: HTTP\n")],
    ),
    # the author's own linkerd.io/inject (`--manual` never writes one) and config annotation stay
    "linkerd-user-annotations": _variant(
        "linkerd",
        "native/pod.yaml",
        [
            (
                "    linkerd.io/created-by:",
                "    linkerd.io/inject: enabled\n    config.linkerd.io/proxy-cpu-request: 100m\n"
                "    linkerd.io/created-by:",
            )
        ],
        [
            (
                "    note.example.com/purpose: troubleshooting\n",
                "    note.example.com/purpose: troubleshooting\n    linkerd.io/inject: enabled\n"
                "    config.linkerd.io/proxy-cpu-request: 100m\n",
            )
        ],
    ),
    # a native-sidecar setting the author wrote does not describe the classic proxy removed: it stays
    "linkerd-user-placement": _variant(
        "linkerd",
        "classic/job.yaml",
        [
            (
                'config.linkerd.io/proxy-enable-native-sidecar: "false"',
                'config.linkerd.io/proxy-enable-native-sidecar: "true"',
            )
        ],
        [
            (
                "      labels:\n        app: report\n",
                "      labels:\n        app: report\n      annotations:\n"
                '        config.linkerd.io/proxy-enable-native-sidecar: "true"\n',
            )
        ],
    ),
    # Istio's default-container annotations name the first container; the author's other choice stays
    "user-default-container": _variant(
        "istio",
        "classic/pod.yaml",
        [
            (
                "    kubectl.kubernetes.io/default-container: shell\n",
                "    kubectl.kubernetes.io/default-container: sidecar\n",
            )
        ],
        [
            (
                "    note.example.com/purpose: troubleshooting\n",
                "    note.example.com/purpose: troubleshooting\n"
                "    kubectl.kubernetes.io/default-container: sidecar\n",
            )
        ],
    ),
}


@pytest.mark.parametrize("engine", [FAST, ROUND_TRIP])
@pytest.mark.parametrize(("output", "original"), VARIANTS.values(), ids=VARIANTS.keys())
def test_uninjection_keeps_what_the_author_wrote(output: str, original: str, engine: str) -> None:
    clean, _ = govern(output, "kubernetes-native", engine)
    assert docs(clean) == docs(original)


def test_go_serializer_stubs_stay_where_no_serializer_wrote_them() -> None:
    """`resources: {}` or `strategy: {}` an author wrote (no zero `status` fingerprint) is left alone."""
    text = corpus(REAL / "runasuser.yaml").replace("  selector:\n", "  strategy: {}\n  selector:\n")
    text = text.replace(
        "        securityContext:\n          allowPrivilegeEscalation",
        "        resources: {}\n        securityContext:\n          allowPrivilegeEscalation",
    )
    clean, _ = govern(text, "kubernetes-native")
    assert clean == text


FORGED = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels: {app: shop}
      annotations:
        sidecar.istio.io/status: 'STATUS'
    spec:
      containers:
      - name: web
        image: nginx
      - name: sidecar
        image: busybox
      volumes:
      - name: data
        persistentVolumeClaim: {claimName: data}
"""
REAL_STATUS = (
    '{"initContainers":["istio-init"],"containers":["istio-proxy"],'
    '"volumes":["istio-envoy"],"imagePullSecrets":null,"revision":"default"}'
)


@pytest.mark.parametrize(
    ("status", "why"),
    [
        ('{"containers":["web"]}', "containers 'web', which Istio never adds"),
        ('{"initContainers":[],"containers":["sidecar"]}', "containers 'sidecar', which Istio never adds"),
        (REAL_STATUS.replace('"istio-envoy"', '"data"'), "volumes 'data', which Istio never adds"),
        ('{"containers":"istio-proxy"}', "'containers' that is not a list of names"),
        ('{"containers":[1]}', "'containers' that is not a list of names"),
        ("[]", "is not the JSON object Istio writes"),
        ("{oops", "is not the JSON object Istio writes"),
        ('{"foo":1}', "lists none of what Istio records"),
    ],
)
@pytest.mark.parametrize("mode", ["linkerd", "istio", "builtin"])
@pytest.mark.parametrize("only_web", [False, True])
def test_a_forged_istio_status_removes_nothing(status: str, why: str, mode: str, only_web: bool) -> None:
    text = FORGED.replace("STATUS", status)
    if only_web:
        text = text.replace("      - name: sidecar\n        image: busybox\n", "")
    out, diags = transform_text(text, mode, FAST)
    errors = [d for d in diags if d.level == "error"]
    assert [d.code for d in errors] == ["MF280"], diags
    assert why in errors[0].message
    assert errors[0].line == 12 and errors[0].path.endswith("sidecar.istio.io/status")
    spec = docs(out)[0]["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == (["web"] if only_web else ["web", "sidecar"])
    assert [v["name"] for v in spec["volumes"]] == ["data"]
