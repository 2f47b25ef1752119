"""Document collections, their files and passages, full-text search, and answer sources.

Lives in the history database, next to the chat history (migration ``0002_documents``).
A collection is either a folder the user indexed or the files attached to one
conversation (``conversation_id`` set). Each file row records what was indexed (size,
mtime, sha256) so a re-index reads only new or changed files, or why it could not be
read (``error``). Passages (``doc_chunks``) are indexed by FTS5 through triggers.

Thread-safe like :class:`~app.store.history.HistoryStore`: every call goes through
``Database``'s lock; one file's replacement is one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.store.database import Database
from app.store.errors import NotFound
from app.store.timestamps import Clock, format_ts, parse_ts, utc_now

ATTACHMENTS_PREFIX = "chat-"
"""Names of the collections that hold a conversation's attached files."""
NAME_LENGTH = 80


def collection_name_problem(name: str) -> str:
    """Why ``name`` cannot name a collection ("" when it can)."""
    if not name.strip():
        return "A collection needs a name."
    if len(name) > NAME_LENGTH:
        return f"A collection name has at most {NAME_LENGTH} characters."
    if name.startswith(ATTACHMENTS_PREFIX) and name[len(ATTACHMENTS_PREFIX) :].isdigit():
        return f"Names like '{name}' are kept for the files attached to conversations."
    return ""


@dataclass(frozen=True)
class Collection:
    id: int
    name: str
    folder: str | None
    conversation_id: int | None
    embedding_model: str | None
    created_at: datetime
    indexed_at: datetime | None

    @property
    def attachments(self) -> bool:
        return self.conversation_id is not None


@dataclass(frozen=True)
class CollectionSummary:
    collection: Collection
    files: int
    """Files indexed (readable)."""
    chunks: int
    problems: int
    """Files that could not be read."""


@dataclass(frozen=True)
class FileState:
    id: int
    path: str
    size: int
    mtime_ns: int
    sha256: str
    error: str | None


@dataclass(frozen=True)
class FileProblem:
    path: str
    reason: str


@dataclass(frozen=True)
class NewChunk:
    ordinal: int
    text: str
    heading: str
    page: int | None
    embedding: bytes | None = None


@dataclass(frozen=True)
class Passage:
    """A stored passage with where it comes from."""

    chunk_id: int
    collection_id: int
    path: str
    page: int | None
    heading: str
    text: str
    ordinal: int
    title: str = ""


@dataclass(frozen=True)
class Source:
    """A passage as it was given to the model for one answer (cited as ``[number]``)."""

    message_id: int
    number: int
    chunk_id: int | None
    path: str
    page: int | None
    heading: str
    text: str


_COLLECTION_COLUMNS = "id, name, folder, conversation_id, embedding_model, created_at, indexed_at"
_PASSAGE_COLUMNS = "c.id, f.collection_id, f.path, c.page, c.heading, c.text, c.ordinal, f.title"


