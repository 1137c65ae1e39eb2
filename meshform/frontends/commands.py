"""What each command does with the pipeline's outcome: where output goes, which exit code."""

from __future__ import annotations

import sys
from typing import Any

from meshform.core import status
from meshform.core.namespaces import NamespaceIndex, Pod
from meshform.core.transform import Transformer
from meshform.core.workloads import pod_template
from meshform.diagnostics import Diagnostic, Level, MeshformError, has_errors, report
from meshform.frontends.emit import is_directory, json_entries, write_stream
from meshform.frontends.pipeline import Outcome, govern_sources, nothing_read
from meshform.model.config import TransformConfig
from meshform.modes import Registry
from meshform.modes.base import ModeFacts
from meshform.objects import resource_ref
from meshform.yamlio.streams import FAST, ROUND_TRIP

EXIT_OK, EXIT_INVALID, EXIT_CHANGED, EXIT_DIFF_ERROR = 0, 1, 1, 2


def _report(diags: list[Diagnostic], fmt: str) -> None:
    if diags or fmt == "json":
        sys.stderr.write(report(diags, fmt))


def transform_command(
    paths: list[str],
    config: TransformConfig,
    registry: Registry,
    *,
    output: str,
    in_place: bool,
    diff: bool,
    preserve: bool,
    diag_format: str,
    out_format: str = "yaml",
) -> int:
    """Govern `paths` and send the result where `output` says (see frontends.emit): `-o FILE`, one
    stream; `-o DIR/`, one file per object; `--in-place`, back into the files; `--diff`, the change
    `--in-place` would make, made by the same engine (round trip) from the same texts."""
    if diff:
        return _diff(paths, config, registry, diag_format)
    engine = ROUND_TRIP if preserve and out_format == "yaml" else FAST
    if in_place:
        from meshform.frontends.inplace import rewrite

        diags = rewrite(paths, config, registry, engine)
        _report(diags, diag_format)
        return EXIT_INVALID if has_errors(diags) else EXIT_OK
    to_dir = is_directory(output)
    outcome = govern_sources(paths, config, registry, engine, parse_all=to_dir or out_format == "json")
    outcome.diagnostics += nothing_read(outcome)
    _report(outcome.diagnostics, diag_format)
    if not outcome.ok:
        return EXIT_INVALID
    try:
        if to_dir:
            _write_dir(outcome, engine, output, out_format)
        else:  # the whole stream first: never a partial one
            write_stream(_stream(outcome, engine, out_format), output)
    except MeshformError as exc:
        _report(exc.diagnostics, diag_format)
        return EXIT_INVALID
    return EXIT_OK


def _stream(outcome: Outcome, engine: str, out_format: str) -> str:
    if out_format == "json":
        from meshform.frontends.outdir import entries_of
        from meshform.yamlio.writer import dump_json

        return dump_json([e.obj for e in entries_of(outcome.chunks(), engine)])
    return outcome.text(engine)


def _write_dir(outcome: Outcome, engine: str, directory: str, out_format: str) -> None:
    from meshform.frontends.outdir import entries_of, write_dir

    entries = entries_of(outcome.chunks(), engine)
    if out_format == "json":
        entries = json_entries(entries)
    write_dir(entries, directory, f".{out_format}")


def _diff(paths: list[str], config: TransformConfig, registry: Registry, diag_format: str) -> int:
    """The change --in-place would make, made by its own code (frontends.inplace.preview) with its
    engine; a stream (stdin) it cannot rewrite is diffed against its text as read."""
    from meshform.frontends.difftext import for_terminal, is_terminal, stream_changes, unified_diff
    from meshform.frontends.inplace import preview

    if paths and "-" not in paths:
        diags, changes = preview(paths, config, registry, ROUND_TRIP)
    else:
        outcome = govern_sources(paths, config, registry, ROUND_TRIP)
        diags = outcome.diagnostics + nothing_read(outcome)
        changes = stream_changes(outcome, ROUND_TRIP) if not has_errors(diags) else []
    _report(diags, diag_format)
    if has_errors(diags):
        return EXIT_DIFF_ERROR
    text = unified_diff(changes)
    sys.stdout.write(for_terminal(text) if is_terminal(sys.stdout) else text)  # a pipe gets it exact
    sys.stdout.flush()
    return EXIT_CHANGED if text else EXIT_OK


def check_command(paths: list[str], config: TransformConfig, registry: Registry, diag_format: str) -> int:
    """Every workload the config selects must carry meshform's status or its mesh's own markers, and
    nothing in its namespace or on its pod may keep that mesh away (the same rules `transform` and
    `verify` apply)."""
    outcome = govern_sources(paths, TransformConfig(), registry)  # read only: governs nothing
    diags = list(outcome.diagnostics) + nothing_read(outcome)
    judge = Transformer([i for c in outcome.chunks() for i in c.items], config, registry)
    items = judge.items  # those of the right shape; the others are among judge.diagnostics
    warned: set[tuple[str, str]] = set()
    for item in items:
        template = pod_template(item.obj, config.workload_kinds)
        if template is None:
            continue
        plan = judge.plan(item, template)
        if plan is None or judge.opted_out(template, plan.mode):
            continue  # the user's own opt-out of the mode is theirs to keep (transform leaves it too)
        facts = plan.mode.facts
        pod = Pod.of(item.obj, template)
        if not _governed(template, facts, pod, judge.namespaces):
            diags.append(
                item.diagnostic(
                    Level.ERROR,
                    "MF801",
                    f"{resource_ref(item.obj)} should be governed by {facts.name} but carries no "
                    "meshform or mesh status",
                )
            )
        diags += judge.namespaces.workload(item, pod, facts, registry, warned)
        diags += judge.owned_findings(item, template, Level.ERROR)
    diags += [d for d in judge.diagnostics if d.level is Level.ERROR]
    diags = list(dict.fromkeys(diags))  # the governing pass reports status-carrying workloads too
    _report(diags, diag_format)
    if any(d.level is Level.ERROR for d in diags):
        return EXIT_INVALID
    if diag_format == "text":
        sys.stderr.write(f"{len(items)} object(s) checked\n")
    return EXIT_OK


def _governed(template: dict[str, Any], facts: ModeFacts, pod: Pod, namespaces: NamespaceIndex) -> bool:
    """Does the workload ask for `facts`' data plane: meshform's record, the mode's own pod keys, a
    namespace in the input that enrolls it, or the mode's proxy already in the pod?"""
    recorded = status.recorded_mode(template)
    if recorded is not None:
        return recorded == facts.name
    if facts.enrolls_pod(pod.labels, pod.annotations):
        return True
    if namespaces.enrolls(pod.namespace, facts) and not facts.opted_out(pod.labels, pod.annotations):
        return True
    spec = template.get("spec") or {}
    names = {c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])}
    return bool(facts.proof_containers and names & set(facts.proof_containers))


def krm_command(registry: Registry) -> int:
    from meshform.frontends import krm
    from meshform.yamlio.reader import read_text

    try:
        text, _ = read_text("-")
        out, diags = krm.run(text, registry)
    except MeshformError as exc:
        sys.stderr.write(report(exc.diagnostics, "text"))
        return EXIT_INVALID
    sys.stdout.write(out)
    sys.stdout.flush()
    failed = [d for d in diags if d.level is Level.ERROR]
    if failed:  # kustomize drops a failed function's stdout: say it on stderr too
        sys.stderr.write(report(failed, "text"))
    return EXIT_INVALID if failed else EXIT_OK
