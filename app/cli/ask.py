"""``hearth ask``: one question, the answer streamed to the terminal."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import TYPE_CHECKING, Any

from app.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    Commands,
    Progress,
    UsageError,
    load_opened,
    load_services,
    open_model,
    positive_int,
    print_json,
)
from app.core.options import ChatMessage, ChatRequest, SamplingOptions

if TYPE_CHECKING:
    from app.docs.embedding import EngineEmbedder
    from app.docs.grounding import Grounding
    from app.engine.client import EngineClient
    from app.main import Services
    from app.store.documents import Passage


def register(commands: Commands) -> None:
    ask = commands.add_parser("ask", help="ask a model one question; the answer streams")
    ask.add_argument(
        "prompt", metavar="PROMPT", help="the question or instruction ('-' reads stdin)"
    )
    ask.add_argument(
        "-m",
        "--model",
        help="model id from 'hearth models', a .gguf path, or remote:ENDPOINT[/MODEL]",
    )
    ask.add_argument("--system", help="system prompt")
    ask.add_argument("--max-tokens", type=positive_int, help="default: sampling.max_tokens")
    ask.add_argument("--temperature", type=float, help="default: sampling.temperature")
    ask.add_argument("--seed", type=int)
    ask.add_argument("--context-length", type=positive_int, help="context window in tokens")
    ask.add_argument("--gpu-layers", type=int, help="layers to offload: -1 all, 0 none")
    ask.add_argument(
        "--docs",
        metavar="NAME",
        action="append",
        help="answer from this document collection, citing passages (repeatable)",
    )
    ask.add_argument("--json", action="store_true", help="print one JSON object at the end")
    ask.set_defaults(run=run_ask)


def run_ask(args: argparse.Namespace) -> int:
    services = load_services()
    from app.engine.protocol import JobFinished, PromptEvaluated, TextChunk

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    opened = open_model(
        services, args.model, context_length=args.context_length, gpu_layers=args.gpu_layers
    )
    settings = opened.settings
    sampling = settings.sampling_options()
    try:
        sampling = dataclasses.replace(
            sampling,
            temperature=sampling.temperature if args.temperature is None else args.temperature,
            seed=sampling.seed if args.seed is None else args.seed,
            max_tokens=args.max_tokens or sampling.max_tokens,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc

    messages = []
    if args.system:
        messages.append(ChatMessage("system", args.system))
    messages.append(ChatMessage("user", prompt))
    passages: tuple[Passage, ...] = ()
    if args.docs:
        _check_collections(services, args.docs)  # before the model loads: fail fast

    progress = Progress(sys.stderr, enabled=sys.stderr.isatty() and not args.json)
    client = opened.client
    out = sys.stdout
    try:
        try:
            load_opened(opened, progress)
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        model = client.loaded_model
        if args.docs:
            grounding = _ground(
                services,
                args.docs,
                question=prompt,
                system=args.system or "",
                context_length=model.context_length if model else opened.options.context_length,
                sampling=sampling,
                engine=(client, opened.id),
            )
            messages = list(grounding.messages)
            passages = grounding.passages
        job = client.chat(ChatRequest(tuple(messages), sampling))
        finished: JobFinished | None = None
        interrupted = False
        events = job.events()
        while finished is None:
            try:
                for event in events:
                    if isinstance(event, TextChunk) and not args.json:
                        out.write(event.text)
                        out.flush()
                    elif isinstance(event, PromptEvaluated) and event.warning:
                        sys.stderr.write(f"hearth: note: {event.warning}\n")
                    elif isinstance(event, JobFinished):
                        finished = event
            except KeyboardInterrupt:
                if interrupted:
                    return EXIT_INTERRUPTED  # a second Ctrl+C: leave now
                interrupted = True
                job.cancel()
                events = job.events()
    finally:
        client.shutdown()

    if finished.error is not None and finished.finish_reason in ("error", "crashed"):
        if not args.json and finished.text:
            out.write("\n")
        raise finished.error
    stats = finished.stats
    if args.json:
        print_json(
            {
                "text": finished.text,
                "model": opened.id,
                "model_path": opened.location,
                "device": model.device if model else "CPU",
                "prompt_tokens": stats.prompt_tokens if stats else 0,
                "completion_tokens": stats.completion_tokens if stats else 0,
                "ttft_ms": round(stats.ttft_ms, 1) if stats else None,
                "tokens_per_s": round(stats.tokens_per_s, 2) if stats else None,
                "finish_reason": finished.finish_reason,
                "seed": stats.seed if stats else None,
                **({"sources": _sources_json(passages, finished.text)} if args.docs else {}),
            }
        )
    else:
        out.write("\n")
        if args.docs:
            out.write(_sources_text(passages))
        out.flush()
        if finished.finish_reason == "length":
            sys.stderr.write("hearth: note: the answer was cut at --max-tokens.\n")
    return EXIT_INTERRUPTED if finished.finish_reason == "cancelled" else EXIT_OK


def _check_collections(services: Services, names: list[str]) -> None:
    from app.cli.docs import document_store, find_collection

    with document_store(services) as store:
        for name in names:
            find_collection(store, name)


def _ground(
    services: Services,
    names: list[str],
    *,
    question: str,
    system: str,
    context_length: int,
    sampling: SamplingOptions,
    engine: tuple[EngineClient, str],
) -> Grounding:
    """The question with the passages of these collections that answer it.

    Vector search joins in when a collection was indexed with vectors: from the model
    that answers (``engine``: its client and model id), or from another model, loaded
    in a second engine for the question's vector.
    """
    from app.cli.common import Progress
    from app.cli.docs import document_store, engine_embedder, find_collection
    from app.docs.embedding import EngineEmbedder
    from app.docs.grounding import ground
    from app.docs.retrieval import Retriever

    client, model_id = engine
    with document_store(services) as store:
        collections = [find_collection(store, name) for name in dict.fromkeys(names)]
        models = sorted({c.embedding_model for c in collections if c.embedding_model})
        extra: EngineClient | None = None
        embedder: EngineEmbedder = EngineEmbedder(client, model_id)
        try:
            if models and model_id not in models:
                # The vectors come from another model (an embedding model, say): load it
                # in an engine of its own, for the question's vector only.
                extra, embedder = engine_embedder(
                    services, models[0], Progress(sys.stderr, enabled=False)
                )
            return ground(
                store,
                Retriever(store, embedder),
                collections,
                question,
                context_length=context_length,
                max_tokens=sampling.max_tokens,
                system=system,
            )
        finally:
            if extra is not None:
                extra.shutdown()


def _sources_text(passages: tuple[Passage, ...]) -> str:
    from app.docs.grounding import passage_label

    if not passages:
        return "No passage of the documents matched the question.\n"
    lines = ["", "Sources:"]
    lines += [
        f"[{n}] {passage_label(p.path, p.page, p.heading)} ({p.path})"
        for n, p in enumerate(passages, start=1)
    ]
    return "\n".join(lines) + "\n"


def _sources_json(passages: tuple[Passage, ...], answer: str) -> dict[str, Any]:
    from app.docs.grounding import cited_numbers

    return {
        "passages": [
            {"number": n, "path": p.path, "page": p.page, "heading": p.heading, "text": p.text}
            for n, p in enumerate(passages, start=1)
        ],
        "cited": cited_numbers(answer, len(passages)),
    }
