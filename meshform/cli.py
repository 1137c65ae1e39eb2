"""The command line: parse options, call the core, report, pick the exit code. No logic lives here.

Heavy libraries (jsonschema, jinja2, any Kubernetes client) are imported inside the commands that need
them, never at import time: every kustomize or Helm run pays for this module's start-up.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from meshform.diagnostics import CODES, REPORTERS, Diagnostic, Level, MeshformError, has_errors, report
from meshform.exits import closed_pipe, unwritable
from meshform.version import __version__

F = TypeVar("F", bound=Callable[..., Any])
EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
BUILTIN_MODES = ("kubernetes-native", "builtin", "istio", "istio-ambient", "linkerd", "kuma", "consul")

diagnostics_option = click.option(
    "--diagnostics",
    "diag_format",
    type=click.Choice(REPORTERS),
    default="text",
    show_default=True,
    help="How to print findings on stderr: parsable text, json, or GitHub annotations.",
)
modes_file_option = click.option(
    "--modes-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML file defining extra governance modes (see schemas/modes.schema.json).",
)


def _complete_mode(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of --mode: the built-in modes, their aliases, and those of the --modes-file
    given earlier on the command line (a file that does not load adds none)."""
    from click.shell_completion import CompletionItem

    from meshform.model.modes_file import load_registry
    from meshform.modes import DEFAULT

    try:
        registry = load_registry(ctx.params.get("modes_file"))
    except (MeshformError, OSError):
        registry = DEFAULT
    folded = incomplete.casefold()
    return [
        CompletionItem(name, help=_mode_summary(registry, name))
        for name in registry.names()
        if name.casefold().startswith(folded)
    ]


def _mode_summary(registry: Any, name: str) -> str:
    mode = registry.resolve(name)
    return str(mode.facts.summary) if mode is not None else ""


def mode_option(help_text: str) -> Callable[[F], F]:
    return click.option("--mode", default=None, metavar="MODE", help=help_text, shell_complete=_complete_mode)


MODES_NAMED = f"{', '.join(BUILTIN_MODES)}, a Rainbond alias, or one from --modes-file; any case"
render_mode = mode_option(
    f"Governance mode replacing the application's default ({MODES_NAMED}). "
    "A component's own governanceMode still wins."
)
manifest_mode = mode_option(
    f"Governance mode for every workload ({MODES_NAMED}); without it, the --config's rules choose "
    "per workload."
)
output_option = click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    metavar="FILE|DIR/",
    help="As `kustomize build -o`: `-` stdout; a FILE gets the whole stream; an existing directory, "
    "or a path ending in `/`, one file per object, named as kustomize names them.",
)
format_option = click.option(
    "--format",
    "out_format",
    type=click.Choice(["yaml", "json"], case_sensitive=False),
    default="yaml",
    show_default=True,
    help="Write YAML, or JSON (one object, or a v1 List of them).",
)
enforcement_option = click.option(
    "--policy-enforcement",
    "policy_enforcement",
    type=click.Choice(["strict", "best-effort"]),
    default=None,
    help="Traffic policy a mode cannot enforce: strict, an error (MF910); best-effort, a warning "
    "(MF911) and left out. Overrides spec.policyEnforcement (and, for manifests, what their status "
    "recorded) for this run only.",
)
enrollment_option = click.option(
    "--enrollment",
    type=click.Choice(["labels", "sidecar"]),
    default=None,
    help="labels: let the mesh's webhook inject; sidecar: pre-inject offline.",
)


def _emit_diagnostics(diags: list[Diagnostic], fmt: str) -> None:
    if diags or fmt == "json":
        sys.stderr.write(report(diags, fmt))


def _registry(modes_file: str | None, fmt: str) -> Any:
    from meshform.model.modes_file import load_registry

    try:
        return load_registry(modes_file)
    except MeshformError as exc:
        _emit_diagnostics(exc.diagnostics, fmt)
        raise SystemExit(EXIT_INVALID) from None


def _check_mode(registry: Any, mode: str | None, hint: str = "--mode") -> str | None:
    """The mode's own name (`Istio` → `istio`), or a usage error naming the modes and the closest."""
    if mode is None:
        return None
    found = registry.resolve(mode)
    if found is None:
        from meshform.suggest import did_you_mean

        raise click.BadParameter(
            f"MF204 unknown mode {mode!r}{did_you_mean(mode, registry.names())}; "
            f"known: {', '.join(registry.names())}",
            param_hint=hint,
        )
    return str(found.facts.name)


