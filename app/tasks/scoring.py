"""How label scores are obtained: the scorer interface and its implementations.

A scorer answers "how likely is each candidate answer for this item" for many items
under one shared prompt. ``EngineScorer`` reads next-token log-probabilities from the
local engine (one forward pass per item, the shared prefix cached). A backend that
cannot return log-probabilities (a remote chat API, for one) plugs in through
``GenerationScorer``, which asks for the answer with constrained generation and
matches the reply to the candidates.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.core.errors import HearthError
from app.core.options import ChatMessage, ChatRequest, SamplingOptions
from app.engine.client import EngineClient, Job
from app.engine.protocol import (
    ITEM_SLOT,
    REMOTE_ARCHITECTURE,
    JobFinished,
    ScoreRequest,
    ScoreResults,
)

UNMATCHED_LOGPROB = -30.0
"""What a constrained-generation scorer gives the candidates it did not choose."""


@dataclass(frozen=True)
class ScorePrompt:
    """The shared prompt: ``messages``' last message holds ``ITEM_SLOT`` once."""

    messages: tuple[ChatMessage, ...]
    candidates: tuple[str, ...]
    answer_prefix: str = ""
    items_per_decode: int = 1
    max_item_tokens: int | None = None

    def for_item(self, text: str) -> tuple[ChatMessage, ...]:
        last = self.messages[-1]
        filled = ChatMessage(last.role, last.content.replace(ITEM_SLOT, text))
        return (*self.messages[:-1], filled)


@dataclass(frozen=True)
class ScoredItem:
    logprobs: tuple[float, ...]
    """Per candidate, in prompt order."""
    truncated: bool = False
    exact: bool = True
    """False when the scores come from a generated answer, not from probabilities."""
    evaluated_tokens: int = 0
    """Tokens the model evaluated for this item (0 when unknown)."""
    prompt_tokens: int = 0
    """Of those, the item's and the prompt tail's (not the label tokens)."""
    item_tokens: int = 0


class ScoreStream(Protocol):
    def __iter__(self) -> Iterator[tuple[int, ScoredItem]]:
        """(item index, scores), in item order; raises ``HearthError`` on failure."""
        ...

    def cancel(self) -> None: ...

    @property
    def cancelled(self) -> bool: ...


class LabelScorer(Protocol):
    @property
    def gives_probabilities(self) -> bool:
        """False when scores come from generated answers (no calibration possible)."""
        ...

    def start(self, prompt: ScorePrompt, items: Sequence[str]) -> ScoreStream: ...


# -- the local engine ---------------------------------------------------------------------


class _EngineStream:
    def __init__(self, job: Job, count: int) -> None:
        self._job = job
        self._count = count
        self._cancelled = False
        self.finished: JobFinished | None = None

    def __iter__(self) -> Iterator[tuple[int, ScoredItem]]:
        for event in self._job.events():
            if isinstance(event, ScoreResults):
                share = event.evaluated_tokens / max(1, len(event.scores))
                prompt_share = event.prompt_tokens / max(1, len(event.scores))
                for offset, score in enumerate(event.scores):
                    yield (
                        event.start + offset,
                        ScoredItem(
                            score.logprobs,
                            score.truncated,
                            True,
                            round(share),
                            round(prompt_share),
                            score.item_tokens,
                        ),
                    )
            elif isinstance(event, JobFinished):
                self.finished = event
                if event.finish_reason == "cancelled":
                    self._cancelled = True
                elif event.error is not None:
                    raise event.error

    def cancel(self) -> None:
        self._cancelled = True
        self._job.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled


class EngineScorer:
    """Scores through the engine's score job (the model must be loaded)."""

    gives_probabilities = True

    def __init__(self, client: EngineClient) -> None:
        self._client = client

    def start(self, prompt: ScorePrompt, items: Sequence[str]) -> ScoreStream:
        request = ScoreRequest(
            prompt.messages,
            tuple(items),
            prompt.candidates,
            prompt.answer_prefix,
            prompt.items_per_decode,
            prompt.max_item_tokens,
        )
        return _EngineStream(self._client.score(request), len(items))


