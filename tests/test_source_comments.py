"""Comments tools read survive every engine (issue 9, kind 14).

Helm 3 finds a template's output by the `# Source: chart/templates/x.yaml` line above it. A document
meshform changes keeps the comment block it started with on the fast engine (either reader), the
round-trip engine, in `-o DIR` files and through `helm-postrender`; real Helm is in test_helm.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli

from meshform.core.transform import transform
from meshform.model.config import TransformConfig
from meshform.modes import DEFAULT
from meshform.yamlio.streams import FAST, ROUND_TRIP, emit, load_text

HEAD = "# Source: shop/templates/deployment.yaml\n# The shop's web front end.\n\n"
DEPLOYMENT = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n"
    "    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n"
    "    spec:\n      containers:\n      - {name: web, image: nginx}  # trailing comments may go\n"
)
SERVICE = "# Source: shop/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
STREAM = "---\n" + SERVICE + "---\n" + HEAD + DEPLOYMENT


@pytest.fixture(params=["yaml-rs", "pyyaml"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("MESHFORM_YAML_ENGINE", raising=False)
    if request.param == "pyyaml":
        monkeypatch.setenv("MESHFORM_YAML_ENGINE", "pyyaml")
    return str(request.param)


@pytest.mark.parametrize("engine", [FAST, ROUND_TRIP])
@pytest.mark.parametrize("mode", ["istio", "builtin"])
def test_a_changed_document_keeps_its_leading_comments(reader: str, engine: str, mode: str) -> None:
    chunks = load_text(STREAM, "in.yaml", engine)
    transform([i for c in chunks for i in c.items], TransformConfig(mode=mode), DEFAULT)
    assert chunks[2].changed
    out = emit(chunks, engine)
    assert out.startswith("---\n" + SERVICE + "---\n" + HEAD + "apiVersion: apps/v1\n"), out
    assert out.count("# Source:") == 2  # builtin's added ConfigMap gets none of its own


def test_a_changed_list_keeps_its_leading_comments() -> None:
    items = "".join(
        ("- " if i == 0 else "  ") + line + "\n" for i, line in enumerate(DEPLOYMENT.splitlines())
    )
    stream = HEAD + "apiVersion: v1\nkind: List\nitems:\n" + items
    chunks = load_text(stream, "in.yaml", FAST)
    transform([i for c in chunks for i in c.items], TransformConfig(mode="istio"), DEFAULT)
    assert emit(chunks, FAST).startswith(HEAD + "apiVersion: v1\nkind: List\n")


def test_helm_postrender_keeps_source_lines() -> None:
    proc = run_cli("helm-postrender", "--mode", "istio", stdin=STREAM.encode())
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert out.startswith("---\n" + SERVICE + "---\n" + HEAD + "apiVersion: apps/v1\n")
    assert "sidecar.istio.io/inject" in out


def test_output_directory_files_keep_source_lines(tmp_path: Path) -> None:
    proc = run_cli("transform", "-", "--mode", "istio", "-o", f"{tmp_path / 'out'}/", stdin=STREAM.encode())
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "apps_v1_deployment_web.yaml").read_text().startswith(HEAD + "apiVersion:")
    assert (tmp_path / "out" / "v1_service_web.yaml").read_text() == SERVICE