class _Group(click.Group):
    """Commands with a "did you mean" for a misspelt one (click has one for options already)."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if args and not name.startswith("-") and self.get_command(ctx, name) is None:
            from meshform.suggest import did_you_mean

            hint = did_you_mean(name, self.list_commands(ctx))
            raise click.UsageError(f"No such command {name!r}{hint}.", ctx)
        return super().resolve_command(ctx, args)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="meshform", message="%(prog)s %(version)s")
def cli() -> None:
    """meshform: choose how each application's traffic is governed on Kubernetes, offline."""


@cli.command()
@click.argument("app", type=click.Path(dir_okay=False, allow_dash=True))
@render_mode
@enrollment_option
@enforcement_option
@output_option
@format_option
@click.option(
    "--host-alias",
    multiple=True,
    metavar="HOST=ADDR",
    help="builtin mode: route a Service host to another address (for local tests).",
)
@modes_file_option
@diagnostics_option
def render(
    app: str,
    mode: str | None,
    enrollment: str | None,
    policy_enforcement: str | None,
    output: str,
    out_format: str,
    host_alias: tuple[str, ...],
    modes_file: str | None,
    diag_format: str,
) -> None:
    """Render an application model (APP, or - for stdin) into governed Kubernetes manifests.

    Each component becomes its workload, Service and the traffic policies of its governance mode:
    the application's mode, the component's own governanceMode, or --mode for all.

    Examples:

    \b
      meshform render app.yaml --mode istio
      meshform render app.yaml --mode linkerd -o linkerd.yaml
      meshform render app.yaml --mode builtin -o out/ --format json
      meshform render app.yaml | kubectl apply -f -
    """
    from meshform.core.govern import GovernOptions
    from meshform.frontends.emit import is_directory, render_stream, write_objects, write_stream
    from meshform.frontends.render import render_file

    registry = _registry(modes_file, diag_format)
    mode = _check_mode(registry, mode)
    aliases = dict(_split_alias(a) for a in host_alias)
    result = render_file(app, registry, GovernOptions(mode, enrollment, aliases, policy_enforcement))
    _emit_diagnostics(result.diagnostics, diag_format)
    if not result.ok:
        raise SystemExit(EXIT_INVALID)
    try:
        if is_directory(output):
            write_objects(result.objects, output, out_format, app)
        else:  # built whole first: never a partial stream
            write_stream(render_stream(result.objects, out_format), output)
    except MeshformError as exc:
        _emit_diagnostics(exc.diagnostics, diag_format)
        raise SystemExit(EXIT_INVALID) from None


def _split_alias(raw: str) -> tuple[str, str]:
    host, sep, addr = raw.partition("=")
    if not sep or not host or not addr:
        raise click.BadParameter(f"{raw!r} is not HOST=ADDR", param_hint="--host-alias")
    return host, addr


