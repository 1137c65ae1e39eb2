"""What istio --enrollment sidecar must not pre-inject: pods Istio's injector skips, pods it refuses,
and inputs meshform does not reproduce. Each is compared with what the real `istioctl kube-inject`
does (tests/test_istio_preinject.py builds and drives it) where istioctl decides it, and is a located
diagnostic where meshform declines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import invoke
from test_istio_preinject import config, installs, istioctl, kube_inject_run

__all__ = ["installs", "istioctl"]  # module fixtures shared with the differential test

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: ks
  namespace: {namespace}
spec:
  containers:
  - name: app
    image: busybox
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: agent
  namespace: {namespace}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec:
      containers: [{{name: app, image: busybox}}]
"""


def _transform(cfg: Path, text: str) -> tuple[int, str, str]:
    return invoke("transform", "--config", str(cfg), "-", stdin=text.encode())


@pytest.mark.parametrize("namespace", ["kube-system", "kube-public", "kube-node-lease", "local-path-storage"])
def test_a_pod_in_a_namespace_istio_ignores_is_skipped_with_a_warning_as_istioctl_does(
    istioctl: str, installs: dict[str, Path], tmp_path: Path, namespace: str
) -> None:
    inputs = installs["default"]
    text = POD.format(namespace=namespace)
    theirs = kube_inject_run(istioctl, inputs, text)
    assert theirs.returncode == 0 and "Skipping injection" in theirs.stderr
    pod = next(d for d in yaml.safe_load_all(theirs.stdout) if d)
    assert [c["name"] for c in pod["spec"]["containers"]] == ["app"] and "initContainers" not in pod["spec"]
    assert "sidecar.istio.io/status" not in str(pod["metadata"])
    cfg = config(tmp_path, True, str(inputs / "values.json"), str(inputs / "mesh.yaml"))
    code, out, err = _transform(cfg, text)
    assert code == 0, err
    assert out == text  # nothing added, nothing recorded
    assert f"<stdin>:1:1: warning MF606 istio never injects pods in namespace {namespace}" in err


def test_a_controller_in_an_ignored_namespace_is_skipped_as_the_webhook_skips_its_pods(
    installs: dict[str, Path], tmp_path: Path
) -> None:
    # the webhook reads the pod's namespace, which is its controller's (kube-inject reads only a
    # namespace written on the pod template itself)
    inputs = installs["default"]
    cfg = config(tmp_path, False, str(inputs / "values.json"), str(inputs / "mesh.yaml"))
    code, out, err = _transform(cfg, DEPLOYMENT.format(namespace="kube-system"))
    assert code == 0 and out == DEPLOYMENT.format(namespace="kube-system")
    assert "warning MF606" in err
    code, out, err = _transform(cfg, DEPLOYMENT.format(namespace="apps"))
    assert code == 0 and "istio-proxy" in out and "MF606" not in err


def test_labels_enrollment_in_an_ignored_namespace_stays_an_error() -> None:
    text = POD.format(namespace="kube-system")
    code, _, err = invoke("transform", "--mode", "istio", "-", stdin=text.encode())
    assert code == 1 and "error MF606 istio never injects pods in namespace kube-system" in err
