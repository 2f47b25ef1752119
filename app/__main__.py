"""``python -m app`` is the same as the ``hearth`` command."""

from __future__ import annotations

import multiprocessing
import sys

from app.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # the engine child in frozen (PyInstaller) builds
    sys.exit(main())
