"""The strongest proof of the policy objects: the real kube-apiserver, with the meshes' real CRDs
installed, accepts every object meshform emits (server-side dry run: structural schema, strict field
validation and the CRDs' CEL rules all run), and refuses a broken one. Then `meshform verify` against
the same apiserver tells installed, missing, too old, forbidden and unreachable policy CRDs apart.

The CRDs are the ones tests/policy/crds.py reads (Istio's and the Gateway API's from the tools cache,
Kuma's, Linkerd's and Consul's vendored): installed once per module and left there (other verify
modules never look at these groups). The application is tests/fixtures/policy/all-features.yaml.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshform.core import status
from meshform.core.govern import GovernOptions
from meshform.core.workloads import pod_template
from meshform.frontends.render import render_file
from meshform.modes import DEFAULT, MODES
from meshform.modes.base import EnrollContext, Enrollment, Finding, ModeFacts
from meshform.policy.context import PolicyContext
from meshform.verify import kubeconfig, targets
from meshform.verify.checks import policy_crds
from meshform.verify.client import Client
from meshform.verify.cluster import ClusterView
from meshform.verify.results import Status
from tests.policy import all_features, crds
from verify import installers, kube
from verify.conftest import Cluster
from verify.controlplane import free_port
from verify.helpers import checks, problems, run

Obj = dict[str, Any]
ESTABLISH_TIMEOUT = 60.0  # seconds for every CRD to be Established (2-core machine, ~50 CRDs)


# ----------------------------------------------------------------------------- the CRDs installed


def mesh_crds() -> list[Obj]:
    """Every mesh CRD the policy objects meet. Linkerd bundles an older copy of the Gateway API's
    HTTPRoute CRD under the same name; the cluster gets the Gateway API's own (v1.6.3), as a cluster
    running Linkerd with the Gateway API installed separately has it."""
    out = [*crds.crd_documents(crds.ISTIO), *crds.crd_documents(crds.GATEWAY_API)]
    out += [d for d in crds.crd_documents(crds.LINKERD) if not d["spec"]["group"].endswith("k8s.io")]
    out += [*crds.crd_documents(crds.KUMA), *crds.crd_documents(crds.CONSUL)]
    return out


PROBE_GROUP = "policy.probe.meshform.dev"


def probe_crd(kind: str, versions: list[str]) -> Obj:
    """A test CRD serving `kind` at exactly these versions (the last one stored)."""
    plural = f"{kind.lower()}s"
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{PROBE_GROUP}"},
        "spec": {
            "group": PROBE_GROUP,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "scope": "Namespaced",
            "versions": [
                {"name": v, "served": True, "storage": v == versions[-1], "schema": schema} for v in versions
            ],
        },
    }


# What the probe mode emits, and how its CRDs are installed: one kind per answer verify can give.
PROBE_EMITS = [
    (f"{PROBE_GROUP}/v1beta3", "Current"),  # served at v1beta2 and v1beta3: ok
    (f"{PROBE_GROUP}/v1beta3", "Old"),  # served at v1alpha1 and v1beta1 only: too old
    (f"{PROBE_GROUP}/v1beta1", "Newer"),  # served at v1 only: meshform emits a version no longer served
    (f"{PROBE_GROUP}/v1beta3", "Missing"),  # its group is served, the kind is not: not installed
    ("absent.probe.meshform.dev/v1", "Absent"),  # no such group at all: not installed
]
PROBE_CRDS = [
    probe_crd("Current", ["v1beta2", "v1beta3"]),
    probe_crd("Old", ["v1alpha1", "v1beta1"]),
    probe_crd("Newer", ["v1"]),
]


def _established(crd: Obj) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def install(cluster: Cluster, objects: list[Obj]) -> None:
    """Create the CRDs (replacing what is there) and wait until every one is Established."""
    kube.apply_all(cluster.cp, objects)
    waiting = {o["metadata"]["name"] for o in objects}
    deadline = time.monotonic() + ESTABLISH_TIMEOUT
    while waiting and time.monotonic() < deadline:
        for name in sorted(waiting):
            code, crd = cluster.cp.request(
                "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
            )
            if code == 200 and _established(crd):
                waiting.discard(name)
        if waiting:
            time.sleep(0.2)
    assert not waiting, f"not Established after {ESTABLISH_TIMEOUT:.0f}s: {sorted(waiting)}"


@pytest.fixture(scope="module")
def installed(cluster: Cluster) -> Cluster:
    catalogue = crds.require(mesh_crds)
    started = time.monotonic()
    install(cluster, [*catalogue, *PROBE_CRDS])
    kube.apply_all(cluster.cp, installers.namespace(all_features.NAMESPACE))
    print(f"\n{len(catalogue) + len(PROBE_CRDS)} CRDs Established in {time.monotonic() - started:.1f}s")
    return cluster


# ------------------------------------------------------------------------------------- dry runs


@cache
def _routes() -> dict[tuple[str, str], str]:
    """(apiVersion, kind) → collection path template ({ns}), for every installed CRD version and the
    Kubernetes kinds the fixtures know."""
    out = {}
    for crd in [*mesh_crds(), *PROBE_CRDS]:
        spec = crd["spec"]
        for v in spec["versions"]:
            where = "/namespaces/{ns}" if spec["scope"] == "Namespaced" else ""
            out[(f"{spec['group']}/{v['name']}", spec["names"]["kind"])] = (
                f"/apis/{spec['group']}/{v['name']}{where}/{spec['names']['plural']}"
            )
    for kind, (prefix, plural, namespaced) in kube.RESOURCES.items():
        api_version = prefix.removeprefix("/apis/").removeprefix("/api/")
        out[(api_version, kind)] = f"{prefix}{'/namespaces/{ns}' if namespaced else ''}/{plural}"
    return out


@dataclass(frozen=True)
class DryRun:
    obj: Obj
    code: int
    answer: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    def __str__(self) -> str:
        message = self.answer.get("message") if isinstance(self.answer, dict) else self.answer
        return f"{self.obj['kind']}/{self.obj['metadata']['name']}: {self.code} {message}"


def dry_run(cluster: Cluster, obj: Obj) -> DryRun:
    """POST with dryRun=All and fieldValidation=Strict: admission, the structural schema, CEL rules and
    unknown-field refusal all run; nothing is stored. A 404 right after a CRD is Established is
    discovery catching up: asked again for a few seconds."""
    path = _routes()[(obj["apiVersion"], obj["kind"])].format(ns=obj["metadata"].get("namespace", "default"))
    url = f"{path}?dryRun=All&fieldValidation=Strict"
    code, answer = cluster.cp.request("POST", url, obj)
    deadline = time.monotonic() + 10
    while code == 404 and time.monotonic() < deadline:
        time.sleep(0.2)
        code, answer = cluster.cp.request("POST", url, obj)
    return DryRun(obj, code, answer)


@pytest.fixture(scope="module")
def dry_runs(installed: Cluster) -> Callable[[str], list[DryRun]]:
    """The apiserver's answer to every object a mode added for the all-features application (once per
    mode, shared by the tests below)."""
    done: dict[str, list[DryRun]] = {}

    def of(mode: str) -> list[DryRun]:
        if mode not in done:
            done[mode] = [dry_run(installed, o) for o in all_features.added_objects(mode)]
        return done[mode]

    return of


@pytest.mark.parametrize("mode", all_features.modes())
def test_the_apiserver_accepts_every_object_a_mode_emits(
    dry_runs: Callable[[str], list[DryRun]], mode: str
) -> None:
    assert [str(r) for r in dry_runs(mode) if not r.ok] == []


@pytest.mark.parametrize("mode", all_features.expected_kinds_params())
def test_the_apiserver_accepts_the_kinds_each_mode_promises(
    dry_runs: Callable[[str], list[DryRun]], mode: str
) -> None:
    accepted = [r.obj for r in dry_runs(mode) if r.ok]
    assert all_features.missing_kinds(mode, accepted) == []


def _broken() -> Iterator[tuple[str, Obj, Obj, str]]:
    """(what is broken, a valid object, the same object broken, words of the refusal): each break is
    one the apiserver enforces through a different mechanism."""
    vs = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "catalog", "namespace": all_features.NAMESPACE},
        "spec": {
            "hosts": ["catalog"],
            "http": [{"route": [{"destination": {"host": "catalog"}}], "timeout": "2s"}],
        },
    }
    bad = json.loads(json.dumps(vs))
    bad["spec"]["http"][0]["timeout"] = "0.5ms"
    yield "CEL rule: Istio durations are at least 1ms", vs, bad, "greater than 1ms"
    defaults = {
        "apiVersion": "consul.hashicorp.com/v1alpha1",
        "kind": "ServiceDefaults",
        "metadata": {"name": "catalog", "namespace": all_features.NAMESPACE},
        "spec": {"protocol": "http"},
    }
    yield (
        "strict field validation: an unknown field",
        defaults,
        {**defaults, "spec": {"protocol": "http", "protocoll": "http"}},
        'unknown field "spec.protocoll"',
    )
    server = {
        "apiVersion": "policy.linkerd.io/v1beta3",
        "kind": "Server",
        "metadata": {"name": "catalog-http", "namespace": all_features.NAMESPACE},
        "spec": {"podSelector": {"matchLabels": {"app": "catalog"}}, "port": "http"},
    }
    yield (
        "x-kubernetes-int-or-string",
        server,
        {**server, "spec": {**server["spec"], "port": True}},
        "integer,string",
    )
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "catalog-waypoint", "namespace": all_features.NAMESPACE},
        "spec": {
            "gatewayClassName": "istio-waypoint",
            "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}],
        },
    }
    twice = json.loads(json.dumps(gateway))
    twice["spec"]["listeners"].append(dict(twice["spec"]["listeners"][0]))
    yield "list-type map: listener names are keys", gateway, twice, "Duplicate value"
    timeout = {
        "apiVersion": "kuma.io/v1alpha1",
        "kind": "MeshTimeout",
        "metadata": {
            "name": "catalog",
            "namespace": all_features.NAMESPACE,
            "labels": {"kuma.io/mesh": "default"},
        },
        "spec": {
            "targetRef": {"kind": "Mesh"},
            "to": [{"targetRef": {"kind": "Mesh"}, "default": {"http": {"requestTimeout": "2s"}}}],
        },
    }
    broken = json.loads(json.dumps(timeout))
    broken["spec"]["to"][0]["default"]["http"]["requestTimeout"] = 2
    yield "type: a duration must be a string", timeout, broken, "must be of type string"


@cache
def _every_crd() -> crds.Catalogue:
    return crds.catalogue_of([crds.ISTIO, crds.GATEWAY_API, crds.LINKERD, crds.KUMA, crds.CONSUL])


@pytest.mark.parametrize("what,valid,broken,refusal", list(_broken()), ids=[w for w, *_ in _broken()])
def test_a_broken_object_is_refused_by_both_the_apiserver_and_the_loader(
    installed: Cluster, what: str, valid: Obj, broken: Obj, refusal: str
) -> None:
    """The dry run can fail: the valid object is accepted, the broken one refused (4xx), and the
    offline loader (tests/policy/crds.py) refuses it too, so the two agree on what is valid."""
    catalogue = _every_crd()
    accepted = dry_run(installed, valid)
    assert accepted.ok, str(accepted)
    assert catalogue.errors(valid) == []
    refused = dry_run(installed, broken)
    assert refused.code in (400, 422) and refusal in str(refused), str(refused)
    assert catalogue.errors(broken) != [], what


# ----------------------------------------------------------------------- meshform verify's check


PROBE_FACTS = replace(MODES["kubernetes-native"].facts, name="crd-probe", aliases=())


@dataclass(frozen=True)
class ProbeMode:
    """kubernetes-native's enrollment with a policy renderer that emits one object of each PROBE_EMITS
    kind: it puts every answer of the check on one apiserver at once, whichever renderers are merged."""

    facts: ModeFacts = PROBE_FACTS

    def enroll(self, ctx: EnrollContext) -> Enrollment:
        return MODES["kubernetes-native"].enroll(ctx)

    def findings(self, ctx: EnrollContext) -> Iterator[Finding]:
        return iter(())

    def render_policy(self, ctx: PolicyContext) -> list[dict[str, Any]]:
        meta = {"name": ctx.component.service, "namespace": ctx.component.namespace}
        return [{"apiVersion": av, "kind": kind, "metadata": meta, "spec": {}} for av, kind in PROBE_EMITS]


PROBES = DEFAULT.with_modes([ProbeMode()])
PROBE_GROUP_NAME = policy_crds.group_name("crd-probe")


def _by_kind(found: list[Any]) -> dict[str, Any]:
    return {c.message.split(" ", 1)[0].rstrip(":"): c for c in found}


def test_verify_tells_installed_missing_and_too_old_apart(installed: Cluster) -> None:
    report = run(installed, all_features.FIXTURE, mode="crd-probe", registry=PROBES)
    found = _by_kind(checks(report, PROBE_GROUP_NAME))
    assert set(found) == {"Current", "Old", "Newer", "Missing", "Absent"}, problems(report)
    assert (found["Current"].status, found["Current"].reason) == (Status.OK, "ok")
    assert found["Current"].resource == f"CustomResourceDefinition/currents.{PROBE_GROUP}"
    assert (found["Old"].status, found["Old"].reason) == (Status.FAILED, "too-old")
    assert "serves Old only as v1alpha1, v1beta1" in found["Old"].message
    assert (found["Newer"].status, found["Newer"].reason) == (Status.FAILED, "version-not-served")
    assert "emits Newer as v1" in found["Newer"].fix
    emitted = {kind: api_version for api_version, kind in PROBE_EMITS}
    for missing in ("Missing", "Absent"):
        assert (found[missing].status, found[missing].reason) == (Status.FAILED, "not-installed")
        assert (
            found[missing].fix
            == f"install the CustomResourceDefinition that serves {missing} {emitted[missing]}"
        )
    assert report.failed


def test_verify_says_forbidden_when_discovery_is(installed: Cluster, tmp_path: Path) -> None:
    """An anonymous user may read /version (so the run goes on) but not API discovery."""
    config = installed.cp.kubeconfig(tmp_path / "kubeconfig-anonymous", "nobody")
    data = json.loads(config.read_text())
    data["users"][0]["user"] = {}  # no credential at all: system:anonymous
    config.write_text(json.dumps(data))
    report = run(installed, all_features.FIXTURE, mode="crd-probe", registry=PROBES, kubeconfig=config)
    found = checks(report, PROBE_GROUP_NAME)
    assert found and {c.reason for c in found} == {"forbidden"}, problems(report)


def test_verify_says_unreachable_when_the_apiserver_is(tmp_path: Path) -> None:
    """The check on its own (the run stops at the first unreachable request), against a closed port."""
    config = tmp_path / "kubeconfig"
    config.write_text(
        json.dumps(
            {
                "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{free_port()}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    inputs = targets.load([str(all_features.FIXTURE)], PROBES, "crd-probe", "default")
    with Client(kubeconfig.load(str(config), None), 2.0) as client:
        found = list(policy_crds.check(ClusterView(client), PROBES.modes["crd-probe"], inputs.targets))
    assert len(found) == len(PROBE_EMITS)
    assert {c.reason for c in found} == {"unreachable"}


@pytest.mark.parametrize("mode", all_features.modes())
def test_verify_finds_every_real_mode_s_policy_crds_installed(installed: Cluster, mode: str) -> None:
    report = run(installed, all_features.FIXTURE, mode=mode)
    found = checks(report, policy_crds.group_name(mode))
    assert found, problems(report)  # every component of the fixture records a policy
    assert [c.message for c in found if c.status is not Status.OK] == []


@pytest.mark.parametrize("mode", all_features.expected_kinds_params())
def test_verify_checks_the_kinds_each_mode_promises(installed: Cluster, mode: str) -> None:
    report = run(installed, all_features.FIXTURE, mode=mode)
    named = [{"kind": c.message.split(" ", 1)[0]} for c in checks(report, policy_crds.group_name(mode))]
    assert all_features.missing_kinds(mode, named) == []


def test_a_malformed_policy_record_is_said_not_guessed(installed: Cluster, tmp_path: Path) -> None:
    """A record whose policy cannot be read (edited by hand) is a warning naming the workload; the
    other workloads' policies are still checked."""
    rendered = render_file(str(all_features.FIXTURE), PROBES, GovernOptions("crd-probe"))
    assert rendered.ok
    catalog = next(
        o for o in rendered.objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "catalog-v1"
    )
    annotations = pod_template(catalog)["metadata"]["annotations"]
    record = json.loads(annotations[status.STATUS])
    del record["policy"]["context"]["ports"]
    annotations[status.STATUS] = json.dumps(record)
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(rendered.objects))
    report = run(installed, path, registry=PROBES)
    found = checks(report, PROBE_GROUP_NAME)
    [malformed] = [c for c in found if c.reason == "cannot-verify"]
    assert malformed.status is Status.WARNING and "Deployment/store/catalog-v1" in malformed.message
    assert len(found) == 1 + len(PROBE_EMITS)  # the other components still render every probe kind


