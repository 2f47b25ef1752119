"""The sidebar: new chat, search over every message, the list of conversations."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

ID_ROLE = Qt.ItemDataRole.UserRole
MESSAGE_ROLE = Qt.ItemDataRole.UserRole + 1


class ConversationList(QWidget):
    conversationSelected = Signal(int)
    hitSelected = Signal(int, object)  # conversation id, message id or None
    newRequested = Signal()
    renameRequested = Signal(int, str)
    deleteRequested = Signal(int)
    exportRequested = Signal(int)
    searchChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 4, 8)
        layout.setSpacing(6)
        self.new_button = QPushButton("New chat")
        self.new_button.setObjectName("newChatButton")
        self.new_button.setAccessibleName("New chat")
        self.new_button.setToolTip("New chat (Ctrl+N)")
        self.new_button.clicked.connect(self.newRequested)
        layout.addWidget(self.new_button)
        self.search = QLineEdit(self)
        self.search.setObjectName("searchBox")
        self.search.setAccessibleName("Search conversations")
        self.search.setPlaceholderText("Search all messages (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        layout.addWidget(self.search)
        self.list = QListWidget(self)
        self.list.setObjectName("conversationList")
        self.list.setAccessibleName("Conversations")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setUniformItemSizes(False)
        self.list.setEditTriggers(
            QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.DoubleClicked
        )
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.itemActivated.connect(self._activated)
        self.list.itemClicked.connect(self._activated)
        self.list.itemChanged.connect(self._renamed)
        layout.addWidget(self.list, 1)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(200)
        self._debounce.timeout.connect(lambda: self.searchChanged.emit(self.search.text()))
        self.search.textChanged.connect(lambda _text: self._debounce.start())
        self.search.returnPressed.connect(self._first_hit)
        delete = QAction("Delete", self.list)
        delete.setShortcut(QKeySequence.StandardKey.Delete)
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(self._delete_current)
        self.list.addAction(delete)
        self._filling = False
        self._searching = False

    # -- content -----------------------------------------------------------------------

    def set_conversations(self, summaries: list, current_id: int | None) -> None:
        self._searching = False
        self._filling = True
        self.list.clear()
        for summary in summaries:
            item = QListWidgetItem(summary.title or "New chat")
            item.setData(ID_ROLE, summary.id)
            item.setToolTip(f"{summary.title}\n{summary.message_count} messages")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.list.addItem(item)
            if summary.id == current_id:
                self.list.setCurrentItem(item)
        self._filling = False

    def set_hits(self, hits: list) -> None:
        self._searching = True
        self._filling = True
        self.list.clear()
        if not hits:
            item = QListWidgetItem("No matches")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(item)
        for hit in hits:
            snippet = (hit.snippet or "").replace("\n", " ")
            item = QListWidgetItem(f"{hit.title}\n{snippet}")
            item.setData(ID_ROLE, hit.conversation_id)
            item.setData(MESSAGE_ROLE, hit.message_id)
            item.setToolTip(snippet)
            self.list.addItem(item)
        self._filling = False

    @property
    def searching(self) -> bool:
        return self._searching

    def select(self, conversation_id: int | None) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(ID_ROLE) == conversation_id:
                self._filling = True
                self.list.setCurrentItem(item)
                self._filling = False
                return

    def current_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else item.data(ID_ROLE)

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    # -- events --------------------------------------------------------------------------

    def _activated(self, item: QListWidgetItem) -> None:
        conversation_id = item.data(ID_ROLE)
        if conversation_id is None:
            return
        if self._searching:
            self.hitSelected.emit(conversation_id, item.data(MESSAGE_ROLE))
        else:
            self.conversationSelected.emit(conversation_id)

    def _first_hit(self) -> None:
        if self.list.count():
            self._activated(self.list.item(0))

    def _renamed(self, item: QListWidgetItem) -> None:
        if self._filling or self._searching:
            return
        conversation_id = item.data(ID_ROLE)
        title = item.text().strip()
        if conversation_id is not None and title:
            self.renameRequested.emit(conversation_id, title)

    def _delete_current(self) -> None:
        conversation_id = self.current_id()
        if conversation_id is not None and not self._searching:
            self.deleteRequested.emit(conversation_id)

    def _menu(self, position) -> None:
        item = self.list.itemAt(position)
        if item is None or item.data(ID_ROLE) is None or self._searching:
            return
        conversation_id = item.data(ID_ROLE)
        menu = QMenu(self)
        menu.addAction("Rename", lambda: self.list.editItem(item))
        menu.addAction("Export…", lambda: self.exportRequested.emit(conversation_id))
        menu.addSeparator()
        menu.addAction("Delete", lambda: self.deleteRequested.emit(conversation_id))
        menu.exec(self.list.mapToGlobal(position))
