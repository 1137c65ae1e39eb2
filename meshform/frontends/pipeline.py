"""Existing manifests in, governed manifests out: the shared middle of transform, helm-postrender and
check. Front ends only choose the sources, the engine and where the result goes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from meshform.core.provenance import governance_keys
from meshform.core.transform import transform
from meshform.diagnostics import Diagnostic, Level, MeshformError, has_errors
from meshform.model.config import TransformConfig
from meshform.modes import Registry
from meshform.yamlio.streams import FAST, Chunk, emit, expand_paths, load_text, original_text, read_source


# Text that marks a document which may carry a pod template: parsed even when its kind is not a
# workload's, so that an unknown kind running pods is said (MF431) rather than passed over.
POD_TEMPLATE_MARK = "containers:"


@dataclass
class Outcome:
    chunks_by_file: dict[str, list[Chunk]] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    def chunks(self) -> list[Chunk]:
        return [c for chunks in self.chunks_by_file.values() for c in chunks]

    def text(self, engine: str) -> str:
        return emit(self.chunks(), engine)

    def file_text(self, path: str, engine: str) -> str:
        return emit(self.chunks_by_file[path], engine)


def govern_sources(
    paths: list[str],
    config: TransformConfig,
    registry: Registry,
    engine: str = FAST,
    *,
    texts: Mapping[str, str] | None = None,
    parse_all: bool = False,
) -> Outcome:
    """Read every source (all or nothing), then govern every object in one pass.

    `texts` gives files already read (by name; --in-place reads them under a lock); `parse_all`
    parses every document, not only those meshform may change (-o DIR names a file after each)."""
    outcome = Outcome()
    kinds = None if parse_all else kinds_to_parse(config, registry)
    # and documents that may carry a pod template: a kind meshform does not govern is said (MF431)
    markers = (*sorted(governance_keys(registry)), POD_TEMPLATE_MARK)
    files, outcome.diagnostics = expand_paths(paths or ["-"])
    for path in files:
        try:
            if texts is None:
                chunks = read_source(path, engine, kinds, markers)
            else:
                chunks = load_text(texts[path], path, engine, kinds, markers)
        except MeshformError as exc:
            outcome.diagnostics += exc.diagnostics
            continue
        name = chunks[0].file if chunks else path
        outcome.chunks_by_file[name] = chunks
    if outcome.ok:
        items = [item for chunk in outcome.chunks() for item in chunk.items]
        try:
            outcome.diagnostics += transform(items, config, registry)
        except MeshformError as exc:  # e.g. a sidecar template that fails: reported like the rest
            outcome.diagnostics += exc.diagnostics
    return outcome


def nothing_read(outcome: Outcome) -> list[Diagnostic]:
    """An empty input is an error: downstream (Argo CD auto-prune, kubectl apply --prune) would read
    an empty output as "delete everything", and a failed upstream step often looks exactly like this."""
    if not outcome.ok or any(c.text.strip() for c in outcome.chunks()):
        return []
    where = next(iter(outcome.chunks_by_file), "<stdin>")
    return [Diagnostic(where, 0, 0, Level.ERROR, "MF703", "no documents in the input")]


def kinds_to_parse(config: TransformConfig, registry: Registry) -> frozenset[str]:
    """Workloads and Namespaces always; Services only when a mode in use rewires them or names
    workloads after them, or when they mention a mesh key (govern_sources passes those as markers): a
    selector may need that key."""
    kinds = {*config.workload_kinds.names, "Namespace"}
    modes = [registry.resolve(m) for m in config.modes()]
    if any(m is not None and (m.facts.rewires_services or m.facts.service_identity) for m in modes):
        kinds.add("Service")
    return frozenset(kinds)


def unified_diff(outcome: Outcome, engine: str) -> str:
    """The change per file, against the text as it was read (never read twice: the file may be a
    stream, or may have changed since)."""
    import difflib

    out: list[str] = []
    for path, chunks in outcome.chunks_by_file.items():
        if not any(c.changed for c in chunks):
            continue
        before, after = original_text(chunks), emit(chunks, engine)
        out += difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    return "".join(out)
