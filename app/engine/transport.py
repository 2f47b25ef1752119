"""How the client reaches a host: a child process or a thread, behind one interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from app.engine.protocol import Command, Event


@dataclass(frozen=True)
class HostExit:
    """Why a host stopped when nobody asked it to."""

    reason: str
    log_tail: tuple[str, ...] = ()


EventSink = Callable[[Event], None]
ExitSink = Callable[[HostExit], None]


class Transport(Protocol):
    def start(self, on_event: EventSink, on_exit: ExitSink) -> None:
        """Start the host. Events and an unexpected exit arrive on a background thread."""
        ...

    def send(self, command: Command) -> None: ...

    def request_cancel(self, job_id: int) -> None:
        """Set the flag the host checks between tokens; never queued behind work."""
        ...

    def kill(self) -> None:
        """Stop the host now, whatever it is doing (reported through ``on_exit``)."""
        ...

    def close(self, timeout: float) -> None:
        """Ask the host to finish and wait for it; no ``on_exit`` report."""
        ...

    @property
    def pid(self) -> int | None: ...


TransportFactory = Callable[[], Transport]
