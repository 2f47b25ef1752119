"""Regenerate docs/screenshots/main-window.png from the real app and the starter model.

Run under a display, e.g.:
    xvfb-run -s "-screen 0 1280x860x24" python docs/screenshots/capture.py
It uses a throw-away HEARTH_HOME, asks the starter model two questions, and grabs
the window once the second answer has finished.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).with_name("main-window.png")
QUESTIONS = [
    "Translate to French: good morning, how are you?",
    "Write a Python function that reverses a string, with a short example.",
]


def main() -> int:
    os.environ["HEARTH_HOME"] = tempfile.mkdtemp(prefix="hearth-shot-")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.main import build_services
    from app.ui.app import build_window
    from app.ui.theme import apply_theme

    app = QApplication(sys.argv)
    apply_theme(app, "light")
    services = build_services()
    engine = services.new_engine()
    window = build_window(services, engine, app)
    window.resize(1200, 800)
    window.show()
    window.start(services.library.default().id)
    pending = list(QUESTIONS)

    def step() -> None:
        controller = window.controller
        if controller.busy or controller.loaded is None:
            return
        if pending:
            if len(pending) == 1:
                window.controller.new_conversation()
            window._send(pending.pop(0))
            return
        timer.stop()
        QTimer.singleShot(300, finish)

    def finish() -> None:
        window.grab().save(str(OUT))
        print(f"wrote {OUT}")
        app.quit()

    timer = QTimer()
    timer.timeout.connect(step)
    timer.start(200)
    app.exec()
    window.close()
    engine.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
