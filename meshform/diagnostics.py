"""One located finding (`Diagnostic`), the catalogue of codes, and the reporters that print them.

The core never prints: it yields or collects diagnostics, and the CLI picks a reporter. Each code has a
stable id and a default fix hint so users (and tests) can rely on them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import groupby, islice

# Diagnostics stay linear in the input: a message (or path) quotes at most this much of it, a list of
# names in a message shows at most LISTED of them, and a report prints at most PER_FILE per file.
MAX_MESSAGE = 1000
LISTED = 8
PER_FILE = 1000
# docs/codes.md, generated from CODES and meshform/code_docs.py: what each code means and how to fix it.
DOCS_URL = "https://github.com/meshform/meshform/blob/main/docs/codes.md"


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Code:
    id: str
    title: str
    hint: str


# The catalogue: one entry per kind of finding. Codes never change meaning once released.
CODES: dict[str, Code] = {
    c.id: c
    for c in (
        Code("MF001", "unreadable-input", "check the path exists and is readable"),
        Code("MF002", "yaml-syntax", "fix the YAML syntax at the position shown"),
        Code(
            "MF003", "yaml-duplicate-key", "remove one of the duplicate keys; readers disagree on which wins"
        ),
        Code(
            "MF004",
            "yaml-limit",
            "the input exceeds a safety limit (size, documents, nesting depth or aliases)",
        ),
        Code("MF005", "yaml-encoding", "save the file as UTF-8 without NUL or control characters"),
        Code(
            "MF006", "not-an-application", "the document must be `kind: Application` of meshform.dev/v1alpha1"
        ),
        Code(
            "MF007",
            "yaml-tag",
            "remove the tag and write the value plainly or quoted (a core tag such as !!str is fine)",
        ),
        Code(
            "MF008",
            "list-item",
            "give every item of a List a Kubernetes object (a mapping with apiVersion and kind); "
            "put Lists side by side as documents, not inside each other",
        ),
        Code(
            "MF030",
            "template-budget",
            "a sidecar template may build a few KiB in a bounded number of steps; simplify it",
        ),
        Code(
            "MF031",
            "diagnostics-truncated",
            f"fix the first {PER_FILE} findings of the file and run again to see the rest",
        ),
        Code("MF100", "schema", "see the JSON Schema in schemas/ for the allowed shape"),
        Code("MF101", "schema-required", "add the missing field"),
        Code("MF102", "schema-unknown-field", "remove the field or fix its spelling"),
        Code("MF103", "schema-type", "give the field a value of the expected type"),
        Code("MF104", "schema-enum", "use one of the allowed values"),
        Code("MF105", "schema-pattern", "use a lower-case DNS-1123 name or a value matching the pattern"),
        Code("MF106", "schema-range", "use a value inside the allowed range"),
        Code(
            "MF150",
            "object-shape",
            "give the field the type Kubernetes has for it (`kubectl explain` shows it)",
        ),
        Code(
            "MF152",
            "kubeconfig-shape",
            "give the kubeconfig field the type kubectl has for it (`kubectl config view` shows it)",
        ),
        Code("MF170", "label-or-annotation-key", "use a key the API server accepts: [prefix/]name"),
        Code(
            "MF171",
            "label-value",
            "use at most 63 letters, digits, '-', '_' or '.' (or move it to an annotation)",
        ),
        Code(
            "MF172",
            "annotations-too-big",
            "keep one object's annotations under 256 KiB (a ConfigMap holds more)",
        ),
        Code("MF173", "service-name", "name the component with a leading letter (it names its Service)"),
        Code("MF174", "derived-name", "shorten the component or version name"),
        Code("MF175", "duplicate-object", "rename the component or version so the derived names differ"),
        Code("MF176", "selector-label", "remove the label; meshform sets it for the workload's selector"),
        Code("MF177", "duplicate-version", "give every version of a component its own name"),
        Code("MF178", "rendered-object-refused", "report it: the rendered object breaks an API server rule"),
        Code("MF201", "unknown-dependency", "depend on the name of a component of this application"),
        Code("MF202", "duplicate-component", "give every component a unique name"),
        Code("MF203", "port-clash", "give every port of a component a unique name and number"),
        Code(
            "MF204", "unknown-mode", "run `meshform modes` to list the modes, or define it with --modes-file"
        ),
        Code(
            "MF205", "enrollment-unsupported", "pick an enrollment the mode supports (see `meshform modes`)"
        ),
        Code("MF206", "dependency-port", "depend on a port the dependency declares"),
        Code("MF207", "self-dependency", "a component cannot depend on itself"),
        Code(
            "MF208", "conflicting-enrollment", "remove the mesh key from the component's labels/annotations"
        ),
        Code("MF209", "missing-schedule", "a CronJob component needs `schedule`"),
        Code(
            "MF210",
            "dependency-without-ports",
            "the dependency declares no ports; add one or drop the dependency",
        ),
        Code(
            "MF211", "env-clash", "rename the env var; meshform sets <DEP>_HOST/<DEP>_PORT for dependencies"
        ),
        Code("MF212", "port-reserved", "move the port; the builtin proxy needs it (see modeOptions.builtin)"),
        Code(
            "MF250",
            "status-malformed",
            "remove the meshform.dev/status annotation: it is not a record meshform wrote",
        ),
        Code(
            "MF251",
            "status-not-meshforms",
            "remove the copied or edited meshform.dev/status annotation, then run meshform again",
        ),
        Code("MF252", "user-opt-out", "remove your own opt-out key to govern the workload in that mode"),
        Code(
            "MF253", "user-key-kept", "meshform changes only keys its status records: change the key yourself"
        ),
        Code("MF254", "selector-held-key", "take the key out of the selector (it is immutable) and recreate"),
        Code("MF255", "name-collision", "rename the container, volume or object: meshform's names are fixed"),
        Code("MF256", "reserved-annotation", "remove meshform.dev/status: only meshform writes it"),
        Code(
            "MF280",
            "foreign-marker-not-injectors",
            "remove the copied or edited injector marker (sidecar.istio.io/status), then run meshform again",
        ),
        Code("MF301", "modes-file", "fix the modes file; see schemas/modes.schema.json"),
        Code("MF302", "template", "fix the sidecar template; it must render YAML for one container"),
        Code("MF303", "template-path", "keep templates inside the modes file's directory"),
        Code(
            "MF320",
            "injector-version-unknown",
            "point the values at a mesh version meshform has templates for (templates/<mesh>/<version>/)",
        ),
        Code(
            "MF321",
            "injector-input-unreadable",
            "give a readable file: the ConfigMap as `kubectl get -o yaml` prints it, or the bare value",
        ),
        Code(
            "MF322",
            "injector-input-shape",
            "give the injector's ConfigMap (data.values / data.mesh / data.linkerd-config) or the bare value",
        ),
        Code(
            "MF323",
            "injector-override",
            "fix the mesh annotation's value (see the mesh's documentation of that annotation); what "
            "meshform does not pre-inject (an annotation or install setting the message names) needs "
            "enrollment `labels`, so the mesh's own webhook injects it",
        ),
        Code(
            "MF336",
            "injector-values-unknown-key",
            "spell the key as Istio's Values name it (global, pilot, sidecarInjectorWebhook, revision, ...), "
            "or remove it: Istio's injector ignores it",
        ),
        Code(
            "MF337",
            "injector-native-sidecar-conflict",
            "drop modeOptions.istio.nativeSidecar to follow the cluster's pilot.env.ENABLE_NATIVE_SIDECARS, "
            "or change that setting in the values to what the cluster's istiod runs with",
        ),
        Code(
            "MF350",
            "linkerd-host-network",
            "Linkerd refuses hostNetwork pods: enroll it by labels (it stays unmeshed) or pick another mode",
        ),
        Code(
            "MF351",
            "linkerd-not-injectable",
            "remove the other sidecar (or meshform's view of it), or leave the workload out of linkerd",
        ),
        Code(
            "MF352",
            "linkerd-values",
            "fix the linkerd-config value: Linkerd's chart refuses to render the proxy with it, or the "
            "pod it makes could not run",
        ),
        Code(
            "MF353",
            "linkerd-annotation-refused",
            "give the config.linkerd.io annotation a value the pod can run with (the message says which "
            "values are), or remove it to use the linkerd-config value",
        ),
        Code(
            "MF354",
            "linkerd-annotation-ignored",
            "fix the config.linkerd.io annotation's value (Linkerd ignores what it cannot read), or remove "
            "it: the proxy gets the linkerd-config value either way",
        ),
        Code(
            "MF355",
            "linkerd-annotation-unknown",
            "spell the annotation as Linkerd does (see the did-you-mean), or remove it: Linkerd does not "
            "read it",
        ),
        Code(
            "MF356",
            "istio-values-list",
            "give the value the comma-separated CIDRs or ports Istio's annotation of the same name takes "
            "(or * where it allows it)",
        ),
        Code("MF401", "host-network", "sidecar meshes skip hostNetwork pods; use kubernetes-native for it"),
        Code("MF402", "udp-port", "sidecars do not proxy UDP; the port bypasses the mesh"),
        Code(
            "MF403",
            "job-classic-sidecar",
            "use a native sidecar (Kubernetes >= 1.29) or the mesh's job support",
        ),
        Code("MF404", "namespace-label", "label the namespace too, or set spec.ownsNamespace: true"),
        Code("MF405", "helm-hook-skipped", "set spec.helmHooks: govern to govern hook Jobs too"),
        Code("MF410", "mesh-needs-service", "add a Service selecting the workload's pods"),
        Code("MF411", "mesh-service-ambiguous", "name the mesh service with the mode's pod annotation"),
        Code(
            "MF412",
            "mesh-service-account",
            "run the pods as a ServiceAccount named like the mesh service (Consul ACLs)",
        ),
        Code(
            "MF430",
            "rule-kind-ungovernable",
            "name a workload kind in the rule, or declare the kind under spec.workloadKinds",
        ),
        Code(
            "MF431",
            "unknown-workload-kind",
            "declare the kind in spec.workloadKinds: [{group, kind, podTemplatePath}] to govern it, or "
            'annotate it meshform.dev/ignore: "true"',
        ),
        Code(
            "MF432",
            "pod-template-elsewhere",
            "fix podTemplatePath in spec.workloadKinds to where this kind keeps its pod template",
        ),
        Code("MF433", "workload-kind-declaration", "declare each kind once, and only kinds not built in"),
        Code(
            "MF434",
            "not-a-kubernetes-object",
            "nothing to do: a walked file with no Kubernetes object (apiVersion and kind) is skipped",
        ),
        Code(
            "MF435",
            "go-template",
            "render the chart first (helm template NAME CHART | meshform transform -) or use "
            "meshform as Helm's post-renderer",
        ),
        Code(
            "MF436",
            "krm-generator",
            "give the generator's ConfigMap data.app, a model file inside the kustomization",
        ),
        Code(
            "MF437",
            "kube-inject-cronjob-reinjected",
            "put the overrides on spec.jobTemplate.metadata too if kube-inject must see them; or accept "
            "meshform's injection, which is the webhook's",
        ),
        Code("MF501", "usage", "see --help"),
        Code("MF601", "namespace-two-meshes", "keep one mesh's namespace key"),
        Code("MF602", "namespace-injection-disabled", "enable injection on the namespace"),
        Code("MF603", "namespace-webhook-excluded", "remove the namespace label that excludes it"),
        Code("MF604", "namespace-revision", "use one revision"),
        Code(
            "MF605",
            "namespace-injection-beats-revision",
            "label the namespace istio.io/rev=<revision> instead of istio-injection",
        ),
        Code("MF606", "namespace-never-injected", "deploy the workload in another namespace"),
        Code("MF607", "namespace-other-mesh", "opt the pod out of the mesh its namespace enrolls"),
        Code("MF608", "pod-other-mesh", "remove the other mesh's keys from the pod template"),
        Code(
            "MF901",
            "policy-duration",
            "write durations in whole milliseconds, at most a year (250ms, 2s, 1m30s)",
        ),
        Code("MF902", "policy-weight-missing", "give every version a weight, or none"),
        Code("MF903", "policy-weights-sum", "make the versions' weights add up to 100"),
        Code("MF904", "policy-backoff", "make maxInterval at least baseInterval"),
        Code("MF905", "policy-per-try-timeout", "make perTryTimeout shorter than timeout, or drop one"),
        Code("MF906", "policy-needs-http", "declare the port as http, http2 or grpc, or drop the L7 policy"),
        Code("MF907", "policy-no-dependents", "declare the callers as dependencies, or allow: all"),
        Code(
            "MF910",
            "policy-unsupported",
            "choose a mode that can enforce it, or let this run leave it out: --policy-enforcement "
            "best-effort (spec.policyEnforcement: best-effort for every run)",
        ),
        Code("MF911", "policy-left-out", "choose a mode that can enforce it to have it enforced"),
        Code(
            "MF931",
            "policy-value-unsupported",
            "change or drop the value, choose a mode that can carry it, or let this run leave it out "
            "(best-effort)",
        ),
        Code("MF932", "policy-value-left-out", "choose a mode that can carry the value to have it enforced"),
        Code(
            "MF933",
            "policy-zero-duration",
            "leave the field out for the mesh's default (or drop the retry backoff), or give at least 1ms",
        ),
        Code(
            "MF912",
            "policy-record",
            "re-render from the application model; the recorded policy cannot be read",
        ),
        Code(
            "MF920",
            "policy-rounded",
            "write what the proxy carries exactly: whole percents, fault percents to 4 decimals",
        ),
        Code(
            "MF921",
            "owned-object-missing",
            "render or transform again to restore it; to drop a policy, remove it from the model",
        ),
        Code(
            "MF922",
            "owned-object-edited",
            "declare the change in the application model's traffic policy and render again; "
            "meshform renders its objects from the policy it records",
        ),
        Code("MF923", "owned-object-duplicated", "keep one copy of the object"),
        Code(
            "MF924",
            "owned-object-foreign",
            "rename your object, or remove it and let meshform render its own",
        ),
        Code("MF925", "workload-duplicated", "remove one copy of the workload (or rename it)"),
        Code(
            "MF926",
            "policy-first-port-tcp",
            "declare an http, http2 or grpc port first (the mesh registers the pod on its first port), "
            "or choose another mode",
        ),
        Code(
            "MF927",
            "policy-other-ports",
            "give the TCP port its own component (its own Service), or use Consul Enterprise's "
            "multi-port services",
        ),
        Code(
            "MF928",
            "policy-fault-before-router",
            "a fault test with timeouts or retries measures the fault, not them: test each on its own, "
            "or inject the fault on the provider's side (kuma)",
        ),
        Code(
            "MF929",
            "policy-identity-unreachable",
            "govern the dependents in a mode of the same mesh, or allow: all (kubernetes-native admits "
            "pods by labels)",
        ),
        Code(
            "MF930",
            "policy-approximated",
            "the mode renders the nearest value it can carry; see meshform modes --capabilities",
        ),
        Code(
            "MF940",
            "policy-network-policy",
            "use a mesh mode (istio, linkerd, kuma, consul) for identity-based authorization; "
            "keep a CNI that enforces NetworkPolicy",
        ),
        Code(
            "MF960",
            "graph-needs-dot",
            "install Graphviz (Debian: apt-get install graphviz), or use -o dot / -o mermaid",
        ),
        Code("MF961", "graph-dot-failed", "run the DOT (-o dot) through `dot -Tsvg` to see Graphviz's error"),
        Code("MF701", "config", "give a MeshTransformer (schemas/transformer.schema.json) or a ConfigMap"),
        Code("MF702", "resource-list", "the KRM function reads one ResourceList on stdin"),
        Code("MF703", "empty-input", "check the step before meshform produced manifests"),
        Code("MF704", "no-mode", "set spec.mode, rules, or data.mode in the functionConfig"),
        Code(
            "MF710",
            "not-a-regular-file",
            "give a regular file or a directory; pipe a stream into stdin (`meshform transform - < FIFO`)",
        ),
        Code(
            "MF711",
            "special-file-skipped",
            "only regular files are read from a directory; remove the FIFO, socket, device or dangling link",
        ),
        Code(
            "MF712",
            "symlink-out-of-tree",
            "a file found in a directory must stay inside it; name the target on the command line if meant",
        ),
        Code(
            "MF713",
            "cannot-write",
            "make the file and its directory writable, or write to stdout (`-o -`) and redirect",
        ),
        Code(
            "MF714",
            "output-directory-in-use",
            "-o DIR writes a new or empty directory, or replaces one meshform wrote (listed in its "
            ".meshform-output); choose another directory or remove this one",
        ),
        Code(
            "MF715",
            "output-name-clash",
            "two objects have the same kind, namespace and name; remove or rename one",
        ),
        Code(
            "MF716",
            "not-an-object",
            "-o DIR writes one file per Kubernetes object: make the document a mapping, or write to stdout",
        ),
        Code(
            "MF717",
            "unnamed-object",
            "give the object apiVersion, kind and metadata.name (a name usable as a file name)",
        ),
        Code("MF718", "changed-while-running", "another program changed the file meanwhile; run again"),
        Code("MF801", "not-governed", "run meshform (kustomize needs --enable-alpha-plugins --enable-exec)"),
    )
}


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One finding, ordered by position so reports read top to bottom."""

    file: str
    line: int  # 1-based; 0 when unknown
    col: int  # 1-based; 0 when unknown
    level: Level = field(compare=False)
    code: str
    message: str
    path: str = ""  # JSON path inside the document, e.g. $.spec.components[1].name
    resource: str = field(default="", compare=False)
    hint: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # Messages quote input (values, keys, paths): bounded, so a report never repeats a huge value.
        for name in ("message", "path", "resource"):
            value = getattr(self, name)
            if len(value) > MAX_MESSAGE:
                object.__setattr__(self, name, value[: MAX_MESSAGE - 1] + "…")

    @property
    def fix(self) -> str:
        return self.hint or CODES[self.code].hint

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "level": self.level.value,
            "code": self.code,
            "title": CODES[self.code].title,
            "message": self.message,
            "path": self.path,
            "resource": self.resource,
            "hint": self.fix,
            "documentationUrl": code_url(self.code),  # as istioctl analyze -o json links each code
        }


