"""A transport whose "host" is a remote OpenAI-compatible server.

The engine client cannot tell it from a local engine: the same commands go in, the
same events come out (model loaded, text chunks, finished, embeddings), so the
window, the command line, the API and the analyst tasks work unchanged against a
vLLM, llama.cpp or Ollama server. "Loading" a remote model checks that the server
serves it.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from typing import Any

from app.core.errors import HearthError, NoModelLoaded
from app.core.options import FinishReason, GenerationStats, SamplingOptions
from app.core.remote import RemoteError, RemoteHttp, RemoteModelMissing
from app.engine.protocol import (
    REMOTE_ARCHITECTURE,
    BuildInfo,
    ChatCommand,
    Command,
    EmbedCommand,
    EmbeddingsReady,
    HostReady,
    JobFinished,
    JobStarted,
    LoadCommand,
    LoadedModel,
    LoadProgress,
    ModelLoaded,
    PromptEvaluated,
    ScoreCommand,
    ShutdownCommand,
    TextChunk,
    UnloadCommand,
)
from app.engine.transport import EventSink, ExitSink, HostExit

log = logging.getLogger(__name__)


class _Cancelled(Exception):
    pass


class RemoteTransport:
    def __init__(self, http: RemoteHttp) -> None:
        self._http = http
        self._commands: queue.Queue[Command] = queue.Queue()
        self._cancelled = -1
        self._thread: threading.Thread | None = None
        self._model: str | None = None
        self._emit: EventSink = lambda event: None

    # -- Transport ---------------------------------------------------------------------

    def start(self, on_event: EventSink, on_exit: ExitSink) -> None:
        self._emit = on_event
        self._on_exit = on_exit
        self._thread = threading.Thread(target=self._run, name="hearth-remote", daemon=True)
        self._thread.start()

    def send(self, command: Command) -> None:
        self._commands.put(command)

    def request_cancel(self, job_id: int) -> None:
        self._cancelled = job_id

    def kill(self) -> None:
        # A request stuck in the network: drop the connection; the client starts anew.
        self._http.close()
        self._commands.put(ShutdownCommand())
        self._on_exit(HostExit("the request to the remote server was abandoned"))

    def close(self, timeout: float) -> None:
        self._commands.put(ShutdownCommand())
        if self._thread is not None:
            self._thread.join(timeout)
        self._http.close()

    @property
    def pid(self) -> int | None:
        return None

    # -- the "host" ----------------------------------------------------------------------

    def _run(self) -> None:
        url = self._http.base
        self._emit(
            HostReady(
                BuildInfo(
                    backend="remote",
                    version=f"OpenAI-compatible server at {url}",
                    gpu_offload=False,
                    note="Models run on the remote server.",
                ),
                pid=0,
            )
        )
        while True:
            command = self._commands.get()
            if isinstance(command, ShutdownCommand):
                return
            self._emit(JobStarted(command.job_id))
            try:
                finished = self._job(command)
            except HearthError as error:
                finished = JobFinished(command.job_id, "error", error=error)
            except _Cancelled:
                finished = JobFinished(command.job_id, "cancelled")
            except Exception as exc:  # a malformed answer must not kill the worker
                log.exception("remote job %d failed", command.job_id)
                odd = RemoteError(f"Unexpected answer from {url}: {type(exc).__name__}")
                finished = JobFinished(command.job_id, "error", error=odd)
            self._emit(finished)

    def _job(self, command: Command) -> JobFinished:
        if isinstance(command, LoadCommand):
            return self._load(command)
        if isinstance(command, ChatCommand):
            return self._chat(command)
        if isinstance(command, EmbedCommand):
            return self._embed(command)
        if isinstance(command, ScoreCommand):
            # Callers choose constrained answers for remote models (tasks.scoring).
            raise RemoteError("A remote server cannot score labels from log-probabilities.")
        assert isinstance(command, UnloadCommand)
        self._model = None
        return JobFinished(command.job_id, "stop")

    def _check(self, job_id: int) -> None:
        if self._cancelled == job_id:
            raise _Cancelled()

    def _load(self, command: LoadCommand) -> JobFinished:
        model = command.options.path
        started = time.perf_counter()
        self._emit(LoadProgress(command.job_id, 0.0))
        served = self._http.list_models(timeout=self._http.endpoint.timeout_s)
        if served and model not in served:
            raise RemoteModelMissing(model, self._http.base, served)
        self._check(command.job_id)
        self._model = model
        loaded = LoadedModel(
            path=f"remote:{self._http.endpoint.name}/{model}",
            name=model,
            architecture=REMOTE_ARCHITECTURE,
            quantization="",
            context_length=command.options.context_length,
            trained_context_length=None,
            layers=None,
            gpu_layers=0,
            device=f"remote: {self._http.base}",
            load_ms=(time.perf_counter() - started) * 1000.0,
            chat_template=None,
        )
        self._emit(LoadProgress(command.job_id, 1.0))
        self._emit(ModelLoaded(command.job_id, loaded))
        return JobFinished(command.job_id, "stop")

    def _chat(self, command: ChatCommand) -> JobFinished:
        job_id = command.job_id
        if self._model is None:
            raise NoModelLoaded()
        request = command.request
        body: dict[str, object] = {
            "model": self._model,
            "stream": True,
            "stream_options": {"include_usage": True},
            **_sampling_fields(request.sampling),
        }
        if request.prompt is not None:
            path, body["prompt"] = "/completions", request.prompt
        else:
            path = "/chat/completions"
            body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
        started = time.perf_counter()
        first_at = 0.0
        parts: list[str] = []
        chunks = 0
        finish: FinishReason = "stop"
        usage: dict[str, Any] = {}
        events = self._http.stream_events(path, body)
        cut: RemoteError | None = None
        try:
            for event in events:
                if self._cancelled == job_id:
                    finish = "cancelled"
                    break
                if isinstance(event.get("usage"), dict):
                    usage = event["usage"]
                for choice in event.get("choices") or []:
                    text = _choice_text(choice)
                    if text:
                        if not first_at:
                            first_at = time.perf_counter()
                            self._emit(PromptEvaluated(job_id, 0, 0))
                        parts.append(text)
                        chunks += 1
                        self._emit(TextChunk(job_id, text, 1))
                    if choice.get("finish_reason") == "length":
                        finish = "length"
        except RemoteError as error:
            if not parts:
                raise
            cut = error  # keep what did arrive
        finally:
            events.close()
        ended = time.perf_counter()
        stats = GenerationStats(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            cached_tokens=0,
            completion_tokens=int(usage.get("completion_tokens") or chunks),
            ttft_ms=(first_at - started) * 1000.0 if first_at else 0.0,
            total_ms=(ended - started) * 1000.0,
            engine_ms=(ended - started) * 1000.0,
            seed=request.sampling.seed or 0,
        )
        if cut is not None:
            return JobFinished(job_id, "error", text="".join(parts), stats=stats, error=cut)
        return JobFinished(job_id, finish, text="".join(parts), stats=stats)

    def _embed(self, command: EmbedCommand) -> JobFinished:
        if self._model is None:
            raise NoModelLoaded()
        started = time.perf_counter()
        body = {"model": self._model, "input": list(command.texts), "encoding_format": "float"}
        data = self._http.post_json("/embeddings", body)
        self._check(command.job_id)
        items = sorted(data.get("data", []), key=lambda item: item.get("index", 0))
        vectors = tuple(_normalised(item["embedding"]) for item in items)
        if len(vectors) != len(command.texts):
            raise RemoteError(
                f"The server returned {len(vectors)} embeddings for {len(command.texts)} texts."
            )
        tokens = int((data.get("usage") or {}).get("prompt_tokens") or 0)
        per_text = tokens // max(1, len(vectors))
        self._emit(
            EmbeddingsReady(
                command.job_id,
                vectors,
                tuple(per_text for _ in vectors),
                tuple(False for _ in vectors),
            )
        )
        elapsed = (time.perf_counter() - started) * 1000.0
        stats = GenerationStats(tokens, 0, 0, elapsed, elapsed, elapsed)
        return JobFinished(command.job_id, "stop", stats=stats)


def _sampling_fields(sampling: SamplingOptions) -> dict[str, object]:
    fields: dict[str, object] = {
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
    }
    if sampling.seed is not None:
        fields["seed"] = sampling.seed
    if sampling.stop:
        fields["stop"] = list(sampling.stop)
    return fields


def _choice_text(choice: dict[str, Any]) -> str:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return str(delta.get("content") or "")
    return str(choice.get("text") or "")


def _normalised(values: list[float]) -> tuple[float, ...]:
    norm = math.sqrt(sum(v * v for v in values))
    if norm == 0.0:
        return tuple(float(v) for v in values)
    return tuple(float(v) / norm for v in values)
