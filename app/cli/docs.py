"""``hearth docs``: index folders of documents into collections and search them."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    Commands,
    Parser,
    Progress,
    UsageError,
    load_services,
    positive_int,
    print_json,
)

if TYPE_CHECKING:
    from app.docs.embedding import EngineEmbedder
    from app.engine.client import EngineClient
    from app.main import Services
    from app.store.documents import Collection, DocumentStore


def register(commands: Commands) -> None:
    docs = commands.add_parser("docs", help="index folders of documents and search them")
    actions = docs.add_subparsers(
        dest="docs_command", metavar="ACTION", required=True, parser_class=Parser
    )
    add = actions.add_parser(
        "add", help="index a folder as a collection (again: only new or changed files)"
    )
    add.add_argument("name", metavar="NAME", help="the collection's name")
    add.add_argument("folder", metavar="FOLDER", nargs="?", help="default: the collection's folder")
    add.add_argument(
        "--vectors",
        action="store_true",
        help="also store vectors from a model, for search by meaning (fused with words)",
    )
    add.add_argument("-m", "--model", help="the model for --vectors (default: default model)")
    add.add_argument("--json", action="store_true")
    listing = actions.add_parser("list", help="list collections and files that could not be read")
    listing.add_argument("--json", action="store_true")
    search = actions.add_parser("search", help="the passages of a collection that match a query")
    search.add_argument("name", metavar="NAME")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("-k", "--limit", type=positive_int, default=5)
    search.add_argument(
        "--words", action="store_true", help="search by words only, even with vectors stored"
    )
    search.add_argument("--json", action="store_true")
    remove = actions.add_parser("remove", help="forget a collection (the files stay)")
    remove.add_argument("name", metavar="NAME")
    docs.set_defaults(run=run_docs)


@contextmanager
def document_store(services: Services) -> Iterator[DocumentStore]:
    """The documents in the history database (created or migrated as needed)."""
    from app.store.database import HISTORY_FILE, open_database
    from app.store.documents import DocumentStore

    path = services.paths.data_dir / HISTORY_FILE
    # Never move or repair a file the GUI may have open; a damaged one is an error here.
    with open_database(path, recover=False, quick_check=False) as database:
        yield DocumentStore(database)


def find_collection(store: DocumentStore, name: str) -> Collection:
    collection = store.find_collection(name)
    if collection is None or collection.attachments:
        raise UsageError(
            f"There is no document collection '{name}'.",
            "Run 'hearth docs list' to see them, or 'hearth docs add NAME FOLDER' to make one.",
        )
    return collection


def run_docs(args: argparse.Namespace) -> int:
    services = load_services()
    with document_store(services) as store:
        if args.docs_command == "add":
            return _add(services, store, args)
        if args.docs_command == "list":
            return _list(store, args)
        if args.docs_command == "search":
            return _search(services, store, args)
        collection = find_collection(store, args.name)
        store.remove_collection(collection.id)
        sys.stderr.write(f"hearth: removed collection '{collection.name}'\n")
        return EXIT_OK


def _add(services: Services, store: DocumentStore, args: argparse.Namespace) -> int:
    import threading

    from app.docs.indexer import Indexer, IndexProgress
    from app.store.documents import collection_name_problem

    existing = store.find_collection(args.name)
    name_problem = collection_name_problem(args.name)
    if name_problem:
        raise UsageError(name_problem, "Choose another name.")
    if args.folder is None and existing is None:
        raise UsageError(f"Give the folder to index: hearth docs add {args.name} FOLDER")
    folder = Path(args.folder).expanduser().resolve() if args.folder else None
    if folder is not None and not folder.is_dir():
        raise UsageError(f"{args.folder} is not a folder.")
    if existing is None:
        assert folder is not None
        collection = store.create_collection(args.name, folder=str(folder))
    elif folder is not None and str(folder) != existing.folder:
        raise UsageError(
            f"Collection '{args.name}' indexes {existing.folder}.",
            "Remove it first ('hearth docs remove NAME') or choose another name.",
        )
    else:
        collection = existing

    progress = Progress(sys.stderr, enabled=sys.stderr.isatty() and not args.json)

    def show(state: IndexProgress) -> None:
        progress.show(f"Indexing {state.done}/{state.total} files", state.fraction)

    cancel = threading.Event()
    client: EngineClient | None = None
    try:
        embedder = None
        if args.vectors:
            client, embedder = engine_embedder(services, args.model, progress)
        elif collection.embedding_model is not None:
            sys.stderr.write(
                f"hearth: note: without --vectors, the vectors of {collection.embedding_model} "
                "are dropped and search is by words.\n"
            )
        report = Indexer(store, embedder).index_folder(collection, show, cancel)
    except KeyboardInterrupt:
        progress.clear()
        sys.stderr.write("hearth: indexing stopped; what was indexed so far is kept.\n")
        return EXIT_INTERRUPTED
    finally:
        if client is not None:
            client.shutdown()
    progress.clear()
    summary = store.summary(collection.id)
    if args.json:
        print_json(
            {
                "name": collection.name,
                "folder": collection.folder,
                "added": report.added,
                "updated": report.updated,
                "removed": report.removed,
                "unchanged": report.unchanged,
                "files": summary.files,
                "chunks": summary.chunks,
                "seconds": round(report.seconds, 3),
                "problems": [{"path": p.path, "reason": p.reason} for p in report.problems],
            }
        )
        return EXIT_OK
    sys.stdout.write(
        f"{collection.name}: {summary.files} files, {summary.chunks} passages "
        f"({report.summary()}) in {report.seconds:.1f} s\n"
    )
    if report.problems:
        sys.stdout.write("Could not read:\n")
        for problem in report.problems:
            sys.stdout.write(f"  {problem.path}: {problem.reason}\n")
    return EXIT_OK


def _list(store: DocumentStore, args: argparse.Namespace) -> int:
    summaries = store.list_collections()
    if args.json:
        print_json(
            [
                {
                    "name": s.collection.name,
                    "folder": s.collection.folder,
                    "files": s.files,
                    "chunks": s.chunks,
                    "indexed_at": s.collection.indexed_at.isoformat()
                    if s.collection.indexed_at
                    else None,
                    "problems": [
                        {"path": p.path, "reason": p.reason}
                        for p in store.problems(s.collection.id)
                    ],
                }
                for s in summaries
            ]
        )
        return EXIT_OK
    if not summaries:
        sys.stdout.write("No document collections yet: hearth docs add NAME FOLDER\n")
        return EXIT_OK
    for s in summaries:
        problems = f", {s.problems} unreadable" if s.problems else ""
        sys.stdout.write(
            f"{s.collection.name}  {s.files} files, {s.chunks} passages{problems}  "
            f"{s.collection.folder}\n"
        )
        for problem in store.problems(s.collection.id):
            sys.stdout.write(f"    cannot read {problem.path}: {problem.reason}\n")
    return EXIT_OK


def _search(services: Services, store: DocumentStore, args: argparse.Namespace) -> int:
    from app.docs.grounding import passage_label
    from app.docs.retrieval import Retriever

    collection = find_collection(store, args.name)
    client: EngineClient | None = None
    embedder = None
    try:
        if collection.embedding_model is not None and not args.words:
            progress = Progress(sys.stderr, enabled=sys.stderr.isatty() and not args.json)
            client, embedder = engine_embedder(services, collection.embedding_model, progress)
        hits = Retriever(store, embedder).search([collection], args.query, limit=args.limit)
    finally:
        if client is not None:
            client.shutdown()
    if args.json:
        print_json(
            [
                {
                    "rank": rank,
                    "path": hit.passage.path,
                    "page": hit.passage.page,
                    "heading": hit.passage.heading,
                    "text": hit.passage.text,
                    "score": round(hit.score, 5),
                    "bm25_rank": hit.bm25_rank,
                    "vector_rank": hit.vector_rank,
                }
                for rank, hit in enumerate(hits, start=1)
            ]
        )
        return EXIT_OK
    if not hits:
        sys.stdout.write("No passage matches.\n")
        return EXIT_OK
    for rank, hit in enumerate(hits, start=1):
        p = hit.passage
        sys.stdout.write(f"[{rank}] {passage_label(p.path, p.page, p.heading)}\n    {p.path}\n")
        snippet = textwrap.shorten(p.text, 300, placeholder=" …")
        sys.stdout.write(textwrap.indent(textwrap.fill(snippet, 96), "    ") + "\n\n")
    return EXIT_OK


def engine_embedder(
    services: Services, reference: str | None, progress: Progress
) -> tuple[EngineClient, EngineEmbedder]:
    """An engine with ``reference`` (or the default model) loaded, to make vectors."""
    from app.cli.common import load_opened, open_model
    from app.docs.embedding import EngineEmbedder

    opened = open_model(services, reference)
    client = opened.client
    try:
        load_opened(opened, progress)
    except BaseException:
        client.shutdown()
        raise
    return client, EngineEmbedder(client, opened.id)
