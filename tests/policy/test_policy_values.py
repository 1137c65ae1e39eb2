"""The numbers of the traffic policy: every one is finite and inside what the narrowest mesh field it
renders into can carry (a max-valued model passes every CRD schema and `envoy --mode validate`),
retries.on takes only distinct conditions and error status codes, and the messages name the allowed
forms. The same holds for the policy a status record carries into `transform`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, render, run_cli, transform_text

from meshform.core import status
from meshform.core.govern import GovernOptions
from meshform.frontends.emit import render_stream
from meshform.frontends.render import render_file
from meshform.modes import DEFAULT, MODES
from tests import envoy_harness
from tests.policy import crds
from tests.policy.test_crd_schemas import schema_errors

FIXTURES = ROOT / "tests" / "fixtures" / "policy" / "values"
INT32_MAX = 2147483647
COUNTS = (
    ("circuitBreaker", "maxConnections"),
    ("circuitBreaker", "maxPendingRequests"),
    ("circuitBreaker", "maxRequests"),
    ("circuitBreaker", "maxRetries"),
    ("outlierDetection", "consecutive5xx"),
    ("rateLimit", "requestsPerSecond"),
    ("rateLimit", "burst"),
)
PERCENTS = (
    "{faultInjection: {abort: {httpStatus: 503, percent: %s}}}",
    "{faultInjection: {delay: {fixedDelay: 1s, percent: %s}}}",
    "{outlierDetection: {maxEjectionPercent: %s}}",
)


def _app(tmp_path: Path, traffic: str, mode: str = "istio") -> Path:
    """productpage → reviews with `traffic` (YAML flow text) on reviews; line 13 holds the traffic."""
    text = f"""apiVersion: meshform.dev/v1alpha1
kind: Application
metadata: {{name: shop, namespace: shop}}
spec:
  governanceMode: {mode}
  components:
  - name: productpage
    image: ex/pp:1
    ports: [{{name: http, port: 9080}}]
    dependencies: [{{name: reviews}}]
  - name: reviews
    image: ex/rev:1
    traffic: {traffic}
    ports: [{{name: http, port: 9080}}]
