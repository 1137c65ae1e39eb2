"""The pieces of verify that need no cluster: selectors, kubeconfig resolution, answer classification,
the dry-run verdicts, the report schema, and that offline commands never import verify."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from meshform.model.modes_file import load_registry
from meshform.modes import DEFAULT
from meshform.verify import dryrun, report
from meshform.verify.client import Answer, Kind, _classify, _network_answer
from meshform.verify.kubeconfig import KubeconfigError, load
from meshform.verify.results import Report, Status, fail, ok, warn
from meshform.verify.selectors import matches, never_matches
from meshform.verify.targets import Target
from verify.controlplane import ROOT


@pytest.mark.parametrize(
    ("expr", "labels", "expected"),
    [
        ({"key": "a", "operator": "In", "values": ["x"]}, {"a": "x"}, True),
        ({"key": "a", "operator": "In", "values": ["x"]}, {}, False),
        ({"key": "a", "operator": "NotIn", "values": ["x"]}, {}, True),
        ({"key": "a", "operator": "NotIn", "values": ["x"]}, {"a": "x"}, False),
        ({"key": "a", "operator": "Exists"}, {"a": ""}, True),
        ({"key": "a", "operator": "DoesNotExist"}, {"a": ""}, False),
        ({"key": "a", "operator": "Gt", "values": ["1"]}, {"a": "2"}, False),
    ],
)
def test_selector_expressions(expr: dict[str, object], labels: dict[str, str], expected: bool) -> None:
    assert matches({"matchExpressions": [expr]}, labels) is expected


def test_selector_match_labels_and_empty() -> None:
    assert matches(None, {}) and matches({}, {"a": "b"})
    assert matches({"matchLabels": {"a": "b"}}, {"a": "b", "c": "d"})
    assert not matches({"matchLabels": {"a": "b"}}, {"a": "c"})
    assert never_matches({"matchLabels": {"istio.io/deactivated": "never-match"}})
    assert not never_matches({"matchLabels": {"istio-injection": "enabled"}})


def _kubeconfig(tmp: Path, user: dict[str, object], **extra: object) -> Path:
    (tmp / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    doc = {
        "clusters": [
            {"name": "c", "cluster": {"server": "https://k:6443/", "certificate-authority": "ca.crt"}}
        ],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "team"}}],
        **extra,
    }
    path = tmp / "config"
    path.write_text(json.dumps(doc))
    return path


def test_kubeconfig_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    endpoint = load(str(_kubeconfig(tmp_path, {"tokenFile": "tok"}, **{"current-context": "ctx"})))
    assert endpoint.server == "https://k:6443" and endpoint.namespace == "team"
    assert endpoint.ca_data == b"-----BEGIN CERTIFICATE-----\n"
    assert endpoint.token_file == str(tmp_path / "tok")


@pytest.mark.parametrize(
    ("user", "extra", "words"),
    [
        ({"token": "t"}, {}, "no current-context"),
        ({"auth-provider": {"name": "gcp"}}, {"current-context": "ctx"}, "auth-provider 'gcp'"),
        ({"token": "t"}, {"current-context": "other"}, "no context named 'other'"),
        ({"exec": {"command": "x"}}, {"current-context": "ctx"}, "needs command and apiVersion"),
    ],
)
def test_kubeconfig_errors_say_what_is_missing(
    tmp_path: Path, user: dict[str, object], extra: dict[str, object], words: str
) -> None:
    with pytest.raises(KubeconfigError, match=words):
        load(str(_kubeconfig(tmp_path, user, **extra)))


def test_answers_keep_their_reason() -> None:
    rbac = {"message": 'pods is forbidden: User "x" cannot create resource "pods"'}
    admission = {"message": 'pods "p" is forbidden: error looking up service account ns/sa'}
    assert _classify(403, rbac, b"").kind is Kind.FORBIDDEN
    assert _classify(403, admission, b"").kind is Kind.REJECTED
    assert _classify(404, {}, b"").kind is Kind.NOT_FOUND
    assert _classify(504, {}, b"").kind is Kind.TIMEOUT
    assert _classify(500, {}, b"").kind is Kind.ERROR
    dns = _network_answer(socket.gaierror(-2, "Name or service not known"), None)
    assert dns.kind is Kind.UNREACHABLE and dns.message.startswith("DNS lookup failed")
    assert _network_answer(TimeoutError(), None).kind is Kind.TIMEOUT
    tls = ssl.SSLCertVerificationError()
    tls.verify_message = "unable to get local issuer certificate"
    assert "TLS verification failed" in _network_answer(tls, None).message


def _target(mode: str) -> Target:
    spec = {"containers": [{"name": "app", "image": "x"}]}
    return Target("Deployment", "api", "shop", mode, {"metadata": {}, "spec": spec}, "app.yaml:1")


def test_a_webhook_that_cannot_dry_run_is_cannot_verify() -> None:
    # The apiserver's own words for a webhook whose sideEffects is Unknown or Some (such a
    # configuration can no longer be created through admissionregistration/v1, only kept from older
    # clusters, so this path is exercised here rather than on the test apiserver).
    msg = 'admission webhook "sidecar-injector.istio.io" does not support dry run'
    check = dryrun.refused(_target("istio"), Answer(Kind.REJECTED, None, msg, 400))
    assert check.status is Status.WARNING and check.reason == "cannot-verify"


def test_dry_run_verdicts() -> None:
    def verdict(mode: str, before: dict[str, int], after: dict[str, int]) -> set[str]:
        return {c.reason for c in dryrun.judge(_target(mode), DEFAULT, Counter(before), Counter(after))}

    assert verdict("istio", {}, {"app": 1, "istio-proxy": 1}) == {"ok"}
    assert verdict("istio", {}, {"app": 1}) == {"not-injected"}
    assert verdict("istio", {"istio-proxy": 1}, {"istio-proxy": 2}) == {"injected-twice"}
    assert verdict("linkerd", {}, {"linkerd-proxy": 1, "istio-proxy": 1}) == {"two-meshes", "ok"}
    assert verdict("kubernetes-native", {}, {"app": 1}) == {"ok"}
    assert verdict("builtin", {"meshform-proxy": 1}, {"meshform-proxy": 1}) == {"ok"}


def test_report_text_and_json_schema() -> None:
    checks = (ok("a", "fine"), warn("a", "hmm", "do x", "skew"), fail("b", "bad", "do y", "forbidden"))
    result = Report("ctx", "https://k", checks)
    text = report.text(result)
    assert text.splitlines()[:6] == ["a", "-", "\u221a fine", "\u203c hmm", "    fix: do x", ""]
    assert text.rstrip().endswith("Status check results are \u00d7 (1 failed, 1 warning, 1 passed)")
    schema = json.loads((ROOT / "schemas/verify-report.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(json.loads(report.as_json(result)))


def test_modes_file_accepts_control_plane_objects(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: GovernanceModes\nmodes:\n- name: acme\n"
        "  podLabels: {acme.io/inject: enabled}\n  controlPlaneObjects:\n"
        "  - {apiVersion: apps/v1, kind: Deployment, namespace: acme, name: acme-cp, ready: true}\n"
    )
    mode = load_registry(str(tmp_path / "m.yaml")).modes["acme"]
    [obj] = mode.control_plane_objects  # type: ignore[attr-defined]
    assert (obj.kind, obj.namespace, obj.name, obj.ready) == ("Deployment", "acme", "acme-cp", True)


def test_offline_commands_never_import_verify() -> None:
    code = "import sys, meshform.cli; print([m for m in sys.modules if m.startswith('meshform.verify')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
