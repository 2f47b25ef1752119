"""Typed storage errors, and the one place where SQLite errors are mapped to them.

Every error here is a :class:`~app.core.errors.HearthError`: ``str(error)`` says what
happened, ``error.hint`` what to do, ``error.user_text()`` both.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.core.errors import HearthError

# Primary SQLite result codes (the low byte of an extended code).
SQLITE_PERM = 3
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26

CORRUPTION_CODES = frozenset({SQLITE_CORRUPT, SQLITE_NOTADB})


class StorageError(HearthError):
    """The chat history could not be read or written. ``path`` is the database file."""

    def __init__(self, message: str, hint: str = "", path: Path | None = None) -> None:
        super().__init__(message, hint)
        self.path = path


class StorageFull(StorageError):
    """The disk (or the database's size limit) is full; the failed write was rolled back."""

    def __init__(self, path: Path | None = None) -> None:
        where = f" ({path})" if path is not None else ""
        super().__init__(
            f"The disk is full: the chat history could not be saved{where}.",
            "Free some space; nothing already saved was lost.",
            path,
        )


class StorageBusy(StorageError):
    """Another connection held a lock for longer than the busy timeout."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__(
            f"The chat history is busy: another program kept it locked ({path}).",
            "Try again in a moment; close other copies of Hearth if this keeps happening.",
            path,
        )


class DatabaseCorrupt(StorageError):
    """Corruption found while the app was running (at open, it is set aside instead)."""

    def __init__(self, path: Path | None, reason: str) -> None:
        super().__init__(
            f"The chat history database is damaged ({reason}).",
            "Restart Hearth: it keeps the damaged file aside and starts a new history.",
            path,
        )
        self.reason = reason


class DatabaseTooNew(StorageError):
    """The database has migrations this version does not know. It was not modified."""

    def __init__(self, path: Path, schema: int, known: int) -> None:
        super().__init__(
            "This history database was written by a newer version of Hearth "
            f"(schema {schema}, this version knows {known}).",
            f"Update Hearth, or move {path} aside to start a new history.",
            path,
        )
        self.schema = schema
        self.known = known


class NotFound(HearthError):
    """A conversation or message id that does not exist (any more)."""

    def __init__(self, kind: str, item_id: int) -> None:
        super().__init__(
            f"{kind.capitalize()} {item_id} does not exist.",
            "It may have been deleted; refresh the list.",
        )
        self.kind = kind
        self.item_id = item_id


def is_corruption(error: sqlite3.Error) -> bool:
    return _primary_code(error) in CORRUPTION_CODES


def translate(error: sqlite3.Error, path: Path | None) -> Exception:
    """The typed error for an SQLite error, or ``error`` itself for programming errors.

    Constraint violations and misuse (IntegrityError, ProgrammingError, InterfaceError)
    are bugs, not conditions a user can act on, so they are returned unchanged.
    """
    if not isinstance(error, sqlite3.DatabaseError) or isinstance(
        error, sqlite3.IntegrityError | sqlite3.ProgrammingError
    ):
        return error
    code = _primary_code(error)
    text = str(error)
    if code == SQLITE_FULL or "database or disk is full" in text:
        return StorageFull(path)
    if code in CORRUPTION_CODES:
        return DatabaseCorrupt(path, text)
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return StorageBusy(path)
    if code == SQLITE_READONLY:
        return StorageError(
            f"The chat history cannot be written: {path} is read-only.",
            "Check the permissions of the file and of its folder.",
            path,
        )
    if code in (SQLITE_PERM, SQLITE_CANTOPEN):
        return StorageError(
            f"The chat history cannot be opened: {path} ({text}).",
            "Check that the folder exists and its permissions let you read and write it.",
            path,
        )
    return StorageError(
        f"The chat history could not be read or written ({text}).",
        f"Check the disk and the permissions of {path}.",
        path,
    )


def _primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF
