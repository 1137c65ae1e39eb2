"""The registry a run uses: the built-in modes plus those of a modes file, validated by its schema."""

from __future__ import annotations

from meshform.diagnostics import Diagnostic, Level, MeshformError
from meshform.model import schema
from meshform.modes import DEFAULT, Registry
from meshform.yamlio.reader import read_file

MODES_SCHEMA = "modes.schema.json"


def load_registry(modes_file: str | None) -> Registry:
    """The built-in modes plus any from a modes file; a bad file raises a located MeshformError."""
    if modes_file is None:
        return DEFAULT
    from meshform.modes import custom

    docs = [d for d in read_file(modes_file) if d.data is not None]
    diags: list[Diagnostic] = []
    modes = []
    for doc in docs:
        found = list(schema.validate(doc, MODES_SCHEMA))
        diags += [_recode(d) for d in found]
        if not found:
            modes += custom.build(doc)
    for mode in modes:
        if mode.facts.name in DEFAULT.modes or DEFAULT.resolve(mode.facts.name):
            diags.append(
                Diagnostic(
                    docs[0].file,
                    0,
                    0,
                    Level.ERROR,
                    "MF301",
                    f"mode {mode.facts.name!r} is built in; pick another name",
                )
            )
    if diags:
        raise MeshformError(diags)
    return DEFAULT.with_modes(modes)


def _recode(d: Diagnostic) -> Diagnostic:
    return Diagnostic(d.file, d.line, d.col, d.level, "MF301", d.message, d.path)
