"""The reference of every diagnostic code, kept next to the code table (diagnostics.CODES) and turned
into docs/codes.md by `python -m meshform.code_docs docs/codes.md`.

Each entry says what the code means, why it matters, and shows one finding as meshform prints it; how
to fix it is the code's hint in CODES (plus `fix` here when there is more to say). A code added to
CODES needs its entry here: tests/test_code_docs.py fails until it has one and docs/codes.md is
regenerated. Nothing on the command line's path imports this module.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from meshform.diagnostics import CODES, DOCS_URL


@dataclass(frozen=True)
class CodeDoc:
    means: str  # what happened, in the user's terms
    matters: str  # what goes wrong if it is ignored (or why meshform refuses)
    example: str  # one finding as meshform prints it (text format, without the hint line)
    fix: str = ""  # more than the hint in CODES, when the fix needs it


def _d(means: str, matters: str, example: str, fix: str = "") -> CodeDoc:
    return CodeDoc(means, matters, example, fix)


DOCS: dict[str, CodeDoc] = {
    "MF001": _d(
        "An input file (or stdin) could not be read: it does not exist, is a directory where a file is "
        "needed, or is not readable.",
        "meshform reads all its input before it writes anything; nothing is written when one input is "
        "missing, so a typo in a path never produces a partial result.",
        "k8s/web.yaml: error MF001 cannot read: No such file or directory",
    ),
    "MF002": _d(
        "The YAML is not well-formed at the position shown.",
        "kubectl and the API server would reject the file too; meshform refuses before it changes anything.",
        "app.yaml:10:1: error MF002 expected ',' or ']', but got '<stream end>'",
    ),
    "MF003": _d(
        "A mapping has the same key twice.",
        "YAML readers disagree on which value wins (kubectl keeps the last, others refuse), so the file "
        "means different things to different tools.",
        'app.yaml:10:5: error MF003 duplicate key: found duplicate key "image" with value "web:2" '
        '(original value: "web:1")',
    ),
    "MF004": _d(
        "The input exceeds a safety limit: its size, number of documents, nesting depth, or what its "
        "aliases expand to.",
        'Such inputs ("billion laughs") exhaust memory or time in every tool that reads them.',
        "big.yaml:1:1: error MF004 aliases expand to more than 100000 nodes",
    ),
    "MF005": _d(
        "The file is not UTF-8, or holds NUL or control characters.",
        "Kubernetes reads manifests as UTF-8; control characters can hide text from a reviewer's terminal.",
        "app.yaml:4:10: error MF005 invalid UTF-8 byte 0xe9",
    ),
    "MF006": _d(
        "`render` or `validate` was given a document that is not a meshform application model.",
        "The application model is what `render` turns into manifests; plain manifests go to `transform`.",
        "k8s/web.yaml:1:1: error MF006 document 1 is not a meshform Application",
        "Use `meshform transform` for existing Kubernetes manifests.",
    ),
    "MF007": _d(
        "A value carries a YAML tag (`!foo`, `!!python/...`) that Kubernetes does not understand.",
        "Tools read tagged values differently or refuse them; a tag can also ask a reader to build objects.",
        "k8s/web.yaml:9:14: error MF007 tag !secret is not allowed",
    ),
    "MF008": _d(
        "A document, or an item of a List, is not one Kubernetes object (a sequence, a scalar, a List in "
        "a List).",
        "Its workloads would pass through ungoverned while the run reports success.",
        "<stdin>:19:62: error MF008 item 2 of this List is the int 7, not a Kubernetes object",
    ),
    "MF030": _d(
        "A sidecar template of a user-defined mode needed too many steps or produced too much text.",
        "Templates come from modes files; an unbounded one would hang or exhaust every run that uses it.",
        "modes/acme-proxy.yaml.j2:1:1: error MF030 the template built more than 64 KiB",
    ),
    "MF031": _d(
        "A file had more findings than a report shows; the rest are counted, not listed.",
        "Reports stay readable and bounded; the findings not shown still count (the exit code says so).",
        "huge.yaml: error MF031 2417 more finding(s) in this file not shown",
    ),
    "MF100": _d(
        "The application model (or config) does not match its JSON Schema, in a way no narrower code covers.",
        "Only documents of the documented shape are rendered: a misread field would change what is deployed.",
        "app.yaml:5:3: error MF100 [] should be non-empty [$.spec.components]",
    ),
    "MF101": _d(
        "A required field is missing.",
        "Without it meshform cannot know what to render (a component without image, a port without number).",
        "app.yaml:8:5: error MF101 missing required field 'image' [$.spec.components[0]]",
    ),
    "MF102": _d(
        "A field is not part of the schema, often a misspelling.",
        "A misspelt field would be silently ignored, and the setting you meant would never apply.",
        "app.yaml:10:5: error MF102 unknown field 'replica' [$.spec.components[0].replica]",
    ),
    "MF103": _d(
        "A field has a value of the wrong type (a string where a number belongs, a list for a mapping).",
        "Kubernetes would refuse the rendered object, or YAML would turn the value into something else.",
        "app.yaml:10:5: error MF103 'three' is not of type 'integer' [$.spec.components[0].replicas]",
    ),
    "MF104": _d(
        "A field holds a value outside its list of allowed values.",
        "An unknown value (a protocol, an enrollment) has no defined meaning for meshform or the mesh.",
        "app.yaml:12:21: error MF104 'htp' is not one of http, http2, grpc, tcp, udp",
    ),
    "MF105": _d(
        "A name or value does not match its pattern (usually a lower-case DNS-1123 name).",
        "Names become object names and labels; the API server refuses ones that do not match.",
        "app.yaml:8:5: error MF105 'Web_Frontend' does not match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' "
        "[$.spec.components[0].name]",
    ),
    "MF106": _d(
        "A number or length is outside its allowed range.",
        "Out-of-range values (port 70000, 0 replicas of a list that needs one) are refused by Kubernetes "
        "or mean nothing.",
        "app.yaml:17:7: error MF106 70000 is greater than the maximum of 65535 "
        "[$.spec.components[1].ports[0].port]",
    ),
    "MF150": _d(
        "A field of a Kubernetes object has a type Kubernetes does not accept there.",
        "The API server would refuse the object, or meshform would govern a pod template it misreads.",
        "k8s/web.yaml:14:9: error MF150 spec.template.spec.containers is a mapping, not a list",
    ),
    "MF152": _d(
        "A kubeconfig field has a type kubectl does not accept there.",
        "`verify` would talk to the wrong server or with the wrong credentials.",
        "~/.kube/config:5:7: error MF152 clusters[0].cluster.server is a number, not a string",
    ),
    "MF170": _d(
        "A label or annotation key is not one the API server accepts (`[prefix/]name`, DNS prefix, "
        "63-character name).",
        "The API server refuses the whole object, usually at deploy time, long after rendering.",
        "app.yaml:10:9: error MF170 label key 'team name' is not a valid key",
    ),
    "MF171": _d(
        "A label value is too long or has characters labels cannot hold.",
        "The API server refuses the object.",
        "app.yaml:10:15: error MF171 label value 'a very long owner name…' is longer than 63 characters",
    ),
    "MF172": _d(
        "One object's annotations add up to more than 256 KiB.",
        "The API server refuses objects whose annotations exceed this total.",
        "app.yaml:14:9: error MF172 the annotations of Deployment web add up to 301 KiB",
    ),
    "MF173": _d(
        "A component with ports has a name that cannot name a Service (it must start with a letter).",
        "Each component with ports gets a Service of its name; the API server would refuse it.",
        "app.yaml:7:13: error MF173 component '1st' has ports, so its name must start with a letter",
    ),
    "MF174": _d(
        "A name meshform derives (component plus version, plus suffixes such as -meshform-envoy) is "
        "too long.",
        "The API server refuses names over their limit (63 or 253 characters).",
        "app.yaml:7:13: error MF174 reviews-a-very-long-version-name is longer than 63 characters",
    ),
    "MF175": _d(
        "Two components or versions render objects of the same kind and name.",
        "One object would silently overwrite the other when applied.",
        "app.yaml:20:9: error MF175 component 'web' renders Service 'web', and so does component 'web' "
        "(version v1): one would overwrite the other",
    ),
    "MF176": _d(
        "A component's labels set a key the workload's selector needs to another value.",
        "The workload would no longer select its own pods.",
        "app.yaml:10:9: error MF176 label app=frontend replaces app=web, which the workload's selector needs",
    ),
    "MF177": _d(
        "A component lists two versions with one name.",
        "Both would render the same workload; one would overwrite the other.",
        "app.yaml:15:9: error MF177 version 'v1' of component 'reviews' is listed twice",
    ),
    "MF178": _d(
        "An object meshform rendered breaks a rule of the API server.",
        "This is a bug in meshform (validation should have refused the input first); nothing is written.",
        "app.yaml: error MF178 Deployment web: metadata.name is longer than 253 characters",
        "Report it with the application model that caused it.",
    ),
    "MF201": _d(
        "A component depends on a name that is no component of the application.",
        "The dependency's environment variables and traffic policy would point at nothing.",
        "app.yaml:11:7: error MF201 unknown dependency 'api' (components: web) "
        "[$.spec.components[0].dependencies[0]]",
    ),
    "MF202": _d(
        "Two components have the same name.",
        "Their objects would have the same names and overwrite each other.",
        "app.yaml:10:5: error MF202 duplicate component name 'web' [$.spec.components[1].name]",
    ),
    "MF203": _d(
        "Two ports of one component share a name or a number.",
        "The Service and the mesh's routing could not tell them apart.",
        "app.yaml:14:7: error MF203 port 8080 used twice [$.spec.components[0].ports[1].port]",
    ),
    "MF204": _d(
        "A governance mode named by --mode, MESHFORM_MODE, a config or the application is not known.",
        "Nothing can be governed in a mode meshform does not know; the message suggests the closest name.",
        "app.yaml:6:19: error MF204 unknown governance mode 'isito' (known: kubernetes-native, builtin, "
        "istio, …) (did you mean 'istio'?)",
        "Mode names are case-insensitive; Rainbond's names (ISTIO_SERVICE_MESH…) are aliases.",
    ),
    "MF205": _d(
        "The enrollment asked for (labels or sidecar) is not one the mode supports.",
        "Some meshes can only be joined through their webhook (labels), others only by pre-injection.",
        "app.yaml:8:3: error MF205 mode 'istio' cannot enroll 'web' by 'sidecar' (supports: labels) "
        "[$.spec.enrollment]",
    ),
    "MF206": _d(
        "A dependency names a port the depended-on component does not declare.",
        "The <DEP>_PORT variable and the traffic policy would point at a port nothing listens on.",
        "app.yaml:11:7: error MF206 dependency 'api' has no port 'grpc' "
        "[$.spec.components[0].dependencies[0]]",
    ),
    "MF207": _d(
        "A component lists itself as a dependency.",
        "It has no meaning, and would create a policy loop.",
        "app.yaml:14:7: error MF207 component 'web' depends on itself [$.spec.components[0].dependencies[0]]",
    ),
    "MF208": _d(
        "A component's own labels or annotations carry a mesh's enrollment key that contradicts its mode.",
        "The pod would be enrolled in a mesh other than the one its mode names.",
        "app.yaml:12:7: error MF208 annotation 'linkerd.io/inject' belongs to mode 'linkerd'; set "
        "governanceMode instead",
    ),
    "MF209": _d(
        "A component of kind CronJob has no schedule.",
        "Kubernetes refuses a CronJob without a schedule.",
        "app.yaml:10:5: error MF209 CronJob component 'nightly' has no schedule "
        "[$.spec.components[0].workload]",
    ),
    "MF210": _d(
        "A component depends on a component that declares no ports.",
        "There is nothing to connect to: no Service, no <DEP>_PORT.",
        "app.yaml:12:11: error MF210 dependency 'worker' declares no ports",
    ),
    "MF211": _d(
        "A component's env sets a variable meshform sets for a dependency (<DEP>_HOST, <DEP>_PORT).",
        "One of the two values would be lost silently.",
        "app.yaml:15:11: error MF211 env DB_HOST is set by meshform for dependency 'db'",
    ),
    "MF212": _d(
        "A component uses a port the builtin mode's Envoy proxy needs for itself.",
        "The application and the proxy would both try to listen on it.",
        "app.yaml:13:17: error MF212 port admin (15000) is the builtin proxy's admin port",
    ),
    "MF250": _d(
        "A meshform.dev/status annotation is not a record meshform wrote (not JSON of the right shape).",
        "meshform removes exactly what the record lists when it switches modes; a damaged record could "
        "make it remove the wrong things.",
        "k8s/web.yaml:14:9: error MF250 meshform.dev/status is not a meshform record",
    ),
    "MF251": _d(
        "A meshform.dev/status record does not match the workload (copied from another one, or edited).",
        "Switching would remove keys meshform never added, or leave ones it did.",
        "k8s/web.yaml:14:9: error MF251 the status record lists a container the pod does not have",
    ),
    "MF252": _d(
        'The workload carries the user\'s own opt-out of the mode (e.g. sidecar.istio.io/inject: "false").',
        "meshform never overrides a decision someone wrote into the workload; it stays ungoverned.",
        "k8s/web.yaml:13:9: warning MF252 Deployment web opts out of istio (sidecar.istio.io/inject=false)",
    ),
    "MF253": _d(
        "A key meshform would set is already there with another value that the user wrote.",
        "meshform changes only keys its status records, so it keeps yours, and the mode may not apply fully.",
        "k8s/web.yaml:13:9: warning MF253 Deployment web keeps its own linkerd.io/inject=disabled",
    ),
    "MF254": _d(
        "A key meshform needs to change is part of the workload's selector.",
        "Selectors are immutable: applying the change would fail, or orphan the running pods.",
        "k8s/web.yaml:9:7: error MF254 Deployment web: the selector requires app.kubernetes.io/mesh",
    ),
    "MF255": _d(
        "The workload already has a container, volume or object with a name meshform uses.",
        "meshform's names are fixed (the sidecar, its config); adding them would clash with yours.",
        "k8s/web.yaml:15:9: error MF255 Deployment web already has container meshform-envoy, which "
        "builtin adds",
    ),
    "MF256": _d(
        "An application model sets meshform.dev/status itself.",
        "Only meshform writes that record; a hand-made one would make switching remove the wrong keys.",
        "app.yaml:11:9: error MF256 meshform.dev/status is meshform's own record; it cannot be set",
    ),
    "MF280": _d(
        "A mesh injector's marker (such as sidecar.istio.io/status) does not match the pod it is on.",
        "meshform removes an injector's sidecar by that marker; a copied or edited one would remove "
        "the wrong containers.",
        "k8s/web.yaml:14:9: error MF280 sidecar.istio.io/status names containers the pod does not have",
    ),
    "MF301": _d(
        "The --modes-file is invalid, or defines a mode with a built-in mode's name.",
        "Modes define what meshform adds to every workload in them; a wrong one changes every pod.",
        "modes.yaml: error MF301 mode 'istio' is built in; pick another name",
    ),
    "MF302": _d(
        "A user-defined mode's sidecar template failed: a syntax error, an undefined value, a refused "
        "operation, or output that is not one container.",
        "The sidecar would be missing or malformed in every workload of the mode.",
        "modes/acme-proxy.yaml.j2:2:8: error MF302 template error: 'nope' is undefined",
    ),
    "MF303": _d(
        "A modes file names a template outside its own directory.",
        "A modes file must not read arbitrary files of the machine it runs on.",
        "modes.yaml:12:15: error MF303 template ../../etc/passwd is outside the modes file's directory",
    ),
    "MF320": _d(
        "The mesh version named for offline injection has no injector templates in meshform.",
        "The sidecar must equal what that version's injector writes; another version's would differ.",
        "app.yaml:9:7: error MF320 istio 1.19.0 has no templates (templates/istio/<version>/)",
    ),
    "MF321": _d(
        "The injector input file (the mesh's ConfigMap or value) could not be read, or holds more than "
        "one document.",
        "Offline injection copies the cluster's injector settings; without them the sidecar is a guess.",
        "app.yaml:9:7: error MF321 valuesFile 'istio-values.yaml' does not exist",
    ),
    "MF322": _d(
        "The injector input has the wrong shape (not the ConfigMap or its bare value), or is given twice.",
        "A misread injector setting gives a sidecar other than the one the cluster's webhook writes.",
        "app.yaml:9:7: error MF322 give valuesFile or values, not both",
    ),
    "MF323": _d(
        "A mesh annotation that overrides the injector has a value the mesh does not accept, or an "
        "annotation or install setting (values, meshConfig, a customised data.config of the "
        "istio-sidecar-injector ConfigMap, a pod's own istio-proxy container) makes the injector do "
        "what meshform's pre-injection does not reproduce.",
        "The injector would refuse the pod, or inject a sidecar other than the one meshform wrote.",
        "k8s/web.yaml:14:9: error MF323 sidecar.istio.io/proxyCPU 'lots' is not a quantity",
    ),
    "MF336": _d(
        "A top-level key of Istio's injector values (valuesFile / values) is none of the fields of "
        "Istio's Values (a typo such as `globl:`); the message names the key it probably means.",
        "Istio's injector drops keys it does not know without a word, as istioctl does: the setting the "
        "user meant is not read, and the sidecar is the one the rest of the values make.",
        "istio-values.yaml:2:1: warning MF336 values key 'globl' is not one of Istio's values (did you "
        "mean 'global'?); Istio's injector ignores it",
    ),
    "MF337": _d(
        "modeOptions.istio.nativeSidecar says otherwise than the cluster's own setting, "
        "`pilot.env.ENABLE_NATIVE_SIDECARS` in the injector values; the option wins.",
        "istiod decides native or classic sidecars from that setting: the pre-injected pod is not the one "
        "the cluster's webhook would make.",
        "istio-values.yaml:40:7: warning MF337 modeOptions.istio.nativeSidecar false, but the cluster's "
        "values set pilot.env.ENABLE_NATIVE_SIDECARS true: injecting classic sidecars as the option says",
    ),
    "MF350": _d(
        "Under linkerd with enrollment sidecar (pre-injection), the workload's pods use hostNetwork; "
        "`linkerd inject` refuses such pods (its webhook skips them).",
        "meshform pre-injects exactly what `linkerd inject` writes, and Linkerd writes nothing for this "
        "pod: its proxy's iptables rules would redirect the node's own traffic, so meshform refuses rather "
        "than write a sidecar Linkerd never would.",
        "k8s/agent.yaml:1:1: error MF350 linkerd cannot inject DaemonSet node-agent: hostNetwork is enabled",
        "Under enrollment labels the workload is enrolled but the webhook skips it (MF401 says so).",
    ),
    "MF351": _d(
        "Under linkerd with enrollment sidecar, Linkerd refuses to inject the pod for another reason than "
        "hostNetwork: it already carries a sidecar or its init container (istio-proxy, istio-init, "
        "linkerd-proxy, linkerd-init), or it sets automountServiceAccountToken: false while the values do "
        "not project the service-account token (identity.serviceAccountTokenProjection).",
        "`linkerd inject` writes nothing for such a pod, so neither does meshform: a second mesh's proxy "
        "next to Linkerd's would intercept the same traffic, and a proxy without its token has no identity.",
        "k8s/cart.yaml:1:1: error MF351 linkerd cannot inject Deployment cart: pod has a sidecar injected "
        "already (container istio-proxy)",
    ),
    "MF352": _d(
        "The linkerd-config values meshform pre-injects from cannot render the proxy: Linkerd's chart "
        "refuses a value (an unknown proxyInit.iptablesMode, a value of the wrong type, no "
        "identityTrustAnchorsPEM, a tracing collector without endpoint), a value makes a pod Kubernetes "
        "or the proxy refuses (the rules MF353 applies to the config.linkerd.io annotation overriding "
        "it: a port outside 1-65535, a negative or root proxy.uid, an image name with a line break, a "
        "request above its limit), or enrollment sidecar was given no values at all. A problem of the "
        "values is said once, at the key in the values file, before any workload is enrolled. A pod "
        "annotation the values cannot serve, such as close-wait-timeout without proxyInit.runAsRoot, is "
        "MF353 at that annotation.",
        "The proxy Linkerd's webhook writes depends on these values (trust anchor, ports, images, init "
        "mode); meshform writes what `linkerd inject` writes from them or nothing, never a sidecar built "
        "from guessed values.",
        'linkerd-config.yaml:40:7: error MF352 linkerd values: unsupported value "bpf" for '
        'proxyInit.iptablesMode (valid: "nft", "legacy")',
        "Give the cluster's own values: `kubectl -n linkerd get configmap linkerd-config -o yaml > "
        "linkerd-config.yaml` and set modeOptions.linkerd.valuesFile to that file. Without any values the "
        "message says so: `enrollment sidecar of Deployment web needs the cluster's linkerd-config`.",
    ),
    "MF353": _d(
        "Under linkerd with enrollment sidecar, a config.linkerd.io annotation of the pod has a value "
        "Linkerd would write into the pod although the pod could not run with it: Linkerd's own patch "
        "breaks on it (a proxy version is written raw into a JSON string, the image and pull policy "
        "unquoted into YAML), its chart refuses it (proxy-log-http-headers, a close-wait-timeout without "
        "proxyInit.runAsRoot), Kubernetes refuses the pod (a port outside 1-65535, a runAsUser outside "
        "0-2147483647 or root under runAsNonRoot, a request above its limit, an annotation longer than "
        "Kubernetes' 256 KiB), or the proxy or proxy-init cannot start (a port list or subnet they cannot "
        "parse, a negative duration). Versions, pull policies, log levels and port lists are checked with "
        "Linkerd's own CLI rules.",
        "meshform writes what `linkerd inject` writes or nothing; a pod that `kubectl apply` or the kubelet "
        "refuses is not worth writing, and a value that breaks Linkerd's patch is never pasted into YAML. "
        "The error is located at the annotation's value; the workload is left as it was and the run exits 1.",
        "k8s/web.yaml:9:39: error MF353 config.linkerd.io/admin-port: '99999': port 99999 is not a TCP "
        "port 1-65535 (Kubernetes refuses such a containerPort); the workload is not pre-injected",
    ),
    "MF354": _d(
        "Under linkerd with enrollment sidecar, a config.linkerd.io annotation has a value Linkerd cannot "
        "read (a port that is no number, a duration, quantity or boolean Go cannot parse, an opaque-ports "
        "item that is no port or range, a policy or switch outside its words). Linkerd then injects as if "
        "the annotation were not there (it logs a warning, or says nothing), and so does meshform.",
        "The pod gets the linkerd-config value, not the one the annotation seems to ask for; meshform says "
        "so where Linkerd stays silent.",
        "k8s/web.yaml:9:39: warning MF354 config.linkerd.io/inbound-port: '{{ 7*7 }}' is not a port "
        "number; Linkerd ignores it and injects as if it were not there",
    ),
    "MF355": _d(
        "Under linkerd with enrollment sidecar, the pod has an annotation under config.linkerd.io/ (or the "
        "alpha and beta prefixes) that Linkerd does not read, such as config.linkerd.io/proxy-admin-port "
        "for config.linkerd.io/admin-port.",
        "A misspelt override is silently without effect in Linkerd; meshform names the annotation it "
        "probably means.",
        "k8s/web.yaml:9:40: warning MF355 config.linkerd.io/proxy-admin-port: not an annotation Linkerd "
        "reads (did you mean config.linkerd.io/admin-port?); Linkerd injects as if it were not there",
    ),
    "MF356": _d(
        "Under istio with enrollment sidecar, a CIDR or port list of the injector values "
        "(global.proxy.excludeIPRanges, includeIPRanges, excludeInboundPorts, includeInboundPorts, "
        "excludeOutboundPorts) that a pod gets is not such a list. As the pod annotation of the same "
        "name (traffic.sidecar.istio.io/...) Istio refuses it (MF323); as a value Istio passes it to "
        "istio-iptables unchecked.",
        "The pod is written as Istio's webhook would write it, but its traffic redirection (istio-init "
        "or the CNI plugin) cannot read the list and the pod does not start. A value Istio's template "
        "cannot write at all (a double quote, a control character) is MF322, an error.",
        'istio-sidecar-injector.yaml:51:7: warning MF356 values global.proxy.excludeIPRanges "10.0.0.0" '
        "is not comma-separated CIDRs: Istio passes it to istio-iptables unchecked (as the annotation "
        "traffic.sidecar.istio.io/excludeOutboundIPRanges it refuses the pod), and the pod's traffic "
        "redirection fails to start",
    ),
    "MF401": _d(
        "A hostNetwork workload is under a mode its mesh does not apply to hostNetwork pods.",
        "The workload would look governed but carry no mesh traffic.",
        "k8s/agent.yaml:9:7: warning MF401 ambient skips hostNetwork pods; agent stays unmeshed",
    ),
    "MF402": _d(
        "A port is UDP; the mode's sidecar does not proxy UDP.",
        "That traffic bypasses the mesh: no mTLS, no policy.",
        "app.yaml:13:11: warning MF402 UDP port dns (53) is not proxied by istio",
    ),
    "MF403": _d(
        "A Job or CronJob gets a classic sidecar.",
        "A classic sidecar keeps running after the job's container ends, so the Job never completes.",
        "k8s/job.yaml:1:1: warning MF403 Job migrate under istio: a classic sidecar keeps the Job "
        "from completing",
    ),
    "MF404": _d(
        "The mode injects only in namespaces carrying a label, and the workload's namespace does not.",
        "The workload would never get its sidecar, though it looks enrolled.",
        "app.yaml:4:3: warning MF404 kuma injects only in namespaces carrying the label "
        "kuma.io/sidecar-injection",
    ),
    "MF405": _d(
        "A Helm hook was left ungoverned (the config's helmHooks is skip).",
        "Hook Jobs with a classic sidecar never complete and block the release; so they are skipped "
        "by default.",
        "<stdin>:40:1: info MF405 Helm hook Job db-migrate left ungoverned (spec.helmHooks: skip)",
    ),
    "MF410": _d(
        "The mode registers pods only through a Service, and no Service selects the workload's pods.",
        "The mesh would not know the workload, so no traffic reaches it through the mesh.",
        "k8s/web.yaml:1:1: warning MF410 no Service selects the pods of Deployment web: consul registers "
        "a pod only through the Service",
    ),
    "MF411": _d(
        "Several Services select the workload's pods and the mode needs to know which names it.",
        "The mesh would register the pods under a service picked arbitrarily.",
        "k8s/web.yaml:1:1: warning MF411 the pods of Deployment web are selected by Services web, web-admin",
    ),
    "MF412": _d(
        "With Consul ACLs, the pods' ServiceAccount is not named like their mesh service.",
        "Consul refuses to register the pods.",
        "k8s/web.yaml:1:1: warning MF412 Deployment web runs as default, not as a ServiceAccount named web",
    ),
    "MF430": _d(
        "A rule of the config names a kind meshform cannot govern (not a workload, or a misspelling).",
        "The rule would select nothing, and the workloads it was meant for would keep another mode.",
        "meshform.yaml:9:13: error MF430 rule 1 names kind 'Rollouts', which meshform cannot govern "
        "(did you mean 'Rollout'?)",
    ),
    "MF431": _d(
        "An object of a kind meshform does not know carries a pod template.",
        "Its pods would run outside the mesh while the run reports success.",
        "k8s/rollout.yaml:1:1: warning MF431 Widget shop/web (example.com/v1) carries a pod template at "
        "spec.template, but is no workload kind meshform knows: its pods are left ungoverned",
    ),
    "MF432": _d(
        "A known or declared workload kind has no pod template at its podTemplatePath, but has one "
        "elsewhere.",
        "The workload's pods would be left ungoverned: the declaration points at the wrong place.",
        "k8s/clone.yaml:1:1: warning MF432 CloneSet shop/web has no pod template at $.spec.template "
        "(podTemplatePath spec/template) but one at spec.workload.template: its pods are left ungoverned",
    ),
    "MF433": _d(
        "spec.workloadKinds declares a kind twice, or redeclares a kind meshform has built in.",
        "Two declarations of one kind could disagree on where its pod template is.",
        "meshform.yaml:7:5: error MF433 Deployment (apps) is built in [$.spec.workloadKinds[0]]",
    ),
    "MF434": _d(
        "A file found in a walked directory holds no Kubernetes object (kustomization.yaml, Chart.yaml, "
        "values.yaml, package.json) and was skipped.",
        "Tool files are not manifests; feeding them into the output would deploy garbage.",
        "k8s/kustomization.yaml:1:1: info MF434 skipped: a kustomization, not a Kubernetes object",
    ),
    "MF435": _d(
        "A file is a Go template (a Helm chart's templates/), not a rendered manifest.",
        "meshform reads rendered manifests; a template's placeholders are not values.",
        "chart/templates/deployment.yaml:1:1: error MF435 this is a Go template ({{ ... }}): meshform "
        "reads rendered manifests",
    ),
    "MF436": _d(
        "The KRM generator's ConfigMap is wrong: no data.app, an unknown key, or a path leading "
        "outside the kustomization.",
        "The generator renders the application model data.app names; a wrong one renders nothing or "
        "reads files it must not.",
        "<stdin>:1:1: error MF436 data.app '../../base/deployment.yaml' leads outside the kustomization",
    ),
    "MF437": _d(
        "A CronJob `istioctl kube-inject` injected carries Istio annotations on its pod template that "
        "kube-inject did not read (it reads a CronJob's from spec.jobTemplate.metadata).",
        "meshform takes the injection off and injects again from the pod template, as istiod's webhook "
        "injects the CronJob's pods: its sidecar differs from the one kube-inject wrote (e.g. its "
        "resources), which is said rather than done silently.",
        "k8s/cron.yaml:1:1: warning MF437 CronJob/batch/nightly was injected by istioctl kube-inject, "
        "which ... ignored the pod template's sidecar.istio.io/proxyCPU",
    ),
    "MF501": _d(
        "The command line is wrong: an unknown option or command, a missing argument.",
        "meshform does nothing rather than guess; the message suggests the closest option or command.",
        "<command line>: error MF501 No such option: --mdoe Did you mean --mode?",
    ),
    "MF601": _d(
        "A namespace carries the enrollment keys of two meshes.",
        "Pods there would be injected by both, or by whichever webhook runs first.",
        "k8s/ns.yaml:4:5: warning MF601 namespace shop is enrolled in istio and linkerd: pods would "
        "get two meshes",
    ),
    "MF602": _d(
        "The namespace disables injection, which beats the pod's own enrollment.",
        "The pod would run without its sidecar though it asks for one.",
        "k8s/ns.yaml:5:5: error MF602 namespace shop has istio-injection=disabled, which beats the "
        "pod's label",
    ),
    "MF603": _d(
        "The namespace carries a label that keeps the mesh's webhook away.",
        "The webhook never sees the pods, so none get a sidecar.",
        "k8s/ns.yaml:5:5: error MF603 namespace kube-system is excluded from Linkerd's webhook",
    ),
    "MF604": _d(
        "The namespace's Istio revision label differs from the pod's.",
        "The namespace's revision wins: the pod gets another control plane than it asks for.",
        "k8s/ns.yaml:5:5: warning MF604 namespace shop revision canary overrides the pod's revision stable",
    ),
    "MF605": _d(
        "The namespace uses istio-injection while the pod asks for a revision.",
        "istio-injection wins over revisions: the pod goes to the default control plane.",
        "k8s/ns.yaml:5:5: warning MF605 namespace shop has istio-injection=enabled, which beats istio.io/rev",
    ),
    "MF606": _d(
        "The mesh never injects pods in this namespace (e.g. kube-system).",
        "The workload cannot be governed where it is. Under enrollment labels it is an error (the label "
        "does nothing); under istio with enrollment sidecar it is a warning and the workload is left "
        "unchanged, as `istioctl kube-inject` and the webhook skip it.",
        "k8s/web.yaml:5:3: error MF606 istio never injects pods in namespace kube-system (system namespace)",
    ),
    "MF607": _d(
        "The namespace enrolls another mesh than the workload's mode.",
        "Pods would get the namespace's mesh as well as (or instead of) their own.",
        "k8s/web.yaml:5:3: error MF607 namespace shop enrolls linkerd; Deployment web is under istio",
    ),
    "MF608": _d(
        "The pod template still carries another mesh's keys.",
        "Two meshes would inject the pod, or the wrong one would.",
        "k8s/web.yaml:13:9: error MF608 Deployment web carries linkerd.io/inject, a key of linkerd",
    ),
    "MF901": _d(
        "A traffic-policy duration is not whole milliseconds, is negative, or exceeds a year.",
        "Proxies carry durations in milliseconds; other values are rounded differently per mesh.",
        "app.yaml:20:18: error MF901 timeout 1.5ms is not whole milliseconds",
    ),
    "MF902": _d(
        "Some versions of a component have a traffic weight and some do not.",
        "The split of traffic between versions would be undefined.",
        "app.yaml:22:9: error MF902 version 'v2' of 'reviews' has no weight while others do",
    ),
    "MF903": _d(
        "The versions' weights do not add up to 100.",
        "Meshes normalise or refuse such splits differently; the traffic split would not be what you wrote.",
        "app.yaml:20:9: error MF903 the versions' weights of 'reviews' add up to 90, not 100",
    ),
    "MF904": _d(
        "A retry backoff's maxInterval is shorter than its baseInterval.",
        "The backoff could never grow; meshes reject or clamp it differently.",
        "app.yaml:24:11: error MF904 backoff maxInterval is shorter than baseInterval",
    ),
    "MF905": _d(
        "perTryTimeout is longer than the overall timeout.",
        "The overall timeout covers every try, so retries can never happen.",
        "app.yaml:23:11: error MF905 perTryTimeout is longer than timeout, which covers every try",
    ),
    "MF906": _d(
        "An HTTP-level policy (retries, fault injection, header routing) is set on a component without an "
        "http, http2 or grpc port.",
        "A mesh applies L7 policy only to traffic it parses as HTTP; on TCP it is silently ignored.",
        "app.yaml:21:9: error MF906 retries needs HTTP, but component 'db' has no http, http2 or grpc port",
    ),
    "MF907": _d(
        "Authorization allows only dependents, but nothing depends on the component.",
        "Every caller would be denied: the component would be unreachable.",
        "app.yaml:25:9: error MF907 authorization allows only dependents, but no component depends "
        "on 'admin'",
    ),
    "MF910": _d(
        "The mode cannot enforce a traffic policy the application asks for.",
        "Deploying would silently drop the policy; with policyEnforcement: strict (or --policy-enforcement "
        "strict for one run) meshform refuses.",
        "app.yaml:20:9: error MF910 linkerd cannot enforce fault injection; modes that can: istio, builtin",
    ),
    "MF911": _d(
        "A policy the mode cannot enforce was left out (policyEnforcement: best-effort, or "
        "--policy-enforcement best-effort for one run).",
        "The application runs without that policy in this mode; the message says which modes enforce it.",
        "app.yaml:20:9: warning MF911 kuma cannot enforce header routing; left out",
    ),
    "MF912": _d(
        "The recorded traffic policy on a workload cannot be read back.",
        "Switching modes needs that record to rebuild the policy objects.",
        "k8s/web.yaml:14:9: error MF912 the recorded policy of Deployment web is not valid JSON",
    ),
    "MF920": _d(
        "A policy value was rounded to what the proxy carries (whole percents, fault percents to 4 "
        "decimals).",
        "The deployed value differs slightly from the written one.",
        "app.yaml:21:20: warning MF920 outlier maxEjectionPercent 33.3 is carried as 33",
    ),
    "MF930": _d(
        "The mode renders the nearest value it can carry for a policy setting.",
        "Behaviour differs slightly from the model; `meshform modes --capabilities` shows what each "
        "mode carries.",
        "app.yaml:22:11: warning MF930 linkerd approximates retries.attempts 3 by a retry budget",
    ),
    "MF921": _d(
        "An object a workload's meshform.dev/status record lists (a policy object such as a "
        "VirtualService, or the builtin proxy's ConfigMap) is not in the input; `check` reports it at "
        "the record.",
        "The workload runs without the policy its record says it has, and nothing says so once deployed: "
        "a kustomize patch or a hand edit dropped it. `transform` renders it again from the recorded "
        "policy; `check` fails so that a pipeline notices.",
        "k8s/shop.yaml:129:9: error MF921 VirtualService/reviews, which the workload's status records, is "
        "not in the input; Deployment/shop/reviews records it for istio "
        "[$.spec.template.metadata.annotations.meshform.dev/status]",
    ),
    "MF922": _d(
        "An object meshform rendered for a workload differs from what the policy recorded on the "
        "workload renders: it was edited by hand or by another tool. `check` reports it as an error, "
        "`transform` as a warning. Metadata other than meshform's labels, and status, may differ.",
        "meshform renders its objects from the recorded policy, so `transform` replaces the edited copy: "
        "the edit is lost on the next run unless it is made in the application model.",
        "k8s/shop.yaml:140:1: error MF922 VirtualService/reviews differs from what the policy recorded on "
        "the workload renders (edited by hand?); Deployment/shop/reviews records it for istio",
    ),
    "MF923": _d(
        "An object meshform owns for a workload appears more than once in one input file. `check` "
        "reports each extra copy as an error, `transform` as a warning.",
        "The API server keeps one object per kind and name, so which copy is applied depends on order; "
        "`transform` writes a single copy rendered from the recorded policy.",
        "k8s/shop.yaml:160:1: error MF923 VirtualService/reviews appears 2 times in the input (also at "
        "k8s/shop.yaml:140); Deployment/shop/reviews records it for istio",
    ),
    "MF924": _d(
        "The input holds an object of the kind and name a workload's status record lists, but it is not "
        "meshform's for that workload: it is not labelled app.kubernetes.io/managed-by: meshform and "
        "app.kubernetes.io/name naming the workload or its component.",
        "meshform never replaces or removes an object it did not write: switching to another mode leaves "
        "it as it is (a warning), and in the recorded mode it clashes with the object meshform renders "
        "(MF255), so the policy the record names is not the one applied.",
        "k8s/shop.yaml:140:1: error MF924 VirtualService/reviews is in the input but is not meshform's for "
        "this workload (it is not labelled app.kubernetes.io/managed-by: meshform and "
        "app.kubernetes.io/name: <the workload or its component>); Deployment/shop/reviews records it for "
        "istio",
    ),
    "MF925": _d(
        "One input file holds the same workload (kind, namespace and name) twice.",
        "The API server keeps one of them, so which pod template runs depends on the order they are "
        "applied; meshform cannot tell which copy is meant, refuses the later one and writes nothing.",
        "k8s/shop.yaml:19:1: error MF925 Deployment/shop/web is in the input twice (first at "
        "k8s/shop.yaml:1): the API server keeps one of them",
    ),
    "MF926": _d(
        "A component's first port is TCP or UDP in a mode that registers the pod as one service on its "
        "first port (consul), and the component has HTTP-level policy for its HTTP port: a timeout, "
        "retries, fault injection, a rate limit or a split between versions.",
        "The mesh gives the whole service the first port's protocol, so the HTTP policy can never act. "
        "Under policyEnforcement: strict meshform refuses it; under best-effort it leaves that policy out "
        "with a warning.",
        "app.yaml:14:7: error MF926 consul registers 'reviews' on its first port only (pg, 5432, tcp), so "
        "the service is tcp and timeout cannot act on its HTTP port [$.spec.components[1].traffic.timeout]",
    ),
    "MF927": _d(
        "Under consul, a component with policy (traffic or authorization) has an HTTP first port and "
        "also a TCP or UDP port: Consul (Community Edition) registers the pod as one service on its "
        "first port, with that port's protocol.",
        "The other port is not a port of the Consul service: the policy does not cover traffic to it, "
        "though the workload looks governed.",
        "app.yaml:12:5: warning MF927 Consul registers 'reviews' on its first port only (http, 9080): "
        "protocol http is that service's, and port metrics (9102, tcp) is not one of its ports "
        "[$.spec.components[1].ports]",
    ),
    "MF928": _d(
        "A route carries fault injection together with a timeout or retries, in a mode that injects the "
        "fault in the calling proxy before it routes (builtin's Envoy, istio, istio-ambient's waypoint).",
        "Envoy's fault filter runs before its router: an injected delay is not counted by the route's "
        "timeout, and an injected abort is answered before any retry, so a fault test measures the fault, "
        "not the timeout or retries it was meant to exercise. Kuma and Consul inject on the provider's "
        "side, where both count.",
        "app.yaml:13:5: warning MF928 Istio injects the fault of calls to reviews in the calling proxy "
        "before it routes: the injected delay is not counted by the timeout [$.spec.components[1].traffic]",
    ),
    "MF929": _d(
        "A component allows only its dependents (authorization: {allow: dependents}) in a mode that "
        "authorizes by mesh identity (istio, istio-ambient, linkerd, kuma, consul), but a dependent is "
        "governed by a mode that cannot present that identity (another mesh, builtin, kubernetes-native).",
        "The mesh would deny that dependent's calls: enforcing the authorization locks out a caller the "
        "model allows. Under policyEnforcement: strict meshform refuses; under best-effort it leaves the "
        "authorization out with a warning.",
        "app.yaml:15:5: error MF929 istio allows only callers with istio workload identities to reach "
        "'reviews', but its dependents 'web' (linkerd) cannot present one: they would be refused "
        "[$.spec.components[1].authorization]",
    ),
    "MF931": _d(
        "The mode enforces the policy feature but cannot carry one value declared in it (Consul has no "
        "per-try timeout, Linkerd no rate-limit burst, Kuma no retry on a status code such as 420), and "
        "policyEnforcement is strict. MF910 is the same for a whole feature the mode cannot enforce.",
        "Rendering without the value would deploy another policy than the one written, so meshform "
        "refuses, at the value, and names the modes that can carry it.",
        "app.yaml:14:30: error MF931 consul cannot carry retries.perTryTimeout: Consul has no per-try "
        "timeout; modes that can: builtin, istio, istio-ambient, linkerd, kuma "
        "[$.spec.components[1].traffic.retries.perTryTimeout]",
    ),
    "MF932": _d(
        "A value the mode cannot carry (as MF931) was left out under policyEnforcement: best-effort; the "
        "rest of the policy is rendered.",
        "The deployed policy lacks that value (here: no per-try limit, so one try may use the whole "
        "timeout); this warning is the only place that says so.",
        "app.yaml:15:30: warning MF932 consul cannot carry retries.perTryTimeout: Consul has no per-try "
        "timeout; modes that can: builtin, istio, istio-ambient, linkerd, kuma; left out (best-effort) "
        "[$.spec.components[1].traffic.retries.perTryTimeout]",
    ),
    "MF933": _d(
        "A traffic duration is 0s where 0s means nothing a mesh can carry: outlierDetection.interval or "
        "baseEjectionTime, a retry backoff's baseInterval or maxInterval; 0s for timeout, perTryTimeout "
        'or fixedDelay means "off" and is accepted.',
        "Envoy's config validation, Istio and Kuma refuse these durations at 0s, and Consul reads them as "
        "unset: the same model would be refused by one mesh and quietly mean something else in another.",
        "app.yaml:14:45: error MF933 outlierDetection.interval 0s means nothing any mesh can carry (Envoy, "
        "Istio and Kuma refuse it, Consul reads it as unset) "
        "[$.spec.components[1].traffic.outlierDetection.interval]",
    ),
    "MF940": _d(
        "Authorization under kubernetes-native is rendered as NetworkPolicy.",
        "NetworkPolicy works by address, not identity, and only with a CNI that enforces it.",
        "app.yaml:25:9: warning MF940 kubernetes-native renders authorization as NetworkPolicy",
    ),
    "MF960": _d(
        "`meshform graph -o svg` draws the SVG with Graphviz's `dot` program, and no `dot` is on PATH.",
        "meshform draws no SVG of its own; it writes nothing rather than an empty picture. `-o dot` and "
        "`-o mermaid` need no Graphviz.",
        "<command line>: error MF960 SVG needs Graphviz's `dot`, which is not on PATH",
    ),
    "MF961": _d(
        "Graphviz's `dot` ran but failed to turn meshform's DOT into SVG; the message carries its exit "
        "status and the start of what it printed.",
        "meshform writes nothing rather than a broken SVG.",
        '<command line>: error MF961 Graphviz `dot` failed (exit 1): Format: "svg" not recognized. Use one '
        "of:",
        'A `Format: "svg" not recognized` means Graphviz\'s plugins are not registered: run `dot -c` as '
        "root, or reinstall graphviz.",
    ),
    "MF701": _d(
        "The --config file is not one MeshTransformer or ConfigMap with data.mode, or has bad fields.",
        "The config chooses the mode of every workload; a misread config governs the wrong ones.",
        "meshform.yaml:1:1: error MF701 the config file must hold exactly one MeshTransformer or ConfigMap",
    ),
    "MF702": _d(
        "`meshform krm` did not receive exactly one ResourceList on stdin.",
        "kustomize and kpt always send one; anything else means the function was wired up wrongly.",
        "<stdin>:1:1: error MF702 stdin must hold exactly one ResourceList (config.kubernetes.io/v1)",
    ),
    "MF703": _d(
        "The input holds no documents at all.",
        'An empty output reads as "delete everything" to Argo CD auto-prune or kubectl apply --prune; a '
        "failed step before meshform often looks like this.",
        "<stdin>: error MF703 no documents in the input",
    ),
    "MF704": _d(
        "The KRM functionConfig selects no mode: no spec.mode, rules or data.mode.",
        "The function would pass everything through ungoverned while kustomize reports success.",
        "<stdin>:1:1: error MF704 the functionConfig selects no mode: nothing was governed",
    ),
    "MF710": _d(
        "A path named on the command line is not a regular file (a FIFO, a device).",
        "--in-place can only replace regular files; a FIFO would also hang the run.",
        "pipe.yaml: error MF710 a FIFO, not a regular file",
    ),
    "MF711": _d(
        "A FIFO, socket, device or dangling link inside a directory was skipped.",
        "Reading it could hang or read a device; the rest of the directory is still processed.",
        "k8s/pipe.yaml: warning MF711 skipped: a FIFO",
    ),
    "MF712": _d(
        "A symlink inside a walked directory points outside it.",
        "Following it would read (or with --in-place rewrite) files outside the tree you named.",
        "k8s/app.yaml: error MF712 symlink leads outside k8s (to /etc/app.yaml); not read",
    ),
    "MF713": _d(
        "A file or directory could not be written (read-only, permission denied, disk full).",
        "Nothing was replaced: meshform stages every file first and renames only when all are written.",
        "k8s/web.yaml: error MF713 cannot write: Permission denied",
    ),
    "MF714": _d(
        "-o DIR/ names a directory meshform may not replace: it holds files meshform did not write, or "
        "the path is a file.",
        "meshform replaces its output directory whole; it never deletes files someone else put there.",
        "out: error MF714 holds files meshform did not write (notes.txt)",
    ),
    "MF715": _d(
        "Two objects would get the same file name in -o DIR/ (same kind, namespace and name).",
        "One would overwrite the other; kustomize would refuse them too.",
        "<stdin>:21:1: error MF715 default_v1_configmap_a.yaml would also hold the object of <stdin>:1",
    ),
    "MF716": _d(
        "A document is a list or a scalar where -o DIR/ needs one object per file.",
        "It cannot be given a file name, and dropping it would lose your input.",
        "<stdin>:17:1: error MF716 a scalar is not a Kubernetes object",
    ),
    "MF717": _d(
        "An object has no apiVersion, kind or metadata.name to name its file by, or its name cannot be "
        "part of a file name.",
        "A name such as ../../etc/passwd would write outside the directory.",
        "<stdin>:17:1: error MF717 metadata.name '../../etc/passwd' cannot be part of a file name",
    ),
    "MF718": _d(
        "Another program changed a file while --in-place worked on it.",
        "Its change wins: meshform does not overwrite work it has not seen.",
        "k8s/web.yaml: error MF718 the file changed while meshform ran; not rewritten",
    ),
    "MF801": _d(
        "`meshform check` found a workload the config selects that is not governed.",
        "It would be deployed outside its mesh: often kustomize skipped the function (no --enable-exec).",
        "<stdin>:12:1: error MF801 Deployment web should be governed by istio but carries no meshform or "
        "mesh status",
    ),
}


def missing() -> list[str]:
    """Codes in CODES without an entry here."""
    return [code for code in CODES if code not in DOCS]


def render_reference() -> str:
    """docs/codes.md: an index, then one section per code (anchor `#mf001`) in CODES' order."""
    out = [
        "# meshform diagnostic codes\n\n",
        "<!-- Generated from meshform/diagnostics.py (CODES) and meshform/code_docs.py (DOCS) by\n"
        "     `python -m meshform.code_docs docs/codes.md`. Do not edit: edit those and regenerate. -->\n\n",
        "Every finding meshform reports carries a code: `file:line:col: level MFxxx message`, then a "
        "`hint:` line with the fix. Text reports end with a link here; `--diagnostics json` gives the "
        "code, its title, the hint and its documentationUrl here. "
        f"This page is {DOCS_URL}. The examples show what a finding looks like; names, positions "
        "and some wording differ with the input.\n\n",
        "| Code | Title |\n|---|---|\n",
        *(f"| [{c.id}](#{c.id.lower()}) | {c.title} |\n" for c in CODES.values()),
    ]
    for code in CODES.values():
        doc = DOCS[code.id]
        out += [
            f'\n<a id="{code.id.lower()}"></a>\n\n## {code.id} {code.title}\n\n',
            f"**What it means.** {doc.means}\n\n",
            f"**Why it matters.** {doc.matters}\n\n",
            f"**How to fix it.** {_sentence(code.hint)}" + (f" {doc.fix}" if doc.fix else "") + "\n\n",
            f"**Example.**\n\n```\n{doc.example}\n  hint: {code.hint}\n```\n",
        ]
    return "".join(out)


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", ")")) else text + "."


def main(argv: list[str]) -> int:
    """`python -m meshform.code_docs [PATH]`: write the reference to PATH (or stdout)."""
    if missing():
        sys.stderr.write(f"no entry in meshform/code_docs.py DOCS for: {', '.join(missing())}\n")
        return 1
    text = render_reference()
    if argv:
        with open(argv[0], "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