def has_errors(diags: Iterable[Diagnostic]) -> bool:
    return any(d.level is Level.ERROR for d in diags)


class MeshformError(Exception):
    """Raised at an edge when input cannot be processed at all; carries its diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


# C0 and C1 controls, DEL, and the bidirectional overrides: a terminal acts on them (escape sequences,
# a rewritten title, a cleared screen, text shown in another order), and they can come from outside
# (file contents, object names, an API server's answer).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """The text with every control character written as a visible escape (`\\x1b`), for a terminal."""
    return _UNPRINTABLE.sub(_escape, text) if _UNPRINTABLE.search(text) else text


def _where(d: Diagnostic) -> str:
    """`file:line:col`, or just `file` when the finding is about the file itself (line 0: a missing
    file, an unwritable directory), never a made-up position `file:0:0`."""
    if d.line <= 0:
        return d.file
    return f"{d.file}:{d.line}:{d.col}" if d.col > 0 else f"{d.file}:{d.line}"


def format_text(d: Diagnostic) -> str:
    where = printable(_where(d))
    path = f" [{printable(d.path)}]" if d.path else ""
    return f"{where}: {d.level.value} {d.code} {printable(d.message)}{path}\n  hint: {printable(d.fix)}"


def format_github(d: Diagnostic) -> str:
    kind = {"error": "error", "warning": "warning", "info": "notice"}[d.level.value]
    msg = printable(f"{d.code} {d.message} (hint: {d.fix})".replace("%", "%25").replace("\n", "%0A"))
    position = f",line={d.line}" + (f",col={d.col}" if d.col > 0 else "") if d.line > 0 else ""
    return f"::{kind} file={printable(d.file)}{position}::{msg}"


def json_type(value: object) -> str:
    """A value's JSON type with its article, for messages: `a string`, `a list`, `null`..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else "a value"


