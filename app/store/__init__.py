"""SQLite storage: connection, migrations, repositories (the only place with SQL).

- :func:`open_database` / :class:`Database`: the connection (WAL, migrations, backups,
  recovery of a damaged file). One ``Database`` may be shared between threads.
- :class:`HistoryStore`: conversations and their tree of messages, search.
- :mod:`app.store.export`: Markdown and JSON exports of a conversation.
- :mod:`app.store.errors`: the typed errors (all ``HearthError``).
"""

from app.store.database import Database, open_database
from app.store.errors import (
    DatabaseCorrupt,
    DatabaseTooNew,
    NotFound,
    StorageBusy,
    StorageError,
    StorageFull,
)
from app.store.history import (
    Conversation,
    ConversationSummary,
    HistoryStore,
    Message,
    SearchHit,
    StoredFinishReason,
)

__all__ = [
    "Conversation",
    "ConversationSummary",
    "Database",
    "DatabaseCorrupt",
    "DatabaseTooNew",
    "HistoryStore",
    "Message",
    "NotFound",
    "SearchHit",
    "StorageBusy",
    "StorageError",
    "StorageFull",
    "StoredFinishReason",
    "open_database",
]