@cli.command()
@click.argument("apps", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@render_mode
@enrollment_option
@enforcement_option
@modes_file_option
@diagnostics_option
def validate(
    apps: tuple[str, ...],
    mode: str | None,
    enrollment: str | None,
    policy_enforcement: str | None,
    modes_file: str | None,
    diag_format: str,
) -> None:
    """Check application models and report every problem, located at file:line:col.

    Valid means exactly what `render` accepts; nothing is written. Exit 0 valid, 1 a problem.

    Examples:

    \b
      meshform validate app.yaml
      meshform validate apps/*.yaml --mode istio
      meshform validate app.yaml --diagnostics github   # annotations in a GitHub Actions job
    """
    from meshform.core.govern import GovernOptions
    from meshform.frontends.render import render_documents
    from meshform.yamlio.reader import read_file

    registry = _registry(modes_file, diag_format)
    mode = _check_mode(registry, mode)
    diags: list[Diagnostic] = []
    for path in apps:
        try:  # render in memory: valid means exactly what `render` accepts (e.g. no name collisions)
            opts = GovernOptions(mode, enrollment, policy_enforcement=policy_enforcement)
            diags += render_documents(read_file(path), registry, opts).diagnostics
        except MeshformError as exc:
            diags += exc.diagnostics
    _emit_diagnostics(diags, diag_format)
    if has_errors(diags):
        raise SystemExit(EXIT_INVALID)
    if diag_format == "text":
        click.echo(f"{len(apps)} file(s) valid", err=True)


@cli.command()
@modes_file_option
@click.option(
    "-o",
    "--output",
    "out_format",
    type=click.Choice(["text", "wide", "json"], case_sensitive=False),
    default="text",
    show_default=True,
    help="As kubectl's -o, a format here, not a file: text (fits 100 columns), wide (every column "
    "on one line), or json.",
)
@click.option(
    "--capabilities",
    is_flag=True,
    help="Print which traffic-policy features each mode enforces, and its defaults, instead.",
)
def modes(modes_file: str | None, out_format: str, capabilities: bool) -> None:
    """List the governance modes: enrollment, namespace needs, restart on switch, control plane.

    Examples:

    \b
      meshform modes
      meshform modes -o wide
      meshform modes --modes-file my-modes.yaml -o json
      meshform modes --capabilities
    """
    registry = _registry(modes_file, "text")
    if capabilities:
        from meshform.frontends.capabilities import capabilities_json, capabilities_text

        text = capabilities_json(registry) if out_format == "json" else capabilities_text(registry)
    else:
        from meshform.frontends.modes_table import modes_json, modes_text

        text = modes_json(registry) if out_format == "json" else modes_text(registry, out_format == "wide")
    click.echo(text, nl=False)


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="MeshTransformer (or ConfigMap with data.mode) choosing modes per workload.",
)


def _transform_setup(
    config_path: str | None,
    mode: str | None,
    enrollment: str | None,
    modes_file: str | None,
    fmt: str,
    hint: str = "--mode",
    policy_enforcement: str | None = None,
) -> tuple[Any, Any]:
    from meshform.model.config import load, unknown_modes

    registry = _registry(modes_file, fmt)
    mode = _check_mode(registry, mode, hint)
    try:
        config = load(config_path, mode, enrollment, policy_enforcement)
    except MeshformError as exc:
        _emit_diagnostics(exc.diagnostics, fmt)
        raise SystemExit(EXIT_INVALID) from None
    if not (config.mode or config.rules):
        raise click.UsageError("give --mode or a --config with a mode or rules")
    bad = unknown_modes(config, registry, config_path or "--config")
    if bad:
        _emit_diagnostics(bad, fmt)
        raise SystemExit(EXIT_INVALID)
    return config, registry


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@manifest_mode
@enrollment_option
@enforcement_option
@config_option
@output_option
@format_option
@click.option(
    "--in-place",
    is_flag=True,
    help="Rewrite the input files atomically (comments, formatting, mode and line endings kept).",
)
@click.option(
    "--diff",
    is_flag=True,
    help="Print, as a unified diff, exactly what --in-place would write (coloured on a terminal "
    "unless NO_COLOR is set); exit 0 no change, 1 change, 2 error.",
)
@click.option(
    "--preserve-comments", is_flag=True, help="Keep comments in changed documents in the output too."
)
@modes_file_option
@diagnostics_option
def transform(
    paths: tuple[str, ...],
    mode: str | None,
    enrollment: str | None,
    policy_enforcement: str | None,
    config_path: str | None,
    output: str,
    out_format: str,
    in_place: bool,
    diff: bool,
    preserve_comments: bool,
    modes_file: str | None,
    diag_format: str,
) -> None:
    """Govern existing Kubernetes manifests: PATHS are files, directories (their .yaml, .yml and
    .json files), or - for stdin (the default).

    Every workload (Deployment, StatefulSet, Job, CronJob, Pod and the other kinds with a pod
    template meshform knows) is put under the mode --mode names, or the one the --config's rules
    choose for it; a workload already governed by another mode is switched exactly (meshform removes
    what it added before). Everything else passes through unchanged. Exit 0 done, 1 a problem
    (nothing written).

    Examples:

    \b
      meshform transform k8s/ --mode istio                  # governed stream on stdout
      meshform transform k8s/ --mode linkerd -o all.yaml    # one file
      meshform transform k8s/ --mode linkerd -o out/        # one file per object
      meshform transform k8s/ --config meshform.yaml --diff # what --in-place would change
      meshform transform k8s/ --config meshform.yaml --in-place
      kubectl get deploy -o yaml | meshform transform - --mode kuma --format json
    """
    from meshform.frontends.commands import transform_command

    if in_place and (not paths or "-" in paths):
        raise click.UsageError("--in-place rewrites files: give files or directories, not stdin")
    if in_place and diff:  # one would silently win: --diff previews what --in-place writes
        raise click.UsageError("give --diff (show what --in-place would write) or --in-place, not both")
    if (in_place or diff) and output != "-":
        raise click.UsageError(f"give {'--in-place' if in_place else '--diff'} or -o, not both")
    if (in_place or diff) and out_format != "yaml":
        raise click.UsageError("--in-place and --diff keep the files' own YAML: --format json is for -o")
    config, registry = _transform_setup(
        config_path, mode, enrollment, modes_file, diag_format, policy_enforcement=policy_enforcement
    )
    code = transform_command(
        list(paths),
        config,
        registry,
        output=output,
        in_place=in_place,
        diff=diff,
        preserve=preserve_comments or in_place,
        diag_format=diag_format,
        out_format=out_format.lower(),
    )
    raise SystemExit(code)


