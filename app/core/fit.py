"""Will a model fit this machine? A memory estimate and a verdict, before loading.

The estimate (see docs/models.md for the formula and its limits):

* weights: the tensor data in the file (file size minus header), split into the
  repeating layers and the rest (token embeddings and output head);
* KV cache: ``2 x n_ctx x n_layer x n_head_kv x head_dim x bytes per element``;
* overhead: a fixed runtime allowance plus llama.cpp's compute buffers, which grow with
  the batch size, the vocabulary (logits) and the embedding width.

The verdict compares the estimate with the free memory of the GPU with the most free
memory (when the llama.cpp build can offload) and with the RAM available to a new
process: fits on the GPU, partial offload of N layers, CPU only, or won't fit. The same
arithmetic gives the GPU layer count Hearth uses when the user leaves it on automatic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from app.core.gguf_inspect import GgufInfo
from app.core.hardware import Hardware

MIB = 1024 * 1024
RUNTIME_OVERHEAD = 256 * MIB
"""llama.cpp's own allocations, the CUDA context and fragmentation, per device."""
GPU_HEADROOM = 384 * MIB
"""VRAM left free for the desktop and other programs."""
DEFAULT_BATCH = 512
ASSUMED_LAYERS = 32
"""For estimates from a file size alone (Hub files not downloaded yet)."""
SIZE_ONLY_KV_SHARE = 0.10
"""KV cache of a 4096-token context as a share of the weights, for size-only estimates
(about right for Llama 3 8B and Mistral 7B at 4-5 bits per weight)."""

_KV_BYTES_PER_ELEMENT = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}

Verdict = Literal["gpu", "partial", "cpu", "none"]
VERDICT_TEXT = {
    "gpu": "Fits on the GPU",
    "partial": "Partial GPU offload",
    "cpu": "CPU only",
    "none": "Won't fit",
}


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    kv_cache: int
    overhead: int
    layers: int
    layer_weights: int
    """Weights of one repeating layer."""
    output_weights: int
    """The output head (offloaded with the last layer); token embeddings stay on the CPU."""
    rough: bool = False
    """Estimated from a file size alone, without the model's header."""

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.overhead

    @property
    def layer_kv(self) -> int:
        return self.kv_cache // max(self.layers, 1)

    def gpu_bytes(self, layers: int) -> int:
        """VRAM for ``layers`` offloaded layers (all of them take the output head too)."""
        layers = min(layers, self.layers)
        head = self.output_weights if layers >= self.layers else 0
        return layers * (self.layer_weights + self.layer_kv) + head + self.overhead


@dataclass(frozen=True)
class Fit:
    verdict: Verdict
    gpu_layers: int
    """What to pass to llama.cpp: -1 all, 0 none, N layers."""
    estimate: MemoryEstimate
    tight: bool = False
    """CPU only, and more than the RAM available now: other programs must give some back."""

    @property
    def text(self) -> str:
        base = VERDICT_TEXT[self.verdict]
        if self.verdict == "partial":
            base = f"{base} ({self.gpu_layers} of {self.estimate.layers} layers)"
        if self.tight:
            base += ", close other programs first"
        return base

    def as_json(self) -> dict[str, object]:
        estimate = self.estimate
        return {
            "verdict": self.verdict,
            "text": self.text,
            "gpu_layers": self.gpu_layers,
            "memory_bytes": estimate.total,
            "weights_bytes": estimate.weights,
            "kv_cache_bytes": estimate.kv_cache,
            "overhead_bytes": estimate.overhead,
            "rough": estimate.rough,
        }


def kv_bytes_per_element(kv_cache_type: str) -> float:
    try:
        return _KV_BYTES_PER_ELEMENT[kv_cache_type]
    except KeyError:
        raise ValueError(f"unknown KV cache type {kv_cache_type!r}") from None


def estimate_memory(
    info: GgufInfo,
    context_length: int,
    kv_cache_type: str = "f16",
    batch_size: int = DEFAULT_BATCH,
) -> MemoryEstimate:
    """Memory to run ``info``'s model with a ``context_length``-token context."""
    weights = max(info.file_size - info.data_offset, 0)
    layers = info.block_count or ASSUMED_LAYERS
    embd = info.embedding_length or 0
    heads = info.head_count or 0
    kv_heads = info.head_count_kv or heads
    vocab = info.vocab_size or 0
    head_dim = embd / heads if heads else embd
    kv_width = kv_heads * head_dim if heads else embd
    kv_cache = int(2 * context_length * layers * kv_width * kv_bytes_per_element(kv_cache_type))
    # Embeddings and the output head: vocab x embd each, at the file's average bits/weight.
    bytes_per_weight = weights / info.parameter_count if info.parameter_count else 0.5
    outside = min(int(2 * vocab * embd * bytes_per_weight), weights // 2)
    layer_weights = (weights - outside) // layers
    compute = batch_size * (vocab + 4 * embd) * 4 + context_length * embd * 4
    return MemoryEstimate(
        weights=weights,
        kv_cache=kv_cache,
        overhead=RUNTIME_OVERHEAD + compute,
        layers=layers,
        layer_weights=layer_weights,
        output_weights=outside // 2,
    )


def estimate_from_size(file_size: int, context_length: int = 4096) -> MemoryEstimate:
    """A rough estimate for a file known only by its size (a Hub file not downloaded)."""
    kv_cache = int(file_size * SIZE_ONLY_KV_SHARE * context_length / 4096)
    outside = file_size // 20
    return MemoryEstimate(
        weights=file_size,
        kv_cache=kv_cache,
        overhead=RUNTIME_OVERHEAD + 64 * MIB,
        layers=ASSUMED_LAYERS,
        layer_weights=(file_size - outside) // ASSUMED_LAYERS,
        output_weights=outside // 2,
        rough=True,
    )


def judge(estimate: MemoryEstimate, hardware: Hardware, offload: bool) -> Fit:
    """Where ``estimate`` fits on ``hardware``; ``offload``: the build can use a GPU."""
    gpu = hardware.best_gpu if offload else None
    if gpu is not None:
        room = gpu.free_bytes - GPU_HEADROOM
        if estimate.gpu_bytes(estimate.layers) <= room:
            return Fit("gpu", -1, estimate)
        per_layer = estimate.layer_weights + estimate.layer_kv
        layers = 0
        if per_layer > 0 and room > estimate.overhead:
            layers = min(math.floor((room - estimate.overhead) / per_layer), estimate.layers - 1)
        if layers >= 1:
            on_cpu = estimate.total - layers * per_layer
            if on_cpu <= hardware.available_ram:
                return Fit("partial", layers, estimate)
    if estimate.total <= hardware.available_ram:
        return Fit("cpu", 0, estimate)
    if estimate.total <= hardware.total_ram:
        return Fit("cpu", 0, estimate, tight=True)
    return Fit("none", 0, estimate)


def suggest_gpu_layers(
    info: GgufInfo,
    context_length: int,
    kv_cache_type: str,
    hardware: Hardware,
    offload: bool,
) -> int:
    """The GPU layer count for an automatic load: all, some, or none."""
    if not offload:
        return 0
    fit = judge(estimate_memory(info, context_length, kv_cache_type), hardware, offload)
    if fit.verdict == "gpu":
        return -1
    if fit.verdict == "partial":
        return fit.gpu_layers
    # Nothing fits well: let llama.cpp try every layer only when there is no GPU to spare.
    return 0
