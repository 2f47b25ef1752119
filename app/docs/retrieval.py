"""Find the passages that answer a question: BM25 (FTS5), vectors, and their fusion.

- BM25: the question's words (stop words dropped) joined with OR, ranked by SQLite
  FTS5's ``bm25()`` with section headings weighted twice the body text.
- Vectors: when the collection was indexed with an embedding model and the same model
  is available, the cosine similarity of the question's vector to every passage's.
- Fusion: reciprocal rank fusion (``sum 1 / (k + rank)`` over the two rankings, k = 60),
  which needs no score calibration between the two.

Nothing relevant: BM25 finds no passage sharing a word with the question, and no
passage's vector is at least ``min_similarity`` close. Then the result is empty and the
prompt tells the model to say the documents do not answer the question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from app.docs.embedding import Embedder, from_blobs, to_blob
from app.store.documents import Collection, DocumentStore, Passage

Mode = Literal["auto", "bm25", "vector"]

RRF_K = 60
CANDIDATES = 50
MAX_TERMS = 24
MIN_SIMILARITY = 0.35

_WORD = re.compile(r"\w+", re.UNICODE)
STOP_WORDS = frozenset(
    _WORD.findall(
        """
        a an and are as at be been but by can could did do does for from had has have how i
        if in into is it its me my of on or our so than that the their them then there these
        they this those to was we were what when where which who whom why will with would
        you your about after all also any before between both each few more most other over
        same some such only own very just should now out up down off again further once here
        because while please tell explain describe give show say says said find list
        document documents
        """
    )
)


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float
    """Fused score (higher is better)."""
    bm25_rank: int | None = None
    """1-based rank in the BM25 list, if the passage was in it."""
    vector_rank: int | None = None


def question_terms(question: str) -> list[str]:
    """The words to search for: lower-cased, stop words out (unless nothing else is left)."""
    words = [w.lower() for w in _WORD.findall(question)]
    words = [w for w in words if len(w) > 1 or w.isdigit()]
    kept = [w for w in words if w not in STOP_WORDS] or words
    return list(dict.fromkeys(kept))[:MAX_TERMS]


def fts_query(question: str) -> str:
    """An FTS5 query matching any of the question's terms (each quoted: no syntax leaks)."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in question_terms(question))


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int = RRF_K
) -> list[tuple[int, float]]:
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


class Retriever:
    def __init__(
        self,
        store: DocumentStore,
        embedder: Embedder | None = None,
        *,
        candidates: int = CANDIDATES,
        min_similarity: float = MIN_SIMILARITY,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.candidates = candidates
        self.min_similarity = min_similarity

    def vectors_usable(self, collections: Sequence[Collection]) -> bool:
        embedder = self.embedder
        return embedder is not None and any(
            c.embedding_model == embedder.model_id for c in collections
        )

    def search(
        self,
        collections: Sequence[Collection],
        question: str,
        limit: int = 5,
        mode: Mode = "auto",
    ) -> list[Hit]:
        ids = [c.id for c in collections]
        bm25: list[int] = []
        if mode in ("auto", "bm25"):
            match = fts_query(question)
            bm25 = [chunk for chunk, _ in self.store.search_bm25(ids, match, self.candidates)]
        vector: list[int] = []
        if mode in ("auto", "vector") and self.vectors_usable(collections):
            usable = [
                c.id
                for c in collections
                if self.embedder is not None and c.embedding_model == self.embedder.model_id
            ]
            vector = self._vector_search(usable, question, bool(bm25))
        fused = reciprocal_rank_fusion([r for r in (bm25, vector) if r])[:limit]
        passages = {p.chunk_id: p for p in self.store.passages([i for i, _ in fused])}
        bm25_rank = {chunk: rank for rank, chunk in enumerate(bm25, start=1)}
        vector_rank = {chunk: rank for rank, chunk in enumerate(vector, start=1)}
        return [
            Hit(passages[i], score, bm25_rank.get(i), vector_rank.get(i))
            for i, score in fused
            if i in passages
        ]

    def _vector_search(
        self, collection_ids: list[int], question: str, have_bm25: bool
    ) -> list[int]:
        assert self.embedder is not None
        rows = self.store.embeddings(collection_ids)
        if not rows:
            return []
        query = np.frombuffer(to_blob(self.embedder.embed([question])[0]), dtype="<f4")
        matrix = from_blobs([blob for _, blob in rows])
        if matrix.shape[1] != query.shape[0]:
            return []
        similarity = matrix @ query
        order = np.argsort(-similarity)[: self.candidates]
        if not have_bm25 and (len(order) == 0 or similarity[order[0]] < self.min_similarity):
            return []
        return [rows[int(i)][0] for i in order]
