"""The console entry point runs a command with the cyclic collector off (meshform.collector); importing
meshform as a library leaves the collector as the caller has it."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc, sys
import meshform.cli
from meshform import launch
print("library", gc.isenabled())
seen = []
meshform.cli.main = lambda: seen.append(gc.isenabled())
sys.argv = ["meshform", "modes"]
launch.main()
print("command", seen[0])
"""


def test_command_runs_without_cyclic_collector_library_keeps_it() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["library True", "command False"]