# -- constrained generation (no log-probabilities) ----------------------------------------


class Completer(Protocol):
    """A chat model that answers, greedily, with one of ``choices``.

    A server that supports it should constrain the answer (a grammar, guided choice or
    logit bias); the scorer also matches a free answer to the closest choice.
    """

    def complete(
        self, messages: Sequence[ChatMessage], choices: Sequence[str], max_tokens: int
    ) -> str: ...


def match_choice(reply: str, choices: Sequence[str]) -> int | None:
    """The choice a short reply names: exact, then by prefix, then by mention."""
    text = reply.strip().strip("\"'`*.:").strip().casefold()
    folded = [choice.casefold() for choice in choices]
    if text in folded:
        return folded.index(text)
    # Longest first, so "neutral-ish" does not match "neutral" before "neutral-ish".
    order = sorted(range(len(choices)), key=lambda i: -len(folded[i]))
    for index in order:
        if text.startswith(folded[index]):
            return index
    for index in order:
        if folded[index] and folded[index] in text:
            return index
    return None


class _GenerationStream:
    def __init__(self, scorer: GenerationScorer, prompt: ScorePrompt, items: Sequence[str]):
        self._scorer = scorer
        self._prompt = prompt
        self._items = items
        self._cancelled = False

    def __iter__(self) -> Iterator[tuple[int, ScoredItem]]:
        count = len(self._prompt.candidates)
        longest = max(len(c) for c in self._prompt.candidates)
        for index, item in enumerate(self._items):
            if self._cancelled:
                return
            # No tokenizer here: about four characters per token.
            limit = self._prompt.max_item_tokens
            truncated = limit is not None and len(item) > limit * 4
            text = item[: limit * 4] if limit is not None and truncated else item
            messages = self._prompt.for_item(text)
            if self._prompt.answer_prefix:
                last = messages[-1]
                suffix = f"\n{self._prompt.answer_prefix.strip()}"
                messages = (*messages[:-1], ChatMessage(last.role, last.content + suffix))
            reply = self._scorer.completer.complete(
                messages, self._prompt.candidates, max(4, longest // 2 + 4)
            )
            chosen = match_choice(reply, self._prompt.candidates)
            if chosen is None:
                flat = -math.log(count)
                scores = tuple(flat for _ in range(count))
            else:
                scores = tuple(0.0 if c == chosen else UNMATCHED_LOGPROB for c in range(count))
            yield index, ScoredItem(scores, truncated, exact=False)

    def cancel(self) -> None:
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled


class GenerationScorer:
    """For backends without log-probabilities: one short greedy answer per item."""

    gives_probabilities = False

    def __init__(self, completer: Completer) -> None:
        self.completer = completer

    def start(self, prompt: ScorePrompt, items: Sequence[str]) -> ScoreStream:
        return _GenerationStream(self, prompt, items)


class EngineCompleter:
    """A ``Completer`` on the local engine's chat job (greedy, a few tokens)."""

    def __init__(self, client: EngineClient) -> None:
        self._client = client

    def complete(
        self, messages: Sequence[ChatMessage], choices: Sequence[str], max_tokens: int
    ) -> str:
        sampling = SamplingOptions(
            temperature=0.0, top_k=1, repeat_penalty=1.0, seed=0, max_tokens=max_tokens
        )
        finished = self._client.chat(ChatRequest(tuple(messages), sampling)).wait()
        if finished.error is not None:
            raise finished.error
        if finished.finish_reason == "cancelled":
            raise ScoringCancelled()
        return finished.text


def scorer_for(client: EngineClient) -> LabelScorer:
    """Log-probability scoring on a local model; constrained answers on a remote one
    (an OpenAI-compatible server gives no next-token scores for a cached prefix)."""
    model = client.loaded_model
    if model is not None and model.architecture == REMOTE_ARCHITECTURE:
        return GenerationScorer(EngineCompleter(client))
    return EngineScorer(client)


class ScoringCancelled(HearthError):
    def __init__(self) -> None:
        super().__init__("Classification was cancelled.")
