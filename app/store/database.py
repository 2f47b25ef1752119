"""Opening the history database: settings, migrations, backups, recovery.

``open_database(path)`` returns a :class:`Database` ready to use, or raises a typed error:

- a database written by a newer Hearth -> :class:`DatabaseTooNew` (the file is not touched);
- a path that cannot be used (a folder, no permission) -> :class:`StorageError`;
- a full disk while creating or migrating -> :class:`StorageFull`.

A damaged file (not a database, truncated, failing ``PRAGMA quick_check``) is never
emptied or deleted: it is renamed, with its ``-wal``/``-shm`` files, to
``<name>.corrupt-<UTC time>``, a fresh database is created, and ``Database.warning``
says where the old one was kept. Before any migration of a database that holds data,
a copy is written with SQLite's backup API to ``<name>.bak-v<old version>``.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import NoReturn

from app.store.errors import DatabaseCorrupt, DatabaseTooNew, StorageError, is_corruption, translate
from app.store.migrations import MIGRATIONS, Migration
from app.store.timestamps import Clock, format_ts, utc_now

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
HISTORY_FILE = "hearth.db"
"""The history database's name in the data directory (``Paths.data_dir / HISTORY_FILE``)."""
SIDE_SUFFIXES = ("-wal", "-shm")
SQLITE_HEADER = b"SQLite format 3\x00"


