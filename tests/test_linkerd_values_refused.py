"""Linkerd values the pod could not run with are refused as their annotations are (review 11b #10,
#11): MF352 once per input, at the key in the values (file, ConfigMap text or inline), never a
workload's position repeated per workload, and nothing on stdout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_cli

OWN = ROOT / "tests" / "fixtures" / "linkerd"
WORKLOADS = OWN / "workloads.yaml"
LOCATED = re.compile(
    r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): error (?P<code>MF\d+) (?P<msg>.*)$", re.M
)


def _values_text() -> str:
    first = next(d for d in yaml.safe_load_all((OWN / "linkerd-config.yaml").read_text()) if d)
    text: str = first["data"]["values"]
    return text


def _with(path: tuple[str, ...], value: str) -> tuple[str, int]:
    """The fixture's values with `path` set to `value` (YAML text), appended as its own block at the
    end (a later key wins in neither reader: so the key must be new at top level, or nested anew)."""
    base = yaml.safe_load(_values_text())
    node = base
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = "__HERE__"
    text = yaml.safe_dump(base, sort_keys=False, width=1000)
    line = next(i for i, each in enumerate(text.splitlines(), 1) if "__HERE__" in each)
    return text.replace("'__HERE__'", value).replace("__HERE__", value), line


def _transformer(tmp_path: Path, options: str) -> Path:
    config = tmp_path / "cfg.yaml"
    config.write_text(
        "apiVersion: meshform.dev/v1alpha1\nkind: MeshTransformer\nmetadata: {name: m}\nspec:\n"
        f"  mode: linkerd\n  enrollment: sidecar\n  modeOptions:\n    linkerd:\n{options}"
    )
    return config


REFUSED = [
    (("proxy", "ports", "admin"), "99999", "not a TCP port"),
    (("proxy", "ports", "control"), "0", "not a TCP port"),
    (("proxy", "ports", "inbound"), "-1", "not a TCP port"),
    (("proxy", "ports", "outbound"), "70000", "not a TCP port"),
    (("proxy", "uid"), "-1", "runAsUser"),
    (("proxy", "uid"), "0", "root"),
    (("proxy", "gid"), "2147483648", "runAsGroup"),
    (("proxy", "image", "name"), '"evil\\nname"', "not an image name"),
    (("proxy", "image", "version"), '"v1 x"', "not a version"),
    (("proxy", "image", "pullPolicy"), "Sometimes", "not one of"),
    (("proxy", "logLevel"), '"warn\\n- x"', "log level"),
    (("proxyInit", "ignoreInboundPorts"), '"a,b"', "not a port"),
    (("proxyInit", "ignoreOutboundPorts"), '"9-1"', "upper bound"),
    (("proxyInit", "skipSubnets"), '"10.0.0.0"', "not a CIDR"),
    (("proxy", "outboundConnectTimeout"), "-1s", "negative duration"),
    (("proxy", "shutdownGracePeriod"), "-5ms", "negative duration"),
    (("proxy", "additionalEnv"), '[{"name": "A B", "value": "x"}]', "env name"),
    (("proxy", "ports", "admin"), "abc", "must be a whole number"),  # a type: the chart refuses
    (("proxyInit", "iptablesMode"), "bpf", "iptablesMode"),  # the chart's own fail
]


@pytest.mark.parametrize(
    ("path", "value", "words"), REFUSED, ids=lambda p: ".".join(p) if isinstance(p, tuple) else None
)
def test_a_value_the_pod_cannot_run_with_is_refused_once_at_its_key(
    tmp_path: Path, path: tuple[str, ...], value: str, words: str
) -> None:
    text, line = _with(path, value)
    (tmp_path / "values.yaml").write_text(text)
    config = _transformer(tmp_path, "      valuesFile: values.yaml\n")
    run = run_cli("transform", str(WORKLOADS), "--config", str(config))
    err = run.stderr.decode()
    found = LOCATED.findall(err)
    assert run.returncode == 1 and run.stdout == b"", err
    assert len(found) == 1, err  # once for the values, not once per workload
    file, at, _col, code, message = found[0]
    assert (Path(file).name, int(at), code) == ("values.yaml", line, "MF352"), err
    assert words in message


def test_resources_in_the_values_are_checked_like_the_annotations(tmp_path: Path) -> None:
    text, line = _with(("proxy", "resources"), "{cpu: {request: '2', limit: '1'}}")
    (tmp_path / "values.yaml").write_text(text)
    run = run_cli(
        "transform",
        str(WORKLOADS),
        "--config",
        str(_transformer(tmp_path, "      valuesFile: values.yaml\n")),
    )
    found = LOCATED.findall(run.stderr.decode())
    assert run.returncode == 1 and len(found) == 1 and "above its limit" in found[0][4]
    assert int(found[0][1]) == line


def test_inside_the_configmap_text_and_inline_the_key_is_found(tmp_path: Path) -> None:
    text, line = _with(("proxy", "uid"), "-1")
    block = "".join(f"    {each}\n" if each else "\n" for each in text.splitlines())
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: linkerd-config}\ndata:\n  values: |\n" + block
    )
    run = run_cli(
        "transform", str(WORKLOADS), "--config", str(_transformer(tmp_path, "      valuesFile: cm.yaml\n"))
    )
    found = LOCATED.findall(run.stderr.decode())
    assert run.returncode == 1 and [(Path(f).name, int(n)) for f, n, *_ in found] == [("cm.yaml", line + 5)]
    inline = "".join(f"        {each}\n" if each else "\n" for each in text.splitlines())
    config = _transformer(tmp_path, "      values:\n" + inline)
    run = run_cli("transform", str(WORKLOADS), "--config", str(config))
    found = LOCATED.findall(run.stderr.decode())
    assert run.returncode == 1 and [(Path(f).name, int(n)) for f, n, *_ in found] == [("cfg.yaml", line + 9)]


def test_the_clusters_own_values_pass(tmp_path: Path) -> None:
    run = run_cli(
        "transform",
        str(WORKLOADS),
        "--config",
        str(_transformer(tmp_path, f"      valuesFile: {OWN / 'linkerd-config.yaml'}\n")),
    )
    assert run.returncode == 0, run.stderr.decode()
