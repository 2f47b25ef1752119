"""Vectors from the engine's embedding job: stored at indexing, used to search."""

from __future__ import annotations

import functools
from pathlib import Path

from app.core.options import LoadOptions
from app.docs.embedding import EngineEmbedder
from app.docs.indexer import Indexer
from app.docs.retrieval import Retriever
from app.engine.client import EngineClient
from app.engine.protocol import EmbeddingsReady
from app.engine.thread_transport import ThreadTransport
from app.store.database import open_database
from app.store.documents import DocumentStore
from tests.fakes.backend import EMBEDDING_SIZE, Script, ScriptedBackend


def test_engine_vectors_are_stored_and_fused_with_words(tmp_path: Path):
    engine = EngineClient(lambda: ThreadTransport(functools.partial(ScriptedBackend, Script())))
    seen: list[EmbeddingsReady] = []
    engine.add_listener(lambda e: seen.append(e) if isinstance(e, EmbeddingsReady) else None)
    database = open_database(tmp_path / "hearth.db")
    try:
        assert engine.load(LoadOptions("/models/embed.gguf")).wait(10).ok
        embedder = EngineEmbedder(engine, "embed-model")
        store = DocumentStore(database)
        folder = tmp_path / "docs"
        folder.mkdir()
        for n in range(40):  # more than one batch of 32
            (folder / f"{n:02d}.md").write_text(f"# Note {n}\n\nTopic number {n}.", "utf-8")
        (folder / "cars.md").write_text("# Parking\n\nCars park in the garage.", "utf-8")
        collection = store.create_collection("docs", folder=str(folder))
        report = Indexer(store, embedder).index_folder(collection)
        assert report.added == 41 and len(seen) == 41  # one embedding job per file
        stored = store.embeddings([collection.id])
        assert len(stored) == 41 and all(len(blob) == EMBEDDING_SIZE * 4 for _, blob in stored)
        collection = store.collection(collection.id)
        assert collection.embedding_model == "embed-model"

        hits = Retriever(store, embedder).search([collection], "garage cars", limit=3)
        assert Path(hits[0].passage.path).name == "cars.md"
        assert hits[0].bm25_rank == 1 and hits[0].vector_rank is not None
        assert len(seen) == 42  # the question's vector came from the engine too

        other = EngineEmbedder(engine, "another-model")
        words_only = Retriever(store, other).search([collection], "garage cars", limit=3)
        assert words_only[0].vector_rank is None and len(seen) == 42  # not compared
    finally:
        database.close()
        engine.shutdown()
