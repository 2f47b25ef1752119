"""The built-in API server's request log: one row per answered request, live."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.api.metrics import RequestRecord
from app.ui.api_server import LOG_LIMIT, ApiServerController

COLUMNS = ("Time", "Client", "Method", "Path", "Status", "Duration")


class RequestLog(QDialog):
    def __init__(self, server: ApiServerController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("requestLog")
        self.setWindowTitle("API request log")
        self.setAccessibleName("API request log")
        self.resize(720, 420)
        self.server = server
        layout = QVBoxLayout(self)
        self.status = QLabel(self)
        self.status.setObjectName("requestLogStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("requestTable")
        self.table.setAccessibleName("Requests")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        # Fixed widths: sizing to contents would measure every row on each new request.
        for column, width in enumerate((80, 120, 70, 0, 60, 90)):
            if width:
                self.table.setColumnWidth(column, width)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        for record in server.records:
            self._add(record)
        self._show_state()
        server.requestLogged.connect(self._logged)
        server.stateChanged.connect(self._show_state)

    def _show_state(self, *_args: object) -> None:
        server = self.server
        text = server.text if not server.detail else f"{server.text}: {server.detail}"
        self.status.setText(f"{text} · the last {LOG_LIMIT} requests are kept.")

    def _logged(self, record: RequestRecord) -> None:
        bar = self.table.verticalScrollBar()
        at_end = bar.value() == bar.maximum()
        self._add(record)
        if at_end:
            self.table.scrollToBottom()

    def _add(self, record: RequestRecord) -> None:
        while self.table.rowCount() >= LOG_LIMIT:
            self.table.removeRow(0)
        row = self.table.rowCount()
        self.table.insertRow(row)
        values = (
            record.at.astimezone().strftime("%H:%M:%S"),
            record.client,
            record.method,
            record.path,
            str(record.status),
            f"{record.duration_ms:.0f} ms",
        )
        for column, value in enumerate(values):
            item = QTableWidgetItem(value)
            if column in (4, 5):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, column, item)

    def _text(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text() if item is not None else ""

    def rows(self) -> list[tuple[str, ...]]:
        """The table's text, row by row (for tests and accessibility checks)."""
        return [
            tuple(self._text(r, c) for c in range(self.table.columnCount()))
            for r in range(self.table.rowCount())
        ]
