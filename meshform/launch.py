"""The console entry point. `meshform --version` answers before click is even imported: tools call it
to probe for meshform, and each of those calls should cost no more than starting Python. A standard
output that cannot be written ends it as meshform.exits says, never with a traceback.
"""

from __future__ import annotations

import sys

from meshform.collector import one_shot
from meshform.exits import closed_pipe, standard_streams, unwritable


def _version() -> None:
    from meshform.version import __version__

    sys.stdout.write(f"meshform {__version__}\n")
    sys.stdout.flush()


def main() -> None:
    standard_streams()
    if sys.argv[1:] != ["--version"]:
        one_shot()
        from meshform.cli import main as cli_main

        cli_main()
        return
    try:
        _version()
    except BrokenPipeError:
        closed_pipe()
    except OSError as exc:
        unwritable(exc)
