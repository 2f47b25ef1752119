"""Values that describe what to load and how to answer. Frozen, picklable, validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "cancelled", "error", "crashed"]

AUTO = -2
"""Sentinel for ``gpu_layers``: let Hearth decide (all layers when the build can offload)."""


@dataclass(frozen=True)
class LoadOptions:
    """How to load a model. ``gpu_layers``: -1 all, 0 none, N layers, ``AUTO``."""

    path: str
    context_length: int = 4096
    gpu_layers: int = AUTO
    threads: int | None = None
    batch_size: int = 512
    flash_attention: bool = False
    use_mmap: bool = True
    use_mlock: bool = False
    kv_cache_type: str = "f16"
    """``f16``, ``q8_0`` or ``q4_0``: a quantized cache holds a longer context in less memory."""

    def __post_init__(self) -> None:
        if self.kv_cache_type not in ("f16", "q8_0", "q4_0"):
            raise ValueError("KV cache type must be f16, q8_0 or q4_0")
        if self.context_length < 16:
            raise ValueError("context length must be at least 16 tokens")
        if self.gpu_layers < AUTO:
            raise ValueError("gpu_layers must be -1 (all), 0 (none) or a layer count")
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be at least 1")
        if self.batch_size < 1:
            raise ValueError("batch size must be at least 1")


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    seed: int | None = None
    max_tokens: int = 512
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.temperature <= 5.0:
            raise ValueError("temperature must be between 0 and 5")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError("top-p must be in (0, 1]")
        if self.top_k < 0:
            raise ValueError("top-k must be 0 (off) or more")
        if not 0.0 <= self.min_p <= 1.0:
            raise ValueError("min-p must be between 0 and 1")
        if self.repeat_penalty <= 0.0:
            raise ValueError("repeat penalty must be positive")
        if self.max_tokens < 1:
            raise ValueError("max tokens must be at least 1")


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[ChatMessage, ...]
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    prompt: str | None = None
    """A raw prompt (text completion): used as it is, without the chat template;
    ``messages`` is then ignored."""


@dataclass(frozen=True)
class GenerationStats:
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    ttft_ms: float
    """Request start to first token, measured in the engine host."""
    total_ms: float
    engine_ms: float
    """Time spent inside llama.cpp (prompt eval, decode, sampling) for this job."""
    seed: int = 0
    """The sampling seed actually used, so an answer can be reproduced."""

    @property
    def tokens_per_s(self) -> float:
        decode_ms = self.total_ms - self.ttft_ms
        if self.completion_tokens <= 1 or decode_ms <= 0:
            return 0.0
        return (self.completion_tokens - 1) * 1000.0 / decode_ms
