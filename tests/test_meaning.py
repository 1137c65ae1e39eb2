"""Meaning as Kubernetes reads it never changes, on any engine (issue 9, kind 3).

Kubernetes reads manifests YAML 1.1-style: `runAsNonRoot: yes` is true, `1:30` is 90, `0777` is 511.
For every engine (the fast one with either reader, the comment-preserving round trip, the KRM
function), the YAML 1.1 reading (PyYAML safe_load) of a governed document equals that of its input,
except for the keys meshform owns; the round-trip engines also keep each unchanged scalar's text.
The scalars: reliability.md's table, as values and keys, and hypothesis-generated plain scalars.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from meshform.core.transform import transform
from meshform.frontends import krm
from meshform.model.config import TransformConfig
from meshform.modes import DEFAULT
from meshform.yamlio.streams import FAST, ROUND_TRIP, emit, load_text

# reliability.md's table and its relatives. `=` and `<<` are left out as values and `<<` as a key:
# YAML 1.1 gives them no scalar reading (PyYAML refuses them; `<<` is the merge key).
TABLE = ["on", "y", "NO", "0777", "08", "0o17", "1:30", "1e3", ".inf", "~", "2024-01-01"]
RELATIVES = [
    *("yes", "Yes", "Off", "off", "TRUE", "Null", "null", "n", "N"),
    *("1_000", "0b101", "0x1F", "+12", "-0", "007", "1:30:00", "190:20:30.15"),
    *("1.50", ".5", "-.inf", ".NaN", "1.0e+3", "12e03", "0."),
    *("2001-12-14t21:59:43.10-05:00", "2024-1-1"),
]
VALUES = TABLE + RELATIVES
KEYS = [*TABLE, "=", "0x1F", "1_000", "190:20:30.15", "2001-12-14t21:59:43.10-05:00", "n"]
OWNED = ("sidecar.istio.io/inject", "meshform.dev/status")


def document(values: list[str], keys: list[str]) -> str:
    """A Deployment carrying the scalars in block and flow mappings and sequences, as values and keys."""
    lines = [
        "# a comment that must survive",
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        "  name: web",
        "x-values:",
        *(f"  k{i}: {v}" for i, v in enumerate(values)),
        "x-list:",
        *(f"- {v}" for v in values),
        f"x-flow: [{', '.join(values)}]",
        f"x-flow-map: {{{', '.join(f'f{i}: {v}' for i, v in enumerate(values))}}}",
        "x-keys:",
        *(f"  {k}: key{i}" for i, k in enumerate(keys)),
        "spec:",
        "  selector:",
        "    matchLabels: {app: web}",
        "  template:",
        "    metadata:",
        "      labels: {app: web}",
        "    spec:",
        "      automountServiceAccountToken: no",
        "      containers:",
        "      - name: web",
        "        image: nginx",
        "        stdin: yes",
        "        securityContext:",
        "          runAsNonRoot: yes",
        "          readOnlyRootFilesystem: on",
        "          allowPrivilegeEscalation: NO",
        f"        x-values: {{{', '.join(f'c{i}: {v}' for i, v in enumerate(values))}}}",
    ]
    return "\n".join(lines) + "\n"


def kubernetes_reading(value: Any) -> Any:
    """The YAML 1.1 reading, made comparable: every non-string tagged with its type (1 == True ==
    1.0 in Python, not in Kubernetes), NaN equal to itself."""
    if isinstance(value, dict):
        return {kubernetes_reading(k): kubernetes_reading(v) for k, v in value.items()}
    if isinstance(value, list):
        return [kubernetes_reading(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    if isinstance(value, dt.date | dt.datetime):
        return (type(value).__name__, value.isoformat())
    if value is None or isinstance(value, str):
        return value
    return (type(value).__name__, value)


def without_owned(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["spec"]["template"]["metadata"]
    for field in ("labels", "annotations"):
        for key in OWNED:
            (meta.get(field) or {}).pop(key, None)
    if meta.get("annotations") == {}:
        del meta["annotations"]
    return obj


# ----------------------------------------------------------------------------------------- engines


Engine = Callable[[str], str]


def _transform(engine: str) -> Engine:
    def run(text: str) -> str:
        chunks = load_text(text, "in.yaml", engine)
        diags = transform([i for c in chunks for i in c.items], TransformConfig(mode="istio"), DEFAULT)
        assert not [d for d in diags if d.level == "error"], diags
        assert any(c.changed for c in chunks)
        return emit(chunks, engine)

    return run


def _krm(text: str) -> str:
    """The document as the only item of a ResourceList; the item that comes back, as a document."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    item = "".join(("- " if i == first else "  ") + line + "\n" for i, line in enumerate(lines))
    resource_list = (
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"
        "functionConfig: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {mode: istio}}\n"
        "items:\n" + item
    )
    out, diags = krm.run(resource_list, DEFAULT)
    assert not [d for d in diags if d.level == "error"], diags
    items = out.split("\nitems:\n", 1)[1].split("\nresults:", 1)[0]
    return "".join(line[2:] + "\n" for line in items.splitlines())  # "- " and "  " off each line


