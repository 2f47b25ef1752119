"""GUI fixtures: the real window and history store, with a scripted or real engine."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.engine.client import EngineClient
from app.engine.process_transport import ProcessTransport
from app.engine.thread_transport import ThreadTransport
from app.main import build_services
from app.ui.app import build_window
from app.ui.main_window import MainWindow
from tests.fakes.backend import Script, ScriptedBackend

WindowFactory = Callable[..., MainWindow]


@pytest.fixture
def make_window(qtbot, qapp, tmp_path: Path) -> Iterator[WindowFactory]:
    engines: list[EngineClient] = []
    windows: list[MainWindow] = []

    def build(
        script: Script | None = None,
        engine: EngineClient | None = None,
        process: bool = False,
        loaded: bool = True,
    ) -> MainWindow:
        if engine is None:
            factory = functools.partial(ScriptedBackend, script or Script())
            if process:
                log = tmp_path / "engine.log"
                engine = EngineClient(lambda: ProcessTransport(factory, log), cancel_grace_s=2)
            else:
                engine = EngineClient(lambda: ThreadTransport(factory))
        engines.append(engine)
        services = build_services()
        window = build_window(services, engine, qapp)
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        window.start(services.library.default().id)
        if loaded:
            qtbot.waitUntil(lambda: window.controller.loaded is not None, timeout=60_000)
        return window

    yield build
    for window in windows:
        window.close()
        window.database.close()
    for engine in engines:
        engine.shutdown()


def send(qtbot, window: MainWindow, text: str) -> None:
    from PySide6.QtCore import Qt

    window.composer.edit.setPlainText(text)
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)


def wait_idle(qtbot, window: MainWindow, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=timeout)
