"""The KRM function: one ResourceList on stdin, one on stdout (items + results), logs on stderr.

Items go through the same core as `transform`, with the round-trip engine so comments survive when
kpt writes them back. On failure the items come back unchanged with error results — never an empty
or partial `items`, which orchestrators would read as "delete everything".
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import Any

from meshform.core.transform import transform
from meshform.diagnostics import Diagnostic, Level, MeshformError, has_errors
from meshform.frontends import krm_render
from meshform.model import injector_inputs
from meshform.model.config import TransformConfig, from_document, unknown_modes
from meshform.modes import Registry
from meshform.objects import Item
from meshform.yamlio.reader import Document, load_round_trip, node_document, plain_document
from meshform.yamlio.streams import ROUND_TRIP, Chunk, load_text, objects_of, rewritten

API_VERSIONS = ("config.kubernetes.io/v1", "config.kubernetes.io/v1beta1")
PATH_ANNOTATIONS = ("internal.config.kubernetes.io/path", "config.kubernetes.io/path")
INDEX_ANNOTATIONS = ("internal.config.kubernetes.io/index", "config.kubernetes.io/index")


def _result(d: Diagnostic, items: list[Item], file: str) -> dict[str, Any]:
    # A finding in another file (the generator's application model) says where, as text reports do.
    elsewhere = d.file != file and d.line > 0
    where = f"{os.path.relpath(d.file)}:{d.line}:{d.col}: " if elsewhere else ""
    result: dict[str, Any] = {
        "message": f"{where}{d.code} {d.message}" + (f" (hint: {d.fix})" if d.fix else ""),
        "severity": d.level.value,
        "tags": {"code": d.code},
    }
    if elsewhere:
        result["file"] = {"path": os.path.relpath(d.file)}
    item = next((i for i in items if _ref_string(i.obj) == d.resource), None) if d.resource else None
    if item is not None:
        meta = item.obj.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        ref = {
            "apiVersion": item.obj.get("apiVersion"),
            "kind": item.obj.get("kind"),
            "name": meta.get("name"),
        }
        if meta.get("namespace"):
            ref["namespace"] = meta["namespace"]
        result["resourceRef"] = ref
        annotations = meta.get("annotations")
        annotations = annotations if isinstance(annotations, dict) else {}
        path = next((annotations[k] for k in PATH_ANNOTATIONS if k in annotations), None)
        if path is not None:
            index = next((annotations[k] for k in INDEX_ANNOTATIONS if k in annotations), "0")
            result["file"] = {"path": str(path), "index": int(str(index)) if str(index).isdigit() else 0}
    if d.path:
        result["field"] = {"path": d.path}
    return result


def _ref_string(obj: Any) -> str:
    from meshform.objects import resource_ref

    return resource_ref(obj)


def _function_config(chunk: Chunk) -> Document:
    """The ResourceList's functionConfig, located in the input, so its errors point at its own lines.
    The ResourceList is read again with positions: an error path only (the engines keep none)."""
    root = load_round_trip(chunk.text, chunk.file)[0]
    key = root.lc.data.get("functionConfig") if root.lc.data else None
    at = (chunk.line + key[0], key[1] + 1) if key else (chunk.line, 1)
    doc = node_document(root.get("functionConfig"), chunk.file, chunk.line, at)
    # The file's text as far as the ResourceList goes, lines aligned with the positions: an inline
    # injector input given as text (`meshConfig: |`) is then located inside that text.
    return replace(doc, text="\n" * (chunk.line - 1) + chunk.text)


# Paths inside the functionConfig as code that sees only its (position-less) data says them: the
# config's own fields (`$.functionConfig.data.mode`) and, found later while governing the items, a
# key of an inline injector input (`$.spec.modeOptions.istio.values.global.tag`, meshform.model.
# injector_inputs.located).
_CONFIG_PATHS = (f"{krm_render.CONFIG}.", "$.spec.modeOptions.")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _relocated(diags: list[Diagnostic], chunk: Chunk) -> list[Diagnostic]:
    """Findings about the functionConfig said at line 1 (by code that sees only its data) moved to
    the line of the field their path names. The ResourceList is read again with positions only when
    there is one (an error path)."""
    config: Document | None = None
    out = []
    for d in diags:
        if d.file == chunk.file and (d.line, d.col) == (1, 1) and d.path.startswith(_CONFIG_PATHS):
            config = config or _function_config(chunk)
            path = d.path.removeprefix(krm_render.CONFIG)
            steps = tuple(key if key else int(index) for key, index in _STEP.findall(path))
            line, col = _input_position(config, steps) or config.position(steps)
            d = replace(d, line=line, col=col)
        out.append(d)
    return out


def _input_position(config: Document, steps: tuple[str | int, ...]) -> tuple[int, int] | None:
    """Where a key inside an inline injector input is (`spec.modeOptions.<mesh>.<input>.<key>...`,
    the input given as a mapping or as text), read as every other front end reads it; None for
    another path."""
    if len(steps) < 4 or steps[:2] != ("spec", "modeOptions"):
        return None
    mesh, key = str(steps[2]), str(steps[3])
    try:
        options = injector_inputs.resolve(config.data["spec"]["modeOptions"], config, steps[:2])
    except (MeshformError, KeyError, TypeError):
        return None
    found = options.get(mesh)
    if not isinstance(found, dict) or f"{key}Origin" not in found:
        return None
    diag = injector_inputs.located(found, key, steps[4:], "", "")
    return diag.line, diag.col


def _config(chunk: Chunk, file: str) -> TransformConfig:
    raw = chunk.data.get("functionConfig")
    if not isinstance(raw, dict) or not raw:
        raise MeshformError(
            [
                Diagnostic(
                    file,
                    1,
                    1,
                    Level.ERROR,
                    "MF701",
                    "no functionConfig: give a MeshTransformer or a ConfigMap with data.mode",
                    "$.functionConfig",
                )
            ]
        )
    try:
        return from_document(plain_document(_plain(raw), file))
    except MeshformError:  # the same errors, located in the ResourceList
        return from_document(_function_config(chunk))


def _plain(node: Any) -> Any:
    """Round-trip nodes → plain data for schema validation (positions are not needed here)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def _resource_list(text: str, file: str) -> Chunk:
    chunks = [c for c in load_text(text, file, ROUND_TRIP) if c.data is not None]
    if len(chunks) != 1 or not _is_resource_list(chunks[0].data):
        raise MeshformError(
            [
                Diagnostic(
                    file,
                    1,
                    1,
                    Level.ERROR,
                    "MF702",
                    "stdin must hold exactly one ResourceList (config.kubernetes.io/v1)",
                )
            ]
        )
    return chunks[0]