def test_kubernetes_version_priority() -> None:
    ordered = ["beta", "v1alpha1", "v1alpha2", "v2alpha1", "v1beta1", "v1beta3", "v1", "v2"]
    assert sorted(reversed(ordered), key=policy_crds.priority) == ordered


def _gone(cluster: Cluster, name: str) -> None:
    """Delete a CRD and wait until the apiserver has finished with it (its finalizer runs in-process)."""
    path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
    cluster.cp.request("DELETE", path)
    deadline = time.monotonic() + ESTABLISH_TIMEOUT
    while cluster.cp.request("GET", path)[0] != 404:
        assert time.monotonic() < deadline, f"CRD {name} still there after {ESTABLISH_TIMEOUT:.0f}s"
        time.sleep(0.1)


@pytest.fixture
def linkerd_2_16(installed: Cluster) -> Iterator[Cluster]:
    """Linkerd's CRDs as an older release left them: no HTTPLocalRateLimitPolicy (2.17+), and a Server
    CRD that stops at v1beta2 (v1beta3, with accessPolicy, is 2.17+). Restored afterwards."""
    originals = {d["metadata"]["name"]: d for d in crds.crd_documents(crds.LINKERD)}
    server = json.loads(json.dumps(originals["servers.policy.linkerd.io"]))
    server["spec"]["versions"] = [v for v in server["spec"]["versions"] if v["name"] != "v1beta3"]
    server["spec"]["versions"][-1]["storage"] = True
    for name in ("servers.policy.linkerd.io", "httplocalratelimitpolicies.policy.linkerd.io"):
        _gone(installed, name)
    install(installed, [server])
    yield installed
    _gone(installed, "servers.policy.linkerd.io")
    install(
        installed,
        [originals[n] for n in ("servers.policy.linkerd.io", "httplocalratelimitpolicies.policy.linkerd.io")],
    )


def test_verify_on_an_older_linkerd_says_too_old_and_missing(linkerd_2_16: Cluster) -> None:
    """The real linkerd renderer's kinds against a cluster whose Linkerd is older than they need."""
    report = run(linkerd_2_16, all_features.FIXTURE, mode="linkerd")
    found = _by_kind(checks(report, policy_crds.group_name("linkerd")))
    server, limit = found["Server"], found["HTTPLocalRateLimitPolicy"]
    assert (server.status, server.reason) == (Status.FAILED, "too-old"), problems(report)
    assert "serves Server only as v1alpha1, v1beta1, v1beta2" in server.message
    assert (limit.status, limit.reason) == (Status.FAILED, "not-installed")
    assert server.fix == limit.fix == policy_crds.INSTALL_FIX["linkerd"]
    assert {found[k].status for k in ("HTTPRoute", "AuthorizationPolicy", "MeshTLSAuthentication")} == {
        Status.OK
    }
