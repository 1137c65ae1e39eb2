"""The injectors' own inputs for pre-injection: `modeOptions.<mesh>.valuesFile` / `meshConfigFile`
and their inline equivalents `values` / `meshConfig`, read into plain data before any mode sees them.

A file may be the ConfigMap as `kubectl get -o yaml` prints it (Istio's `istio-sidecar-injector`
data.values, `istio` data.mesh; Linkerd's `linkerd-config` data.values) or the bare value (JSON or
YAML). Inline, the value is a mapping, or the ConfigMap's string pasted as is. Every bad input is a
located error: a missing file at the option naming it, a bad document inside the file where it is.

After loading, a mesh's options hold `values` / `meshConfig` as mappings, `valuesAt` /
`meshConfigAt` (["file", line, col]: where the value came from) and `valuesOrigin` /
`meshConfigOrigin` (an Origin: where each key inside it is, so a problem found later, at any
front end, is reported at the user's own key); the `*File` keys are gone. Modes read only that
(they never open files).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from meshform.diagnostics import Diagnostic, Level, MeshformError
from meshform.model.schema import json_path
from meshform.modes.injection import Origin
from meshform.yamlio.reader import Document, Path


@dataclass(frozen=True)
class Input:
    """One injector input: the option keys, and the ConfigMap data keys that may hold it."""

    inline: str  # values | meshConfig
    file: str  # valuesFile | meshConfigFile
    data_keys: tuple[str, ...]  # data keys of the ConfigMap form, first found wins


# Kubernetes keeps at most 1 MiB of data in a ConfigMap; its YAML (quoted, escaped) may be a few
# times that, never tens of MiB: a bigger file is not the cluster's input, and is not read.
MAX_INPUT_BYTES = 4 * 1024 * 1024

# Per mesh mode, the inputs its injector reads (a mode without an entry takes none).
INPUTS: dict[str, tuple[Input, ...]] = {
    "istio": (Input("values", "valuesFile", ("values",)), Input("meshConfig", "meshConfigFile", ("mesh",))),
    "linkerd": (Input("values", "valuesFile", ("values",)),),
}


def resolve(options: Mapping[str, Any], doc: Document, base: Path) -> dict[str, Any]:
    """`options` (modeOptions, by mode) with every injector input loaded. `doc` is the document the
    options sit in, at `base` (e.g. ("spec", "modeOptions")); files are relative to its directory.
    Raises a MeshformError with every located problem found."""
    out = {name: dict(opts) if isinstance(opts, Mapping) else opts for name, opts in options.items()}
    problems: list[Diagnostic] = []
    for mesh, inputs in INPUTS.items():
        opts = out.get(mesh)
        if not isinstance(opts, dict):
            continue
        for spec in inputs:
            problems += _load(opts, spec, doc, (*base, mesh))
        if not problems:
            problems += _version(mesh, opts)
    if problems:
        raise MeshformError(problems)
    return out


def _version(mesh: str, opts: Mapping[str, Any]) -> list[Diagnostic]:
    """MF320 now, located, when the inputs name a mesh version meshform has no templates for; else
    MF322 per input value of a type the mesh's injector refuses."""
    from meshform.modes import injection

    try:
        if injection.wanted_version(mesh, opts) is not None:
            injection.version_for(mesh, opts)
    except MeshformError as exc:
        key, path = injection.VERSION_PATHS[mesh]
        return [located(opts, key, path, d.code, d.message, d.hint) for d in exc.diagnostics]
    return _typed(mesh, opts)


