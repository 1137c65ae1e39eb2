"""The records `transform` writes are handed to the namespace rules without being read back
(meshform.core.namespaces.Written): that is exact only if each one reads back as what was handed
over. Every record written over the corpora, in every mode and enrollment, is read back here, and
the namespace rules say the same with the hand-over as without it."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT

from meshform.core import status
from meshform.core.transform import Transformer
from meshform.core.workloads import pod_template
from meshform.model.config import TransformConfig
from meshform.modes import DEFAULT
from meshform.yamlio.streams import FAST, ROUND_TRIP, load_text

FIXTURES = ROOT / "tests" / "fixtures"
CORPORA = sorted(
    [
        *(FIXTURES / "corpus").glob("*.yaml"),
        *(FIXTURES / "istio-inject").glob("*.yaml"),
        *(FIXTURES / "status").glob("*.yaml"),
        FIXTURES / "fuzz" / "workloads.yaml",
        FIXTURES / "fuzz" / "governed.yaml",
    ]
)
CONFIGS = [
    TransformConfig(mode=mode, enrollment=enrollment)
    for mode in ("kubernetes-native", "builtin", "istio", "istio-ambient", "linkerd", "kuma", "consul")
    for enrollment in (None, "sidecar")
]


def _run(path: Path, config: TransformConfig, engine: str) -> Transformer:
    chunks = load_text(path.read_text(), str(path), engine)
    run = Transformer([i for c in chunks for i in c.items], config, DEFAULT)
    run.run()
    return run


def test_every_record_written_reads_back_as_handed_over() -> None:
    handed = sum(_handed_over(path) for path in CORPORA)
    assert handed > 100, "too few records written: the test would prove little"


def _handed_over(path: Path) -> int:
    """Records written over one file in every config and engine, each checked; how many."""
    handed = 0
    for config in CONFIGS:
        for engine in (FAST, ROUND_TRIP):
            run = _run(path, config, engine)
            for item in run.items:
                template = pod_template(item.obj, run.kinds)
                found = run.written.get(id(template)) if template is not None else None
                if found is None:
                    continue
                handed += 1
                assert template is not None
                text = template["metadata"]["annotations"][status.STATUS]
                assert text is found.text
                record = status.parse(text)  # raises StatusError for a record it could not read
                assert (record.mode, record.strategy) == (found.governed.mode, found.governed.strategy)
            unhanded = run.namespaces.conflicts(run.items, run.registry, other_meshes=False, kinds=run.kinds)
            handed_over = run.namespaces.conflicts(
                run.items, run.registry, other_meshes=False, kinds=run.kinds, written=run.written
            )
            assert list(unhanded) == list(handed_over), (path, config, engine)
    return handed
