"""Which files of a walked directory are Kubernetes manifests, and which are Go templates.

A directory holds more than manifests: kustomize's `kustomization.yaml`, kpt's `Kptfile` and function
configs, Helm's `Chart.yaml` and `values.yaml`, a `package.json`, meshform's own config. A walked file
is read only when one of its documents is a Kubernetes object (apiVersion and kind, not a tool's local
config); the others are skipped with a note (MF434). A Helm chart's `templates/` are Go templates,
not YAML: refused with a located error (MF435), as is any file that fails to parse where a `{{`
shows it is a template. A walked file meshform cannot read (an Ansible playbook's top-level list, a
mkdocs.yml's `!!python/name` tag) is skipped with the same note when nothing in it names an
apiVersion and a kind: it is some other tool's YAML, not a broken manifest. Text that is not YAML
at all stays an error.
"""

from __future__ import annotations

import os
from typing import Any

from meshform.diagnostics import Diagnostic, Level

# Kinds of tools' own files, which carry apiVersion and kind but are never sent to a cluster
# (group, kind; "*" for every kind of the group).
TOOL_CONFIG: dict[tuple[str, str], str] = {
    ("kustomize.config.k8s.io", "*"): "kustomize's config",
    ("kpt.dev", "*"): "kpt's package file",
    ("fn.kpt.dev", "*"): "a kpt function's config",
    ("meshform.dev", "*"): "meshform's own config",
}
# What to run instead, for a skipped file of a tool meshform works inside.
INSTEAD = {
    "kustomize": "to govern what the kustomization builds: kustomize build DIR | meshform transform -, "
    "or meshform as its KRM function (examples/kustomize)",
    "kpt": 'to govern a kpt package: kpt fn eval DIR --exec "meshform krm" --fn-config CONFIG',
    "Helm": "to govern a chart: helm template NAME CHART | meshform transform -, or meshform helm-postrender",
}
# Tools' kinds, parsed (rather than passed over by kind) when a directory is walked.
TOOL_KINDS = frozenset({"Kustomization", "Component", "Kptfile", "MeshTransformer", "Application"})
LOCAL_CONFIG = "config.kubernetes.io/local-config"
WALK_MARKERS = (LOCAL_CONFIG,)
TEMPLATE_OPEN = "{{"


def tool_config(data: Any) -> str:
    """What a tool's local file is ("" for a Kubernetes object or anything else)."""
    if not isinstance(data, dict):
        return ""
    api, kind = data.get("apiVersion"), data.get("kind")
    if not isinstance(api, str) or not isinstance(kind, str):
        return ""
    group = api.rpartition("/")[0]
    found = TOOL_CONFIG.get((group, kind)) or TOOL_CONFIG.get((group, "*"))
    if found:
        return f"{found} ({kind})"
    meta = data.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if isinstance(annotations, dict) and str(annotations.get(LOCAL_CONFIG, "")).lower() == "true":
        return f"a local-config {kind} ({LOCAL_CONFIG}: true, never deployed)"
    return ""


def is_object(data: Any) -> bool:
    """A Kubernetes object: a mapping with a string apiVersion and kind that no tool keeps locally."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("apiVersion"), str)
        and isinstance(data.get("kind"), str)
        and not tool_config(data)
    )


def skip_reason(documents: list[tuple[Any, bool]]) -> str:
    """Why a walked file holds nothing to govern ("" when it holds a Kubernetes object).

    `documents` are (data, passed): `passed` for a document read only far enough to see it has a
    kind meshform passes through (an object, then), data for those parsed (None for a blank one)."""
    tools = []
    for data, passed in documents:
        if passed or is_object(data):
            return ""
        if data is not None and tool_config(data):
            tools.append(tool_config(data))
    if tools:
        return f"{tools[0]}, not a Kubernetes object"
    return "no Kubernetes object in it (a document with apiVersion and kind)"


def may_hold_object(text: str) -> bool:
    """Could the text hold a Kubernetes object (both `apiVersion` and `kind` appear in it)? Said of a
    walked file no reader accepts: one that may is a broken manifest, refused; one that cannot is
    another tool's YAML, skipped. Deliberately loose, so a broken manifest is never skipped."""
    return "apiVersion" in text and "kind" in text


# Refusals of YAML other tools read well (a tag, a top-level sequence): a syntax error is not one,
# since a truncated manifest loses its apiVersion too and must not pass unnoticed.
OTHER_TOOLS_YAML = frozenset({"MF007", "MF008"})


def unreadable(path: str, text: str, failure: Diagnostic) -> Diagnostic | None:
    """The MF434 note for a walked file of valid YAML that meshform refuses (OTHER_TOOLS_YAML) and no
    object can be in; None when it is to be refused."""
    if failure.code not in OTHER_TOOLS_YAML or may_hold_object(text):
        return None
    reason = f"no Kubernetes object in it, and not YAML meshform reads ({failure.code}: {failure.message})"
    return skipped(path, reason)


def skipped(path: str, reason: str) -> Diagnostic:
    """The note for a skipped file, with what to run instead when it belongs to a tool's input."""
    if os.path.isfile(os.path.join(os.path.dirname(path), "Chart.yaml")):
        reason += ", part of a Helm chart"
    tool = next((t for t in INSTEAD if t in reason), "")
    return Diagnostic(path, 1, 1, Level.INFO, "MF434", f"skipped: {reason}", hint=INSTEAD.get(tool, ""))


def in_chart_templates(path: str) -> bool:
    """Is the file below a `templates/` directory of a Helm chart (a directory with Chart.yaml)?"""
    parts = os.path.normpath(os.path.abspath(path)).split(os.sep)
    return any(
        part == "templates" and os.path.isfile(os.sep.join([*parts[:i], "Chart.yaml"]))
        for i, part in enumerate(parts[:-1])
        if i > 0
    )


def go_template(path: str, text: str, parse_failed: bool) -> Diagnostic | None:
    """A located MF435 when the file is a Go template: any file below a chart's templates/ (one with
    no `{{` too: the chart is refused as a whole, never governed in part), or unparseable YAML with
    `{{` in it. None otherwise (a `{{` inside a valid manifest's string is data)."""
    at = text.find(TEMPLATE_OPEN)
    chart = path != "<stdin>" and in_chart_templates(path)
    if not chart and (at < 0 or not parse_failed):
        return None
    line = text.count("\n", 0, at) + 1 if at >= 0 else 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1 if at >= 0 else 1
    where = "a Helm chart template" if chart else "a Go template, not YAML"
    shown = f"{TEMPLATE_OPEN} ... }}}}" if at >= 0 else "in its templates/; Helm renders a chart whole"
    return Diagnostic(
        path,
        line,
        col,
        Level.ERROR,
        "MF435",
        f"this is {where} ({shown}): meshform reads rendered manifests",
        hint="render it first: helm template NAME CHART | meshform transform -, or give meshform to "
        "Helm as its post-renderer (meshform helm-postrender)",
    )
