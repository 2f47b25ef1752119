"""Chat history: conversations and their tree of messages.

Messages form a tree through ``parent_id``. Siblings (same parent) are alternatives: a
regenerated reply, or an edited user message. A conversation shows one path, from a
root to ``current_leaf_id``; :meth:`HistoryStore.thread` returns it, and each message on
it carries ``sibling_index``/``sibling_count`` so the UI can show "2/3" and page.

Write order for one turn (a kill -9 loses at most the last flush):

1. :meth:`HistoryStore.add_user_message` before generation starts;
2. :meth:`HistoryStore.start_reply` when it starts (an empty assistant row, streaming);
3. :meth:`HistoryStore.update_reply` about once a second while tokens arrive;
4. :meth:`HistoryStore.finish_reply` with the finish reason and the stats.

At startup, :meth:`HistoryStore.recover_interrupted` marks replies left streaming by a
process that died as ``interrupted``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, Literal, get_args

from app.core.options import Role
from app.store.database import Database
from app.store.errors import NotFound
from app.store.timestamps import Clock, format_ts, parse_ts, utc_now

StoredFinishReason = Literal["stop", "length", "cancelled", "error", "crashed", "interrupted"]
"""``None`` in a row means: not finished (a reply still streaming, or any user message)."""

FINISH_REASONS: frozenset[str] = frozenset(get_args(StoredFinishReason))
DEFAULT_TITLE = "New chat"
TITLE_LENGTH = 60
PREVIEW_LENGTH = 80
MAX_SEARCH_TERMS = 16


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    system_prompt: str
    model_ref: str | None
    """The model id or path last used in this conversation."""
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    current_leaf_id: int | None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    updated_at: datetime
    message_count: int
    """Messages in every branch."""
    preview: str
    """The start of the last visible message (or of its parent, while a reply is empty)."""
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    parent_id: int | None
    role: Role
    content: str
    created_at: datetime
    updated_at: datetime
    finish_reason: StoredFinishReason | None
    error: str | None = None
    model_name: str | None = None
    model_path: str | None = None
    model_size: int | None = None
    model_fingerprint: str | None = None
    quantization: str | None = None
    sampling_json: str | None = None
    seed: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: float | None = None
    tokens_per_s: float | None = None
    sibling_index: int = 0
    """0-based position among its alternatives (siblings, ordered by creation)."""
    sibling_count: int = 1

    @property
    def streaming(self) -> bool:
        """An assistant reply that has not finished (or whose writer died: see recovery)."""
        return self.role == "assistant" and self.finish_reason is None

    @property
    def sibling_label(self) -> str:
        """``"2/3"``; empty when the message has no alternatives."""
        if self.sibling_count <= 1:
            return ""
        return f"{self.sibling_index + 1}/{self.sibling_count}"


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    message_id: int | None
    """``None`` when the conversation's title matched."""
    title: str
    snippet: str
    """Matching text with the matches between the chosen markers (plain text, not HTML)."""


_MESSAGE_FIELDS = tuple(field.name for field in fields(Message))
_MESSAGE_COLUMNS = (
    "m.id, m.conversation_id, m.parent_id, m.role, m.content, m.created_at, m.updated_at, "
    "m.finish_reason, m.error, m.model_name, m.model_path, m.model_size, "
    "m.model_fingerprint, m.quantization, m.sampling_json, m.seed, m.prompt_tokens, "
    "m.completion_tokens, m.ttft_ms, m.tokens_per_s"
)
_SIBLINGS = (
    "(SELECT COUNT(*) FROM messages s WHERE s.conversation_id = m.conversation_id "
    "AND s.parent_id IS m.parent_id AND s.id < m.id), "
    "(SELECT COUNT(*) FROM messages s WHERE s.conversation_id = m.conversation_id "
    "AND s.parent_id IS m.parent_id)"
)
_CONVERSATION_COLUMNS = (
    "id, title, system_prompt, model_ref, created_at, updated_at, deleted_at, current_leaf_id"
)

