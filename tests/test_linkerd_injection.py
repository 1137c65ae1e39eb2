"""Linkerd pre-injection (`--enrollment sidecar`) equals `linkerd inject --manual`, and stays exact.

Differential: meshform's output for the real injector's corpus, compared as data with the real
`linkerd inject --manual` output (edge-26.8.3) in ../shared/injectors/linkerd; the only allowed
differences are meshform's status annotation and `linkerd.io/created-by`. Own corpus
(fixtures/linkerd/workloads.yaml, own linkerd-config): Linkerd's facts checked value by value, Linkerd
would not inject the result again, un-injection gives back the input, and switching modes round trips
to the same bytes.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_cli, transform_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_transform_properties import workload as generated_workload

from meshform.core.workloads import pod_template
from meshform.model.config import TransformConfig
from meshform.modes import linkerd_values
from meshform.yamlio.streams import FAST, ROUND_TRIP

SHARED = ROOT.parent.parent / "shared" / "injectors"  # /work/shared/injectors next to the clones
if not SHARED.is_dir():
    SHARED = Path("/work/shared/injectors")
REAL = SHARED / "linkerd"
OWN = ROOT / "tests" / "fixtures" / "linkerd"
STATUS = "meshform.dev/status"
CREATED_BY = "linkerd.io/created-by"
NATIVE_OFF = "config.linkerd.io/proxy-enable-native-sidecar"
needs_shared = pytest.mark.skipif(
    not (REAL / "config" / "linkerd-config.yaml").is_file(),
    reason="the real linkerd inject outputs (../shared/injectors/linkerd) are not on this machine",
)


def docs(text: str) -> list[Any]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def values_of(config_map: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(yaml.safe_load(config_map.read_text())["data"]["values"])
    return loaded


def config(values: dict[str, Any], mode: str = "linkerd", enrollment: str = "sidecar") -> TransformConfig:
    return TransformConfig(
        mode=mode, enrollment=enrollment, mode_options=MappingProxyType({"linkerd": {"values": values}})
    )


def inject(text: str, values: dict[str, Any], engine: str = FAST) -> tuple[str, list[Any]]:
    out, diags = transform_text(text, config(values), engine)
    assert not [d for d in diags if d.level == "error"], diags
    return out, diags


def template_of(obj: dict[str, Any]) -> dict[str, Any]:
    found = pod_template(obj)
    assert found is not None
    return found


def differences(ours: Any, theirs: Any, path: str = "") -> Iterator[str]:
    """Every path where two documents differ as data (lists by position: order is part of a pod)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted(set(ours) | set(theirs)):
            where = f"{path}.{key}"
            if key not in theirs:
                yield f"{where}: only meshform's ({ours[key]!r:.80})"
            elif key not in ours:
                yield f"{where}: only linkerd's ({theirs[key]!r:.80})"
            else:
                yield from differences(ours[key], theirs[key], where)
    elif isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            yield f"{path}: {len(ours)} items, linkerd {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=False)):
            yield from differences(a, b, f"{path}[{i}]")
    elif ours != theirs or type(ours) is not type(theirs):
        yield f"{path}: meshform {ours!r:.80}, linkerd {theirs!r:.80}"


def without_allowed(obj: dict[str, Any]) -> dict[str, Any]:
    """The document less the two allowed differences: meshform's record and linkerd.io/created-by."""
    out = copy.deepcopy(obj)
    annotations = template_of(out).get("metadata", {}).get("annotations", {})
    for key in (STATUS, CREATED_BY):
        annotations.pop(key, None)
    return out


def classic(text: str) -> str:
    """The corpus input as `linkerd inject --native-sidecar=false` sees it: the CLI turns the flag into
    this pod annotation, then injects from the annotations (and keeps the annotation)."""
    out = []
    for doc in docs(text):
        meta = template_of(doc).setdefault("metadata", {})
        meta.setdefault("annotations", {})[NATIVE_OFF] = "false"
        out.append(doc)
    return yaml.safe_dump_all(out, sort_keys=False)


REAL_OUTPUTS = sorted(REAL.glob("*/*.yaml")) if REAL.is_dir() else []
REAL_OUTPUTS = [p for p in REAL_OUTPUTS if p.parent.name in ("native", "classic")]