"""
    path = tmp_path / "app.yaml"
    path.write_text(text)
    return path


def _count(path: tuple[str, str], value: str) -> str:
    """A traffic block (flow YAML) with one count set to `value` (and what the block requires)."""
    required = ", requestsPerSecond: 1" if path == ("rateLimit", "burst") else ""
    return "{{{}: {{{}: {}{}}}}}".format(*path, value, required)


def _errors(path: Path) -> list[str]:
    result = render(path)
    return [
        f"{d.line}:{d.col} {d.code} {d.message} {d.path}"
        for d in result.diagnostics
        if d.level.name == "ERROR"
    ]


# ------------------------------------------------------------------------------ finding 1: non-finite


@pytest.mark.parametrize("number", [".nan", ".inf", "-.inf", ".NaN", ".Inf"])
@pytest.mark.parametrize("traffic", PERCENTS)
def test_non_finite_percents_are_located_errors(tmp_path: Path, traffic: str, number: str) -> None:
    text = traffic % number
    app = _app(tmp_path, text)
    (error,) = _errors(app)
    key = re.search(r"(\w+): " + re.escape(number), text)
    assert key is not None
    assert error.startswith(f"13:{14 + key.start()} MF106 ")  # at the field's key, as every MF106
    assert "is not a finite number" in error


@pytest.mark.parametrize("path", COUNTS)
def test_non_finite_counts_are_located_errors(tmp_path: Path, path: tuple[str, str]) -> None:
    (error,) = _errors(_app(tmp_path, _count(path, ".nan")))
    assert " MF106 .nan is not a finite number " in error
    assert error.endswith(f"traffic.{path[0]}.{path[1]}")


@pytest.mark.parametrize("mode", ["istio", "builtin", "kuma"])
def test_nan_through_the_cli_is_exit_1_without_traceback(tmp_path: Path, mode: str) -> None:
    app = _app(tmp_path, "{faultInjection: {abort: {httpStatus: 503, percent: .nan}}}", mode)
    done = run_cli("render", str(app), "--mode", mode)
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert done.stdout == b""
    assert "Traceback" not in err and "internal error" not in err
    assert re.search(r"app\.yaml:13:\d+: error MF106 \.nan is not a finite number", err), err


MODES_HEAD = "apiVersion: meshform.dev/v1alpha1\nkind: GovernanceModes\nmodes:\n- name: mine\n"


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("modes.yaml", MODES_HEAD + "  restartOnSwitch: .nan\n", 5),
        # free-form template values: the schema says only "object", a template may render it as a number
        ("modes.yaml", MODES_HEAD + "  sidecar:\n    template: t.j2\n    values: {cpu: .inf}\n", 7),
        (
            "config.yaml",
            "apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nmetadata: {name: t}\n"
            "spec:\n  mode: istio\n  modeOptions:\n    istio: {nativeSidecar: .nan}\n",
            7,
        ),
    ],
)
def test_non_finite_numbers_in_modes_files_and_configs_are_located(
    tmp_path: Path, name: str, text: str, line: int
) -> None:
    path = tmp_path / name
    path.write_text(text)
    manifest = tmp_path / "in.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    option = "--modes-file" if name == "modes.yaml" else "--config"
    args = (
        ("modes", option, str(path))
        if name == "modes.yaml"
        else ("transform", str(manifest), option, str(path))
    )
    done = run_cli(*args)
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "Traceback" not in err and done.stdout == b""
    # a number field says "not a finite number"; a field of another type its type error
    said = r"(-?\.(nan|inf) is not a finite number|nan is not of type 'boolean')"
    assert re.search(rf"{name}:{line}:\d+: error MF\d+ {said}", err), err


# --------------------------------------------------------------------------------- finding 2: bounds


@pytest.mark.parametrize("path", COUNTS)
def test_counts_stop_at_the_narrowest_mesh_field(tmp_path: Path, path: tuple[str, str]) -> None:
    assert _errors(_app(tmp_path, _count(path, str(INT32_MAX)))) == []
    (error,) = _errors(_app(tmp_path, _count(path, str(INT32_MAX + 1))))
    assert f" MF106 {INT32_MAX + 1} is greater than the maximum of {INT32_MAX} " in error


def _max_objects(mode: str) -> list[dict[str, Any]]:
    result = render_file(str(FIXTURES / "max-values.yaml"), DEFAULT, GovernOptions(mode))
    assert result.ok, [str(d) for d in result.diagnostics]
    return [o for o in yaml.safe_load_all(render_stream(result.objects, "yaml")) if o]


@pytest.mark.parametrize("mode", [m for m in MODES if m != "builtin"])
def test_a_max_valued_model_passes_every_crd_schema(mode: str) -> None:
    catalogue = crds.require(crds.for_mode, mode)
    checked = _max_objects(mode)
    for obj in checked:
        assert schema_errors(obj, catalogue) == [], f"{mode}: {obj['kind']}/{obj['metadata']['name']}"


def test_a_max_valued_model_is_a_config_envoy_accepts(tmp_path: Path) -> None:
    boots = envoy_harness.bootstraps(_max_objects("builtin"))
    assert boots
    for name, bootstrap in sorted(boots.items()):
        assert str(INT32_MAX) in bootstrap or name != "catalog"
        work = tmp_path / name
        work.mkdir()
        envoy_harness.validate(bootstrap, work)


# ------------------------------------------------------------------- findings 17, 18: retries.on, forms


def test_retry_status_codes_are_error_codes(tmp_path: Path) -> None:
    assert _errors(_app(tmp_path, "{retries: {attempts: 1, on: [400, 429, 503, 599]}}")) == []
    for code in (100, 200, 304, 399, 600):
        (error,) = _errors(_app(tmp_path, f"{{retries: {{attempts: 1, on: [{code}]}}}}"))
        assert (
            f" MF104 {code} is not allowed here; allowed: 5xx, gateway-error, reset, connect-failure, "
            in error
        )
        assert "retriable-4xx, an integer from 400 to 599 " in error


def test_retry_conditions_list_the_allowed_values(tmp_path: Path) -> None:
    (error,) = _errors(_app(tmp_path, "{retries: {attempts: 1, on: [5xx, bogus]}}"))
    assert error == (
        "13:48 MF104 'bogus' is not allowed here; allowed: 5xx, gateway-error, reset, connect-failure, "
        "retriable-4xx, an integer from 400 to 599 $.spec.components[1].traffic.retries.on[1]"
    )


@pytest.mark.parametrize("on", ["[5xx, 5xx]", "[503, reset, 503]", "[reset, connect-failure, reset]"])
def test_duplicate_retry_conditions_are_refused_at_the_repeat(tmp_path: Path, on: str) -> None:
    (error,) = _errors(_app(tmp_path, f"{{retries: {{attempts: 1, on: {on}}}}}"))
    items = on.strip("[]").split(", ")
    repeat = len(items) - 1
    assert f" MF104 {items[-1]!r} is listed twice ".replace("'503'", "503") in error
    assert error.endswith(f"retries.on[{repeat}]")


@pytest.mark.parametrize(
    "field", ["timeout", "retries: {attempts: 1, perTryTimeout", "outlierDetection: {interval"]
)
@pytest.mark.parametrize("value", ["5x", "1.5", "2 s", "-1s", "1d"])
def test_bad_durations_name_the_allowed_forms(tmp_path: Path, field: str, value: str) -> None:
    closing = "}" * field.count("{")
    (error,) = _errors(_app(tmp_path, f"{{{field}: '{value}'{closing}}}"))
    assert f" MF105 {value!r} is not a Go/Kubernetes-style duration: 250ms, 2s, 1m30s " in error
    assert "^(" not in error  # not the raw pattern


# ------------------------------------------------------------------ findings 1, 6: the status record


def _rendered_istio() -> str:
    done = run_cli("render", str(FIXTURES / "shop.yaml"), "--mode", "istio")
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def _tampered(text: str, change: Any) -> str:
    """The rendered stream with reviews' recorded policy changed by `change(traffic dict)`."""
    docs = list(yaml.safe_load_all(text))
    for doc in docs:
        if doc and doc["kind"] == "Deployment" and doc["metadata"]["name"] == "reviews":
            annotations = doc["spec"]["template"]["metadata"]["annotations"]
            record = json.loads(annotations[status.STATUS])
            change(record["policy"]["context"]["policy"]["traffic"])
            annotations[status.STATUS] = json.dumps(record, allow_nan=True)
    return yaml.safe_dump_all(docs, sort_keys=False)


