"""Light and dark themes that follow the system colour scheme."""

from __future__ import annotations

from typing import Literal

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

Theme = Literal["light", "dark"]


def system_theme() -> Theme:
    hints = QGuiApplication.styleHints()
    if hints.colorScheme() == Qt.ColorScheme.Dark:
        return "dark"
    return "light"


def apply_theme(app: QApplication, theme: Theme) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    if theme == "dark":
        colors = {
            QPalette.ColorRole.Window: "#202124",
            QPalette.ColorRole.WindowText: "#e8eaed",
            QPalette.ColorRole.Base: "#17181a",
            QPalette.ColorRole.AlternateBase: "#26282b",
            QPalette.ColorRole.Text: "#e8eaed",
            QPalette.ColorRole.Button: "#2d2f33",
            QPalette.ColorRole.ButtonText: "#e8eaed",
            QPalette.ColorRole.Highlight: "#3d6fd8",
            QPalette.ColorRole.HighlightedText: "#ffffff",
            QPalette.ColorRole.ToolTipBase: "#2d2f33",
            QPalette.ColorRole.ToolTipText: "#e8eaed",
            QPalette.ColorRole.PlaceholderText: "#9aa0a6",
            QPalette.ColorRole.Link: "#8ab4f8",
        }
    else:
        colors = {
            QPalette.ColorRole.Window: "#f3f4f6",
            QPalette.ColorRole.WindowText: "#1f2328",
            QPalette.ColorRole.Base: "#ffffff",
            QPalette.ColorRole.AlternateBase: "#f6f8fa",
            QPalette.ColorRole.Text: "#1f2328",
            QPalette.ColorRole.Button: "#eceef1",
            QPalette.ColorRole.ButtonText: "#1f2328",
            QPalette.ColorRole.Highlight: "#2f6fde",
            QPalette.ColorRole.HighlightedText: "#ffffff",
            QPalette.ColorRole.ToolTipBase: "#ffffff",
            QPalette.ColorRole.ToolTipText: "#1f2328",
            QPalette.ColorRole.PlaceholderText: "#6e7781",
            QPalette.ColorRole.Link: "#0969da",
        }
    for role, value in colors.items():
        palette.setColor(role, QColor(value))
    app.setPalette(palette)
    app.setStyleSheet(widget_stylesheet(theme))
    app.setProperty("hearthTheme", theme)


def apply_font_size(app: QApplication, points: int) -> None:
    """0 keeps the system's size."""
    if points <= 0:
        return
    font = app.font()
    font.setPointSize(points)
    app.setFont(font)


def current_theme() -> Theme:
    app = QApplication.instance()
    value = app.property("hearthTheme") if app is not None else None
    return "dark" if value == "dark" else "light"


def widget_stylesheet(theme: Theme) -> str:
    """Qt style sheet for Hearth's own widgets (message bubbles, banners)."""
    if theme == "dark":
        user_bg, reply_bg, border, muted = "#2a2f3a", "#1d1f22", "#34373c", "#9aa0a6"
        crash_bg, note_bg = "#4a2323", "#2f3340"
    else:
        user_bg, reply_bg, border, muted = "#e8effc", "#ffffff", "#d8dce2", "#57606a"
        crash_bg, note_bg = "#fde8e8", "#eef2f8"
    return f"""
    QFrame#message-user {{ background: {user_bg}; border-radius: 8px; }}
    QFrame#message-assistant {{ background: {reply_bg}; border: 1px solid {border};
        border-radius: 8px; }}
    QWidget#messageCanvas {{ background: transparent; }}
    QLabel#messageStats {{ color: {muted}; font-size: 11px; }}
    QLabel#emptyHint {{ color: {muted}; font-size: 14px; padding: 40px; }}
    QFrame#crashBanner {{ background: {crash_bg}; border-radius: 6px; }}
    QFrame#undoBanner {{ background: {note_bg}; border-radius: 6px; }}
    QLabel#editBanner {{ color: {muted}; }}
    """
