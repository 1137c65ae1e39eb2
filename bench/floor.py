"""The floor: load and dump a stream with the fastest YAML engine meshform uses, doing nothing else."""

from __future__ import annotations

import sys

from meshform.yamlio.fast import accelerated, load
from meshform.yamlio.split import split
from meshform.yamlio.writer import dump_document


def main(path: str) -> None:
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    out = []
    for _, _, doc in split(text):
        data = accelerated(doc)
        if data is NotImplemented:
            data = load(doc)
        out.append(dump_document(data))
    sys.stdout.write("---\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
