"""Entry point of the packaged Hearth (PyInstaller): the window and the ``hearth`` command.

The engine runs in a child process started with ``spawn``; in a frozen build that child
is this same executable, and ``freeze_support()`` turns it into the engine before
anything else is imported.
"""

from __future__ import annotations

import multiprocessing
import sys


def _run() -> int:
    from app.cli import main

    # Old macOS versions pass a -psn_... process serial number to apps opened from Finder.
    return main([arg for arg in sys.argv[1:] if not arg.startswith("-psn_")])


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(_run())
