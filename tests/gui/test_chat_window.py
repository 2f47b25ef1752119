"""The chat window with a scripted engine: what a person sees and what is saved."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QLabel

from app.store.export import export_json
from app.ui.rich_text import RichText
from tests.fakes.backend import Script
from tests.gui.conftest import send, wait_idle

SLOW = Script(
    pieces=tuple(f"word{i} ".encode() for i in range(300)), token_delay_s=0.01, context_length=4096
)


def bodies(window) -> list[tuple[str, str]]:
    """(role, visible text) of every message on screen, in order."""
    result = []
    for message_id in window.view.message_ids():
        widget = window.view.message_widget(message_id)
        result.append((widget.role, widget.body_text()))
    return result


def test_qt_does_not_leak_references_to_none():
    # PySide6 6.12.0 on Python 3.11 drops a reference to None per call that returns None,
    # and the app aborts after a while. This guards the version pin.
    QApplication.instance() or QApplication([])
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(2000):
        probe.parent()
    assert abs(sys.getrefcount(None) - before) < 50


def test_the_window_is_ready_to_type_with_the_default_model(make_window, qtbot):
    window = make_window()
    for name in (
        "mainWindow",
        "conversationList",
        "messageView",
        "composer",
        "sendButton",
        "stopButton",
        "modelPicker",
        "searchBox",
    ):
        widget = window if name == "mainWindow" else window.findChild(QObject, name)
        assert widget is not None and widget.objectName() == name
        assert widget.accessibleName()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.composer.edit)
    assert window.picker.current() is not None
    assert window.picker.current().source == "starter"
    assert "Ready" in window.engine_status.text()


def test_send_streams_the_reply_and_saves_both_messages(make_window, qtbot):
    window = make_window(Script(pieces=(b"Bonjour", b" le", b" monde", b"!")))
    send(qtbot, window, "Translate: hello world")
    assert window.composer.edit.toPlainText() == ""
    wait_idle(qtbot, window)
    assert bodies(window) == [
        ("user", "Translate: hello world"),
        ("assistant", "Bonjour le monde!"),
    ]
    history = window.controller.history
    thread = history.thread(window.controller.current_id)
    assert [(m.role, m.content, m.finish_reason) for m in thread] == [
        ("user", "Translate: hello world", None),
        ("assistant", "Bonjour le monde!", "stop"),
    ]
    reply = thread[1]
    assert reply.model_path and reply.model_fingerprint.startswith("fp1:")
    assert reply.quantization == "Q4_1" and reply.seed is not None
    assert reply.completion_tokens == 4
    assert (
        "4 tokens" in window.view.message_widget(reply.id).findChild(QLabel, "messageStats").text()
    )


def test_shift_enter_is_a_newline_and_enter_sends(make_window, qtbot):
    window = make_window()
    edit = window.composer.edit
    edit.setPlainText("line one")
    edit.moveCursor(edit.textCursor().MoveOperation.End)
    qtbot.keyClick(edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(edit, "line two")
    assert edit.toPlainText() == "line one\nline two"
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    wait_idle(qtbot, window)
    assert bodies(window)[0] == ("user", "line one\nline two")


def test_escape_stops_the_answer_and_keeps_the_partial_text(make_window, qtbot):
    window = make_window(SLOW)
    send(qtbot, window, "Tell me a long story")
    qtbot.waitUntil(lambda: len(bodies(window)) == 2 and "word3" in bodies(window)[1][1])
    assert window.composer.stop_button.isEnabled()
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Escape)
    wait_idle(qtbot, window)
    reply = window.controller.history.thread(window.controller.current_id)[-1]
    assert reply.finish_reason == "cancelled"
    assert reply.content.startswith("word0 word1 word2 word3")
    assert "word299" not in reply.content
    assert window.composer.send_button.isEnabled()


def test_regenerate_keeps_the_first_reply_as_an_alternative(make_window, qtbot):
    window = make_window(Script(pieces=(b"An", b"swer")))
    send(qtbot, window, "Question")
    wait_idle(qtbot, window)
    first_reply = window.controller.history.thread(window.controller.current_id)[-1]
    window.view.message_widget(first_reply.id).findChild(QObject, "regenerateButton").click()
    wait_idle(qtbot, window)
    thread = window.controller.history.thread(window.controller.current_id)
    assert thread[-1].id != first_reply.id
    assert (thread[-1].sibling_index, thread[-1].sibling_count) == (1, 2)
    widget = window.view.message_widget(thread[-1].id)
    assert widget.findChild(QObject, "prevButton").isVisible()
    widget.findChild(QObject, "prevButton").click()
    thread = window.controller.history.thread(window.controller.current_id)
    assert thread[-1].id == first_reply.id
    assert window.view.message_ids() == [m.id for m in thread]


def test_editing_a_message_resends_it_as_a_new_branch(make_window, qtbot):
    window = make_window(Script(pieces=(b"ok",)))
    send(qtbot, window, "Frist question")
    wait_idle(qtbot, window)
    user = window.controller.history.thread(window.controller.current_id)[0]
    window.view.message_widget(user.id).findChild(QObject, "editButton").click()
    assert window.composer.edit.toPlainText() == "Frist question"
    window.composer.edit.setPlainText("First question")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    wait_idle(qtbot, window)
    thread = window.controller.history.thread(window.controller.current_id)
    assert thread[0].content == "First question"
    assert (thread[0].sibling_index, thread[0].sibling_count) == (1, 2)
    window.controller.switch_alternative(thread[0].id, -1)
    assert bodies(window)[0] == ("user", "Frist question")


def test_copy_message_and_code_block(make_window, qtbot):
    answer = "Use this:\n\n```python\nprint('hi')\n```\n"
    window = make_window(Script(pieces=(answer.encode(),)))
    send(qtbot, window, "Code please")
    wait_idle(qtbot, window)
    reply = window.controller.history.thread(window.controller.current_id)[-1]
    widget = window.view.message_widget(reply.id)
    widget.findChild(QObject, "copyButton").click()
    assert QGuiApplication.clipboard().text() == answer
    widget.linkActivated.emit("hearth-copy:0", reply.id)
    assert QGuiApplication.clipboard().text() == "print('hi')"


def test_model_html_is_shown_as_text_not_run(make_window, qtbot):
    evil = '<script>alert(1)</script><img src="http://example.com/x.png"> [x](javascript:alert(1))'
    window = make_window(Script(pieces=(evil.encode(),)))
    send(qtbot, window, "hi")
    wait_idle(qtbot, window)
    reply_text = bodies(window)[1][1]
    assert "<script>alert(1)</script>" in reply_text  # visible as text
    widget = window.view.message_widget(window.view.message_ids()[1])
    html = "".join(block.html() for block in widget.findChildren(RichText))
    assert "<img" not in html and "javascript:" not in html.split("href=")[-1][:20]


def test_switching_chats_mid_answer_drops_its_events_from_the_new_chat(make_window, qtbot):
    window = make_window(SLOW)
    send(qtbot, window, "Long answer please")
    qtbot.waitUntil(lambda: len(bodies(window)) == 2 and "word2" in bodies(window)[1][1])
    first_chat = window.controller.current_id
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.controller.current_id is None
    qtbot.wait(200)  # tokens of the first chat keep arriving meanwhile
    assert bodies(window) == []
    wait_idle(qtbot, window)
    assert bodies(window) == []
    reply = window.controller.history.thread(first_chat)[-1]
    assert reply.finish_reason == "stop" and "word299" in reply.content
    window.controller.open_conversation(first_chat)
    assert "word299" in bodies(window)[1][1]


def test_reopening_a_chat_mid_answer_resumes_the_stream(make_window, qtbot):
    window = make_window(SLOW)
    send(qtbot, window, "Long answer please")
    qtbot.waitUntil(lambda: len(bodies(window)) == 2 and "word2" in bodies(window)[1][1])
    first_chat = window.controller.current_id
    window.controller.new_conversation()
    window.controller.open_conversation(first_chat)
    assert "word2" in bodies(window)[1][1]
    wait_idle(qtbot, window)
    assert "word299" in bodies(window)[1][1]


def test_search_rename_delete_and_undo(make_window, qtbot):
    window = make_window(Script(pieces=(b"Paris is the capital.",)))
    send(qtbot, window, "What is the capital of France?")
    wait_idle(qtbot, window)
    chat = window.controller.current_id
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is window.sidebar.search
    qtbot.keyClicks(window.sidebar.search, "capit")
    qtbot.waitUntil(lambda: window.sidebar.searching and window.sidebar.list.count() >= 1)
    assert window.sidebar.list.item(0).data(Qt.ItemDataRole.UserRole) == chat
    window.sidebar.search.clear()
    qtbot.waitUntil(lambda: not window.sidebar.searching)

    window.controller.rename(chat, "Geography")
    assert window.sidebar.list.item(0).text() == "Geography"
    window.sidebar.deleteRequested.emit(chat)
    assert window.sidebar.list.count() == 0
    assert window.undo_banner.isVisible()
    window.undo_banner.action.click()
    assert window.sidebar.list.count() == 1
    assert window.controller.current_id == chat


def test_export_from_the_window(make_window, qtbot, tmp_path):
    window = make_window(Script(pieces=(b"Hi!",)))
    send(qtbot, window, "Hello")
    wait_idle(qtbot, window)
    chat = window.controller.current_id
    window.controller.export(chat, tmp_path / "chat.md")
    window.controller.export(chat, tmp_path / "chat.json")
    assert "Hello" in (tmp_path / "chat.md").read_text()
    assert export_json(window.controller.history, chat)["messages"][1]["content"] == "Hi!"


def test_an_engine_crash_keeps_the_text_and_offers_a_reload(make_window, qtbot):
    # 25 ms apart (more than the engine's 15 ms batching), so each token crosses the
    # pipe on its own before the crash.
    pieces = tuple(f"w{i} ".encode() for i in range(50))
    script = Script(pieces=pieces, crash_after=5, token_delay_s=0.025)
    window = make_window(script, process=True)
    send(qtbot, window, "Go")
    wait_idle(qtbot, window)
    assert window.crash_banner.isVisible()
    assert "SIGKILL" in window.crash_banner.label.text()
    reply = window.controller.history.thread(window.controller.current_id)[-1]
    assert reply.finish_reason == "crashed"
    assert reply.content == "w0 w1 w2 w3 w4 "
    assert "Interrupted" in bodies(window)[1][1] or reply.content.strip() in bodies(window)[1][1]
    # The window still works: reload the model from the banner.
    window.crash_banner.action.click()
    qtbot.waitUntil(lambda: window.controller.loaded is not None, timeout=60_000)
    assert not window.crash_banner.isVisible()


def test_window_geometry_is_remembered(make_window, qtbot):
    window = make_window()
    window.resize(720, 520)  # within the offscreen screen (800 x 600)
    window.close()
    again = make_window()
    assert (again.width(), again.height()) == (720, 520)


def test_the_streaming_reply_is_on_screen_in_a_long_chat(make_window, qtbot):
    long_answer = tuple(f"Paragraph {i} with some words.\n\n".encode() for i in range(60))
    script = Script(pieces=long_answer, token_delay_s=0.003, context_length=100_000)
    window = make_window(script)
    for question in range(6):
        send(qtbot, window, f"Question {question}")
        if question < 5:
            wait_idle(qtbot, window)
    reply_id = window.controller.active_message_id
    assert reply_id is not None
    qtbot.waitUntil(lambda: "Paragraph 30" in window.view.message_widget(reply_id).body_text())
    # The newest text is visible while it streams: no blank gap pushes it off screen.
    widget = window.view.message_widget(reply_id)
    assert not widget.visibleRegion().isEmpty()
    bar = window.view.verticalScrollBar()
    assert bar.value() == bar.maximum()
    bottom = widget.mapTo(window.view.widget(), widget.rect().bottomLeft()).y()
    assert window.view.widget().height() - bottom < 40
    wait_idle(qtbot, window)


def test_text_in_a_reply_can_be_selected_and_copied(make_window, qtbot):
    window = make_window(Script(pieces=(b"Select me please",)))
    send(qtbot, window, "hi")
    wait_idle(qtbot, window)
    widget = window.view.message_widget(window.view.message_ids()[1])
    block = widget.findChildren(RichText)[0]
    block.setFocus()
    qtbot.keyClick(block, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(block, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text().strip() == "Select me please"


def test_a_long_history_opens_with_the_newest_messages_and_loads_older_on_request(
    make_window, qtbot
):
    window = make_window(Script(pieces=(b"ok",)))
    history = window.controller.history
    chat = history.create_conversation()
    parent = None
    for i in range(300):
        user = history.add_user_message(chat.id, f"question {i}", parent)
        reply = history.start_reply(chat.id, user.id)
        history.finish_reply(reply.id, f"answer {i}", "stop")
        parent = reply.id
    window.controller.open_conversation(chat.id)
    shown = bodies(window)
    assert shown[-1] == ("assistant", "answer 299")
    assert len(shown) < 100
    window.view.show_earlier()
    assert len(bodies(window)) > len(shown)
    assert bodies(window)[-1] == ("assistant", "answer 299")


def test_a_damaged_history_is_set_aside_and_reported(make_window, hearth_home):
    database = hearth_home / "data" / "hearth.db"
    database.parent.mkdir(parents=True)
    database.write_bytes(b"this is not a database" * 100)
    window = make_window()
    assert window.undo_banner.isVisible()
    assert "corrupt" in window.undo_banner.label.text()
    kept = list(database.parent.glob("hearth.db.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == b"this is not a database" * 100
    assert window.sidebar.list.count() == 0  # a fresh, working history


def test_an_assistant_s_prompt_reaches_the_model_from_the_first_message(make_window, qtbot):
    window = make_window(Script(echo_prompt=True, context_length=100_000))
    index = window.assistant_picker.findText("Translation")
    window.assistant_picker.setCurrentIndex(index)
    window.assistant_picker.activated.emit(index)
    assert "professional translator" in window.system_prompt.text()
    send(qtbot, window, "Bonjour")
    wait_idle(qtbot, window)
    echoed = window.controller.history.thread(window.controller.current_id)[-1].content
    # The scripted model answers with the prompt it was given: the system turn is there.
    assert "<|im_start|>system\nYou are a professional translator" in echoed
    assert echoed.rstrip().endswith("<|im_start|>assistant")
    conversation = window.controller.current_conversation()
    assert conversation.system_prompt.startswith("You are a professional translator")


def test_the_policy_default_assistant_starts_new_chats(make_window, qtbot, tmp_path):
    import os
    from pathlib import Path

    Path(os.environ["HEARTH_POLICY"]).write_text('[assistants]\ndefault = "Analysis"\n')
    window = make_window()
    assert window.assistant_picker.currentText() == "Analysis"
    assert "careful analyst" in window.system_prompt.text()


def test_settings_dialog_saves_validated_values_and_shows_managed_ones(make_window, qtbot):
    import json
    import os
    from pathlib import Path

    from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox

    Path(os.environ["HEARTH_POLICY"]).write_text('[lock]\n"sampling.top_p" = 0.5\n')
    window = make_window()
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    dialog = window.findChild(QObject, "settingsDialog")
    assert dialog is not None and dialog.isVisible()
    locked = dialog.findChild(QDoubleSpinBox, "sampling.top_p")
    assert not locked.isEnabled() and "Managed by your organization" in locked.toolTip()
    assert locked.value() == 0.5
    dialog.findChild(QDoubleSpinBox, "sampling.temperature").setValue(0.3)
    dialog.findChild(QCheckBox, "model.flash_attention").setChecked(True)
    editor = dialog.assistants_editor
    editor.new_button.click()
    editor.name_edit.setText("Support")
    editor.name_edit.textEdited.emit("Support")
    editor.prompt_edit.setPlainText("Be kind.")
    dialog.save()
    assert not dialog.isVisible()
    assert window.controller.settings.sampling.temperature == 0.3
    assert window.controller.settings.sampling.top_p == 0.5  # still the policy's value
    assert window.assistant_picker.findText("Support") >= 0
    saved = json.loads(window.settings_store.path.read_text())
    assert saved["model"]["flash_attention"] is True
    assert "top_p" not in saved["sampling"] or saved["sampling"]["top_p"] != 0.5


def test_assistants_are_duplicated_and_two_with_one_name_are_refused(
    make_window, qtbot, monkeypatch
):
    from PySide6.QtWidgets import QMessageBox

    window = make_window()
    window.settings_action.trigger()
    dialog = window.settings_dialog
    editor = dialog.assistants_editor
    editor.list.setCurrentRow(1)  # a built-in: read-only, but it can be duplicated
    assert editor.prompt_edit.isReadOnly() and not editor.delete_button.isEnabled()
    editor.duplicate_button.click()
    assert editor.name_edit.text() == "Business writing (copy)"
    assert not editor.prompt_edit.isReadOnly()
    editor.duplicate_button.click()
    editor.name_edit.setText("Business writing (copy)")
    editor.name_edit.textEdited.emit("Business writing (copy)")
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: warnings.append(args[2]))
    dialog.save()
    assert dialog.isVisible() and "Two assistants are called" in warnings[0]
    assert not window.settings_store.path.exists()
    editor.delete_button.click()
    dialog.save()
    assert not dialog.isVisible()
    assert window.assistant_picker.findText("Business writing (copy)") >= 0


def test_the_hugging_face_token_goes_to_the_keyring_off_the_gui_thread(make_window, qtbot):
    from app.core.secrets import HF_TOKEN, SecretStore
    from tests.unit.test_secrets import MemoryBackend

    backend = MemoryBackend()
    window = make_window()
    window.secrets = SecretStore(backend=backend, timeout_s=2)
    window.settings_action.trigger()
    dialog = window.settings_dialog
    qtbot.waitUntil(lambda: dialog.token_status.text() == "No token stored.")
    dialog.token_edit.setText("hf_secret_value")
    dialog.token_save.click()
    qtbot.waitUntil(lambda: "stored in the system keyring" in dialog.token_status.text())
    assert window.secrets.get(HF_TOKEN) == "hf_secret_value"
    assert dialog.token_edit.text() == ""
    # Never in Hearth's own files.
    home = window.settings_store.path.parents[1]
    assert not [p for p in home.rglob("*") if p.is_file() and b"hf_secret" in p.read_bytes()]


def test_without_a_keyring_the_dialog_says_the_token_is_kept_in_memory(make_window, qtbot):
    from keyring.backends.fail import Keyring as NoKeyring

    from app.core.secrets import SecretStore

    window = make_window()
    window.secrets = SecretStore(backend=NoKeyring(), timeout_s=2)
    window.settings_action.trigger()
    dialog = window.settings_dialog
    qtbot.waitUntil(lambda: "memory" in dialog.token_status.text())


def test_delete_all_history_from_the_privacy_page(make_window, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox, QPushButton

    window = make_window(Script(pieces=(b"ok",)))
    send(qtbot, window, "Something private")
    wait_idle(qtbot, window)
    assert window.sidebar.list.count() == 1
    window.settings_action.trigger()
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)
    window.settings_dialog.findChild(QPushButton, "deleteAllHistory").click()
    assert window.sidebar.list.count() == 0
    assert window.controller.history.search("private") == []


def test_a_model_the_policy_forbids_is_not_loaded_and_the_window_says_why(make_window, qtbot):
    import os
    from pathlib import Path

    Path(os.environ["HEARTH_POLICY"]).write_text('[models]\nallow = ["*.Q8_0.gguf"]\n')
    window = make_window(loaded=False)
    qtbot.waitUntil(window.crash_banner.isVisible)
    assert window.crash_banner.isVisible()
    assert "organization's policy" in window.crash_banner.label.text()
    assert window.controller.loaded is None


def test_per_model_settings_from_the_dialog(make_window, qtbot):
    import json

    from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLineEdit

    window = make_window()
    window.settings_action.trigger()
    dialog = window.settings_dialog
    scope = dialog.findChild(QComboBox, "settingsScope")
    model_id = window.picker.current().id
    scope.setCurrentIndex(scope.findData(model_id))
    assert not dialog.findChild(QLineEdit, "default_model").isEnabled()
    dialog.findChild(QDoubleSpinBox, "sampling.temperature").setValue(0.15)
    dialog.save()
    saved = json.loads(window.settings_store.path.read_text())
    assert saved["model_overrides"] == {model_id: {"sampling.temperature": 0.15}}
    assert saved["sampling"]["temperature"] == 0.7
    assert window.controller.settings.for_model(model_id).sampling.temperature == 0.15


def test_a_broken_policy_is_reported_in_the_window(make_window):
    import os
    from pathlib import Path

    Path(os.environ["HEARTH_POLICY"]).write_text("[lock\nnot toml")
    window = make_window(loaded=False)
    assert window.undo_banner.isVisible()
    assert os.environ["HEARTH_POLICY"] in window.undo_banner.label.text()


def test_regenerate_leaves_no_orphan_bubble(make_window, qtbot):
    from app.ui.message_widget import MessageWidget

    window = make_window(Script(pieces=(b"Answer",)))
    send(qtbot, window, "Question")
    wait_idle(qtbot, window)
    reply = window.controller.history.thread(window.controller.current_id)[-1]
    window.view.message_widget(reply.id).findChild(QObject, "regenerateButton").click()
    wait_idle(qtbot, window)
    shown = [w for w in window.view.findChildren(MessageWidget) if not w.isHidden()]
    assert len(shown) == 2
    window.controller.new_conversation()
    qtbot.waitUntil(
        lambda: not [w for w in window.view.findChildren(MessageWidget) if not w.isHidden()]
    )


def test_switching_to_the_dark_theme_re_renders_code_colours(make_window, qtbot):
    from app.core.settings import with_setting
    from app.ui.rich_text import RichText

    window = make_window(Script(pieces=(b"```python\nprint('x')\n```\n",)))
    send(qtbot, window, "code")
    wait_idle(qtbot, window)
    reply_id = window.view.message_ids()[-1]
    before = window.view.message_widget(reply_id).findChildren(RichText)[0].html()
    window._settings_saved(with_setting(window.controller.settings, "appearance.theme", "dark"))
    after = window.view.message_widget(reply_id).findChildren(RichText)[0].html()
    assert before != after
