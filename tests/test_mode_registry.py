"""The mode registry names each mode and its module and imports a mode when it is first looked up, so
a run pays only for what it uses: these are the fixed costs of every run, checked in fresh
interpreters (an import made by an earlier test would hide one)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import import_module

import pytest
from conftest import ROOT

from meshform.modes import BUILTIN, DEFAULT, ModeTable
from meshform.modes.base import ModeFacts
from meshform.modes.custom import CustomMode

STREAM = ROOT / "tests" / "fixtures" / "bounds" / "deployment.yaml"
MODE_MODULES = sorted(BUILTIN.values())


def _modules_after(code: str) -> list[str]:
    """The meshform.modes.* and library modules loaded after running `code` in a fresh interpreter."""
    script = (
        f"import sys\n{code}\n"
        "import json\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('meshform.modes.') or "
        "m.split('.')[0] in ('jinja2', 'ruamel', 'jsonschema', 'secrets', 'hashlib'))))"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    found: list[str] = json.loads(proc.stdout.decode().splitlines()[-1])
    return found


def test_the_registry_lists_every_mode_without_importing_one() -> None:
    code = "from meshform.modes import DEFAULT as D\nprint(list(D.modes), len(D.modes), 'istio' in D.modes)"
    loaded = _modules_after(code)
    assert not set(loaded) & set(MODE_MODULES)


def test_looking_up_one_mode_imports_that_mode_alone() -> None:
    loaded = _modules_after("from meshform.modes import DEFAULT\nassert DEFAULT.resolve('kuma') is not None")
    assert set(loaded) & set(MODE_MODULES) == {"meshform.modes.kuma"}


def test_a_labels_run_imports_no_template_machinery_or_heavy_library() -> None:
    """`transform --mode istio` reads every mode's facts (their keys are recognised), but injects no
    sidecar: no templates, no Jinja, no Envoy config, no ruamel, no hashing."""
    code = (
        "sys.argv = ['meshform', 'transform', '--mode', 'istio', " + repr(str(STREAM)) + "]\n"
        "import io, contextlib\nfrom meshform.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main()\n    except SystemExit as exc:\n        assert not exc.code, exc.code\n"
    )
    loaded = set(_modules_after(code))
    assert set(MODE_MODULES) <= loaded  # every mode's facts: their keys are recognised
    unwanted = {
        "meshform.modes.builtin_policy",
        "meshform.modes.envoy",
        "meshform.modes.templating",
        "meshform.modes.sandbox",
        "meshform.modes.template_cache",
        "jinja2",
        "ruamel",
        "jsonschema",
        "secrets",
        "hashlib",
    }
    assert not {m.split(".")[0] if not m.startswith("meshform") else m for m in loaded} & unwanted


@pytest.mark.parametrize("name", list(BUILTIN))
def test_each_entry_names_the_module_whose_mode_it_is(name: str) -> None:
    mode = DEFAULT.modes[name]
    assert mode is import_module(BUILTIN[name]).MODE and mode.facts.name == name


def test_a_table_reads_like_the_mapping_it_replaces() -> None:
    table = ModeTable(BUILTIN)
    assert list(table) == list(BUILTIN) and len(table) == len(BUILTIN)
    assert "istio" in table and "nope" not in table and table.get("nope") is None
    with pytest.raises(KeyError):
        table["nope"]
    assert [m.facts.name for m in table.values()] == list(BUILTIN)


def test_added_modes_follow_the_built_in_ones() -> None:
    extra = CustomMode(ModeFacts(name="acme", summary="acme's mesh"), None)
    table = ModeTable(BUILTIN).with_modes([extra])
    assert list(table) == [*BUILTIN, "acme"] and table["acme"] is extra
    assert DEFAULT.with_modes([extra]).resolve("ACME") is extra
    assert list(DEFAULT.modes) == list(BUILTIN)  # the default registry is left as it was


def test_a_registry_of_loaded_modes_reads_and_extends_alike() -> None:
    from types import MappingProxyType

    from meshform.modes import Registry

    loaded = Registry(MappingProxyType({name: DEFAULT.modes[name] for name in BUILTIN}))
    extra = CustomMode(ModeFacts(name="acme", summary="acme's mesh"), None)
    assert loaded.resolve("BUILD_IN_SERVICE_MESH") is DEFAULT.modes["builtin"]
    assert list(loaded.with_modes([extra]).modes) == [*BUILTIN, "acme"]
