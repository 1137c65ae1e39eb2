"""Packaging for an index (issue 12, item 15): the wheel and sdist `python -m build` makes (the wheel
built from the sdist, as build does) pass `twine check --strict`, carry the LICENSE, `py.typed`, the
schemas and templates, project URLs and classifiers, and install and run in a clean virtualenv.

Building fetches setuptools into build's isolated environment and the clean venv fetches meshform's
dependencies, as a user's pip would: both need the package index, like `.ci/run` itself.
"""

from __future__ import annotations

import email.parser
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

from meshform.version import __version__

WHEEL = f"meshform-{__version__}-py3-none-any.whl"
SDIST = f"meshform-{__version__}.tar.gz"


def _run(*args: str | Path, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = _run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == [WHEEL, SDIST]
    return out


def test_twine_check_passes(dist: Path) -> None:
    proc = _run(sys.executable, "-m", "twine", "check", "--strict", dist / WHEEL, dist / SDIST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2


def test_wheel_metadata_and_contents(dist: Path) -> None:
    with zipfile.ZipFile(dist / WHEEL) as wheel:
        names = set(wheel.namelist())
        metadata = email.parser.Parser().parsestr(
            wheel.read(f"meshform-{__version__}.dist-info/METADATA").decode()
        )
    assert {
        "meshform/py.typed",
        f"meshform-{__version__}.dist-info/licenses/LICENSE",
        "meshform/schemas/application.schema.json",
        "meshform/templates/builtin-sidecar.yaml.j2",
    } <= names
    assert not any(n.startswith("tests/") for n in names)
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["Description-Content-Type"] == "text/markdown"
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert set(urls) >= {"Homepage", "Source", "Issues", "Documentation"}
    classifiers = metadata.get_all("Classifier")
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # PEP 639: the expression says it


def test_sdist_holds_what_a_rebuild_needs(dist: Path) -> None:
    with tarfile.open(dist / SDIST) as sdist:
        names = {n.partition("/")[2] for n in sdist.getnames()}
    assert {
        "LICENSE",
        "README.md",
        "pyproject.toml",
        "meshform/py.typed",
        "schemas/modes.schema.json",
    } <= names
    assert "templates/builtin-sidecar.yaml.j2" in names
    assert (ROOT / "LICENSE").read_text().startswith("\n                                 Apache License")


def test_wheel_installs_and_runs_in_a_clean_venv(dist: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    proc = _run(python, "-m", "pip", "install", "--quiet", dist / WHEEL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meshform = env_dir / "bin" / "meshform"
    assert _run(meshform, "--version", cwd=tmp_path).stdout == f"meshform {__version__}\n"
    # the README's first screen, from outside the checkout: schemas and templates come from the wheel
    app = ROOT / "examples" / "bookinfo" / "app.yaml"
    rendered = _run(meshform, "render", app, "--mode", "builtin", cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    assert "meshform-proxy" in rendered.stdout
    where = _run(
        python, "-c", "import meshform, pathlib; print(pathlib.Path(meshform.__file__).parent)", cwd=tmp_path
    )
    package = Path(where.stdout.strip())
    assert package.is_relative_to(env_dir), "the installed package, not the checkout"
    assert (package / "py.typed").exists()
