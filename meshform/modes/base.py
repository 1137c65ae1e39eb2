"""The contract every governance mode meets, and the records that cross it.

A mode is mostly data (`ModeFacts`): what it puts on a pod template, what a namespace needs, how a
cluster shows the control plane. Behaviour beyond data (a revision label, a pre-injected sidecar) lives
in the mode's own small module, behind the `Mode` protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal, Protocol

from meshform.diagnostics import Level
from meshform.policy.context import Capability, PolicyContext, PolicyPort, Support
from meshform.policy.records import EDGE_OVERRIDES, Traffic

LABELS = "labels"
SIDECAR = "sidecar"


NAME_LABEL = "kubernetes.io/metadata.name"  # the API server puts every Namespace's name in this label


@dataclass(frozen=True)
class NamespaceTrap:
    """A key on the Namespace (or on the pod) that defeats a pod's enrollment in this mode, as the mesh
    documents it (usually a term of its injector webhook's namespaceSelector or objectSelector).

    `when` says how the namespace label `key` is read: `in` its value is one of `values`; `absent` the
    Namespace does not carry it; `differs-from-pod` the pod carries the same label with another value.
    With `pod_key`, the trap needs the pod to carry that label too (with any value). `level` applies
    when the Namespace is known (in the input, or live); `unknown_level` when it is not (None: say
    nothing, the trap cannot be judged). The name label `kubernetes.io/metadata.name` is always known.
    `message` may use {ns}, {where}, {value} (the namespace's), {pod_value} (the pod's `key` or
    `pod_key`). Applied by meshform.core.namespaces offline (`transform`, `check`) and live (`verify`).
    """

    key: str
    when: Literal["in", "absent", "differs-from-pod"]
    level: Level
    code: str
    message: str
    hint: str
    values: tuple[str, ...] = ()
    pod_key: str = ""
    unless: str = ""  # a namespace label that makes another trap the one that applies
    unknown_level: Level | None = None
    once_per_namespace: bool = False
    blocks: bool = True  # the data plane does not arrive at all (False: it arrives, but not as asked)

    def triggered(self, ns_labels: Mapping[str, Any], pod_labels: Mapping[str, Any]) -> bool:
        if (self.pod_key and self.pod_key not in pod_labels) or (self.unless and self.unless in ns_labels):
            return False
        if self.when == "in":
            return ns_labels.get(self.key) in self.values
        if self.when == "absent":
            return self.key not in ns_labels
        return self.key in ns_labels and pod_labels.get(self.key) not in (None, ns_labels[self.key])

    def judged_without_namespace(self) -> bool:
        """Can this trap be decided for a namespace that is not in the input (only its name known)?"""
        return self.key == NAME_LABEL and not self.pod_key


def excluded_namespaces(mode: str, names: tuple[str, ...], why: str) -> NamespaceTrap:
    """Namespaces an injector's webhook never selects, by the name label its namespaceSelector reads."""
    return NamespaceTrap(
        NAME_LABEL,
        "in",
        Level.ERROR,
        "MF606",
        f"{mode} never injects pods in namespace {{ns}} ({why})",
        "deploy the workload in another namespace",
        values=names,
    )


@dataclass(frozen=True)
class ServiceIdentity:
    """A mesh that registers each workload under the name of the Kubernetes Service selecting its pods
    (Consul: "the Consul service name is the name of the Kubernetes Service associated with the Pod").
    Such a mesh needs that Service, and with ACLs on, the pod's ServiceAccount must carry the same name
    or the pod cannot log in. `name_annotation` on the pod names the service instead (a comma-separated
    list for a pod behind several Services)."""

    name_annotation: str


@dataclass(frozen=True)
class Dropped:
    """A declared value a mode cannot carry: its path under `traffic` (e.g. ("retries", "backoff"))
    and why, in words that name the mesh."""

    path: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class ModeFacts:
    """What `meshform modes` prints, and what checks and later `verify` read."""

    name: str
    summary: str
    aliases: tuple[str, ...] = ()
    strategies: tuple[str, ...] = (LABELS,)
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    namespace_annotations: Mapping[str, str] = field(default_factory=dict)
    namespace_required: bool = False  # pod opt-in does nothing unless the namespace opts in too
    opt_out_labels: Mapping[str, str] = field(default_factory=dict)
    opt_out_annotations: Mapping[str, str] = field(default_factory=dict)
    # Other values the mesh itself reads as the same opt-out (its own parsing of the key), matched
    # case-insensitively: a user's `sidecar.istio.io/inject: "no"` keeps Istio away as "false" does.
    opt_out_also: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    restart_on_switch: bool = True
    sidecar: bool = True  # runs a per-pod proxy: hostNetwork pods and UDP ports escape it
    native_sidecar: bool = False  # the proxy runs as a native sidecar, so Jobs complete
    # Namespaces whose pods the mesh's injector code itself never injects (Istio's IgnoredNamespaces,
    # checked by both the webhook and `istioctl kube-inject`): pre-injection skips them as it does.
    injector_ignores: tuple[str, ...] = ()
    control_plane: tuple[str, ...] = ()  # signals `verify` reads, in words
    owned_keys: tuple[str, ...] = ()  # every label/annotation key the mode writes in any variant
    # Pod keys the mode's traffic policy adds besides (Consul's service metadata): meshform's when its
    # record says so, but they enroll nothing, so a user may write them too.
    policy_keys: tuple[str, ...] = ()
    proof_containers: tuple[str, ...] = ()  # containers that prove the data plane arrived
    # Pre-injection (strategy `sidecar` of a mesh mode): the pod keys the mesh's injector writes
    # besides the enrolling ones (its status marker, default-container, Prometheus, mesh labels), which
    # a meshform record may name; and the fields of the app's own containers it may rewrite (probes).
    sidecar_keys: tuple[str, ...] = ()
    patched_fields: tuple[str, ...] = ()
    # Every container and volume name pre-injection may add, whatever the injector's inputs (they
    # come from the run's modeOptions, which a later run need not repeat).
    sidecar_names: frozenset[str] = frozenset()
    # The annotation in which the injector's own status (JSON) lists the pull secrets it added: their
    # names come from the cluster's values, so a meshform record may name only those listed there.
    pull_secrets_marker: str = ""
    namespace_any_keys: tuple[str, ...] = ()  # namespace labels that enroll whatever their value
    namespace_also: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # more enrolling values
    pod_any_keys: tuple[str, ...] = ()  # pod labels that enroll whatever their value (a revision)
    # Changes Services (points them at the proxy, sets target ports, labels), so they must be read.
    rewires_services: bool = False
    # Keys the mode puts on Services (Enrollment.service_labels/annotations), as fnmatch patterns:
    # provenance believes a Service record only of these.
    service_keys: tuple[str, ...] = ()
    local_upstreams: bool = False  # dependencies at 127.0.0.1 via the proxy: sets <DEP>_HOST/<DEP>_PORT
    namespace_traps: tuple[NamespaceTrap, ...] = ()  # namespace keys that beat the pod's enrollment
    # Another mode enrolling the same namespace or pod, and what then happens: this mode's data plane
    # wins (the other one skips the pod), so the two are not "two meshes at once".
    namespace_overlaps: Mapping[str, str] = field(default_factory=dict)
    service_identity: ServiceIdentity | None = None
    # Traffic policy: how far this mode carries each feature (meshform.policy.records.FEATURES; a
    # feature not listed is not supported), and what the mesh does when nothing is said.
    policy: Mapping[str, Capability] = field(default_factory=dict)
    policy_defaults: tuple[str, ...] = ()
    # The features a caller's override may change on its edge alone (None: every supported feature).
    # Istio keeps one DestinationRule and one EnvoyFilter per destination, so only what its
    # VirtualService routes carry can differ by caller.
    edge_features: frozenset[str] | None = None
    # The mesh registers a pod as one service on its first port only (Consul Community Edition): the
    # service's protocol is that port's, so L7 policy needs an http, http2 or grpc port first.
    first_port_service: bool = False
    # Whose workload identities this mode's `authorization` admits (the mesh's mTLS identities: Istio's
    # sidecars and ambient share one); a dependent in a mode of another identity (or none) cannot
    # present one and is refused. None: authorization does not rest on identities (NetworkPolicy).
    identity: str | None = None
    # The declared values this mode cannot carry (leaving them out would change what the policy means),
    # for one traffic block: a located error under strict, a warning under best-effort (MF931/MF932,
    # meshform.model.policy_checks and core.transform). Rounding and approximations that keep the
    # meaning are the renderers' MF920/MF930 warnings instead.
    dropped: Callable[[Traffic], Iterable[Dropped]] | None = None

    def cannot_carry(self, traffic: Traffic) -> tuple[Dropped, ...]:
        """The values of `traffic` this mode leaves out (see `dropped`)."""
        return tuple(self.dropped(traffic)) if self.dropped else ()

    def supports(self, feature: str, options: Mapping[str, Any], tcp_only: bool = False) -> bool:
        """Can this mode render `feature` with these modeOptions (`tcp_only`: for a component, or a
        dependency's port, that speaks no HTTP)?"""
        cap = self.policy.get(feature)
        if cap is None or cap.support is Support.NO or (tcp_only and cap.http_only):
            return False
        return not cap.requires_option or options.get(cap.requires_option) is True

    def supports_on_edge(self, feature: str, options: Mapping[str, Any], tcp_only: bool = False) -> bool:
        """Can this mode give one caller its own value of `feature` (dependencies[].traffic)?"""
        if not (self.supports(EDGE_OVERRIDES, options) and self.supports(feature, options, tcp_only)):
            return False
        return self.edge_features is None or feature in self.edge_features

    def admits(self, caller: ModeFacts) -> bool:
        """Can a workload governed by `caller` present an identity this mode's authorization allows?"""
        return self.identity is None or caller.identity == self.identity

    def enrolls_namespace(self, labels: Mapping[str, Any], annotations: Mapping[str, Any]) -> bool:
        """Does a Namespace with these keys inject this mode's data plane into its pods?"""
        if any(labels.get(k) == v for k, v in self.namespace_labels.items()):
            return True
        if any(labels.get(k) in values for k, values in self.namespace_also.items()):
            return True
        if any(annotations.get(k) == v for k, v in self.namespace_annotations.items()):
            return True
        return any(k in labels for k in self.namespace_any_keys)

    def enrolls_pod(self, labels: Mapping[str, Any], annotations: Mapping[str, Any]) -> bool:
        """Do a pod's own keys ask for this mode's data plane (whatever its namespace says)?"""
        if any(labels.get(k) == v for k, v in self.pod_labels.items()):
            return True
        if any(annotations.get(k) == v for k, v in self.pod_annotations.items()):
            return True
        return any(k in labels for k in self.pod_any_keys)

    def opted_out(self, labels: Mapping[str, Any], annotations: Mapping[str, Any]) -> str:
        """The pod's opt-out of this mode as `key=value`, or "" when it carries none."""
        for keys, found in ((self.opt_out_labels, labels), (self.opt_out_annotations, annotations)):
            for key in keys:
                if key in found and self.is_opt_out(key, found[key]):
                    return f"{key}={found[key]}"
        return ""

    def opt_out_words(self) -> str:
        keys = [f"label {k}={v}" for k, v in self.opt_out_labels.items()]
        keys += [f"annotation {k}={v}" for k, v in self.opt_out_annotations.items()]
        return " and ".join(keys)

    def is_opt_out(self, key: str, value: Any) -> bool:
        if self.opt_out_labels.get(key) == value or self.opt_out_annotations.get(key) == value:
            return True
        return isinstance(value, str) and value.lower() in self.opt_out_also.get(key, ())

    def is_service_key(self, key: str) -> bool:
        return any(fnmatchcase(key, pattern) for pattern in self.service_keys)

    def keys(self) -> frozenset[str]:
        """Every pod key this mode enrolls or opts out with, or adds for its traffic policy."""
        return frozenset(
            {*self.owned_keys, *self.pod_labels, *self.pod_annotations, *self.opt_out_labels}
            | set(self.opt_out_annotations)
            | set(self.policy_keys)
        )


# One record for a port, whether a policy or an enrollment reads it.
Port = PolicyPort


@dataclass(frozen=True)
class Upstream:
    """A dependency as the consumer sees it: which Service, which port."""

    name: str  # the dependency component's name
    env_prefix: str  # DEP in DEP_HOST / DEP_PORT
    host: str  # the Service's cluster DNS name
    port: Port


@dataclass(frozen=True)
class EnrollContext:
    """Everything a mode may read to enroll one workload (never the CLI, never files)."""

    app: str
    namespace: str
    component: str
    workload_name: str
    kind: str
    pod_spec: Mapping[str, Any]
    ports: tuple[Port, ...] = ()
    upstreams: tuple[Upstream, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    strategy: str = LABELS
    host_aliases: Mapping[str, str] = field(default_factory=dict)  # Service host → address (tests)
    policy: PolicyContext | None = None  # the component's traffic policy, as this mode may render it
    policy_owner: bool = False  # this workload carries the component's policy objects (its first version)
    pod_labels: Mapping[str, str] = field(default_factory=dict)  # the pod template's labels, as written
    # The pod template's annotations as written (pre-injection reads the mesh's per-pod overrides),
    # and the workload's apiVersion (an injector names the pod's owner by it).
    pod_annotations: Mapping[str, Any] = field(default_factory=dict)
    api_version: str = ""
    # A bare Pod's generateName and ownerReferences: an injector names the controller as the workload.
    generate_name: str = ""
    owner_references: tuple[Mapping[str, Any], ...] = ()


@dataclass
class Enrollment:
    """What a mode adds to one workload. govern() applies it and records it for exact removal."""

    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str | None] = field(default_factory=dict)  # None: the injector removes it
    init_containers: list[dict[str, Any]] = field(default_factory=list)  # prepended, in order
    containers: list[dict[str, Any]] = field(default_factory=list)  # appended, in order
    # Where an injector puts its containers elsewhere (Istio's istio-init runs after the app's own
    # init containers; its proxy comes first when the app must wait for it): appended / prepended.
    trailing_init_containers: list[dict[str, Any]] = field(default_factory=list)
    leading_containers: list[dict[str, Any]] = field(default_factory=list)
    leading_volumes: list[dict[str, Any]] = field(default_factory=list)  # prepended (Istio's go first)
    volumes: list[dict[str, Any]] = field(default_factory=list)  # appended, in order
    # pod.spec.imagePullSecrets names (Istio's values.global.imagePullSecrets): merged by name in the
    # order a strategic merge patch gives them; a name the pod already has is neither added nor recorded.
    image_pull_secrets: list[str] = field(default_factory=list)
    env: dict[str, dict[str, str]] = field(default_factory=dict)  # container → var → value
    service_target_ports: dict[str, int] = field(default_factory=dict)  # Service port name → port
    service_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # Service name → labels
    # Service name → annotations (Linkerd's timeouts and retries). Like the labels, recorded on each
    # Service with their prior values, so switching removes them exactly.
    service_annotations: dict[str, dict[str, str]] = field(default_factory=dict)
    objects: list[dict[str, Any]] = field(default_factory=list)  # extra objects (e.g. a ConfigMap)
    # container → field → new value (None: remove the field): what an injector rewrites in the app's
    # own containers (Istio's probes). Recorded with the prior values, so un-injection restores them.
    container_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)  # the neutral policy (context JSON), recorded
    # A CronJob's spec.jobTemplate.metadata keys (the Jobs' own): where `istioctl kube-inject` reads
    # and writes a CronJob's pod metadata. Set there too (recorded, removed exactly), so the offline
    # injector sees the pre-injected pod as injected, as the webhook does on the pod template.
    job_labels: dict[str, str] = field(default_factory=dict)
    job_annotations: dict[str, Any] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (
            self.labels
            or self.annotations
            or self.init_containers
            or self.containers
            or self.trailing_init_containers
            or self.leading_containers
            or self.leading_volumes
            or self.volumes
            or self.image_pull_secrets
            or self.env
            or self.container_fields
            or self.objects
            or self.policy
            or self.service_labels
            or self.service_annotations
        )

    def opt_out_of(self, mode: str, enrolling: list[ModeFacts]) -> None:
        """In a namespace that another mode enrolls, a workload of `mode` must opt out of that one.
        The opt-outs are part of the enrollment, so they are recorded and removed like the rest."""
        for facts in enrolling:
            if facts.name != mode:
                self.labels = {**facts.opt_out_labels, **self.labels}
                self.annotations = {**facts.opt_out_annotations, **self.annotations}


