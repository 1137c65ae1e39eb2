"""`meshform graph`: the application as a picture (issue 12, item 12). The DOT is read back with a DOT
parser (pydot) and drawn by the real Graphviz `dot`; SVG comes from that same `dot`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pydot
import pytest
from conftest import ROOT, run_cli

BOOKINFO = ROOT / "examples" / "bookinfo" / "app.yaml"
THREE_TIER = ROOT / "examples" / "three-tier" / "app.yaml"
POLICY_APP = ROOT / "tests" / "fixtures" / "policy" / "others" / "app.yaml"
DOT = shutil.which("dot")
needs_dot = pytest.mark.skipif(DOT is None, reason="Graphviz `dot` is not installed (.ci/run installs it)")


def _graph(app: Path, *args: str) -> str:
    proc = run_cli("graph", str(app), *args)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def _parsed(dot_text: str) -> Any:
    [graph] = pydot.graph_from_dot_data(dot_text)
    return graph


def _unquote(value: str | None) -> str:
    assert value is not None
    return value[1:-1].replace("\\n", "\n").replace('\\"', '"') if value.startswith('"') else value


def _nodes(graph: Any) -> dict[str, dict[str, str]]:
    """Node id → attributes, across the application clusters."""
    found = {}
    for sub in [graph, *graph.get_subgraphs()]:
        for node in sub.get_nodes():
            if node.get_name() not in ("node", "edge", "graph"):
                found[_unquote(node.get_name())] = {k: _unquote(v) for k, v in node.get_attributes().items()}
    return found


def _edges(graph: Any) -> dict[tuple[str, str], dict[str, str]]:
    found = {}
    for sub in [graph, *graph.get_subgraphs()]:
        for edge in sub.get_edges():
            key = (_unquote(edge.get_source()), _unquote(edge.get_destination()))
            found[key] = {k: _unquote(v) for k, v in edge.get_attributes().items()}
    return found


def test_bookinfo_components_dependencies_versions_and_modes() -> None:
    graph = _parsed(_graph(BOOKINFO, "--mode", "istio"))
    [cluster] = graph.get_subgraphs()
    assert _unquote(cluster.get_label()) == "bookinfo (namespace bookinfo)"
    nodes = _nodes(graph)
    prefix = "bookinfo/bookinfo/"
    components = {k.removeprefix(prefix) for k in nodes if "/version/" not in k}
    assert components == {"productpage", "details", "reviews", "ratings"}
    # the example declares policy (snap10): reviews' timeout and 80/10/10 split, the edge's timeout
    assert nodes[prefix + "reviews"]["label"].splitlines() == [
        "reviews",
        "Deployment · istio",
        "http:9080",
        "policy: timeout",
        "DestinationRule, VirtualService",
    ]
    versions = {k.removeprefix(prefix + "version/"): v["label"] for k, v in nodes.items() if "/version/" in k}
    assert versions == {
        "reviews-v1": "reviews-v1\nv1 · 80%",
        "reviews-v2": "reviews-v2\nv2 · 10%",
        "reviews-v3": "reviews-v3\nv3 · 10%",
    }
    edges = _edges(graph)
    assert (prefix + "productpage", prefix + "details") in edges
    assert (prefix + "productpage", prefix + "reviews") in edges
    assert edges[(prefix + "reviews", prefix + "ratings")]["label"].startswith("port http")
    assert "timeout" in edges[(prefix + "reviews", prefix + "ratings")]["label"]


def test_weights_policy_and_what_the_mode_cannot_enforce() -> None:
    prefix = "shop/shop/"
    under_istio = _nodes(_parsed(_graph(POLICY_APP, "--mode", "istio")))
    assert under_istio[prefix + "version/reviews-v1"]["label"] == "reviews-v1\nv1 · 80%"
    assert under_istio[prefix + "version/reviews-v2"]["label"] == "reviews-v2\nv2 · 20%"
    reviews = under_istio[prefix + "reviews"]["label"].splitlines()
    assert reviews[3].startswith("policy: timeout, retries, circuitBreaker")
    assert (
        reviews[4] == "AuthorizationPolicy, DestinationRule, EnvoyFilter, PeerAuthentication, VirtualService"
    )
    # kubernetes-native carries no L7 policy: the picture says what is not enforced
    native = _graph(POLICY_APP, "--mode", "kubernetes-native")
    label = _nodes(_parsed(native))[prefix + "reviews"]["label"].splitlines()
    assert label[1] == "Deployment · kubernetes-native"
    assert any(line.startswith("not enforced by kubernetes-native: timeout, retries") for line in label)
    edges = _edges(_parsed(native))
    assert edges[(prefix + "web", prefix + "reviews")]["label"] == "timeout, retries, faultInjection.abort"
    assert edges[(prefix + "reviews", prefix + "version/reviews-v1")]["label"] == "80%"


def test_each_component_shows_its_own_mode() -> None:
    nodes = _nodes(_parsed(_graph(THREE_TIER)))
    modes = {k.rpartition("/")[2]: v["label"].splitlines()[1] for k, v in nodes.items()}
    assert modes["migrate"] == "Job · kubernetes-native"  # its own governanceMode wins
    assert modes["db"] == "StatefulSet · istio"
    assert modes["api"] == "Deployment · istio"
    assert modes["backup"] == "CronJob · istio"
    assert nodes["shop/shop/migrate"]["fillcolor"] != nodes["shop/shop/api"]["fillcolor"]


@needs_dot
@pytest.mark.parametrize("app", [BOOKINFO, THREE_TIER, POLICY_APP], ids=["bookinfo", "three-tier", "policy"])
def test_real_dot_draws_the_dot_text(app: Path) -> None:
    text = _graph(app, "--mode", "istio")
    proc = subprocess.run([DOT, "-Tplain"], input=text, capture_output=True, text=True, check=False)  # type: ignore[list-item]
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no warnings either (bad attributes, syntax Graphviz recovers from)
    drawn = {line.split()[1].strip('"') for line in proc.stdout.splitlines() if line.startswith("node ")}
    assert drawn == set(_nodes(_parsed(text)))


@needs_dot
def test_svg_is_drawn_by_graphviz() -> None:
    svg = _graph(BOOKINFO, "--mode", "istio", "-o", "svg")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    titles = {t.text for t in root.iter("{http://www.w3.org/2000/svg}title")}
    assert "bookinfo/bookinfo/version/reviews-v2" in titles
    assert "bookinfo/bookinfo/productpage->bookinfo/bookinfo/details" in titles


def test_svg_without_graphviz_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no dot here; python itself is called by full path
    proc = subprocess.run(
        [sys.executable, "-m", "meshform", "graph", str(BOOKINFO), "-o", "svg"],
        capture_output=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == b""
    assert b"error MF960 SVG needs Graphviz's `dot`" in proc.stderr


def test_mermaid_has_the_same_picture() -> None:
    text = _graph(POLICY_APP, "--mode", "istio", "-o", "mermaid")
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert lines[1] == '  subgraph app0["shop (namespace shop)"]'
    assert '    n2(["reviews-v1<br/>v1 · 80%"]):::mode0' in lines
    assert '    n1 -.-|"80%"| n2' in lines
    assert '    n0 -->|"timeout, retries, faultInjection.abort"| n1' in lines
    assert "  classDef mode0 fill:#d6e6ff,stroke:#555" in lines
    assert sum(1 for line in lines if "-->" in line) == 3  # web→reviews, reviews→ratings, loadgen→reviews


def test_mermaid_labels_cannot_break_out_of_their_quotes() -> None:
    from meshform.frontends.graph import _mermaid_text

    assert _mermaid_text('a "b" <c> #d') == '"a #34;b#34; #60;c#62; #35;d"'


def test_json_lists_the_graph() -> None:
    data = json.loads(_graph(POLICY_APP, "--mode", "linkerd", "-o", "json"))
    [app] = data["applications"]
    reviews = next(c for c in app["components"] if c["name"] == "reviews")
    assert reviews["versions"] == [
        {"name": "v1", "workload": "reviews-v1", "weight": 80},
        {"name": "v2", "workload": "reviews-v2", "weight": 20},
    ]
    assert reviews["mode"] == "linkerd"
    assert {
        "caller": "web",
        "provider": "reviews",
        "port": "",
        "policy": ["timeout", "retries", "faultInjection.abort"],
    } in app["dependencies"]


def test_an_invalid_model_draws_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "app.yaml"
    bad.write_text(BOOKINFO.read_text().replace("    - details\n", "    - nosuch\n"))
    proc = run_cli("graph", str(bad))
    assert proc.returncode == 1
    assert proc.stdout == b""
    assert f"{bad}:".encode() in proc.stderr
