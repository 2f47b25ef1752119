"""A progress bar with items/s and the time left, for bulk tasks."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget


class RateProgress(QWidget):
    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar(self)
        self.bar.setObjectName(f"{name}Progress")
        self.bar.setAccessibleName("Progress")
        self.rate = QLabel("", self)
        self.rate.setObjectName(f"{name}Rate")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.rate)
        self._started = 0.0
        self._total = 0
        self.bar.setValue(0)

    def begin(self, total: int) -> None:
        self._started = time.perf_counter()
        self._total = total
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(0)
        self.rate.setText(f"0/{total}")

    def update_done(self, done: int) -> None:
        self.bar.setValue(done)
        elapsed = time.perf_counter() - self._started
        rate = done / elapsed if elapsed > 0 and done else 0.0
        text = f"{done}/{self._total}"
        if rate > 0:
            left = (self._total - done) / rate
            text += f" · {rate:.1f} items/s · ETA {_duration(left)}"
        self.rate.setText(text)

    def end(self, note: str) -> None:
        elapsed = time.perf_counter() - self._started
        self.rate.setText(f"{note} in {_duration(elapsed)}")


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest:02d} s"