def _set(block: str, key: str, value: Any) -> Any:
    return lambda traffic: traffic[block].__setitem__(key, value)


TAMPERED = {
    "count as a string": (_set("circuitBreaker", "maxConnections", "100"), "'100' is not of type 'integer'"),
    "status code 42": (
        lambda t: t["faultInjection"]["abort"].__setitem__("httpStatus", 42),
        "42 is less than the minimum of 200",
    ),
    "unknown field": (lambda t: t.__setitem__("bogus", 1), "'bogus' was unexpected"),
    "NaN percent": (_set("outlierDetection", "maxEjectionPercent", float("nan")), "not a finite number"),
    "infinite count": (_set("circuitBreaker", "maxRequests", float("inf")), "not a finite number"),
    "oversized count": (
        _set("outlierDetection", "consecutive5xx", INT32_MAX + 1),
        "greater than the maximum",
    ),
    "bad duration": (_set("outlierDetection", "interval", "10 s"), "does not match"),
    "duration over a year": (lambda t: t.__setitem__("timeout", "8761h"), "is longer than a year"),
    "backoff reversed": (
        lambda t: t["retries"].__setitem__("backoff", {"baseInterval": "1s", "maxInterval": "10ms"}),
        "maxInterval is shorter than baseInterval",
    ),
    "duplicate retry condition": (lambda t: t["retries"].__setitem__("on", ["5xx", "5xx"]), "non-unique"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
@pytest.mark.parametrize("mode", ["kuma", "istio"])
def test_a_recorded_policy_is_checked_as_the_model_is(case: str, mode: str) -> None:
    change, expected = TAMPERED[case]
    text = _tampered(_rendered_istio(), change)
    _out, diags = transform_text(text, mode)
    errors = [d for d in diags if d.level.name == "ERROR"]
    assert [d.code for d in errors] == ["MF250"], [str(d) for d in diags]
    (error,) = errors
    assert expected in error.message, error.message
    assert "records a traffic policy the model could not declare" in error.message
    assert error.path.endswith(f".annotations.{status.STATUS}")
    line = text.splitlines()[error.line - 1]
    assert status.STATUS in line


def test_an_untouched_record_still_switches() -> None:
    out, diags = transform_text(_rendered_istio(), "kuma")
    assert [d for d in diags if d.level.name == "ERROR"] == []
    assert "MeshCircuitBreaker" in out


# ------------------------------------------------------------------ finding 7: MF910 from transform


def test_transform_mf910_names_the_modes_that_can() -> None:
    _out, diags = transform_text(_rendered_istio(), "linkerd")
    refused = {d.message.split(" for ")[0]: d.message for d in diags if d.code == "MF910"}
    assert refused["linkerd cannot enforce circuitBreaker"].endswith(
        "; modes that can: builtin, istio, istio-ambient, kuma, consul"
    )
    # consul injects faults only with modeOptions.consul.enterprise: not offered without it
    assert refused["linkerd cannot enforce faultInjection.abort"].endswith(
        "; modes that can: builtin, istio, istio-ambient, kuma"
    )


# ------------------------------------------------------------ finding 16: retries without `on`, per mode


def test_every_mode_says_what_retries_without_on_mean() -> None:
    done = run_cli("modes", "--capabilities", "-o", "json")
    assert done.returncode == 0, done.stderr.decode()
    meaning = {}
    for mode in json.loads(done.stdout):
        lines = [d for d in mode["defaults"] if d.startswith("retries without `on`: ")]
        assert len(lines) == 1, mode["mode"]
        meaning[mode["mode"]] = lines[0]
    assert set(meaning) == set(MODES)
    assert "connect-failure, refused-stream and 503" in meaning["builtin"]
    assert "unavailable,cancelled,503" in meaning["istio"]
    assert "retryOnConnectFailure only" in meaning["consul"]
    assert "retry.linkerd.io/http" in meaning["linkerd"]


def test_the_istio_default_says_when_once() -> None:
    text = run_cli("modes", "--capabilities").stdout.decode()
    assert not [line for line in text.splitlines() if line.count("nothing is said") > 1]


# ------------------------------------------------------------------ finding 19: a raised burst is said


@pytest.mark.parametrize("mode", ["builtin", "istio"])
def test_a_raised_burst_is_an_mf930_warning_in_every_envoy_mode(tmp_path: Path, mode: str) -> None:
    result = render(_app(tmp_path, "{rateLimit: {requestsPerSecond: 1000, burst: 1}}", mode))
    assert result.ok
    (warning,) = [d for d in result.diagnostics if d.code == "MF930"]
    assert warning.message == (
        "rateLimit burst 1 is smaller than one refill of the token bucket: raised to 50 "
        "(Envoy adds 50 tokens every 50ms)"
    )
    assert warning.path == "$.spec.components[1].traffic"
    kept = render(_app(tmp_path, "{rateLimit: {requestsPerSecond: 1000, burst: 50}}", mode))
    assert [d for d in kept.diagnostics if d.code == "MF930"] == []


# ------------------------------------------ findings 5, 10: values a mode cannot carry, the one rule

OTHERS_APP = ROOT / "tests" / "fixtures" / "policy" / "others" / "app.yaml"  # best-effort
LEFT_OUT = {
    "linkerd": [
        "30:52 retries.on: Linkerd cannot select retries on reset, connect-failure: it retries a refused "
        "stream or a per-try timeout of a retried request by itself; modes that can: builtin, istio, "
        "istio-ambient, kuma, consul",
        "30:92 retries.backoff: Linkerd has no retry backoff; modes that can: builtin, istio, "
        "istio-ambient, kuma",
        "32:45 outlierDetection.interval: Linkerd's failure accrual has no detection interval; modes that "
        "can: builtin, istio, istio-ambient, kuma, consul",
        "32:82 outlierDetection.maxEjectionPercent: Linkerd's failure accrual has no ejection cap; modes "
        "that can: builtin, istio, istio-ambient, kuma, consul",
        "34:43 rateLimit.burst: Linkerd limits a rate, not a burst; modes that can: builtin, istio, "
        "kuma, consul",
    ],
    "consul": [
        "30:30 retries.perTryTimeout: Consul has no per-try timeout; modes that can: builtin, istio, "
        "istio-ambient, linkerd, kuma",
        "30:92 retries.backoff: Consul has no retry backoff (Envoy's 25ms base applies); modes that can: "
        "builtin, istio, istio-ambient, kuma",
        "31:87 circuitBreaker.maxRetries: Consul has no limit on concurrent retries; modes that can: "
        "builtin, istio, istio-ambient, kuma",
    ],
}


@pytest.mark.parametrize("mode", sorted(LEFT_OUT))
def test_best_effort_warns_at_each_value_a_mode_leaves_out(mode: str) -> None:
    result = render(OTHERS_APP, mode)
    assert result.ok
    said = [d for d in result.diagnostics if d.code == "MF932"]
    for d in said:
        assert d.message.startswith(f"{mode} cannot carry ") and d.message.endswith(
            "; left out (best-effort)"
        )
    found = [f"{d.line}:{d.col} {d.message[len(mode) + 14 : -24]}" for d in said]
    assert found == LEFT_OUT[mode]
    assert all(d.level.name == "WARNING" for d in result.diagnostics if d.code == "MF932")


def _strict(tmp_path: Path, traffic: str, mode: str) -> list[str]:
    return [e for e in _errors(_app(tmp_path, traffic, mode)) if " MF931 " in e]


@pytest.mark.parametrize(
    ("mode", "traffic", "field", "able"),
    [
        (
            "linkerd",
            "{rateLimit: {requestsPerSecond: 10, burst: 5}}",
            "rateLimit.burst",
            "builtin, istio, kuma",
        ),
        (
            "linkerd",
            "{retries: {attempts: 2, on: [reset]}}",
            "retries.on",
            "builtin, istio, istio-ambient, kuma",
        ),
        (
            "kuma",
            "{retries: {attempts: 2, on: [420]}}",
            "retries.on",
            "builtin, istio, istio-ambient, linkerd",
        ),
        (
            "kuma",
            "{circuitBreaker: {maxRetries: 0}}",
            "circuitBreaker.maxRetries",
            "builtin, istio, istio-ambient",
        ),
        ("consul", "{retries: {attempts: 2, perTryTimeout: 1s}}", "retries.perTryTimeout", "builtin, istio"),
        # finding 5: Consul sets the route timeout only when requestTimeout > 0 (agent/xds/routes.go)
        ("consul", "{timeout: 0s}", "timeout", "builtin, istio, istio-ambient, linkerd, kuma"),
    ],
)
def test_strict_refuses_a_value_the_mode_cannot_carry_at_the_field(
    tmp_path: Path, mode: str, traffic: str, field: str, able: str
) -> None:
    (error,) = _strict(tmp_path, traffic, mode)
    assert f" MF931 {mode} cannot carry {field}: " in error
    assert f"; modes that can: {able}" in error
    assert error.endswith(f"traffic.{field}")
    done = run_cli("render", str(tmp_path / "app.yaml"), "--mode", mode)
    assert done.returncode == 1 and done.stdout == b""


def test_consul_renders_no_request_timeout_for_0s_under_best_effort(tmp_path: Path) -> None:
    app = _app(tmp_path, "{timeout: 0s, retries: {attempts: 1}}", "consul")
    app.write_text(app.read_text().replace("spec:\n", "spec:\n  policyEnforcement: best-effort\n"))
    result = render(app)
    assert result.ok
    (router,) = [o for o in result.objects if o["kind"] == "ServiceRouter"]
    destination = router["spec"]["routes"][0]["destination"]
    assert "requestTimeout" not in destination and destination["numRetries"] == 1
    assert [d.code for d in result.diagnostics if d.code.startswith("MF93")] == ["MF932"]


@pytest.mark.parametrize(
    "traffic",
    [
        "{outlierDetection: {interval: 0s}}",
        "{outlierDetection: {baseEjectionTime: 0s}}",
        "{retries: {attempts: 1, backoff: {baseInterval: 0s}}}",
        "{retries: {attempts: 1, backoff: {baseInterval: 1ms, maxInterval: 0s}}}",
    ],
)
@pytest.mark.parametrize("mode", ["builtin", "istio", "kuma"])
def test_a_zero_duration_without_meaning_is_refused_in_every_mode(
    tmp_path: Path, traffic: str, mode: str
) -> None:
    errors = [e for e in _errors(_app(tmp_path, traffic, mode)) if " MF933 " in e]
    assert len(errors) == 1, _errors(_app(tmp_path, traffic, mode))
    assert "0s means nothing any mesh can carry" in errors[0]


def test_zero_durations_that_mean_off_render_in_envoy(tmp_path: Path) -> None:
    """timeout, perTryTimeout and fixedDelay 0s mean "off": builtin's config stays valid Envoy."""
    app = _app(
        tmp_path,
        "{timeout: 0s, retries: {attempts: 2, perTryTimeout: 0s}, "
        "faultInjection: {delay: {fixedDelay: 0s, percent: 10}}}",
        "builtin",
    )
    result = render(app)
    assert result.ok, [str(d) for d in result.diagnostics]
    boots = envoy_harness.bootstraps(yaml.safe_load_all(render_stream(result.objects, "yaml")))  # type: ignore[arg-type]
    for name, bootstrap in sorted(boots.items()):
        work = tmp_path / name
        work.mkdir()
        envoy_harness.validate(bootstrap, work)


def test_transform_applies_the_same_rule_to_a_recorded_policy() -> None:
    _out, diags = transform_text(_rendered_istio(), "consul")
    errors = [d for d in diags if d.code == "MF931"]
    assert all(d.level.name == "ERROR" for d in errors)
    assert [d.message for d in errors] == [
        "consul cannot carry retries.perTryTimeout: Consul has no per-try timeout; modes that can: builtin, "
        "istio, istio-ambient, linkerd, kuma",
        "consul cannot carry circuitBreaker.maxRetries: Consul has no limit on concurrent retries; modes "
        "that can: builtin, istio, istio-ambient, kuma",
    ]
