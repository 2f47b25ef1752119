"""The OpenAI-compatible HTTP API over Hearth's engine (no Qt).

Security defaults (DESIGN.md): loopback only unless an API key is set, bearer keys
compared in constant time, a Host header allow-list against DNS rebinding, no CORS
headers, and caps on body size, max_tokens and the engine queue.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from app import __version__
from app.api.schemas import ChatCompletionRequest
from app.core.errors import ContextOverflow, EngineBusy, HearthError
from app.core.options import ChatMessage, ChatRequest, SamplingOptions
from app.engine.client import EngineClient, Job
from app.engine.protocol import JobFinished, TextChunk

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


@dataclass(frozen=True)
class ApiConfig:
    model_id: str
    api_key: str | None = None
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS
    max_body_bytes: int = 2 * 1024 * 1024
    max_tokens_cap: int = 4096
    defaults: SamplingOptions = field(default_factory=SamplingOptions)
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the API; none means no CORS headers at all."""


def _error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    """OpenAI's error shape."""
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


@dataclass
class Metrics:
    """Counters for ``/metrics`` (Prometheus text format)."""

    requests: dict[tuple[str, int], int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_sum_s: float = 0.0
    latency_count: int = 0

    def render(self, queue_depth: int) -> str:
        lines = [
            "# HELP hearth_requests_total HTTP requests by path and status.",
            "# TYPE hearth_requests_total counter",
        ]
        for (path, status), count in sorted(self.requests.items()):
            lines.append(f'hearth_requests_total{{path="{path}",status="{status}"}} {count}')
        lines += [
            "# HELP hearth_tokens_total Tokens processed, by kind.",
            "# TYPE hearth_tokens_total counter",
            f'hearth_tokens_total{{kind="prompt"}} {self.prompt_tokens}',
            f'hearth_tokens_total{{kind="completion"}} {self.completion_tokens}',
            "# HELP hearth_request_seconds Time to answer chat completions.",
            "# TYPE hearth_request_seconds summary",
            f"hearth_request_seconds_sum {self.latency_sum_s:.6f}",
            f"hearth_request_seconds_count {self.latency_count}",
            "# HELP hearth_queue_depth Jobs running or waiting in the engine.",
            "# TYPE hearth_queue_depth gauge",
            f"hearth_queue_depth {queue_depth}",
        ]
        return "\n".join(lines) + "\n"


def create_app(engine: EngineClient, config: ApiConfig) -> FastAPI:
    app = FastAPI(title="Hearth", version=__version__, docs_url=None, redoc_url=None)
    metrics = Metrics()
    app.state.metrics = metrics
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )

    @app.middleware("http")
    async def guard(request: Request, call_next):  # type: ignore[no-untyped-def]
        host = request.headers.get("host", "").rsplit(":", 1)[0].lower()
        if request.headers.get("host", "").startswith("["):  # [::1]:8080
            host = request.headers["host"].split("]")[0] + "]"
        if host not in config.allowed_hosts:
            return _error(400, f"Host '{host}' is not allowed.", "invalid_request_error")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > config.max_body_bytes):
            return _error(413, "The request body is too large.", "invalid_request_error")
        if config.api_key is not None and request.url.path != "/health":
            given = request.headers.get("authorization", "")
            expected = f"Bearer {config.api_key}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return _error(
                    401, "Invalid or missing API key.", "invalid_request_error", "invalid_api_key"
                )
        started = time.perf_counter()
        response = await call_next(request)
        key = (request.url.path, response.status_code)
        metrics.requests[key] = metrics.requests.get(key, 0) + 1
        if request.url.path == "/v1/chat/completions":
            metrics.latency_sum_s += time.perf_counter() - started
            metrics.latency_count += 1
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:])
        return _error(
            400, f"{where}: {first.get('msg', 'invalid request')}", "invalid_request_error"
        )

    @app.get("/health")
    async def health() -> dict[str, object]:
        model = engine.loaded_model
        return {
            "status": "ok" if model is not None else "no_model",
            "model": config.model_id if model is not None else None,
            "queue": engine.queue_depth,
        }

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(engine.queue_depth), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def models() -> dict[str, object]:
        return {
            "object": "list",
            "data": [
                {"id": config.model_id, "object": "model", "created": 0, "owned_by": "hearth"}
            ],
        }

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(body: ChatCompletionRequest, request: Request) -> Response:
        if body.model and body.model != config.model_id:
            return _error(
                404,
                f"The model '{body.model}' is not loaded here.",
                "invalid_request_error",
                "model_not_found",
            )
        sampling = _sampling(body, config)
        messages = tuple(ChatMessage(m.role, m.content) for m in body.messages)
        try:
            job = engine.chat(ChatRequest(messages, sampling))
        except EngineBusy as error:
            response = _error(429, error.user_text(), "rate_limit_error")
            response.headers["Retry-After"] = "2"
            return response
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if body.stream:
            return StreamingResponse(
                _stream(job, request, completion_id, created, config.model_id),
                media_type="text/event-stream",
            )
        try:
            finished = await _wait(job, request)
        except asyncio.CancelledError:
            job.cancel()
            raise
        if finished.error is not None:
            return _engine_error(finished.error)
        stats = finished.stats
        if stats is not None:
            metrics.prompt_tokens += stats.prompt_tokens
            metrics.completion_tokens += stats.completion_tokens
        return JSONResponse(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": config.model_id,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": finished.text},
                        "finish_reason": _finish(finished),
                    }
                ],
                "usage": _usage(stats),
            }
        )

    return app


