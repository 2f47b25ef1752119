"""Vectors for passages and questions: the small interface retrieval needs, and storage.

An :class:`Embedder` turns texts into vectors: :class:`EngineEmbedder` asks the model
loaded in the engine, tests use a deterministic fake. Vectors are stored as little-endian
float32 bytes, normalised to unit length so a dot product is the cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from app.engine.client import EngineClient, collect_embeddings

EMBED_BATCH = 32


class Embedder(Protocol):
    @property
    def model_id(self) -> str:
        """Names the model: vectors of different models are never compared."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def to_blob(vector: Sequence[float]) -> bytes:
    array = np.asarray(vector, dtype="<f4")
    norm = float(np.linalg.norm(array))
    if norm > 0:
        array = array / norm
    return array.astype("<f4").tobytes()


def from_blobs(blobs: Sequence[bytes]) -> npt.NDArray[np.float32]:
    """A (rows, dims) matrix; rows of another width than the first are zeroed."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    width = len(blobs[0]) // 4
    matrix = np.zeros((len(blobs), width), dtype=np.float32)
    for row, blob in enumerate(blobs):
        if len(blob) == width * 4:
            matrix[row] = np.frombuffer(blob, dtype="<f4")
    return matrix


def embed_all(embedder: Embedder, texts: Sequence[str]) -> list[bytes]:
    blobs: list[bytes] = []
    for start in range(0, len(texts), EMBED_BATCH):
        vectors = embedder.embed(texts[start : start + EMBED_BATCH])
        blobs.extend(to_blob(vector) for vector in vectors)
    return blobs


class EngineEmbedder:
    """Vectors from the model loaded in Hearth's engine (an embedding job per batch).

    ``model_id`` names that model (its library id): the caller loads it first. The
    engine embeds on a second context over the same weights, so a chat's warm cache
    is left alone.
    """

    def __init__(self, client: EngineClient, model_id: str, timeout: float | None = 600) -> None:
        self._client = client
        self._model_id = model_id
        self._timeout = timeout

    @property
    def model_id(self) -> str:
        return self._model_id

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        job = self._client.embed(list(texts))
        result = collect_embeddings(job, self._timeout)
        return [list(vector) for vector in result.vectors]
