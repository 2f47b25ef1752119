"""`hearth history` reads the same database the window writes, even while it runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from app.store.database import HISTORY_FILE, open_database
from app.store.history import HistoryStore


@pytest.fixture
def history(hearth_home: Path):
    database = open_database(hearth_home / "data" / HISTORY_FILE)
    store = HistoryStore(database)
    yield store
    database.close()


def _chat(store: HistoryStore) -> int:
    conversation = store.create_conversation(system_prompt="Be brief.")
    user = store.add_user_message(conversation.id, "Capital of France?", None)
    reply = store.start_reply(conversation.id, user.id, model_name="SmolLM2")
    store.finish_reply(reply.id, "Paris.", "stop", completion_tokens=2, tokens_per_s=50.0)
    return conversation.id


def test_list_is_empty_before_any_history(capsys):
    assert main(["history", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_list_json_while_the_window_holds_the_database_open(history, capsys):
    chat = _chat(history)
    assert main(["history", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in data] == [chat]
    assert data[0]["title"] == "Capital of France?"
    assert data[0]["message_count"] == 2 and data[0]["updated_at"]


def test_export_json_has_the_messages_with_their_model(history, capsys):
    chat = _chat(history)
    assert main(["history", "export", str(chat), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == chat and data["title"] == "Capital of France?"
    roles = [(m["role"], m["content"], m["finish_reason"]) for m in data["messages"]]
    assert roles == [("user", "Capital of France?", None), ("assistant", "Paris.", "stop")]
    assert data["messages"][1]["model"] == "SmolLM2" and data["messages"][1]["created_at"]


def test_export_markdown_to_a_file(history, capsys, tmp_path: Path):
    chat = _chat(history)
    target = tmp_path / "out.md"
    assert main(["history", "export", str(chat), "-o", str(target)]) == 0
    text = target.read_text()
    assert "Capital of France?" in text and "Paris." in text
    assert "exported" in capsys.readouterr().err


def test_exporting_an_unknown_conversation_is_a_clear_error(history, capsys):
    _chat(history)
    assert main(["history", "export", "999"]) == 2
    err = capsys.readouterr().err
    assert "999 does not exist" in err and "Traceback" not in err


def test_a_list_does_not_repair_or_move_a_damaged_database(hearth_home: Path, capsys):
    path = hearth_home / "data" / HISTORY_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 100)
    code = main(["history", "list"])
    assert code == 1
    assert path.read_bytes() == b"garbage" * 100
    assert "hearth: error:" in capsys.readouterr().err