def run(text: str, registry: Registry, file: str = "<stdin>") -> tuple[str, list[Diagnostic]]:
    """ResourceList text → (ResourceList text, findings). Raises MeshformError only when the input is
    not a ResourceList at all (there are then no items to give back). A functionConfig naming an
    application model (`data.app`) makes it a generator (meshform.frontends.krm_render)."""
    chunk = _resource_list(text, file)
    generated: list[Any] = []
    try:
        if krm_render.is_generator(chunk.data.get("functionConfig")):
            generated, diags = krm_render.generate(_plain(chunk.data["functionConfig"]), registry, file)
            return _answer(text, file, chunk, generated, diags)
        config = _config(chunk, file)
        diags = (
            unknown_modes(config, registry, file)
            or krm_render.nothing_to_govern([i.obj for i in chunk.items], file)
            or _relocated(transform(chunk.items, config, registry), chunk)
        )
        if not config.modes():
            diags.append(
                Diagnostic(
                    file,
                    1,
                    1,
                    Level.WARNING,
                    "MF704",
                    "the functionConfig selects no mode: nothing was governed",
                    "$.functionConfig",
                )
            )
    except MeshformError as exc:
        diags = _relocated(exc.diagnostics, chunk)
    return _answer(text, file, chunk, generated, diags)


def _answer(
    text: str, file: str, chunk: Chunk, generated: list[Any], diags: list[Diagnostic]
) -> tuple[str, list[Diagnostic]]:
    """The ResourceList to answer: the items (governed, then any generated objects) and the results;
    on failure every item exactly as it came and nothing generated."""
    if not has_errors(diags):
        chunk.data["items"] = objects_of(chunk) + generated
    else:
        chunk = _resource_list(text, file)
    chunk.data["results"] = [_result(d, chunk.items, file) for d in sorted(diags)]
    return rewritten(chunk, chunk.data), diags


def _is_resource_list(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and data.get("kind") == "ResourceList"
        and data.get("apiVersion") in API_VERSIONS
        and isinstance(data.get("items"), list)
    )
