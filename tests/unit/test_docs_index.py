"""Indexing folders into collections: incremental, cancellable, problems listed."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.docs.indexer import Indexer, IndexProgress
from app.store.database import Database, open_database
from app.store.documents import DocumentStore
from app.store.history import HistoryStore
from app.store.migrations import MIGRATIONS
from tests.fakes.corpus import ConceptEmbedder
from tests.fakes.documents import write_pdf


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(tmp_path / "hearth.db")
    yield database
    database.close()


@pytest.fixture
def store(db: Database) -> DocumentStore:
    return DocumentStore(db)


def fts_rows(db: Database) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                "SELECT count(*) FROM doc_chunks_fts WHERE doc_chunks_fts MATCH 'zebra'"
            ).fetchone()[0]
        )


def names(paths) -> list[str]:
    return sorted(Path(p).name for p in paths)


def test_incremental_reindex_reads_only_new_and_changed_files(
    store: DocumentStore, tmp_path: Path, db: Database
):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nAlpha zebra.", "utf-8")
    (folder / "b.txt").write_text("Bravo.", "utf-8")
    (folder / "c.txt").write_text("Charlie zebra.", "utf-8")
    (folder / "sub").mkdir()
    write_pdf(folder / "sub" / "d.pdf", [["Delta page one."], ["Delta page two."]])
    (folder / ".hidden.txt").write_text("secret", "utf-8")
    (folder / "image.png").write_bytes(b"\x89PNG")
    collection = store.create_collection("docs", folder=str(folder))
    indexer = Indexer(store)

    first = indexer.index_folder(collection)
    assert (first.added, first.updated, first.removed, first.unchanged) == (4, 0, 0, 0)
    assert first.skipped == 1 and first.pages == 2 and not first.problems
    assert names(store.file_paths(collection.id)) == ["a.md", "b.txt", "c.txt", "d.pdf"]
    assert fts_rows(db) == 2

    second = indexer.index_folder(collection)
    assert (second.added, second.updated, second.removed, second.unchanged) == (0, 0, 0, 4)
    assert second.chunks == 0  # nothing was read again

    (folder / "a.md").write_text("# A\n\nAlpha changed, no stripes.", "utf-8")
    (folder / "c.txt").unlink()
    (folder / "e.txt").write_text("Echo zebra.", "utf-8")
    stat = (folder / "b.txt").stat()  # touched only: same bytes, new time
    os.utime(folder / "b.txt", ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    third = indexer.index_folder(collection)
    assert (third.added, third.updated, third.removed, third.unchanged) == (1, 1, 1, 2)
    assert names(store.file_paths(collection.id)) == ["a.md", "b.txt", "d.pdf", "e.txt"]
    assert fts_rows(db) == 1  # c.txt's passage left the full-text index; a.md's old one too
    assert store.summary(collection.id).chunks == 5

    fourth = indexer.index_folder(collection)  # the touched file is not hashed again
    assert fourth.unchanged == 4


def test_unreadable_files_are_listed_with_their_reason_and_retried_when_changed(
    store: DocumentStore, tmp_path: Path
):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog")
    (folder / "empty.txt").write_text("", "utf-8")
    (folder / "ok.txt").write_text("Readable.", "utf-8")
    collection = store.create_collection("docs", folder=str(folder))
    report = Indexer(store).index_folder(collection)
    reasons = {Path(p.path).name: p.reason for p in report.problems}
    assert set(reasons) == {"broken.pdf", "empty.txt"}
    assert reasons["broken.pdf"].startswith("not a valid PDF")
    assert reasons["empty.txt"] == "no text found (the file is empty)"
    summary = store.summary(collection.id)
    assert (summary.files, summary.problems) == (1, 2)
    assert "could not be read" in report.summary()

    write_pdf(folder / "broken.pdf", [["Fixed now."]])
    again = Indexer(store).index_folder(collection)
    assert [Path(p.path).name for p in again.problems] == ["empty.txt"]
    assert again.updated == 1


def test_progress_is_reported_and_cancel_keeps_finished_files(store: DocumentStore, tmp_path: Path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for n in range(10):
        (folder / f"{n:02d}.txt").write_text(f"Document {n}.", "utf-8")
    collection = store.create_collection("docs", folder=str(folder))
    cancel = threading.Event()
    seen: list[IndexProgress] = []

    def progress(state: IndexProgress) -> None:
        seen.append(state)
        if state.done == 4:
            cancel.set()

    report = Indexer(store).index_folder(collection, progress, cancel)
    assert report.cancelled and report.added == 5
    assert report.summary().startswith("Cancelled:")
    assert [s.done for s in seen[:5]] == [0, 1, 2, 3, 4] and seen[0].total == 10
    assert store.collection(collection.id).indexed_at is None  # not complete

    done: list[IndexProgress] = []
    rest = Indexer(store).index_folder(collection, done.append)
    assert (rest.added, rest.unchanged, rest.cancelled) == (5, 5, False)
    assert done[-1].fraction == 1.0 and done[-1].path == ""
    assert store.collection(collection.id).indexed_at is not None


def test_a_missing_folder_is_a_clear_error(store: DocumentStore, tmp_path: Path):
    collection = store.create_collection("gone", folder=str(tmp_path / "nowhere"))
    with pytest.raises(Exception, match="cannot be found"):
        Indexer(store).index_folder(collection)


def test_a_huge_file_in_a_folder_is_listed_not_read(store: DocumentStore, tmp_path: Path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "small.txt").write_text("small", "utf-8")
    (folder / "huge.csv").write_text("a,b\n" + "1,2\n" * 300_000, "utf-8")
    collection = store.create_collection("docs", folder=str(folder))
    report = Indexer(store, max_file_bytes=1_000_000).index_folder(collection)
    assert [(Path(p.path).name, p.reason) for p in report.problems] == [
        ("huge.csv", "too large: 1 MB (the limit is 1 MB)")
    ]
    assert report.added == 2 and store.summary(collection.id).files == 1


def test_embeddings_are_stored_and_a_new_model_reindexes(store: DocumentStore, tmp_path: Path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Parking is in the garage.", "utf-8")
    collection = store.create_collection("docs", folder=str(folder))
    Indexer(store).index_folder(collection)
    assert store.embeddings([collection.id]) == []
    embedder = ConceptEmbedder()
    report = Indexer(store, embedder).index_folder(store.collection(collection.id))
    assert report.updated == 1  # vectors were missing: read again
    assert store.collection(collection.id).embedding_model == "fake-concepts-v1"
    [(_, blob)] = store.embeddings([collection.id])
    assert len(blob) == 256 * 4
    calls = embedder.calls
    Indexer(store, embedder).index_folder(store.collection(collection.id))
    assert embedder.calls == calls  # unchanged files are not embedded again


def test_attachments_and_conversation_collections_go_with_the_conversation(
    db: Database, store: DocumentStore, tmp_path: Path
):
    history = HistoryStore(db)
    chat = history.create_conversation()
    note = tmp_path / "note.md"
    note.write_text("Zebra crossing near the office.", "utf-8")
    attachments = store.attachments(chat.id)
    assert store.attachments(chat.id) == attachments  # one per conversation
    report = Indexer(store).add_files(attachments, [note])
    assert report.added == 1
    shared = store.create_collection("shared", folder=str(tmp_path))
    store.set_conversation_collections(chat.id, [shared.id])
    assert [c.name for c in store.conversation_collections(chat.id)] == ["shared", attachments.name]
    assert [s.collection.name for s in store.list_collections()] == ["shared"]

    history.delete_conversation(chat.id)
    assert store.find_collection(attachments.name) is not None  # undo is still possible
    assert history.purge_deleted() == 1
    assert store.find_collection(attachments.name) is None
    assert fts_rows(db) == 0  # the attached file's passages left the full-text index
    assert store.find_collection("shared") is not None


def test_sources_of_an_answer_survive_reindexing(
    db: Database, store: DocumentStore, tmp_path: Path
):
    history = HistoryStore(db)
    chat = history.create_conversation()
    user = history.add_user_message(chat.id, "Where is parking?", None)
    reply = history.start_reply(chat.id, user.id)
    note = tmp_path / "note.md"
    note.write_text("# Parking\n\nLevel -2.", "utf-8")
    attachments = store.attachments(chat.id)
    Indexer(store).add_files(attachments, [note])
    passages = store.all_passages([attachments.id], 10_000)
    assert passages
    store.save_sources(reply.id, passages)
    note.write_text("# Parking\n\nLevel -3 now.", "utf-8")
    Indexer(store).add_files(attachments, [note])
    [source] = store.sources(reply.id)
    assert (source.number, source.text, source.heading) == (1, "Level -2.", "Parking")
    assert source.chunk_id is None  # the passage itself is gone; the copy stays
    assert store.sources_for([reply.id, user.id]) == {reply.id: [source]}


def test_an_older_history_database_gains_documents_with_a_backup(tmp_path: Path):
    path = tmp_path / "hearth.db"
    old = open_database(path, migrations=MIGRATIONS[:1])
    HistoryStore(old).create_conversation(title="kept")
    old.close()
    with open_database(path) as database:
        assert HistoryStore(database).list_conversations()[0].title == "kept"
        assert DocumentStore(database).list_collections() == []
    backup = path.with_name("hearth.db.bak-v1")
    with sqlite3.connect(backup) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "conversations" in tables and "doc_chunks" not in tables
