"""Control plane checks per governance mode: an explicit table, one small module per mesh.

A user-defined mode brings its checks as data (`controlPlaneObjects` in the modes file).
"""

from __future__ import annotations

from meshform.modes.base import Mode
from meshform.modes.custom import CustomMode
from meshform.verify.checks import ambient, consul, istio, kuma, linkerd
from meshform.verify.checks.base import ControlPlaneCheck, NothingNeeded
from meshform.verify.checks.declared import DeclaredCheck

CONTROL_PLANE: dict[str, ControlPlaneCheck] = {
    "kubernetes-native": NothingNeeded("plain Services need no control plane"),
    "builtin": NothingNeeded("meshform's Envoy sidecar is pre-injected with a static bootstrap"),
    "istio": istio.IstioCheck(),
    "istio-ambient": ambient.AmbientCheck(),
    "linkerd": linkerd.LinkerdCheck(),
    "kuma": kuma.KumaCheck(),
    "consul": consul.ConsulCheck(),
}


def for_mode(mode: Mode) -> ControlPlaneCheck:
    found = CONTROL_PLANE.get(mode.facts.name)
    if found is not None:
        return found
    objects = mode.control_plane_objects if isinstance(mode, CustomMode) else ()
    return DeclaredCheck(objects)
