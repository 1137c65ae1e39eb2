"""One verify run: resolve the cluster and the workloads, run every check group in order, report.

Usage problems (no kubeconfig, unreadable input) end the run with exit 2 before any check; a check that
fails gives exit 1; warnings alone give 0.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass

from meshform.diagnostics import MeshformError, printable, report
from meshform.modes import Registry
from meshform.verify import checks, dryrun, kubeconfig, targets
from meshform.verify.checks import conflicts, policy_crds, skew
from meshform.verify.client import DEFAULT_TIMEOUT, Client
from meshform.verify.cluster import ClusterView
from meshform.verify.kubeconfig import Endpoint, KubeconfigError
from meshform.verify.report import FORMATS
from meshform.verify.results import Check, Report, Status, fail, ok, unavailable, warn

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
API, WORKLOADS = "kubernetes-api", "workloads"


@dataclass(frozen=True)
class Options:
    paths: tuple[str, ...]
    mode: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    policy_enforcement: str | None = None  # over an application model's spec.policyEnforcement


def verify(opts: Options, registry: Registry) -> Report:
    """Raises KubeconfigError or MeshformError for usage problems; everything else is a Check."""
    endpoint = kubeconfig.load(opts.kubeconfig, opts.context)
    inputs = targets.load(opts.paths, registry, opts.mode, endpoint.namespace, opts.policy_enforcement)
    with Client(endpoint, opts.timeout) as client:
        found = tuple(_checks(ClusterView(client), registry, inputs, endpoint))
    return Report(endpoint.context, endpoint.server, found)


def _checks(
    view: ClusterView, registry: Registry, inputs: targets.Inputs, endpoint: Endpoint
) -> Iterator[Check]:
    reach = _reach(view, endpoint)
    yield reach
    if reach.status is Status.FAILED:
        return  # every later lookup would fail the same way
    yield from _workloads(inputs)
    by_mode: dict[str, list[targets.Target]] = {}
    for target in inputs.targets:
        by_mode.setdefault(target.mode, []).append(target)
    for mode, group in by_mode.items():
        name = f"{mode} control plane"
        yield from _guarded(name, checks.for_mode(registry.modes[mode]).check(view, name, group))
        crd_group = policy_crds.group_name(mode)
        yield from _guarded(crd_group, policy_crds.check(view, registry.modes[mode], group))
    if inputs.targets:
        yield from _guarded(conflicts.GROUP, conflicts.check(view, registry, inputs.targets))
        yield from _guarded(dryrun.GROUP, dryrun.check(view, registry, inputs))
        yield from _guarded(skew.GROUP, skew.check(view, inputs.targets))


def _guarded(group: str, found: Iterator[Check]) -> Iterator[Check]:
    """The cluster's answers are input too: an object whose fields have types Kubernetes never sends
    (a proxy's page, a broken aggregated API) fails this group of checks, and the run goes on. The
    exception's text is not printed: it may quote the server."""
    try:
        yield from found
    except (AttributeError, TypeError, KeyError, ValueError, IndexError) as exc:
        yield fail(
            group,
            f"an answer of the API server has a shape Kubernetes never sends ({type(exc).__name__})",
            "check the API server, or the proxy in front of it",
            "unexpected-answer",
        )


def _reach(view: ClusterView, endpoint: Endpoint) -> Check:
    try:
        answer = view.version()
    except KubeconfigError as exc:  # an exec plugin that fails: no credential, nothing to ask
        return fail(
            API,
            f"cannot get a credential for context {endpoint.context}: {exc}",
            "fix the kubeconfig's user entry",
            "credential",
        )
    if not answer.ok:
        return unavailable(API, answer, f"the API server {endpoint.server}", "check --kubeconfig/--context")
    version = (answer.data or {}).get("gitVersion", "?")
    through = view.client.proxy
    via = f" through the proxy {through.shown()} ({through.source})" if through is not None else ""
    return ok(API, f"can reach {endpoint.server}{via} as context {endpoint.context} (Kubernetes {version})")


def _workloads(inputs: targets.Inputs) -> Iterator[Check]:
    if not inputs.targets:
        yield fail(
            WORKLOADS,
            "nothing to verify: no workload carries a governance mode",
            "give --mode, or govern the manifests with meshform first",
            "nothing-to-verify",
        )
    by_mode: dict[str, list[str]] = {}
    for t in inputs.targets:
        by_mode.setdefault(t.mode, []).append(t.ref)
    for mode, refs in by_mode.items():
        yield ok(WORKLOADS, f"{mode}: {', '.join(refs)}")
    for ref in inputs.skipped:
        yield warn(
            WORKLOADS,
            f"{ref} carries no meshform status: not verified",
            "give --mode, or govern it with meshform first",
            "not-verified",
            ref,
        )


def command(opts: Options, registry: Registry, output: str) -> int:
    """The CLI's whole verify command: run, print, pick the exit code."""
    try:
        result = verify(opts, registry)
    except KubeconfigError as exc:  # its words may quote the kubeconfig or an exec plugin
        sys.stderr.write(f"meshform verify: {printable(str(exc))}\n")
        return EXIT_USAGE
    except MeshformError as exc:
        sys.stderr.write(report(exc.diagnostics, "text"))
        return EXIT_USAGE
    sys.stdout.write(FORMATS[output](result))
    sys.stdout.flush()
    return EXIT_FAILED if result.failed else EXIT_OK
