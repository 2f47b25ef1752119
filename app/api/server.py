"""The OpenAI-compatible HTTP API over Hearth's engine (no Qt).

Security defaults (DESIGN.md): loopback only unless an API key is set, bearer keys
compared in constant time, a Host header allow-list against DNS rebinding, no CORS
headers, and caps on body size, max_tokens and the API's share of the engine queue.
The same app serves ``hearth serve`` and the window's built-in server; API jobs
take turns with the window's in the engine queue (owner ``api``).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from app import __version__
from app.api.guard import ApiGuard
from app.api.metrics import Metrics, RequestListener
from app.api.responses import (
    busy_response,
    engine_error,
    error_response,
    finish_reason,
    model_not_found,
    stopped_response,
    usage,
)
from app.api.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    SamplingFields,
)
from app.api.sse import ChunkMaker, first_events, stream_job
from app.core.errors import EngineBusy, HearthError
from app.core.options import ChatMessage, ChatRequest, SamplingOptions
from app.engine.client import EngineClient, Job, collect_embeddings
from app.engine.protocol import JobFinished

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
API_OWNER = "api"


@dataclass(frozen=True)
class ApiConfig:
    model_id: str
    """The name clients use for the served model (``hearth serve``)."""
    api_key: str | None = None
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS
    max_body_bytes: int = 2 * 1024 * 1024
    max_tokens_cap: int = 4096
    max_queue: int = 16
    """API requests allowed to wait in the engine queue; more get 429."""
    defaults: SamplingOptions = field(default_factory=SamplingOptions)
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the API; none means no CORS headers at all."""
    current_model: Callable[[], str | None] | None = None
    """For the window's server: the id of whatever model the window has loaded."""
    on_request: RequestListener | None = None

    def served_model(self, engine: EngineClient) -> str | None:
        if self.current_model is not None:
            return self.current_model()
        # After an engine crash the model is reloaded by the next job: still served.
        return self.model_id if engine.model_path is not None else None


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

    # Added last, so it runs first (outside CORS).
    app.add_middleware(
        ApiGuard,
        allowed_hosts=config.allowed_hosts,
        api_key=config.api_key,
        max_body_bytes=config.max_body_bytes,
        cors=bool(config.cors_origins),
        metrics=metrics,
        on_request=config.on_request,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:])
        return error_response(
            400, f"{where}: {first.get('msg', 'invalid request')}", "invalid_request_error"
        )

    def model_error(requested: str) -> JSONResponse | None:
        served = config.served_model(engine)
        if served is None:
            return error_response(
                503, "No model is loaded. Load one in Hearth first.", "server_error", "no_model"
            )
        if requested and requested != served:
            return model_not_found(requested)
        return None

    @app.get("/health")
    async def health() -> dict[str, object]:
        served = config.served_model(engine)
        return {
            "status": "ok" if served is not None else "no_model",
            "model": served,
            "queue": engine.queue_depth,
        }

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(engine.queue_depth), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def models() -> dict[str, object]:
        served = config.served_model(engine)
        data = (
            []
            if served is None
            else [{"id": served, "object": "model", "created": 0, "owned_by": "hearth"}]
        )
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(body: ChatCompletionRequest, request: Request) -> Response:
        refused = model_error(body.model)
        if refused is not None:
            return refused
        messages = tuple(ChatMessage(m.role, m.content) for m in body.messages)
        return await _complete(
            ChatRequest(messages, _sampling(body, config)), body, request, _chat_shape
        )

    @app.post("/v1/completions", response_model=None)
    async def completions(body: CompletionRequest, request: Request) -> Response:
        refused = model_error(body.model)
        if refused is not None:
            return refused
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if len(prompts) != 1:
            return error_response(
                400, "Send one prompt per request.", "invalid_request_error", "unsupported"
            )
        echo = prompts[0] if body.echo else ""
        return await _complete(
            ChatRequest((), _sampling(body, config), prompt=prompts[0]),
            body,
            request,
            lambda cid, created, model: _text_shape(cid, created, model, echo),
        )

    async def _complete(
        chat_request: ChatRequest,
        body: SamplingFields,
        request: Request,
        shape: Callable[[str, int, str], _Shape],
    ) -> Response:
        try:
            job = engine.chat(chat_request, owner=API_OWNER, max_waiting=config.max_queue)
        except EngineBusy as error:
            return busy_response(error.user_text())
        except HearthError as error:  # the engine is shut down or cannot start
            return engine_error(error)
        model = config.served_model(engine) or config.model_id
        made = shape(uuid.uuid4().hex[:24], int(time.time()), model)
        if body.stream:
            try:
                started = await first_events(job, request)
            except asyncio.CancelledError:
                job.cancel()
                raise
            if started is None:
                return Response(status_code=499)  # the client left; nobody reads this
            last = started[-1]
            if isinstance(last, JobFinished) and last.error is not None:
                return engine_error(last.error)
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(
                stream_job(
                    job,
                    request,
                    made.chunk,
                    metrics,
                    include_usage=include_usage,
                    opening=made.opening,
                    already=started,
                ),
                media_type="text/event-stream",
            )
        try:
            finished = await _wait(job, request)
        except asyncio.CancelledError:
            job.cancel()
            raise
        if finished.error is not None:
            return engine_error(finished.error)
        if finished.finish_reason == "cancelled":
            return stopped_response()
        metrics.count_tokens(finished.stats)
        return JSONResponse(made.whole(finished))

    @app.post("/v1/embeddings", response_model=None)
    async def embeddings(body: EmbeddingRequest, request: Request) -> Response:
        refused = model_error(body.model)
        if refused is not None:
            return refused
        texts = [body.input] if isinstance(body.input, str) else body.input
        if len(texts) > 2048:
            return error_response(400, "At most 2048 inputs per request.", "invalid_request_error")
        try:
            job = engine.embed(texts, owner=API_OWNER, max_waiting=config.max_queue)
        except EngineBusy as error:
            return busy_response(error.user_text())
        except HearthError as error:
            return engine_error(error)
        try:
            await _wait(job, request)
            result = collect_embeddings(job, timeout=0)
        except HearthError as error:
            return engine_error(error)
        except asyncio.CancelledError:
            job.cancel()
            raise
        tokens = sum(result.token_counts)
        metrics.prompt_tokens += tokens
        data = [
            {
                "object": "embedding",
                "index": index,
                "embedding": _encode(vector, body.encoding_format),
            }
            for index, vector in enumerate(result.vectors)
        ]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": config.served_model(engine) or config.model_id,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    return app