@needs_shared
@pytest.mark.parametrize("engine", [FAST, ROUND_TRIP])
@pytest.mark.parametrize("output", REAL_OUTPUTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_equals_linkerd_inject_manual(output: Path, engine: str) -> None:
    original = (SHARED / "corpus" / output.name).read_text()
    if output.parent.name == "classic":
        original = classic(original)
    ours, _ = inject(original, values_of(REAL / "config" / "linkerd-config.yaml"), engine)
    theirs = docs(output.read_text())
    found = [
        d
        for a, b in zip(docs(ours), theirs, strict=True)
        for d in differences(without_allowed(a), without_allowed(b))
    ]
    assert not found, "differences from linkerd inject --manual:\n" + "\n".join(found)
    for doc in docs(ours):  # the allowed differences are there, and only those
        annotations = template_of(doc)["metadata"]["annotations"]
        assert annotations[CREATED_BY].startswith("meshform ") and STATUS in annotations


@needs_shared
def test_the_cli_reads_the_linkerd_config_map_as_kubectl_prints_it(tmp_path: Path) -> None:
    transformer = tmp_path / "meshform.yaml"
    transformer.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nmetadata: {name: l5d}\nspec:\n"
        "  mode: linkerd\n  enrollment: sidecar\n  modeOptions:\n    linkerd:\n"
        f"      valuesFile: {REAL / 'config' / 'linkerd-config.yaml'}\n"
    )
    proc = run_cli("transform", "--config", str(transformer), str(SHARED / "corpus" / "deploy-multi.yaml"))
    assert proc.returncode == 0, proc.stderr
    (ours,) = docs(proc.stdout.decode())
    (theirs,) = docs((REAL / "native" / "deploy-multi.yaml").read_text())
    assert list(differences(without_allowed(ours), without_allowed(theirs))) == []


@needs_shared
def test_linkerd_refuses_host_network_pods_and_so_does_meshform() -> None:
    """The real CLI wrote no output for hostnetwork.yaml ("hostNetwork is enabled")."""
    assert not (REAL / "native" / "hostnetwork.yaml").exists()
    text = (SHARED / "corpus" / "hostnetwork.yaml").read_text()
    _, diags = transform_text(text, config(values_of(REAL / "config" / "linkerd-config.yaml")))
    assert [(d.code, d.level) for d in diags if d.level == "error"] == [("MF350", "error")]
    assert "hostNetwork is enabled" in diags[0].message


# ------------------------------------------------------------------------------------- own corpus

OWN_VALUES = values_of(OWN / "linkerd-config.yaml")
WORKLOADS = (OWN / "workloads.yaml").read_text()


def one(kind: str) -> str:
    """The corpus document of this kind, as text."""
    return next(part for part in WORKLOADS.split("\n---\n") if f"kind: {kind}\n" in part)


def by_kind(text: str) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs(text)}


def spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = template_of(obj)["spec"]
    return spec


def names(spec: dict[str, Any], key: str) -> list[str]:
    return [item["name"] for item in spec.get(key, [])]


def proxy(obj: dict[str, Any]) -> dict[str, Any]:
    spec = spec_of(obj)
    return next(
        c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == "linkerd-proxy"
    )


def env(container: dict[str, Any]) -> dict[str, Any]:
    """Variables by name; a repeated name keeps its last value, as the kubelet does."""
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def init_args(obj: dict[str, Any]) -> list[str]:
    spec = spec_of(obj)
    init = next(c for c in spec.get("initContainers", []) if c["name"] == "linkerd-init")
    args: list[str] = init["args"]
    return args


@pytest.fixture(scope="module")
def injected() -> dict[str, dict[str, Any]]:
    out, _ = inject(WORKLOADS, OWN_VALUES)
    return by_kind(out)


def test_every_kind_gets_its_workload_label(injected: dict[str, dict[str, Any]]) -> None:
    expected = {
        "Deployment": ("linkerd.io/proxy-deployment", "shop"),
        "StatefulSet": ("linkerd.io/proxy-statefulset", "ledger"),
        "DaemonSet": ("linkerd.io/proxy-daemonset", "collector"),
        "ReplicaSet": ("linkerd.io/proxy-replicaset", "legacy"),
        "ReplicationController": ("linkerd.io/proxy-replicationcontroller", "old"),
        "Job": ("linkerd.io/proxy-job", "migrate"),
        "CronJob": ("linkerd.io/proxy-cronjob", "nightly"),
    }
    assert set(injected) == {*expected, "Pod"}
    for kind, obj in injected.items():
        labels = template_of(obj)["metadata"]["labels"]
        linkerd = {k: v for k, v in labels.items() if k.startswith("linkerd.io/")}
        want = {"linkerd.io/control-plane-ns": "linkerd", "linkerd.io/workload-ns": "store"}
        if kind in expected:
            want[expected[kind][0]] = expected[kind][1]
        assert linkerd == want, kind  # a bare Pod has no owner the CLI knows of


