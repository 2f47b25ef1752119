"""HEARTH_STARTUP_REPORT: the window's cold-start time, as the packaging smoke test reads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.startup import STARTUP_REPORT_ENV, report_startup, startup_report_path


def test_no_report_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STARTUP_REPORT_ENV, raising=False)
    assert startup_report_path() is None
    assert startup_report_path({STARTUP_REPORT_ENV: "  "}) is None
    elapsed = report_startup("main window shown")
    assert elapsed > 0  # still measured (and logged)
    assert list(tmp_path.iterdir()) == []


def test_report_line_has_the_time_since_the_process_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "startup.jsonl"
    monkeypatch.setenv(STARTUP_REPORT_ENV, str(report))
    before = time.time()
    elapsed = report_startup("main window shown")
    report_startup("second event")
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["main window shown", "second event"]
    first = lines[0]
    assert before <= first["at"] <= time.time()
    # The test process started before this test ran, and not days ago.
    assert 0 < first["since_process_start_ms"] < 86_400_000
    assert first["since_process_start_ms"] == round(elapsed)


def test_an_unwritable_report_never_stops_the_app(tmp_path: Path) -> None:
    missing_folder = tmp_path / "no" / "such" / "folder" / "startup.jsonl"
    assert report_startup("main window shown", missing_folder) > 0
    assert not missing_folder.exists()


def test_process_age_counts_from_the_process_start() -> None:
    """A fresh process that waits 0.6 s reports about that much (10 ms clock ticks)."""
    script = (
        "import time; time.sleep(0.6)\n"
        "from app.core.startup import process_age_ms; print(process_age_ms())\n"
    )
    root = Path(__file__).resolve().parents[2]
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=60,
        check=True,
    )
    wall_ms = (time.monotonic() - started) * 1000.0
    age_ms = float(result.stdout)
    assert 600 <= age_ms <= wall_ms + 20
