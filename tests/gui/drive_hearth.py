"""Run the real Hearth window (offscreen) and ask one question; used by crash tests.

Prints ``STREAMING <conversation> <message> <engine pid>`` once the reply has been
streaming long enough to have been flushed to the database, then keeps streaming
until it is killed.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.main import build_services
    from app.ui.app import build_window

    app = QApplication(sys.argv)
    services = build_services()
    engine = services.new_engine()
    window = build_window(services, engine, app)
    window.show()
    window.start(services.library.default().id)
    window._send(sys.argv[1])
    first_text = 0.0

    def poll() -> None:
        nonlocal first_text
        active = window.controller._active
        if active is None or not active.parts:
            return
        if not first_text:
            first_text = time.monotonic()
        elif time.monotonic() - first_text > 1.6:
            print(f"STREAMING {active.conversation_id} {active.message_id} {engine.engine_pid}")
            sys.stdout.flush()
            timer.stop()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(50)
    app.exec()


if __name__ == "__main__":
    main()
