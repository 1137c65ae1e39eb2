"""The console entry point. `meshform --version` answers before click is even imported: tools call it
to probe for meshform, and each of those calls should cost no more than starting Python."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from meshform.version import __version__

        sys.stdout.write(f"meshform {__version__}\n")
        return
    from meshform.cli import main as cli_main

    cli_main()
