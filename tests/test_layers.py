"""The package reads like the data flow: every module sits in one layer, imports only its own layer or
lower ones, and no import cycle exists, counting the imports inside functions too (a lazy import is
still a dependency). The graph is built from the source with `ast`, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "meshform"

# Lowest first. An entry ending in `.*` is a package and holds everything below it; any other entry
# is one module. A module no entry names is a failure: a new module must be given its layer here.
# Modes sit below the model and the core: they are plugins the core calls through the `Mode`
# protocol, and they read only the records handed to them (never the model, the core or the CLI).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("meshform", "meshform.version", "meshform.diagnostics", "meshform.resources",
                    "meshform.objects", "meshform.suggest", "meshform.code_docs")),
    ("reading and writing YAML", ("meshform.yamlio.*",)),
    ("traffic policy vocabulary", ("meshform.policy.*",)),
    ("modes", ("meshform.modes.*",)),
    ("the model and its checks", ("meshform.model.*",)),
    ("core", ("meshform.core.*",)),
    ("front ends", ("meshform.frontends.*",)),
    ("verify", ("meshform.verify.*",)),
    ("entry points", ("meshform.cli", "meshform.launch", "meshform.exits", "meshform.collector",
                      "meshform.__main__")),
)  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _absolute(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = name.split(".") if is_package else name.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """meshform modules `name` imports anywhere in its source, resolved to the most specific module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, name, path.name == "__init__.py")
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t == "meshform" or t.startswith("meshform."))
    found.discard(name)
    return found


def layer_of(name: str) -> int:
    """The index in LAYERS of the entry that places `name`, or -1 when none does."""
    for index, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            package = entry.removesuffix(".*")
            if name == package or (entry.endswith(".*") and name.startswith(package + ".")):
                return index
    return -1


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path that starts and ends at the same module, or [] when there is none."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return []


def test_every_module_has_a_layer() -> None:
    unplaced = [name for name in modules() if layer_of(name) < 0]
    assert not unplaced, f"modules in no layer (add them to LAYERS): {unplaced}"


def test_no_module_imports_a_higher_layer() -> None:
    upward = []
    for name, targets in graph().items():
        for target in sorted(targets):
            if layer_of(target) > layer_of(name):
                upward.append(
                    f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
                )
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycle() -> None:
    # A package's __init__ importing its own submodules is Python's normal shape, not a cycle: only
    # edges between distinct modules count, and a submodule importing its package is resolved to the
    # most specific module it names.
    cycle = find_cycle(graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize(
    ("edges", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"a2"}, "a2": {"b"}, "b": {"a2"}}, ["a2", "b", "a2"]),
    ],
)
def test_cycle_finder_finds_cycles(edges: dict[str, set[str]], cycle: list[str]) -> None:
    assert find_cycle(edges) == cycle


def test_an_unplaced_module_has_no_layer() -> None:
    assert layer_of("meshform.stray") == -1
    assert layer_of("meshform.newpackage.module") == -1
    assert layer_of("meshform.core.anything") == layer_of("meshform.core")


def test_every_package_ships_in_the_wheel() -> None:
    """pyproject.toml lists packages by hand (schemas/ and templates/ are mapped in as data packages):
    a subpackage missing from that list would be absent from an installed meshform."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {module_name(p.parent) for p in PACKAGE.rglob("__init__.py")}
    assert packages <= listed, f"packages missing from pyproject.toml: {sorted(packages - listed)}"


def test_every_data_file_ships_and_each_data_directory_is_a_listed_package() -> None:
    """schemas/ and templates/ are mapped in as packages: setuptools warns ("Package ... is absent
    from the packages configuration") for a directory below them that holds data but is not listed,
    and a file no package-data glob of its nearest listed package matches is left out of the wheel."""
    import fnmatch
    import tomllib

    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed, globs = set(setup["packages"]), setup["package-data"]
    for package, folder in setup["package-dir"].items():
        base = ROOT / folder
        for path in base.rglob("*"):
            if path.is_dir() or path.name == "__init__.py" or "__pycache__" in path.parts:
                continue
            parts = path.relative_to(base).parts
            if len(parts) > 1 and parts[0].isidentifier():
                assert f"{package}.{parts[0]}" in listed, f"{folder}/{parts[0]} is not a listed package"
            owner, inside = _nearest_package(package, parts, listed)
            assert any(fnmatch.fnmatch(inside, g) for g in globs.get(owner, [])), f"{path} is not shipped"


def _nearest_package(package: str, parts: tuple[str, ...], listed: set[str]) -> tuple[str, str]:
    """The listed package a data file belongs to (its nearest listed folder), and its path there."""
    for depth in range(len(parts) - 1, -1, -1):
        candidate = ".".join([package, *parts[:depth]])
        if candidate in listed:
            return candidate, "/".join(parts[depth:])
    raise AssertionError(f"{package} is not listed")


def test_the_checker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from meshform.core import govern\n    import meshform.cli\n")
    known = {"meshform.core", "meshform.core.govern", "meshform.cli"}
    assert imports_of("meshform.yamlio.m", source, known) == {"meshform.core.govern", "meshform.cli"}
    assert layer_of("meshform.core.govern") > layer_of("meshform.yamlio.reader")
