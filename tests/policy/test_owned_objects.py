"""The objects a workload's status records (policy objects, the builtin proxy's ConfigMap), as the input
holds them: duplicated, edited, deleted or not meshform's, in every mode and on every switch.

`check` reports each (MF921 missing, MF922 edited, MF923 duplicated, MF924 not meshform's, located at
the object or at the status); `transform` replaces every copy meshform owns with what the recorded
policy renders, warns about the edit or the copy it replaces, and keeps an object that is not its own.
A workload twice in the input is MF925 (it was MF255, "rename your container")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, invoke, transform_text

APP = ROOT / "tests" / "fixtures" / "policy" / "owned" / "app.yaml"  # every feature, best-effort
MODES = ("builtin", "istio", "istio-ambient", "linkerd", "kuma", "consul", "kubernetes-native")
OWNER = "reviews-v1"  # the workload that records reviews' policy objects (builtin: its proxy's ConfigMap)

_rendered: dict[str, str] = {}


def _render(mode: str) -> str:
    if mode not in _rendered:
        code, out, err = invoke("render", str(APP), "--mode", mode)
        assert code == 0, err
        _rendered[mode] = out
    return _rendered[mode]


def _docs(text: str) -> list[str]:
    """The documents of meshform's output, each as written (meshform writes `---` between them)."""
    return [d for d in text.split("---\n") if d.strip()]


def _join(docs: list[str]) -> str:
    return "---\n".join(docs)


def _kind_name(doc: str) -> str:
    obj = yaml.safe_load(doc)
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _recorded(text: str) -> list[str]:
    for doc in _docs(text):
        obj = yaml.safe_load(doc)
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == OWNER:
            record = json.loads(obj["spec"]["template"]["metadata"]["annotations"]["meshform.dev/status"])
            return list(record["objects"])
    raise AssertionError(f"no Deployment {OWNER}")


def _target(mode: str) -> tuple[list[str], int]:
    """The rendered documents, and the index of the first object the owner's record lists."""
    docs = _docs(_render(mode))
    first = _recorded(_render(mode))[0]
    return docs, next(i for i, d in enumerate(docs) if _kind_name(d) == first)


def _line_of(docs: list[str], index: int) -> int:
    """The 1-based line a document starts on in `_join(docs)`."""
    return sum(d.count("\n") + 1 for d in docs[:index]) + 1


def _check(tmp_path: Path, text: str, mode: str) -> tuple[int, str]:
    path = tmp_path / "in.yaml"
    path.write_text(text)
    code, _, err = invoke("check", str(path), "--mode", mode)
    return code, err


def _codes(diags: list[Any], code: str) -> list[Any]:
    return [d for d in diags if d.code == code]


def _edited(doc: str) -> str:
    """The object with one more label and a changed spec or data: a hand edit."""
    obj = yaml.safe_load(doc)
    if "spec" in obj:
        obj["spec"]["handEdited"] = True
    else:
        obj["data"] = {**obj.get("data", {}), "hand-edited": "yes"}
    return yaml.safe_dump(obj, sort_keys=False)


def _foreign(doc: str) -> str:
    """The object relabelled as another workload's: not meshform's for the owner."""
    obj = yaml.safe_load(doc)
    obj["metadata"]["labels"]["app.kubernetes.io/name"] = "someone-else"
    return yaml.safe_dump(obj, sort_keys=False)


@pytest.mark.parametrize("mode", MODES)
def test_a_clean_render_checks_and_transforms_without_findings(mode: str, tmp_path: Path) -> None:
    text = _render(mode)
    code, err = _check(tmp_path, text, mode)
    assert (code, err.endswith(f"{len(_docs(text))} object(s) checked\n")) == (0, True)
    assert " MF92" not in err
    out, diags = transform_text(text, mode)
    assert out == text
    assert not [d for d in diags if d.code in {"MF921", "MF922", "MF923", "MF924", "MF925"}]


@pytest.mark.parametrize("mode", MODES)
def test_a_duplicated_object_is_replaced_by_one_and_said(mode: str, tmp_path: Path) -> None:
    docs, i = _target(mode)
    copy = _join([*docs[: i + 1], docs[i], *docs[i + 1 :]])
    ref = _kind_name(docs[i])
    out, diags = transform_text(copy, mode)
    assert out == _render(mode)  # one copy, the rest as rendered
    (warning,) = _codes(diags, "MF923")
    assert warning.level == "warning"
    assert (warning.line, warning.message.split(" appears")[0]) == (_line_of(docs, i + 1), ref)
    assert f"also at in.yaml:{_line_of(docs, i)}" in warning.message
    code, err = _check(tmp_path, copy, mode)
    assert code == 1
    assert f"in.yaml:{_line_of(docs, i + 1)}:1: error MF923 {ref} appears 2 times in the input" in err


