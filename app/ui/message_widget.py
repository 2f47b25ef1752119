"""One message in the chat: a header with actions, the rendered body, and its stats.

A finished message is one rich-text block (its HTML cached by the view). A streaming
reply grows as a column of blocks: each committed Markdown chunk becomes a block that
is never touched again, and one tail block is replaced on every flush, so the cost of
an update does not grow with the length of the answer.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.markdown import RenderUpdate
from app.ui.citations import sources_html
from app.ui.rich_text import RichText

ROLE_NAMES = {"user": "You", "assistant": "Assistant", "system": "System"}
FINISH_NOTES = {
    "length": "Stopped at the length limit.",
    "cancelled": "Stopped.",
    "crashed": "Interrupted: the model engine stopped.",
    "interrupted": "Interrupted: Hearth closed while this was being written.",
    "error": "Failed.",
}


def stats_text(message) -> str:
    parts = []
    if getattr(message, "model_name", None):
        parts.append(message.model_name)
    tokens = getattr(message, "completion_tokens", None)
    if tokens:
        parts.append(f"{tokens} tokens")
    speed = getattr(message, "tokens_per_s", None)
    if speed:
        parts.append(f"{speed:.1f} tok/s")
    ttft = getattr(message, "ttft_ms", None)
    if ttft:
        parts.append(f"first token {ttft / 1000:.2f} s")
    note = FINISH_NOTES.get(getattr(message, "finish_reason", None) or "", "")
    error = getattr(message, "error", None)
    if error:
        note = f"{note} {error}".strip()
    if note:
        parts.append(note)
    return " · ".join(parts)


class MessageWidget(QFrame):
    """Signals carry the message id; the view turns them into controller calls."""

    actionRequested = Signal(str, int)  # action name, message id
    linkActivated = Signal(str, int)  # href, message id

    def __init__(self, message, css: str, body_html: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.message_id = message.id
        self.role = message.role
        self._css = css
        self._tail: RichText | None = None
        self._blocks: list[RichText] = []
        self.setObjectName(f"message-{message.role}")
        self.setProperty("role", message.role)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAccessibleName(f"{ROLE_NAMES.get(message.role, message.role)} message")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 8, 14, 8)
        layout.setSpacing(2)

        header = QHBoxLayout()
        header.setSpacing(4)
        who = QLabel(f"<b>{ROLE_NAMES.get(message.role, message.role)}</b>")
        header.addWidget(who)
        header.addStretch(1)
        self._pager = QLabel()
        self._prev = self._tool("\u2039", "prev", "Previous version")  # single angle quotes
        self._next = self._tool("\u203a", "next", "Next version")
        header.addWidget(self._prev)
        header.addWidget(self._pager)
        header.addWidget(self._next)
        header.addWidget(self._tool("Copy", "copy", "Copy message"))
        if message.role == "user":
            header.addWidget(self._tool("Edit", "edit", "Edit and resend"))
        else:
            self._regenerate = self._tool("Regenerate", "regenerate", "Regenerate reply")
            header.addWidget(self._regenerate)
        layout.addLayout(header)

        self._body = QVBoxLayout()
        self._body.setSpacing(0)
        layout.addLayout(self._body)
        self._footer = QLabel()
        self._footer.setObjectName("messageStats")
        # No word wrap: a wrapping label lays its text out again at every layout pass.
        self._footer.setWordWrap(False)
        self._footer.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._footer.setVisible(False)
        self._sources: RichText | None = None
        self._sources_slot = QVBoxLayout()
        layout.addLayout(self._sources_slot)
        layout.addWidget(self._footer)
        self.set_pager(message)
        if body_html:
            self._add_label(body_html)
        self.set_footer(message)

    def _tool(self, text: str, action: str, name: str) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setAutoRaise(True)
        button.setToolTip(name)
        button.setAccessibleName(name)
        button.setObjectName(f"{action}Button")
        button.clicked.connect(lambda: self.actionRequested.emit(action, self.message_id))
        return button

    def _add_label(self, html: str) -> RichText:
        block = RichText(html, self._css, self)
        block.linkActivated.connect(lambda href: self.linkActivated.emit(href, self.message_id))
        self._body.addWidget(block)
        self._blocks.append(block)
        return block

    def body_text(self) -> str:
        return "\n".join(block.plain_text() for block in self._blocks).strip()

    def set_pager(self, message) -> None:
        count = getattr(message, "sibling_count", 1) or 1
        index = getattr(message, "sibling_index", 0) or 0
        visible = count > 1
        for widget in (self._prev, self._pager, self._next):
            widget.setVisible(visible)
        if visible:
            self._pager.setText(f"{index + 1}/{count}")
            self._prev.setEnabled(index > 0)
            self._next.setEnabled(index < count - 1)

    def set_footer(self, message) -> None:
        text = stats_text(message) if message.role == "assistant" else ""
        self._footer.setText(text)
        self._footer.setToolTip(text)
        self._footer.setVisible(bool(text))

    def set_sources(self, sources: list) -> None:
        """List the passages the answer was given, each a link that shows it."""
        if not sources:
            return
        html = sources_html(sources)
        if self._sources is None:
            self._sources = RichText(html, self._css, self)
            self._sources.setObjectName("messageSources")
            self._sources.setAccessibleName("Sources of this answer")
            self._sources.linkActivated.connect(
                lambda href: self.linkActivated.emit(href, self.message_id)
            )
            self._sources_slot.addWidget(self._sources)
        else:
            self._sources.set_html(html)

    def sources_text(self) -> str:
        return self._sources.plain_text() if self._sources is not None else ""

    def set_busy(self, busy: bool) -> None:
        regenerate = getattr(self, "_regenerate", None)
        if regenerate is not None:
            regenerate.setEnabled(not busy)

    # -- streaming -----------------------------------------------------------------------

    def apply_update(self, update: RenderUpdate) -> None:
        if update.committed_html:
            if self._tail is not None:
                # The tail block becomes the committed one: no new widget needed.
                self._tail.set_html(update.committed_html)
                self._tail = None
            else:
                self._add_label(update.committed_html)
        if update.tail_html:
            if self._tail is None:
                self._tail = self._add_label(update.tail_html)
            else:
                self._tail.set_html(update.tail_html)
        elif self._tail is not None:
            self._body.removeWidget(self._tail)
            self._blocks.remove(self._tail)
            self._tail.deleteLater()
            self._tail = None

    def show_placeholder(self, text: str) -> None:
        self._footer.setText(text)
        self._footer.setVisible(True)
