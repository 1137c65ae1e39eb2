"""What each command does with the pipeline's outcome: where output goes, which exit code."""

from __future__ import annotations

import sys
from typing import Any

from meshform.core import status
from meshform.core.namespaces import NamespaceIndex, Pod
from meshform.core.transform import Transformer
from meshform.core.workloads import pod_template
from meshform.diagnostics import Diagnostic, Level, MeshformError, has_errors, report
from meshform.frontends.pipeline import Outcome, govern_sources, nothing_read, unified_diff
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
) -> int:
    engine = ROUND_TRIP if preserve else FAST
    if in_place and not diff:
        from meshform.frontends.inplace import rewrite

        diags = rewrite(paths, config, registry, engine)
        _report(diags, diag_format)
        return EXIT_INVALID if has_errors(diags) else EXIT_OK
    to_dir = output != "-" and not diff
    outcome = govern_sources(paths, config, registry, engine, parse_all=to_dir)
    outcome.diagnostics += nothing_read(outcome)
    _report(outcome.diagnostics, diag_format)
    if not outcome.ok:
        return EXIT_DIFF_ERROR if diff else EXIT_INVALID
    if diff:
        text = unified_diff(outcome, engine)
        sys.stdout.write(text)
        return EXIT_CHANGED if text else EXIT_OK
    if to_dir:
        return _write_dir(outcome, engine, output, diag_format)
    text = outcome.text(engine)  # whole stream first: never a partial one on stdout
    sys.stdout.write(text)
    sys.stdout.flush()
    return EXIT_OK


def _write_dir(outcome: Outcome, engine: str, directory: str, diag_format: str) -> int:
    from meshform.frontends.outdir import entries_of, write_dir

    try:
        write_dir(entries_of(outcome.chunks(), engine), directory)
    except MeshformError as exc:
        _report(exc.diagnostics, diag_format)
        return EXIT_INVALID
    return EXIT_OK


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
