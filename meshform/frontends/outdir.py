"""`-o DIR`: every object in a file of its own, named the way `kustomize build -o DIR` names it.

A file is `<group>_<version>_<kind>_<name>.yaml`, lower case, empty parts left out (`v1_configmap_x`,
`apps_v1_deployment_web`). When the namespaced objects span more than one namespace (no namespace
counts as `default`), every namespaced object's file starts with `<namespace>_`, as kustomize does;
cluster-scoped kinds (kustomize's own table) never do. Two objects that would still share a file are
an error (MF715), never an overwrite or a silent renumbering.

The directory is written whole or not at all (`atomic.replace_directory`). It must be new, empty, or
one meshform wrote before: meshform lists what it wrote in `.meshform-output`, and replaces such a
directory only while it holds nothing else (MF714) — so a stale file of a previous run goes away and
a file someone else put there is never deleted.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from meshform.diagnostics import Diagnostic, Level, MeshformError
from meshform.frontends.atomic import replace_directory
from meshform.objects import resource_ref
from meshform.yamlio.streams import Chunk, object_texts

MARKER = ".meshform-output"
_MARKER_HEAD = "# meshform wrote this directory; it replaces it whole while it holds only these files:\n"
NAME_MAX = 255  # bytes in one file name on every common file system

# kustomize's table of cluster-scoped kinds (kyaml openapi precomputedIsNamespaceScoped, v0.21):
# what it does not list, it treats as namespaced, and names accordingly.
CLUSTER_SCOPED = frozenset(
    [
        ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io/v1beta1", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"),
        ("apiregistration.k8s.io/v1", "APIService"),
        ("apiregistration.k8s.io/v1beta1", "APIService"),
        ("certificates.k8s.io/v1", "CertificateSigningRequest"),
        ("certificates.k8s.io/v1beta1", "CertificateSigningRequest"),
        ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io/v1beta1", "PriorityLevelConfiguration"),
        ("networking.k8s.io/v1", "IngressClass"),
        ("networking.k8s.io/v1beta1", "IngressClass"),
        ("node.k8s.io/v1", "RuntimeClass"),
        ("node.k8s.io/v1beta1", "RuntimeClass"),
        ("policy/v1beta1", "PodSecurityPolicy"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("rbac.authorization.k8s.io/v1beta1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
        ("scheduling.k8s.io/v1beta1", "PriorityClass"),
        ("storage.k8s.io/v1", "CSIDriver"),
        ("storage.k8s.io/v1", "CSINode"),
        ("storage.k8s.io/v1", "StorageClass"),
        ("storage.k8s.io/v1", "VolumeAttachment"),
        ("storage.k8s.io/v1beta1", "CSIDriver"),
        ("storage.k8s.io/v1beta1", "CSINode"),
        ("storage.k8s.io/v1beta1", "StorageClass"),
        ("storage.k8s.io/v1beta1", "VolumeAttachment"),
        ("v1", "ComponentStatus"),
        ("v1", "Namespace"),
        ("v1", "Node"),
        ("v1", "NodeProxyOptions"),
        ("v1", "PersistentVolume"),
    ]
)


@dataclass(frozen=True)
class Entry:
    """One object to write: the object (for its file name), its text, and where it came from."""

    obj: Any
    text: str
    file: str
    line: int


def entries_of(chunks: list[Chunk], engine: str) -> list[Entry]:
    """Every object of the chunks, in input order: an unchanged document keeps its text (comments
    and all), a List gives each item. A document holding no object at all (empty, comments only,
    `null`) is no file; a list or a scalar where an object belongs is an error (MF716), never dropped.
    Raises MeshformError."""
    entries: list[Entry] = []
    problems: list[Diagnostic] = []
    for chunk in chunks:
        shapes = chunk.data["items"] if chunk.wrapper else [chunk.data] if chunk.data is not None else []
        problems += [_not_an_object(chunk, s) for s in shapes if not isinstance(s, dict)]
        texts = object_texts(chunk, engine)
        entries += [Entry(obj, text, chunk.file, chunk.line) for obj, text in texts if isinstance(obj, dict)]
    if problems:
        raise MeshformError(problems)
    return entries


def _not_an_object(chunk: Chunk, value: Any) -> Diagnostic:
    shape = "a list" if isinstance(value, list) else "null" if value is None else "a scalar"
    return Diagnostic(chunk.file, chunk.line, 1, Level.ERROR, "MF716", f"{shape} is not a Kubernetes object")


def _diag(entry: Entry, code: str, message: str) -> Diagnostic:
    return Diagnostic(entry.file, entry.line, 1, Level.ERROR, code, message, resource=resource_ref(entry.obj))


def _identity(entry: Entry) -> tuple[str, str, str, str | None] | Diagnostic:
    """(apiVersion, kind, name, namespace or None when cluster-scoped), or why there is none."""
    obj = entry.obj
    meta = obj.get("metadata")
    api, kind = obj.get("apiVersion"), obj.get("kind")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not all(isinstance(v, str) and v for v in (api, kind, name)):
        return _diag(entry, "MF717", "no apiVersion, kind and metadata.name to name the object's file by")
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    if (api, kind) in CLUSTER_SCOPED:
        return str(api), str(kind), str(name), None
    return str(api), str(kind), str(name), str(namespace) if namespace else "default"


def _base_name(api: str, kind: str, name: str) -> str:
    group, _, version = api.partition("/") if "/" in api else ("", "", api)
    return "_".join(p for p in (group, version, kind) if p).lower() + "_" + name.lower()


def file_names(entries: list[Entry], extension: str = ".yaml") -> list[str]:
    """One distinct, safe file name per entry, kustomize's way. Raises MeshformError (MF715, MF717)."""
    identities = [_identity(e) for e in entries]
    problems = [i for i in identities if isinstance(i, Diagnostic)]
    if problems:
        raise MeshformError(problems)
    ids = [i for i in identities if not isinstance(i, Diagnostic)]
    prefixed = len({ns for *_, ns in ids if ns is not None}) > 1
    names: list[str] = []
    taken: dict[str, Entry] = {}
    for entry, (api, kind, name, ns) in zip(entries, ids, strict=True):
        file_name = (f"{ns.lower()}_" if prefixed and ns is not None else "") + _base_name(api, kind, name)
        file_name += extension
        if "/" in file_name or "\0" in file_name or len(os.fsencode(file_name)) > NAME_MAX:
            problems.append(_diag(entry, "MF717", f"metadata.name {name!r} cannot be part of a file name"))
        elif file_name in taken:
            first = taken[file_name]
            problems.append(
                _diag(entry, "MF715", f"{file_name} would also hold the object of {first.file}:{first.line}")
            )
        taken.setdefault(file_name, entry)
        names.append(file_name)
    if problems:
        raise MeshformError(problems)
    return names


def _foreign(directory: str) -> list[Diagnostic]:
    """What in an existing, non-empty directory meshform did not write (empty: it may be replaced)."""
    try:
        with open(os.path.join(directory, MARKER), encoding="utf-8") as fh:
            ours = {line.rstrip("\n") for line in fh if not line.startswith("#")}
    except (OSError, UnicodeDecodeError):
        ours = set()
    others = sorted(set(os.listdir(directory)) - ours - {MARKER})
    if not others:
        return []
    shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    message = f"holds files meshform did not write ({shown})"
    return [Diagnostic(directory, 0, 0, Level.ERROR, "MF714", message)]


def write_dir(entries: Iterable[Entry], directory: str, extension: str = ".yaml") -> list[str]:
    """Write each entry to its own file in `directory`, all or nothing; the names written."""
    listed = list(entries)
    names = file_names(listed, extension)
    files = {name: _terminated(e.text).encode("utf-8") for name, e in zip(names, listed, strict=True)}
    files[MARKER] = (_MARKER_HEAD + "".join(f"{n}\n" for n in sorted(names))).encode("utf-8")
    replace_directory(directory, files, _foreign)
    return names


def _terminated(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"
