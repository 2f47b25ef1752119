"""Server-sent events for streamed completions; a client that leaves cancels its job."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from app.api.metrics import Metrics
from app.api.responses import STOPPED, finish_reason, usage
from app.engine.client import Job
from app.engine.protocol import JobEvent, JobFinished, PromptEvaluated, TextChunk

ChunkMaker = Callable[[str | None, str | None], dict[str, object]]
"""(text or None for the opening chunk, finish reason) -> one chunk's JSON body."""

POLL_S = 0.25


def _event(payload: object) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


async def next_event(job: Job, request: Request) -> JobEvent | None:
    """The job's next event; None when the client has gone (the job is then cancelled)."""
    events = job.events(timeout=POLL_S)
    while True:
        try:
            event = await run_in_threadpool(next, events, None)
        except TimeoutError:
            if await request.is_disconnected():
                job.cancel()
                return None
            events = job.events(timeout=POLL_S)
            continue
        return event


async def first_events(job: Job, request: Request) -> list[JobEvent] | None:
    """Events up to the first that shows how the job goes (its prompt evaluated, text,
    or its end), so a request that fails at once gets a proper HTTP error, not a 200
    stream with an error in it; None when the client left while it waited."""
    seen: list[JobEvent] = []
    while True:
        event = await next_event(job, request)
        if event is None:
            return None
        seen.append(event)
        if isinstance(event, PromptEvaluated | TextChunk | JobFinished):
            return seen


async def stream_job(
    job: Job,
    request: Request,
    make_chunk: ChunkMaker,
    metrics: Metrics,
    *,
    include_usage: bool,
    opening: bool,
    already: Sequence[JobEvent] = (),
) -> AsyncIterator[str]:
    if opening:
        yield _event(make_chunk(None, None))
    pending = list(already)
    try:
        while True:
            event = pending.pop(0) if pending else await next_event(job, request)
            if event is None:
                return
            if isinstance(event, TextChunk) and event.text:
                yield _event(make_chunk(event.text, None))
            elif isinstance(event, JobFinished):
                metrics.count_tokens(event.stats)
                if event.error is not None or event.finish_reason == "cancelled":
                    message = event.error.user_text() if event.error is not None else STOPPED
                    yield _event({"error": {"message": message, "type": "server_error"}})
                else:
                    yield _event(make_chunk("", finish_reason(event)))
                    if include_usage:
                        last = make_chunk("", None)
                        last["choices"] = []
                        last["usage"] = usage(event.stats)
                        yield _event(last)
                yield "data: [DONE]\n\n"
                return
    finally:
        if not job.done:
            job.cancel()
