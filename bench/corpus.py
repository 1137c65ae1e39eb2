"""Benchmark inputs: N workloads of every kind plus their Services, with or without comments, and an
application model of N components. Deterministic: the same N gives the same bytes."""

from __future__ import annotations

from typing import Any

from meshform.yamlio.writer import dump_document

KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Deployment", "Deployment")


def _container(i: int) -> dict[str, Any]:
    return {
        "name": "app",
        "image": f"registry.example.com/team/service-{i % 50}:1.{i % 7}.{i % 13}",
        "args": ["--port=8080", "--log-level=info"],
        "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9102}],
        "env": [
            {"name": "SERVICE_NAME", "value": f"svc-{i}"},
            {"name": "FEATURE_FLAGS", "value": "on"},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": 8080}},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
    }


def _workload(i: int) -> dict[str, Any]:
    kind = KINDS[i % len(KINDS)]
    name = f"svc-{i}"
    labels = {"app": name, "app.kubernetes.io/part-of": "bench", "version": "v1"}
    template = {
        "metadata": {"labels": dict(labels), "annotations": {"prometheus.io/scrape": "true"}},
        "spec": {"serviceAccountName": name, "containers": [_container(i)]},
    }
    meta = {"name": name, "namespace": f"team-{i % 10}", "labels": dict(labels)}
    api = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    if kind == "CronJob":
        template["spec"]["restartPolicy"] = "OnFailure"
        spec: dict[str, Any] = {"schedule": "*/15 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        template["spec"]["restartPolicy"] = "OnFailure"
        spec = {"template": template}
    else:
        spec = {"selector": {"matchLabels": {"app": name}}, "template": template}
        if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
            spec = {"replicas": 2, **spec}
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}


def _service(i: int) -> dict[str, Any]:
    name = f"svc-{i}"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": f"team-{i % 10}"},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }


def stream(n: int, comments: bool = False) -> str:
    """N workloads and N Services as one multi-document YAML stream."""
    docs = []
    for i in range(n):
        for obj in (_workload(i), _service(i)):
            text = dump_document(obj)
            if comments:
                text = f"# {obj['kind']} {obj['metadata']['name']}: owned by team-{i % 10}\n" + text.replace(
                    "  replicas: 2\n", "  replicas: 2 # scaled by HPA later\n"
                )
            docs.append(text)
    return "---\n".join(docs)


def hand_written(n: int) -> str:
    """The stream as people keep their own files: 4-space indentation, comments inside blocks,
    flow-style sequences, single quotes, and every 20th workload with an anchor (which the patcher
    leaves to the round-trip engine: its cost is in the row)."""
    docs = []
    for i, text in enumerate(stream(n, comments=True).split("---\n")):
        lines = []
        for line in text.splitlines():
            body = line.lstrip(" ")
            # 4-space indentation, sequences indented under their key (`- ` 2 deeper than it)
            depth = 2 * (len(line) - len(body)) + (2 if body.startswith("- ") else 0)
            line = " " * depth + body
            lines.append(line)
            if body == "containers:":
                lines.append(line[: len(line) - len(body)] + "# the main container first")
        text = "\n".join(lines) + "\n"
        text = text.replace(
            "args:\n                  - --port=8080\n                  - --log-level=info\n",
            "args: [--port=8080, --log-level=info]  # flow\n",
        )
        text = text.replace('value: "on"', "value: 'on'")
        if i % 40 == 0:
            text = text.replace("    selector:\n", "    selector: &selector\n", 1)
        docs.append(text)
    return "---\n".join(docs)


def application(n: int) -> str:
    """An application model of N components, each depending on the next one."""
    components = []
    for i in range(n):
        component: dict[str, Any] = {
            "name": f"c{i}",
            "image": f"registry.example.com/team/c{i}:1.0.0",
            "ports": [{"name": "http", "port": 8080}],
            "env": {"LOG_LEVEL": "info"},
        }
        if i + 1 < n:
            component["dependencies"] = [f"c{i + 1}"]
        components.append(component)
    app = {
        "apiVersion": "meshform.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "bench", "namespace": "bench"},
        "spec": {"governanceMode": "istio", "components": components},
    }
    return dump_document(app)
