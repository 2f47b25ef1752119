"""Runs a bulk task (classify, translate) on a worker thread and relays its progress.

The worker calls ``item``/``text`` from its own thread; Qt queues the signals onto the
GUI thread. Streamed text is collected under a lock and flushed by a GUI-thread timer,
so a fast model cannot flood the event loop.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

FLUSH_INTERVAL_MS = 30


class TaskRelay(QObject):
    itemDone = Signal(object)  # a task result (Classification, Translation)
    textBatch = Signal(str)
    finished = Signal(object, object)  # results, error (BaseException or None)
    _done = Signal(object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_INTERVAL_MS)
        self._timer.timeout.connect(self._flush)
        self._thread: threading.Thread | None = None
        self._done.connect(self._on_done)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, work: Callable[[], Any]) -> None:
        """Run ``work`` on a daemon thread; ``finished`` comes when it returns or fails."""
        self._timer.start()

        def run() -> None:
            try:
                result, error = work(), None
            except Exception as exc:  # shown by the panel
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # the panel may be gone
                self._done.emit(result, error)

        self._thread = threading.Thread(target=run, name="hearth-task", daemon=True)
        self._thread.start()

    # -- called on the worker thread ------------------------------------------------------

    def item(self, value: object) -> None:
        with contextlib.suppress(RuntimeError):
            self.itemDone.emit(value)

    def text(self, piece: str) -> None:
        with self._lock:
            self._pending.append(piece)

    # -- GUI thread -----------------------------------------------------------------------

    @Slot()
    def _flush(self) -> None:
        with self._lock:
            text = "".join(self._pending)
            self._pending.clear()
        if text:
            self.textBatch.emit(text)

    @Slot(object, object)
    def _on_done(self, result: object, error: object) -> None:
        self._flush()
        self._timer.stop()
        self.finished.emit(result, error)
