"""What this machine has for running models: memory, NVIDIA GPUs and their free memory.

RAM comes from psutil; GPUs from NVML (nvidia-ml-py). A machine without an NVIDIA
driver, or with NVML failing, simply has no GPUs and ``gpu_problem`` says why. Whether
the llama.cpp build can offload at all is known only to the engine; callers pass it in.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import psutil

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class Hardware:
    total_ram: int
    available_ram: int
    """Memory the system can give a new process without swapping (psutil "available")."""
    gpus: tuple[Gpu, ...] = ()
    gpu_problem: str = ""
    """Why no GPU is listed when NVML could not be used; empty otherwise."""

    @property
    def best_gpu(self) -> Gpu | None:
        """The GPU with the most free memory (llama.cpp's main device by default)."""
        return max(self.gpus, key=lambda gpu: gpu.free_bytes, default=None)

    def as_json(self) -> dict[str, object]:
        return {
            "total_ram": self.total_ram,
            "available_ram": self.available_ram,
            "gpus": [
                {
                    "index": gpu.index,
                    "name": gpu.name,
                    "total_bytes": gpu.total_bytes,
                    "free_bytes": gpu.free_bytes,
                }
                for gpu in self.gpus
            ],
            "gpu_problem": self.gpu_problem or None,
        }


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def probe_gpus() -> tuple[tuple[Gpu, ...], str]:
    """NVIDIA GPUs through NVML, or no GPUs and the reason."""
    try:
        import pynvml
    except ImportError:
        return (), "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return (), f"no NVIDIA driver ({exc})"
    except OSError as exc:  # the shared library is missing or broken
        return (), f"no NVIDIA driver ({exc})"
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = _text(pynvml.nvmlDeviceGetName(handle))
            gpus.append(Gpu(index, name, int(memory.total), int(memory.free)))
        return tuple(gpus), ""
    except pynvml.NVMLError as exc:
        log.warning("NVML failed while listing GPUs: %s", exc)
        return (), f"NVML failed ({exc})"
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


def probe_hardware() -> Hardware:
    memory = psutil.virtual_memory()
    gpus, problem = probe_gpus()
    return Hardware(int(memory.total), int(memory.available), gpus, problem)
