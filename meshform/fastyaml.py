"""The fast YAML reader for manifests whose comments need not survive (stdout, Helm, kustomize).

PyYAML's libyaml parser with a safe constructor, set up to behave like Kubernetes' own reader
(YAML 1.1 scalars) except that timestamps stay strings (Kubernetes turns them into strings anyway),
and to refuse duplicate keys. Only meshform.manifests imports this module.
"""

from __future__ import annotations

from typing import Any

import yaml

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it


class DuplicateKey(Exception):
    def __init__(self, key: object, line: int, col: int) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.line, self.col = line, col


class FastLoader(_Base):  # type: ignore[misc]
    """Safe, libyaml-backed, duplicate-key-refusing, timestamp-free."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise yaml.constructor.ConstructorError(None, None, "unhashable key", key_node.start_mark)
            if key in seen:
                mark = key_node.start_mark
                raise DuplicateKey(key, mark.line + 1, mark.column + 1)
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


FastLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}
FastLoader.add_constructor("tag:yaml.org,2002:map", FastLoader.construct_mapping)


def load(text: str) -> Any:
    return yaml.load(text, Loader=FastLoader)
