"""Retrieval quality (recall@5, BM25 alone and fused) and the grounded prompt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.options import ChatMessage
from app.docs.grounding import (
    INSTRUCTIONS,
    NOTHING_FOUND,
    NoRoomForPassages,
    cited_numbers,
    ground,
    passage_budget_chars,
    passage_label,
)
from app.docs.indexer import Indexer
from app.docs.retrieval import Retriever, fts_query, question_terms, reciprocal_rank_fusion
from app.store.database import open_database
from app.store.documents import Collection, DocumentStore
from tests.fakes.corpus import QUESTIONS, ConceptEmbedder, Question, write_corpus


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> Iterator[tuple[DocumentStore, Collection, ConceptEmbedder]]:
    root = tmp_path_factory.mktemp("corpus")
    folder = write_corpus(root / "docs")
    database = open_database(root / "hearth.db")
    store = DocumentStore(database)
    embedder = ConceptEmbedder()
    collection = store.create_collection("company", folder=str(folder))
    report = Indexer(store, embedder).index_folder(collection)
    assert not report.problems and report.added == 36
    yield store, store.collection(collection.id), embedder
    database.close()


def recall_at_5(retriever: Retriever, collection: Collection, questions, mode) -> float:
    found = 0
    for question in questions:
        hits = retriever.search([collection], question.text, limit=5, mode=mode)
        found += any(_answers(hit.passage, question) for hit in hits)
    return found / len(questions)


def _answers(passage, question: Question) -> bool:
    return Path(passage.path).name == question.file and (
        question.page is None or passage.page == question.page
    )


def test_recall_at_5_bm25_alone_and_fused(indexed):
    store, collection, embedder = indexed
    keyword = [q for q in QUESTIONS if q.kind == "keyword"]
    paraphrase = [q for q in QUESTIONS if q.kind == "paraphrase"]
    bm25 = Retriever(store)
    fused = Retriever(store, embedder)
    figures = {
        "bm25 keyword": recall_at_5(bm25, collection, keyword, "bm25"),
        "bm25 all": recall_at_5(bm25, collection, QUESTIONS, "bm25"),
        "fused keyword": recall_at_5(fused, collection, keyword, "auto"),
        "fused all": recall_at_5(fused, collection, QUESTIONS, "auto"),
    }
    print("recall@5:", {k: round(v, 2) for k, v in figures.items()})
    assert figures["bm25 keyword"] >= 0.9
    assert figures["fused keyword"] >= figures["bm25 keyword"]
    assert figures["bm25 all"] < 0.85  # paraphrases defeat word matching...
    assert figures["fused all"] >= 0.95  # ...and the vectors bring them back
    assert recall_at_5(bm25, collection, paraphrase, "bm25") < 0.5


def test_the_pdf_answer_comes_with_its_page(indexed):
    store, collection, _ = indexed
    [hit, *_] = Retriever(store).search([collection], "Why did shipping costs fall?")
    assert Path(hit.passage.path).name == "annual-report.pdf" and hit.passage.page == 2
    assert hit.bm25_rank == 1 and hit.vector_rank is None


def test_fused_hits_carry_both_ranks(indexed):
    store, collection, embedder = indexed
    [hit, *_] = Retriever(store, embedder).search([collection], "Where is staff parking?")
    assert hit.passage.heading == "Employee handbook > Parking"
    assert hit.bm25_rank is not None and hit.vector_rank is not None


def test_a_question_about_nothing_in_the_documents_finds_nothing(indexed):
    store, collection, embedder = indexed
    for retriever in (Retriever(store), Retriever(store, embedder)):
        assert retriever.search([collection], "xylophone quasar zeppelin?") == []


def test_fts_syntax_in_a_question_is_only_words():
    assert fts_query('What is "NEAR(a b)" - OR * price?') == '"near" OR "price"'
    assert question_terms("What is it?") == ["what", "is", "it"]  # all stop words: keep them
    assert fts_query("???") == ""


def test_reciprocal_rank_fusion_rewards_agreement():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 4, 1]], k=60)
    assert [item for item, _ in fused] == [1, 3, 2, 4]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 63)


def test_small_collections_go_into_the_prompt_whole(tmp_path: Path):
    database = open_database(tmp_path / "hearth.db")
    store = DocumentStore(database)
    folder = tmp_path / "small"
    folder.mkdir()
    (folder / "a.md").write_text("# Parking\n\nLevel -2.\n\n# Lunch\n\nNoon to two.", "utf-8")
    collection = store.create_collection("small", folder=str(folder))
    Indexer(store).index_folder(collection)
    grounding = ground(
        store, Retriever(store), [collection], "When is lunch?", context_length=4096, max_tokens=256
    )
    assert grounding.whole
    assert [p.text for p in grounding.passages] == ["Level -2.", "Noon to two."]
    system, user = grounding.messages
    assert system == ChatMessage("system", INSTRUCTIONS)
    assert user.content.startswith(
        "Passages:\n\n[1] (a.md, Parking)\nLevel -2.\n\n[2] (a.md, Lunch)"
    )
    assert user.content.endswith(
        "Question: When is lunch?\n\nAnswer with the passage number in brackets, like [1]."
    )
    database.close()


def test_large_collections_send_the_best_passages_within_the_budget(indexed):
    store, collection, _ = indexed
    history = (ChatMessage("user", "Hello"), ChatMessage("assistant", "Hi! " * 200))
    grounding = ground(
        store,
        Retriever(store),
        [collection],
        "By how much did revenue grow?",
        context_length=2048,
        max_tokens=512,
        history=history,
        system="Be brief.",
    )
    assert not grounding.whole
    assert Path(grounding.passages[0].path).name == "annual-report.pdf"
    budget = passage_budget_chars(2048, 512, history, "By how much did revenue grow?Be brief.")
    assert sum(len(p.text) for p in grounding.passages) <= budget
    system, *middle, _question = grounding.messages
    assert system.content.startswith("Be brief.\n\n") and tuple(middle) == history
    prompt_chars = sum(len(m.content) for m in grounding.messages)
    assert prompt_chars / 3 + 512 < 2048  # fits, even at 3 characters a token
    with pytest.raises(NoRoomForPassages) as caught:
        ground(
            store, Retriever(store), [collection], "revenue?", context_length=600, max_tokens=512
        )
    assert "longer context" in caught.value.user_text()


def test_nothing_found_tells_the_model_to_say_so(indexed):
    store, collection, _ = indexed
    grounding = ground(
        store, Retriever(store), [collection], "xylophone?", context_length=4096, max_tokens=256
    )
    assert grounding.passages == ()
    assert grounding.messages[-1].content == f"{NOTHING_FOUND}\n\nQuestion: xylophone?"


def test_citations_and_labels():
    assert cited_numbers("Yes [2]. Also [1][2] and [9] and [x].", 3) == [2, 1]
    assert passage_label("/a/b/report.pdf", 3, "Costs") == "report.pdf, page 3, Costs"
    assert passage_label("notes.md", None, "") == "notes.md"


def test_a_small_collection_is_searched_even_when_a_big_one_matches_better(tmp_path: Path):
    database = open_database(tmp_path / "hearth.db")
    store = DocumentStore(database)
    big, small = tmp_path / "big", tmp_path / "small"
    big.mkdir()
    small.mkdir()
    for n in range(60):
        (big / f"{n}.md").write_text(f"# Zebra {n}\n\nZebra zebra zebra stripes.", "utf-8")
    (small / "one.md").write_text("A long note that mentions a zebra only once, in passing.")
    collections = []
    for folder in (big, small):
        collection = store.create_collection(folder.name, folder=str(folder))
        Indexer(store).index_folder(collection)
        collections.append(collection)
    [hit] = Retriever(store).search([collections[1]], "zebra", limit=5)
    assert Path(hit.passage.path).name == "one.md"
    assert len(Retriever(store).search(collections, "zebra", limit=5)) == 5
    database.close()
