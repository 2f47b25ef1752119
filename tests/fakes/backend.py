"""A scripted backend with the shape of the llama.cpp one, for fast and faulty engines."""

from __future__ import annotations

import math
import os
import re
import signal
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from app.core.errors import EmbeddingsUnsupported, ModelLoadError
from app.core.options import LoadOptions, SamplingOptions
from app.core.prompting import CHATML_TEMPLATE
from app.engine.backend import EmbeddingBatch, ProgressCallback, ScoreBatch, StopCheck
from app.engine.protocol import BuildInfo, LoadedModel

EOS = 0
FIRST_TOKEN = 1000
ECHO = 100_000


@dataclass(frozen=True)
class Script:
    pieces: tuple[bytes, ...] = (b"Hello", b",", b" world", b"!")
    token_delay_s: float = 0.0
    load_steps: int = 4
    load_error: str = ""
    context_length: int = 256
    chat_template: str | None = CHATML_TEMPLATE
    crash_after: int | None = None
    """SIGKILL the engine process itself after this many tokens (process mode only)."""
    hang_after: int | None = None
    """Stop yielding and sleep, ignoring cancel, like a stuck native call."""
    fail_start: bool = False
    echo_prompt: bool = False
    """Answer with the rendered prompt itself, to see what reached the model."""
    can_embed: bool = True
    score_keywords: tuple[str, ...] = ()
    """Scoring: an item that contains keyword k favours candidate k (else all are equal)."""
    score_delay_s: float = 0.0


class ScriptedBackend:
    def __init__(self, script: Script) -> None:
        if script.fail_start:
            raise RuntimeError("cannot initialise the inference library")
        self.script = script
        self._loaded = False
        self._evaluated: list[int] = []
        self.generate_calls = 0
        self.score_calls: list[tuple[int, int]] = []
        """Per ``score`` call: (prefix tokens evaluated, sequence tokens evaluated)."""

    def build_info(self) -> BuildInfo:
        return BuildInfo(backend="scripted", version="scripted 1", gpu_offload=False)

    def load(self, options: LoadOptions, progress: ProgressCallback) -> LoadedModel:
        for step in range(1, self.script.load_steps + 1):
            if not progress(step / self.script.load_steps):
                raise ModelLoadError(options.path, "loading was cancelled")
        if self.script.load_error:
            raise ModelLoadError(options.path, self.script.load_error)
        self._loaded = True
        self._evaluated = []
        return LoadedModel(
            path=options.path,
            name="scripted",
            architecture="llama",
            quantization="Q4_1",
            context_length=min(options.context_length, self.script.context_length),
            trained_context_length=self.script.context_length,
            layers=2,
            gpu_layers=0,
            device="CPU",
            load_ms=1.0,
            chat_template=self.script.chat_template,
        )

    def unload(self) -> None:
        self._loaded = False
        self._evaluated = []

    @property
    def context_length(self) -> int:
        return self.script.context_length

    @property
    def special_tokens(self) -> tuple[str, str]:
        return ("<s>", "</s>")

    def tokenize(self, text: str) -> list[int]:
        # One token per UTF-8 byte keeps lengths predictable in tests.
        return list(text.encode("utf-8"))

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        same = 0
        for a, b in zip(self._evaluated, tokens, strict=False):
            if a != b:
                break
            same += 1
        return same

    def generate(self, tokens: Sequence[int], sampling: SamplingOptions) -> Iterator[int]:
        self.generate_calls += 1
        self._evaluated = list(tokens)
        if self.script.echo_prompt:
            yield from (ECHO + byte for byte in tokens)
            yield EOS
            return
        for index in range(len(self.script.pieces)):
            if self.script.crash_after is not None and index == self.script.crash_after:
                # Like a native abort: a last word on stderr (fd 2), then death.
                os.write(2, b"GGML_ASSERT(scripted crash) failed\n")
                os.kill(os.getpid(), signal.SIGKILL)
            if self.script.hang_after is not None and index == self.script.hang_after:
                time.sleep(3600)
            if self.script.token_delay_s:
                time.sleep(self.script.token_delay_s)
            yield FIRST_TOKEN + index
        yield EOS

    def embed(self, texts: Sequence[str], stop: StopCheck) -> EmbeddingBatch | None:
        if not self.script.can_embed:
            raise EmbeddingsUnsupported("scripted")
        vectors = []
        for text in texts:
            if stop():
                return None
            vectors.append(bag_of_words_vector(text))
        counts = tuple(len(self.tokenize(text)) for text in texts)
        return EmbeddingBatch(tuple(vectors), counts, tuple(False for _ in texts))

    def token_piece(self, token: int) -> bytes:
        if token >= ECHO:
            return bytes([token - ECHO])
        return self.script.pieces[token - FIRST_TOKEN]

    def is_end_of_generation(self, token: int) -> bool:
        return token == EOS

    def tokenize_fragment(self, text: str, special: bool) -> list[int]:
        return list(text.encode("utf-8"))

    def score(
        self,
        prefix: Sequence[int],
        sequences: Sequence[Sequence[int]],
        candidates: Sequence[Sequence[int]],
    ) -> ScoreBatch:
        cached = self.cached_prefix(prefix)
        if cached == len(prefix) and len(self._evaluated) == len(prefix):
            prefix_evaluated = 0
        else:
            prefix_evaluated = len(prefix) - cached
        self._evaluated = list(prefix)
        if self.script.score_delay_s:
            time.sleep(self.script.score_delay_s)
        logprobs: list[list[float]] = []
        evaluated = 0
        for tokens in sequences:
            text = bytes(tokens).decode("utf-8", errors="replace")
            favourite = None
            for index, keyword in enumerate(self.script.score_keywords):
                if keyword and keyword in text:
                    favourite = min(index, len(candidates) - 1)
                    break
            if favourite is None:
                logprobs.append([-2.0] * len(candidates))
            else:
                logprobs.append([-0.05 if c == favourite else -4.0 for c in range(len(candidates))])
            evaluated += len(tokens) + sum(len(c) - 1 for c in candidates)
        self.score_calls.append((prefix_evaluated, evaluated))
        return ScoreBatch(logprobs, prefix_evaluated, evaluated, 1)


EMBEDDING_SIZE = 64


def bag_of_words_vector(text: str) -> tuple[float, ...]:
    """A deterministic stand-in embedding: texts sharing words point the same way."""
    counts = [0.0] * EMBEDDING_SIZE
    for word in re.findall(r"\w+", text.lower()):
        counts[zlib.crc32(word.encode()) % EMBEDDING_SIZE] += 1.0
    norm = math.sqrt(sum(c * c for c in counts)) or 1.0
    return tuple(c / norm for c in counts)
