"""values.global.imagePullSecrets in Istio pre-injection: added to pod.spec.imagePullSecrets in the
order the injector's strategic merge leaves them (checked against istioctl in test_istio_preinject's
`extras` install), recorded only where meshform added them, so un-injection takes exactly those away
and a user's own secret of the same name stays; a record naming a secret Istio's status does not list
is not believed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from conftest import invoke
from hypothesis import given
from hypothesis import strategies as st

from meshform.core import status
from meshform.modes.base import Enrollment

CONFIG = """\
apiVersion: meshform.dev/v1alpha1
kind: MeshTransformer
metadata: {name: t}
spec:
  mode: istio
  enrollment: sidecar
  modeOptions:
    istio:
      values: '{"global": {"hub": "r.io/x", "tag": "1.31.4", "imagePullSecrets": ["barSecret", "bazSecret"]}}'
"""
POD = """\
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: shop}
spec:
  imagePullSecrets: [{name: a}, {name: bazSecret}, {name: b}]
  containers: [{name: c, image: nginx:1.27}]
"""


def _run(text: str, *args: str) -> tuple[int, str, str]:
    return invoke("transform", *args, "-", stdin=text.encode())


def _injected(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    cfg = tmp_path / "t.yaml"
    cfg.write_text(CONFIG)
    code, out, err = _run(POD, "--config", str(cfg))
    assert code == 0, err
    return cfg, yaml.safe_load(out)


def test_the_meshs_secrets_are_merged_and_only_the_added_ones_recorded(tmp_path: Path) -> None:
    _, pod = _injected(tmp_path)
    names = [s["name"] for s in pod["spec"]["imagePullSecrets"]]
    assert names == ["barSecret", "a", "bazSecret", "b"]
    annotations = pod["metadata"]["annotations"]
    assert json.loads(annotations["sidecar.istio.io/status"])["imagePullSecrets"] == [
        "barSecret",
        "bazSecret",
    ]
    assert json.loads(annotations["meshform.dev/status"])["imagePullSecrets"] == ["barSecret"]


def test_un_injection_keeps_the_users_own_secret_of_the_same_name(tmp_path: Path) -> None:
    _, pod = _injected(tmp_path)
    code, out, err = _run(yaml.safe_dump(pod), "--mode", "kubernetes-native")
    assert code == 0, err
    assert yaml.safe_load(out)["spec"]["imagePullSecrets"] == yaml.safe_load(POD)["spec"]["imagePullSecrets"]


def test_a_record_naming_a_secret_istio_did_not_add_is_not_believed(tmp_path: Path) -> None:
    _, pod = _injected(tmp_path)
    annotations = pod["metadata"]["annotations"]
    record = json.loads(annotations["meshform.dev/status"])
    annotations["meshform.dev/status"] = json.dumps({**record, "imagePullSecrets": ["barSecret", "a"]})
    code, out, err = _run(yaml.safe_dump(pod), "--mode", "kubernetes-native")
    assert (code, out) == (1, "")
    assert "error MF251" in err and "imagePullSecrets 'a'" in err


NAMES = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), unique=True, max_size=5)


@given(own=NAMES, mesh=NAMES)
def test_merging_then_removing_gives_the_pods_own_list_back(own: list[str], mesh: list[str]) -> None:
    """Every name once, the mesh's in its order; a name the pod had is not recorded, nor taken away;
    removing the recorded ones restores the pod's list exactly, order and all (no list when it had
    none)."""
    spec: dict[str, Any] = {"containers": [{"name": "c"}]}
    if own:
        spec["imagePullSecrets"] = [{"name": n} for n in own]
    template = {"metadata": {"name": "p"}, "spec": spec}
    before = json.loads(json.dumps(template))
    status.apply(template, "istio", "sidecar", Enrollment(image_pull_secrets=mesh))
    merged = [s["name"] for s in template["spec"].get("imagePullSecrets", [])]
    assert sorted(merged) == sorted(set(own) | set(mesh))
    assert [n for n in merged if n in mesh] == mesh
    record = status.parse(template["metadata"]["annotations"][status.STATUS])
    assert list(record.image_pull_secrets) == [n for n in mesh if n not in own]
    moved = [n for n in merged if n in own] != own  # the mesh's order wins for the names it shares
    assert list(record.image_pull_secrets_order) == (own if moved else [])
    status.remove(template, record)
    assert template == before
