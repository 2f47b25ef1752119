"""Index a folder (or a list of files) into a collection: incremental, cancellable.

A re-index reads only what changed: a file whose size and modification time match the
stored ones is skipped; one whose time changed but whose content hash did not is only
touched; files that are gone leave the index. Each file is written in its own
transaction, so a cancelled or interrupted run keeps everything finished before it,
and the next run goes on from there.

Files that cannot be read are stored with the reason and reported in
:attr:`IndexReport.problems`; they are tried again when they change.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.docs.chunking import chunk_blocks
from app.docs.embedding import Embedder, embed_all
from app.docs.extract import (
    MAX_FILE_BYTES,
    Extracted,
    UnreadableDocument,
    extract,
    is_supported,
)
from app.store.documents import Collection, DocumentStore, FileProblem, FileState, NewChunk

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexProgress:
    done: int
    total: int
    path: str
    """The file being read now (empty once finished)."""

    @property
    def fraction(self) -> float:
        return 1.0 if self.total == 0 else self.done / self.total


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    pages: int = 0
    skipped: int = 0
    """Files of a type Hearth does not read (not counted as problems)."""
    cancelled: bool = False
    seconds: float = 0.0
    problems: list[FileProblem] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.added} added", f"{self.updated} updated", f"{self.removed} removed"]
        parts.append(f"{self.unchanged} unchanged")
        if self.problems:
            parts.append(f"{len(self.problems)} could not be read")
        text = ", ".join(parts)
        return f"Cancelled: {text}" if self.cancelled else text


class Cancelled(Exception):
    pass


ProgressCallback = Callable[[IndexProgress], None]


class Indexer:
    def __init__(
        self,
        store: DocumentStore,
        embedder: Embedder | None = None,
        *,
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.max_file_bytes = max_file_bytes

    def index_folder(
        self,
        collection: Collection,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        """Bring ``collection`` in line with its folder."""
        if collection.folder is None:
            raise ValueError("this collection has no folder")
        folder = Path(collection.folder)
        if not folder.is_dir():
            from app.core.errors import HearthError

            raise HearthError(
                f"The folder {folder} of collection '{collection.name}' cannot be found.",
                "Check that it exists (and that its drive is connected), or remove the collection.",
            )
        files, skipped = scan_folder(folder)
        report = self._index(collection, files, progress, cancel, remove_missing=True)
        report.skipped = skipped
        return report

    def add_files(
        self,
        collection: Collection,
        paths: Sequence[Path],
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        """Index these files into ``collection`` (attachments); other files stay."""
        files = [Path(p).resolve() for p in paths]
        return self._index(collection, files, progress, cancel, remove_missing=False)

    def _index(
        self,
        collection: Collection,
        files: Sequence[Path],
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        *,
        remove_missing: bool,
    ) -> IndexReport:
        started = time.perf_counter()
        report = IndexReport()
        known = self.store.file_states(collection.id)
        embedder = self.embedder
        model = embedder.model_id if embedder is not None else None
        # Vectors of another model (or none) cannot be compared: read everything again.
        stale = collection.embedding_model != model
        if remove_missing:
            present = {str(path) for path in files}
            gone = [path for path in known if path not in present]
            report.removed = self.store.delete_files(collection.id, gone)
        total = len(files)
        for done, path in enumerate(files):
            if cancel is not None and cancel.is_set():
                report.cancelled = True
                break
            if progress is not None:
                progress(IndexProgress(done, total, str(path)))
            self._index_file(collection, path, known.get(str(path)), report, stale)
        if not report.cancelled:
            self.store.mark_indexed(collection.id, model)
        report.problems = self.store.problems(collection.id)
        report.seconds = time.perf_counter() - started
        if progress is not None:
            progress(IndexProgress(total if not report.cancelled else done, total, ""))
        return report

    def _index_file(
        self,
        collection: Collection,
        path: Path,
        state: FileState | None,
        report: IndexReport,
        stale: bool = False,
    ) -> None:
        key = str(path)
        try:
            stat = path.stat()
        except OSError as error:
            self.store.replace_file(
                collection.id,
                key,
                size=0,
                mtime_ns=0,
                sha256="",
                error=f"cannot open: {error.strerror or error}",
            )
            return
        same_stat = state is not None and (state.size, state.mtime_ns) == (
            stat.st_size,
            stat.st_mtime_ns,
        )
        if same_stat and not stale:
            report.unchanged += 1
            return
        try:
            digest = file_sha256(path, self.max_file_bytes)
        except OSError as error:
            digest = ""
            log.info("cannot hash %s: %s", path, error)
        if (
            state is not None
            and not stale
            and digest
            and state.sha256 == digest
            and state.error is None
        ):
            self.store.touch_file(state.id, stat.st_mtime_ns)
            report.unchanged += 1
            return

        def write(
            chunks: list[NewChunk] | None = None,
            extracted: Extracted | None = None,
            error: str | None = None,
        ) -> None:
            self.store.replace_file(
                collection.id,
                key,
                size=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
                sha256=digest,
                chunks=chunks or (),
                title=extracted.title if extracted else "",
                pages=extracted.pages if extracted else None,
                note=extracted.note if extracted else "",
                error=error,
            )
            if state is None:
                report.added += 1
            else:
                report.updated += 1

        try:
            extracted = extract(path, self.max_file_bytes)
            chunks = chunk_blocks(extracted.blocks)
            blobs: list[bytes | None] = [None] * len(chunks)
            if self.embedder is not None and chunks:
                texts = [_embed_text(c.heading, c.text) for c in chunks]
                blobs = list(embed_all(self.embedder, texts))
        except UnreadableDocument as error:
            write(error=error.reason)
            return
        write(
            [
                NewChunk(c.ordinal, c.text, c.heading, c.page, blob)
                for c, blob in zip(chunks, blobs, strict=True)
            ],
            extracted,
        )
        report.chunks += len(chunks)
        report.pages += extracted.pages or 0


def _embed_text(heading: str, text: str) -> str:
    return f"{heading}\n{text}" if heading else text


def scan_folder(folder: Path) -> tuple[list[Path], int]:
    """``(supported files, count of others)`` under ``folder``, sorted; hidden ones left out."""
    found: list[Path] = []
    skipped = 0
    for root, dirs, names in os.walk(folder, onerror=lambda error: log.info("scan: %s", error)):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith((".", "~$")):
                continue
            path = Path(root, name)
            if is_supported(path):
                found.append(path.resolve())
            else:
                skipped += 1
    return found, skipped


def file_sha256(path: Path, limit: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        read = 0
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            read += len(chunk)
            if read > limit:
                break  # too large to index anyway; the prefix tells changes apart well enough
    return digest.hexdigest()
