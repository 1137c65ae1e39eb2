"""`meshform krm` as a generator: a functionConfig ConfigMap naming an application model (`data.app`)
renders it and appends the objects to the items, exactly what `meshform render` gives; a failure
answers with the items as they came and located results. The kustomize build of
examples/kustomize/generator is in test_kustomize.py, kpt's in test_kpt.py."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_cli

GENERATOR = ROOT / "examples" / "kustomize" / "generator"
LOCAL = {"config.kubernetes.io/local-config": "true"}
MODES_FILE = """\
apiVersion: meshform.dev/v1alpha1
kind: GovernanceModes
modes:
- name: acme-mesh
  podLabels: {acme.io/mesh: enabled}
"""


def resource_list(data: dict[str, str], items: list[Any] | None = None) -> bytes:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "render", "annotations": dict(LOCAL)},
        "data": data,
    }
    body = {
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": [config, *(items or [])],  # kustomize passes a generator its config as an item too
        "functionConfig": config,
    }
    return yaml.safe_dump(body).encode()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    shutil.copy(GENERATOR / "app.yaml", tmp_path / "app.yaml")
    return tmp_path


def krm(work: Path, data: dict[str, str], items: list[Any] | None = None) -> tuple[int, Any, str]:
    proc = run_cli("krm", stdin=resource_list(data, items), cwd=work)
    return proc.returncode, yaml.safe_load(proc.stdout), proc.stderr.decode()


@pytest.mark.parametrize("mode", ["istio", "linkerd", None])
def test_generator_appends_exactly_what_render_renders(work: Path, mode: str | None) -> None:
    data = {"app": "app.yaml", **({"mode": mode} if mode else {})}
    existing = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "catalog"}}
    code, out, err = krm(work, data, [existing])
    assert code == 0, err
    rendered = run_cli("render", "app.yaml", *(("--mode", mode) if mode else ()), cwd=work)
    assert rendered.returncode == 0
    expected = [d for d in yaml.safe_load_all(rendered.stdout) if d is not None]
    config, kept, *generated = out["items"]
    assert config["data"] == data and kept == existing  # the items as they came, first
    assert generated == expected
    assert out["results"] == []


def test_generator_reads_its_modes_file(work: Path) -> None:
    (work / "modes.yaml").write_text(MODES_FILE)
    code, out, err = krm(work, {"app": "app.yaml", "mode": "acme-mesh", "modesFile": "modes.yaml"})
    assert code == 0, err
    labels = [o["spec"]["template"]["metadata"]["labels"] for o in out["items"] if o["kind"] == "Deployment"]
    assert labels and all(
        lab.get("acme.io/mesh") == "enabled" for lab in labels if lab.get("app.kubernetes.io/name") != "cache"
    )


@pytest.mark.parametrize("enforcement", ["strict", "best-effort"])
def test_generator_policy_enforcement_is_the_flags(work: Path, enforcement: str) -> None:
    """data.policyEnforcement decides this run as `render --policy-enforcement` does: bookinfo
    (best-effort in its model) under linkerd, which has no fault injection, is refused (MF910) or
    rendered without it, with the same bytes as render."""
    shutil.copy(ROOT / "examples" / "bookinfo" / "app.yaml", work / "bookinfo.yaml")
    code, out, err = krm(work, {"app": "bookinfo.yaml", "mode": "linkerd", "policyEnforcement": enforcement})
    flags = ("--mode", "linkerd", "--policy-enforcement", enforcement)
    rendered = run_cli("render", "bookinfo.yaml", *flags, cwd=work)
    assert code == rendered.returncode == (1 if enforcement == "strict" else 0), err
    generated = out["items"][1:]
    if enforcement == "strict":
        assert "error MF910 linkerd cannot enforce faultInjection.delay" in err
        assert generated == []
    else:
        assert {r["severity"] for r in out["results"]} == {"warning"}
        assert any("MF911" in r["message"] for r in out["results"])
        assert generated == [d for d in yaml.safe_load_all(rendered.stdout) if d is not None]


def test_a_model_error_returns_the_items_unchanged_with_a_located_result(work: Path) -> None:
    app = work / "app.yaml"
    app.write_text(app.read_text().replace("    image: ghcr.io/example/catalog-web:3.1.0\n", ""))
    code, out, err = krm(work, {"app": "app.yaml", "mode": "istio"})
    assert code == 1
    assert [i["kind"] for i in out["items"]] == ["ConfigMap"]  # only what came in
    [result] = out["results"]
    assert result["severity"] == "error"
    assert result["message"].startswith("app.yaml:12:5: MF101 missing required field 'image'")
    assert result["file"] == {"path": "app.yaml"}
    assert err.startswith("app.yaml:12:5: error MF101")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"app": "missing.yaml"}, "error MF001"),
        ({"app": "link.yaml"}, "error MF436 data.app 'link.yaml' leads outside"),
        ({"app": "app.yaml", "mode": "nope"}, "error MF204 unknown governance mode 'nope'"),
        ({"app": "app.yaml", "modesFile": "bad-modes.yaml"}, "bad-modes.yaml"),
        (
            {"app": "app.yaml", "policyEnforcement": "lenient"},
            "error MF436 data.policyEnforcement 'lenient' is not strict or best-effort",
        ),
    ],
    ids=["missing", "symlink-out", "unknown-mode", "bad-modes-file", "bad-enforcement"],
)
def test_generator_failures_are_located_and_give_nothing_generated(
    work: Path, tmp_path_factory: pytest.TempPathFactory, data: dict[str, str], message: str
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "app.yaml"
    shutil.copy(work / "app.yaml", outside)
    (work / "link.yaml").symlink_to(outside)
    (work / "bad-modes.yaml").write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: GovernanceModes\nmodes: 3\n"
    )
    code, out, err = krm(work, data)
    assert code == 1
    assert [i["kind"] for i in out["items"]] == ["ConfigMap"]
    assert message in err, err
    assert "Traceback" not in err


def test_a_transformer_config_with_nothing_to_govern_is_an_error(work: Path) -> None:
    code, out, err = krm(work, {"mode": "istio"})
    assert code == 1
    assert [i["kind"] for i in out["items"]] == ["ConfigMap"]
    assert "error MF436 no resources to govern" in err and "data.app" in err


@pytest.mark.parametrize(
    ("data", "needle", "expected"),
    [
        ({"app": "app.yaml", "mode": "istoi"}, "mode: istoi", "error MF204 unknown governance mode 'istoi'"),
        ({"app": "/etc/app.yaml"}, "app: /etc/app.yaml", "error MF436 data.app '/etc/app.yaml' is absolute"),
        ({"app": "app.yaml", "enrollment": "x"}, "enrollment: x", "error MF436 data.enrollment 'x'"),
    ],
    ids=["mode", "app", "enrollment"],
)
def test_a_generator_data_error_is_located_at_its_key(
    work: Path, data: dict[str, str], needle: str, expected: str
) -> None:
    text = resource_list(data).decode()
    proc = run_cli("krm", stdin=text.encode(), cwd=work)
    err = proc.stderr.decode()
    before = text[: text.index(needle)]
    line, col = before.count("\n") + 1, len(before) - before.rfind("\n")
    assert proc.returncode == 1
    assert err.startswith(f"<stdin>:{line}:{col}: {expected}"), err
    if "istoi" in needle:
        assert "(did you mean 'istio'?)" in err.splitlines()[0]
