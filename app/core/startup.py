"""Startup timing for packaging checks: how long until the main window is first shown.

Set ``HEARTH_STARTUP_REPORT`` to a file path and the GUI appends one JSON line to it when
its window is first shown: the wall-clock time and the milliseconds since the process
started (which, in a packaged build, includes unpacking and importing everything).
``packaging/smoke_test.sh`` uses it to measure cold start. Unset, nothing is written.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

STARTUP_REPORT_ENV = "HEARTH_STARTUP_REPORT"


def startup_report_path(environ: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    value = env.get(STARTUP_REPORT_ENV, "").strip()
    return Path(value) if value else None


def process_age_ms() -> float:
    """Milliseconds since this process started (the OS's clock, 10 ms resolution)."""
    age_s = _linux_process_age_s()
    if age_s is None:
        created: float = psutil.Process().create_time()
        age_s = time.time() - created
    return age_s * 1000.0


def _linux_process_age_s() -> float | None:
    # psutil's create_time() adds the boot time, which Linux gives in whole seconds (up to
    # a second off); the process's start and the uptime both count from boot instead.
    try:
        stat = Path("/proc/self/stat").read_text(encoding="ascii")
        uptime_s = float(Path("/proc/uptime").read_text(encoding="ascii").split()[0])
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: starttime
        return uptime_s - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def report_startup(event: str, path: Path | None = None) -> float:
    """Log how long the process took to reach ``event``; append it to the report file.

    Returns the milliseconds since process start. A report file that cannot be written
    is logged, never raised: timing must not stop the app.
    """
    now = time.time()
    elapsed = process_age_ms()
    log.info("startup: %s %.0f ms after the process started", event, elapsed)
    target = startup_report_path() if path is None else path
    if target is not None:
        line = json.dumps({"event": event, "at": now, "since_process_start_ms": round(elapsed)})
        try:
            with target.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError as exc:
            log.warning("could not write the startup report %s: %s", target, exc)
    return elapsed