def test_markers_and_trust_root_digest(injected: dict[str, dict[str, Any]]) -> None:
    pem = OWN_VALUES["identityTrustAnchorsPEM"]
    for kind, obj in injected.items():
        annotations = template_of(obj)["metadata"]["annotations"]
        version = "edge-26.8.2" if kind == "Pod" else "edge-26.8.3"  # the Pod overrides proxy-version
        assert annotations["linkerd.io/proxy-version"] == version
        assert annotations["linkerd.io/trust-root-sha256"] == hashlib.sha256(pem.encode()).hexdigest()
        assert env(proxy(obj))["LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS"] == pem


def test_native_and_classic_layouts(injected: dict[str, dict[str, Any]]) -> None:
    deployment = spec_of(injected["Deployment"])  # native: init, proxy, then the pod's own
    assert names(deployment, "initContainers") == ["linkerd-init", "linkerd-proxy", "schema"]
    assert proxy(injected["Deployment"])["restartPolicy"] == "Always"
    assert "startupProbe" in proxy(injected["Deployment"]) and "lifecycle" not in proxy(
        injected["Deployment"]
    )
    daemonset = spec_of(injected["DaemonSet"])  # classic + await: linkerd-init last, proxy first
    assert names(daemonset, "initContainers") == ["prepare", "linkerd-init"]
    assert names(daemonset, "containers") == ["linkerd-proxy", "agent"]
    classic_proxy = proxy(injected["DaemonSet"])
    assert "restartPolicy" not in classic_proxy and "startupProbe" not in classic_proxy
    assert classic_proxy["lifecycle"]["postStart"]["exec"]["command"][-1] == "--port=4191"
    replicaset = spec_of(injected["ReplicaSet"])  # classic, await disabled: the proxy is appended
    assert names(replicaset, "containers") == ["app", "linkerd-proxy"]
    assert proxy(injected["ReplicaSet"])["lifecycle"] == {
        "preStop": {"exec": {"command": ["/bin/sleep", "20"]}}
    }
    for obj in injected.values():  # existing volumes stay first; Linkerd's are appended in its order
        assert names(spec_of(obj), "volumes")[-3:] == [
            "linkerd-proxy-init-xtables-lock",
            "linkerd-identity-end-entity",
            "linkerd-identity-token",
        ]


def test_inbound_ports_and_opaque_ports(injected: dict[str, dict[str, Any]]) -> None:
    """All containers' ports plus numeric HTTP readiness/liveness probe ports, sorted as text; a named
    opaque port resolves to its number, a range stays a range."""
    deployment = env(proxy(injected["Deployment"]))
    assert deployment["LINKERD2_PROXY_INBOUND_PORTS"] == "10254,7000,8080,9090"
    assert deployment["LINKERD2_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION"] == "9090,6000-6002"
    assert env(proxy(injected["ReplicaSet"]))["LINKERD2_PROXY_INBOUND_PORTS"] == "10000,80"
    job_proxy = next(e for e in proxy(injected["Job"])["env"] if e["name"] == "LINKERD2_PROXY_INBOUND_PORTS")
    assert "value" not in job_proxy  # an empty value is dropped, as Go's serializer does


def test_config_overrides(injected: dict[str, dict[str, Any]]) -> None:
    ledger = proxy(injected["StatefulSet"])
    variables = env(ledger)
    assert ledger["resources"] == {"limits": {"cpu": "1500m", "memory": "256Mi"}, "requests": {"cpu": "250m"}}
    assert (variables["LINKERD2_PROXY_CORES"], variables["LINKERD2_PROXY_CORES_MAX"]) == ("1", "2")
    assert variables["LINKERD2_PROXY_LOG"] == "debug,[{headers}]=off,[{request}]=off"
    assert variables["LINKERD2_PROXY_INBOUND_DEFAULT_POLICY"] == "deny"
    assert variables["LINKERD2_PROXY_OUTBOUND_CONNECT_TIMEOUT"] == "2000ms"
    assert variables["LINKERD2_PROXY_ACCESS_LOG"] == "apache"
    assert variables["LINKERD2_PROXY_SHUTDOWN_GRACE_PERIOD"] == "45000ms"
    assert (variables["LINKERD2_PROXY_LOG_FORMAT"], variables["EXTRA"]) == ("json", "1")
    assert ledger["securityContext"]["runAsUser"] == 2200 and ledger["securityContext"]["runAsGroup"] == 2201
    args = init_args(injected["StatefulSet"])
    assert args[args.index("--inbound-ports-to-ignore") + 1] == "4190,4191,5433"
    assert args[args.index("--outbound-ports-to-ignore") + 1] == "443"
    assert args[args.index("--proxy-gid") + 1] == "2201"


