"""Service identity: meshes that register a workload under the name of its Kubernetes Service (Consul).

consul-k8s names the Consul service after the Kubernetes Service selecting the pod (or the
`consul.hashicorp.com/connect-service` annotation), registers only pods behind a Service
("A Kubernetes Service is required in order to register services on the Consul service mesh"), and
with ACLs on refuses a pod whose ServiceAccount has another name (hashicorp/consul-k8s#281). `render`
names every component's ServiceAccount like its Service (meshform.core.expand); `transform` cannot
rename a user's ServiceAccount. Both say, located, where the rule cannot be met.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from meshform.modes.base import ServiceIdentity

MAX_NAMED = 10  # Services named in one message: N pods behind N Services would print N² names


@dataclass(frozen=True)
class IdentityProblem:
    code: str
    message: str
    hint: str


def service_account(pod_spec: Any) -> str:
    """The ServiceAccount a pod runs as (`default` when the spec names none)."""
    spec = pod_spec if isinstance(pod_spec, dict) else {}
    return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")


def problems(
    identity: ServiceIdentity,
    mode: str,
    workload: str,
    annotations: Any,
    account: str,
    services: Sequence[str],
    where: str = "",
    add_service: str = "add a Service (with a port) selecting the pods",
) -> Iterator[IdentityProblem]:
    """What keeps a workload (`Kind/name`) from registering under `mode`. `services` are the names of
    the Services selecting its pods; `where` qualifies them ("in the input"); `add_service` says how
    to get one where the caller's input is."""
    named = str((annotations if isinstance(annotations, dict) else {}).get(identity.name_annotation) or "")
    names = [n.strip() for n in named.split(",") if n.strip()]
    if not services:
        yield IdentityProblem(
            "MF410",
            f"no Service{where} selects the pods of {workload}: {mode} registers a pod only through the "
            "Kubernetes Service that selects it, so its proxy waits for a registration that never comes",
            f"{add_service}, or choose another mode for this workload",
        )
    if not names and len(services) > 1:
        shown = heapq.nsmallest(MAX_NAMED, services)
        more = f" and {len(services) - MAX_NAMED} more" if len(services) > MAX_NAMED else ""
        yield IdentityProblem(
            "MF411",
            f"the pods of {workload} are selected by Services {', '.join(shown)}{more}: {mode} cannot "
            f"tell which one names the workload",
            f"annotate the pod template {identity.name_annotation}: <one of them>",
        )
    if not names and len(services) == 1:
        names = list(services)
    if len(names) == 1 and names[0] != account:
        yield IdentityProblem(
            "MF412",
            f"{workload} runs as ServiceAccount {account!r} but its {mode} service is {names[0]!r}: with "
            f"ACLs on, {mode} refuses the pod's login (the names must be equal)",
            f"run the pods as a ServiceAccount named {names[0]!r}, or set {identity.name_annotation} to "
            f"{account!r} on the pod template",
        )
