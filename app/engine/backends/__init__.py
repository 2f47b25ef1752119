"""Inference backends. Only this package imports llama_cpp."""

from __future__ import annotations

from app.engine.backend import Backend


def create_llama_backend() -> Backend:
    """Picklable factory for the engine child: imports llama_cpp only where it runs."""
    from app.engine.backends.llama import LlamaBackend

    return LlamaBackend()