@dataclass(frozen=True)
class _Shape:
    """How one kind of completion looks on the wire, streamed and whole."""

    chunk: ChunkMaker
    whole: Callable[[JobFinished], dict[str, object]]
    opening: bool


def _chat_shape(completion_id: str, created: int, model: str) -> _Shape:
    head = {"id": f"chatcmpl-{completion_id}", "created": created, "model": model}

    def chunk(text: str | None, finish: str | None) -> dict[str, object]:
        delta = {"role": "assistant"} if text is None else {"content": text} if text else {}
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {**head, "object": "chat.completion.chunk", "choices": [choice]}

    def whole(finished: JobFinished) -> dict[str, object]:
        message = {"role": "assistant", "content": finished.text}
        choice = {"index": 0, "message": message, "finish_reason": finish_reason(finished)}
        return {
            **head,
            "object": "chat.completion",
            "choices": [choice],
            "usage": usage(finished.stats),
        }

    return _Shape(chunk, whole, opening=True)


def _text_shape(completion_id: str, created: int, model: str, echo: str) -> _Shape:
    head = {"id": f"cmpl-{completion_id}", "created": created, "model": model}
    echoed = [False]

    def chunk(text: str | None, finish: str | None) -> dict[str, object]:
        text = text or ""
        if echo and not echoed[0]:
            text, echoed[0] = echo + text, True
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        return {**head, "object": "text_completion", "choices": [choice]}

    def whole(finished: JobFinished) -> dict[str, object]:
        choice = {
            "index": 0,
            "text": echo + finished.text,
            "logprobs": None,
            "finish_reason": finish_reason(finished),
        }
        return {
            **head,
            "object": "text_completion",
            "choices": [choice],
            "usage": usage(finished.stats),
        }

    return _Shape(chunk, whole, opening=False)


def _sampling(body: SamplingFields, config: ApiConfig) -> SamplingOptions:
    defaults = config.defaults
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    return dataclasses.replace(
        defaults,
        temperature=defaults.temperature if body.temperature is None else body.temperature,
        top_p=defaults.top_p if body.top_p is None else body.top_p,
        top_k=defaults.top_k if body.top_k is None else body.top_k,
        min_p=defaults.min_p if body.min_p is None else body.min_p,
        repeat_penalty=(
            defaults.repeat_penalty if body.repeat_penalty is None else body.repeat_penalty
        ),
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


def _encode(vector: tuple[float, ...], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return list(vector)