def test_first_container_lends_capabilities_and_token_mount(injected: dict[str, dict[str, Any]]) -> None:
    shop = proxy(injected["Deployment"])
    assert shop["securityContext"]["capabilities"] == {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}
    sa = {"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": "sa-token", "readOnly": True}
    assert shop["volumeMounts"][-1] == sa
    init = spec_of(injected["Deployment"])["initContainers"][0]
    assert init["securityContext"]["capabilities"] == {
        "add": ["NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE"],
        "drop": ["ALL"],
    }
    assert init["volumeMounts"][-1] == sa


def test_ingress_debug_and_version_overrides(injected: dict[str, dict[str, Any]]) -> None:
    pod = injected["Pod"]
    assert names(spec_of(pod), "containers") == ["shell", "linkerd-debug"]
    assert env(proxy(pod))["LINKERD2_PROXY_INGRESS_MODE"] == "true"
    assert proxy(pod)["image"] == "cr.l5d.io/linkerd/proxy:edge-26.8.2"
    assert spec_of(pod)["containers"][1]["image"] == "cr.l5d.io/linkerd/debug:edge-26.8.3"


def test_cni_puts_the_network_validator_in_place_of_linkerd_init() -> None:
    out, _ = inject(WORKLOADS, {**OWN_VALUES, "cniEnabled": True})
    deployment = spec_of(by_kind(out)["Deployment"])
    assert names(deployment, "initContainers")[:2] == ["linkerd-network-validator", "linkerd-proxy"]
    assert "linkerd-proxy-init-xtables-lock" not in names(deployment, "volumes")
    validator = deployment["initContainers"][0]
    assert validator["args"][validator["args"].index("--connect-addr") + 1] == "1.1.1.1:20001"


# ----------------------------------------------------------------------------------- invariants


def linkerd_would_inject(spec: dict[str, Any]) -> bool:
    """Linkerd's HasExistingSidecars, read from its source: a pod with a container named linkerd-proxy
    (or istio-proxy), an init container linkerd-init (istio-init), or their images is never injected."""
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        if container["name"] in ("linkerd-proxy", "istio-proxy") or str(
            container.get("image", "")
        ).startswith(("cr.l5d.io/linkerd/proxy:", "gcr.io/istio-release/proxyv2:")):
            return False
    return not any(c["name"] in ("linkerd-init", "istio-init") for c in spec.get("initContainers", []))


def test_linkerd_does_not_inject_the_result_again(injected: dict[str, dict[str, Any]]) -> None:
    for kind, original in by_kind(WORKLOADS).items():
        assert linkerd_would_inject(spec_of(original)), kind
        assert not linkerd_would_inject(spec_of(injected[kind])), kind


@pytest.mark.parametrize("engine", [FAST, ROUND_TRIP])
def test_reinjecting_is_a_no_op(engine: str) -> None:
    once, _ = inject(WORKLOADS, OWN_VALUES, engine)
    twice, _ = inject(once, OWN_VALUES, engine)
    assert twice == once


@pytest.mark.parametrize("engine", [FAST, ROUND_TRIP])
def test_uninjection_removes_exactly_what_it_added(engine: str) -> None:
    once, _ = inject(WORKLOADS, OWN_VALUES, engine)
    clean, diags = transform_text(once, config(OWN_VALUES, "kubernetes-native", "labels"), engine)
    assert not [d for d in diags if d.level == "error"], diags
    assert docs(clean) == docs(WORKLOADS)


@pytest.mark.parametrize("engine", [FAST, ROUND_TRIP])
def test_pre_injected_labels_native_pre_injected_round_trips(engine: str) -> None:
    first, _ = inject(WORKLOADS, OWN_VALUES, engine)
    labels, _ = transform_text(first, config(OWN_VALUES, enrollment="labels"), engine)
    assert "linkerd-proxy" not in labels and "linkerd.io/inject: enabled" in labels
    native, _ = transform_text(labels, config(OWN_VALUES, "kubernetes-native", "labels"), engine)
    again, _ = inject(native, OWN_VALUES, engine)
    assert again == first


@needs_shared
def test_real_output_switches_to_meshform_pre_injection_exactly() -> None:
    """A workload `linkerd inject --manual` injected is adopted (its injection removed) and pre-injected
    by meshform: the same pod as the injector's, less the allowed differences."""
    output = REAL / "native" / "statefulset.yaml"
    ours, _ = inject(output.read_text(), values_of(REAL / "config" / "linkerd-config.yaml"))
    assert [
        list(differences(without_allowed(a), without_allowed(b)))
        for a, b in zip(docs(ours), docs(output.read_text()), strict=True)
    ] == [[]]


# ------------------------------------------------------------------------------------- refusals


