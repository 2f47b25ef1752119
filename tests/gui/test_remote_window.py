"""Remote OpenAI-compatible endpoints in the window: the editor, the picker, the chat."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QLabel, QMessageBox

from app.core.remote import secret_name
from app.engine.client import EngineClient
from app.engine.thread_transport import ThreadTransport
from app.main import build_services
from app.ui.app import build_window
from tests.fakes.api_server import free_port, scripted_api_server
from tests.fakes.backend import Script, ScriptedBackend
from tests.gui.conftest import send, wait_idle

REMOTE = Script(pieces=(b"Remote", b" says", b" hi."))
LOCAL = Script(pieces=(b"Local", b" says", b" hello."))


def write_settings(home: Path, data: dict[str, Any]) -> None:
    path = home / "config" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def picker_texts(window) -> list[str]:
    combo = window.picker.combo
    return [combo.itemText(i) for i in range(combo.count())]


def choose(qtbot, window, model_id: str) -> None:
    combo = window.picker.combo
    qtbot.waitUntil(lambda: combo.findData(model_id) >= 0, timeout=15_000)
    index = combo.findData(model_id)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def test_the_editor_adds_and_tests_an_endpoint_and_its_models_reach_the_picker(
    make_window, qtbot, monkeypatch
):
    window = make_window(LOCAL)
    with scripted_api_server(REMOTE, model_id="big-model", api_key="k" * 20) as url:
        window.settings_action.trigger()
        dialog = window.settings_dialog
        editor = dialog.remote_editor
        editor.add_button.click()
        editor.name_edit.setText("gpu")
        editor.name_edit.textEdited.emit("gpu")
        unreachable = f"http://127.0.0.1:{free_port()}/v1"
        editor.url_edit.setText(unreachable)
        editor.url_edit.textEdited.emit(unreachable)
        editor.test_button.click()
        qtbot.waitUntil(lambda: "Cannot reach" in editor.result.text(), timeout=15_000)

        editor.url_edit.setText(url)
        editor.url_edit.textEdited.emit(url)
        editor.test_button.click()
        qtbot.waitUntil(lambda: "refused the API key" in editor.result.text(), timeout=15_000)
        editor.key_edit.setText("k" * 20)
        editor.key_edit.textEdited.emit("k" * 20)
        editor.test_button.click()
        qtbot.waitUntil(lambda: editor.result.text().startswith("Connected"), timeout=15_000)
        assert "1 model(s): big-model" in editor.result.text()

        dialog.save()
        qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
        assert [e.name for e in window.controller.settings.remotes] == ["gpu"]
        assert window.secrets.get(secret_name("gpu")) == "k" * 20
        saved = window.settings_store.path.read_text()
        assert "k" * 20 not in saved
        qtbot.waitUntil(lambda: "big-model · remote: gpu" in picker_texts(window), timeout=15_000)
        # After the local ones.
        assert picker_texts(window)[-1] == "big-model · remote: gpu"

        # Renamed, it keeps its key; removed, its key and models are gone.
        window.settings_action.trigger()
        dialog = window.settings_dialog
        editor = dialog.remote_editor
        assert editor.key_edit.text() == "" and editor.key_edit.placeholderText()
        editor.name_edit.setText("farm")
        editor.name_edit.textEdited.emit("farm")
        dialog.save()
        qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
        assert window.secrets.get(secret_name("farm")) == "k" * 20
        assert window.secrets.get(secret_name("gpu")) is None
        qtbot.waitUntil(lambda: "big-model · remote: farm" in picker_texts(window), timeout=15_000)

        window.settings_action.trigger()
        dialog = window.settings_dialog
        dialog.remote_editor.remove_button.click()
        monkeypatch.setattr(QMessageBox, "warning", lambda *a: None)
        dialog.save()
        qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
        assert window.secrets.get(secret_name("farm")) is None
        assert not [t for t in picker_texts(window) if "remote" in t]


def test_a_url_the_policy_forbids_is_refused_with_the_reason(make_window, qtbot, monkeypatch):
    Path(os.environ["HEARTH_POLICY"]).write_text(
        '[remote]\nendpoints = ["https://gateway.example/v1"]\n'
    )
    window = make_window()
    window.settings_action.trigger()
    dialog = window.settings_dialog
    editor = dialog.remote_editor
    editor.add_button.click()
    editor.url_edit.setText("http://127.0.0.1:9/v1")
    editor.url_edit.textEdited.emit("http://127.0.0.1:9/v1")
    editor.test_button.click()
    assert "is not allowed" in editor.result.text()
    assert "https://gateway.example/v1" in editor.result.text()
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: warnings.append(args[2]))
    dialog.save()
    assert dialog.isVisible() and "is not allowed" in warnings[0]
    assert window.controller.settings.remotes == []


def test_an_unreachable_endpoint_is_listed_disabled_with_the_reason(
    make_window, qtbot, hearth_home
):
    url = f"http://127.0.0.1:{free_port()}/v1"
    write_settings(hearth_home, {"remotes": [{"name": "down", "base_url": url}]})
    window = make_window()
    combo = window.picker.combo
    qtbot.waitUntil(lambda: combo.count() == 2, timeout=15_000)
    text = combo.itemText(1)
    assert text.startswith("down (remote, unavailable: Cannot reach the server")
    assert not combo.model().item(1).isEnabled()
    assert "Remote endpoint unavailable: down" in window.statusBar().currentMessage()
    combo.activated.emit(1)  # not a choice: the local model stays
    assert window.controller.entry.id == combo.itemData(0)


def test_chatting_with_a_remote_model_and_switching_local_remote_local_in_one_chat(
    make_window, qtbot, hearth_home
):
    with scripted_api_server(REMOTE, model_id="big-model") as url:
        write_settings(hearth_home, {"remotes": [{"name": "gpu", "base_url": url}]})
        window = make_window(LOCAL)
        local_id = window.controller.entry.id

        send(qtbot, window, "first, local")
        wait_idle(qtbot, window)
        choose(qtbot, window, "remote:gpu/big-model")
        qtbot.waitUntil(lambda: window.picker.device.text() == f"remote: {url}", timeout=15_000)
        assert window.engine_status.text() == f"Ready · big-model · remote: {url}"
        send(qtbot, window, "second, remote")
        wait_idle(qtbot, window)
        choose(qtbot, window, local_id)
        qtbot.waitUntil(lambda: window.picker.device.text() == "CPU")
        send(qtbot, window, "third, local again")
        wait_idle(qtbot, window)

        history = window.controller.history
        thread = history.thread(window.controller.current_id)
        replies = [m for m in thread if m.role == "assistant"]
        assert [r.content for r in replies] == [
            "Local says hello.",
            "Remote says hi.",
            "Local says hello.",
        ]
        assert [r.finish_reason for r in replies] == ["stop"] * 3
        assert replies[1].model_name == "big-model"
        assert replies[1].model_path == "remote:gpu/big-model"
        assert replies[0].model_path == replies[2].model_path != replies[1].model_path
        assert replies[0].model_name == replies[2].model_name
        # The remote model saw the local model's turn: one conversation.
        assert [m.content for m in thread if m.role == "user"] == [
            "first, local",
            "second, remote",
            "third, local again",
        ]


def test_api_jobs_on_the_local_engine_never_leak_into_a_remote_reply(
    make_window, qtbot, hearth_home
):
    import httpx

    from tests.gui.test_api_server_window import in_background

    # The remote reply is the slower: the API's local job ends while it still streams.
    slow_remote = Script(pieces=tuple(f"r{i} ".encode() for i in range(30)), token_delay_s=0.05)
    local = Script(pieces=tuple(f"L{i} ".encode() for i in range(30)), token_delay_s=0.005)
    port = free_port()
    with scripted_api_server(slow_remote, model_id="big-model") as url:
        write_settings(
            hearth_home,
            {
                "remotes": [{"name": "gpu", "base_url": url}],
                "api": {"enabled": True, "port": port},
            },
        )
        window = make_window(local)
        qtbot.waitUntil(lambda: window.api_server.state == "running", timeout=15_000)
        choose(qtbot, window, "remote:gpu/big-model")
        qtbot.waitUntil(lambda: window.picker.device.text() == f"remote: {url}", timeout=15_000)
        # Both engines number their jobs alike: the remote chat and the API's local job
        # below get the same id.
        send(qtbot, window, "remote, please")
        qtbot.waitUntil(lambda: window.controller.busy)

        def ask() -> str:
            answer = httpx.post(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "hi"}]},
                timeout=30,
            )
            return answer.json()["choices"][0]["message"]["content"]

        api_text = in_background(qtbot, ask)
        wait_idle(qtbot, window)
        assert api_text.startswith("L0 L1 L2")
        reply = window.controller.history.thread(window.controller.current_id)[-1]
        assert reply.content == "".join(f"r{i} " for i in range(30))
        assert window.controller.local_engine.loaded_model is not None
        shown = window.view.message_widget(reply.id).body_text()
        assert "L0" not in shown and shown.startswith("r0 r1")


@contextmanager
def app_window(qtbot, qapp, script: Script) -> Iterator[Any]:
    """The window as ``hearth`` opens it: started with the settings' default model."""
    services = build_services()
    engine = EngineClient(lambda: ThreadTransport(functools.partial(ScriptedBackend, script)))
    window = build_window(services, engine, qapp)
    qtbot.addWidget(window)
    window.show()
    window.start(services.settings.default_model)
    try:
        yield window
    finally:
        window.close()
        window.database.close()
        engine.shutdown()