@dataclass(frozen=True)
class Finding:
    """A mode's remark about a workload; govern() turns it into a located Diagnostic."""

    code: str
    level: str
    message: str
    field: str = ""
    annotation: str = ""  # the pod template annotation it is about, where it is located
    # (input, path in it) inside a loaded injector input (modeOptions.<mesh>.values / meshConfig):
    # located at that key of the file or inline value the user wrote.
    value: tuple[str, tuple[str | int, ...]] | None = None
    # the field of the workload's pod template it is about (("spec", "containers", 0, "name")),
    # where `transform` locates it; and a fix hint of its own, where the code's is not the fix
    pod_path: tuple[str | int, ...] = ()
    hint: str = ""


class Mode(Protocol):
    @property
    def facts(self) -> ModeFacts:
        """The mode's declared facts (read-only: modes are immutable values)."""
        ...

    def enroll(self, ctx: EnrollContext) -> Enrollment:
        """What to add to this workload's pod template (nothing for kubernetes-native)."""
        ...

    def findings(self, ctx: EnrollContext) -> Iterator[Finding]:
        """Remarks about hosts this mode cannot serve well."""
        ...

    def render_policy(self, ctx: PolicyContext) -> list[dict[str, Any]]:
        """This mode's own objects for one component's traffic policy (DestinationRule, MeshTimeout,
        ...), in a stable order; [] where the policy lives elsewhere (builtin: its Envoy config).
        Called only with features `facts.supports`; never reads files or the cluster."""
        ...


