"""Pre-injection from a mesh's own templates (strategy `sidecar` of a mesh mode): which of meshform's
template sets matches the mesh version the user's injector inputs name, and rendering one as data.

Templates live in templates/<mesh>/<version>/ (found through meshform.resources); each renders one
YAML mapping in the sandbox (meshform.modes.templating), which the mode merges into the pod as data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshform.diagnostics import Diagnostic, Level, MeshformError
from meshform.yamlio.reader import Document, Path, Position


@dataclass(frozen=True)
class Origin:
    """Where one loaded injector input is: the document holding it (the values file, the options'
    own document for an inline mapping, or the text of a ConfigMap's data key) and the value's path
    in it. `shift` maps a position in that document to the file's (a ConfigMap's data.values text:
    its lines inside the file for a block scalar, else the data key's own position)."""

    doc: Document
    base: Path = ()
    file: str = ""  # the file the positions are in ("": doc.file)
    shift: tuple[int, int] | None = (0, 0)  # (lines, columns) added; None: always `at`
    at: Position = (1, 1)  # where the value starts in the file
    what: str = ""  # "data.values" when the text is a ConfigMap's, for "(line N of data.values)"
    outer: Path = ()  # an inline value's path in the options' document (() for a file)

    def locate(self, path: Sequence[str | int]) -> tuple[str, int, int, str]:
        """(file, line, col, note) of the key at `path` inside the value (its nearest known parent
        when the key is not in the document, e.g. a default)."""
        line, col = self.doc.position((*self.base, *path))
        file = self.file or self.doc.file
        if self.shift is None:
            return file, self.at[0], self.at[1], f" (line {line} of {self.what})" if self.what else ""
        return file, line + self.shift[0], col + self.shift[1], ""


# Per mesh: the injector input and the path in it that names the mesh version (Istio's values carry
# the proxy image tag, global.tag). Absent, the mesh's newest template set is used.
VERSION_PATHS: dict[str, tuple[str, tuple[str, ...]]] = {
    "istio": ("values", ("global", "tag")),
    "linkerd": ("values", ("linkerdVersion",)),  # linkerd-config's values: "edge-26.8.3"
}


def wanted_version(mesh: str, options: Mapping[str, Any]) -> str | None:
    """The version the mesh's injector inputs in `options` name (None: they name none)."""
    found = VERSION_PATHS.get(mesh)
    if found is None:
        return None
    value: Any = options.get(found[0])
    for key in found[1]:
        value = value.get(key) if isinstance(value, Mapping) else None
    return str(value) if isinstance(value, (str, int, float)) and str(value) else None


def version_for(mesh: str, options: Mapping[str, Any]) -> str:
    """The template set for a mesh with these (loaded) options; MF320 located where the values came
    from when meshform has none for the version they name."""
    from meshform.resources import mesh_versions

    wanted = wanted_version(mesh, options)
    if wanted is None:
        return mesh_versions(mesh)[-1]
    key = VERSION_PATHS[mesh][0]
    at = options.get(f"{key}At")
    try:
        return template_version(mesh, wanted, f"modeOptions.{mesh}.{key}")
    except MeshformError as exc:
        if isinstance(at, list) and len(at) == 3:
            found = exc.diagnostics[0]
            exc = MeshformError([Diagnostic(at[0], at[1], at[2], found.level, found.code, found.message)])
        raise exc from None


def template_version(mesh: str, wanted: str, where: str = "") -> str:
    """The template set for `wanted` (e.g. "1.31" for Istio tag "1.31-dev" or "1.31.2": the longest
    known version that `wanted` equals or starts with followed by "." or "-"). Raises a MeshformError
    MF320 naming the versions meshform has when there is none. `where` says where `wanted` came from."""
    from meshform.resources import mesh_versions

    known = mesh_versions(mesh)
    fits = [v for v in known if wanted == v or wanted.startswith((f"{v}.", f"{v}-"))]
    if fits:
        return max(fits, key=len)
    source = f" (from {where})" if where else ""
    message = (
        f"meshform has no {mesh} templates for version {wanted!r}{source}; "
        f"it has: {', '.join(known) or 'none'}"
    )
    raise MeshformError([Diagnostic(where or "-", 0, 0, Level.ERROR, "MF320", message)])


def render(mesh: str, version: str, name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """templates/<mesh>/<version>/<name> rendered with `values`, as data (a fresh copy)."""
    from meshform.modes.templating import render_mapping
    from meshform.resources import mesh_template

    source = f"templates/{mesh}/{version}/{name}"
    return render_mapping(mesh_template(mesh, version, name), values, source, own=True)
