"""Inference backends. Only this package imports llama_cpp."""

from __future__ import annotations

import logging

from app.engine.backend import Backend

log = logging.getLogger(__name__)


def create_llama_backend() -> Backend:
    """Picklable factory for the engine child: imports llama_cpp only where it runs.

    When llama.cpp's libraries cannot be loaded (the CUDA build without the NVIDIA
    driver), the engine still starts, with a backend that explains why and what to do.
    """
    try:
        from app.engine.backends.llama import LlamaBackend
    except (ImportError, OSError, RuntimeError) as exc:
        # llama-cpp-python raises RuntimeError("Failed to load shared library ...: <why>").
        log.error("llama.cpp could not be loaded: %s", exc, exc_info=True)
        from app.engine.backends.unavailable import UnavailableBackend

        return UnavailableBackend(str(exc))
    return LlamaBackend()
