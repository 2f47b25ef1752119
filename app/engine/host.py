"""The engine host: owns the model and runs one job at a time.

The same loop runs in the engine child process (default) or on a thread (tests,
debugging). It talks only through a ``HostChannel`` and reads cancellation from a
``CancelFlag`` that the client sets directly, so a cancel never waits behind the
work it is meant to stop.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import time
from typing import Protocol

from app.core.errors import ContextOverflow, HearthError, NoModelLoaded
from app.core.options import FinishReason, GenerationStats
from app.core.prompting import render_chat_prompt
from app.engine.backend import Backend, BackendFactory
from app.engine.protocol import (
    ITEM_SLOT,
    ChatCommand,
    Command,
    EmbedCommand,
    EmbeddingsReady,
    Event,
    HostReady,
    ItemScore,
    JobCommand,
    JobFinished,
    JobStarted,
    LoadCommand,
    LoadedModel,
    LoadProgress,
    ModelLoaded,
    PromptEvaluated,
    ScoreCommand,
    ScoreResults,
    ShutdownCommand,
    TextChunk,
    UnloadCommand,
)
from app.engine.streaming import StopScanner, TokenTextDecoder

log = logging.getLogger(__name__)


class CancelFlag(Protocol):
    def is_cancelled(self, job_id: int) -> bool: ...


class HostChannel(Protocol):
    def receive(self) -> Command | None:
        """The next command; ``None`` when the client is gone."""
        ...

    def emit(self, event: Event) -> None: ...


class UnexpectedEngineError(HearthError):
    def __init__(self, detail: str) -> None:
        super().__init__(
            f"The engine failed unexpectedly: {detail}",
            "See the log file for details; try again or load another model.",
        )


class EngineHost:
    """``send_interval_s``: text produced within this time of the last send waits for the
    next token (or the end) and goes out together; a fast GPU then sends a few tokens
    per message instead of paying the process hop for each one."""

    def __init__(
        self,
        backend_factory: BackendFactory,
        channel: HostChannel,
        cancel: CancelFlag,
        send_interval_s: float = 0.0,
    ) -> None:
        self._send_interval_s = send_interval_s
        self._factory = backend_factory
        self._channel = channel
        self._cancel = cancel
        self._backend: Backend | None = None
        self._model: LoadedModel | None = None

    def run(self) -> None:
        self._backend = self._factory()
        self._channel.emit(HostReady(build=self._backend.build_info(), pid=os.getpid()))
        try:
            while True:
                command = self._channel.receive()
                if command is None or isinstance(command, ShutdownCommand):
                    break
                self._run_job(command)
        finally:
            self._backend.unload()

    def _run_job(self, command: JobCommand) -> None:
        job_id = command.job_id
        self._channel.emit(JobStarted(job_id))
        try:
            if isinstance(command, LoadCommand):
                finished = self._load(command)
            elif isinstance(command, ChatCommand):
                finished = self._chat(command)
            elif isinstance(command, EmbedCommand):
                finished = self._embed(command)
            elif isinstance(command, ScoreCommand):
                finished = self._score(command)
            else:
                finished = self._unload(command)
        except HearthError as failure:
            finished = JobFinished(job_id, "error", error=failure)
        except Exception as exc:
            log.exception("engine job %d failed", job_id)
            unexpected = UnexpectedEngineError(f"{type(exc).__name__}: {str(exc)[:300]}")
            finished = JobFinished(job_id, "error", error=unexpected)
        self._channel.emit(finished)

    @property
    def backend(self) -> Backend:
        assert self._backend is not None, "run() creates the backend"
        return self._backend

    def _load(self, command: LoadCommand) -> JobFinished:
        job_id = command.job_id
        last = -1.0

        def progress(fraction: float) -> bool:
            nonlocal last
            if fraction - last >= 0.01 or fraction >= 1.0:
                last = fraction
                self._channel.emit(LoadProgress(job_id, min(max(fraction, 0.0), 1.0)))
            return not self._cancel.is_cancelled(job_id)

        self._model = None
        model = self.backend.load(command.options, progress)
        if self._cancel.is_cancelled(job_id):
            self.backend.unload()
            return JobFinished(job_id, "cancelled")
        self._model = model
        self._channel.emit(ModelLoaded(job_id, model))
        return JobFinished(job_id, "stop")

    def _unload(self, command: UnloadCommand) -> JobFinished:
        self.backend.unload()
        self._model = None
        return JobFinished(command.job_id, "stop")

    def _embed(self, command: EmbedCommand) -> JobFinished:
        job_id = command.job_id
        if self._model is None:
            raise NoModelLoaded()
        started = time.perf_counter()
        batch = self.backend.embed(command.texts, lambda: self._cancel.is_cancelled(job_id))
        if batch is None:
            return JobFinished(job_id, "cancelled")
        self._channel.emit(
            EmbeddingsReady(job_id, batch.vectors, batch.token_counts, batch.truncated)
        )
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        stats = GenerationStats(
            prompt_tokens=sum(batch.token_counts),
            cached_tokens=0,
            completion_tokens=0,
            ttft_ms=elapsed_ms,
            total_ms=elapsed_ms,
            engine_ms=elapsed_ms,
        )
        return JobFinished(job_id, "stop", stats=stats)

    def _chat(self, command: ChatCommand) -> JobFinished:
        job_id = command.job_id
        model = self._model
        if model is None:
            raise NoModelLoaded()
        backend = self.backend
        sampling = command.request.sampling
        if sampling.seed is None:
            sampling = dataclasses.replace(sampling, seed=random.getrandbits(31))
        started = time.perf_counter()
        bos, eos = backend.special_tokens
        if command.request.prompt is not None:
            prompt_text, warning = command.request.prompt, ""
        else:
            rendered = render_chat_prompt(
                model.chat_template, command.request.messages, bos_token=bos, eos_token=eos
            )
            prompt_text, warning = rendered.text, rendered.warning
        tokens = backend.tokenize(prompt_text)
        n_ctx = backend.context_length
        if len(tokens) >= n_ctx:
            raise ContextOverflow(len(tokens), n_ctx)
        cached = backend.cached_prefix(tokens)
        budget = min(sampling.max_tokens, n_ctx - len(tokens))

        decoder = TokenTextDecoder()
        scanner = StopScanner(sampling.stop)
        parts: list[str] = []
        unsent: list[str] = []
        unsent_tokens = 0
        last_sent = 0.0
        interval = self._send_interval_s
        # Locals: this loop runs once per token, right after llama.cpp has evicted
        # Python's working set from the CPU caches.
        emit = self._channel.emit
        is_cancelled = self._cancel.is_cancelled
        is_eog = backend.is_end_of_generation
        piece = backend.token_piece
        clock = time.perf_counter
        engine_s = 0.0
        first_at = 0.0
        count = 0
        finish: FinishReason = "length"
        stream = backend.generate(tokens, sampling)
        try:
            while True:
                if is_cancelled(job_id):
                    finish = "cancelled"
                    break
                before = clock()
                token = next(stream, None)
                after = clock()
                engine_s += after - before
                if not first_at:
                    first_at = after
                    emit(PromptEvaluated(job_id, len(tokens), cached, warning))
                if token is None or is_eog(token):
                    finish = "stop"
                    break
                count += 1
                unsent_tokens += 1
                text = scanner.feed(decoder.feed(piece(token)))
                if text:
                    parts.append(text)
                    unsent.append(text)
                    if after - last_sent >= interval:
                        emit(TextChunk(job_id, "".join(unsent), unsent_tokens))
                        unsent.clear()
                        unsent_tokens = 0
                        last_sent = after
                if scanner.stopped:
                    finish = "stop"
                    break
                if count >= budget:
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        tail = scanner.feed(decoder.flush()) + scanner.flush()
        if tail:
            parts.append(tail)
            unsent.append(tail)
        if unsent:
            emit(TextChunk(job_id, "".join(unsent), unsent_tokens))
        ended = time.perf_counter()
        stats = GenerationStats(
            prompt_tokens=len(tokens),
            cached_tokens=cached,
            completion_tokens=count,
            ttft_ms=(first_at - started) * 1000.0 if first_at else 0.0,
            total_ms=(ended - started) * 1000.0,
            engine_ms=engine_s * 1000.0,
            seed=sampling.seed or 0,
        )
        return JobFinished(job_id, finish, text="".join(parts), stats=stats)

    def _score(self, command: ScoreCommand) -> JobFinished:
        """Classification: candidate log-probabilities per item, no generation."""
        job_id = command.job_id
        request = command.request
        model = self._model
        if model is None:
            raise NoModelLoaded()
        backend = self.backend
        started = time.perf_counter()
        bos, eos = backend.special_tokens
        rendered = render_chat_prompt(
            model.chat_template, request.messages, bos_token=bos, eos_token=eos
        )
        head, slot, tail = rendered.text.partition(ITEM_SLOT)
        if not slot:
            raise UnexpectedEngineError("the chat template dropped the item from the prompt")
        prefix = backend.tokenize(head)
        suffix = backend.tokenize_fragment(tail + request.answer_prefix, special=True)
        candidates = [backend.tokenize_fragment(c, special=False) for c in request.candidates]
        if any(not tokens for tokens in candidates):
            raise UnexpectedEngineError("a candidate answer has no tokens")
        n_ctx = backend.context_length
        room = n_ctx - len(prefix) - len(suffix) - max(len(c) for c in candidates)
        if room < 1:
            raise ContextOverflow(n_ctx - room + 1, n_ctx)
        cap = min(room, request.max_item_tokens or room)
        self._channel.emit(PromptEvaluated(job_id, len(prefix), 0, rendered.warning))
        total_evaluated = 0
        total_prefix_evaluated = 0
        step = request.items_per_decode
        finish: FinishReason = "stop"
        engine_s = 0.0
        for first in range(0, len(request.items), step):
            if self._cancel.is_cancelled(job_id):
                finish = "cancelled"
                break
            sequences: list[list[int]] = []
            meta: list[tuple[int, bool]] = []
            for text in request.items[first : first + step]:
                tokens = backend.tokenize_fragment(text, special=False)
                truncated = len(tokens) > cap
                tokens = tokens[:cap]
                meta.append((len(tokens), truncated))
                sequences.append(tokens + suffix)
            before = time.perf_counter()
            batch = backend.score(prefix, sequences, candidates)
            engine_s += time.perf_counter() - before
            total_evaluated += batch.evaluated
            total_prefix_evaluated += batch.prefix_evaluated
            scores = tuple(
                ItemScore(tuple(lps), count, truncated)
                for lps, (count, truncated) in zip(batch.logprobs, meta, strict=True)
            )
            self._channel.emit(
                ScoreResults(
                    job_id,
                    first,
                    scores,
                    batch.evaluated,
                    sum(len(tokens) for tokens in sequences),
                    len(prefix),
                    batch.prefix_evaluated,
                )
            )
        ended = time.perf_counter()
        stats = GenerationStats(
            prompt_tokens=total_evaluated + total_prefix_evaluated,
            cached_tokens=0,
            completion_tokens=0,
            ttft_ms=0.0,
            total_ms=(ended - started) * 1000.0,
            engine_ms=engine_s * 1000.0,
        )
        return JobFinished(job_id, finish, stats=stats)
