"""The memory estimate and the fit verdict, on a Llama-3-8B-shaped header."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from app.core.fit import estimate_from_size, estimate_memory, judge, suggest_gpu_layers
from app.core.gguf_inspect import inspect_gguf
from app.core.hardware import Gpu, Hardware, probe_hardware
from tests.fakes.gguf_files import write_model

GIB = 1024**3


@pytest.fixture
def llama8b(tmp_path: Path):
    info = inspect_gguf(write_model(tmp_path / "tiny.gguf"))
    # Llama 3 8B Instruct Q4_K_M: 4.92 GB, 32 layers, 4096 wide, 32 heads, 8 KV heads.
    return dataclasses.replace(
        info,
        file_size=4_920_000_000,
        data_offset=8_000_000,
        parameter_count=8_030_000_000,
        block_count=32,
        embedding_length=4096,
        head_count=32,
        head_count_kv=8,
        vocab_size=128_256,
        context_length=8192,
    )


def test_kv_cache_follows_the_formula(llama8b):
    estimate = estimate_memory(llama8b, 4096)
    # 2 (K and V) x 4096 tokens x 32 layers x (8 heads x 128) x 2 bytes = 512 MiB
    assert estimate.kv_cache == 512 * 1024 * 1024
    assert estimate_memory(llama8b, 4096, "q8_0").kv_cache == 512 * 1024 * 1024 * 34 // 64
    assert estimate.weights == 4_912_000_000
    assert estimate.total > estimate.weights + estimate.kv_cache
    assert 5.5 * GIB < estimate.total < 6.5 * GIB


def test_verdicts(llama8b):
    estimate = estimate_memory(llama8b, 4096)
    big_gpu = Hardware(64 * GIB, 48 * GIB, (Gpu(0, "RTX 4090", 24 * GIB, 22 * GIB),))
    assert judge(estimate, big_gpu, offload=True).verdict == "gpu"
    assert judge(estimate, big_gpu, offload=True).gpu_layers == -1
    # The same GPU but a CPU-only llama.cpp build: the GPU does not count.
    assert judge(estimate, big_gpu, offload=False).verdict == "cpu"

    small_gpu = Hardware(64 * GIB, 48 * GIB, (Gpu(0, "GTX 1650", 4 * GIB, 4 * GIB),))
    fit = judge(estimate, small_gpu, offload=True)
    assert fit.verdict == "partial"
    assert 10 < fit.gpu_layers < 32
    assert f"{fit.gpu_layers} of 32 layers" in fit.text
    more = judge(estimate, Hardware(64 * GIB, 48 * GIB, (Gpu(0, "x", 6 * GIB, 5 * GIB),)), True)
    assert more.gpu_layers > fit.gpu_layers

    assert judge(estimate, Hardware(16 * GIB, 10 * GIB), offload=True).verdict == "cpu"
    tight = judge(estimate, Hardware(8 * GIB, 3 * GIB), offload=False)
    assert (tight.verdict, tight.tight) == ("cpu", True)
    assert judge(estimate, Hardware(4 * GIB, 3 * GIB), offload=False).verdict == "none"
    # A longer context needs more: 8 GB of free RAM holds 4k tokens, not 128k.
    assert (
        judge(estimate_memory(llama8b, 131_072), Hardware(8 * GIB, 8 * GIB), False).tight is False
    )
    assert (
        judge(estimate_memory(llama8b, 131_072), Hardware(8 * GIB, 8 * GIB), False).verdict
        == "none"
    )


def test_suggested_gpu_layers(llama8b):
    roomy = Hardware(64 * GIB, 48 * GIB, (Gpu(0, "big", 24 * GIB, 22 * GIB),))
    assert suggest_gpu_layers(llama8b, 4096, "f16", roomy, offload=True) == -1
    assert suggest_gpu_layers(llama8b, 4096, "f16", roomy, offload=False) == 0
    small = Hardware(64 * GIB, 48 * GIB, (Gpu(0, "small", 4 * GIB, 4 * GIB),))
    layers = suggest_gpu_layers(llama8b, 4096, "f16", small, offload=True)
    assert 0 < layers < 32
    # A quantized KV cache leaves room for more layers.
    assert suggest_gpu_layers(llama8b, 4096, "q4_0", small, offload=True) >= layers


def test_size_only_estimate_is_marked_rough():
    estimate = estimate_from_size(4_920_000_000)
    assert estimate.rough
    assert estimate.total > 4_920_000_000
    assert judge(estimate, Hardware(16 * GIB, 12 * GIB), False).as_json()["rough"] is True


def test_probe_hardware_on_this_machine():
    hardware = probe_hardware()
    assert hardware.total_ram > 0
    assert 0 < hardware.available_ram <= hardware.total_ram
    # Either GPUs are listed or we are told why not.
    assert hardware.gpus or hardware.gpu_problem


def test_no_nvidia_driver_means_no_gpus_and_a_reason(monkeypatch):
    import pynvml

    def no_driver() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_driver)
    hardware = probe_hardware()
    assert hardware.gpus == ()
    assert "no NVIDIA driver" in hardware.gpu_problem
    assert hardware.best_gpu is None
