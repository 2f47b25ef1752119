"""Create, edit, duplicate and delete assistants (named system prompts)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.assistants import BUILTIN_ASSISTANTS, Assistant
from app.core.errors import HearthError


class AssistantsEditor(QWidget):
    def __init__(self, custom: list[Assistant], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("assistantsEditor")
        layout = QHBoxLayout(self)
        left = QVBoxLayout()
        self.list = QListWidget(self)
        self.list.setObjectName("assistantList")
        self.list.setAccessibleName("Assistants")
        left.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        self.new_button = QPushButton("New")
        self.duplicate_button = QPushButton("Duplicate")
        self.delete_button = QPushButton("Delete")
        for button, slot in (
            (self.new_button, self._new),
            (self.duplicate_button, self._duplicate),
            (self.delete_button, self._delete),
        ):
            button.clicked.connect(slot)
            buttons.addWidget(button)
        left.addLayout(buttons)
        layout.addLayout(left, 1)

        right = QVBoxLayout()
        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("assistantName")
        self.name_edit.setAccessibleName("Assistant name")
        self.prompt_edit = QPlainTextEdit(self)
        self.prompt_edit.setObjectName("assistantPrompt")
        self.prompt_edit.setAccessibleName("Assistant system prompt")
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        right.addWidget(QLabel("Name"))
        right.addWidget(self.name_edit)
        right.addWidget(QLabel("System prompt"))
        right.addWidget(self.prompt_edit, 1)
        right.addWidget(self.hint)
        layout.addLayout(right, 2)

        names = {a.name.casefold() for a in custom}
        for assistant in BUILTIN_ASSISTANTS:
            if assistant.name.casefold() not in names:
                self._add(assistant)
        for assistant in custom:
            self._add(assistant)
        self.list.currentItemChanged.connect(self._show)
        self.name_edit.textEdited.connect(self._edited)
        self.prompt_edit.textChanged.connect(self._edited)
        self.list.setCurrentRow(0)

    def _add(self, assistant: Assistant) -> QListWidgetItem:
        item = QListWidgetItem(self._label(assistant))
        item.setData(Qt.ItemDataRole.UserRole, assistant)
        self.list.addItem(item)
        return item

    @staticmethod
    def _label(assistant: Assistant) -> str:
        return f"{assistant.name} (built-in)" if assistant.builtin else assistant.name

    def _current(self) -> Assistant | None:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def _show(self, *_args) -> None:
        assistant = self._current()
        editable = assistant is not None and not assistant.builtin
        self._showing = True
        self.name_edit.setText(assistant.name if assistant else "")
        self.prompt_edit.setPlainText(assistant.system_prompt if assistant else "")
        self._showing = False
        self.name_edit.setReadOnly(not editable)
        self.prompt_edit.setReadOnly(not editable)
        self.delete_button.setEnabled(editable)
        self.hint.setText(
            "" if editable else "Built-in assistants cannot be changed: duplicate one to adapt it."
        )

    def _edited(self, *_args) -> None:
        item = self.list.currentItem()
        assistant = self._current()
        if getattr(self, "_showing", False) or item is None or assistant is None:
            return
        if assistant.builtin:
            return
        updated = Assistant(self.name_edit.text().strip(), self.prompt_edit.toPlainText())
        item.setData(Qt.ItemDataRole.UserRole, updated)
        item.setText(self._label(updated) or "(no name)")

    def _new(self) -> None:
        self.list.setCurrentItem(self._add(Assistant(self._free_name("New assistant"), "")))
        self.name_edit.setFocus()
        self.name_edit.selectAll()

    def _duplicate(self) -> None:
        assistant = self._current()
        if assistant is None:
            return
        copy = Assistant(self._free_name(f"{assistant.name} (copy)"), assistant.system_prompt)
        self.list.setCurrentItem(self._add(copy))

    def _delete(self) -> None:
        assistant = self._current()
        if assistant is not None and not assistant.builtin:
            self.list.takeItem(self.list.currentRow())

    def _free_name(self, wanted: str) -> str:
        taken = {a.name.casefold() for a in self._all()}
        name, number = wanted, 2
        while name.casefold() in taken:
            name = f"{wanted} {number}"
            number += 1
        return name

    def _all(self) -> list[Assistant]:
        return [
            self.list.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.list.count())
        ]

    def entries(self) -> list[dict[str, str]]:
        """The user's own assistants, checked: names present and unique."""
        custom = [a for a in self._all() if not a.builtin]
        seen: set[str] = set()
        for assistant in custom:
            if not assistant.name:
                raise HearthError("Every assistant needs a name.")
            key = assistant.name.casefold()
            if key in seen:
                raise HearthError(f"Two assistants are called '{assistant.name}'.")
            seen.add(key)
        return [{"name": a.name, "system_prompt": a.system_prompt} for a in custom]
