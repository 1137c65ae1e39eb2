"""The transformer config: which workload gets which mode. Parsed once into frozen records.

Accepts the typed `MeshTransformer` (schemas/transformer.schema.json) or a kpt-style ConfigMap
(`data.mode`, `data.enrollment`, `data.helmHooks`) as synthesised by `kpt fn eval -- mode=istio`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from meshform.diagnostics import Diagnostic, Level, MeshformError, json_type, listing
from meshform.model import schema, workload_kinds
from meshform.model.workload_kinds import BUILTIN, WorkloadKinds
from meshform.suggest import did_you_mean
from meshform.yamlio.reader import Document

OPT_OUT = "meshform.dev/ignore"  # on a workload or its pod template: "true" leaves it alone
SCHEMA = "transformer.schema.json"
ENFORCEMENTS = ("strict", "best-effort")  # spec.policyEnforcement, --policy-enforcement


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, Any]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        inside = self.key in labels and str(labels[self.key]) in self.values
        return inside if self.operator == "In" else not inside


@dataclass(frozen=True)
class Rule:
    kinds: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    match_labels: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    expressions: tuple[Requirement, ...] = ()
    mode: str | None = None
    enrollment: str | None = None
    skip: bool = False

    def describe(self) -> str:
        """What the rule selects by, in the config's own words: `kinds: [StatefulSet], names: [db-*]`."""
        parts = [
            f"{key}: [{', '.join(values)}]"
            for key, values in (("kinds", self.kinds), ("names", self.names), ("namespaces", self.namespaces))
            if values
        ]
        parts += [f"{k}={v}" for k, v in self.match_labels.items()]
        parts += [
            f"{r.key} {r.operator} [{', '.join(r.values)}]".replace(" []", "") for r in self.expressions
        ]
        return ", ".join(parts) or "every workload"

    def matches(
        self, kind: str, name: str, namespace: str, labels: Mapping[str, Any], group: str | None = None
    ) -> bool:
        if self.kinds and not workload_kinds.names_kind(self.kinds, kind, group):
            return False
        if self.names and not any(fnmatch.fnmatchcase(name, p) for p in self.names):
            return False
        if self.namespaces and namespace not in self.namespaces:
            return False
        if any(str(labels.get(k)) != v or k not in labels for k, v in self.match_labels.items()):
            return False
        return all(r.matches(labels) for r in self.expressions)


@dataclass(frozen=True)
class Choice:
    mode: str
    enrollment: str | None


@dataclass(frozen=True)
class TransformConfig:
    mode: str | None = None
    enrollment: str | None = None
    rules: tuple[Rule, ...] = ()
    helm_hooks: str = "skip"
    mode_options: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    workload_kinds: WorkloadKinds = BUILTIN
    # strict | best-effort, over what each workload's recorded policy says; None: as recorded.
    policy_enforcement: str | None = None

    def choose(
        self, kind: str, name: str, namespace: str, labels: Mapping[str, Any], group: str | None = None
    ) -> Choice | None:
        """First matching rule wins; otherwise the default mode; None = leave the workload alone.
        A rule's kind `Kind.group` selects that group's kind only (`group` is the workload's)."""
        rule = self.matching(kind, name, namespace, labels, group)
        if rule is not None:
            return (
                None
                if rule.skip or rule.mode is None
                else Choice(rule.mode, rule.enrollment or self.enrollment)
            )
        return Choice(self.mode, self.enrollment) if self.mode else None

    def matching(
        self, kind: str, name: str, namespace: str, labels: Mapping[str, Any], group: str | None = None
    ) -> Rule | None:
        """The first rule that selects the workload (`meshform status` names it), or None."""
        return next((r for r in self.rules if r.matches(kind, name, namespace, labels, group)), None)

    def modes(self) -> list[str]:
        return [m for m in [self.mode, *(r.mode for r in self.rules)] if m]


def _rule(raw: dict[str, Any]) -> Rule:
    selector = raw.get("selector", {})
    return Rule(
        kinds=tuple(raw.get("kinds", ())),
        names=tuple(raw.get("names", ())),
        namespaces=tuple(raw.get("namespaces", ())),
        match_labels=MappingProxyType(dict(selector.get("matchLabels", {}))),
        expressions=tuple(
            Requirement(e["key"], e["operator"], tuple(e.get("values", ())))
            for e in selector.get("matchExpressions", ())
        ),
        mode=raw.get("mode"),
        enrollment=raw.get("enrollment"),
        skip=bool(raw.get("skip", False)),
    )