def test_an_existing_sidecar_is_refused() -> None:
    text = one("ReplicationController").replace(
        "containers: [{name: app", "containers: [{name: istio-proxy, image: x}, {name: app"
    )
    _, diags = transform_text(text, config(OWN_VALUES))
    assert [d.code for d in diags if d.level == "error"] == ["MF351"]
    assert "sidecar injected already" in diags[0].message


def test_chart_failures_are_errors() -> None:
    _, diags = transform_text(WORKLOADS, config({**OWN_VALUES, "proxyInit": {"iptablesMode": "bpf"}}))
    assert {d.code for d in diags if d.level == "error"} == {"MF352"}
    no_pem = {k: v for k, v in OWN_VALUES.items() if k != "identityTrustAnchorsPEM"}
    _, diags = transform_text(WORKLOADS, config(no_pem))
    assert {d.code for d in diags if d.level == "error"} == {"MF352"}
    assert "identityTrustAnchorsPEM" in diags[0].message


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"proxy": "fast"}, "proxy must be a mapping"),
        ({"proxy": {"ports": {"admin": "high"}}}, "proxy.ports.admin must be a whole number"),
        ({"proxy": {"nativeSidecar": "yes"}}, "proxy.nativeSidecar must be true or false"),
        ({"identity": {"serviceAccountTokenProjection": 1}}, "must be true or false"),
        ({"proxy": {"inbound": {"client": "tls"}}}, "proxy.inbound.client must be a mapping"),
        (
            {"proxy": {"additionalEnv": ["X=1"]}},
            "proxy.additionalEnv must be a list of environment variables",
        ),
    ],
)
def test_values_of_the_wrong_type_are_refused(values: dict[str, Any], words: str) -> None:
    _, diags = transform_text(one("Job"), config({**OWN_VALUES, **values}))
    assert [d.code for d in diags] == ["MF352"] and words in diags[0].message


def test_close_wait_timeout_needs_a_root_init_container() -> None:
    text = one("ReplicationController").replace(
        "metadata: {labels: {app: old}}",
        "metadata: {labels: {app: old}, annotations: {config.linkerd.io/close-wait-timeout: 90s}}",
    )
    _, diags = transform_text(text, config(OWN_VALUES))
    assert [d.code for d in diags if d.level == "error"] == ["MF353"]  # at the annotation that needs it
    assert diags[0].path.endswith("config.linkerd.io/close-wait-timeout") and "runAsRoot" in diags[0].message
    out, _ = inject(text, {**OWN_VALUES, "proxyInit": {"runAsRoot": True}})
    init = spec_of(docs(out)[0])["initContainers"][0]
    assert init["args"][-2:] == ["--timeout-close-wait-secs", "90"]
    assert init["securityContext"]["privileged"] is True and init["securityContext"]["runAsUser"] == 0


def test_an_override_linkerd_ignores_is_a_warning_and_is_ignored() -> None:
    text = one("ReplicationController").replace(
        "metadata: {labels: {app: old}}",
        "metadata: {labels: {app: old}, annotations: "
        "{config.linkerd.io/proxy-outbound-connect-timeout: soon}}",
    )
    out, diags = inject(text, OWN_VALUES)
    assert [(d.code, d.level) for d in diags] == [("MF354", "warning")]
    assert env(proxy(docs(out)[0]))["LINKERD2_PROXY_OUTBOUND_CONNECT_TIMEOUT"] == "1000ms"


def test_a_version_without_templates_is_a_clear_error(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({**OWN_VALUES, "linkerdVersion": "stable-2.14.10"}))
    transformer = tmp_path / "meshform.yaml"
    transformer.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nmetadata: {name: l5d}\nspec:\n"
        "  mode: linkerd\n  enrollment: sidecar\n  modeOptions:\n    linkerd:\n"
        "      valuesFile: values.yaml\n"
    )
    proc = run_cli("transform", "--config", str(transformer), str(OWN / "workloads.yaml"))
    assert proc.returncode == 1 and proc.stdout == b""
    assert b"MF320" in proc.stderr and b"stable-2.14.10" in proc.stderr and b"edge-26.8" in proc.stderr


def test_uninjection_needs_no_linkerd_config() -> None:
    """Switching away is given no linkerd-config: the record alone says what to remove."""
    once, _ = inject(WORKLOADS, OWN_VALUES)
    clean, diags = transform_text(once, "kubernetes-native")
    assert not [d for d in diags if d.level == "error"], diags
    assert docs(clean) == docs(WORKLOADS)


def test_sidecar_without_values_says_what_to_give() -> None:
    _, diags = transform_text(one("Job"), TransformConfig(mode="linkerd", enrollment="sidecar"))
    assert [d.code for d in diags] == ["MF352"]
    assert "modeOptions.linkerd.valuesFile" in diags[0].message