# The path from the current leaf up to the root, with sibling positions. Sibling counts come
# from one grouped scan of the conversation; only messages with alternatives count their
# earlier siblings. Rows carry their depth (0 = the start); _path() sorts them root first.
_PATH_SQL = f"""
WITH RECURSIVE path(id, depth) AS (
    SELECT {{start}}
    UNION ALL
    SELECT m.parent_id, path.depth + 1 FROM path JOIN messages m ON m.id = path.id
        WHERE m.parent_id IS NOT NULL
),
alternatives(parent_id, n) AS (
    SELECT parent_id, count(*) FROM messages WHERE conversation_id = :conversation
        GROUP BY parent_id HAVING count(*) > 1
)
SELECT path.depth, {_MESSAGE_COLUMNS},
    CASE WHEN a.n IS NULL THEN 0 ELSE (
        SELECT count(*) FROM messages s WHERE s.conversation_id = m.conversation_id
            AND s.parent_id IS m.parent_id AND s.id < m.id
    ) END,
    coalesce(a.n, 1)
FROM path
    JOIN messages m ON m.id = path.id
    LEFT JOIN alternatives a ON a.parent_id IS m.parent_id
"""
_FROM_LEAF = _PATH_SQL.format(
    start="current_leaf_id, 0 FROM conversations "
    "WHERE id = :conversation AND current_leaf_id IS NOT NULL"
)
_FROM_MESSAGE = _PATH_SQL.format(
    start="id, 0 FROM messages WHERE id = :message AND conversation_id = :conversation"
)

# Ranks first (cheap), snippets only for the hits returned. A title hit is dropped when
# messages of the same conversation match too (an automatic title repeats its first message).
_SEARCH_SQL = """
SELECT message_id, conversation_id, title FROM (
    SELECT m.id AS message_id, m.conversation_id AS conversation_id, c.title AS title,
           bm25(messages_fts) AS rank
    FROM messages_fts
        JOIN messages m ON m.id = messages_fts.rowid
        JOIN conversations c ON c.id = m.conversation_id
    WHERE messages_fts MATCH :query AND c.deleted_at IS NULL
    UNION ALL
    SELECT NULL, c.id, c.title, bm25(conversations_fts)
    FROM conversations_fts JOIN conversations c ON c.id = conversations_fts.rowid
    WHERE conversations_fts MATCH :query AND c.deleted_at IS NULL
        AND c.id NOT IN (
            SELECT m.conversation_id FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
            WHERE messages_fts MATCH :query
        )
)
ORDER BY rank, conversation_id DESC, message_id
LIMIT :limit
"""
_SNIPPET_SQL = (
    "SELECT snippet({table}, 0, :start, :end, '…', 12) FROM {table} "
    "WHERE {table} MATCH :query AND rowid = :id"
)