ENGINES = {
    "fast-pyyaml": (_transform(FAST), {"MESHFORM_YAML_ENGINE": "pyyaml"}),
    "fast-yaml-rs": (_transform(FAST), {}),
    "round-trip": (_transform(ROUND_TRIP), {}),
    "krm": (_krm, {}),
}
KEEPS_TEXT = ("round-trip", "krm")


@pytest.fixture(params=list(ENGINES))
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Engine]:
    name = str(request.param)
    run, env = ENGINES[name]
    monkeypatch.delenv("MESHFORM_YAML_ENGINE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if name == "fast-yaml-rs":
        pytest.importorskip("yaml_rs", reason="the yaml-rs reader (meshform[fast]) is not installed")
    return name, run


def assert_same_meaning(name: str, run: Engine, text: str) -> None:
    before = yaml.safe_load(text)
    out = run(text)
    after = without_owned(yaml.safe_load(out))
    assert kubernetes_reading(after) == kubernetes_reading(before), out
    if name in KEEPS_TEXT:  # every line meshform did not touch is still there, as written
        written = {line.strip() for line in out.splitlines()}
        kept = [ln for ln in text.splitlines() if "labels:" not in ln and ln.strip() not in ("metadata:",)]
        assert [ln for ln in kept if ln.strip() not in written] == []


def test_scalar_table_keeps_its_meaning(engine: tuple[str, Engine]) -> None:
    name, run = engine
    assert_same_meaning(name, run, document(VALUES, KEYS))


def test_round_trip_keeps_yaml11_booleans_as_written() -> None:
    out = _transform(ROUND_TRIP)(document(["yes"], ["on"]))
    for line in ("  k0: yes", "- yes", "  on: key0", "        stdin: yes", "          runAsNonRoot: yes"):
        assert line in out.splitlines()
    assert '"yes"' not in out and '"on"' not in out


@pytest.mark.parametrize("engine_name", [FAST, ROUND_TRIP])
@pytest.mark.parametrize(
    ("written", "warned"), [("yes", True), ("on", True), ('"yes"', False), ("no", False)]
)
def test_every_engine_reads_like_kubernetes(
    engine_name: str, written: str, warned: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The core decides on Kubernetes' reading whatever the engine: `hostNetwork: yes` is true."""
    monkeypatch.delenv("MESHFORM_YAML_ENGINE", raising=False)
    text = document([], []).replace("      containers:", f"      hostNetwork: {written}\n      containers:")
    chunks = load_text(text, "in.yaml", engine_name)
    diags = transform([i for c in chunks for i in c.items], TransformConfig(mode="istio"), DEFAULT)
    assert any(d.code == "MF401" for d in diags) is warned


# ------------------------------------------------------------------------------ generated scalars

SCALAR_CHARS = "0123456789.:-+_eEoxbOXBnNyYtTrRuUfFaAlLsS~=<,"


def _plain_scalar(text: str) -> bool:
    """Is TEXT one plain scalar that YAML 1.1 reads, the same in block and in flow context?"""
    try:
        block, flow = yaml.safe_load(f"k: {text}\n"), yaml.safe_load(f"[{text}]")
    except yaml.YAMLError:
        return False
    if not (isinstance(block, dict) and list(block) == ["k"]) or isinstance(block["k"], dict | list):
        return False
    return bool(kubernetes_reading(flow) == [kubernetes_reading(block["k"])])


plain_scalars = st.one_of(
    st.sampled_from(VALUES), st.text(alphabet=SCALAR_CHARS, min_size=1, max_size=10).filter(_plain_scalar)
)


# The engine fixture only sets the reader's environment, the same for every generated input.
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(values=st.lists(plain_scalars, min_size=1, max_size=6), keys=st.lists(plain_scalars, max_size=4))
def test_generated_scalars_keep_their_meaning(
    engine: tuple[str, Engine], values: list[str], keys: list[str]
) -> None:
    name, run = engine
    text = document(values, keys)
    try:
        assume(isinstance(yaml.safe_load(text), dict))  # duplicate or unreadable keys: no 1.1 reading
    except yaml.YAMLError:
        assume(False)
    readings = [next(iter(yaml.safe_load(f"{k}: v"))) for k in keys]
    # Two spellings of one key (`0` and `0.`, `on` and `yes`) are a duplicate key: refused, located.
    assume(all(a != b and repr(a) != repr(b) for i, a in enumerate(readings) for b in readings[i + 1 :]))
    assert_same_meaning(name, run, text)