def _typed(mesh: str, options: Mapping[str, Any]) -> list[Diagnostic]:
    """MF322 per value of the mesh's (loaded) injector inputs that its injector refuses for its type,
    located where that input came from (its `<input>At`); for Linkerd, MF352 per value its chart
    refuses or the pod could not run with, once per input at the key."""
    if mesh == "linkerd":
        from meshform.modes import linkerd_inject

        return [
            located(options, key, path, "MF352", message)
            for key, path, message in linkerd_inject.input_problems(options)
        ]
    if mesh != "istio":
        return []
    from meshform.modes import injection, istio_inject

    hint = "give the value the type Istio's Values / MeshConfig declare for it, as istioctl would need"
    whole = "give the injector's values: the istio-sidecar-injector ConfigMap or its data.values"
    typed = [
        located(options, key, path, "MF322", message, hint if path else whole)
        for key, path, message in istio_inject.input_problems(options)
    ]
    config = options.get("injectorConfig")
    if typed or not isinstance(config, Mapping):
        return typed
    hint = (
        "use enrollment labels (the cluster's webhook injects with its own config), or remove the "
        "customisation from the ConfigMap's data.config"
    )
    return [
        located(options, "injectorConfig", path, "MF323", message, hint)
        for path, message in istio_inject.config_problems(config, injection.version_for(mesh, options))
    ]


def located(
    options: Mapping[str, Any],
    key: str,
    path: Sequence[str | int],
    code: str,
    message: str,
    hint: str = "",
    level: Level = Level.ERROR,
    ref: str = "",
) -> Diagnostic:
    """A diagnostic at the user's own key `path` inside the loaded input `key` (values, meshConfig)
    of a mesh's `options`; at the input as a whole where its Origin is unknown."""
    origin = options.get(f"{key}Origin")
    if isinstance(origin, Origin):
        file, line, col, note = origin.locate(path)
        # An inline value's keys as if they were the options' own (a text's too): a front end that
        # read the options without positions (krm) relocates by this path.
        where = json_path((*origin.outer, *path)) if origin.outer or not origin.file else ""
        return Diagnostic(file, line, col, level, code, message + note, where, ref, hint)
    at = options.get(f"{key}At")
    file, line, col = at if isinstance(at, list) and len(at) == 3 else (f"modeOptions.{key}", 0, 0)
    return Diagnostic(file, line, col, level, code, message, "", ref, hint)


def _load(opts: dict[str, Any], spec: Input, doc: Document, at: Path) -> list[Diagnostic]:
    if spec.file in opts and spec.inline in opts:
        where = (*at, spec.file)
        return [_error(doc, where, "MF322", f"give {spec.file} or {spec.inline}, not both")]
    try:
        companions: dict[str, tuple[dict[str, Any], Origin]] = {}
        if spec.file in opts:
            value, origin, companions = _from_file(opts.pop(spec.file), spec, doc, (*at, spec.file))
        elif spec.inline in opts:
            value, origin = _from_inline(opts[spec.inline], spec, doc, (*at, spec.inline))
        else:
            return []
    except MeshformError as exc:
        return list(exc.diagnostics)
    for key, (found, source) in {spec.inline: (value, origin), **companions}.items():
        opts[key] = found
        opts[f"{key}At"] = [source.file or source.doc.file, *source.at]
        opts[f"{key}Origin"] = source
    return []


def _error(doc: Document, path: Path, code: str, message: str) -> Diagnostic:
    line, col = doc.position(path)
    return Diagnostic(doc.file, line, col, Level.ERROR, code, message, json_path(path))


def _from_file(
    name: Any, spec: Input, doc: Document, at: Path
) -> tuple[dict[str, Any], Origin, dict[str, tuple[dict[str, Any], Origin]]]:
    from meshform.yamlio.reader import read_file

    if not isinstance(name, str) or not name:
        raise MeshformError([_error(doc, at, "MF322", f"{spec.file} must be a file path")])
    here = os.path.dirname(doc.file) if doc.file not in ("-", "") else ""
    path = os.path.join(here, name)
    if not os.path.isfile(path):
        why = "is a directory" if os.path.isdir(path) else "does not exist"
        raise MeshformError([_error(doc, at, "MF321", f"{spec.file} {path!r} {why}")])
    if os.path.getsize(path) > MAX_INPUT_BYTES:
        message = f"{spec.file} {path!r} is larger than a ConfigMap can hold (1 MiB of data)"
        raise MeshformError([_error(doc, at, "MF322", message)])
    docs = [d for d in read_file(path) if d.data is not None]  # located MF00x inside the file
    if len(docs) != 1:
        message = f"{spec.file} {path!r} must hold one document (found {len(docs)})"
        line, col = docs[1].position(()) if docs else (1, 1)  # at the one too many
        raise MeshformError([Diagnostic(path, line, col, Level.ERROR, "MF322", message)])
    value, origin = _value(docs[0], spec)
    return value, origin, _companions(docs[0], spec)


