"""What `render` emits, the API server accepts; what it would not, `validate` refuses, located; and
`render` accepts exactly what `validate` accepts (adv-21).

The API server's rules are written here again, independently of meshform/model/apiserver.py, from
k8s.io/apimachinery's validation (IsQualifiedName, IsValidLabelValue, IsDNS1035Label,
ValidateAnnotations' 256 KiB total, the Job and CronJob name limits), on top of the strict OpenAPI
schemas (tests/k8s_schema.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from k8s_schema import validate_manifest

from meshform.core.govern import GovernOptions
from meshform.core.workloads import pod_template
from meshform.diagnostics import Level
from meshform.frontends.render import check_documents, render_documents
from meshform.modes import DEFAULT, MODES
from meshform.yamlio.reader import load_documents

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
NAME_LIMITS = {"Service": 63, "Job": 63, "CronJob": 52, "StatefulSet": 63, "Namespace": 63}


def _key_ok(key: str) -> bool:
    prefix, slash, name = key.rpartition("/")
    if slash and not (0 < len(prefix) <= 253 and SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(NAME_PART.match(name))


def _meta_problems(meta: dict[str, Any], where: str) -> list[str]:
    found = []
    for key, value in (meta.get("labels") or {}).items():
        if not _key_ok(key) or not (isinstance(value, str) and len(value) <= 63 and LABEL_VALUE.match(value)):
            found.append(f"{where}: label {key}={value!r}")
    annotations = meta.get("annotations") or {}
    found += [f"{where}: annotation key {k}" for k in annotations if not _key_ok(k)]
    if sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items()) > 256 * 1024:
        found.append(f"{where}: annotations over 256 KiB")
    return found


def api_server_refuses(objects: list[dict[str, Any]]) -> list[str]:
    """Everything the API server would refuse in this stream (beyond its OpenAPI schema)."""
    found, seen = [], set()
    for obj in objects:
        meta = obj["metadata"]
        ref = f"{obj['kind']}/{meta['name']}"
        name = meta["name"]
        if (obj["kind"], meta.get("namespace"), name) in seen:
            found.append(f"{ref} twice")
        seen.add((obj["kind"], meta.get("namespace"), name))
        if len(name) > NAME_LIMITS.get(obj["kind"], 253) or not SUBDOMAIN.match(name):
            found.append(f"{ref}: name")
        if obj["kind"] == "Service" and not DNS1035.match(name):
            found.append(f"{ref}: not DNS-1035")
        found += _meta_problems(meta, ref)
        template = pod_template(obj)
        if template is not None and template is not obj:
            found += _meta_problems(template["metadata"], f"{ref} pod template")
            labels = template["metadata"].get("labels") or {}
            for key, value in ((obj["spec"].get("selector") or {}).get("matchLabels") or {}).items():
                if labels.get(key) != value:
                    found.append(f"{ref}: selector {key}={value} misses its own pods")
            for c in template["spec"]["containers"]:
                found += [
                    f"{ref}: env {e['name']}" for e in c.get("env") or [] if not isinstance(e["value"], str)
                ]
    return found


# ------------------------------------------------------------------------------------ generation


# Each field draws from valid values, and for a "hostile" application also from values the API server
# refuses; about half the applications are clean, so rendered output is checked as often as refusals.
VALID = {
    "name": ["web", "api", "web-v1", "v1", "cache", "a" * 50],
    "version": ["v1", "v2", "canary"],
    "key": ["team", "example.com/tier", "ok_key.1", "tier"],
    "value": ["payments", "web", "v1", "gen", "", "x.y_z", "a" * 63],
    "env": ["1.10", "yes", "0777", 8080, True],
    "annotation": [0],
}
HOSTILE = {
    "name": ["1web", "b" * 60, "c" * 53],
    "version": ["x" * 50, "v1"],
    "key": [
        "app",
        "version",
        "app.kubernetes.io/part-of",
        "bad key!",
        "Example.com/x",
        "a/b/c",
        "k" * 64,
        "-d",
    ],
    "value": ["has space", "a" * 64, "-x"],
    "env": [1.1, 1.0e300],
    "annotation": [200 * 1024, 300 * 1024],
}


def pick(draw: st.DrawFn, hostile: bool, field: str) -> Any:
    return draw(st.sampled_from(VALID[field] + (HOSTILE[field] if hostile else [])))


def keys(draw: st.DrawFn, hostile: bool, most: int) -> dict[str, Any]:
    return {
        pick(draw, hostile, "key"): pick(draw, hostile, "value") for _ in range(draw(st.integers(0, most)))
    }


@st.composite
def components(draw: st.DrawFn, hostile: bool) -> dict[str, Any]:
    workload = draw(st.sampled_from(["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"]))
    comp: dict[str, Any] = {"name": pick(draw, hostile, "name"), "image": "nginx:1.27", "workload": workload}
    if workload == "CronJob":
        comp["schedule"] = "*/5 * * * *"
    if draw(st.booleans()):
        comp["ports"] = [{"name": "http", "port": 8080}]
    if draw(st.booleans()):
        names = [pick(draw, hostile, "version") for _ in range(draw(st.integers(1, 3)))]
        comp["versions"] = [{"name": v, "labels": keys(draw, hostile, 1)} for v in names]
    comp["labels"] = keys(draw, hostile, 3)
    big = pick(draw, hostile, "annotation")  # expanded by _inflate: a failing example prints small
    comp["annotations"] = {"note.example.com/big": f"<{big} bytes>"} if big else {}
    comp["annotations"].update({k: "x" for k in keys(draw, hostile, 1)})
    comp["env"] = {f"E{i}": pick(draw, hostile, "env") for i in range(draw(st.integers(0, 2)))}
    if draw(st.booleans()):
        comp["governanceMode"] = draw(st.sampled_from(list(MODES)))
    return comp


@st.composite
def applications(draw: st.DrawFn) -> dict[str, Any]:
    hostile = draw(st.booleans())
    meta: dict[str, Any] = {"name": draw(st.sampled_from(["gen", "shop"])), "namespace": "gen"}
    meta["labels"] = keys(draw, hostile, 2)
    many = st.lists(components(hostile), min_size=1, max_size=3, unique_by=lambda c: str(c["name"]))
    return {
        "apiVersion": "meshform.dev/v1alpha1",
        "kind": "Application",
        "metadata": meta,
        "spec": {
            "governanceMode": draw(st.sampled_from(list(MODES))),
            "ownsNamespace": draw(st.booleans()),
            "components": draw(many),
        },
    }


def _inflate(text: str) -> str:
    return re.sub(r"<(\d+) bytes>", lambda m: "n" * int(m.group(1)), text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(applications())
def test_render_emits_only_what_the_api_server_accepts(data: dict[str, Any]) -> None:
    docs = load_documents(_inflate(json.dumps(data, indent=1)), "gen.yaml")  # JSON is YAML, with positions
    found = check_documents(docs, DEFAULT, GovernOptions())
    result = render_documents(docs, DEFAULT, GovernOptions())
    errors = [d for d in found if d.level is Level.ERROR]
    assert bool(errors) == (not result.ok), (errors, result.diagnostics)  # render accepts what validate does
    if errors:
        assert {d for d in result.diagnostics if d.level is Level.ERROR} <= set(errors)
        for d in errors:
            assert d.line >= 1 and d.path.startswith("$"), d  # located in the model
        return
    assert api_server_refuses(result.objects) == []
    for obj in result.objects:
        assert validate_manifest(obj) == [], obj["kind"]


def test_adv21_each_refusal_is_located(tmp_path: Any) -> None:
    """The case's inputs, and siblings: each is refused by validate and by render, at its field."""
    cases = {
        "labels: {team: " + "a" * 64 + "}": ("MF171", "labels.team"),
        "labels: {team: has space}": ("MF171", "labels.team"),
        "labels: {'bad key!': x}": ("MF170", "labels.bad key!"),
        "labels: {app: other}": ("MF176", "labels.app"),
        "annotations: {big: " + "a" * 300_000 + "}": ("MF172", "annotations"),
        "env: {VERSION: 1.10}": ("MF103", "env.VERSION"),
        "versions: [{name: v1}, {name: v1}]": ("MF177", "versions[1].name"),
    }
    for i, (extra, (code, path)) in enumerate(cases.items()):
        app = tmp_path / f"app{i}.yaml"
        app.write_text(
            "apiVersion: meshform.dev/v1alpha1\nkind: Application\nmetadata: {name: shop, namespace: shop}\n"
            f"spec:\n  components:\n  - name: web\n    image: nginx\n    {extra}\n"
        )
        for command in ("validate", "render"):
            proc = run_cli(command, str(app), "--diagnostics", "json")
            assert proc.returncode == 1 and proc.stdout == b"", (command, extra)
            [d] = [d for d in json.loads(proc.stderr) if d["level"] == "error"]
            assert (d["code"], d["line"]) == (code, 8) and d["path"].endswith(path), (command, extra, d)


HEAD = "apiVersion: meshform.dev/v1alpha1\nkind: Application\nmetadata: {name: shop, namespace: shop}\n"
DERIVED = {
    "MF173": "  - {name: 1web, image: nginx, ports: [{name: http, port: 80}]}\n",
    "MF175": "  - {name: web, image: nginx, versions: [{name: v1}]}\n  - {name: web-v1, image: nginx}\n",
    "MF174": f"  - {{name: {'c' * 53}, image: nginx, workload: CronJob, schedule: '* * * * *'}}\n",
}


def test_adv21_derived_names() -> None:
    for code, components in DERIVED.items():
        body = HEAD + "spec:\n  components:\n" + components
        proc = run_cli("validate", "-", "--diagnostics", "json", stdin=body.encode())
        assert proc.returncode == 1
        line = body.count("\n")  # the last component
        assert [(d["code"], d["line"]) for d in json.loads(proc.stderr)] == [(code, line)]
