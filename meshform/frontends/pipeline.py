"""Existing manifests in, governed manifests out: the shared middle of transform, helm-postrender and
check. Front ends only choose the sources, the engine and where the result goes."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from meshform.core.provenance import governance_keys
from meshform.core.transform import transform
from meshform.diagnostics import Diagnostic, Level, MeshformError, has_errors
from meshform.model.config import TransformConfig
from meshform.modes import Registry
from meshform.yamlio import manifests
from meshform.yamlio.reader import read_text
from meshform.yamlio.split import is_blank
from meshform.yamlio.streams import FAST, Chunk, emit, emit_file, expand_paths, load_text

# Text that marks a document which may carry a pod template: parsed even when its kind is not a
# workload's, so that an unknown kind running pods is said (MF431) rather than passed over.
POD_TEMPLATE_MARK = "containers:"


@dataclass
class Outcome:
    chunks_by_file: dict[str, list[Chunk]] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # as given: files, directories, "-"

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    def chunks(self) -> list[Chunk]:
        return [c for chunks in self.chunks_by_file.values() for c in chunks]

    def text(self, engine: str) -> str:
        return emit(self.chunks(), engine)

    def file_text(self, path: str, engine: str) -> str:
        """One file's new text; like the file, it ends with a line break only if the file did."""
        text = emit_file(self.chunks_by_file[path], engine)
        return text if text.strip() else ""


def govern_sources(
    paths: list[str],
    config: TransformConfig,
    registry: Registry,
    engine: str = FAST,
    *,
    texts: Mapping[str, str] | None = None,
    parse_all: bool = False,
    walked: Collection[str] | None = None,
) -> Outcome:
    """Read every source (all or nothing), then govern every object in one pass.

    `texts` gives files already read (by name; --in-place reads them under a lock); `parse_all`
    parses every document, not only those meshform may change (-o DIR names a file after each).
    Files found by walking a directory (`walked`; by default those `paths` does not name) are read
    only when they hold a Kubernetes object: the others are skipped with a note (MF434)."""
    kinds = None if parse_all else kinds_to_parse(config, registry)
    outcome = read_sources(paths, registry, engine, kinds, texts=texts, walked=walked)
    if outcome.ok:
        items = [item for chunk in outcome.chunks() for item in chunk.items]
        try:
            outcome.diagnostics += transform(items, config, registry)
        except MeshformError as exc:  # e.g. a sidecar template that fails: reported like the rest
            outcome.diagnostics += exc.diagnostics
    return outcome


def read_sources(
    paths: list[str],
    registry: Registry,
    engine: str = FAST,
    kinds: frozenset[str] | None = None,
    *,
    texts: Mapping[str, str] | None = None,
    walked: Collection[str] | None = None,
) -> Outcome:
    """Read every source (all or nothing), parsing the documents of `kinds` (None: every document);
    the reading half of govern_sources, which `meshform status` uses alone."""
    outcome = Outcome(sources=list(paths or ["-"]))
    # and documents that may carry a pod template: a kind meshform does not govern is said (MF431)
    markers = (*sorted(governance_keys(registry)), POD_TEMPLATE_MARK)
    files, outcome.diagnostics = expand_paths(paths or ["-"])
    walked = set(files) - set(paths) if walked is None else walked
    for path in files:
        from_walk = path in walked
        try:
            text, name = read_text(path) if texts is None else (texts[path], path)
        except MeshformError as exc:
            outcome.diagnostics += exc.diagnostics
            continue
        chunks = _load(text, name, engine, kinds, markers, from_walk, outcome.diagnostics)
        if chunks is not None:
            outcome.chunks_by_file[chunks[0].file if chunks else name] = chunks
    return outcome


def _load(
    text: str,
    name: str,
    engine: str,
    kinds: frozenset[str] | None,
    markers: tuple[str, ...],
    from_walk: bool,
    diags: list[Diagnostic],
) -> list[Chunk] | None:
    """One file's documents; None when it is refused (a Go template, bad YAML: said in `diags`) or,
    found by a walk, holds no Kubernetes object (a note in `diags`)."""
    if from_walk and kinds is not None:
        kinds, markers = kinds | manifests.TOOL_KINDS, (*markers, *manifests.WALK_MARKERS)
    template = manifests.go_template(name, text, parse_failed=False)
    if template is not None:
        diags.append(template)
        return None
    try:
        chunks = load_text(text, name, engine, kinds, markers)
    except MeshformError as exc:
        # a walked file no object can be in is another tool's YAML (a playbook's "{{ x }}" too): a note
        said = manifests.unreadable(name, text, exc.diagnostics[0]) if from_walk and exc.diagnostics else None
        said = said or manifests.go_template(name, text, parse_failed=True)
        diags.extend([said] if said is not None else exc.diagnostics)
        return None
    if from_walk:
        reason = manifests.skip_reason([(c.data, c.data is None and not is_blank(c.text)) for c in chunks])
        if reason:
            diags.append(manifests.skipped(name, reason))
            return None
    return chunks


def nothing_read(outcome: Outcome) -> list[Diagnostic]:
    """An empty input is an error: downstream (Argo CD auto-prune, kubectl apply --prune) would read
    an empty output as "delete everything", and a failed upstream step often looks exactly like this."""
    if not outcome.ok or any(c.text.strip() for c in outcome.chunks()):
        return []
    # at the file read, else at what was given (a directory whose files were all skipped)
    given = next((s for s in outcome.sources if s != "-"), "<stdin>")
    where = next(iter(outcome.chunks_by_file), given)
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
