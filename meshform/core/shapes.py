"""The shapes meshform reads: every field the core touches must have the JSON type Kubernetes gives it.

Parseable YAML can still put a string where Kubernetes has a mapping (`metadata: "oops"`), a list where
it has labels, `null` inside `containers`. Such an object would make Kubernetes refuse it anyway; here
it becomes a located MF150, and the object is left out of the run, before anything walks it. Only what
the core reads is checked (`null` counts as absent, as in Kubernetes); everything else passes through
untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from meshform.diagnostics import Diagnostic, Level, MeshformError, json_type
from meshform.model.schema import json_path
from meshform.model.workload_kinds import BUILTIN, KUBERNETES_GROUPS, WorkloadKinds
from meshform.objects import Item, resource_ref
from meshform.yamlio.reader import Document, Path

SHAPE = "MF150"


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str
    code: str = SHAPE


def _wrong(path: Path, expected: str, found: Any) -> Problem:
    return Problem(path, f"{_dotted(path)} is {json_type(found)}, not {expected}")


Check = Callable[[Any, Path], Iterator[Problem]]


class Shape:
    """A Check (called with a value and its path, it yields the problems) that also answers `ok`:
    does a value pass, without building a path or a problem? Nearly every object passes, and the
    generators and path tuples of the full check were most of its cost; the problems are looked for
    only when `ok` says there are some. Both sides decide alike: each `ok` below mirrors its check
    line for line (tests/test_shapes.py holds them to it)."""

    __slots__ = ("check", "ok")

    def __init__(self, check: Check, ok: Callable[[Any], bool]) -> None:
        self.check, self.ok = check, ok

    def __call__(self, value: Any, path: Path) -> Iterator[Problem]:
        return self.check(value, path)


def _ok_of(shape: Check) -> Callable[[Any], bool]:
    """`ok` of a Shape; of any other Check, whether it finds no problem."""
    if isinstance(shape, Shape):
        return shape.ok
    return lambda value: next(iter(shape(value, ())), None) is None


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the object"


def _scalar(value: Any, path: Path) -> Iterator[Problem]:
    if isinstance(value, dict | list):
        yield _wrong(path, "a single value", value)


def _scalar_ok(value: Any) -> bool:
    return not isinstance(value, dict | list)


scalar = Shape(_scalar, _scalar_ok)


def _boolean(value: Any, path: Path) -> Iterator[Problem]:
    if not isinstance(value, bool):
        yield _wrong(path, "true or false", value)


def _integer_ok(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _integer(value: Any, path: Path) -> Iterator[Problem]:
    if not _integer_ok(value):
        yield _wrong(path, "a whole number", value)


def _int_or_string_ok(value: Any) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)


def _int_or_string(value: Any, path: Path) -> Iterator[Problem]:
    if not _int_or_string_ok(value):
        yield _wrong(path, "a port number or a port name", value)


def _text(value: Any, path: Path) -> Iterator[Problem]:
    if not isinstance(value, str):
        yield _wrong(path, "a string", value)


# A Go bool (`hostNetwork: "true"` is a string: Kubernetes and istioctl cannot unmarshal it).
boolean = Shape(_boolean, lambda value: isinstance(value, bool))
# A Go integer (a port number, a user ID): neither a string nor a fraction.
integer = Shape(_integer, _integer_ok)
# Kubernetes' IntOrString (a probe's port: a number, or a container port's name).
int_or_string = Shape(_int_or_string, _int_or_string_ok)
text = Shape(_text, lambda value: isinstance(value, str))


def fields(**shapes: Check) -> Shape:
    """A mapping (or null); of its fields, those named are checked."""
    named = tuple(shapes.items())
    named_ok = tuple((key, _ok_of(shape)) for key, shape in named)

    def check(value: Any, path: Path) -> Iterator[Problem]:
        if value is None:
            return
        if not isinstance(value, dict):
            yield _wrong(path, "a mapping", value)
            return
        for key, shape in named:
            child = value.get(key)
            if child is not None:
                yield from shape(child, (*path, key))

    def ok(value: Any) -> bool:
        if value is None:
            return True
        if not isinstance(value, dict):
            return False
        for key, shape_ok in named_ok:
            child = value.get(key)
            if child is not None and not shape_ok(child):
                return False
        return True

    return Shape(check, ok)


def required(name: str, shape: Check, why: str) -> Shape:
    """Like `shape`, and the mapping must have the field `name` (a null or missing one is refused:
    `why` says who needs it)."""
    shape_ok = _ok_of(shape)

    def check(value: Any, path: Path) -> Iterator[Problem]:
        if isinstance(value, dict) and value.get(name) is None:
            yield Problem((*path, name), f"{_dotted((*path, name))} is missing: {why}")
        yield from shape(value, path)

    def ok(value: Any) -> bool:
        return not (isinstance(value, dict) and value.get(name) is None) and shape_ok(value)

    return Shape(check, ok)


def list_of(shape: Check, what: str) -> Shape:
    """A list (or null) whose every item is `what` (a null item is not absent: it is an error)."""
    item_ok = _ok_of(shape)

    def check(value: Any, path: Path) -> Iterator[Problem]:
        if value is None:
            return
        if not isinstance(value, list):
            yield _wrong(path, "a list", value)
            return
        for i, item in enumerate(value):
            if item is None:
                yield _wrong((*path, i), what, item)
            else:
                yield from shape(item, (*path, i))

    def ok(value: Any) -> bool:
        if value is None:
            return True
        if not isinstance(value, list):
            return False
        return all(item is not None and item_ok(item) for item in value)

    return Shape(check, ok)


def _keys(value: Any, path: Path) -> Iterator[Problem]:
    if value is None:
        return
    if not isinstance(value, dict):
        yield _wrong(path, "a mapping of key to value", value)
        return
    for key, item in value.items():
        yield from _scalar(item, (*path, str(key)))


def _keys_ok(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, dict):
        return False
    return not any(isinstance(item, dict | list) for item in value.values())


# Labels, annotations, a selector: a mapping of key to a single value.
keys = Shape(_keys, _keys_ok)


META = fields(name=scalar, namespace=scalar, labels=keys, annotations=keys)
NAMED = fields(name=scalar)
# The fields an injector reads (Istio rewrites probes and hooks by their ports, skips hostNetwork pods,
# reads the user IDs): typed as Kubernetes types them, so a quoted number is refused here as the API
# server and `istioctl kube-inject` refuse it, not injected.
HANDLER = fields(
    httpGet=fields(path=scalar, port=int_or_string, scheme=scalar),
    tcpSocket=fields(port=int_or_string),
    grpc=fields(port=integer),
)
PROBE = HANDLER
IDS = {"runAsUser": integer, "runAsGroup": integer, "runAsNonRoot": boolean}
CONTAINER = fields(
    name=text,
    ports=list_of(
        fields(name=scalar, containerPort=integer, hostPort=integer, protocol=scalar), "a port mapping"
    ),
    env=list_of(fields(name=scalar, value=scalar), "an env mapping"),
    readinessProbe=PROBE,
    livenessProbe=PROBE,
    startupProbe=PROBE,
    lifecycle=fields(postStart=HANDLER, preStop=HANDLER),
    securityContext=fields(**IDS),
)


def _pod_spec(container: Check) -> Check:
    return fields(
        containers=list_of(container, "a container mapping"),
        initContainers=list_of(container, "a container mapping"),
        volumes=list_of(NAMED, "a volume mapping"),
        imagePullSecrets=list_of(NAMED, "a mapping with a name"),
        hostNetwork=boolean,
        securityContext=fields(**IDS, fsGroup=integer),
    )


# Kubernetes' own pods need every container's name; a workload kind of another API may default it
# (Knative names a Service's one container itself), so there it is only typed.
POD_SPEC = _pod_spec(required("name", CONTAINER, "Kubernetes requires every container's name"))
EXTENSION_POD_SPEC = _pod_spec(CONTAINER)
SELECTOR = fields(
    matchLabels=keys,
    matchExpressions=list_of(
        fields(key=scalar, operator=scalar, values=list_of(scalar, "a value")), "a requirement mapping"
    ),
)
TEMPLATE = fields(metadata=META, spec=POD_SPEC)
CONTROLLER_SPEC = fields(selector=SELECTOR, template=TEMPLATE)
BY_KIND: dict[str, Shape] = {
    "Pod": fields(metadata=META, spec=POD_SPEC),
    **dict.fromkeys(
        ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"),
        fields(metadata=META, spec=CONTROLLER_SPEC),
    ),
    "CronJob": fields(metadata=META, spec=fields(jobTemplate=fields(metadata=META, spec=CONTROLLER_SPEC))),
    "Service": fields(
        metadata=META,
        spec=fields(
            selector=keys,
            ports=list_of(fields(name=scalar, port=scalar, targetPort=scalar), "a port mapping"),
        ),
    ),
}
OTHER = fields(metadata=META)  # any other object: the core reads its kind, name and namespace


@lru_cache(maxsize=64)
def _workload_shape(template: tuple[str, ...]) -> Shape:
    """The shape of a workload kind that is not Kubernetes' own: its metadata, its pod template at
    `template`, and the LabelSelector next to it."""
    level: dict[str, Check] = {
        "selector": SELECTOR,
        template[-1]: fields(metadata=META, spec=EXTENSION_POD_SPEC),
    }
    for key in reversed(template[:-1]):
        level = {key: fields(**level)}
    top: dict[str, Check] = {"metadata": META, **level}
    return fields(**top)


def shape_of(obj: dict[str, Any], kinds: WorkloadKinds = BUILTIN) -> Shape:
    """The check for an object: by its workload kind's template path, or by Kubernetes' own kinds."""
    kind = obj.get("kind")
    kind = kind if isinstance(kind, str) else ""
    entry = kinds.of(obj)
    if entry is None or entry.group in KUBERNETES_GROUPS:
        return BY_KIND.get(kind, OTHER) if entry is not None or kind == "Service" else OTHER
    return _workload_shape(entry.template)


def problems(obj: dict[str, Any], kinds: WorkloadKinds = BUILTIN) -> Iterator[Problem]:
    """Every field of the object the core reads whose type is wrong. (The meshform.dev/status record
    inside an annotation is parsed, and refused in words, by meshform.core.status.)"""
    shape = shape_of(obj, kinds)
    if _scalar_ok(obj.get("apiVersion")) and _scalar_ok(obj.get("kind")) and shape.ok(obj):
        return  # the common case, decided without a path or a problem built (Shape)
    for key in ("apiVersion", "kind"):
        yield from scalar(obj.get(key), (key,))
    yield from shape(obj, ())


def checked(items: Iterable[Item], kinds: WorkloadKinds = BUILTIN) -> tuple[list[Item], list[Diagnostic]]:
    """The items of the right shape, and a located error for each problem of the others."""
    good: list[Item] = []
    diags: list[Diagnostic] = []
    for item in items:
        found = list(problems(item.obj, kinds))
        if found:
            diags += (_diagnostic(item, p) for p in found)
        else:
            good.append(item)
    return good, diags


def _diagnostic(item: Item, problem: Problem) -> Diagnostic:
    line, col = locate(item, problem.path)
    ref = resource_ref(item.obj)
    return Diagnostic(
        item.file, line, col, Level.ERROR, problem.code, problem.message, json_path(problem.path), ref
    )


def locate(item: Item, path: Path) -> tuple[int, int]:
    """The line and column of a path inside an item's object, from its document's text read again
    only now (the fast reader keeps no positions); the document's first line when that fails."""
    return position(
        item.text, item.file, ("items", item.index, *path) if item.index >= 0 else path, item.line
    )


