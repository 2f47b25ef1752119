"""The conversation: a scrolling column of message widgets.

Only the most recent messages are built when a conversation opens; older ones are
added on request ("Show earlier messages"), so a 2,000-message chat opens at once.
Finished messages' HTML is cached by (id, content), and a streaming reply is updated
through its own widget only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.markdown import RenderedMarkdown, StreamingMarkdown, render_markdown, stylesheet
from app.ui.citations import link_citations
from app.ui.message_widget import MessageWidget
from app.ui.theme import current_theme

PAGE_SIZE = 30
FIRST_SCREEN_CHARS = 4000
"""When a chat opens, build the newest messages until about a screenful of text."""
MIN_FIRST = 6
CACHE_SIZE = 2000


class MessageView(QScrollArea):
    actionRequested = Signal(str, int)
    linkActivated = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageView")
        self.setAccessibleName("Conversation")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._canvas = QWidget()
        self._canvas.setObjectName("messageCanvas")
        # Height from heightForWidth at the real width, not from the children's minimum
        # sizes (measured at their preferred width), which left a blank gap at the end.
        self._canvas.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self._layout = QVBoxLayout(self._canvas)
        self._layout.setContentsMargins(12, 8, 12, 8)
        self._layout.setSpacing(8)
        self._earlier = QPushButton("Show earlier messages")
        self._earlier.setObjectName("showEarlierButton")
        self._earlier.setFlat(True)
        self._earlier.clicked.connect(self.show_earlier)
        self._layout.addWidget(self._earlier)
        self._empty = QLabel("Ask anything. Your conversations stay on this computer.")
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setObjectName("emptyHint")
        self._layout.addWidget(self._empty)
        self._layout.addStretch(1)
        self.setWidget(self._canvas)

        self.source_lookup: Callable[[int], list] = lambda _message_id: []
        """The passages an answer was given (set by the window; empty for most)."""
        self._widgets: dict[int, MessageWidget] = {}
        self._hidden: list = []  # older messages not built yet, oldest first
        self._cache: OrderedDict[tuple[int, str, str, int], RenderedMarkdown] = OrderedDict()
        self._stream: StreamingMarkdown | None = None
        self._stream_id: int | None = None
        self._streamed: list[str] = []
        self._stick_to_bottom = True
        self._busy = False
        bar = self.verticalScrollBar()
        bar.rangeChanged.connect(self._on_range_changed)
        bar.valueChanged.connect(self._on_scrolled)
        self._load_more = QTimer(self)
        self._load_more.setSingleShot(True)
        self._load_more.setInterval(150)
        self._load_more.timeout.connect(self.show_earlier)
        self._earlier.setVisible(False)

    # -- whole thread --------------------------------------------------------------------

    def show_messages(self, messages: list) -> None:
        self.clear()
        visible = [m for m in messages if m.role != "system"]
        first = _first_screen(visible)
        self._hidden = visible[: len(visible) - first]
        for message in visible[len(self._hidden) :]:
            self._append(message)
        self._earlier.setVisible(bool(self._hidden))
        self._empty.setVisible(not visible)
        self._stick_to_bottom = True
        QTimer.singleShot(0, self.scroll_to_bottom)

    def clear(self) -> None:
        for widget in self._widgets.values():
            self._layout.removeWidget(widget)
            widget.deleteLater()
        self._widgets.clear()
        self._hidden = []
        self._stream = None
        self._stream_id = None
        self._empty.setVisible(True)

    def show_earlier(self) -> None:
        if not self._hidden:
            return
        batch, self._hidden = self._hidden[-PAGE_SIZE:], self._hidden[:-PAGE_SIZE]
        bar = self.verticalScrollBar()
        from_bottom = bar.maximum() - bar.value()
        for offset, message in enumerate(batch):
            self._insert(message, 1 + offset)
        self._earlier.setVisible(bool(self._hidden))
        self._stick_to_bottom = False
        QTimer.singleShot(0, lambda: bar.setValue(bar.maximum() - from_bottom))

    def message_widget(self, message_id: int) -> MessageWidget | None:
        return self._widgets.get(message_id)

    def message_ids(self) -> list[int]:
        """The ids of the messages on screen, top to bottom."""
        return sorted(self._widgets, key=lambda i: self._layout.indexOf(self._widgets[i]))

    # -- appending and streaming -----------------------------------------------------------

    def append_message(self, message) -> MessageWidget:
        self._empty.setVisible(False)
        self._stick_to_bottom = True
        return self._append(message)

    def begin_stream(self, message) -> None:
        widget = self.append_message(message)
        self._stream = StreamingMarkdown(current_theme())
        self._stream_id = message.id
        self._streamed = []
        widget.show_placeholder("Thinking…")
        self.set_busy(True)

    def stream_text(self, message_id: int, text: str) -> None:
        if message_id != self._stream_id or self._stream is None:
            return
        widget = self._widgets.get(message_id)
        if widget is None:
            return
        first = not self._streamed
        self._stream.feed(text)
        self._streamed.append(text)
        widget.apply_update(self._stream.update())
        if first:
            widget.show_placeholder("")  # the text replaces "Thinking…"

    def end_stream(self, message) -> None:
        """Finish the streamed reply in place: commit its tail, add its stats."""
        widget = self._widgets.get(message.id)
        stream = self._stream if self._stream_id == message.id else None
        self._stream = None
        self._stream_id = None
        self.set_busy(False)
        if widget is None:
            return
        # What was streamed can differ from what was saved (e.g. a cut stop string);
        # an answer with sources is rendered again whole, with its citations as links.
        cited = bool(self.source_lookup(message.id))
        if stream is None or cited or "".join(self._streamed) != message.content:
            self.replace_message(message)
            return
        widget.apply_update(stream.finish())
        widget.set_footer(message)
        widget.set_pager(message)

    def resume_stream(self, message) -> None:
        """Continue a reply that is still streaming, after its conversation is reopened."""
        import dataclasses

        self.replace_message(dataclasses.replace(message, content=""))
        self._stream = StreamingMarkdown(current_theme())
        self._stream_id = message.id
        self._streamed = []
        self.set_busy(True)
        if message.content:
            self.stream_text(message.id, message.content)

    @property
    def streaming_id(self) -> int | None:
        return self._stream_id

    def replace_message(self, message) -> None:
        old = self._widgets.get(message.id)
        if old is None:
            return
        index = self._layout.indexOf(old)
        self._layout.removeWidget(old)
        old.deleteLater()
        del self._widgets[message.id]
        self._insert(message, index)

    def rendered(self, message) -> RenderedMarkdown:
        sources = len(self.source_lookup(message.id)) if message.role == "assistant" else 0
        key = (message.id, message.content, current_theme(), sources)
        cached = self._cache.get(key)
        if cached is None:
            if message.role == "assistant":
                cached = render_markdown(message.content, theme=current_theme())
                if sources:
                    cached = RenderedMarkdown(
                        html=link_citations(cached.html, sources),
                        code_blocks=cached.code_blocks,
                    )
            else:
                cached = _plain(message.content)
            self._cache[key] = cached
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return cached

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        for widget in self._widgets.values():
            widget.set_busy(busy)

    # -- internals -----------------------------------------------------------------------

    def _append(self, message) -> MessageWidget:
        # Before the stretch at the end of the layout.
        return self._insert(message, self._layout.count() - 1)

    def _insert(self, message, index: int) -> MessageWidget:
        css = stylesheet(current_theme())
        body = self.rendered(message).html if message.content else ""
        widget = MessageWidget(message, css, body, self._canvas)
        if message.role == "assistant":
            widget.set_sources(self.source_lookup(message.id))
        widget.set_busy(self._busy)
        widget.actionRequested.connect(self.actionRequested)
        widget.linkActivated.connect(self.linkActivated)
        self._layout.insertWidget(index, widget)
        self._widgets[message.id] = widget
        return widget

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._stick_to_bottom = value >= bar.maximum() - 24
        if value == bar.minimum() and self._hidden and bar.maximum() > 0:
            self._load_more.start()  # reached the top: bring the older messages

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._stick_to_bottom:
            self.verticalScrollBar().setValue(maximum)

    def scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())
        self._stick_to_bottom = True


def _first_screen(messages: list) -> int:
    """How many of the newest messages to build at first: about a screenful."""
    total = 0
    count = 0
    for message in reversed(messages):
        count += 1
        total += len(message.content)
        if (count >= MIN_FIRST and total >= FIRST_SCREEN_CHARS) or count >= PAGE_SIZE:
            break
    return count


def _plain(text: str) -> RenderedMarkdown:
    """User text is shown as typed: escaped, line breaks kept, never interpreted."""
    import html

    escaped = html.escape(text).replace("\n", "<br>")
    return RenderedMarkdown(html=f"<p>{escaped}</p>", code_blocks=())
