"""Run a blocking call off the GUI thread and get its result back on the GUI thread."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal


class _Relay(QObject):
    done = Signal(object, object)  # result, error


def run_in_background(
    work: Callable[[], Any],
    on_done: Callable[[Any, BaseException | None], None],
    parent: QObject,
) -> None:
    """``work`` runs on a daemon thread; ``on_done(result, error)`` runs on ``parent``'s thread."""
    relay = _Relay(parent)

    def finish(result: Any, error: Any) -> None:
        relay.deleteLater()
        on_done(result, error)

    relay.done.connect(finish)

    def run() -> None:
        try:
            result, error = work(), None
        except Exception as exc:  # handed to the GUI thread, which shows it
            result, error = None, exc
        # The window that asked may have closed meanwhile: then nobody is waiting.
        with contextlib.suppress(RuntimeError):
            relay.done.emit(result, error)

    threading.Thread(target=run, name="hearth-background", daemon=True).start()


def error_text(error: object) -> str:
    """What to show for an error a background call handed back."""
    user_text = getattr(error, "user_text", None)
    return user_text() if callable(user_text) else f"Something went wrong: {error}"