class Database:
    """One SQLite connection, safe to share between threads.

    Every call is serialised by a lock: one ``Database`` may be used from the GUI thread
    and from worker threads, but only one statement runs at a time. Other processes
    (the ``hearth`` CLI while the GUI runs) open their own ``Database`` on the same file;
    WAL lets them read while this one writes, and each sees the other's committed writes.

    Use :meth:`read` for queries and :meth:`transaction` for writes; both translate
    SQLite errors into :mod:`app.store.errors` types.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        path: Path,
        *,
        schema_version: int,
        warning: str = "",
    ) -> None:
        self._conn = connection
        self._lock = threading.RLock()
        self._depth = 0
        self._closed = False
        self.path = path
        self.schema_version = schema_version
        self.warning = warning
        """Empty, unless something was recovered at open (a sentence to show the user)."""

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, for queries (autocommit: each statement is atomic)."""
        with self._lock:
            conn = self._connection()
            try:
                yield conn
            except sqlite3.Error as error:
                self._raise(error)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``), committed on success, else rolled back.

        Nested use joins the outer transaction.
        """
        with self._lock:
            conn = self._connection()
            if self._depth:
                self._depth += 1
                try:
                    yield conn
                finally:
                    self._depth -= 1
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                self._raise(error)
            self._depth = 1
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as error:
                _rollback(conn)
                if isinstance(error, sqlite3.Error):
                    self._raise(error)
                raise
            finally:
                self._depth = 0

    def vacuum(self) -> None:
        """Rebuild the file (drops freed pages) and empty the WAL file."""
        with self.read() as conn:
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def side_files(self) -> list[Path]:
        """Backups (``.bak-v*``) and damaged copies (``.corrupt-*``) kept next to the file."""
        folder = self.path.parent
        found = [
            *folder.glob(f"{_glob_escape(self.path.name)}.bak-v*"),
            *folder.glob(f"{_glob_escape(self.path.name)}.corrupt-*"),
        ]
        return sorted(found)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                try:
                    self._conn.execute("PRAGMA optimize")  # refresh planner statistics
                except sqlite3.Error:
                    log.debug("PRAGMA optimize failed", exc_info=True)
                self._conn.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StorageError("The chat history is closed.", "Restart Hearth.", self.path)
        return self._conn

    def _raise(self, error: sqlite3.Error) -> NoReturn:
        mapped = translate(error, self.path)
        if mapped is error:
            raise error
        raise mapped from error


def open_database(
    path: Path,
    *,
    migrations: Sequence[Migration] = MIGRATIONS,
    quick_check: bool = True,
    recover: bool = True,
    clock: Clock = utc_now,
) -> Database:
    """Open (creating, migrating or recovering as needed) the history database at ``path``.

    ``migrations`` is for tests (a shorter tuple simulates an older version).
    ``quick_check`` runs ``PRAGMA quick_check`` (reads the whole file).
    ``recover=False`` raises :class:`DatabaseCorrupt` for a damaged file instead of setting
    it aside (for a second process, such as the CLI, that should not move the GUI's file).
    """
    path = Path(path)
    _check_location(path)
    if not fts5_available():
        raise StorageError(
            "This Python's SQLite library has no full-text search (FTS5).",
            "Install Hearth from its official package, which includes it.",
            path,
        )
    try:
        conn = _open(path, migrations, quick_check, clock)
        return Database(conn, path, schema_version=len(migrations))
    except _Unusable as bad:
        if not recover:
            raise DatabaseCorrupt(path, bad.reason) from bad
        kept = _set_aside(path)
        log.warning("history database %s set aside as %s: %s", path, kept, bad.reason)
        try:
            conn = _open(path, migrations, False, clock)
        except _Unusable as again:  # a fresh file should never be unusable
            raise StorageError(
                f"A new chat history could not be started at {path} ({again.reason}).",
                "Check the disk and the folder's permissions.",
                path,
            ) from again
        warning = (
            f"The chat history could not be read ({bad.reason}), so it was kept as {kept} "
            "and a new, empty history was started."
        )
        return Database(conn, path, schema_version=len(migrations), warning=warning)


@functools.cache
def fts5_available() -> bool:
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE probe USING fts5(body)")
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()
    return True


class _Unusable(Exception):
    """The file is not a usable history database; set it aside and start fresh."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _check_location(path: Path) -> None:
    try:
        if path.is_dir():
            raise StorageError(
                f"The chat history cannot be opened: {path} is a folder, not a database file.",
                "Move the folder aside or choose another data folder.",
                path,
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as handle:
                handle.read(100)
    except OSError as error:
        reason = error.strerror or str(error)
        raise StorageError(
            f"The chat history cannot be opened: {path} ({reason}).",
            "Check that the folder exists and its permissions let you read and write it.",
            path,
        ) from error


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(
            path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # autocommit; transactions are explicit
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except sqlite3.Error as error:
        mapped = translate(error, path)
        raise mapped from error
    return conn


def _open(
    path: Path, migrations: Sequence[Migration], quick_check: bool, clock: Clock
) -> sqlite3.Connection:
    # Inspect read-only first: a damaged or newer file must not be modified at all (a
    # read-write connection would checkpoint its WAL into it, or drop a stray WAL file).
    if _size(path) > 0:
        _inspect(path, migrations, quick_check)
    conn = _connect(path)
    try:
        version, applied = _check_state(conn, path, migrations)
        _configure(conn)
        pending = [migration for migration in migrations if migration[0] not in applied]
        if pending and (version or applied):
            _backup(conn, path, max(version, len(applied)), clock)
        for index, migration in enumerate(migrations, start=1):
            if migration[0] not in applied:
                _apply(conn, migration, index, clock)
    except BaseException as error:
        conn.close()
        _reraise(error, path)
    return conn


def _inspect(path: Path, migrations: Sequence[Migration], quick_check: bool) -> None:
    with path.open("rb") as handle:
        if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise _Unusable("file is not a database")
    wal = path.with_name(path.name + "-wal")
    had_wal = wal.exists()
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as error:
        _reraise(error, path)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if quick_check:
            rows = conn.execute("PRAGMA quick_check(1)").fetchall()
            if rows != [("ok",)]:
                raise _Unusable(f"integrity check failed: {rows[0][0] if rows else 'no answer'}")
        _check_state(conn, path, migrations)
    except DatabaseTooNew:
        conn.close()
        if not had_wal and _size(wal) == 0:
            _tidy(path)
        raise
    except BaseException as error:
        conn.close()
        _reraise(error, path)
    conn.close()


def _tidy(path: Path) -> None:
    """Let SQLite remove the empty -wal/-shm files a read-only look left behind.

    The last connection to close removes them under an exclusive lock (never while
    another process uses them); with an empty WAL nothing is written to the database.
    """
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=0.1)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        log.debug("could not tidy %s after inspection", path, exc_info=True)


def _check_state(
    conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration]
) -> tuple[int, list[str]]:
    version, applied, foreign = _read_state(conn)
    known = [name for name, _ in migrations]
    unknown = [name for name in applied if name not in known]
    if version > len(known) or unknown:
        raise DatabaseTooNew(path, max(version, len(applied)), len(known))
    if foreign:
        raise _Unusable("it is not a Hearth history database")
    return version, applied


def _reraise(error: BaseException, path: Path) -> NoReturn:
    if isinstance(error, sqlite3.Error):
        if is_corruption(error):
            raise _Unusable(str(error)) from error
        mapped = translate(error, path)
        if mapped is not error:
            raise mapped from error
    raise error


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_state(conn: sqlite3.Connection) -> tuple[int, list[str], bool]:
    """``(user_version, applied migration names, has tables that are not ours)``."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    tables = {
        str(row[0])
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if "schema_migrations" not in tables:
        return version, [], bool(tables) and version == 0
    applied = [str(row[0]) for row in conn.execute("SELECT name FROM schema_migrations")]
    return version, applied, False


def _configure(conn: sqlite3.Connection) -> None:
    mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
    if mode != "wal":
        log.warning("history database: WAL is not available here (journal_mode=%s)", mode)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    # Overwrite deleted text in place (no extra I/O), so deleted chats do not linger.
    conn.execute("PRAGMA secure_delete = FAST")


def _backup(conn: sqlite3.Connection, path: Path, old_version: int, clock: Clock) -> Path:
    target = path.with_name(f"{path.name}.bak-v{old_version}")
    if target.exists():  # keep the first backup of that version; it may be the only good one
        stamp = clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = _unused(path.with_name(f"{path.name}.bak-v{old_version}-{stamp}"))
    log.info("backing up %s to %s before migrating", path, target)
    copy = sqlite3.connect(target)
    try:
        conn.backup(copy)
    except BaseException:
        copy.close()
        target.unlink(missing_ok=True)  # our own partial copy, not user data
        raise
    copy.close()
    return target


def _apply(conn: sqlite3.Connection, migration: Migration, index: int, clock: Clock) -> None:
    name, sql = migration
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = conn.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,)).fetchone()
        if done is None:  # another process may have applied it since we looked
            log.info("applying migration %s", name)
            for statement in split_statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                (name, format_ts(clock())),
            )
            conn.execute(f"PRAGMA user_version = {int(index)}")
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def split_statements(script: str) -> list[str]:
    """The SQL statements of ``script`` (trigger bodies with ``;`` stay whole)."""
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if _has_code(pending):
                statements.append(pending.strip())
            pending = ""
    if _has_code(pending.rstrip(";")):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {pending!r}")
    return statements


def _has_code(sql: str) -> bool:
    lines = (line.split("--", 1)[0] for line in sql.splitlines())
    return any(line.strip(" \t;") for line in lines)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("rollback failed")


def _set_aside(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = _unused(path.with_name(f"{path.name}.corrupt-{stamp}"))
    try:
        os.rename(path, kept)
        for suffix in SIDE_SUFFIXES:
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.rename(side, kept.with_name(kept.name + suffix))
    except OSError as error:
        raise StorageError(
            f"The chat history at {path} is damaged and could not be moved aside "
            f"({error.strerror or error}).",
            f"Move {path} away yourself, then start Hearth again.",
            path,
        ) from error
    return kept


def _unused(candidate: Path) -> Path:
    number = 1
    base = candidate
    while any(base.with_name(base.name + suffix).exists() for suffix in ("", *SIDE_SUFFIXES)):
        number += 1
        base = candidate.with_name(f"{candidate.name}-{number}")
    return base


def _glob_escape(name: str) -> str:
    return "".join(f"[{char}]" if char in "*?[" else char for char in name)