def test_a_remote_default_model_is_chosen_once_listed_else_the_local_one(qtbot, qapp, hearth_home):
    with scripted_api_server(REMOTE, model_id="big-model") as url:
        write_settings(
            hearth_home,
            {
                "remotes": [{"name": "gpu", "base_url": url}],
                "default_model": "remote:gpu/big-model",
            },
        )
        with app_window(qtbot, qapp, LOCAL) as window:
            qtbot.waitUntil(lambda: window.controller.loaded is not None, timeout=15_000)
            assert window.controller.entry.id == "remote:gpu/big-model"
            assert window.picker.device.text() == f"remote: {url}"
            assert window.picker.current().id == "remote:gpu/big-model"
            # Nothing was loaded locally for nothing.
            assert window.controller.local_engine.loaded_model is None

    down = f"http://127.0.0.1:{free_port()}/v1"
    write_settings(
        hearth_home,
        {"remotes": [{"name": "gpu", "base_url": down}], "default_model": "remote:gpu/big-model"},
    )
    with app_window(qtbot, qapp, LOCAL) as window:
        qtbot.waitUntil(lambda: window.controller.loaded is not None, timeout=15_000)
        assert window.picker.device.text() == "CPU"
        assert not window.controller.entry.id.startswith("remote:")


def test_the_policy_can_disable_remote_endpoints(make_window, qtbot, hearth_home):
    Path(os.environ["HEARTH_POLICY"]).write_text("[remote]\nenabled = false\n")
    write_settings(hearth_home, {"remotes": [{"name": "gpu", "base_url": "http://x.test/v1"}]})
    window = make_window()
    assert not [t for t in picker_texts(window) if "remote" in t]
    window.settings_action.trigger()
    dialog = window.settings_dialog
    assert not dialog.remote_editor.isEnabled()
    label = dialog.findChild(QLabel, "remoteManaged")
    assert label is not None and "disabled by your organization" in label.text()
    dialog.save()  # the endpoints the policy hides are kept, not lost
    qtbot.waitUntil(lambda: not dialog.isVisible())
    saved = json.loads(window.settings_store.path.read_text())
    assert [e["name"] for e in saved["remotes"]] == ["gpu"]


