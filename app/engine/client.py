"""``EngineClient``: the one way the rest of Hearth talks to the engine.

Jobs (load, chat, unload) queue here and go to the host one at a time; each gets an
id that its events carry, and events of jobs that are no longer current are dropped.
The client does not know whether the host is a child process or a thread.

After the host dies, the running job ends as ``crashed`` with the reason, and the
next job starts a fresh host, reloading the last model first.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from app.core.errors import (
    EngineBusy,
    EngineCrashed,
    EngineUnavailable,
    HearthError,
    JobCancelled,
)
from app.core.options import ChatRequest, LoadOptions
from app.engine.protocol import (
    BuildInfo,
    ChatCommand,
    EmbedCommand,
    EmbeddingsReady,
    Event,
    HostReady,
    JobCommand,
    JobEvent,
    JobFinished,
    LoadCommand,
    LoadedModel,
    ModelLoaded,
    ScoreCommand,
    ScoreRequest,
    UnloadCommand,
)
from app.engine.transport import HostExit, Transport, TransportFactory

log = logging.getLogger(__name__)

JobKind = Literal["load", "chat", "embed", "score", "unload"]
EngineState = Literal["stopped", "starting", "ready", "crashed", "closed"]
Listener = Callable[[Event], None]
LOCAL = "local"
"""The owner of jobs from the window and the command line."""
_NEEDS_MODEL = ("chat", "embed", "score")


class Job:
    """A handle on one queued or running job; its events arrive in order."""

    def __init__(
        self,
        job_id: int,
        kind: JobKind,
        command: JobCommand,
        internal: bool = False,
        owner: str = LOCAL,
    ):
        self.id = job_id
        self.kind = kind
        self.command = command
        self.internal = internal
        self.owner = owner
        """Who asked: jobs of different owners take turns (see ``EngineClient``)."""
        self.submitted_at = time.perf_counter()
        self._events: queue.SimpleQueue[JobEvent] = queue.SimpleQueue()
        self._done = threading.Event()
        self._finished: JobFinished | None = None
        self._cancel: Callable[[int], None] | None = None
        self.serves: int | None = None
        """For an internal reload: the id of the job it reloads the model for."""

    def _deliver(self, event: JobEvent) -> None:
        if self._done.is_set():
            return
        if isinstance(event, JobFinished):
            self._finished = event
            self._events.put(event)
            self._done.set()
        else:
            self._events.put(event)

    def events(self, timeout: float | None = None) -> Iterator[JobEvent]:
        """Yield this job's events, ending with its ``JobFinished``."""
        while True:
            try:
                event = self._events.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"no engine event within {timeout} s") from None
            yield event
            if isinstance(event, JobFinished):
                return

    def wait(self, timeout: float | None = None) -> JobFinished:
        if not self._done.wait(timeout):
            raise TimeoutError(f"job {self.id} did not finish within {timeout} s")
        assert self._finished is not None
        return self._finished

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel(self.id)


@dataclass
class _Host:
    transport: Transport
    generation: int
    spawned_at: float
    ready: bool = False
    doomed: bool = False
    """Killed by a cancel escalation: nothing more is sent to it."""


