"""Download progress from the download threads, re-emitted as a Qt signal."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.core.downloads import DownloadManager, Progress


class DownloadBridge(QObject):
    progressed = Signal(object)  # Progress, delivered on the GUI thread (queued)

    def __init__(self, manager: DownloadManager, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe = manager.subscribe(self._relay)

    def _relay(self, progress: Progress) -> None:
        # Called on a download thread: the emit is queued to the GUI thread.
        self.progressed.emit(progress)

    def close(self) -> None:
        self._unsubscribe()
