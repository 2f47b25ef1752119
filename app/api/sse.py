"""Server-sent events for streamed completions; a client that leaves cancels its job."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from app.api.metrics import Metrics
from app.api.responses import finish_reason, usage
from app.engine.client import Job
from app.engine.protocol import JobFinished, TextChunk

ChunkMaker = Callable[[str | None, str | None], dict[str, object]]
"""(text or None for the opening chunk, finish reason) -> one chunk's JSON body."""

POLL_S = 0.25


def _event(payload: object) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


async def stream_job(
    job: Job,
    request: Request,
    make_chunk: ChunkMaker,
    metrics: Metrics,
    *,
    include_usage: bool,
    opening: bool,
) -> AsyncIterator[str]:
    events = job.events(timeout=POLL_S)
    if opening:
        yield _event(make_chunk(None, None))
    try:
        while True:
            try:
                event = await run_in_threadpool(next, events, None)
            except TimeoutError:
                if await request.is_disconnected():
                    job.cancel()
                    return
                events = job.events(timeout=POLL_S)
                continue
            if event is None:
                return
            if isinstance(event, TextChunk) and event.text:
                yield _event(make_chunk(event.text, None))
            elif isinstance(event, JobFinished):
                metrics.count_tokens(event.stats)
                if event.error is not None:
                    error = {"message": event.error.user_text(), "type": "server_error"}
                    yield _event({"error": error})
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
