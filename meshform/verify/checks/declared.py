"""A user-defined mode's checks, declared as data (`controlPlaneObjects` in the modes file)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from meshform.modes.custom import ControlPlaneObject
from meshform.verify.checks.base import ready_object
from meshform.verify.cluster import ClusterView
from meshform.verify.results import Check, warn
from meshform.verify.targets import Target


@dataclass(frozen=True)
class DeclaredCheck:
    objects: tuple[ControlPlaneObject, ...]

    def check(self, view: ClusterView, group: str, targets: Sequence[Target]) -> Iterator[Check]:
        if not self.objects:
            yield warn(
                group,
                "the mode declares no controlPlaneObjects: nothing to check",
                "list the objects its control plane must have in the modes file (controlPlaneObjects)",
                "nothing-declared",
            )
        for obj in self.objects:
            where = f"{obj.namespace}/" if obj.namespace else ""
            answer = view.get(obj.api_version, obj.kind, obj.name, obj.namespace)
            fix = f"install the control plane that provides {obj.kind} {where}{obj.name}"
            yield ready_object(group, answer, f"{obj.kind} {where}{obj.name}", fix, need_ready=obj.ready)
