"""The window with the real engine and starter model, and a real crash of the app."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from PySide6.QtCore import QObject

from app.main import build_services
from tests.gui.conftest import send, wait_idle
from tests.gui.test_chat_window import bodies

pytestmark = pytest.mark.integration


def _words(text: str) -> list[str]:
    # The view shows rendered Markdown: compare words, not punctuation or line breaks.
    return re.findall(r"\w+", text)


def test_a_real_answer_streams_is_saved_and_is_there_after_a_restart(make_window, qtbot):
    services = build_services()
    window = make_window(engine=services.new_engine())
    assert window.picker.device.text() == "CPU"
    send(qtbot, window, "Translate to French: good morning")
    qtbot.waitUntil(lambda: len(bodies(window)) == 2, timeout=60_000)
    wait_idle(qtbot, window, timeout=120_000)
    shown = bodies(window)
    assert shown[0] == ("user", "Translate to French: good morning")
    answer = window.controller.history.thread(window.controller.current_id)[-1]
    assert answer.finish_reason in ("stop", "length") and answer.content.strip()
    assert answer.completion_tokens and answer.tokens_per_s and answer.ttft_ms
    conversation = window.controller.current_id
    window.close()

    again = make_window(engine=build_services().new_engine())
    assert again.sidebar.list.count() == 1
    again.sidebar.conversationSelected.emit(conversation)
    assert _words(bodies(again)[1][1])[:8] == _words(answer.content)[:8]


def test_killing_hearth_mid_answer_keeps_the_partial_reply_marked_interrupted(
    make_window, qtbot, hearth_home: Path
):
    # Greedy and long, so the answer surely streams for the seconds this test needs.
    settings = hearth_home / "config" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"sampling": {"temperature": 0, "max_tokens": 2000}}))
    driver = Path(__file__).with_name("drive_hearth.py")
    root = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "HEARTH_HOME": str(hearth_home)}
    process = subprocess.Popen(
        [sys.executable, str(driver), "Write a very long essay about the history of Rome."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=root,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 120)
    assert ready, "the app did not start streaming"
    line = process.stdout.readline().split()
    assert line[0] == "STREAMING", process.stderr.read() if process.stderr else ""
    conversation, message, engine_pid = int(line[1]), int(line[2]), int(line[3])
    process.send_signal(signal.SIGKILL)
    process.wait(10)

    # The orphaned engine notices and exits on its own.
    deadline = time.monotonic() + 15
    while psutil.pid_exists(engine_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(engine_pid) or psutil.Process(engine_pid).status() == "zombie"

    window = make_window(engine=build_services().new_engine())
    assert "interrupted" in window.undo_banner.label.text()
    reply = window.controller.history.get_message(message)
    assert reply.finish_reason == "interrupted"
    assert len(reply.content) > 20  # flushed while streaming, before the kill
    window.sidebar.conversationSelected.emit(conversation)
    shown = bodies(window)
    assert _words(shown[1][1])[:8] == _words(reply.content)[:8]
    stats = window.view.message_widget(message).findChild(QObject, "messageStats")
    assert "Interrupted" in stats.text()
