"""`render`: application model file → governed Kubernetes objects. The pipeline, start to end."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from meshform.core.expand import expand
from meshform.core.govern import GovernOptions, govern
from meshform.diagnostics import Diagnostic, Level, MeshformError, has_errors
from meshform.model import admissible, injector_inputs, policy_checks, schema, semantics
from meshform.model import application as model
from meshform.modes import Registry
from meshform.yamlio.reader import Document, load_documents, load_documents_quick, read_text

APP_SCHEMA = "application.schema.json"
# Schema errors after which the model cannot be trusted to have the types semantics reads (a name
# that is a list, a workload kind that is a mapping): its other errors are reported, its references
# are not. An enum error counts: the value may be a list.
MISSHAPEN = frozenset({"MF100", "MF103", "MF104"})


@dataclass
class Result:
    objects: list[dict[str, Any]] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)


def _is_application(doc: Document) -> bool:
    return isinstance(doc.data, dict) and doc.data.get("kind") == "Application"


def check_documents(docs: list[Document], registry: Registry, opts: GovernOptions) -> list[Diagnostic]:
    """Every problem in every document, and everything `render` would refuse: a valid document is
    rendered too (its objects thrown away), so `validate` accepts exactly what `render` accepts."""
    diags: list[Diagnostic] = []
    for doc in docs:
        checked, app = _check(doc, registry, opts)
        diags += checked
        if app is not None and not has_errors(checked):
            _, rendered = _render(app, doc, registry, opts)
            diags += [d for d in rendered if d.level is Level.ERROR]  # its warnings are render's to say
    return sorted(set(diags))


def _check(
    doc: Document, registry: Registry, opts: GovernOptions
) -> tuple[list[Diagnostic], model.Application | None]:
    """One document against the schema, the references and what the API server accepts; the model
    built from it when its shape allows."""
    if doc.data is None:
        return [], None
    if not _is_application(doc):
        line, col = doc.position(())
        message = f"document {doc.index + 1} is not a meshform Application"
        return [Diagnostic(doc.file, line, col, Level.ERROR, "MF006", message)], None
    diags = list(schema.validate(doc, APP_SCHEMA))
    diags += policy_checks.durations(doc, semantics.Locator(doc))
    refused = {d.path for d in diags}  # the schema's own type check may have refused the value already
    diags += (d for d in schema.rewritten_env(doc, model.env_string) if d.path not in refused)
    app = _best_effort_model(doc) if not any(d.code in MISSHAPEN for d in diags) else None
    if app is not None and not has_errors(diags):
        app, loaded = _injector_inputs(app, doc)
        diags += loaded
    if app is not None:
        diags += semantics.check(app, doc, registry, opts.mode, opts.enrollment, opts.policy_enforcement)
        diags += admissible.check(app, semantics.Locator(doc))
    return sorted(set(diags)), app


def _injector_inputs(app: model.Application, doc: Document) -> tuple[model.Application, list[Diagnostic]]:
    """The app with its injectors' inputs (valuesFile, meshConfigFile, inline values) loaded."""
    if not any(mesh in app.mode_options for mesh in injector_inputs.INPUTS):
        return app, []
    try:
        options = injector_inputs.resolve(app.mode_options, doc, ("spec", "modeOptions"))
    except MeshformError as exc:
        return app, list(exc.diagnostics)
    return replace(app, mode_options=MappingProxyType(options)), []


def _render(
    app: model.Application, doc: Document, registry: Registry, opts: GovernOptions
) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    return govern(app, expand(app), registry, opts, semantics.Locator(doc))


def _best_effort_model(doc: Document) -> model.Application | None:
    """Build the model even from schema-invalid data where its shape allows, so `validate` can also
    report reference errors (unknown dependencies, modes...) in the same run: every error at once."""
    try:
        return model.build(doc.data)
    except (KeyError, TypeError, AttributeError, ValueError):
        return None


def render_documents(docs: list[Document], registry: Registry, opts: GovernOptions) -> Result:
    result = Result()
    apps: list[tuple[model.Application, Document]] = []
    for doc in docs:
        found, app = _check(doc, registry, opts)
        result.diagnostics += found
        if app is not None:
            apps.append((app, doc))
    if not result.ok:
        return result
    if not apps:
        result.diagnostics.append(
            Diagnostic(
                docs[0].file if docs else "-",
                1,
                1,
                Level.ERROR,
                "MF006",
                "no Application document in the input",
            )
        )
        return result
    for app, doc in apps:
        objects, found = _render(app, doc, registry, opts)
        result.objects += objects
        result.diagnostics += found
    return result


def render_file(path: str, registry: Registry, opts: GovernOptions) -> Result:
    """Render through the quick reader; any finding at all is recomputed with the positioned reader,
    so every diagnostic still points at file:line:col."""
    try:
        text, name = read_text(path)
        quick = load_documents_quick(text, name)
        if quick is not None:
            result = render_documents(quick, registry, opts)
            if not result.diagnostics:
                return result
        return render_documents(load_documents(text, name), registry, opts)
    except MeshformError as exc:
        return Result(diagnostics=exc.diagnostics)