def locate_value(item: Item, path: Path) -> tuple[int, int]:
    """Where the value of a mapping entry starts (`path` names the entry), for a finding about what
    the user wrote there; `locate`'s answer (the key, or the nearest parent) when that is unknown."""
    full = ("items", item.index, *path) if item.index >= 0 else path
    found = value_position(item.text, item.file, full) if item.text and path else None
    if found is None:
        return locate(item, path)
    return item.line + found[0] - 1, found[1]


def value_position(text: str, file: str, path: Path, index: int = 0) -> tuple[int, int] | None:
    """Line and column (1-based, in `text`) where the value of the mapping entry `path` of the
    `index`th document starts; None when the text does not have it. Reads the text again: for a
    finding, never on the way to a result."""
    from meshform.yamlio.reader import load_round_trip

    try:
        docs = load_round_trip(text, file)
    except MeshformError:
        return None
    node = docs[index] if 0 <= index < len(docs) else None
    for step in path[:-1]:
        try:
            node = node[step]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    lc = getattr(node, "lc", None)
    if lc is None or not isinstance(node, dict) or path[-1] not in node:
        return None
    line, col = lc.value(path[-1])
    return line + 1, col + 1


def located(problem: Problem, file: str, text: str) -> Diagnostic:
    """The problem as a diagnostic at its node in a file's text."""
    line, col = position(text, file, problem.path)
    return Diagnostic(file, line, col, Level.ERROR, problem.code, problem.message, json_path(problem.path))


def position(text: str, file: str, path: Path, first_line: int = 1) -> tuple[int, int]:
    """Where a path is in one document's text (which starts at `first_line` of its file)."""
    doc = _positions(text, file) if text else None
    line, col = doc.position(path) if doc is not None else (1, 1)
    return first_line + line - 1, col


@lru_cache(maxsize=8)
def _positions(text: str, file: str) -> Document | None:
    from meshform.yamlio.reader import load_documents

    try:
        docs = [d for d in load_documents(text, file) if d.data is not None]
    except MeshformError:
        return None
    return docs[0] if len(docs) == 1 else None
