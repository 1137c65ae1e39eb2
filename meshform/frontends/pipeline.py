"""Existing manifests in, governed manifests out: the shared middle of transform, helm-postrender and
check. Front ends only choose the sources, the engine and where the result goes."""

from __future__ import annotations

from dataclasses import dataclass, field

from meshform.core.provenance import governance_keys
from meshform.core.transform import transform
from meshform.core.workloads import TEMPLATE_PATHS
from meshform.diagnostics import Diagnostic, MeshformError, has_errors
from meshform.model.config import TransformConfig
from meshform.modes import Registry
from meshform.yamlio.streams import FAST, Chunk, emit, expand_paths, read_source


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
    paths: list[str], config: TransformConfig, registry: Registry, engine: str = FAST
) -> Outcome:
    """Read every source (all or nothing), then govern every object in one pass."""
    outcome = Outcome()
    kinds = kinds_to_parse(config, registry)
    markers = tuple(sorted(governance_keys(registry)))
    for path in expand_paths(paths or ["-"]):
        try:
            chunks = read_source(path, engine, kinds, markers)
        except MeshformError as exc:
            outcome.diagnostics += exc.diagnostics
            continue
        name = chunks[0].file if chunks else path
        outcome.chunks_by_file[name] = chunks
    if outcome.ok:
        items = [item for chunk in outcome.chunks() for item in chunk.items]
        outcome.diagnostics += transform(items, config, registry)
    return outcome


def kinds_to_parse(config: TransformConfig, registry: Registry) -> frozenset[str]:
    """Workloads and Namespaces always; Services only when a mode in use rewires them, or when they
    mention a mesh key (govern_sources passes those as markers): a selector may need that key."""
    kinds = {*TEMPLATE_PATHS, "Namespace"}
    modes = [registry.resolve(m) for m in config.modes()]
    if any(m is not None and m.facts.rewires_services for m in modes):
        kinds.add("Service")
    return frozenset(kinds)


def unified_diff(outcome: Outcome, engine: str) -> str:
    import difflib

    out: list[str] = []
    for path, chunks in outcome.chunks_by_file.items():
        if not any(c.changed for c in chunks):
            continue
        with open(path, encoding="utf-8") as fh:
            before = fh.read()
        after = emit(chunks, engine)
        out += difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    return "".join(out)