def from_document(doc: Document) -> TransformConfig:
    """A MeshTransformer or ConfigMap document → config; a located MeshformError when invalid."""
    data = doc.data
    if isinstance(data, dict) and data.get("kind") == "ConfigMap":
        return _from_config_map(doc)
    errors = list(schema.validate(doc, SCHEMA))
    if errors:
        raise MeshformError(errors)
    spec = data.get("spec", {})
    kinds = workload_kinds.declared(doc, spec.get("workloadKinds", ()))
    rules = spec.get("rules", ())
    ungovernable = list(workload_kinds.ungovernable(doc, rules, kinds))
    if ungovernable:
        raise MeshformError(ungovernable)
    from meshform.model import injector_inputs  # the injectors' input files: only a config file names them

    return TransformConfig(
        mode=spec.get("mode"),
        enrollment=spec.get("enrollment"),
        rules=tuple(_rule(r) for r in rules),
        helm_hooks=spec.get("helmHooks", "skip"),
        mode_options=MappingProxyType(
            injector_inputs.resolve(spec.get("modeOptions", {}), doc, ("spec", "modeOptions"))
        ),
        workload_kinds=kinds,
        policy_enforcement=spec.get("policyEnforcement"),
    )


def _data_error(doc: Document, key: str, code: str, message: str) -> MeshformError:
    line, col = doc.position(("data", key))
    return MeshformError([Diagnostic(doc.file, line, col, Level.ERROR, code, message, f"$.data.{key}")])


def _from_config_map(doc: Document) -> TransformConfig:
    data = doc.data.get("data") or {}
    if not isinstance(data, dict):
        line, col = doc.position(("data",))
        message = f"data is {json_type(data)}, not a mapping of key to string"
        raise MeshformError([Diagnostic(doc.file, line, col, Level.ERROR, "MF103", message, "$.data")])
    for key, value in data.items():
        if key not in ("mode", "enrollment", "helmHooks", "policyEnforcement"):
            known = "known: mode, enrollment, helmHooks, policyEnforcement"
            raise _data_error(doc, key, "MF102", f"unknown key {key!r} in functionConfig data ({known})")
        if not isinstance(value, str):  # a ConfigMap's data holds strings, and kpt writes them so
            raise _data_error(doc, key, "MF103", f"data.{key} is {json_type(value)}, not a string")
    enrollment = data.get("enrollment")
    if enrollment not in (None, "labels", "sidecar"):
        raise _data_error(doc, "enrollment", "MF104", f"enrollment {enrollment!r} is not labels or sidecar")
    hooks = data.get("helmHooks", "skip")
    if hooks not in ("skip", "govern"):  # a typo must not let a sidecar into hook Jobs
        raise _data_error(doc, "helmHooks", "MF104", f"helmHooks {hooks!r} is not skip or govern")
    enforcement = data.get("policyEnforcement")
    if enforcement not in (None, *ENFORCEMENTS):  # a typo must not silently drop policy
        message = f"policyEnforcement {enforcement!r} is not strict or best-effort"
        raise _data_error(doc, "policyEnforcement", "MF104", message)
    return TransformConfig(
        mode=data.get("mode"), enrollment=enrollment, helm_hooks=hooks, policy_enforcement=enforcement
    )


def unknown_modes(config: TransformConfig, registry: Any, file: str) -> list[Diagnostic]:
    """Every mode the config names must exist, checked before any input is read."""
    return [
        Diagnostic(
            file,
            1,
            1,
            Level.ERROR,
            "MF204",
            f"unknown governance mode {m!r} in the config (known: {listing(registry.modes)})"
            + did_you_mean(m, registry.names()),
        )
        for m in dict.fromkeys(config.modes())
        if registry.resolve(m) is None
    ]


def load(
    path: str | None, mode: str | None, enrollment: str | None, policy_enforcement: str | None = None
) -> TransformConfig:
    """The config from a file (MeshTransformer or ConfigMap) and/or flags; flags win over the file."""
    from dataclasses import replace

    from meshform.yamlio.reader import read_file

    config = TransformConfig()
    if path is not None:
        docs = [d for d in read_file(path) if d.data is not None]
        if len(docs) != 1:
            raise MeshformError(
                [
                    Diagnostic(
                        path,
                        1,
                        1,
                        Level.ERROR,
                        "MF701",
                        "the config file must hold exactly one MeshTransformer or ConfigMap",
                    )
                ]
            )
        config = from_document(docs[0])
    if mode is not None:
        config = replace(config, mode=mode)
    if enrollment is not None:
        config = replace(config, enrollment=enrollment)
    if policy_enforcement is not None:
        config = replace(config, policy_enforcement=policy_enforcement)
    return config