def test_render_pre_injects_and_switches_back(tmp_path: Path) -> None:
    app = tmp_path / "app.yaml"
    (tmp_path / "linkerd-config.yaml").write_text((OWN / "linkerd-config.yaml").read_text())
    app.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: Application\nmetadata: {name: shop, namespace: store}\n"
        "spec:\n  governanceMode: linkerd\n  modeOptions:\n    linkerd: {valuesFile: linkerd-config.yaml}\n"
        "  components:\n  - name: web\n    image: ghcr.io/example/web:1\n"
        "    ports: [{name: http, port: 8080}]\n"
    )
    injected = run_cli("render", str(app), "--enrollment", "sidecar")
    assert injected.returncode == 0, injected.stderr
    (deployment,) = [d for d in docs(injected.stdout.decode()) if d["kind"] == "Deployment"]
    assert names(spec_of(deployment), "initContainers") == ["linkerd-init", "linkerd-proxy"]
    assert env(proxy(deployment))["LINKERD2_PROXY_INBOUND_PORTS"] == "8080"
    native = run_cli("render", str(app), "--mode", "kubernetes-native")
    back = run_cli("transform", "--mode", "kubernetes-native", "-", stdin=injected.stdout)
    assert back.returncode == 0, back.stderr
    assert back.stdout == native.stdout


# ---------------------------------------------------------------------------------- Go's parsers


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2s", "2"),
        ("1m30s", "90"),
        ("250ms", "0.25"),
        ("1.5h", "5400"),
        ("-3s", "-3"),
        ("0", "0"),
        (".5s", "0.5"),
    ],
)
def test_go_durations(text: str, seconds: str) -> None:
    assert linkerd_values.go_duration(text) == Decimal(seconds)


@pytest.mark.parametrize("text", ["", "5", "2 s", "1d", "s", "3sec", "9999999999999h"])
def test_what_go_does_not_read_as_a_duration(text: str) -> None:
    assert linkerd_values.go_duration(text) is None


@pytest.mark.parametrize(
    ("text", "cores"), [("250m", 1), ("1", 1), ("1500m", 2), ("2", 2), ("1.01", 2), ("1e-1", 1), ("2k", 2000)]
)
def test_cpu_quantities_round_up_to_whole_cores(text: str, cores: int) -> None:
    assert linkerd_values.quantity("1e999999999") is None  # beyond int64: not a quantity, not a hang
    amount = linkerd_values.quantity(text)
    assert amount is not None and linkerd_values.whole_cores(amount) == cores


@pytest.mark.parametrize(
    ("text", "expected"), [("http,9000-9002,bad,70000,5-4,22", "8080,9000-9002,22"), ("25,", "25")]
)
def test_opaque_ports(text: str, expected: str) -> None:
    assert linkerd_values.opaque_ports(text, {"http": 8080}) == expected


# ------------------------------------------------------------------------------------ properties

OVERRIDES = st.dictionaries(
    st.sampled_from(
        [
            "config.linkerd.io/proxy-enable-native-sidecar",
            "config.linkerd.io/proxy-await",
            "config.linkerd.io/proxy-cpu-limit",
            "config.linkerd.io/opaque-ports",
            "config.linkerd.io/enable-debug-sidecar",
        ]
    ),
    st.sampled_from(["false", "true", "disabled", "enabled", "500m", "http-0,9000-9001"]),
    max_size=3,
)