class EngineClient:
    def __init__(
        self,
        transport_factory: TransportFactory,
        *,
        cancel_grace_s: float = 5.0,
        max_queue: int = 64,
    ) -> None:
        self._factory = transport_factory
        self._cancel_grace_s = cancel_grace_s
        self._max_queue = max_queue
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._generations = itertools.count(1)
        self._host: _Host | None = None
        self._pending: deque[Job] = deque()
        self._current: Job | None = None
        self._escalated: int | None = None
        self._listeners: list[Listener] = []
        self._ready = threading.Condition(self._lock)
        self._state: EngineState = "stopped"
        self._build: BuildInfo | None = None
        self._loaded: LoadedModel | None = None
        self._last_load: LoadOptions | None = None
        self._reload_needed = False
        self._last_owner: str | None = None
        self.last_start_ms: float | None = None
        """Host spawn to ready, for the most recent host."""

    # -- public API ----------------------------------------------------------------------

    def load(self, options: LoadOptions) -> Job:
        job_id = next(self._ids)
        return self._submit(Job(job_id, "load", LoadCommand(job_id, options)))

    def chat(
        self, request: ChatRequest, *, owner: str = LOCAL, max_waiting: int | None = None
    ) -> Job:
        """Queue a chat (or raw-prompt) generation.

        ``owner``: jobs of different owners take turns, so a burst from one (say the
        API) does not make another (the window) wait behind all of it.
        ``max_waiting``: refuse with ``EngineBusy`` when this owner already has that
        many jobs waiting.
        """
        job_id = next(self._ids)
        job = Job(job_id, "chat", ChatCommand(job_id, request), owner=owner)
        return self._submit(job, max_waiting)

    def embed(
        self, texts: Sequence[str], *, owner: str = LOCAL, max_waiting: int | None = None
    ) -> Job:
        """Embedding vectors for ``texts`` (an ``EmbeddingsReady`` event, then the end)."""
        job_id = next(self._ids)
        job = Job(job_id, "embed", EmbedCommand(job_id, tuple(texts)), owner=owner)
        return self._submit(job, max_waiting)

    def score(self, request: ScoreRequest) -> Job:
        """Classification scores; ``ScoreResults`` events arrive as items are done."""
        job_id = next(self._ids)
        return self._submit(Job(job_id, "score", ScoreCommand(job_id, request)))

    def unload(self) -> Job:
        job_id = next(self._ids)
        return self._submit(Job(job_id, "unload", UnloadCommand(job_id)))

    def cancel(self, job_id: int) -> None:
        """Stop a job: dropped if queued; if running, it ends within one token.

        A host that does not honour the cancel within the grace period is restarted.
        """
        finished: Job | None = None
        with self._lock:
            current, host = self._current, self._host
            if current is not None and current.id == job_id and host is not None:
                host.transport.request_cancel(job_id)
                timer = threading.Timer(
                    self._cancel_grace_s, self._escalate, args=(job_id, host.generation)
                )
                timer.daemon = True
                timer.start()
                return
            for job in self._pending:
                if job.id == job_id:
                    self._pending.remove(job)
                    finished = job
                    break
        if finished is not None:
            self._finish(finished, JobFinished(job_id, "cancelled"))

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Receive every event (on a background thread). Returns a function to stop."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def build_info(self, timeout: float = 60.0) -> BuildInfo:
        """What the engine can do (GPU offload, devices); starts the host if needed."""
        with self._lock:
            if self._build is not None:
                return self._build
            if self._host is None:
                self._start_host()
            deadline = time.monotonic() + timeout
            while self._build is None:
                if self._state in ("crashed", "closed"):
                    raise EngineUnavailable("the engine process exited during start-up")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise EngineUnavailable(f"no answer from the engine within {timeout:.0f} s")
                self._ready.wait(remaining)
            return self._build

    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def loaded_model(self) -> LoadedModel | None:
        return self._loaded

    @property
    def model_path(self) -> str | None:
        """The loaded model's file, or, after a crash, the one the next job reloads."""
        with self._lock:
            if self._loaded is not None:
                return self._loaded.path
            if self._reload_needed and self._last_load is not None:
                return self._last_load.path
            return None

    @property
    def queue_depth(self) -> int:
        with self._lock:
            return len(self._pending) + (1 if self._current is not None else 0)

    @property
    def engine_pid(self) -> int | None:
        host = self._host
        return None if host is None else host.transport.pid

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._state = "closed"
            dropped = list(self._pending)
            self._pending.clear()
            current, self._current = self._current, None
            host, self._host = self._host, None
        for job in dropped:
            self._finish(job, JobFinished(job.id, "cancelled"))
        if current is not None:
            self._finish(current, JobFinished(current.id, "cancelled"))
        if host is not None:
            if current is not None:
                host.transport.request_cancel(current.id)
            host.transport.close(timeout)

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- queue -------------------------------------------------------------------------

    def _submit(self, job: Job, max_waiting: int | None = None) -> Job:
        job._cancel = self.cancel
        with self._lock:
            if self._state == "closed":
                raise EngineUnavailable("the engine has been shut down")
            if len(self._pending) >= self._max_queue:
                raise EngineBusy(len(self._pending))
            if max_waiting is not None:
                waiting = sum(1 for queued in self._pending if queued.owner == job.owner)
                if waiting >= max_waiting:
                    raise EngineBusy(waiting)
            self._pending.append(job)
            try:
                self._pump()
            except EngineUnavailable:
                if job in self._pending:
                    self._pending.remove(job)
                raise
        return job

    def _pump(self) -> None:
        """Send the next job when the host is idle. Called with the lock held."""
        if self._current is not None or not self._pending or self._state == "closed":
            return
        if self._host is not None and self._host.doomed:
            return  # its exit report starts a fresh host and pumps again
        if self._host is None:
            self._start_host()
        assert self._host is not None
        job = self._next_turn()
        if self._reload_needed and self._last_load is not None and job.kind in _NEEDS_MODEL:
            job_id = next(self._ids)
            serves = job.id
            job = Job(job_id, "load", LoadCommand(job_id, self._last_load), internal=True)
            job.serves = serves
        else:
            self._pending.remove(job)
            self._last_owner = job.owner
        if job.kind == "load" or self._last_load is None:
            self._reload_needed = False
        self._current = job
        self._host.transport.send(job.command)

    def _next_turn(self) -> Job:
        """The oldest job of another owner than the last one served, else the oldest.

        Loads and unloads keep their place: a chat queued after a load must run on
        the model that load brings.
        """
        first = self._pending[0]
        if first.kind not in _NEEDS_MODEL or first.owner != self._last_owner:
            return first
        for job in self._pending:
            if job.kind not in _NEEDS_MODEL:
                break
            if job.owner != self._last_owner:
                return job
        return first

    def _start_host(self) -> None:
        generation = next(self._generations)
        try:
            transport = self._factory()
            # Known before start(): a transport may report its first event from inside it.
            self._host = _Host(transport, generation, time.perf_counter())
            self._state = "starting"
            transport.start(
                lambda event: self._on_event(generation, event),
                lambda info: self._on_exit(generation, info),
            )
        except Exception as exc:  # e.g. no more processes or file descriptors
            log.exception("could not start the engine")
            self._host = None
            self._state = "crashed"
            raise EngineUnavailable(f"{type(exc).__name__}: {exc}") from exc

    # -- events from the host ----------------------------------------------------------

    def _on_event(self, generation: int, event: Event) -> None:
        with self._lock:
            host = self._host
            if host is None or host.generation != generation:
                return  # from a host we already replaced
            if isinstance(event, HostReady):
                host.ready = True
                self._build = event.build
                self._state = "ready"
                self.last_start_ms = (time.perf_counter() - host.spawned_at) * 1000.0
                self._ready.notify_all()
                listeners = list(self._listeners)
                job = None
            else:
                job = self._current
                if job is None or job.id != event.job_id:
                    log.debug("dropping stale event %r", event)
                    return
                if isinstance(event, ModelLoaded):
                    self._loaded = event.model
                    assert isinstance(job.command, LoadCommand)
                    self._last_load = job.command.options
                if isinstance(event, JobFinished):
                    self._job_done(job, event)
                listeners = list(self._listeners)
        # Listeners first: whoever waits on the job then finds them up to date.
        for listener in listeners:
            _notify(listener, event)
        if job is not None and not isinstance(event, HostReady):
            job._deliver(event)

    def _job_done(self, job: Job, event: JobFinished) -> None:
        """Bookkeeping when the current job ends. Called with the lock held."""
        self._current = None
        if self._escalated == job.id:
            self._escalated = None
        if job.kind == "unload" and event.ok:
            self._loaded = None
            self._last_load = None
        if job.kind == "load" and not event.ok:
            self._loaded = None
            self._last_load = None
            waiting = self._take_served(job)
            if waiting is not None:
                # The reload for the waiting job failed: that job cannot run either.
                self._defer_finish(waiting, JobFinished(waiting.id, "error", error=event.error))
        try:
            self._pump()
        except EngineUnavailable as error:
            waiting_jobs = list(self._pending)
            self._pending.clear()
            for waiting_job in waiting_jobs:
                self._defer_finish(waiting_job, JobFinished(waiting_job.id, "error", error=error))

    def _on_exit(self, generation: int, info: HostExit) -> None:
        failed: list[tuple[Job, JobFinished]] = []
        with self._lock:
            host = self._host
            if host is None or host.generation != generation:
                return
            self._host = None
            self._loaded = None
            self._build = None if not host.ready else self._build
            self._reload_needed = True
            self._state = "crashed"
            self._ready.notify_all()
            error: HearthError
            if host.ready:
                error = EngineCrashed(info.reason, info.log_tail)
            else:
                last = info.log_tail[-1] if info.log_tail else info.reason
                error = EngineUnavailable(f"{info.reason}: {last}")
            job, self._current = self._current, None
            if job is not None:
                if self._escalated == job.id:
                    self._escalated = None
                    note = {"note": "the engine did not stop in time and was restarted"}
                    failed.append((job, JobFinished(job.id, "cancelled", extra=note)))
                else:
                    failed.append((job, JobFinished(job.id, "crashed", error=error)))
                    waiting = self._take_served(job)
                    if waiting is not None:
                        failed.append((waiting, JobFinished(waiting.id, "crashed", error=error)))
                    if job.kind == "load":
                        self._last_load = None  # do not crash-loop on the same model
            if not host.ready:
                # A host that cannot even start will not start on the next try either.
                failed.extend((j, JobFinished(j.id, "error", error=error)) for j in self._pending)
                self._pending.clear()
            listeners = list(self._listeners)
        for job, finished in failed:
            self._finish(job, finished, listeners)
        self._pump_or_fail()

    def _pump_or_fail(self) -> None:
        """Pump from a background thread: a host that cannot start fails the waiting jobs."""
        with self._lock:
            try:
                self._pump()
                return
            except EngineUnavailable as error:
                waiting = list(self._pending)
                self._pending.clear()
                unavailable = error
        for job in waiting:
            self._finish(job, JobFinished(job.id, "error", error=unavailable))

    def _take_served(self, job: Job) -> Job | None:
        """The queued job an internal reload was for (if it is still waiting)."""
        if not job.internal:
            return None
        for waiting in self._pending:
            if waiting.id == job.serves:
                self._pending.remove(waiting)
                return waiting
        return None

    def _escalate(self, job_id: int, generation: int) -> None:
        with self._lock:
            host, job = self._host, self._current
            if host is None or host.generation != generation or job is None or job.id != job_id:
                return
            log.warning(
                "job %d ignored cancel for %.1f s; restarting the engine",
                job_id,
                self._cancel_grace_s,
            )
            self._escalated = job_id
            host.doomed = True
            host.transport.kill()

    def _defer_finish(self, job: Job, event: JobFinished) -> None:
        threading.Thread(target=self._finish, args=(job, event), daemon=True).start()

    def _finish(
        self, job: Job, event: JobFinished, listeners: list[Listener] | None = None
    ) -> None:
        if listeners is None:
            with self._lock:
                listeners = list(self._listeners)
        for listener in listeners:
            _notify(listener, event)
        job._deliver(event)


def collect_embeddings(job: Job, timeout: float | None = None) -> EmbeddingsReady:
    """Wait for an embed job's vectors; raises its error, or ``JobCancelled``."""
    result: EmbeddingsReady | None = None
    for event in job.events(timeout):
        if isinstance(event, EmbeddingsReady):
            result = event
        elif isinstance(event, JobFinished):
            if event.error is not None:
                raise event.error
            if result is None:
                raise JobCancelled()
    assert result is not None
    return result


def _notify(listener: Listener, event: Event) -> None:
    try:
        listener(event)
    except Exception:
        log.exception("engine event listener failed")
