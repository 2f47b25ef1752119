"""Indexing documents on a worker thread, reported to the GUI as Qt signals."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from app.docs.indexer import IndexProgress, IndexReport

IndexWork = Callable[[Callable[[IndexProgress], None], threading.Event], IndexReport]


class IndexJob(QObject):
    """One indexing run. Signals arrive on the GUI thread (queued), never block it."""

    progress = Signal(int, int, str)  # done, total, file being read
    finished = Signal(object, object)  # IndexReport | None, error | None

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, work: IndexWork) -> None:
        def report(state: IndexProgress) -> None:
            self.progress.emit(state.done, state.total, state.path)

        def run() -> None:
            try:
                result, error = work(report, self._cancel), None
            except Exception as exc:  # shown to the user by whoever listens
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # the dialog closed meanwhile
                self.finished.emit(result, error)

        self._thread = threading.Thread(target=run, name="hearth-index", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Stop after the file being read now; what is done stays indexed."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running
