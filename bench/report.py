"""What the benchmarks' reports share: medians and ranges, the machine, verdicts."""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else float("nan")


def spread(values: Sequence[float], fmt: str) -> str:
    clean = [v for v in values if not math.isnan(v)]
    if not clean:
        return "n/a"
    return f"{format(min(clean), fmt)}-{format(max(clean), fmt)}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"
