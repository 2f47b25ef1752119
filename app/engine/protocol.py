"""Messages between the engine client and the engine host.

Everything here is a frozen dataclass that pickles cheaply: the same values travel
over a pipe to the child process or through a queue to the in-process thread.
Every job event carries its job id so a receiver can drop stale ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core.errors import HearthError
from app.core.options import (
    ChatMessage,
    ChatRequest,
    FinishReason,
    GenerationStats,
    LoadOptions,
)

# Commands: client -> host ---------------------------------------------------------


@dataclass(frozen=True)
class LoadCommand:
    job_id: int
    options: LoadOptions


@dataclass(frozen=True)
class ChatCommand:
    job_id: int
    request: ChatRequest


@dataclass(frozen=True)
class EmbedCommand:
    """Embedding vectors for ``texts``, each truncated to the model's context."""

    job_id: int
    texts: tuple[str, ...]


@dataclass(frozen=True)
class UnloadCommand:
    job_id: int


@dataclass(frozen=True)
class ShutdownCommand:
    pass


ITEM_SLOT = "\ue000item\ue000"
"""Where each item goes in a ``ScoreRequest``'s last message (a private-use marker)."""


@dataclass(frozen=True)
class ScoreRequest:
    """Score candidate answers for many items under one shared instruction.

    ``messages`` is rendered with the model's chat template (generation prompt added);
    its last message holds ``ITEM_SLOT`` once. Everything before the slot is the shared
    prefix: evaluated once and kept in the KV cache. Per item, only the item's tokens,
    the rest of the prompt and ``answer_prefix`` are evaluated, in one forward pass, and
    each candidate's log-probability as the continuation is read from the logits.
    """

    messages: tuple[ChatMessage, ...]
    items: tuple[str, ...]
    candidates: tuple[str, ...]
    answer_prefix: str = ""
    items_per_decode: int = 1
    """Items evaluated together in one decode call (as separate llama.cpp sequences)."""
    max_item_tokens: int | None = None
    """Cut items longer than this (they are always cut to fit the context)."""

    def __post_init__(self) -> None:
        if not self.candidates:
            raise ValueError("at least one candidate is needed")
        if self.items_per_decode < 1:
            raise ValueError("items_per_decode must be at least 1")
        slots = sum(m.content.count(ITEM_SLOT) for m in self.messages)
        if not self.messages or slots != 1 or ITEM_SLOT not in self.messages[-1].content:
            raise ValueError("the last message must hold the item slot exactly once")


@dataclass(frozen=True)
class ScoreCommand:
    job_id: int
    request: ScoreRequest


JobCommand = LoadCommand | ChatCommand | EmbedCommand | ScoreCommand | UnloadCommand
Command = JobCommand | ShutdownCommand

# Host description -------------------------------------------------------------------


@dataclass(frozen=True)
class BuildInfo:
    """What the inference library in the engine can do on this machine."""

    backend: str
    version: str
    gpu_offload: bool
    devices: tuple[str, ...] = ()
    note: str = ""
    """When there is no GPU offload: why, and what to install."""


REMOTE_ARCHITECTURE = "remote"
"""``LoadedModel.architecture`` of a model served by a remote OpenAI-compatible server."""


@dataclass(frozen=True)
class LoadedModel:
    path: str
    name: str
    architecture: str
    quantization: str
    context_length: int
    trained_context_length: int | None
    layers: int | None
    gpu_layers: int
    """Layers actually offloaded to a GPU (0 = CPU only)."""
    device: str
    load_ms: float
    chat_template: str | None


# Events: host -> client ---------------------------------------------------------------


@dataclass(frozen=True)
class HostReady:
    build: BuildInfo
    pid: int


@dataclass(frozen=True)
class JobStarted:
    job_id: int


@dataclass(frozen=True)
class LoadProgress:
    job_id: int
    fraction: float


@dataclass(frozen=True)
class ModelLoaded:
    job_id: int
    model: LoadedModel


@dataclass(frozen=True)
class PromptEvaluated:
    """The prompt is in the KV cache; ``cached_tokens`` of it were reused."""

    job_id: int
    prompt_tokens: int
    cached_tokens: int
    warning: str = ""


@dataclass(frozen=True)
class TextChunk:
    job_id: int
    text: str
    tokens: int


@dataclass(frozen=True)
class EmbeddingsReady:
    """The result of an ``EmbedCommand``: one L2-normalised vector per text, in order."""

    job_id: int
    vectors: tuple[tuple[float, ...], ...]
    token_counts: tuple[int, ...]
    truncated: tuple[bool, ...]


@dataclass(frozen=True)
class JobFinished:
    job_id: int
    finish_reason: FinishReason
    text: str = ""
    stats: GenerationStats | None = None
    error: HearthError | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ItemScore:
    logprobs: tuple[float, ...]
    """Log-probability of each candidate (in request order) as the answer."""
    item_tokens: int
    """Tokens of the item that were evaluated (after any cut)."""
    truncated: bool


@dataclass(frozen=True)
class ScoreResults:
    """Scores for ``request.items[start : start + len(scores)]``, in order."""

    job_id: int
    start: int
    scores: tuple[ItemScore, ...]
    evaluated_tokens: int
    """Tokens evaluated for these items (item, prompt tail and candidates)."""
    prompt_tokens: int
    """Of those, the items' and the prompt tail's (the rest are candidate tokens)."""
    prefix_tokens: int
    prefix_evaluated: int
    """Of the shared prefix, how many tokens were evaluated now (0 when cached)."""


JobEvent = (
    JobStarted
    | LoadProgress
    | ModelLoaded
    | PromptEvaluated
    | TextChunk
    | EmbeddingsReady
    | ScoreResults
    | JobFinished
)
Event = HostReady | JobEvent