def _sampling(body: ChatCompletionRequest, config: ApiConfig) -> SamplingOptions:
    defaults = config.defaults
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    return dataclasses.replace(
        defaults,
        temperature=defaults.temperature if body.temperature is None else body.temperature,
        top_p=defaults.top_p if body.top_p is None else body.top_p,
        max_tokens=min(body.max_tokens or defaults.max_tokens, config.max_tokens_cap),
        seed=body.seed if body.seed is not None else defaults.seed,
        stop=tuple(s for s in stops if s)[:4],
    )


async def _wait(job: Job, request: Request) -> JobFinished:
    """Wait for the job; a client that goes away cancels it."""
    while True:
        try:
            return await run_in_threadpool(job.wait, 0.25)
        except TimeoutError:
            if await request.is_disconnected():
                job.cancel()


def _finish(finished: JobFinished) -> str:
    return "length" if finished.finish_reason == "length" else "stop"


def _usage(stats: object) -> dict[str, int]:
    prompt = getattr(stats, "prompt_tokens", 0) or 0
    completion = getattr(stats, "completion_tokens", 0) or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _engine_error(error: HearthError) -> JSONResponse:
    if isinstance(error, ContextOverflow):
        return _error(400, error.user_text(), "invalid_request_error", "context_length_exceeded")
    return _error(
        503 if "engine" in error.message.lower() else 500, error.user_text(), "server_error"
    )


async def _stream(
    job: Job, request: Request, completion_id: str, created: int, model: str
) -> AsyncIterator[str]:
    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    events = job.events(timeout=0.25)
    yield chunk({"role": "assistant"})
    try:
        while True:
            try:
                event = await run_in_threadpool(next, events, None)
            except TimeoutError:
                if await request.is_disconnected():
                    job.cancel()
                    return
                events = job.events(timeout=0.25)
                continue
            if event is None:
                return
            if isinstance(event, TextChunk) and event.text:
                yield chunk({"content": event.text})
            elif isinstance(event, JobFinished):
                if event.error is not None:
                    message = json.dumps(
                        {"error": {"message": event.error.user_text(), "type": "server_error"}}
                    )
                    yield f"data: {message}\n\n"
                else:
                    yield chunk({}, _finish(event))
                yield "data: [DONE]\n\n"
                return
    finally:
        if not job.done:
            job.cancel()