@pytest.mark.parametrize(("mode", "other"), [(m, "linkerd" if m != "linkerd" else "istio") for m in MODES])
def test_a_duplicated_object_does_not_survive_a_switch(mode: str, other: str) -> None:
    docs, i = _target(mode)
    copy = _join([*docs[: i + 1], docs[i], *docs[i + 1 :]])
    ref = _kind_name(docs[i])
    out, diags = transform_text(copy, other)
    assert not [d for d in diags if d.level == "error"], diags
    api = yaml.safe_load(docs[i])["apiVersion"]
    assert [d for d in _docs(out) if (yaml.safe_load(d)["apiVersion"], _kind_name(d)) == (api, ref)] == []
    back, _ = transform_text(out, mode)
    assert back == _render(mode)


@pytest.mark.parametrize("mode", MODES)
def test_an_edited_object_is_reported_by_check_and_warned_by_transform(mode: str, tmp_path: Path) -> None:
    docs, i = _target(mode)
    edited = _join([*docs[:i], _edited(docs[i]), *docs[i + 1 :]])
    ref = _kind_name(docs[i])
    code, err = _check(tmp_path, edited, mode)
    assert code == 1
    assert f"in.yaml:{_line_of(docs, i)}:1: error MF922 {ref} differs from what the policy recorded" in err
    out, diags = transform_text(edited, mode)
    assert out == _render(mode)  # rendered again from the recorded policy
    (warning,) = _codes(diags, "MF922")
    assert (warning.level, warning.line) == ("warning", _line_of(docs, i))
    assert "replaced by what the recorded policy renders" in warning.message


@pytest.mark.parametrize("mode", MODES)
def test_a_deleted_object_is_reported_by_check_and_restored_by_transform(mode: str, tmp_path: Path) -> None:
    docs, i = _target(mode)
    deleted = _join([*docs[:i], *docs[i + 1 :]])
    ref = _kind_name(docs[i])
    code, err = _check(tmp_path, deleted, mode)
    assert code == 1
    assert f"error MF921 {ref}, which the workload's status records, is not in the input" in err
    assert "[$.spec.template.metadata.annotations.meshform.dev/status]" in err  # at the record
    out, diags = transform_text(deleted, mode)
    assert out == _render(mode)
    assert not _codes(diags, "MF921")


@pytest.mark.parametrize("mode", MODES)
def test_an_object_not_meshforms_is_kept_and_said(mode: str, tmp_path: Path) -> None:
    docs, i = _target(mode)
    ref = _kind_name(docs[i])
    theirs = _foreign(docs[i])
    replaced = _join([*docs[:i], theirs, *docs[i + 1 :]])
    code, err = _check(tmp_path, replaced, mode)
    assert code == 1
    assert f"in.yaml:{_line_of(docs, i)}:1: error MF924 {ref} is in the input but is not meshform's" in err
    # switching away keeps the user's object (it is not meshform's to remove), with a warning
    other = "linkerd" if mode != "linkerd" else "istio"
    out, diags = transform_text(replaced, other)
    assert theirs in _docs(out)
    (warning,) = _codes(diags, "MF924")
    assert warning.level == "warning" and warning.message.endswith("it is left as it is")


@pytest.mark.parametrize("mode", ("istio", "builtin", "linkerd"))
def test_a_workload_twice_in_the_input_is_refused_as_such(mode: str) -> None:
    docs = _docs(_render(mode))
    i = next(i for i, d in enumerate(docs) if _kind_name(d) == f"Deployment/{OWNER}")
    twice = _join([*docs[: i + 1], docs[i], *docs[i + 1 :]])
    out, diags = transform_text(twice, mode)
    errors = [d for d in diags if d.level == "error"]
    assert [(d.code, d.line) for d in errors] == [("MF925", _line_of(docs, i + 1))]
    assert f"is in the input twice (first at in.yaml:{_line_of(docs, i)})" in errors[0].message
    code, out, err = invoke("transform", "-", "--mode", mode, stdin=twice.encode())
    assert (code, out) == (1, "")
    assert "MF255" not in err