def _from_inline(raw: Any, spec: Input, doc: Document, at: Path) -> tuple[dict[str, Any], Origin]:
    """An inline value: a mapping or its text, either one the bare value or the ConfigMap (read
    exactly as a file's one document is)."""
    line, col = doc.position(at)
    if isinstance(raw, Mapping):
        held = _held(raw, spec, doc, at)
        if held is None:
            return dict(raw), Origin(doc, at, at=(line, col), outer=at)
        value, origin = _parse_text(raw["data"][held[-1]], doc, held, f"data.{held[-1]}")
        return value, replace(origin, outer=held)
    if isinstance(raw, str):
        value, origin = _parse_text(raw, doc, at, spec.inline)
        try:
            held = _held(value, spec, origin.doc, ())
            if held is not None:  # the ConfigMap's text: its data key's text, located in the file
                inner, within = _parse_text(value["data"][held[-1]], origin.doc, held, f"data.{held[-1]}")
                return inner, _nested(origin, within, f"{spec.inline} data.{held[-1]}")
        except MeshformError as exc:
            raise MeshformError(
                [_shifted(d, doc.file, (line, col), origin.shift, spec.inline) for d in exc.diagnostics]
            ) from None
        return value, replace(origin, outer=at)
    raise MeshformError([_error(doc, at, "MF322", f"{spec.inline} must be a mapping or its text")])


def _nested(outer: Origin, inner: Origin, what: str) -> Origin:
    """Where a text's keys are in the file when that text is itself inside a text (a ConfigMap's
    data.values pasted as an inline string): both shifts added, else the outer value's place."""
    if outer.shift is None or inner.shift is None:
        return Origin(inner.doc, inner.base, outer.file or outer.doc.file, None, outer.at, what, outer.outer)
    shift = (outer.shift[0] + inner.shift[0], outer.shift[1] + inner.shift[1])
    return Origin(inner.doc, inner.base, outer.file or outer.doc.file, shift, outer.at, what, outer.outer)


def _value(doc: Document, spec: Input) -> tuple[dict[str, Any], Origin]:
    """The input from a file's one document: a ConfigMap's data key (text), or the bare mapping."""
    data = doc.data
    line, col = doc.position(())
    if not isinstance(data, dict):
        raise MeshformError([Diagnostic(doc.file, line, col, Level.ERROR, "MF322", _shape(spec))])
    held = _held(data, spec, doc, ())
    if held is None:
        return data, Origin(doc, at=(line, col))
    return _parse_text(data["data"][held[-1]], doc, held, f"data.{held[-1]}")


def _held(data: Mapping[str, Any], spec: Input, doc: Document, base: Path) -> Path | None:
    """The path (from `base`, where `data` is in `doc`) of the ConfigMap data key holding the input's
    text; None when `data` is the bare value. MF322, located, when it is another object, or a
    ConfigMap without that key as a string."""
    if data.get("kind") != "ConfigMap":
        if "apiVersion" in data and "kind" in data:  # another object (a Secret, a Deployment), not a value
            message = f"{_shape(spec)}, not a {data.get('kind')!s:.40}"
            raise MeshformError([_error(doc, (*base, "kind"), "MF322", message)])
        return None
    held = data.get("data")
    key = next((k for k in spec.data_keys if isinstance(held, dict) and k in held), None)
    if key is None or not isinstance(held, dict):
        keys = " or ".join(f"data.{k}" for k in spec.data_keys)
        where = (*base, "data") if "data" in data else base
        raise MeshformError([_error(doc, where, "MF322", f"ConfigMap has no {keys}")])
    if not isinstance(held[key], str):
        raise MeshformError([_error(doc, (*base, "data", key), "MF322", f"data.{key} must be a string")])
    return (*base, "data", key)


