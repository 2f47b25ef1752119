"""Documents benchmark: indexing 1,000 pages, and BM25 query latency against a LIKE scan.

The corpus is written by the benchmark: 10 PDF files of 100 pages each (about 2,400
characters of business prose per page, the text of a typical page), made with the same
hand-written PDF writer the tests use. Measured in one run, on one machine:

- **indexing**: ``Indexer.index_folder`` on the folder (PDF text extraction with pypdf,
  chunking, SQLite inserts with the FTS5 triggers), as pages per second; then a second
  run over the unchanged folder (the incremental re-index: nothing is read again);
- **BM25 query latency**: ``Retriever.search(..., mode="bm25", limit=5)`` (the FTS5 query
  and the five passages with their files) for 300 questions of 2 to 6 words from the
  corpus's vocabulary, p50 and p95 (target: p95 < 50 ms);
- **baseline**: a naive scan, ``DocumentStore.search_like`` (``LIKE '%word%'`` on every
  passage, ranked by the number of words found), on the same questions;
- **retrieval quality**: recall@5 on the question set of ``tests/fakes/corpus.py``
  (company documents in every format among meeting-minute distractors), BM25 alone and
  fused with a deterministic concept embedder (a stand-in: no embedding model ships);
  with ``--starter-vectors``, also with the starter model's own vectors through the
  engine's embedding job (a chat model, not an embedding model).

    python bench/docs.py                # full run
    python bench/docs.py --quick        # 200 pages, 100 questions
    python bench/docs.py --write-docs   # also rewrite the results in docs/benchmarks.md
    python bench/docs.py --starter-vectors  # add recall with the starter's vectors (slow)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/docs.py` from a checkout without install
    sys.path.insert(0, str(ROOT))

from app.docs.indexer import Indexer  # noqa: E402
from app.docs.retrieval import Mode, Retriever, question_terms  # noqa: E402
from app.store.database import open_database  # noqa: E402
from app.store.documents import Collection, DocumentStore  # noqa: E402
from tests.fakes.corpus import QUESTIONS, ConceptEmbedder, write_corpus  # noqa: E402
from tests.fakes.documents import write_pdf  # noqa: E402

DOCS_PATH = ROOT / "docs" / "benchmarks.md"
RESULTS_START = "<!-- bench:docs:results:start -->"
RESULTS_END = "<!-- bench:docs:results:end -->"

VOCABULARY = re.findall(
    r"\w+",
    """
    revenue costs budget supplier contract invoice delivery schedule warehouse freight
    customer discount licence training laptop password holiday parking travel hotel
    meeting board growth region office manager quality audit risk insurance payroll
    pension overtime recruitment onboarding compliance security backup network printer
    canteen cleaning maintenance energy heating forecast quarter margin pricing tender
""",
)
FILLER = re.findall(
    r"\w+",
    """
    the of and to in for on with as by at from that this which is are was were be will
    team project plan report review week month year staff service product market sales
    process system policy update status decision action agreed next steps follow
