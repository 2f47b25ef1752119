"""A light rich-text block: a QTextDocument laid out once per width, selectable, with links.

QLabel re-lays its text out for every size question a layout asks (at several widths),
so a column of long messages re-laid out every label on each streamed update. This
widget keeps one document, answers ``heightForWidth`` from a cache, and lays out again
only when its text or its width changes.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QGuiApplication,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPalette,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import QSizePolicy, QWidget


class RichText(QWidget):
    linkActivated = Signal(str)

    def __init__(self, html: str, css: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc = QTextDocument(self)
        self._doc.setDocumentMargin(0)
        self._doc.setDefaultStyleSheet(css)
        self._doc.setUndoRedoEnabled(False)
        self._heights: dict[int, int] = {}
        self._measure: QTextDocument | None = None
        self._anchor: int | None = None
        self._cursor: QTextCursor | None = None
        self._pressed_link = ""
        size_policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        size_policy.setHeightForWidth(True)
        self.setSizePolicy(size_policy)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setCursor(Qt.CursorShape.IBeamCursor)
        self.setAccessibleName("Message text")
        self.set_html(html)

    # -- content -----------------------------------------------------------------------

    def set_html(self, html: str) -> None:
        self._doc.setHtml(html)
        self._measure = None
        if self.width() > 1:
            self._doc.setTextWidth(self.width())
        # Screen readers cannot read a custom-painted widget: give them its text.
        self.setAccessibleDescription(self._doc.toPlainText()[:2000])
        self._heights.clear()
        self._cursor = None
        self.updateGeometry()
        self.update()

    def plain_text(self) -> str:
        return self._doc.toPlainText()

    def html(self) -> str:
        return self._doc.toHtml()

    # -- geometry ------------------------------------------------------------------------

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        height = self._heights.get(width)
        if height is None:
            width = max(width, 1)
            if self._doc.textWidth() == width:
                doc = self._doc
            else:
                # Layouts ask about other widths than the one we paint at: answer from a
                # copy, so the painted document is not laid out again and again.
                if self._measure is None:
                    self._measure = self._doc.clone(self)
                doc = self._measure
                doc.setTextWidth(width)
            height = int(doc.size().height() + 0.999)
            self._heights[width] = height
        return height

    def _fit_width(self) -> None:
        width = max(self.width(), 1)
        if self._doc.textWidth() != width:
            self._doc.setTextWidth(width)

    def sizeHint(self) -> QSize:
        width = self.width() if self.width() > 1 else 480
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:
        return QSize(50, self.heightForWidth(self.width() if self.width() > 1 else 480))

    def paintEvent(self, event) -> None:
        self._fit_width()
        painter = QPainter(self)
        context = QAbstractTextDocumentLayout.PaintContext()
        context.palette = self.palette()
        context.palette.setColor(
            QPalette.ColorRole.Text, self.palette().color(QPalette.ColorRole.WindowText)
        )
        context.clip = QRectF(event.rect())
        if self._cursor is not None and self._cursor.hasSelection():
            selection = QAbstractTextDocumentLayout.Selection()
            selection.cursor = self._cursor
            selection.format.setBackground(self.palette().color(QPalette.ColorRole.Highlight))
            selection.format.setForeground(self.palette().color(QPalette.ColorRole.HighlightedText))
            context.selections = [selection]
        self._doc.documentLayout().draw(painter, context)
        painter.end()

    # -- mouse: links and selection --------------------------------------------------------

    def _position(self, point: QPoint) -> int:
        layout = self._doc.documentLayout()
        return layout.hitTest(QPointF(point), Qt.HitTestAccuracy.FuzzyHit)

    def _link_at(self, point: QPoint) -> str:
        return self._doc.documentLayout().anchorAt(QPointF(point))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        self._pressed_link = self._link_at(event.position().toPoint())
        self._anchor = self._position(event.position().toPoint())
        self._cursor = None
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        point = event.position().toPoint()
        link = self._link_at(point)
        self.setCursor(Qt.CursorShape.PointingHandCursor if link else Qt.CursorShape.IBeamCursor)
        if self._anchor is not None and event.buttons() & Qt.MouseButton.LeftButton:
            position = self._position(point)
            if position >= 0:
                cursor = QTextCursor(self._doc)
                cursor.setPosition(self._anchor)
                cursor.setPosition(position, QTextCursor.MoveMode.KeepAnchor)
                self._cursor = cursor
                self._pressed_link = ""
                self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        link = self._link_at(event.position().toPoint())
        if link and link == self._pressed_link:
            self.linkActivated.emit(link)
        self._pressed_link = ""
        self._anchor = None
        if self._cursor is not None and self._cursor.hasSelection():
            QGuiApplication.clipboard().setText(
                self._cursor.selectedText().replace("\u2029", "\n"),
                QGuiApplication.clipboard().Mode.Selection,
            )

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        cursor = QTextCursor(self._doc)
        cursor.setPosition(max(self._position(event.position().toPoint()), 0))
        cursor.select(QTextCursor.SelectionType.WordUnderCursor)
        self._cursor = cursor
        self.update()

    def keyPressEvent(self, event) -> None:
        if event.matches(QKeySequence.StandardKey.Copy) and self.selected_text():
            QGuiApplication.clipboard().setText(self.selected_text())
            return
        if event.matches(QKeySequence.StandardKey.SelectAll):
            cursor = QTextCursor(self._doc)
            cursor.select(QTextCursor.SelectionType.Document)
            self._cursor = cursor
            self.update()
            return
        super().keyPressEvent(event)

    def selected_text(self) -> str:
        if self._cursor is None or not self._cursor.hasSelection():
            return ""
        return self._cursor.selectedText().replace("\u2029", "\n")

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_width()