@cli.command(name="helm-postrender")
@manifest_mode
@enrollment_option
@enforcement_option
@config_option
@modes_file_option
@diagnostics_option
def helm_postrender(
    mode: str | None,
    enrollment: str | None,
    policy_enforcement: str | None,
    config_path: str | None,
    modes_file: str | None,
    diag_format: str,
) -> None:
    """Helm post-renderer: every manifest of a release on stdin, governed manifests on stdout.

    Helm runs it after rendering a chart (`--post-renderer`); it governs like `transform -`, and
    leaves Helm hooks alone unless the config says helmHooks: govern. The mode may also come from
    the MESHFORM_MODE environment variable. Exit 0 done, 1 a problem (nothing on stdout).

    Examples:

    \b
      # Helm 3: the executable, then one --post-renderer-args per argument
      helm install web ./chart --post-renderer meshform \\
        --post-renderer-args helm-postrender --post-renderer-args --mode=istio
      # Helm 4: the plugin in helm-plugin/ (helm plugin install ./helm-plugin) adds helm-postrender
      MESHFORM_MODE=linkerd helm template web ./chart --post-renderer meshform
      helm template web ./chart | meshform helm-postrender --config meshform.yaml
    """
    from meshform.frontends.commands import transform_command

    hint = "--mode" if mode else "MESHFORM_MODE"
    env_mode = os.environ.get("MESHFORM_MODE") or None
    config, registry = _transform_setup(
        config_path, mode or env_mode, enrollment, modes_file, diag_format, hint, policy_enforcement
    )
    raise SystemExit(
        transform_command(
            [],
            config,
            registry,
            output="-",
            in_place=False,
            diff=False,
            preserve=False,
            diag_format=diag_format,
        )
    )


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@manifest_mode
@config_option
@modes_file_option
@diagnostics_option
def check(
    paths: tuple[str, ...],
    mode: str | None,
    config_path: str | None,
    modes_file: str | None,
    diag_format: str,
) -> None:
    """Fail when a workload the config says must be governed is not: a CI gate for manifests.

    Reads PATHS (files, directories, or - for stdin) and changes nothing. A workload passes when it
    carries meshform's status for its mode, the mode's own enrollment keys, a namespace in the input
    that enrolls it, or the mode's proxy; a user's own opt-out passes too. Exit 0 all governed, 1 not.

    Examples:

    \b
      meshform check k8s/ --mode istio
      meshform check k8s/ --config meshform.yaml --diagnostics github
      kustomize build overlays/prod | meshform check - --config meshform.yaml
    """
    from meshform.frontends.commands import check_command

    config, registry = _transform_setup(config_path, mode, None, modes_file, diag_format)
    raise SystemExit(check_command(list(paths), config, registry, diag_format))


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@manifest_mode
@config_option
@click.option(
    "-o",
    "--output",
    "out_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="A table (text) or JSON; like kubectl, -o names the format of this read-only view.",
)
@modes_file_option
@diagnostics_option
def status(
    paths: tuple[str, ...],
    mode: str | None,
    config_path: str | None,
    out_format: str,
    modes_file: str | None,
    diag_format: str,
) -> None:
    """Show, per workload, which mode governs it and why, what meshform added, and its problems.

    Reads manifests (files, directories, or - for stdin) and changes nothing. For each workload: the
    data plane the manifests give its pods and every reason for it (meshform's status record, the
    pod's own keys, its Namespace in the input, an opt-out), what meshform's record says it added,
    marks other injectors left, meshform's objects next to it (traffic policy), and problems. With
    --mode or --config, also which mode that config selects and by which rule, and an MF801
    problem where the manifests do not give it. Exit 1 when a problem it shows is an error, as
    `check` does (the view is still written); 1 with nothing on stdout when the input cannot be read,
    is empty, or holds an object of the wrong shape; 0 otherwise.

    \b
    Examples:
      meshform render app.yaml --mode istio | meshform status -
      meshform status manifests/ --config mesh.yaml -o json
    """
    from meshform.frontends.status_view import explain_sources, status_json, status_text

    registry = _registry(modes_file, diag_format)
    config = None
    if mode is not None or config_path is not None:
        config, registry = _transform_setup(config_path, mode, None, modes_file, diag_format)
    workloads, diags = explain_sources(list(paths), config, registry)
    _emit_diagnostics(diags, diag_format)
    if has_errors(diags):
        raise SystemExit(EXIT_INVALID)
    text = status_json(workloads) if out_format == "json" else status_text(workloads)
    sys.stdout.write(text)
    sys.stdout.flush()
    if has_errors([d for w in workloads for d in w.problems]):  # a finding `check` would fail on
        raise SystemExit(EXIT_INVALID)


