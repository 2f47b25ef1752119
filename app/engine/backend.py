"""What the engine host needs from an inference library.

The real implementation (``backends/llama.py``) is the only module that imports
llama_cpp; tests use a scripted fake with the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.core.options import LoadOptions, SamplingOptions
from app.engine.protocol import BuildInfo, LoadedModel

ProgressCallback = Callable[[float], bool]
StopCheck = Callable[[], bool]
"""Returns True when the job has been cancelled."""


@dataclass(frozen=True)
class EmbeddingBatch:
    vectors: tuple[tuple[float, ...], ...]
    """One L2-normalised vector per text, in input order."""
    token_counts: tuple[int, ...]
    truncated: tuple[bool, ...]
    """Texts longer than the embedding context were cut to fit it."""


"""Receives 0..1 while loading; returning False aborts the load."""


class Backend(Protocol):
    def build_info(self) -> BuildInfo: ...

    def load(self, options: LoadOptions, progress: ProgressCallback) -> LoadedModel:
        """Load a model, replacing any loaded one. Raises ``HearthError`` subclasses."""
        ...

    def unload(self) -> None: ...

    @property
    def context_length(self) -> int: ...

    @property
    def special_tokens(self) -> tuple[str, str]:
        """The (BOS, EOS) token texts that chat templates refer to."""
        ...

    def tokenize(self, text: str) -> list[int]:
        """Tokens of a rendered prompt (special tokens parsed, BOS added if the model wants)."""
        ...

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        """How many leading tokens are already in the KV cache and will not be evaluated."""
        ...

    def generate(self, tokens: Sequence[int], sampling: SamplingOptions) -> Iterator[int]:
        """Evaluate what is not cached, then yield sampled tokens one at a time.

        The engine stops pulling when it is done; the next call reuses the cache.
        """
        ...

    def embed(self, texts: Sequence[str], stop: StopCheck) -> EmbeddingBatch | None:
        """Embedding vectors for ``texts``; ``None`` when ``stop`` said to stop.

        Must not disturb the KV cache that ``generate`` reuses between turns.
        """
        ...

    def token_piece(self, token: int) -> bytes: ...

    def is_end_of_generation(self, token: int) -> bool: ...

    # -- scoring (classification) --------------------------------------------------------

    def tokenize_fragment(self, text: str, special: bool) -> list[int]:
        """Tokens of text in the middle of a prompt: no BOS; special tokens only if asked."""
        ...

    def score(
        self,
        prefix: Sequence[int],
        sequences: Sequence[Sequence[int]],
        candidates: Sequence[Sequence[int]],
    ) -> ScoreBatch:
        """Log-probabilities of each candidate continuing ``prefix + sequence``.

        The prefix goes into the KV cache (what is already there is reused) and stays
        there; the sequences are evaluated after it, together, each as its own sequence
        (as many per decode call as fit), and are dropped from the cache afterwards.
        """
        ...


@dataclass(frozen=True)
class ScoreBatch:
    logprobs: list[list[float]]
    """Per sequence, per candidate: the summed log-probability of its tokens."""
    prefix_evaluated: int
    """Prefix tokens that were not in the cache and had to be evaluated."""
    evaluated: int
    """Tokens evaluated for the sequences and candidates."""
    decode_calls: int


BackendFactory = Callable[[], Backend]