def _companions(doc: Document, spec: Input) -> dict[str, tuple[dict[str, Any], Origin]]:
    """The other data keys of an input's ConfigMap the injector reads with it, parsed: the
    istio-sidecar-injector's data.config next to its data.values (its injection templates and policy,
    which meshform does not render but must not silently ignore: compared with the version's stock
    config once the version is known)."""
    data = doc.data
    held = data.get("data") if isinstance(data, dict) and data.get("kind") == "ConfigMap" else None
    if spec.inline != "values" or not isinstance(held, dict) or "config" not in held:
        return {}
    text = held["config"]
    if not isinstance(text, str):
        raise MeshformError([_error(doc, ("data", "config"), "MF322", "data.config must be a string")])
    return {"injectorConfig": _parse_text(text, doc, ("data", "config"), "data.config")}


def _shape(spec: Input) -> str:
    keys = "/".join(spec.data_keys)
    return f"{spec.file}: expected the ConfigMap (data.{keys}) or the bare {spec.inline} mapping"


def _parse_text(text: str, doc: Document, at: Path, what: str) -> tuple[dict[str, Any], Origin]:
    """A value's text (JSON or YAML: a ConfigMap's data key, or an inline string at `at` in `doc`)
    as a mapping, and where its keys are in the file. Its own errors are reported at the value's
    line in the file, plus their line inside the text."""
    from meshform.yamlio.reader import load_documents

    line, col = doc.position(at)
    shift = _verbatim_shift(doc.text, line, col, text)
    try:
        docs = [d for d in load_documents(text, f"{doc.file} {what}") if d.data is not None]
    except MeshformError as exc:
        raise MeshformError(
            [_shifted(d, doc.file, (line, col), shift, what) for d in exc.diagnostics]
        ) from None
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise MeshformError(
            [Diagnostic(doc.file, line, col, Level.ERROR, "MF322", f"{what} must be one mapping")]
        )
    found: dict[str, Any] = docs[0].data
    return found, Origin(docs[0], (), doc.file, shift, (line, col), what)


def _verbatim_shift(file_text: str, line: int, column: int, text: str) -> tuple[int, int] | None:
    """(lines, columns) from a position in `text` to the file's, where `text` stands verbatim in the
    file at the key at `line`:`column`: on that line (a one-line plain or single-quoted string, as kubectl
    prints `values: '{"global": ...}'`), or as a block scalar below it (`values: |`), every line
    indented alike. None otherwise (escapes, folding: only the key's line is known)."""
    if not file_text:
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    here = file_text.split("\n", line)[line - 1] if len(lines) == 1 and line >= 1 else ""
    start = here.find(":", column - 1) + 1  # after the key
    if start and lines[0] and here[start:].count(lines[0]) == 1:
        return line - 1, here.index(lines[0], start)
    below = file_text.split("\n", line + len(lines))[line : line + len(lines)]
    first = next((i for i, each in enumerate(lines) if each.strip()), None)
    if len(below) != len(lines) or first is None:
        return None
    indent = len(below[first]) - len(below[first].lstrip(" "))
    pad = " " * indent
    same = all(b == pad + t if t else not b.strip() for b, t in zip(below, lines, strict=True))
    return (line, indent) if same and indent else None


def _shifted(
    found: Diagnostic, file: str, at: tuple[int, int], shift: tuple[int, int] | None, what: str
) -> Diagnostic:
    """An error inside a value's text, at its place in the file when the text stands there verbatim
    (`shift`), else at the value (`at`) with its line inside the text said."""
    if shift is not None and found.line:
        line, col = found.line + shift[0], max(found.col, 1) + shift[1]
        return replace(found, file=file, line=line, col=col, message=f"{what}: {found.message}")
    inner = f" (line {found.line} of {what})" if found.line else ""
    return Diagnostic(
        file,
        at[0],
        at[1],
        found.level,
        found.code,
        f"{what}: {found.message}{inner}",
        found.path,
        hint=found.hint,
    )


def problems(options: Mapping[str, Any], doc: Document, base: Path) -> Iterator[Diagnostic]:
    """The located problems resolve() would raise, as a stream (for `validate`)."""
    try:
        resolve(options, doc, base)
    except MeshformError as exc:
        yield from exc.diagnostics
