"""A transport driven by hand: the test plays the host, event by event."""

from __future__ import annotations

import threading

from app.engine.protocol import BuildInfo, Command, Event, HostReady
from app.engine.transport import EventSink, ExitSink, HostExit


class ManualTransport:
    def __init__(self, registry: list[ManualTransport]) -> None:
        self.sent: list[Command] = []
        self.cancelled: list[int] = []
        self.killed = False
        self.closed = False
        self._on_event: EventSink | None = None
        self._on_exit: ExitSink | None = None
        self._sent_cond = threading.Condition()
        registry.append(self)

    def start(self, on_event: EventSink, on_exit: ExitSink) -> None:
        self._on_event, self._on_exit = on_event, on_exit

    def send(self, command: Command) -> None:
        with self._sent_cond:
            self.sent.append(command)
            self._sent_cond.notify_all()

    def request_cancel(self, job_id: int) -> None:
        self.cancelled.append(job_id)

    def kill(self) -> None:
        self.killed = True

    def close(self, timeout: float) -> None:
        self.closed = True

    @property
    def pid(self) -> int | None:
        return 4242

    # -- driven by the test ---------------------------------------------------------------

    def ready(self) -> None:
        self.emit(HostReady(BuildInfo("manual", "1", False), 4242))

    def emit(self, event: Event) -> None:
        assert self._on_event is not None
        self._on_event(event)

    def exit(self, reason: str = "killed by SIGKILL", tail: tuple[str, ...] = ()) -> None:
        assert self._on_exit is not None
        self._on_exit(HostExit(reason, tail))
