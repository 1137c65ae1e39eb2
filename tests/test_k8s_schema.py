"""Tests for the strict Kubernetes schema helper in tests/k8s_schema.py."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from k8s_schema import available_versions, validate_manifest


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"example.com/owner": "team-a"}},
                "spec": {
                    "serviceAccountName": "web",
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            "env": [{"name": "MODE", "value": "prod"}],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "64Mi"},
                                "limits": {"cpu": 1},
                            },
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                        }
                    ],
                },
            },
        },
    }


def _service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def _cronjob() -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "cleanup"},
        "spec": {
            "schedule": "*/5 * * * *",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 2,
                    "template": {
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "containers": [{"name": "cleanup", "image": "busybox:1.36", "args": ["true"]}],
                        }
                    },
                }
            },
        },
    }


def test_valid_deployment_passes() -> None:
    assert validate_manifest(_deployment()) == []


def test_unknown_container_field_fails_in_strict_schema() -> None:
    manifest = _deployment()
    manifest["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"

    errors = validate_manifest(manifest)

    assert len(errors) == 1
    assert errors[0].startswith("$.spec.template.spec.containers[0]: ")
    assert "'imagePullPolicyy' was unexpected" in errors[0]


def test_valid_service_passes() -> None:
    assert validate_manifest(_service()) == []


def test_service_port_as_string_fails() -> None:
    manifest = _service()
    manifest["spec"]["ports"][0]["port"] = "80"

    errors = validate_manifest(manifest)

    assert errors == ["$.spec.ports[0].port: '80' is not of type 'integer'"]


def test_int_or_string_accepts_both_forms() -> None:
    manifest = _service()
    manifest["spec"]["ports"].append({"name": "metrics", "port": 9090, "targetPort": 9090})

    assert validate_manifest(manifest) == []


def test_cronjob_passes() -> None:
    assert validate_manifest(_cronjob()) == []


def test_errors_are_reported_together_and_sorted_by_path() -> None:
    manifest = _deployment()
    manifest["spec"]["template"]["spec"]["containers"][0]["bogus"] = True
    manifest["spec"]["replicas"] = "two"

    errors = validate_manifest(manifest)

    assert [error.split(": ", 1)[0] for error in errors] == [
        "$.spec.replicas",
        "$.spec.template.spec.containers[0]",
    ]


@pytest.mark.parametrize(
    "manifest",
    [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"k": "v"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        },
    ],
    ids=lambda manifest: manifest["kind"],
)
def test_other_kinds_pass(manifest: dict[str, Any]) -> None:
    assert validate_manifest(manifest) == []


def test_same_result_for_every_spelling_of_a_version() -> None:
    manifest = _deployment()
    manifest["spec"]["template"]["spec"]["containers"][0]["bogus"] = True
    expected = validate_manifest(manifest)

    assert validate_manifest(manifest, "v1.37") == expected
    assert validate_manifest(manifest, "1.37.0") == expected


def test_older_minor_is_selectable() -> None:
    assert "1.36" in available_versions()
    assert validate_manifest(_deployment(), "1.36") == []


def test_input_is_not_modified() -> None:
    manifest = _deployment()
    before = copy.deepcopy(manifest)

    validate_manifest(manifest)

    assert manifest == before


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("v1", "Frobnicator"),
        ("example.com/v1", "Deployment"),
        # same file name as apps/v1 Deployment, but a different API group
        ("apps.example.com/v1", "Deployment"),
        # sub-object schema, not a top-level kind
        ("apps/v1", "DeploymentSpec"),
    ],
)
def test_unknown_kind_raises_lookup_error(api_version: str, kind: str) -> None:
    with pytest.raises(LookupError, match="no Kubernetes schema"):
        validate_manifest({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}})


def test_missing_kind_raises_lookup_error() -> None:
    with pytest.raises(LookupError, match="apiVersion and kind"):
        validate_manifest({"apiVersion": "v1", "metadata": {"name": "x"}})


def test_unknown_version_raises_lookup_error() -> None:
    with pytest.raises(LookupError, match=r"1\.12"):
        validate_manifest(_deployment(), "1.12")
