"""Where a person types: Enter sends, Shift+Enter starts a new line.

Files dropped on the box, or chosen with Attach, are attached to the conversation.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeyEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

DOCUMENT_FILTER = "Documents (*.pdf *.docx *.md *.markdown *.txt *.html *.htm *.csv);;All files (*)"


def dropped_files(mime: QMimeData) -> list[Path]:
    """The local files in a drag (links to remote places are not files)."""
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


class ComposerEdit(QPlainTextEdit):
    submitted = Signal()
    escapePressed = Signal()
    filesDropped = Signal(list)  # list[Path]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        files = dropped_files(event.mimeData())
        if files:
            event.acceptProposedAction()
            self.filesDropped.emit(files)
        else:
            super().dropEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not (event.modifiers() & Qt.KeyboardModifier.ShiftModifier):
            self.submitted.emit()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.escapePressed.emit()
            return
        super().keyPressEvent(event)


class Composer(QWidget):
    """The message box with Send and Stop. Keeps an 'editing message N' mode."""

    sendRequested = Signal(str)
    stopRequested = Signal()
    editCancelled = Signal()
    filesAttached = Signal(list)  # list[Path]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editing_id: int | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 6, 12, 10)
        layout.setSpacing(4)
        self._edit_banner = QLabel()
        self._edit_banner.setObjectName("editBanner")
        self._edit_banner.setVisible(False)
        layout.addWidget(self._edit_banner)
        self.attachments = QLabel()
        self.attachments.setObjectName("attachmentsLabel")
        self.attachments.setAccessibleName("Attached files")
        self.attachments.setWordWrap(True)
        self.attachments.setVisible(False)
        layout.addWidget(self.attachments)
        row = QHBoxLayout()
        self.edit = ComposerEdit(self)
        self.edit.setObjectName("composer")
        self.edit.setAccessibleName("Message")
        self.edit.setPlaceholderText(
            "Message the model — Enter to send, Shift+Enter for a new line"
        )
        self.edit.setTabChangesFocus(True)
        self.edit.setMaximumHeight(120)
        self.edit.setMinimumHeight(60)
        self.edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.edit.setFixedHeight(72)
        self.edit.submitted.connect(self._submit)
        self.edit.escapePressed.connect(self._escape)
        self.edit.filesDropped.connect(self.filesAttached)
        row.addWidget(self.edit, 1)
        buttons = QVBoxLayout()
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setAccessibleName("Send message")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self._submit)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setAccessibleName("Stop the answer")
        self.stop_button.setToolTip("Stop the answer (Esc)")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stopRequested)
        self.attach_button = QPushButton("Attach…")
        self.attach_button.setObjectName("attachButton")
        self.attach_button.setAccessibleName("Attach files")
        self.attach_button.setToolTip(
            "Attach documents to this conversation (or drop files on the message box)"
        )
        self.attach_button.clicked.connect(self._choose_files)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.attach_button)
        row.addLayout(buttons)
        layout.addLayout(row)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self._busy = False

    def _choose_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(
            self, "Attach documents", str(Path.home()), DOCUMENT_FILTER
        )
        if names:
            self.filesAttached.emit([Path(name) for name in names])

    def set_attachments(self, paths: list[str], reading: str = "") -> None:
        """Show the conversation's attached files (and what is being read now)."""
        text = ""
        if paths:
            text = "Attached: " + ", ".join(Path(p).name for p in paths)
        if reading:
            text = f"{text} · {reading}" if text else reading
        self.attachments.setText(text)
        self.attachments.setToolTip("\n".join(paths))
        self.attachments.setVisible(bool(text))

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.send_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)

    def start_edit(self, message_id: int, text: str) -> None:
        self.editing_id = message_id
        self.edit.setPlainText(text)
        self._edit_banner.setText(
            "Editing a message: Enter resends it as a new version, Esc cancels."
        )
        self._edit_banner.setVisible(True)
        self.edit.setFocus()
        self.edit.moveCursor(self.edit.textCursor().MoveOperation.End)

    def cancel_edit(self) -> None:
        if self.editing_id is None:
            return
        self.editing_id = None
        self._edit_banner.setVisible(False)
        self.edit.clear()
        self.editCancelled.emit()

    def _submit(self) -> None:
        text = self.edit.toPlainText().strip()
        if not text or self._busy:
            return
        self.sendRequested.emit(text)

    def accept_sent(self) -> None:
        """The controller took the text: clear the box and leave edit mode."""
        self.edit.clear()
        self.editing_id = None
        self._edit_banner.setVisible(False)

    def _escape(self) -> None:
        if self._busy:
            self.stopRequested.emit()
        elif self.editing_id is not None:
            self.cancel_edit()
