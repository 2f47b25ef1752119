"""Engine events -> Qt signals, delivered to the GUI thread.

The engine calls our listener on its reader thread. Text is not forwarded per token:
it is collected under a lock and drained by a GUI-thread timer (50 Hz), so a fast
model cannot flood the event loop. Every other event is re-emitted as a typed signal;
Qt queues signals emitted from another thread onto the receiver's thread.
"""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.engine.client import EngineClient
from app.engine.protocol import (
    Event,
    HostReady,
    JobFinished,
    JobStarted,
    LoadProgress,
    ModelLoaded,
    PromptEvaluated,
    TextChunk,
)

FLUSH_INTERVAL_MS = 20


class EngineBridge(QObject):
    hostReady = Signal(object)  # BuildInfo
    jobStarted = Signal(int)
    loadProgress = Signal(int, float)
    modelLoaded = Signal(int, object)  # LoadedModel
    promptEvaluated = Signal(int, object)  # PromptEvaluated
    textBatch = Signal(int, str, int)  # job id, text, token count
    jobFinished = Signal(int, object)  # JobFinished
    _wake = Signal()
    _final = Signal()

    def __init__(self, client: EngineClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self._lock = threading.Lock()
        self._pending: dict[int, list[str]] = {}
        self._pending_tokens: dict[int, int] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_INTERVAL_MS)
        self._timer.timeout.connect(self.flush)
        self._wake.connect(self._start_timer)
        self._final.connect(self.flush)
        self._last_flush = 0.0
        self._remove = client.add_listener(self._on_event)

    def close(self) -> None:
        self._remove()
        self._timer.stop()

    # -- reader thread -------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, TextChunk):
            with self._lock:
                first = not self._pending
                self._pending.setdefault(event.job_id, []).append(event.text)
                self._pending_tokens[event.job_id] = (
                    self._pending_tokens.get(event.job_id, 0) + event.tokens
                )
            if first:
                self._wake.emit()
            return
        if isinstance(event, JobFinished):
            # Text that arrived before the end must reach the view before the end does.
            self._final.emit()
            self.jobFinished.emit(event.job_id, event)
        elif isinstance(event, LoadProgress):
            self.loadProgress.emit(event.job_id, event.fraction)
        elif isinstance(event, ModelLoaded):
            self.modelLoaded.emit(event.job_id, event.model)
        elif isinstance(event, PromptEvaluated):
            self.promptEvaluated.emit(event.job_id, event)
        elif isinstance(event, JobStarted):
            self.jobStarted.emit(event.job_id)
        elif isinstance(event, HostReady):
            self.hostReady.emit(event.build)

    # -- GUI thread ----------------------------------------------------------------------

    @Slot()
    def _start_timer(self) -> None:
        if not self._timer.isActive():
            self._timer.start()
        # The first text after a pause shows at once; while text keeps coming, the timer
        # paces the flushes.
        if time.monotonic() - self._last_flush >= FLUSH_INTERVAL_MS / 1000:
            self.flush()

    @Slot()
    def flush(self) -> None:
        self._last_flush = time.monotonic()
        with self._lock:
            pending, self._pending = self._pending, {}
            tokens, self._pending_tokens = self._pending_tokens, {}
        if not pending:
            self._timer.stop()
            return
        for job_id, parts in pending.items():
            self.textBatch.emit(job_id, "".join(parts), tokens.get(job_id, 0))
