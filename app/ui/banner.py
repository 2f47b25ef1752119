"""A dismissible message bar above the chat (engine crashed, undo delete, warnings)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class Banner(QFrame):
    actionClicked = Signal()

    def __init__(self, object_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setObjectName(f"{object_name}Text")
        self.action = QPushButton(self)
        self.action.setObjectName(f"{object_name}Action")
        self.action.clicked.connect(self.actionClicked)
        close = QPushButton("✕", self)
        close.setFlat(True)
        close.setAccessibleName("Dismiss")
        close.setMaximumWidth(28)
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action)
        layout.addWidget(close)
        self.hide()

    def show_message(self, text: str, action: str = "") -> None:
        self.label.setText(text)
        self.action.setText(action)
        self.action.setVisible(bool(action))
        self.action.setAccessibleName(action)
        self.show()
