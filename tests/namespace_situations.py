"""Namespace precedence situations, one table for `transform`, `check` and `verify`.

Each situation is a Namespace (labels, annotations), a workload's mode and the keys its pod template
carries before meshform touches it, and the answers every command must give: the set of
(code, is error) among the namespace-rule codes. tests/test_namespace_rules.py runs them through
`transform` and `check`; tests/verify/test_namespace_rules.py through `verify` on a real API server.
The facts come from the meshes' own webhooks (see meshform/modes/*.py).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshform import cli

RULE_CODES = frozenset({"MF404", "MF601", "MF602", "MF603", "MF604", "MF605", "MF606", "MF607", "MF608"})
E, W = True, False  # is the answer an error (check fails, verify reports FAILED)?
Answer = frozenset[tuple[str, bool]]


@dataclass(frozen=True)
class Situation:
    id: str
    mode: str
    ns_labels: dict[str, str] = field(default_factory=dict)
    ns_annotations: dict[str, str] = field(default_factory=dict)
    pod_labels: dict[str, str] = field(default_factory=dict)
    pod_annotations: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # modeOptions of the mode
    expected: Answer = frozenset()
    namespace: str = ""  # a real name (kube-system); default: one of its own
    # Where transform refuses, check/verify judge the workload governed elsewhere and put back: without
    # the opt-outs transform would have added, that can add answers.
    refused: Answer | None = None

    @property
    def on_output(self) -> Answer:
        return self.expected if self.refused is None else self.refused

    @property
    def ns(self) -> str:
        return self.namespace or f"nsr-{self.id}"

    def namespace_object(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.ns}
        if self.ns_labels:
            meta["labels"] = dict(self.ns_labels)
        if self.ns_annotations:
            meta["annotations"] = dict(self.ns_annotations)
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}

    def workload(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"labels": {"app": "web", **self.pod_labels}}
        if self.pod_annotations:
            meta["annotations"] = dict(self.pod_annotations)
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": self.ns},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": meta, "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
            },
        }

    def stream(self, with_namespace: bool = True) -> str:
        docs = [self.namespace_object()] if with_namespace else []
        return "---\n".join(json.dumps(d) + "\n" for d in [*docs, self.workload()])


def _s(id: str, mode: str, expected: Answer = frozenset(), **kw: Any) -> Situation:
    return Situation(id, mode, expected=expected, **kw)


KUMA, INJECT, REV = "kuma.io/sidecar-injection", "istio-injection", "istio.io/rev"
AMBIENT, ISTIO_POD, LINKERD = "istio.io/dataplane-mode", "sidecar.istio.io/inject", "linkerd.io/inject"

# The workload is governed by `meshform transform`: these are the answers for its input, and for
# `check` and `verify` on its output.
GOVERNED = [
    _s("kuma-selective", "kuma", ns_labels={KUMA: "disabled"}),  # Kuma >= 2.11 (rw-11)
    _s("kuma-enabled", "kuma", ns_labels={KUMA: "enabled"}),
    _s("kuma-true", "kuma", ns_labels={KUMA: "true"}),
    _s("kuma-unlabelled", "kuma", frozenset({("MF404", E)})),
    _s("kuma-kube-system", "kuma", frozenset({("MF404", E), ("MF606", E)}), namespace="kube-system"),
    _s("istio-disabled", "istio", frozenset({("MF602", E)}), ns_labels={INJECT: "disabled"}),
    _s("istio-enabled", "istio", ns_labels={INJECT: "enabled"}),
    _s(
        "istio-rev-injection",
        "istio",
        frozenset({("MF605", W)}),
        ns_labels={INJECT: "enabled"},
        options={"revision": "canary"},
    ),
    _s(
        "istio-rev-other",
        "istio",
        frozenset({("MF604", W)}),
        ns_labels={REV: "stable"},
        options={"revision": "canary"},
    ),
    _s("istio-rev-same", "istio", ns_labels={REV: "canary"}, options={"revision": "canary"}),
    _s("istio-plain-in-rev", "istio", ns_labels={REV: "canary"}),
    _s("ambient-in-sidecar-ns", "istio-ambient", ns_labels={INJECT: "enabled"}),  # opt-out added
    _s("ambient-in-rev-ns", "istio-ambient", ns_labels={REV: "canary"}),  # opt-out added
    _s("sidecar-in-ambient-ns", "istio", ns_labels={AMBIENT: "ambient"}),  # the sidecar wins
    _s(
        "istio-both-keys",
        "istio",
        frozenset({("MF601", W)}),
        ns_labels={INJECT: "enabled", AMBIENT: "ambient"},
    ),
    _s("linkerd-pod-wins", "linkerd", ns_annotations={LINKERD: "disabled"}),
    _s("linkerd-enabled", "linkerd", ns_annotations={LINKERD: "enabled"}),
    _s(
        "linkerd-no-webhooks",
        "linkerd",
        frozenset({("MF603", E)}),
        ns_labels={"config.linkerd.io/admission-webhooks": "disabled"},
    ),
    _s("linkerd-in-istio-ns", "linkerd", ns_labels={INJECT: "enabled"}),  # opt-out added
    _s("linkerd-kube-system", "linkerd", frozenset({("MF606", E)}), namespace="kube-system"),
    _s(
        "two-meshes",
        "istio",
        frozenset({("MF601", E)}),
        ns_labels={INJECT: "enabled"},
        ns_annotations={LINKERD: "enabled"},
        refused=frozenset({("MF601", E), ("MF607", E)}),
    ),
    _s("istio-kube-system", "istio", frozenset({("MF606", E)}), namespace="kube-system"),
    _s("ambient-kube-node-lease", "istio-ambient", frozenset({("MF606", E)}), namespace="kube-node-lease"),
    _s("ambient-kube-public", "istio-ambient", frozenset({("MF606", E)}), namespace="kube-public"),
    _s("consul-plain", "consul"),
    _s("consul-kube-public", "consul", frozenset({("MF606", E)}), namespace="kube-public"),
    _s("native-in-istio-ns", "kubernetes-native", ns_labels={INJECT: "enabled"}),  # opt-out added
    _s("builtin-in-kuma-ns", "builtin", ns_labels={KUMA: "enabled"}),  # opt-out added
]

# Manifests governed by hand (the mesh's own keys, no meshform status): `check` and `verify` must agree.
BY_HAND = [
    _s(
        "h-ambient-in-sidecar-ns",
        "istio-ambient",
        frozenset({("MF607", E)}),
        ns_labels={INJECT: "enabled"},
        pod_labels={AMBIENT: "ambient"},
    ),
    _s(
        "h-ambient-with-sidecar",
        "istio-ambient",
        frozenset({("MF608", E)}),
        pod_labels={AMBIENT: "ambient", ISTIO_POD: "true"},
    ),
    _s(
        "h-linkerd-in-rev-ns",
        "linkerd",
        frozenset({("MF607", E)}),
        ns_labels={REV: "canary"},
        pod_annotations={LINKERD: "enabled"},
    ),
    _s(
        "h-rev-in-injection-ns",
        "istio",
        frozenset({("MF605", W)}),
        ns_labels={INJECT: "enabled"},
        pod_labels={REV: "canary"},
    ),
    # the user's own opt-out of the mode is theirs to keep: no finding (transform leaves it out too)
    _s("h-opted-out", "istio", ns_labels={REV: "canary"}, pod_labels={ISTIO_POD: "false"}),
    _s("h-kuma-selective", "kuma", ns_labels={KUMA: "disabled"}, pod_labels={KUMA: "enabled"}),
    _s("h-kuma-unlabelled", "kuma", frozenset({("MF404", E)}), pod_labels={KUMA: "enabled"}),
    _s(
        "h-linkerd-pod-wins",
        "linkerd",
        ns_annotations={LINKERD: "disabled"},
        pod_annotations={LINKERD: "enabled"},
    ),
    _s("h-sidecar-in-ambient-ns", "istio", ns_labels={AMBIENT: "ambient"}, pod_labels={ISTIO_POD: "true"}),
]


@contextmanager
def _captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        yield out, err


def meshform(*args: str) -> tuple[int, str, list[dict[str, Any]]]:
    """Run the CLI in this process: exit code, stdout, and the JSON diagnostics."""
    with _captured() as (out, err):
        try:
            cli.main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    text = err.getvalue()
    start = text.find("[")
    diags = json.loads(text[start : text.rindex("]") + 1]) if start >= 0 else []
    sys.stdout.flush()
    return code, out.getvalue(), diags


def answers(diags: list[dict[str, Any]]) -> Answer:
    return frozenset((d["code"], d["level"] == "error") for d in diags if d["code"] in RULE_CODES)


def config(tmp: Path, s: Situation) -> Path:
    path = tmp / f"cfg-{s.id}.json"
    spec: dict[str, Any] = {"mode": s.mode}
    if s.options:
        spec["modeOptions"] = {s.mode: s.options}
    path.write_text(
        json.dumps({"apiVersion": "meshform.dev/v1alpha1", "kind": "MeshTransformer", "spec": spec})
    )
    return path


def transformed(tmp: Path, s: Situation) -> tuple[Answer, str]:
    """`transform`'s answers for the situation, and the manifests to hand to `check` and `verify`:
    its output, or where it refuses, the workload governed without the Namespace plus the Namespace."""
    source = tmp / f"in-{s.id}.yaml"
    source.write_text(s.stream())
    code, out, diags = meshform(
        "transform", str(source), "--config", str(config(tmp, s)), "--diagnostics", "json"
    )
    if code != 0:  # govern it where nothing is in the way, then put it back in its namespace
        neutral = Situation(s.id, s.mode, pod_labels=s.pod_labels, pod_annotations=s.pod_annotations)
        source.write_text(neutral.stream(with_namespace=False))
        cfg = str(config(tmp, s))
        again, governed, _ = meshform("transform", str(source), "--config", cfg, "--diagnostics", "json")
        assert again == 0, f"{s.id}: transform fails even in a plain namespace"
        governed = governed.replace(f"namespace: {neutral.ns}\n", f"namespace: {s.ns}\n")
        out = json.dumps(s.namespace_object()) + "\n---\n" + governed
    return answers(diags), out


def checked(tmp: Path, s: Situation, manifests: str) -> tuple[int, Answer]:
    path = tmp / f"check-{s.id}.yaml"
    path.write_text(manifests)
    code, _, diags = meshform("check", str(path), "--mode", s.mode, "--diagnostics", "json")
    return code, answers(diags)
