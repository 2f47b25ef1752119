"""Messages between the engine client and the engine host.

Everything here is a frozen dataclass that pickles cheaply: the same values travel
over a pipe to the child process or through a queue to the in-process thread.
Every job event carries its job id so a receiver can drop stale ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core.errors import HearthError
from app.core.options import ChatRequest, FinishReason, GenerationStats, LoadOptions

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


JobCommand = LoadCommand | ChatCommand | EmbedCommand | UnloadCommand
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


JobEvent = (
    JobStarted
    | LoadProgress
    | ModelLoaded
    | PromptEvaluated
    | TextChunk
    | EmbeddingsReady
    | JobFinished
)
Event = HostReady | JobEvent
