"""Exact switching: idempotent, reversible, deterministic — over the examples and generated apps."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from conftest import EXAMPLES, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshform.core import status
from meshform.core.expand import Expansion, expand
from meshform.core.govern import GovernOptions, govern
from meshform.core.workloads import pod_template
from meshform.frontends.emit import render_stream
from meshform.model import application as model
from meshform.model.semantics import Locator
from meshform.modes import DEFAULT, MODES
from meshform.yamlio.reader import Document, read_file

ALL_MODES = list(MODES)


def _govern(app: model.Application, expansion: Expansion, mode: str, doc: Document) -> str:
    objects, _ = govern(app, expansion, DEFAULT, GovernOptions(mode), Locator(doc))
    return render_stream(objects, "yaml")


def _fresh(app: model.Application, mode: str, doc: Document) -> str:
    return _govern(app, expand(app), mode, doc)


def _example(path: object) -> tuple[model.Application, Document]:
    doc = read_file(str(path))[0]
    return model.build(doc.data), doc


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.parent.name for e in EXAMPLES])
@pytest.mark.parametrize("a", ALL_MODES)
def test_switch_to_every_mode_and_back(example: object, a: str) -> None:
    app, doc = _example(example)
    want = _fresh(app, a, doc)
    for b in ALL_MODES:
        expansion = expand(app)
        _govern(app, expansion, a, doc)
        switched = _govern(app, expansion, b, doc)
        assert switched == _fresh(app, b, doc), f"{a} → {b} differs from rendering {b} directly"
        assert _govern(app, expansion, a, doc) == want, f"{a} → {b} → {a} is not {a}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.parent.name for e in EXAMPLES])
@pytest.mark.parametrize("mode", ALL_MODES)
def test_ungovern_restores_the_plain_workloads(example: object, mode: str) -> None:
    app, doc = _example(example)
    plain = copy.deepcopy(expand(app).objects)
    expansion = expand(app)
    _govern(app, expansion, mode, doc)
    for obj in expansion.objects:
        template = pod_template(obj)
        record = status.read(template if template is not None else obj)
        if record is not None and template is not None:
            status.remove(template, record)
        elif record is not None:
            status.remove_service(obj, record)
    assert expansion.objects == plain


# ------------------------------------------------------------------------------ generated applications

NAMES = st.sampled_from(["web", "api", "db", "cache", "worker", "auth", "cart", "search"])
PROTOCOLS = st.sampled_from(["http", "http2", "grpc", "tcp", "udp"])
WORKLOADS = st.sampled_from(["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"])
SCALAR_TEXT = st.sampled_from(
    ["on", "yes", "0777", "1:30", "a: b", "x\ny", "#c", "*a", "!!str", "{x}", "plain"]
)


@st.composite
def applications(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    components = []
    for i, name in enumerate(names):
        ports = [
            {"name": f"p{j}", "port": 8000 + j, "protocol": draw(PROTOCOLS)}
            for j in range(draw(st.integers(0, 2)))
        ]
        workload = draw(WORKLOADS)
        comp: dict[str, Any] = {"name": name, "image": f"{name}:1", "workload": workload, "ports": ports}
        if workload == "CronJob":
            comp["schedule"] = "*/5 * * * *"
        targets = [n for n in names[:i] if draw(st.booleans())]
        comp["dependencies"] = [t for t in targets if any(c["name"] == t and c["ports"] for c in components)]
        comp["env"] = {f"V{k}": draw(SCALAR_TEXT) for k in range(draw(st.integers(0, 2)))}
        if draw(st.booleans()):
            comp["governanceMode"] = draw(st.sampled_from(ALL_MODES))
        if draw(st.integers(0, 5)) == 0:
            comp["hostNetwork"] = True
        if draw(st.booleans()):
            comp["annotations"] = {"team.example.com/owner": draw(SCALAR_TEXT)}
        components.append(comp)
    return {
        "apiVersion": "meshform.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "gen", "namespace": "gen"},
        "spec": {"ownsNamespace": draw(st.booleans()), "components": components},
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(applications(), st.sampled_from(ALL_MODES), st.sampled_from(ALL_MODES))
def test_generated_apps_switch_exactly(data: dict[str, Any], a: str, b: str) -> None:
    doc = Document(data, "gen.yaml", 0, {})
    app = model.build(data)
    want_a = _fresh(app, a, doc)
    assert _fresh(app, a, doc) == want_a  # deterministic
    expansion = expand(app)
    assert _govern(app, expansion, a, doc) == want_a
    assert _govern(app, expansion, a, doc) == want_a  # idempotent: f(f(x)) == f(x)
    assert _govern(app, expansion, b, doc) == _fresh(app, b, doc)
    assert _govern(app, expansion, a, doc) == want_a  # A → B → A == A


@pytest.mark.parametrize(
    "env",
    [{"PYTHONHASHSEED": "1"}, {"PYTHONHASHSEED": "4242", "TZ": "Asia/Kolkata"}, {"LC_ALL": "C", "TZ": "UTC"}],
)
def test_same_bytes_whatever_the_hash_seed_locale_or_zone(env: dict[str, str]) -> None:
    args = ("render", "examples/bookinfo/app.yaml", "--mode", "builtin")
    baseline = run_cli(*args, env={"PYTHONHASHSEED": "0"})
    other = run_cli(*args, env=env)
    assert baseline.returncode == other.returncode == 0
    assert hashlib.sha256(baseline.stdout).hexdigest() == hashlib.sha256(other.stdout).hexdigest()