@cli.command()
@click.argument("app", type=click.Path(dir_okay=False, allow_dash=True))
@render_mode
@click.option(
    "-o",
    "--output",
    "out_format",
    type=click.Choice(["dot", "mermaid", "svg", "json"]),
    default="dot",
    show_default=True,
    help="The notation; like kubectl, -o names the format of this read-only view. svg needs Graphviz.",
)
@modes_file_option
@diagnostics_option
def graph(app: str, mode: str | None, out_format: str, modes_file: str | None, diag_format: str) -> None:
    """Draw an application model: components, dependencies, versions and weights, modes, policy.

    The model is rendered first, as `render` would (an invalid one is refused with its diagnostics):
    each component shows its workload kind, the mode it gets (--mode replaces the application's
    default, a component's own governanceMode wins), its ports, the traffic-policy features it
    declares (and those its mode cannot enforce) and the policy objects render emits; each version
    of a traffic split is a node with its weight; each dependency an edge with the caller's own
    overrides. DOT for Graphviz, Mermaid for Markdown, SVG through Graphviz's `dot`, or JSON.

    \b
    Examples:
      meshform graph examples/bookinfo/app.yaml --mode istio | dot -Tpng > bookinfo.png
      meshform graph app.yaml -o mermaid        # paste into a ```mermaid block
      meshform graph app.yaml -o svg > app.svg  # needs Graphviz's dot on PATH
    """
    from meshform.core.govern import GovernOptions
    from meshform.frontends import graph as pictures

    registry = _registry(modes_file, diag_format)
    _check_mode(registry, mode)
    graphs, diags = pictures.load(app, registry, GovernOptions(mode, None))
    _emit_diagnostics(diags, diag_format)
    if not graphs:
        raise SystemExit(EXIT_INVALID)
    writers = {"dot": pictures.to_dot, "mermaid": pictures.to_mermaid, "json": pictures.to_json}
    try:
        text = pictures.to_svg(graphs) if out_format == "svg" else writers[out_format](graphs)
    except MeshformError as exc:
        _emit_diagnostics(exc.diagnostics, diag_format)
        raise SystemExit(EXIT_INVALID) from None
    sys.stdout.write(text)
    sys.stdout.flush()


