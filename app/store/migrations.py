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

_DOCUMENTS = """
-- Collections of documents: a folder the user indexed, or the files attached to one
-- conversation (conversation_id set; such a collection has no folder).
CREATE TABLE doc_collections (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    folder TEXT,
    conversation_id INTEGER REFERENCES conversations(id) ON DELETE CASCADE,
    embedding_model TEXT,
    created_at TEXT NOT NULL,
    indexed_at TEXT
);
CREATE INDEX doc_collections_conversation ON doc_collections(conversation_id);

-- One row per file seen; error is the reason a file could not be read (no chunks then).
CREATE TABLE doc_files (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES doc_collections(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    pages INTEGER,
    error TEXT,
    note TEXT NOT NULL DEFAULT '',
    indexed_at TEXT NOT NULL,
    UNIQUE (collection_id, path)
);

CREATE TABLE doc_chunks (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES doc_files(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    page INTEGER,
    heading TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    embedding BLOB
);
CREATE INDEX doc_chunks_file ON doc_chunks(file_id, ordinal);

CREATE VIRTUAL TABLE doc_chunks_fts USING fts5(
    heading, text, content='doc_chunks', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER doc_chunks_fts_insert AFTER INSERT ON doc_chunks BEGIN
    INSERT INTO doc_chunks_fts(rowid, heading, text) VALUES (new.id, new.heading, new.text);
END;
CREATE TRIGGER doc_chunks_fts_delete AFTER DELETE ON doc_chunks BEGIN
    INSERT INTO doc_chunks_fts(doc_chunks_fts, rowid, heading, text)
        VALUES ('delete', old.id, old.heading, old.text);
END;
CREATE TRIGGER doc_chunks_fts_update AFTER UPDATE OF heading, text ON doc_chunks BEGIN
    INSERT INTO doc_chunks_fts(doc_chunks_fts, rowid, heading, text)
        VALUES ('delete', old.id, old.heading, old.text);
    INSERT INTO doc_chunks_fts(rowid, heading, text) VALUES (new.id, new.heading, new.text);
END;

-- The collections a conversation answers from.
CREATE TABLE conversation_collections (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    collection_id INTEGER NOT NULL REFERENCES doc_collections(id) ON DELETE CASCADE,
    PRIMARY KEY (conversation_id, collection_id)
);

-- The passages given to the model for one answer, numbered as cited ([1], [2], ...).
-- A copy of the text: the answer keeps its sources when the file changes or goes.
CREATE TABLE message_sources (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    chunk_id INTEGER REFERENCES doc_chunks(id) ON DELETE SET NULL,
    path TEXT NOT NULL,
    page INTEGER,
    heading TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    PRIMARY KEY (message_id, number)
);
"""

MIGRATIONS: tuple[Migration, ...] = (
    ("0001_initial", _INITIAL),
    ("0002_documents", _DOCUMENTS),
)
"""Every migration this version knows, in order. Append only."""
