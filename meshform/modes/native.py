"""kubernetes-native: plain Services, no proxy, nothing added to the pod."""

from __future__ import annotations

from meshform.modes import policy_support
from meshform.modes.base import LABELS, SIDECAR, LabelMode, ModeFacts

MODE = LabelMode(
    ModeFacts(
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
)