def test_the_picker_keeps_the_remote_model_in_use_when_its_server_drops_out(qtbot):
    from app.core.remote import RemoteListing
    from app.ui.model_picker import ModelPicker

    picker = ModelPicker()
    qtbot.addWidget(picker)
    picker.set_entries([], None)
    picker.set_remote([RemoteListing("farm", "http://farm:8000/v1", "llama")])
    picker.select("remote:farm/llama")
    down = RemoteListing("farm", "http://farm:8000/v1", None, "Cannot reach the server")
    picker.set_remote([down])
    assert picker.current() is not None
    assert picker.current().id == "remote:farm/llama"


def test_renaming_an_endpoint_with_a_new_key_forgets_the_old_name_s_key(qtbot):
    from app.core.policy import Policy
    from app.core.settings import RemoteEndpointEntry
    from app.ui.remote_endpoints_editor import RemoteEndpointsEditor

    farm = RemoteEndpointEntry(name="farm", base_url="http://farm:8000/v1")
    editor = RemoteEndpointsEditor([farm], Policy(), None)
    qtbot.addWidget(editor)
    editor.list.setCurrentRow(0)
    qtbot.keyClicks(editor.name_edit, "2")  # farm -> farm2
    qtbot.keyClicks(editor.key_edit, "a-brand-new-key-0123456789")
    editor.name_edit.editingFinished.emit()
    plan = editor.key_plan()
    assert plan.store == (("farm2", "a-brand-new-key-0123456789"),)
    assert plan.delete == ("farm",)  # the old key stays nowhere