""",
)


def page_lines(rng: random.Random, chars: int = 2400) -> list[str]:
    """A page of prose: sentences mixing common words and topic words, 90 chars a line."""
    text = []
    size = 0
    while size < chars:
        words = [
            rng.choice(VOCABULARY) if rng.random() < 0.25 else rng.choice(FILLER)
            for _ in range(rng.randint(8, 20))
        ]
        sentence = " ".join(words).capitalize() + "."
        text.append(sentence)
        size += len(sentence) + 1
    lines: list[str] = []
    line = ""
    for word in " ".join(text).split():
        if len(line) + len(word) + 1 > 90:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return lines


def write_pages(folder: Path, pages: int, per_file: int = 100, seed: int = 11) -> int:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    chars = 0
    for number in range(0, pages, per_file):
        count = min(per_file, pages - number)
        content = [page_lines(rng) for _ in range(count)]
        chars += sum(len(line) for page in content for line in page)
        write_pdf(folder / f"volume-{number // per_file + 1:02d}.pdf", content)
    return chars


def questions(count: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    asked = []
    for _ in range(count):
        words = rng.sample(VOCABULARY, rng.randint(1, 3)) + rng.sample(FILLER, rng.randint(1, 3))
        rng.shuffle(words)
        asked.append("What about " + " ".join(words) + "?")
    return asked


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed(calls: int, call) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for index in range(calls):
        started = time.perf_counter()
        call(index)
        out.append((time.perf_counter() - started) * 1000)
    return out


def recall(collection: Collection, retriever: Retriever, mode: Mode) -> float:
    found = 0
    for question in QUESTIONS:
        hits = retriever.search([collection], question.text, limit=5, mode=mode)
        found += any(
            Path(h.passage.path).name == question.file
            and (question.page is None or h.passage.page == question.page)
            for h in hits
        )
    return found / len(QUESTIONS)


def starter_recall(folder: Path, root: Path) -> tuple[float, float, float]:
    """Recall@5 with the starter model's own vectors (not an embedding model): BM25,
    fused, and vectors alone."""
    from app.cli.common import open_model
    from app.docs.embedding import EngineEmbedder
    from app.main import build_services

    os.environ.setdefault("HEARTH_HOME", str(root / "home"))  # never the user's folders
    opened = open_model(build_services(), None)
    try:
        loaded = opened.client.load(opened.options).wait(300)
        assert loaded.ok, loaded.error
        embedder = EngineEmbedder(opened.client, opened.id)
        database = open_database(root / "starter.db")
        store = DocumentStore(database)
        collection = store.create_collection("company", folder=str(folder))
        Indexer(store, embedder).index_folder(collection)
        collection = store.collection(collection.id)
        figures = (
            recall(collection, Retriever(store), "bm25"),
            recall(collection, Retriever(store, embedder), "auto"),
            recall(collection, Retriever(store, embedder, min_similarity=-1.0), "vector"),
        )
        database.close()
        return figures
    finally:
        opened.client.shutdown()


def run(pages: int, queries: int, starter: bool = False) -> str:
    with tempfile.TemporaryDirectory(prefix="hearth-bench-docs-") as tmp:
        root = Path(tmp)
        chars = write_pages(root / "pages", pages)
        database = open_database(root / "hearth.db")
        store = DocumentStore(database)
        collection = store.create_collection("bench", folder=str(root / "pages"))
        report = Indexer(store).index_folder(collection)
        assert report.pages == pages and not report.problems, report
        again = Indexer(store).index_folder(store.collection(collection.id))
        chunks = store.summary(collection.id).chunks

        asked = questions(queries)
        retriever = Retriever(store)
        terms = [question_terms(q) for q in asked]
        for q in asked[:20]:  # warm the page cache for both sides alike
            retriever.search([collection], q, limit=5, mode="bm25")
            store.search_like([collection.id], question_terms(q), 5)
        bm25 = timed(queries, lambda i: retriever.search([collection], asked[i], 5, mode="bm25"))
        like = timed(queries, lambda i: store.search_like([collection.id], terms[i], 5))
        database.close()

        corpus = write_corpus(root / "company")
        quality_db = open_database(root / "quality.db")
        quality = DocumentStore(quality_db)
        company = quality.create_collection("company", folder=str(corpus))
        embedder = ConceptEmbedder()
        Indexer(quality, embedder).index_folder(company)
        company = quality.collection(company.id)
        recall_bm25 = recall(company, Retriever(quality), "bm25")
        recall_fused = recall(company, Retriever(quality, embedder), "auto")
        quality_db.close()
        with_starter = starter_recall(corpus, root) if starter else None

    p50, p95 = percentile(bm25, 0.5), percentile(bm25, 0.95)
    l50, l95 = percentile(like, 0.5), percentile(like, 0.95)
    verdict = "met" if p95 < 50 else "MISSED"
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sqlite = __import__("sqlite3").sqlite_version
    rows = [
        (
            "Indexing, pages/s (extract + chunk + FTS5)",
            f"{pages / report.seconds:.0f} ({report.seconds:.1f} s)",
            "",
            "",
        ),
        (
            "Re-index of the unchanged folder",
            f"{again.seconds * 1000:.0f} ms ({again.unchanged} files unchanged)",
            "",
            "",
        ),
        ("BM25 query latency p50", f"{p50:.2f} ms", f"{l50:.2f} ms", f"{l50 / p50:.1f}x faster"),
        (
            f"BM25 query latency p95 (target < 50 ms: {verdict})",
            f"{p95:.2f} ms",
            f"{l95:.2f} ms",
            f"{l95 / p95:.1f}x faster",
        ),
        (
            f"Recall@5 ({len(QUESTIONS)} questions)",
            f"BM25 {recall_bm25:.2f}, fused {recall_fused:.2f}",
            "",
            "",
        ),
    ]
    if with_starter is not None:
        rows.append(
            (
                "Recall@5 with the starter model's vectors",
                "BM25 {:.2f}, fused {:.2f}, vectors alone {:.2f}".format(*with_starter),
                "",
                "",
            )
        )
    table = "\n".join(f"| {' | '.join(row)} |" for row in rows)
    return (
        f"Run {when} on {platform.machine()} with {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, SQLite {sqlite}: {pages} PDF pages "
        f"({chars / 1e6:.1f} M characters) in {max(1, pages // 100)} files, {chunks} passages; "
        f"{queries} questions.\n\n"
        "| Metric | Hearth | Baseline (LIKE scan) | Ratio |\n|---|---|---|---|\n"
        f"{table}\n"
    )


def write_docs(report: str, path: Path = DOCS_PATH) -> None:
    section = f"{RESULTS_START}\n{report.rstrip()}\n{RESULTS_END}"
    text = path.read_text(encoding="utf-8")
    start, end = text.find(RESULTS_START), text.find(RESULTS_END)
    if start == -1 or end < start:
        raise SystemExit(f"{path} has no {RESULTS_START} ... {RESULTS_END} markers")
    path.write_text(text[:start] + section + text[end + len(RESULTS_END) :], encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 pages, 100 questions")
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS_PATH}")
    parser.add_argument(
        "--starter-vectors",
        action="store_true",
        help="also measure recall with the starter model's vectors (minutes on a CPU)",
    )
    args = parser.parse_args(argv)
    pages, queries = (200, 100) if args.quick else (args.pages, args.queries)
    report = run(pages, queries, args.starter_vectors)
    print(report)
    if args.write_docs:
        write_docs(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
