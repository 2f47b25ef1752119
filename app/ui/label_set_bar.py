"""Saved label sets: pick one, save the current labels under a name, delete one."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QInputDialog, QPushButton, QWidget

from app.tasks.label_sets import LabelSetStore, SavedLabelSet


class LabelSetBar(QWidget):
    chosen = Signal(object)  # SavedLabelSet

    def __init__(self, store: LabelSetStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.picker = QComboBox(self)
        self.picker.setObjectName("labelSetPicker")
        self.picker.setAccessibleName("Saved label sets")
        self.save_button = QPushButton("Save set…", self)
        self.save_button.setObjectName("saveLabelSet")
        self.delete_button = QPushButton("Delete set", self)
        self.delete_button.setObjectName("deleteLabelSet")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.picker, 1)
        layout.addWidget(self.save_button)
        layout.addWidget(self.delete_button)
        self._sets: list[SavedLabelSet] = []
        self.picker.activated.connect(self._pick)
        self.delete_button.clicked.connect(self._delete)
        self._show(store.load())

    def _show(self, sets: list[SavedLabelSet]) -> None:
        self._sets = sets
        self.picker.clear()
        self.picker.addItem("Saved label sets…")
        for saved in sets:
            self.picker.addItem(saved.name)
        self.delete_button.setEnabled(bool(sets))

    def names(self) -> list[str]:
        return [s.name for s in self._sets]

    def ask_name(self) -> str | None:
        name, ok = QInputDialog.getText(self, "Save label set", "Name:")
        return name.strip() if ok and name.strip() else None

    def save(self, saved: SavedLabelSet) -> None:
        self._show(self.store.save(saved))
        self.picker.setCurrentIndex(self.names().index(saved.name) + 1)

    def _pick(self, index: int) -> None:
        if index >= 1:
            self.chosen.emit(self._sets[index - 1])

    def _delete(self) -> None:
        index = self.picker.currentIndex()
        if index >= 1:
            self._show(self.store.delete(self._sets[index - 1].name))