class DocumentStore:
    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self.db = db
        self._clock = clock

    # -- collections ----------------------------------------------------------------------

    def create_collection(
        self, name: str, folder: str | None = None, conversation_id: int | None = None
    ) -> Collection:
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO doc_collections (name, folder, conversation_id, created_at) "
                "VALUES (?, ?, ?, ?)",
                (name, folder, conversation_id, format_ts(self._clock())),
            )
            new_id = int(cursor.lastrowid or 0)
        return self.collection(new_id)

    def collection(self, collection_id: int) -> Collection:
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {_COLLECTION_COLUMNS} FROM doc_collections WHERE id = ?",
                (collection_id,),
            ).fetchone()
        if row is None:
            raise NotFound("collection", collection_id)
        return _collection(row)

    def find_collection(self, name: str) -> Collection | None:
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {_COLLECTION_COLUMNS} FROM doc_collections WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else _collection(row)

    def list_collections(self, include_attachments: bool = False) -> list[CollectionSummary]:
        where = "" if include_attachments else "WHERE d.conversation_id IS NULL"
        with self.db.read() as conn:
            rows = conn.execute(
                f"""
                SELECT d.id, d.name, d.folder, d.conversation_id, d.embedding_model,
                    d.created_at, d.indexed_at,
                    (SELECT count(*) FROM doc_files f
                        WHERE f.collection_id = d.id AND f.error IS NULL),
                    (SELECT count(*) FROM doc_chunks c JOIN doc_files f ON f.id = c.file_id
                        WHERE f.collection_id = d.id),
                    (SELECT count(*) FROM doc_files f
                        WHERE f.collection_id = d.id AND f.error IS NOT NULL)
                FROM doc_collections d {where}
                ORDER BY d.name COLLATE NOCASE
                """
            ).fetchall()
        return [CollectionSummary(_collection(row[:7]), row[7], row[8], row[9]) for row in rows]

    def summary(self, collection_id: int) -> CollectionSummary:
        for item in self.list_collections(include_attachments=True):
            if item.collection.id == collection_id:
                return item
        raise NotFound("collection", collection_id)

    def remove_collection(self, collection_id: int) -> None:
        with self.db.transaction() as conn:
            cursor = conn.execute("DELETE FROM doc_collections WHERE id = ?", (collection_id,))
            if cursor.rowcount == 0:
                raise NotFound("collection", collection_id)

    def attachments(self, conversation_id: int) -> Collection:
        """The collection of files attached to a conversation (created on first use)."""
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {_COLLECTION_COLUMNS} FROM doc_collections WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()
        if row is not None:
            return _collection(row)
        return self.create_collection(
            f"{ATTACHMENTS_PREFIX}{conversation_id}", conversation_id=conversation_id
        )

    def mark_indexed(self, collection_id: int, embedding_model: str | None) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE doc_collections SET indexed_at = ?, embedding_model = ? WHERE id = ?",
                (format_ts(self._clock()), embedding_model, collection_id),
            )

    # -- files ----------------------------------------------------------------------------

    def file_states(self, collection_id: int) -> dict[str, FileState]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT id, path, size, mtime_ns, sha256, error FROM doc_files "
                "WHERE collection_id = ?",
                (collection_id,),
            ).fetchall()
        return {row[1]: FileState(*row) for row in rows}

    def replace_file(
        self,
        collection_id: int,
        path: str,
        *,
        size: int,
        mtime_ns: int,
        sha256: str,
        chunks: Sequence[NewChunk] = (),
        title: str = "",
        pages: int | None = None,
        note: str = "",
        error: str | None = None,
    ) -> int:
        """Store a file's passages (or the reason it cannot be read), replacing old ones."""
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM doc_files WHERE collection_id = ? AND path = ?",
                (collection_id, path),
            )
            cursor = conn.execute(
                "INSERT INTO doc_files (collection_id, path, size, mtime_ns, sha256, title, "
                "pages, error, note, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    collection_id,
                    path,
                    size,
                    mtime_ns,
                    sha256,
                    title,
                    pages,
                    error,
                    note,
                    format_ts(self._clock()),
                ),
            )
            file_id = int(cursor.lastrowid or 0)
            conn.executemany(
                "INSERT INTO doc_chunks (file_id, ordinal, page, heading, text, embedding) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(file_id, c.ordinal, c.page, c.heading, c.text, c.embedding) for c in chunks],
            )
        return file_id

    def touch_file(self, file_id: int, mtime_ns: int) -> None:
        """Same content, new modification time: remember it so the next scan skips it."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE doc_files SET mtime_ns = ? WHERE id = ?", (mtime_ns, file_id))

    def delete_files(self, collection_id: int, paths: Iterable[str]) -> int:
        with self.db.transaction() as conn:
            count = 0
            for path in paths:
                cursor = conn.execute(
                    "DELETE FROM doc_files WHERE collection_id = ? AND path = ?",
                    (collection_id, path),
                )
                count += cursor.rowcount
        return count

    def problems(self, collection_id: int) -> list[FileProblem]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT path, error FROM doc_files WHERE collection_id = ? AND error IS NOT NULL "
                "ORDER BY path",
                (collection_id,),
            ).fetchall()
        return [FileProblem(row[0], row[1]) for row in rows]

    def file_paths(self, collection_id: int) -> list[str]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT path FROM doc_files WHERE collection_id = ? AND error IS NULL "
                "ORDER BY path",
                (collection_id,),
            ).fetchall()
        return [row[0] for row in rows]

    # -- passages and search --------------------------------------------------------------

    def search_bm25(
        self, collection_ids: Sequence[int], match: str, limit: int
    ) -> list[tuple[int, float]]:
        """``(chunk id, bm25 rank)`` best first (lower is better) for an FTS5 ``match``.

        Ranks over the whole index first (no join per match: several times faster when
        a common word matches most passages), then keeps the chosen collections' hits;
        when other collections crowd them out, ranks again with the collection filter.
        """
        if not collection_ids or not match:
            return []
        wanted = set(collection_ids)
        with self.db.read() as conn:
            ranked = conn.execute(
                "SELECT rowid, bm25(doc_chunks_fts, 2.0, 1.0) AS rank FROM doc_chunks_fts "
                "WHERE doc_chunks_fts MATCH ? ORDER BY rank LIMIT ?",
                (match, limit * 4),
            ).fetchall()
            if not ranked:
                return []
            marks = ",".join("?" * len(ranked))
            owner = dict(
                conn.execute(
                    "SELECT c.id, f.collection_id FROM doc_chunks c "
                    f"JOIN doc_files f ON f.id = c.file_id WHERE c.id IN ({marks})",
                    tuple(row[0] for row in ranked),
                ).fetchall()
            )
            kept = [(int(r[0]), float(r[1])) for r in ranked if owner.get(r[0]) in wanted]
            if len(kept) >= limit or len(ranked) < limit * 4:
                return kept[:limit]
            marks = ",".join("?" * len(collection_ids))
            rows = conn.execute(
                f"""
                SELECT doc_chunks_fts.rowid, bm25(doc_chunks_fts, 2.0, 1.0) AS rank
                FROM doc_chunks_fts
                    JOIN doc_chunks c ON c.id = doc_chunks_fts.rowid
                    JOIN doc_files f ON f.id = c.file_id
                WHERE doc_chunks_fts MATCH ? AND f.collection_id IN ({marks})
                ORDER BY rank LIMIT ?
                """,
                (match, *collection_ids, limit),
            ).fetchall()
        return [(int(row[0]), float(row[1])) for row in rows]

    def search_like(
        self, collection_ids: Sequence[int], terms: Sequence[str], limit: int
    ) -> list[int]:
        """A naive scan (``LIKE`` on every passage): the baseline the benchmark compares."""
        if not collection_ids or not terms:
            return []
        marks = ",".join("?" * len(collection_ids))
        score = " + ".join("(c.text LIKE ?)" for _ in terms)
        with self.db.read() as conn:
            rows = conn.execute(
                f"""
                SELECT c.id, ({score}) AS hits FROM doc_chunks c
                    JOIN doc_files f ON f.id = c.file_id
                WHERE f.collection_id IN ({marks}) AND hits > 0
                ORDER BY hits DESC, c.id LIMIT ?
                """,
                (*[f"%{term}%" for term in terms], *collection_ids, limit),
            ).fetchall()
        return [int(row[0]) for row in rows]

    def embeddings(self, collection_ids: Sequence[int]) -> list[tuple[int, bytes]]:
        if not collection_ids:
            return []
        marks = ",".join("?" * len(collection_ids))
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT c.id, c.embedding FROM doc_chunks c JOIN doc_files f ON f.id = c.file_id "
                f"WHERE f.collection_id IN ({marks}) AND c.embedding IS NOT NULL",
                tuple(collection_ids),
            ).fetchall()
        return [(int(row[0]), bytes(row[1])) for row in rows]

    def passages(self, chunk_ids: Sequence[int]) -> list[Passage]:
        """The passages with these ids, in the order given (unknown ids are left out)."""
        if not chunk_ids:
            return []
        marks = ",".join("?" * len(chunk_ids))
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {_PASSAGE_COLUMNS} FROM doc_chunks c JOIN doc_files f ON f.id = c.file_id "
                f"WHERE c.id IN ({marks})",
                tuple(chunk_ids),
            ).fetchall()
        found = {row[0]: Passage(*row) for row in rows}
        return [found[i] for i in chunk_ids if i in found]

    def all_passages(self, collection_ids: Sequence[int], max_chars: int) -> list[Passage] | None:
        """Every passage in document order, or ``None`` if they hold over ``max_chars``."""
        if not collection_ids:
            return []
        marks = ",".join("?" * len(collection_ids))
        with self.db.read() as conn:
            total = conn.execute(
                f"SELECT coalesce(sum(length(c.text) + length(c.heading)), 0) FROM doc_chunks c "
                f"JOIN doc_files f ON f.id = c.file_id WHERE f.collection_id IN ({marks})",
                tuple(collection_ids),
            ).fetchone()[0]
            if total > max_chars:
                return None
            rows = conn.execute(
                f"SELECT {_PASSAGE_COLUMNS} FROM doc_chunks c JOIN doc_files f ON f.id = c.file_id "
                f"WHERE f.collection_id IN ({marks}) ORDER BY f.path, c.ordinal",
                tuple(collection_ids),
            ).fetchall()
        return [Passage(*row) for row in rows]

    def chunk_count(self, collection_ids: Sequence[int]) -> int:
        if not collection_ids:
            return 0
        marks = ",".join("?" * len(collection_ids))
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT count(*) FROM doc_chunks c JOIN doc_files f ON f.id = c.file_id "
                f"WHERE f.collection_id IN ({marks})",
                tuple(collection_ids),
            ).fetchone()
        return int(row[0])

    # -- conversations --------------------------------------------------------------------

    def conversation_collections(self, conversation_id: int) -> list[Collection]:
        """The collections chosen for a conversation, then its attachments (if any)."""
        with self.db.read() as conn:
            rows = conn.execute(
                f"""
                SELECT {_COLLECTION_COLUMNS} FROM doc_collections WHERE id IN (
                    SELECT collection_id FROM conversation_collections WHERE conversation_id = ?
                ) OR conversation_id = ?
                ORDER BY conversation_id IS NOT NULL, name COLLATE NOCASE
                """,
                (conversation_id, conversation_id),
            ).fetchall()
        return [_collection(row) for row in rows]

    def set_conversation_collections(
        self, conversation_id: int, collection_ids: Iterable[int]
    ) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM conversation_collections WHERE conversation_id = ?",
                (conversation_id,),
            )
            conn.executemany(
                "INSERT INTO conversation_collections (conversation_id, collection_id) "
                "VALUES (?, ?)",
                [(conversation_id, cid) for cid in dict.fromkeys(collection_ids)],
            )

    # -- sources of answers ---------------------------------------------------------------

    def save_sources(self, message_id: int, passages: Sequence[Passage]) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM message_sources WHERE message_id = ?", (message_id,))
            conn.executemany(
                "INSERT INTO message_sources (message_id, number, chunk_id, path, page, heading, "
                "text) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (message_id, n, p.chunk_id, p.path, p.page, p.heading, p.text)
                    for n, p in enumerate(passages, start=1)
                ],
            )

    def sources(self, message_id: int) -> list[Source]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT message_id, number, chunk_id, path, page, heading, text "
                "FROM message_sources WHERE message_id = ? ORDER BY number",
                (message_id,),
            ).fetchall()
        return [Source(*row) for row in rows]

    def sources_for(self, message_ids: Sequence[int]) -> dict[int, list[Source]]:
        """Sources of many messages at once (a thread being shown)."""
        found: dict[int, list[Source]] = {}
        ids = list(message_ids)
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            with self.db.read() as conn:
                rows = conn.execute(
                    "SELECT message_id, number, chunk_id, path, page, heading, text "
                    f"FROM message_sources WHERE message_id IN ({marks}) "
                    "ORDER BY message_id, number",
                    tuple(part),
                ).fetchall()
            for row in rows:
                found.setdefault(row[0], []).append(Source(*row))
        return found


def _collection(row: Sequence[Any]) -> Collection:
    return Collection(
        id=int(row[0]),
        name=str(row[1]),
        folder=None if row[2] is None else str(row[2]),
        conversation_id=None if row[3] is None else int(row[3]),
        embedding_model=None if row[4] is None else str(row[4]),
        created_at=parse_ts(str(row[5])),
        indexed_at=None if row[6] is None else parse_ts(str(row[6])),
    )
