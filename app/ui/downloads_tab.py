"""The Downloads tab: progress, speed and time left; pause, resume, cancel."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.downloads import Progress
from app.ui.fit_text import human_size
from app.ui.tables import row_table

COLUMNS = ("File", "Progress", "Speed", "Time left", "State")
STATE_TEXT = {
    "queued": "Starting",
    "downloading": "Downloading",
    "paused": "Paused",
    "verifying": "Verifying",
    "done": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


class DownloadsTab(QWidget):
    def __init__(self, browser) -> None:
        super().__init__(browser)
        self.browser = browser
        self.rows: dict[str, int] = {}
        self.last: dict[str, Progress] = {}
        self.table = row_table(self, COLUMNS, "downloadsTable", "Downloads")
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.pause_button = self._button("Pause", "pauseDownload", self._pause)
        self.resume_button = self._button("Resume", "resumeDownload", self._resume)
        self.cancel_button = self._button("Cancel", "cancelDownload", self._cancel)
        self.message = QLabel("", self)
        self.message.setObjectName("downloadMessage")
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self._update_buttons()

    def _button(self, text: str, name: str, slot) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.clicked.connect(slot)
        return button

    def show_progress(self, progress: Progress) -> None:
        row = self.rows.get(progress.id)
        if row is None:
            row = self.table.rowCount()
            self.table.insertRow(row)
            self.rows[progress.id] = row
            self.table.setItem(row, 0, QTableWidgetItem(progress.file.name))
            bar = QProgressBar(self.table)
            bar.setRange(0, 1000)
            bar.setAccessibleName(f"Progress of {progress.file.name}")
            self.table.setCellWidget(row, 1, bar)
            for column in (2, 3, 4):
                self.table.setItem(row, column, QTableWidgetItem(""))
        self.last[progress.id] = progress
        widget = self.table.cellWidget(row, 1)
        assert isinstance(widget, QProgressBar)
        bar = widget
        bar.setValue(int(progress.fraction * 1000))
        bar.setFormat(f"{human_size(progress.done_bytes)} / {human_size(progress.total_bytes)}")
        speed = f"{human_size(int(progress.speed_bps))}/s" if progress.speed_bps else ""
        state = STATE_TEXT[progress.state]
        if progress.retries and progress.state == "downloading":
            state += f" (reconnected {progress.retries} times)"
        for column, text in ((2, speed), (3, _eta(progress.eta_s)), (4, state)):
            item = self.table.item(row, column)
            if item is not None:
                item.setText(text)
                item.setToolTip(progress.error if column == 4 else text)
        if progress.state == "failed":
            self.message.setText(progress.error)
        elif progress.state == "done" and progress.target is not None:
            self.message.setText(f"{progress.target.name} is verified and in the Library.")
        self._update_buttons()

    def current(self) -> Progress | None:
        model = self.table.selectionModel()
        rows = model.selectedRows() if model else []
        if not rows:
            return None
        row = rows[0].row()
        download_id = next((i for i, r in self.rows.items() if r == row), None)
        return self.last.get(download_id) if download_id else None

    def select(self, download_id: str) -> None:
        row = self.rows.get(download_id)
        if row is not None:
            self.table.selectRow(row)

    def _update_buttons(self) -> None:
        current = self.current()
        state = current.state if current else None
        self.pause_button.setEnabled(state in ("queued", "downloading"))
        self.resume_button.setEnabled(state in ("paused", "failed"))
        self.cancel_button.setEnabled(state in ("queued", "downloading", "paused", "failed"))

    def _pause(self) -> None:
        current = self.current()
        if current is not None:
            self.browser.downloads.pause(current.id)

    def _resume(self) -> None:
        current = self.current()
        if current is not None:
            self.browser.resume_download(current.id)

    def _cancel(self) -> None:
        current = self.current()
        if current is not None:
            self.browser.downloads.cancel(current.id)
