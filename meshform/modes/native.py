"""kubernetes-native: plain Services, no proxy, nothing added to the pod."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from meshform.modes import native_policy, policy_support
from meshform.modes.base import LABELS, SIDECAR, EnrollContext, Finding, LabelMode, ModeFacts
from meshform.policy import records as r
from meshform.policy.context import PolicyContext

FACTS = ModeFacts(
    name="kubernetes-native",
    summary="plain Kubernetes Services; nothing is added to pods",
    aliases=("KUBERNETES_NATIVE_SERVICE",),
    strategies=(LABELS, SIDECAR),  # nothing to enroll, so either strategy is trivially met
    sidecar=False,
    restart_on_switch=True,
    control_plane=("none needed",),
    policy=policy_support.NATIVE,
    policy_defaults=policy_support.NATIVE_DEFAULTS,
)


@dataclass(frozen=True)
class NativeMode(LabelMode):
    """Nothing on the pod; a NetworkPolicy for `authorization`, with a warning of what it is not."""

    def findings(self, ctx: EnrollContext) -> Iterator[Finding]:
        yield from super().findings(ctx)
        policy = ctx.policy
        if ctx.policy_owner and policy is not None and policy.policy.authorization == r.ALLOW_DEPENDENTS:
            message = native_policy.WARNING.format(component=policy.component.component)
            yield Finding("MF940", "warning", message, "authorization")

    def render_policy(self, ctx: PolicyContext) -> list[dict[str, Any]]:
        return native_policy.render(ctx)


MODE = NativeMode(FACTS)
