"""Embeddings from the loaded llama.cpp model, on a context of their own.

A second context on the same model weights: the chat context's KV cache (and so the
warm follow-up turn) is left alone, and no weights are loaded twice. Causal language
models have no pooling of their own; their token vectors are mean-pooled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import llama_cpp._internals as internals
import llama_cpp.llama_cpp as llama_c

from app.engine.backend import EmbeddingBatch, StopCheck

MAX_EMBEDDING_CONTEXT = 2048
"""Longer texts are cut to this many tokens: retrieval passages are far shorter."""
_MAX_SEQUENCES = 16
"""Texts decoded together in one batch."""


class EmbeddingContext:
    def __init__(self, llm: Any, n_threads: int | None) -> None:
        self._llm = llm
        trained = int(llm._model.n_ctx_train()) or MAX_EMBEDDING_CONTEXT
        self.n_ctx = min(MAX_EMBEDDING_CONTEXT, int(llm.n_ctx()), trained)
        self._n_embd = int(llm._model.n_embd())
        self._ctx = self._new_context(n_threads, llama_c.LLAMA_POOLING_TYPE_UNSPECIFIED)
        if self._ctx.pooling_type() == llama_c.LLAMA_POOLING_TYPE_NONE:
            self._ctx.close()
            self._ctx = self._new_context(n_threads, llama_c.LLAMA_POOLING_TYPE_MEAN)
        self._batch: Any = internals.LlamaBatch(
            n_tokens=self.n_ctx, embd=0, n_seq_max=_MAX_SEQUENCES, verbose=False
        )

    def _new_context(self, n_threads: int | None, pooling: int) -> Any:
        params = llama_c.llama_context_default_params()
        params.n_ctx = self.n_ctx
        # Encoder models must see a whole sequence in one micro-batch.
        params.n_batch = params.n_ubatch = self.n_ctx
        params.n_seq_max = _MAX_SEQUENCES
        params.embeddings = True
        params.pooling_type = pooling
        if n_threads:
            params.n_threads = params.n_threads_batch = n_threads
        return internals.LlamaContext(model=self._llm._model, params=params, verbose=False)

    def embed(self, texts: Sequence[str], stop: StopCheck) -> EmbeddingBatch | None:
        vectors: list[tuple[float, ...]] = []
        counts: list[int] = []
        truncated: list[bool] = []
        pending = 0  # sequences in the current batch
        used = 0  # tokens in the current batch
        for text in texts:
            tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
            if not tokens:
                tokens = self._llm.tokenize(b" ", add_bos=True, special=False)
            cut = len(tokens) > self.n_ctx
            tokens = tokens[: self.n_ctx]
            if pending and (used + len(tokens) > self.n_ctx or pending >= _MAX_SEQUENCES):
                vectors.extend(self._decode(pending))
                pending = used = 0
                if stop():
                    return None
            self._batch.add_sequence(tokens, pending, True)
            pending += 1
            used += len(tokens)
            counts.append(len(tokens))
            truncated.append(cut)
        if pending:
            vectors.extend(self._decode(pending))
        return EmbeddingBatch(tuple(vectors), tuple(counts), tuple(truncated))

    def _decode(self, sequences: int) -> list[tuple[float, ...]]:
        self._ctx.kv_cache_clear()
        self._ctx.decode(self._batch)
        self._batch.reset()
        out = []
        for seq in range(sequences):
            pointer = llama_c.llama_get_embeddings_seq(self._ctx.ctx, seq)
            out.append(_normalised(pointer[: self._n_embd]))
        return out

    def close(self) -> None:
        self._batch.close()
        self._ctx.close()


def _normalised(values: Sequence[float]) -> tuple[float, ...]:
    norm = math.sqrt(sum(v * v for v in values))
    if norm == 0.0 or not math.isfinite(norm):
        return tuple(float(v) for v in values)
    return tuple(float(v) / norm for v in values)
