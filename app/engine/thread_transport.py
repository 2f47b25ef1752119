"""The host on a thread of this process: for tests and debugging (no crash isolation)."""

from __future__ import annotations

import logging
import os
import queue
import threading

from app.engine.backend import BackendFactory
from app.engine.host import EngineHost
from app.engine.protocol import Command, Event, ShutdownCommand
from app.engine.transport import EventSink, ExitSink, HostExit

log = logging.getLogger(__name__)


class _ThreadCancelFlag:
    def __init__(self) -> None:
        self.job_id = -1  # a single int store is atomic under the GIL

    def is_cancelled(self, job_id: int) -> bool:
        return self.job_id == job_id


class _QueueChannel:
    def __init__(self, commands: queue.Queue[Command | None], on_event: EventSink) -> None:
        self._commands = commands
        self._on_event = on_event

    def receive(self) -> Command | None:
        return self._commands.get()

    def emit(self, event: Event) -> None:
        self._on_event(event)


class ThreadTransport:
    def __init__(self, backend_factory: BackendFactory) -> None:
        self._factory = backend_factory
        self._commands: queue.Queue[Command | None] = queue.Queue()
        self._cancel = _ThreadCancelFlag()
        self._thread: threading.Thread | None = None
        self._closing = False

    def start(self, on_event: EventSink, on_exit: ExitSink) -> None:
        host = EngineHost(self._factory, _QueueChannel(self._commands, on_event), self._cancel)

        def run() -> None:
            try:
                host.run()
            except BaseException as exc:
                log.exception("in-process engine host died")
                if not self._closing:
                    on_exit(HostExit(f"engine thread failed: {type(exc).__name__}: {exc}"))

        self._thread = threading.Thread(target=run, name="hearth-engine-host", daemon=True)
        self._thread.start()

    def send(self, command: Command) -> None:
        self._commands.put(command)

    def request_cancel(self, job_id: int) -> None:
        self._cancel.job_id = job_id

    def kill(self) -> None:
        # A thread cannot be killed; the escalation path only exists for processes.
        log.warning("kill requested for the in-process engine; ignored")

    def close(self, timeout: float) -> None:
        self._closing = True
        self._commands.put(ShutdownCommand())
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def pid(self) -> int | None:
        return os.getpid()
