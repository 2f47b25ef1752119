"""The Documents button: which collections this conversation answers from, and attaching."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMenu, QToolButton, QWidget


class DocumentsButton(QToolButton):
    collectionsChosen = Signal(list)  # list[int]
    attachRequested = Signal()
    manageRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("documentsButton")
        self.setAccessibleName("Documents for this conversation")
        self.setToolTip("Answer from your documents: choose collections, attach files")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu_ = QMenu(self)
        self.setMenu(self.menu_)
        # Built when it opens: never rebuilt under an action that is being toggled.
        self.menu_.aboutToShow.connect(self._build_menu)
        self._available: list[tuple[int, str]] = []
        self._chosen: list[int] = []
        self.set_state([], [])

    def set_state(self, available: list[tuple[int, str]], chosen: list[int]) -> None:
        """``available``: (id, name) of every collection; ``chosen``: this conversation's."""
        self._available = available
        self._chosen = [i for i in chosen if any(i == a for a, _ in available)]
        names = [name for i, name in available if i in self._chosen]
        self.setText("Documents: " + ", ".join(names) if names else "Documents")

    def chosen(self) -> list[int]:
        return list(self._chosen)

    def _build_menu(self) -> None:
        menu = self.menu_
        menu.clear()
        if self._available:
            menu.addSection("Answer from")
            for collection_id, name in self._available:
                action = menu.addAction(name)
                action.setCheckable(True)
                action.setChecked(collection_id in self._chosen)
                action.toggled.connect(lambda on, cid=collection_id: self._toggle(cid, on))
        else:
            empty = menu.addAction("No collections yet")
            empty.setEnabled(False)
        menu.addSeparator()
        menu.addAction("Attach files…", self.attachRequested.emit)
        menu.addAction("Manage collections…", self.manageRequested.emit)

    def _toggle(self, collection_id: int, on: bool) -> None:
        chosen = [i for i in self._chosen if i != collection_id]
        if on:
            chosen.append(collection_id)
        self._chosen = chosen
        self.collectionsChosen.emit(chosen)
