"""Named, append-only schema migrations.

Rules (they keep old databases upgradable and new ones refusable):

- Never edit or reorder an entry that has shipped; add a new one at the end.
- A migration is plain SQL without transaction statements: the runner wraps each one
  in its own transaction, records its name in ``schema_migrations`` and sets
  ``PRAGMA user_version`` to the number of applied migrations.
- Names sort in order ("0001_...", "0002_..."); ``user_version`` is their count.
"""

from __future__ import annotations

Migration = tuple[str, str]
"""``(name, sql)``."""

FINISH_REASONS = ("stop", "length", "cancelled", "error", "crashed", "interrupted")

_INITIAL = """
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL DEFAULT 'New chat',
    system_prompt TEXT NOT NULL DEFAULT '',
    model_ref TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT,
    current_leaf_id INTEGER
);
CREATE INDEX conversations_updated ON conversations(updated_at);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES messages(id),
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finish_reason TEXT CHECK (finish_reason IS NULL OR finish_reason IN
        ('stop', 'length', 'cancelled', 'error', 'crashed', 'interrupted')),
    error TEXT,
    model_name TEXT,
    model_path TEXT,
    model_size INTEGER,
    model_fingerprint TEXT,
    quantization TEXT,
    sampling_json TEXT,
    seed INTEGER,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    ttft_ms REAL,
    tokens_per_s REAL
);
-- (conversation_id, parent_id) also serves lookups by conversation_id alone.
CREATE INDEX messages_conversation ON messages(conversation_id, parent_id);
CREATE INDEX messages_parent ON messages(parent_id);
-- recover_interrupted() at startup: only rows still streaming.
CREATE INDEX messages_streaming ON messages(id)
    WHERE role = 'assistant' AND finish_reason IS NULL;

-- Full-text search, external content, kept in sync by triggers.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    content, content='messages', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2', prefix='2 3'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;

CREATE VIRTUAL TABLE conversations_fts USING fts5(
    title, content='conversations', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2', prefix='2 3'
);
CREATE TRIGGER conversations_fts_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title);
END;
CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN
    INSERT INTO conversations_fts(conversations_fts, rowid, title)
        VALUES ('delete', old.id, old.title);
END;
CREATE TRIGGER conversations_fts_update AFTER UPDATE OF title ON conversations BEGIN
    INSERT INTO conversations_fts(conversations_fts, rowid, title)
        VALUES ('delete', old.id, old.title);
    INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title);
END;
"""

MIGRATIONS: tuple[Migration, ...] = (("0001_initial", _INITIAL),)
"""Every migration this version knows, in order. Append only."""