def skips_pod(facts: ModeFacts, strategy: str, pod_spec: Mapping[str, Any], namespace: str) -> bool:
    """Does the mesh's injector leave this pod alone (so meshform enrolls nothing)? Every sidecar
    injector skips hostNetwork pods; a pre-injection also skips the namespaces the injector's own
    code ignores (under labels the label is still written, and MF606 says it does nothing)."""
    if not facts.sidecar:
        return False
    return pod_spec.get("hostNetwork") is True or (
        strategy == SIDECAR and namespace in facts.injector_ignores
    )


def sidecar_findings(facts: ModeFacts, ctx: EnrollContext) -> Iterator[Finding]:
    """The traps every per-pod proxy shares: hostNetwork, UDP, Jobs with classic sidecars."""
    if not facts.sidecar:
        return
    if ctx.pod_spec.get("hostNetwork") is True:
        yield Finding(
            "MF401",
            "warning",
            f"{facts.name} skips hostNetwork pods; {ctx.workload_name} stays unmeshed",
            "spec.hostNetwork",
        )
    elif ctx.strategy == SIDECAR and ctx.namespace in facts.injector_ignores:
        yield Finding(
            "MF606",
            "warning",
            f"{facts.name} never injects pods in namespace {ctx.namespace} (its injector ignores that "
            f"namespace): {ctx.workload_name} is not pre-injected and stays unmeshed",
            "metadata.namespace",
        )
    for port in ctx.ports:
        if port.protocol == "udp":
            yield Finding(
                "MF402",
                "warning",
                f"UDP port {port.name} ({port.port}) is not proxied by {facts.name}",
                "ports",
            )
    if ctx.kind in ("Job", "CronJob") and not facts.native_sidecar:
        yield Finding(
            "MF403",
            "warning",
            f"{ctx.kind} {ctx.workload_name} under {facts.name}: a classic sidecar keeps the Job from "
            "completing unless the mesh injects native sidecars (Kubernetes >= 1.29)",
            "workload",
        )


@dataclass(frozen=True)
class LabelMode:
    """A mode whose whole job is a few keys on the pod template; the cluster's webhook does the rest."""

    facts: ModeFacts

    def enroll(self, ctx: EnrollContext) -> Enrollment:
        return Enrollment(labels=dict(self.facts.pod_labels), annotations=dict(self.facts.pod_annotations))

    def findings(self, ctx: EnrollContext) -> Iterator[Finding]:
        yield from sidecar_findings(self.facts, ctx)

    def render_policy(self, ctx: PolicyContext) -> list[dict[str, Any]]:
        return []
