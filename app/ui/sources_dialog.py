"""The passages an answer was given: file, page, section and text; the file opens on a click."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.docs.grounding import passage_label


class SourcesDialog(QDialog):
    def __init__(self, sources: list, selected: int = 1, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sourcesDialog")
        self.setWindowTitle("Sources of this answer")
        self.resize(820, 480)
        self.sources = sources
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel("The passages of your documents that were given to the model with the question.")
        )
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.list = QListWidget(self)
        self.list.setObjectName("sourcesList")
        self.list.setAccessibleName("Passages")
        for source in sources:
            label = passage_label(source.path, source.page, source.heading)
            item = QListWidgetItem(f"[{source.number}] {label}")
            item.setToolTip(source.path)
            self.list.addItem(item)
        self.passage = QTextBrowser(self)
        self.passage.setObjectName("sourcePassage")
        self.passage.setAccessibleName("Passage")
        self.passage.setOpenLinks(False)
        splitter.addWidget(self.list)
        splitter.addWidget(self.passage)
        splitter.setSizes([280, 540])
        layout.addWidget(splitter, 1)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open file")
        self.open_button.setObjectName("openSourceButton")
        self.open_button.clicked.connect(self._open_file)
        row.addWidget(self.open_button)
        row.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        row.addWidget(buttons)
        layout.addLayout(row)
        self.list.currentRowChanged.connect(self._show)
        index = next((i for i, s in enumerate(sources) if s.number == selected), 0)
        self.list.setCurrentRow(index)

    def current(self):
        row = self.list.currentRow()
        return self.sources[row] if 0 <= row < len(self.sources) else None

    def _show(self, row: int) -> None:
        if not 0 <= row < len(self.sources):
            self.passage.clear()
            return
        source = self.sources[row]
        where = html.escape(passage_label(source.path, source.page, source.heading))
        text = html.escape(source.text).replace("\n", "<br>")
        self.passage.setHtml(
            f"<h3>[{source.number}] {where}</h3>"
            f"<p><small>{html.escape(source.path)}</small></p><p>{text}</p>"
        )
        self.open_button.setEnabled(Path(source.path).exists())

    def _open_file(self) -> None:
        source = self.current()
        if source is not None and Path(source.path).exists():
            QDesktopServices.openUrl(QUrl.fromLocalFile(source.path))
