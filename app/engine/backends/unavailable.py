"""A stand-in backend for a machine where llama.cpp itself cannot be loaded.

The CUDA build of llama.cpp (the hearth-cuda package) links the NVIDIA driver's library,
``libcuda.so.1`` (``nvcuda.dll`` on Windows); without the driver, importing llama_cpp
fails. Instead of an engine that dies with an exit code, the engine starts with this
backend: ``hearth info`` says why offload (and inference) is unavailable and what to
install, and loading a model fails with the same explanation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from app.core.errors import ModelLoadError, NoModelLoaded
from app.core.options import LoadOptions, SamplingOptions
from app.engine.backend import EmbeddingBatch, ProgressCallback, ScoreBatch, StopCheck
from app.engine.protocol import BuildInfo, LoadedModel

NO_DRIVER_REASON = (
    "this is the CUDA build of llama.cpp, and the NVIDIA driver is not installed "
    "(its library, libcuda, was not found)"
)
NO_DRIVER_HINT = "Install the NVIDIA driver, or install Hearth's CPU package instead."
BROKEN_HINT = "Reinstall Hearth; the engine log (hearth info shows where) has the details."


def explain_load_failure(detail: str) -> tuple[str, str]:
    """(reason, what to do) for an exception raised while loading llama.cpp's libraries."""
    if "libcuda" in detail or "nvcuda" in detail:
        return NO_DRIVER_REASON, NO_DRIVER_HINT
    return f"llama.cpp could not be loaded ({detail[:300]})", BROKEN_HINT


class UnavailableBackend:
    def __init__(self, detail: str) -> None:
        self._reason, self._hint = explain_load_failure(detail)

    def build_info(self) -> BuildInfo:
        note = f"No model can run: {self._reason}. {self._hint}"
        return BuildInfo(backend="llama.cpp", version="unavailable", gpu_offload=False, note=note)

    def load(self, options: LoadOptions, progress: ProgressCallback) -> LoadedModel:
        raise ModelLoadError(options.path, self._reason, self._hint)

    def unload(self) -> None:
        return None

    @property
    def context_length(self) -> int:
        return 0

    @property
    def special_tokens(self) -> tuple[str, str]:
        return ("", "")

    def tokenize(self, text: str) -> list[int]:
        raise NoModelLoaded()

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        return 0

    def generate(self, tokens: Sequence[int], sampling: SamplingOptions) -> Iterator[int]:
        raise NoModelLoaded()

    def embed(self, texts: Sequence[str], stop: StopCheck) -> EmbeddingBatch | None:
        raise NoModelLoaded()

    def token_piece(self, token: int) -> bytes:
        raise NoModelLoaded()

    def tokenize_fragment(self, text: str, special: bool) -> list[int]:
        raise NoModelLoaded()

    def score(
        self,
        prefix: Sequence[int],
        sequences: Sequence[Sequence[int]],
        candidates: Sequence[Sequence[int]],
    ) -> ScoreBatch:
        raise NoModelLoaded()

    def is_end_of_generation(self, token: int) -> bool:
        return True
