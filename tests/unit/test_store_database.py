"""The history database: settings, migrations, backups, refusal, recovery, error mapping."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from app.core.errors import HearthError
from app.store import (
    DatabaseCorrupt,
    DatabaseTooNew,
    HistoryStore,
    StorageError,
    StorageFull,
    open_database,
)
from app.store.database import split_statements
from app.store.errors import StorageBusy, translate
from app.store.migrations import MIGRATIONS

SIDES = ("-wal", "-shm")
N = len(MIGRATIONS)
EXTRA = (*MIGRATIONS, (f"{N + 1:04d}_test_extra", "CREATE TABLE extra (x INTEGER);"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.db"


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def files_in(folder: Path) -> dict[str, bytes]:
    return {item.name: item.read_bytes() for item in sorted(folder.iterdir())}


def make_history(path: Path, migrations=MIGRATIONS, text: str = "remember this") -> None:
    with open_database(path, migrations=migrations) as db:
        store = HistoryStore(db)
        conversation = store.create_conversation()
        store.add_user_message(conversation.id, text, None)


# -- settings and migrations ------------------------------------------------------------


def test_a_new_database_gets_its_settings_and_every_migration(db_path: Path):
    with open_database(db_path) as db:
        assert db.warning == ""
        assert db.schema_version == len(MIGRATIONS)
        with db.read() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
            assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
            assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
            names = [row[0] for row in conn.execute("SELECT name FROM schema_migrations")]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert names == [name for name, _ in MIGRATIONS]
    assert {"conversations", "messages", "messages_fts", "conversations_fts"} <= tables
    assert not list(db_path.parent.glob("*.bak-*"))


def test_reopening_is_a_no_op(db_path: Path):
    make_history(db_path)
    with raw(db_path) as conn:
        before = conn.execute("SELECT name, applied_at FROM schema_migrations").fetchall()
    with open_database(db_path) as db:
        assert db.warning == ""
        assert HistoryStore(db).list_conversations()[0].message_count == 1
    with raw(db_path) as conn:
        after = conn.execute("SELECT name, applied_at FROM schema_migrations").fetchall()
    assert after == before
    assert not list(db_path.parent.glob("*.bak-*"))


def test_an_older_database_is_backed_up_then_migrated(db_path: Path):
    make_history(db_path, migrations=MIGRATIONS)  # "the previous version"
    with open_database(db_path, migrations=EXTRA) as db:
        assert db.schema_version == N + 1
        with db.read() as conn:
            assert conn.execute("SELECT count(*) FROM extra").fetchone()[0] == 0
            assert conn.execute("PRAGMA user_version").fetchone()[0] == N + 1
        assert HistoryStore(db).thread(1)[0].content == "remember this"
        backup = db_path.with_name(f"history.db.bak-v{N}")
        assert db.side_files() == [backup]
    with raw(backup) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == N
        assert conn.execute("SELECT content FROM messages").fetchone()[0] == "remember this"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_an_existing_backup_of_the_same_version_is_kept(db_path: Path):
    make_history(db_path)
    first = db_path.with_name(f"history.db.bak-v{N}")
    first.write_bytes(b"an earlier backup")
    with open_database(db_path, migrations=EXTRA) as db:
        backups = db.side_files()
    assert first.read_bytes() == b"an earlier backup"
    assert len(backups) == 2


def test_a_newer_database_is_refused_and_left_untouched(db_path: Path):
    make_history(db_path, migrations=EXTRA)
    before = files_in(db_path.parent)
    with pytest.raises(DatabaseTooNew) as caught:
        open_database(db_path)
    error = caught.value
    assert isinstance(error, HearthError)
    assert str(error) == (
        "This history database was written by a newer version of Hearth "
        f"(schema {N + 1}, this version knows {N})."
    )
    assert f"Update Hearth, or move {db_path} aside" in error.user_text()
    assert files_in(db_path.parent) == before


def test_a_database_with_an_unknown_migration_name_is_refused(db_path: Path):
    make_history(db_path, migrations=EXTRA)
    before = files_in(db_path.parent)
    other = (*MIGRATIONS, (f"{N + 1:04d}_from_a_fork", "CREATE TABLE fork (x);"))
    with pytest.raises(DatabaseTooNew):
        open_database(db_path, migrations=other)
    assert files_in(db_path.parent) == before


def test_migration_statements_are_split_with_trigger_bodies_whole():
    script = """
    -- a comment; with a semicolon
    CREATE TABLE t (x TEXT DEFAULT 'a;b');
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        INSERT INTO t VALUES ('y'); UPDATE t SET x = 'z';
    END;
    -- trailing comment
    """
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    for _, sql in MIGRATIONS:
        assert all(sqlite3.complete_statement(s) for s in split_statements(sql))


def test_a_failing_migration_changes_nothing(db_path: Path):
    make_history(db_path)
    broken = (*MIGRATIONS, (f"{N + 1:04d}_broken", "CREATE TABLE ok (x); SELECT * FROM missing;"))
    with pytest.raises(StorageError):
        open_database(db_path, migrations=broken)
    with open_database(db_path) as db, db.read() as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == N
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "ok" not in tables


# -- damaged files are set aside, never lost ---------------------------------------------


def assert_set_aside(db_path: Path, original: bytes, db) -> Path:
    kept = [p for p in db_path.parent.glob("history.db.corrupt-*") if p.name[-4:] not in SIDES]
    assert len(kept) == 1
    assert kept[0].read_bytes() == original
    assert str(kept[0]) in db.warning
    assert db.warning.endswith("a new, empty history was started.")
    store = HistoryStore(db)
    conversation = store.create_conversation()
    store.add_user_message(conversation.id, "works again", None)
    assert store.thread(conversation.id)[0].content == "works again"
    return kept[0]


def test_random_bytes_are_kept_aside_and_a_fresh_history_starts(db_path: Path):
    db_path.parent.mkdir(parents=True)
    original = os.urandom(16384)
    db_path.write_bytes(original)
    wal = db_path.with_name("history.db-wal")
    wal.write_bytes(b"wal bytes")
    with open_database(db_path) as db:
        assert "file is not a database" in db.warning
        kept = assert_set_aside(db_path, original, db)
    assert kept.with_name(kept.name + "-wal").read_bytes() == b"wal bytes"


def test_a_truncated_database_is_kept_aside(db_path: Path):
    make_history(db_path, text="x" * 50_000)
    original = db_path.read_bytes()[: len(db_path.read_bytes()) // 2]
    db_path.write_bytes(original)
    with open_database(db_path) as db:
        assert_set_aside(db_path, original, db)


def test_a_failing_quick_check_is_kept_aside(db_path: Path):
    make_history(db_path)
    data = bytearray(db_path.read_bytes())
    page = 4096
    # Scribble over the middle of the second page (a b-tree page) but keep the header.
    data[page + 8 : page + 200] = os.urandom(192)
    db_path.write_bytes(bytes(data))
    with open_database(db_path) as db:
        assert_set_aside(db_path, bytes(data), db)


def test_an_unrelated_sqlite_file_is_kept_aside(db_path: Path):
    db_path.parent.mkdir(parents=True)
    with raw(db_path) as conn:
        conn.execute("CREATE TABLE invoices (amount)")
    conn.close()
    original = db_path.read_bytes()
    with open_database(db_path) as db:
        assert "not a Hearth history database" in db.warning
        assert_set_aside(db_path, original, db)


def test_an_empty_file_is_a_new_database(db_path: Path):
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"")
    with open_database(db_path) as db:
        assert db.warning == ""
        assert db.side_files() == []


# -- unusable paths and a full disk --------------------------------------------------------


def test_a_folder_in_place_of_the_file_is_a_storage_error(db_path: Path):
    db_path.mkdir(parents=True)
    with pytest.raises(StorageError, match="is a folder"):
        open_database(db_path)


def test_a_file_in_place_of_the_folder_is_a_storage_error(tmp_path: Path):
    (tmp_path / "data").write_text("not a folder")
    with pytest.raises(StorageError, match="cannot be opened"):
        open_database(tmp_path / "data" / "history.db")


def _open_unreadable(path: str) -> str:
    if os.geteuid() == 0:
        os.setuid(65534)  # root reads anything: check as an ordinary user ("nobody")
    try:
        open_database(Path(path))
    except StorageError as error:
        return str(error)
    return "opened"


def test_an_unreadable_file_is_a_storage_error(db_path: Path):
    import multiprocessing

    make_history(db_path)
    db_path.chmod(0)
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            message = pool.apply(_open_unreadable, (str(db_path),))
    finally:
        db_path.chmod(0o600)
    assert "cannot be opened" in message


def test_permission_denied_is_a_storage_error_even_for_root(db_path: Path, monkeypatch):
    make_history(db_path)
    real_open = Path.open

    def denied(self: Path, *args, **kwargs):
        if self == db_path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(StorageError) as caught:
        open_database(db_path)
    assert "Permission denied" in str(caught.value)
    assert "permission" in caught.value.hint


def test_a_full_disk_is_storage_full_and_keeps_what_was_saved(db_path: Path):
    with open_database(db_path) as db:
        store = HistoryStore(db)
        conversation = store.create_conversation()
        saved = store.add_user_message(conversation.id, "saved before the disk filled", None)
        with db.read() as conn:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        with pytest.raises(StorageFull) as caught:
            store.add_user_message(conversation.id, "y" * 200_000, saved.id)
        assert str(caught.value).startswith("The disk is full:")
        assert "Free some space; nothing already saved was lost." in caught.value.user_text()
        assert [m.content for m in store.thread(conversation.id)] == [saved.content]
        assert store.list_conversations()[0].message_count == 1
        # Once there is room again, writing works.
        with db.read() as conn:
            conn.execute("PRAGMA max_page_count = 1000000")
        store.add_user_message(conversation.id, "after", saved.id)


def test_sqlite_errors_are_mapped_to_typed_errors(tmp_path: Path):
    full = translate(sqlite3.OperationalError("database or disk is full"), tmp_path)
    assert isinstance(full, StorageFull)
    other = translate(sqlite3.OperationalError("disk I/O error"), tmp_path)
    assert type(other) is StorageError
    bug = sqlite3.IntegrityError("CHECK constraint failed")
    assert translate(bug, tmp_path) is bug


def test_a_lock_held_too_long_is_storage_busy(db_path: Path, monkeypatch):
    monkeypatch.setattr("app.store.database.BUSY_TIMEOUT_MS", 50)
    with open_database(db_path) as db:
        other = raw(db_path)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StorageBusy):
                HistoryStore(db).create_conversation()
        finally:
            other.execute("ROLLBACK")
            other.close()


def test_a_closed_database_says_so(db_path: Path):
    db = open_database(db_path)
    db.close()
    db.close()
    with pytest.raises(StorageError, match="closed"):
        HistoryStore(db).list_conversations()


# -- sharing ----------------------------------------------------------------------------------


def test_two_connections_see_each_others_committed_writes(db_path: Path):
    gui_db = open_database(db_path)
    cli_db = open_database(db_path)  # the CLI, while the GUI runs
    try:
        gui, cli = HistoryStore(gui_db), HistoryStore(cli_db)
        conversation = gui.create_conversation()
        question = gui.add_user_message(conversation.id, "Is anybody there?", None)
        assert [m.content for m in cli.thread(conversation.id)] == ["Is anybody there?"]
        reply = gui.start_reply(conversation.id, question.id, model_name="m")
        gui.update_reply(reply.id, "Yes, half")
        assert cli.thread(conversation.id)[-1].content == "Yes, half"
        cli.rename(conversation.id, "Renamed from the CLI")
        assert gui.get_conversation(conversation.id).title == "Renamed from the CLI"
    finally:
        cli_db.close()
        gui_db.close()


def test_one_database_can_be_shared_between_threads(db_path: Path):
    with open_database(db_path) as db:
        store = HistoryStore(db)
        conversation = store.create_conversation()
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                parent = None
                for i in range(25):
                    parent = store.add_user_message(conversation.id, f"t{n} m{i}", parent).id
                    reply = store.start_reply(conversation.id, parent)
                    store.update_reply(reply.id, "partial")
                    store.finish_reply(reply.id, "done", "stop")
                    store.thread(conversation.id)
                    store.list_conversations()
                    parent = reply.id
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert store.list_conversations()[0].message_count == 4 * 25 * 2


def test_without_recovery_a_damaged_file_is_an_error_and_stays_in_place(db_path: Path):
    db_path.parent.mkdir(parents=True)
    original = os.urandom(8192)
    db_path.write_bytes(original)
    with pytest.raises(DatabaseCorrupt, match="damaged"):
        open_database(db_path, recover=False)
    assert files_in(db_path.parent) == {"history.db": original}