class HistoryStore:
    """Conversations and messages. Thread-safe: every call goes through ``Database``'s lock.

    Raises :class:`~app.store.errors.NotFound` for unknown ids, and the storage errors of
    :mod:`app.store.errors` (``StorageFull``, ``StorageBusy``, ...) when SQLite fails.
    """

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self.db = db
        self._clock = clock

    # -- conversations ----------------------------------------------------------------

    def create_conversation(
        self, title: str = DEFAULT_TITLE, system_prompt: str = "", model_ref: str | None = None
    ) -> Conversation:
        now = self._now()
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO conversations "
                "(title, system_prompt, model_ref, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (title, system_prompt, model_ref, now, now),
            )
            new_id = _lastrowid(cursor.lastrowid)
        return self.get_conversation(new_id)

    def get_conversation(self, conversation_id: int) -> Conversation:
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?",
                (conversation_id,),
            ).fetchone()
        if row is None:
            raise NotFound("conversation", conversation_id)
        return Conversation(
            id=row[0],
            title=row[1],
            system_prompt=row[2],
            model_ref=row[3],
            created_at=parse_ts(row[4]),
            updated_at=parse_ts(row[5]),
            deleted_at=None if row[6] is None else parse_ts(row[6]),
            current_leaf_id=row[7],
        )

    def list_conversations(
        self, limit: int = 200, offset: int = 0, include_deleted: bool = False
    ) -> list[ConversationSummary]:
        """Most recently updated first."""
        with self.db.read() as conn:
            rows = conn.execute(
                """
                SELECT c.id, c.title, c.updated_at, c.deleted_at,
                    (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id),
                    (SELECT coalesce(nullif(substr(m.content, 1, 400), ''),
                                     substr(p.content, 1, 400))
                        FROM messages m LEFT JOIN messages p ON p.id = m.parent_id
                        WHERE m.id = c.current_leaf_id)
                FROM conversations c
                WHERE :all OR c.deleted_at IS NULL
                ORDER BY c.updated_at DESC, c.id DESC
                LIMIT :limit OFFSET :offset
                """,
                {"all": include_deleted, "limit": limit, "offset": offset},
            ).fetchall()
        return [
            ConversationSummary(
                id=row[0],
                title=row[1],
                updated_at=parse_ts(row[2]),
                deleted_at=None if row[3] is None else parse_ts(row[3]),
                message_count=row[4],
                preview=_one_line(row[5] or "", PREVIEW_LENGTH),
            )
            for row in rows
        ]

    def rename(self, conversation_id: int, title: str) -> None:
        self._update_conversation(conversation_id, "title", title)

    def set_system_prompt(self, conversation_id: int, text: str) -> None:
        self._update_conversation(conversation_id, "system_prompt", text)

    def set_model_ref(self, conversation_id: int, ref: str | None) -> None:
        self._update_conversation(conversation_id, "model_ref", ref)

    def delete_conversation(self, conversation_id: int) -> None:
        """Soft delete: hidden from the list and from search until restored or purged."""
        with self.db.transaction() as conn:
            self._require_conversation(conn, conversation_id)
            conn.execute(
                "UPDATE conversations SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                (self._now(), conversation_id),
            )

    def restore_conversation(self, conversation_id: int) -> None:
        """Undo :meth:`delete_conversation`."""
        with self.db.transaction() as conn:
            self._require_conversation(conn, conversation_id)
            conn.execute(
                "UPDATE conversations SET deleted_at = NULL WHERE id = ?", (conversation_id,)
            )

    def purge_deleted(self, older_than: timedelta | None = None) -> int:
        """Hard-delete soft-deleted conversations (all, or those deleted ``older_than`` ago).

        Returns how many conversations were removed.
        """
        cutoff = None if older_than is None else format_ts(self._clock() - older_than)
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM conversations WHERE deleted_at IS NOT NULL "
                "AND (:cutoff IS NULL OR deleted_at <= :cutoff)",
                {"cutoff": cutoff},
            )
            return cursor.rowcount

    def delete_all(self) -> int:
        """Privacy: hard-delete every conversation, then VACUUM. Returns how many.

        Backups and damaged copies kept next to the file (``Database.side_files()``) are
        not touched; offer to remove them separately.
        """
        with self.db.transaction() as conn:
            count = int(conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0])
            conn.execute("DELETE FROM messages")
            conn.execute("DELETE FROM conversations")
            conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('delete-all')")
            conn.execute("INSERT INTO conversations_fts(conversations_fts) VALUES ('delete-all')")
        self.db.vacuum()
        return count

    # -- messages ---------------------------------------------------------------------

    def add_user_message(
        self, conversation_id: int, content: str, parent_id: int | None
    ) -> Message:
        """Write the user's message (before generation) and make it the current leaf.

        ``parent_id`` is the message it answers (``None`` for the first one). Giving the
        parent of an existing user message creates an edited alternative; the old branch
        is kept. The first user message names a conversation still called "New chat".
        """
        now = self._now()
        with self.db.transaction() as conn:
            title = self._require_conversation(conn, conversation_id)
            if parent_id is not None:
                self._require_message(conn, parent_id, conversation_id)
            new_title: str | None = None
            if title == DEFAULT_TITLE:
                earlier = conn.execute(
                    "SELECT 1 FROM messages WHERE conversation_id = ? AND role = 'user' LIMIT 1",
                    (conversation_id,),
                ).fetchone()
                new_title = None if earlier else (title_from(content) or None)
            cursor = conn.execute(
                "INSERT INTO messages "
                "(conversation_id, parent_id, role, content, created_at, updated_at) "
                "VALUES (?, ?, 'user', ?, ?, ?)",
                (conversation_id, parent_id, content, now, now),
            )
            message_id = _lastrowid(cursor.lastrowid)
            conn.execute(
                "UPDATE conversations SET current_leaf_id = ?, updated_at = ?, "
                "title = coalesce(?, title) WHERE id = ?",
                (message_id, now, new_title, conversation_id),
            )
            return self._message(conn, message_id)

    def start_reply(
        self,
        conversation_id: int,
        parent_id: int | None,
        *,
        model_name: str | None = None,
        model_path: str | None = None,
        model_size: int | None = None,
        model_fingerprint: str | None = None,
        quantization: str | None = None,
        sampling_json: str | None = None,
        seed: int | None = None,
    ) -> Message:
        """An empty assistant reply (``finish_reason`` None = streaming), now the current leaf.

        Starting a reply under a message that already has one is a regeneration: the
        replies become alternatives.
        """
        now = self._now()
        with self.db.transaction() as conn:
            self._require_conversation(conn, conversation_id)
            if parent_id is not None:
                self._require_message(conn, parent_id, conversation_id)
            cursor = conn.execute(
                "INSERT INTO messages (conversation_id, parent_id, role, content, created_at, "
                "updated_at, model_name, model_path, model_size, model_fingerprint, "
                "quantization, sampling_json, seed) "
                "VALUES (?, ?, 'assistant', '', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    parent_id,
                    now,
                    now,
                    model_name,
                    model_path,
                    model_size,
                    model_fingerprint,
                    quantization,
                    sampling_json,
                    seed,
                ),
            )
            message_id = _lastrowid(cursor.lastrowid)
            conn.execute(
                "UPDATE conversations SET current_leaf_id = ?, updated_at = ? WHERE id = ?",
                (message_id, now, conversation_id),
            )
            return self._message(conn, message_id)

    def update_reply(self, message_id: int, content: str) -> bool:
        """The periodic flush while streaming: one UPDATE.

        Returns False (and changes nothing) when the reply has already finished, so a
        late flush cannot overwrite the final text.
        """
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE messages SET content = ?, updated_at = ? "
                "WHERE id = ? AND role = 'assistant' AND finish_reason IS NULL",
                (content, self._now(), message_id),
            )
            return cursor.rowcount > 0

    def finish_reply(
        self,
        message_id: int,
        content: str,
        finish_reason: StoredFinishReason,
        *,
        error: str | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        ttft_ms: float | None = None,
        tokens_per_s: float | None = None,
        seed: int | None = None,
    ) -> Message:
        """Final text, finish reason and stats. ``seed`` (the one actually used) if known."""
        if finish_reason not in FINISH_REASONS:
            raise ValueError(f"unknown finish reason {finish_reason!r}")
        now = self._now()
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE messages SET content = ?, finish_reason = ?, error = ?, "
                "prompt_tokens = ?, completion_tokens = ?, ttft_ms = ?, tokens_per_s = ?, "
                "seed = coalesce(?, seed), updated_at = ? WHERE id = ? AND role = 'assistant'",
                (
                    content,
                    finish_reason,
                    error,
                    prompt_tokens,
                    completion_tokens,
                    ttft_ms,
                    tokens_per_s,
                    seed,
                    now,
                    message_id,
                ),
            )
            if cursor.rowcount == 0:
                raise NotFound("reply", message_id)
            conn.execute(
                "UPDATE conversations SET updated_at = ? "
                "WHERE id = (SELECT conversation_id FROM messages WHERE id = ?)",
                (now, message_id),
            )
            return self._message(conn, message_id)

    def get_message(self, message_id: int) -> Message:
        with self.db.read() as conn:
            return self._message(conn, message_id)

    def thread(self, conversation_id: int) -> list[Message]:
        """The visible path, root first, ending at the conversation's current leaf."""
        with self.db.read() as conn:
            rows = conn.execute(_FROM_LEAF, {"conversation": conversation_id}).fetchall()
            if not rows:
                self._require_conversation(conn, conversation_id)
        return _path(rows)

    def thread_to(self, conversation_id: int, message_id: int) -> list[Message]:
        """The path from the root to ``message_id`` (included), whichever branch is shown.

        The context for a reply under ``message_id`` (regenerate, or answer an edit).
        """
        params = {"conversation": conversation_id, "message": message_id}
        with self.db.read() as conn:
            rows = conn.execute(_FROM_MESSAGE, params).fetchall()
        if not rows:
            raise NotFound("message", message_id)
        return _path(rows)

    def select_message(self, message_id: int) -> int:
        """Show the branch through ``message_id``; returns the new current leaf id.

        The leaf is the most recently created message below it (itself if none), i.e.
        where the user last was in that branch. Also reveals a search hit.
        """
        with self.db.transaction() as conn:
            conversation_id = self._message_owner(conn, message_id)
            row = conn.execute(
                """
                WITH RECURSIVE below(id) AS (
                    SELECT :id
                    UNION ALL
                    SELECT m.id FROM messages m JOIN below ON m.parent_id = below.id
                )
                SELECT max(id) FROM below
                """,
                {"id": message_id},
            ).fetchone()
            leaf = int(row[0])
            conn.execute(
                "UPDATE conversations SET current_leaf_id = ? WHERE id = ?",
                (leaf, conversation_id),
            )
            return leaf

    def switch_alternative(self, message_id: int, direction: int) -> int:
        """Show the sibling ``direction`` steps away (-1 previous, +1 next; clamped).

        Returns the new current leaf id (see :meth:`select_message`).
        """
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT conversation_id, parent_id FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:
                raise NotFound("message", message_id)
            siblings = [
                int(sibling[0])
                for sibling in conn.execute(
                    "SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS ? "
                    "ORDER BY id",
                    (row[0], row[1]),
                )
            ]
            position = siblings.index(message_id) + direction
            target = siblings[max(0, min(len(siblings) - 1, position))]
            return self.select_message(target)

    def recover_interrupted(self) -> int:
        """Mark replies left streaming by a process that died as ``interrupted``.

        Call once at GUI startup, before any reply starts. Not from the CLI while the GUI
        may be running: it would cut the GUI's live reply. Returns how many were marked.
        """
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE messages SET finish_reason = 'interrupted', updated_at = ? "
                "WHERE role = 'assistant' AND finish_reason IS NULL",
                (self._now(),),
            )
            return cursor.rowcount

    # -- search -----------------------------------------------------------------------

    def search(
        self, query: str, limit: int = 50, *, mark_start: str = "[", mark_end: str = "]"
    ) -> list[SearchHit]:
        """Full-text search over message text and titles, best first (bm25).

        Any user text is safe: each word becomes a quoted prefix term, all must match.
        Deleted conversations are skipped; hits in hidden branches are included (use
        :meth:`select_message` to show one). A title hit (``message_id`` None) is listed
        only when no message of that conversation matches.
        """
        match = fts_query(query)
        if not match:
            return []
        hits = []
        with self.db.read() as conn:
            rows = conn.execute(_SEARCH_SQL, {"query": match, "limit": limit}).fetchall()
            for message_id, conversation_id, title in rows:
                table = "conversations_fts" if message_id is None else "messages_fts"
                snippet = conn.execute(
                    _SNIPPET_SQL.format(table=table),
                    {
                        "start": mark_start,
                        "end": mark_end,
                        "query": match,
                        "id": conversation_id if message_id is None else message_id,
                    },
                ).fetchone()
                hits.append(
                    SearchHit(
                        conversation_id=conversation_id,
                        message_id=message_id,
                        title=title,
                        snippet=snippet[0] if snippet else "",
                    )
                )
        return hits

    # -- helpers ----------------------------------------------------------------------

    def _now(self) -> str:
        return format_ts(self._clock())

    def _update_conversation(self, conversation_id: int, column: str, value: str | None) -> None:
        assert column in ("title", "system_prompt", "model_ref")
        with self.db.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE conversations SET {column} = ? WHERE id = ?", (value, conversation_id)
            )
            if cursor.rowcount == 0:
                raise NotFound("conversation", conversation_id)

    @staticmethod
    def _require_conversation(conn: sqlite3.Connection, conversation_id: int) -> str:
        row = conn.execute(
            "SELECT title FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if row is None:
            raise NotFound("conversation", conversation_id)
        return str(row[0])

    @staticmethod
    def _require_message(conn: sqlite3.Connection, message_id: int, conversation_id: int) -> None:
        row = conn.execute(
            "SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?",
            (message_id, conversation_id),
        ).fetchone()
        if row is None:
            raise NotFound("message", message_id)

    @staticmethod
    def _message_owner(conn: sqlite3.Connection, message_id: int) -> int:
        row = conn.execute(
            "SELECT conversation_id FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        if row is None:
            raise NotFound("message", message_id)
        return int(row[0])

    @staticmethod
    def _message(conn: sqlite3.Connection, message_id: int) -> Message:
        row = conn.execute(
            f"SELECT {_MESSAGE_COLUMNS}, {_SIBLINGS} FROM messages m WHERE m.id = ?",
            (message_id,),
        ).fetchone()
        if row is None:
            raise NotFound("message", message_id)
        return _to_message(row)


def fts_query(text: str) -> str:
    """User text as an FTS5 query: every word a quoted prefix term, all required.

    Operators, quotes and brackets lose their meaning (``c++ "unterminated`` and
    ``AND OR`` are searched as words). Empty when nothing searchable remains.
    """
    terms = []
    for word in text.split():
        if not re.search(r"\w", word):
            continue
        terms.append('"' + word.replace('"', '""') + '"*')
        if len(terms) == MAX_SEARCH_TERMS:
            break
    return " ".join(terms)


def title_from(content: str) -> str:
    """A conversation title from a first message: its first non-empty line, shortened."""
    for line in content.splitlines():
        if line.strip():
            return _one_line(line, TITLE_LENGTH)
    return ""


def _one_line(text: str, length: int) -> str:
    flat = " ".join(text.split())
    if len(flat) <= length:
        return flat
    cut = flat[: length - 1]
    if " " in cut[length // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


def _path(rows: list[Any]) -> list[Message]:
    rows.sort(key=itemgetter(0), reverse=True)  # by depth: root first
    return [_to_message(row[1:]) for row in rows]


def _to_message(row: Sequence[Any]) -> Message:
    """A Message from a row whose columns are in field order (_MESSAGE_COLUMNS, _SIBLINGS).

    Built without ``__init__``: a frozen dataclass's ``__init__`` sets each of the 22
    fields through ``object.__setattr__``, which made ``thread()`` of 2,000 messages
    about 1.5x slower. The result is an ordinary, still frozen, Message.
    """
    message = object.__new__(Message)
    values = message.__dict__
    values.update(zip(_MESSAGE_FIELDS, row, strict=True))
    values["created_at"] = created = parse_ts(row[5])
    values["updated_at"] = created if row[6] == row[5] else parse_ts(row[6])
    return message


def _lastrowid(value: int | None) -> int:
    if value is None:  # pragma: no cover - sqlite always sets it after an INSERT
        raise RuntimeError("INSERT returned no row id")
    return value