@cli.command()
@modes_file_option
def krm(modes_file: str | None) -> None:
    """KRM function (kustomize, kpt): ResourceList on stdin → ResourceList with results on stdout.

    The functionConfig (a MeshTransformer, or a ConfigMap with data.mode) chooses the modes.

    Examples:

    \b
      kustomize build --enable-alpha-plugins --enable-exec overlays/istio
      kpt fn eval pkg/ --exec "meshform krm" --fn-config meshform.yaml
    """
    from meshform.frontends.commands import krm_command

    raise SystemExit(krm_command(_registry(modes_file, "text")))


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@render_mode
@enforcement_option
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None, help="Kubeconfig file.")
@click.option("--context", default=None, help="Kubeconfig context (default: its current-context).")
@click.option(
    "-o",
    "--output",
    "out_format",
    type=click.Choice(["text", "json"], case_sensitive=False),
    default="text",
    show_default=True,
    help="As kubectl's -o, a format here, not a file: text or json.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=15.0,
    show_default=True,
    help="Seconds one request may take in all (connect, TLS, every read).",
)
@modes_file_option
def verify(
    paths: tuple[str, ...],
    mode: str | None,
    policy_enforcement: str | None,
    kubeconfig: str | None,
    context: str | None,
    out_format: str,
    timeout: float,
    modes_file: str | None,
) -> None:
    """Prove against a live cluster that each workload's governance mode will work (read-only).

    PATHS are application models or manifests (or - for stdin). Exit 0 all good, 1 a check failed.

    Examples:

    \b
      meshform verify app.yaml --mode istio
      meshform verify k8s/ --context staging -o json
      meshform render app.yaml --mode linkerd | meshform verify -
    """
    from meshform.verify.run import Options, command

    registry = _registry(modes_file, "text")
    mode = _check_mode(registry, mode)
    if not paths and sys.stdin.isatty():
        raise click.UsageError("give an application model, manifests, or - for stdin")
    options = Options(paths, mode, kubeconfig, context, timeout, policy_enforcement)
    raise SystemExit(command(options, registry, out_format.lower()))


SHELLS = ("bash", "zsh", "fish")


@cli.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL: commands, options, and --mode values (including
    the modes of a --modes-file given earlier on the line).

    Examples:

    \b
      echo 'eval "$(meshform completion bash)"' >> ~/.bashrc
      echo 'eval "$(meshform completion zsh)"' >> ~/.zshrc
      meshform completion fish > ~/.config/fish/completions/meshform.fish
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # click ships all of SHELLS
    click.echo(completer(cli, {}, "meshform", "_MESHFORM_COMPLETE").source(), nl=False)


def _requested_format(argv: list[str]) -> str:
    """The --diagnostics format asked for, read from the raw arguments: a usage error happens before
    click has parsed them, and it must still be reported the way the caller reads diagnostics."""
    for i, arg in enumerate(argv):
        if arg.startswith("--diagnostics="):
            value = arg.partition("=")[2]
        elif arg == "--diagnostics" and i + 1 < len(argv):
            value = argv[i + 1]
        else:
            continue
        if value in REPORTERS:
            return value
    return "text"


def _usage_error(exc: click.ClickException, fmt: str) -> None:
    if fmt == "text":
        exc.show()
        return
    message = exc.format_message()
    named = re.search(r"\bMF\d{3}\b", message)  # meshform's own usage errors name their code
    code = named.group() if named and named.group() in CODES else "MF501"
    context = getattr(exc, "ctx", None)
    hint = f"see `{context.command_path} --help`" if context is not None else ""
    sys.stderr.write(report([Diagnostic("<command line>", 0, 0, Level.ERROR, code, message, hint=hint)], fmt))


def main(argv: list[str] | None = None) -> None:
    """Entry point with one error boundary: exit codes, no tracebacks, quiet on a closed pipe."""
    args = sys.argv[1:] if argv is None else argv
    fmt = _requested_format(args)
    try:
        cli.main(args=args, prog_name="meshform", standalone_mode=False)
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except click.ClickException as exc:
        _usage_error(exc, fmt)
        raise SystemExit(EXIT_USAGE) from None
    except click.exceptions.Abort:
        raise SystemExit(EXIT_USAGE) from None
    except MeshformError as exc:
        sys.stderr.write(report(exc.diagnostics, fmt))
        raise SystemExit(EXIT_INVALID) from None
    except BrokenPipeError:
        closed_pipe()
    except SystemExit:
        raise
    except OSError as exc:  # stdout on a full disk or a closed descriptor; reading errors are MF001
        unwritable(exc)
    except Exception as exc:  # the last line of defence: a bug must still not print a traceback
        if os.environ.get("MESHFORM_DEBUG"):
            raise
        sys.stderr.write(
            f"meshform: internal error: {type(exc).__name__}: {exc} (MESHFORM_DEBUG=1 for details)\n"
        )
        raise SystemExit(EXIT_INTERNAL) from None


__all__ = ["EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "Level", "cli", "main"]