@st.composite
def linkerd_streams(draw: st.DrawFn) -> str:
    """Generated workloads of every kind (no hostNetwork: Linkerd refuses those), some with overrides."""
    objects = []
    for i in range(draw(st.integers(1, 3))):
        obj = draw(generated_workload(i))
        template = template_of(obj)
        template["spec"].pop("hostNetwork", None)
        overrides = draw(OVERRIDES)
        if overrides:
            template.setdefault("metadata", {}).setdefault("annotations", {}).update(overrides)
        objects.append(obj)
    return yaml.safe_dump_all(objects, sort_keys=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(linkerd_streams(), st.sampled_from([FAST, ROUND_TRIP]))
def test_generated_workloads_pre_inject_exactly(text: str, engine: str) -> None:
    once, _ = inject(text, OWN_VALUES, engine)
    assert inject(once, OWN_VALUES, engine)[0] == once  # f(f(x)) == f(x)
    for obj in docs(once):
        assert not linkerd_would_inject(spec_of(obj))
    labels, _ = transform_text(once, config(OWN_VALUES, enrollment="labels"), engine)
    native, _ = transform_text(labels, "kubernetes-native", engine)
    assert docs(native) == docs(text)  # un-injection gives x back
    assert inject(native, OWN_VALUES, engine)[0] == once  # sidecar → labels → native → sidecar


def test_every_front_end_pre_injects_the_same_pod(tmp_path: Path) -> None:
    """transform, helm-postrender (config file with valuesFile) and krm (inline values in the
    functionConfig) give the same injected Job."""
    (tmp_path / "linkerd-config.yaml").write_text((OWN / "linkerd-config.yaml").read_text())
    transformer = {
        "apiVersion": "meshform.dev/v1alpha1",
        "kind": "MeshTransformer",
        "metadata": {"name": "l5d"},
        "spec": {
            "mode": "linkerd",
            "enrollment": "sidecar",
            "modeOptions": {"linkerd": {"valuesFile": "linkerd-config.yaml"}},
        },
    }
    (tmp_path / "meshform.yaml").write_text(yaml.safe_dump(transformer))
    job = one("Job").encode()
    expected, _ = inject(one("Job"), OWN_VALUES)
    post = run_cli("helm-postrender", "--config", str(tmp_path / "meshform.yaml"), stdin=job)
    assert post.returncode == 0, post.stderr
    assert docs(post.stdout.decode()) == docs(expected)
    transformer["spec"]["modeOptions"] = {"linkerd": {"values": OWN_VALUES}}
    resources = {
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": docs(one("Job")),
        "functionConfig": transformer,
    }
    krm = run_cli("krm", stdin=yaml.safe_dump(resources).encode())
    assert krm.returncode == 0, krm.stderr
    assert yaml.safe_load(krm.stdout)["items"] == docs(expected)


@pytest.mark.parametrize(
    ("namespace", "code"),
    [
        (
            "apiVersion: v1\nkind: Namespace\n"
            "metadata: {name: store, labels: {config.linkerd.io/admission-webhooks: disabled}}\n",
            "MF603",
        ),
        ("", "MF606"),  # kube-system: outside the webhook's namespaceSelector
    ],
)
def test_webhook_namespace_rules_do_not_bind_a_pre_injected_pod(namespace: str, code: str) -> None:
    """The rules that keep Linkerd's webhook away from a namespace stop enrollment by labels; a pod
    that is pre-injected needs no webhook (that is what sidecar is for where webhooks are forbidden)."""
    job = one("Job")
    if code == "MF606":
        job = job.replace("namespace: store", "namespace: kube-system")
    text = namespace + ("---\n" if namespace else "") + job
    _, diags = transform_text(text, config(OWN_VALUES, enrollment="labels"))
    assert [d.code for d in diags if d.level == "error"] == [code]
    out, diags = inject(text, OWN_VALUES)
    assert not diags and "linkerd-proxy" in out


def test_tracing_from_values_and_pod_keys() -> None:
    tracing = {
        "enabled": True,
        "collector": {
            "endpoint": "collector.tracing:4317",
            "meshIdentity": {"serviceAccountName": "otel", "namespace": "tracing"},
        },
    }
    text = one("ReplicationController").replace(
        "metadata: {labels: {app: old}}",
        "metadata: {labels: {app: old, app.kubernetes.io/name: olden}, annotations: "
        "{resource.opentelemetry.io/team: ledger, config.linkerd.io/proxy-metrics-hostname-labels: 'true'}}",
    )
    out, _ = inject(text, {**OWN_VALUES, "proxy": {**OWN_VALUES["proxy"], "tracing": tracing}})
    (rc,) = docs(out)
    variables = env(proxy(rc))
    assert variables["LINKERD2_PROXY_TRACE_EXTRA_ATTRIBUTES"] == (
        "k8s.container.name=$(_pod_containerName)\nk8s.pod.ip=$(_pod_ip)\nk8s.pod.uid=$(_pod_uid)\n"
        "service.name=olden\nteam=ledger\n"
    )
    assert variables["LINKERD2_PROXY_TRACE_COLLECTOR_SVC_NAME"] == (
        "otel.tracing.serviceaccount.identity.linkerd.cluster.local"
    )
    assert variables["LINKERD2_PROXY_TRACE_PROTOCOL"] == "opentelemetry"
    assert variables["LINKERD2_PROXY_OUTBOUND_METRICS_HOSTNAME_LABELS"] == "true"
    assert "linkerd-podinfo" in names(spec_of(rc), "volumes")
    assert {"mountPath": "/var/run/linkerd/podinfo", "name": "linkerd-podinfo"} in proxy(rc)["volumeMounts"]
    del tracing["collector"]["endpoint"]
    _, diags = transform_text(
        text, config({**OWN_VALUES, "proxy": {**OWN_VALUES["proxy"], "tracing": tracing}})
    )
    assert [d.code for d in diags] == ["MF352"] and "collector.endpoint" in diags[0].message


def test_host_network_is_refused_not_skipped() -> None:
    text = one("Job").replace("restartPolicy: Never", "restartPolicy: Never\n      hostNetwork: true")
    _, diags = transform_text(text, config(OWN_VALUES))
    assert [(d.code, d.level) for d in diags] == [("MF350", "error")]
    _, diags = transform_text(text, config(OWN_VALUES, enrollment="labels"))  # the webhook skips it
    assert [(d.code, d.level) for d in diags] == [("MF401", "warning")]


def test_a_classic_proxy_in_a_job_is_the_classic_warning() -> None:
    text = one("Job").replace(
        "metadata: {labels: {app: migrate}}",
        "metadata: {labels: {app: migrate}, "
        "annotations: {config.linkerd.io/proxy-enable-native-sidecar: 'false'}}",
    )
    _, diags = inject(text, OWN_VALUES)
    assert [d.code for d in diags] == ["MF403"]
    _, diags = inject(one("Job"), OWN_VALUES)
    assert diags == []


ANY_OVERRIDE = st.dictionaries(
    st.sampled_from(
        sorted(
            {
                f"config.linkerd.io/{k}"
                for k in (*linkerd_values._STRINGS, *linkerd_values._PORTS, *linkerd_values._BOOLS)
            }
            | {
                f"config.linkerd.io/{k}"
                for k in (*linkerd_values._DURATIONS, *linkerd_values._ENABLED, *linkerd_values._RESOURCES)
            }
            | {
                "config.linkerd.io/proxy-uid",
                "config.linkerd.io/proxy-gid",
                "config.linkerd.io/proxy-cpu-ratio-limit",
                "config.linkerd.io/opaque-ports",
                "config.linkerd.io/default-inbound-policy",
                "config.linkerd.io/proxy-additional-env",
                "config.linkerd.io/close-wait-timeout",
                "config.linkerd.io/enable-debug-sidecar",
                "config.alpha.linkerd.io/proxy-wait-before-exit-seconds",
                "config.beta.linkerd.io/proxy-enable-native-sidecar",
            }
        )
    ),
    st.one_of(
        st.text(max_size=12),
        st.sampled_from(
            ["1", "0", "-1", "1e9", "1e999999999", "99999999999", "1.5", "[]", "[{}]", "2s", "true"]
        ),
    ),
    max_size=4,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANY_OVERRIDE)
def test_any_override_value_is_injected_or_refused_located(overrides: dict[str, str]) -> None:
    """Whatever a pod's config.linkerd.io/* annotations say: an injected pod that round trips, or
    located MF diagnostics, never a crash."""
    obj = docs(one("ReplicationController"))[0]
    template_of(obj)["metadata"]["annotations"] = overrides
    text = yaml.safe_dump(obj, sort_keys=False)
    out, diags = transform_text(text, config(OWN_VALUES))
    assert all(d.code.startswith("MF") and d.line > 0 for d in diags)
    if not [d for d in diags if d.level == "error"]:
        assert docs(transform_text(out, "kubernetes-native")[0]) == docs(text)


@pytest.mark.parametrize("kind", ["Deployment", "DaemonSet"])  # native and classic proxies
def test_verify_sees_the_pre_injected_proxy(injected: dict[str, dict[str, Any]], kind: str) -> None:
    """`verify` proves injection by a dry run: a pre-injected pod comes back as it went (Linkerd's
    webhook leaves it alone), and its proxy, native or classic, is counted once."""
    from meshform.modes import MODES
    from meshform.modes import Registry as ModeRegistry
    from meshform.verify.dryrun import judge, proxies
    from meshform.verify.targets import Target

    template = template_of(injected[kind])
    target = Target(kind, "x", "store", "linkerd", template, "in.yaml:1")
    (check,) = list(judge(target, ModeRegistry(dict(MODES)), proxies(template), proxies(template)))
    assert "linkerd-proxy pre-injected and left alone" in check.message


def test_control_plane_namespace() -> None:
    options = MappingProxyType({"linkerd": {"values": OWN_VALUES, "controlPlaneNamespace": "l5d"}})
    out, _ = transform_text(
        one("Job"), TransformConfig(mode="linkerd", enrollment="sidecar", mode_options=options)
    )
    (job,) = docs(out)
    assert template_of(job)["metadata"]["labels"]["linkerd.io/control-plane-ns"] == "l5d"
    variables = env(proxy(job))
    assert variables["_l5d_ns"] == "l5d"
    assert (
        variables["LINKERD2_PROXY_DESTINATION_SVC_ADDR"] == "linkerd-dst-headless.l5d.svc.cluster.local.:8086"
    )
    assert (
        variables["LINKERD2_PROXY_IDENTITY_SVC_NAME"]
        == "linkerd-identity.l5d.serviceaccount.identity.l5d.cluster.local"
    )
