"""Merge keys (`<<: *anchor`) in the round-trip engine, with the meaning Kubernetes gives them.

Kubernetes (go-yaml, YAML 1.1) and the fast engine (libyaml) read a mapping with `<<` as a plain mapping
holding copies of the merged keys, explicit keys winning. ruamel instead keeps the mapping linked to its
sources: merged keys live in the mapping and in the source, a change to the source is pushed into every
mapping that merges it, and the dump writes `<<: *anchor` again whatever the mapping now holds. So after
meshform deletes a merged key (a mesh label that came in through `<<`), the key came back on the next read,
and a change to an anchored container reached its merged copies only on this engine.

`detach` (after loading) gives the round-trip engine the copy semantics; `settle` (before dumping) gives a
mapping its `<<` back only where reading it back gives exactly what the mapping holds, and otherwise
writes the merged keys out as the mapping's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _mappings(root: Any) -> Iterator[Any]:
    """Every round-trip mapping under root, each once (aliases make the tree a graph)."""
    from ruamel.yaml.comments import CommentedMap

    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, CommentedMap):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


# Where `detach` keeps a mapping's merge sources while meshform works on it: under ruamel's own attribute
# they would still answer reads (ruamel looks a missing key up in the sources, so a deleted merged key
# would seem to be there).
_SOURCES = "_meshform_merge_sources"


def detach(root: Any) -> None:
    """Give the round-trip engine the copy semantics of the fast engine and of Kubernetes: every merged
    key is the mapping's own to change or delete, and a change to a source reaches no other mapping."""
    from ruamel.yaml.comments import merge_attrib

    for mapping in _mappings(root):
        mapping._ref.clear()  # ruamel pushes a source's changes into the mappings that merge it
        sources = getattr(mapping, merge_attrib, None)
        if sources:
            setattr(mapping, _SOURCES, sources)
            delattr(mapping, merge_attrib)


def settle(root: Any) -> None:
    """Before dumping: give each detached mapping its `<<` back where reading it back gives exactly what
    the mapping now holds (and adds something); otherwise its merged keys are written as its own."""
    from ruamel.yaml.comments import merge_attrib

    for mapping in _mappings(root):
        sources = getattr(mapping, _SOURCES, None)
        if not sources:
            continue
        if _reads_back(mapping, sources):
            setattr(mapping, merge_attrib, sources)
        else:
            mapping._ok.update(mapping.keys())
            if hasattr(mapping, merge_attrib):
                delattr(mapping, merge_attrib)


def _reads_back(mapping: Any, sources: Any) -> bool:
    own = mapping._ok
    if own.issuperset(mapping.keys()):
        return False  # every key is written anyway: the `<<` would add nothing
    merged: dict[Any, Any] = {}
    for source in sources:  # the first source that has a key wins, as in YAML 1.1 and ruamel
        for key, value in source.items():
            merged.setdefault(key, value)
    merged.update((key, mapping[key]) for key in own)
    return set(merged) == set(mapping) and all(merged[k] == mapping[k] for k in merged)
