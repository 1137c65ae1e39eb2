"""Every object meshform renders for an application using every policy feature, in every mode under
best-effort, passes its schema: a custom resource its CRD's openAPIV3Schema (tests/policy/crds.py), a
Kubernetes object the strict Kubernetes schema (tests/k8s_schema.py). And the checks can fail: each
structural rule the loader applies refuses a broken object."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.policy import all_features, crds
from tests.policy.crds import schema_errors


@pytest.mark.parametrize("mode", all_features.modes())
def test_every_rendered_object_passes_its_schema(mode: str) -> None:
    catalogue = crds.require(crds.for_mode, mode)
    checked = all_features.objects(mode)
    for obj in checked:
        assert schema_errors(obj, catalogue) == [], f"{mode}: {obj['kind']}/{obj['metadata']['name']}"
    assert {o["kind"] for o in checked} >= {"Deployment", "StatefulSet", "Service"}


@pytest.mark.parametrize("mode", all_features.expected_kinds_params())
def test_each_mode_emits_the_kinds_it_promises(mode: str) -> None:
    assert all_features.missing_kinds(mode, all_features.objects(mode)) == []


# ------------------------------------------------------------------------- the checks can fail


def _gateway() -> dict[str, Any]:
    listener = {"name": "mesh", "port": 15008, "protocol": "HBONE"}
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "reviews-waypoint", "namespace": "store"},
        "spec": {"gatewayClassName": "istio-waypoint", "listeners": [listener]},
    }


def _server() -> dict[str, Any]:
    return {
        "apiVersion": "policy.linkerd.io/v1beta3",
        "kind": "Server",
        "metadata": {"name": "reviews-http", "namespace": "store"},
        "spec": {"podSelector": {"matchLabels": {"app": "reviews"}}, "port": "http"},
    }


def _virtual_service() -> dict[str, Any]:
    route = {"route": [{"destination": {"host": "reviews"}}], "timeout": "2s"}
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "reviews", "namespace": "store"},
        "spec": {"hosts": ["reviews"], "http": [route]},
    }


def test_valid_hand_written_objects_pass() -> None:
    istio = crds.require(crds.istio_and_gateway_api)
    linkerd = crds.require(crds.vendored, "linkerd")
    assert istio.errors(_gateway()) == []
    assert istio.errors(_virtual_service()) == []
    assert linkerd.errors(_server()) == []
    assert linkerd.errors({**_server(), "spec": {**_server()["spec"], "port": 8080}}) == []


def test_unknown_fields_are_errors_where_the_schema_declares_the_fields() -> None:
    istio = crds.require(crds.istio_and_gateway_api)
    vs = _virtual_service()
    vs["spec"]["http"][0]["retry"] = {"attempts": 1}  # the field is `retries`
    vs["spec"]["hosts"].append(7)
    assert istio.errors(vs) == [
        "spec.hosts.1: 7 is not of type 'string'",
        "spec.http.0: Additional properties are not allowed ('retry' was unexpected)",
    ]


def test_cel_duration_floor_and_int_or_string() -> None:
    istio = crds.require(crds.istio_and_gateway_api)
    vs = _virtual_service()
    vs["spec"]["http"][0]["timeout"] = "0.5ms"
    assert istio.errors(vs) == ["spec.http.0.timeout: '0.5ms': must be a valid duration greater than 1ms"]
    linkerd = crds.require(crds.vendored, "linkerd")
    for port in (True, 80.5, None, ["http"]):
        server = _server()
        server["spec"]["port"] = port
        errors = linkerd.errors(server)
        assert f"spec.port: {port!r} is not an integer or a string (x-kubernetes-int-or-string)" in errors


def test_list_type_map_keys_must_be_unique() -> None:
    istio = crds.require(crds.istio_and_gateway_api)
    gw = _gateway()
    gw["spec"]["listeners"].append(copy.deepcopy(gw["spec"]["listeners"][0]))
    assert "spec.listeners: duplicate entries in a list-type map: ['mesh']" in istio.errors(gw)


def test_metadata_is_checked_as_the_apiserver_checks_it() -> None:
    istio = crds.require(crds.istio_and_gateway_api)
    vs = _virtual_service()
    vs["metadata"]["name"] = "Reviews_v1"
    vs["metadata"]["labels"] = {"app.kubernetes.io/name": "x" * 64}
    errors = istio.errors(vs)
    assert any(e.startswith("metadata.name: 'Reviews_v1' does not match") for e in errors), errors
    assert any(e.startswith("metadata.labels.app.kubernetes.io/name: 'xxx") for e in errors), errors


def test_an_object_no_crd_serves_is_an_error() -> None:
    istio = crds.require(crds.istio_and_gateway_api)
    assert istio.errors({**_virtual_service(), "apiVersion": "networking.istio.io/v2"}) == [
        "no served CRD version for networking.istio.io/v2 VirtualService"
    ]


def test_an_object_two_bundles_define_must_pass_both() -> None:
    """Linkerd bundles its own copy of Gateway API's HTTPRoute; an object must pass that one and the
    Gateway API's v1.6.3, each error naming the bundle that refused it."""
    linkerd = crds.require(crds.for_mode, "linkerd")
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "reviews-http", "namespace": "store"},
        "spec": {
            "parentRefs": [{"group": "core", "kind": "Service", "name": "reviews", "port": 9080}],
            "rules": [{"backendRefs": [{"name": "reviews-v1", "port": 9080, "weight": 75}]}],
        },
    }
    assert linkerd.errors(route) == []
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = -1
    errors = linkerd.errors(route)
    assert {e.split("]")[0] + "]" for e in errors} == {"[linkerd 2.18]", "[gateway-api v1.6.3 standard]"}
