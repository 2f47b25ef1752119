"""Markdown and JSON exports of a conversation's visible thread."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.store import HistoryStore, NotFound, open_database
from app.store.export import export_json, export_markdown


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    moments = iter(
        datetime(2025, 5, 4, 10, 0, tzinfo=UTC) + timedelta(seconds=n) for n in range(1000)
    )
    with open_database(tmp_path / "history.db") as db:
        yield HistoryStore(db, clock=lambda: next(moments))


@pytest.fixture
def conversation_id(store: HistoryStore) -> int:
    conversation = store.create_conversation(system_prompt="Answer briefly.\nUse British spelling.")
    question = store.add_user_message(conversation.id, "What colour is the sky?", None)
    discarded = store.start_reply(conversation.id, question.id, model_name="Old model")
    store.finish_reply(discarded.id, "Discarded answer", "stop")
    reply = store.start_reply(
        conversation.id,
        question.id,
        model_name="SmolLM2 135M",
        model_path="/home/alice/models/smol.gguf",
        quantization="Q4_1",
        sampling_json='{"temperature": 0.7, "top_p": 0.95}',
        seed=42,
    )
    store.finish_reply(
        reply.id,
        "Blue, because of **Rayleigh** scattering.",
        "stop",
        prompt_tokens=20,
        completion_tokens=9,
        ttft_ms=41.0,
        tokens_per_s=87.25,
    )
    follow = store.add_user_message(conversation.id, "And at sunset?", reply.id)
    cut = store.start_reply(conversation.id, follow.id, model_name="SmolLM2 135M")
    store.update_reply(cut.id, "Red and orange, since")
    store.recover_interrupted()  # the app died while this reply streamed
    return conversation.id


def test_json_export_has_the_conversation_and_its_visible_thread(
    store: HistoryStore, conversation_id: int
):
    data = export_json(store, conversation_id)
    json.dumps(data)  # serialisable as is
    assert data["id"] == conversation_id
    assert data["title"] == "What colour is the sky?"
    assert data["system_prompt"] == "Answer briefly.\nUse British spelling."
    assert data["created_at"] == "2025-05-04T10:00:00.000Z"
    assert data["updated_at"] > data["created_at"]
    messages = data["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert "Discarded answer" not in json.dumps(data)
    answer = messages[1]
    assert answer["content"] == "Blue, because of **Rayleigh** scattering."
    assert answer["finish_reason"] == "stop"
    assert answer["model"] == "SmolLM2 135M"
    assert answer["quantization"] == "Q4_1"
    assert answer["sampling"] == {"temperature": 0.7, "top_p": 0.95}
    assert (answer["seed"], answer["prompt_tokens"], answer["completion_tokens"]) == (42, 20, 9)
    assert (answer["ttft_ms"], answer["tokens_per_s"]) == (41.0, 87.25)
    assert (answer["alternative"], answer["alternatives"]) == (2, 2)
    assert messages[0]["finish_reason"] is None
    assert messages[3]["finish_reason"] == "interrupted"
    assert messages[3]["content"] == "Red and orange, since"
    assert "/home/alice" not in json.dumps(data)  # local paths stay private


def test_markdown_export_reads_like_the_chat(store: HistoryStore, conversation_id: int):
    text = export_markdown(store, conversation_id)
    assert text.startswith("# What colour is the sky?\n")
    assert "> **System prompt**\n>\n> Answer briefly.\n> Use British spelling.\n" in text
    assert text.count("**You**") == 2
    assert text.count("**Assistant**") == 2
    assert "**Assistant** <sub>(version 2 of 2)</sub>" in text
    assert "Blue, because of **Rayleigh** scattering." in text
    assert "Discarded answer" not in text
    assert "<sub>SmolLM2 135M · Q4_1 · 9 tokens · 87.2 tokens/s" in text
    assert "first token after 41 ms · seed 42" in text
    assert "Hearth closed while writing this reply; it may be incomplete." in text
    assert "/home/alice" not in text
    # Order: question, answer, follow-up, cut-off answer.
    positions = [
        text.index(s)
        for s in ("What colour is the sky?\n\n", "Blue,", "And at sunset?", "Red and orange")
    ]
    assert positions == sorted(positions)


def test_markdown_notes_cancelled_crashed_and_failed_replies(store: HistoryStore):
    conversation = store.create_conversation("Notes")
    parent = None
    for reason, error in (("cancelled", None), ("crashed", None), ("error", "Out of memory")):
        question = store.add_user_message(conversation.id, f"q {reason}", parent)
        reply = store.start_reply(conversation.id, question.id, model_name="<m&m>")
        store.finish_reply(reply.id, f"a {reason}", reason, error=error)  # type: ignore[arg-type]
        parent = reply.id
    text = export_markdown(store, conversation.id)
    assert "This reply was stopped before it finished." in text
    assert "The model engine crashed while writing this reply" in text
    assert "This reply failed: Out of memory." in text
    assert "<sub>&lt;m&amp;m&gt; ·" in text  # model names cannot inject HTML


def test_an_empty_conversation_exports_and_unknown_ids_raise(store: HistoryStore):
    conversation = store.create_conversation("# Heading-like title")
    assert export_markdown(store, conversation.id).startswith("# \\# Heading-like title\n")
    assert export_json(store, conversation.id)["messages"] == []
    with pytest.raises(NotFound):
        export_markdown(store, 999)


def test_an_answer_s_document_sources_are_exported_without_folders(tmp_path: Path) -> None:
    from app.docs.indexer import Indexer
    from app.store.documents import DocumentStore

    folder = tmp_path / "alice" / "Handbook"
    folder.mkdir(parents=True)
    handbook = folder / "site.md"
    handbook.write_text("# Visitors\n\nVisitors park in the north car park.", "utf-8")
    with open_database(tmp_path / "docs.db") as db:
        history, documents = HistoryStore(db), DocumentStore(db)
        conversation = history.create_conversation()
        question = history.add_user_message(conversation.id, "Where do visitors park?", None)
        reply = history.start_reply(conversation.id, question.id, model_name="m")
        history.finish_reply(reply.id, "In the north car park [1].", "stop")
        attachments = documents.attachments(conversation.id)
        Indexer(documents).add_files(attachments, [handbook])
        documents.save_sources(reply.id, documents.all_passages([attachments.id], 10_000) or [])

        data = export_json(history, conversation.id, documents)
        text = export_markdown(history, conversation.id, documents)
    answer = data["messages"][-1]
    assert answer["sources"] == [
        {
            "number": 1,
            "file": "site.md",
            "page": None,
            "section": "Visitors",
            "text": answer["sources"][0]["text"],
        }
    ]
    assert "north car park" in answer["sources"][0]["text"]
    assert data["messages"][0]["sources"] == []
    assert "**Sources**" in text and "1. site.md, Visitors: " in text
    assert "alice" not in json.dumps(data) and "alice" not in text