def listing(names: Collection[str] | Iterable[str], total: int | None = None, limit: int = LISTED) -> str:
    """`a, b, c and 9997 more`: names for a message, never all of ten thousand. Reads only the first
    `limit` names; `total` counts them all when `names` is a lazy iterable."""
    if total is None:
        names = names if isinstance(names, Collection) else list(names)
        total = len(names)
    shown = ", ".join(islice(names, limit))
    return f"{shown} and {total - limit} more" if total > limit else shown


def capped(diags: Iterable[Diagnostic], per_file: int = PER_FILE) -> list[Diagnostic]:
    """Sorted, each once, at most `per_file` per file, each cut file followed by one MF031 saying how
    many more (at the level of the worst one left out)."""
    out: list[Diagnostic] = []
    for file, group in groupby(sorted(set(diags)), key=lambda d: d.file):
        found = list(group)
        out += found[:per_file]
        rest = found[per_file:]
        if rest:
            worst = min(rest, key=lambda d: list(Level).index(d.level)).level
            message = f"{len(rest)} more finding(s) in this file not shown"
            out.append(Diagnostic(file, 0, 0, worst, "MF031", message))
    return out


def report(diags: Iterable[Diagnostic], fmt: str) -> str:
    """Render diagnostics in a named format: `text` (parsable), `json` or `github`; at most PER_FILE
    per file (see `capped`)."""
    ordered = capped(diags)
    if fmt == "json":
        return json.dumps([d.to_json() for d in ordered], indent=2, sort_keys=True) + "\n"
    if fmt == "github":
        return "".join(format_github(d) + "\n" for d in ordered)
    return "".join(format_text(d) + "\n" for d in ordered) + reference_line(ordered)


def code_url(code: str) -> str:
    return f"{DOCS_URL}#{code.lower()}"


def reference_line(diags: list[Diagnostic]) -> str:
    """One closing line pointing at the reference of the codes shown (as `istioctl analyze` points at
    its analysis pages): the code's own entry when one code was reported, else the whole page."""
    codes = sorted({d.code for d in diags})
    if not codes:
        return ""
    # The codes are not repeated here: tools and people filter reports by them, line by line.
    if len(codes) == 1:
        return f"See {code_url(codes[0])} for what this code means and how to fix it.\n"
    return f"See {DOCS_URL} for what each code means and how to fix it.\n"


REPORTERS = ("text", "json", "github")
