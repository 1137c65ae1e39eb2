"""The command line: parse options, call the core, report, pick the exit code. No logic lives here.

Heavy libraries (jsonschema, jinja2, any Kubernetes client) are imported inside the commands that need
them, never at import time: every kustomize or Helm run pays for this module's start-up.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import click

from meshform.diagnostics import CODES, REPORTERS, Diagnostic, Level, MeshformError, has_errors, report
from meshform.exits import closed_pipe, unwritable
from meshform.version import __version__

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
mode_option = click.option(
    "--mode",
    default=None,
    metavar="MODE",
    help=f"Governance mode replacing the application's default ({', '.join(BUILTIN_MODES)}, "
    "a Rainbond alias, or one from --modes-file). A component's own governanceMode still wins.",
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


def _check_mode(registry: Any, mode: str | None, hint: str = "--mode") -> None:
    if mode is not None and registry.resolve(mode) is None:
        raise click.BadParameter(
            f"MF204 unknown mode {mode!r}; known: {', '.join(registry.names())}", param_hint=hint
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="meshform", message="%(prog)s %(version)s")
def cli() -> None:
    """meshform: choose how each application's traffic is governed on Kubernetes, offline."""


@cli.command()
@click.argument("app", type=click.Path(dir_okay=False, allow_dash=True))
@mode_option
@enrollment_option
@enforcement_option
@click.option("-o", "--output", default="-", show_default=True, help="`-` for stdout, or a directory.")
@click.option(
    "--format", "out_format", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
)
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
    """Render an application model into governed Kubernetes manifests."""
    from meshform.core.govern import GovernOptions
    from meshform.frontends.emit import render_stream, write_objects
    from meshform.frontends.render import render_file

    registry = _registry(modes_file, diag_format)
    _check_mode(registry, mode)
    aliases = dict(_split_alias(a) for a in host_alias)
    result = render_file(app, registry, GovernOptions(mode, enrollment, aliases, policy_enforcement))
    _emit_diagnostics(result.diagnostics, diag_format)
    if not result.ok:
        raise SystemExit(EXIT_INVALID)
    if output == "-":
        text = render_stream(result.objects, out_format)  # built whole first: never a partial stream
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            write_objects(result.objects, output, out_format, app)
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
@mode_option
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
    """Check application models and report every problem, located at file:line:col."""
    from meshform.core.govern import GovernOptions
    from meshform.frontends.render import render_documents
    from meshform.yamlio.reader import read_file

    registry = _registry(modes_file, diag_format)
    _check_mode(registry, mode)
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
    "-o", "--output", "out_format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--capabilities",
    is_flag=True,
    help="Print which traffic-policy features each mode enforces, and its defaults, instead.",
)
def modes(modes_file: str | None, out_format: str, capabilities: bool) -> None:
    """List the governance modes: enrollment, namespace needs, restart on switch, control plane."""
    registry = _registry(modes_file, "text")
    if capabilities:
        from meshform.frontends.capabilities import capabilities_json, capabilities_text

        text = capabilities_json(registry) if out_format == "json" else capabilities_text(registry)
    else:
        from meshform.frontends.modes_table import modes_json, modes_text

        text = modes_json(registry) if out_format == "json" else modes_text(registry)
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
    _check_mode(registry, mode, hint)
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
@mode_option
@enrollment_option
@enforcement_option
@config_option
@click.option("-o", "--output", default="-", show_default=True, help="`-` for stdout, or a directory.")
@click.option(
    "--in-place",
    is_flag=True,
    help="Rewrite the input files atomically (comments, formatting, mode and line endings kept).",
)
@click.option("--diff", is_flag=True, help="Print a unified diff; exit 0 no change, 1 change, >1 error.")
@click.option("--preserve-comments", is_flag=True, help="Keep comments in changed documents on stdout too.")
@modes_file_option
@diagnostics_option
def transform(
    paths: tuple[str, ...],
    mode: str | None,
    enrollment: str | None,
    policy_enforcement: str | None,
    config_path: str | None,
    output: str,
    in_place: bool,
    diff: bool,
    preserve_comments: bool,
    modes_file: str | None,
    diag_format: str,
) -> None:
    """Govern existing manifests (files, directories, or - for stdin)."""
    from meshform.frontends.commands import transform_command

    if in_place and (not paths or "-" in paths):
        raise click.UsageError("--in-place rewrites files: give files or directories, not stdin")
    if in_place and output != "-":
        raise click.UsageError("give --in-place or -o DIR, not both")
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
    )
    raise SystemExit(code)


@cli.command(name="helm-postrender")
@mode_option
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
    """Helm post-renderer: all manifests on stdin, governed manifests on stdout."""
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
@mode_option
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
    """Fail when a workload the config says must be governed carries no meshform (or mesh) status."""
    from meshform.frontends.commands import check_command

    config, registry = _transform_setup(config_path, mode, None, modes_file, diag_format)
    raise SystemExit(check_command(list(paths), config, registry, diag_format))


@cli.command()
@modes_file_option
def krm(modes_file: str | None) -> None:
    """KRM function (kustomize, kpt): ResourceList on stdin → ResourceList with results on stdout."""
    from meshform.frontends.commands import krm_command

    raise SystemExit(krm_command(_registry(modes_file, "text")))


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@mode_option
@enforcement_option
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None, help="Kubeconfig file.")
@click.option("--context", default=None, help="Kubeconfig context (default: its current-context).")
@click.option(
    "-o", "--output", "out_format", type=click.Choice(["text", "json"]), default="text", show_default=True
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
    """Prove against a live cluster that each workload's governance mode will work (read-only)."""
    from meshform.verify.run import Options, command

    registry = _registry(modes_file, "text")
    _check_mode(registry, mode)
    if not paths and sys.stdin.isatty():
        raise click.UsageError("give an application model, manifests, or - for stdin")
    options = Options(paths, mode, kubeconfig, context, timeout, policy_enforcement)
    raise SystemExit(command(options, registry, out_format))


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
