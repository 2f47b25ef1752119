"""Where a person types: Enter sends, Shift+Enter starts a new line."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)


class ComposerEdit(QPlainTextEdit):
    submitted = Signal()
    escapePressed = Signal()

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
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        row.addLayout(buttons)
        layout.addLayout(row)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self._busy = False

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
