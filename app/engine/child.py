"""Entry point of the engine child process (started with the ``spawn`` method)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from multiprocessing.connection import Connection
from typing import Any

from app.engine.backend import BackendFactory
from app.engine.host import EngineHost
from app.engine.protocol import Command, Event
from app.engine.wire import encode_event

SEND_INTERVAL_S = 0.015
"""Text crosses the pipe at most ~66 times a second (the window draws 50 times a second);
a token waits at most one token's time, which nobody can see, and each message saved
is ~60 us of engine time on a busy CPU. If the engine dies, at most this much text that
was already generated is lost with it."""


class _SharedCancelFlag:
    """A shared-memory int the parent writes directly; read between tokens."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def is_cancelled(self, job_id: int) -> bool:
        return bool(self._value.value == job_id)


class _PipeChannel:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def receive(self) -> Command | None:
        try:
            command: Command = self._conn.recv()
        except (EOFError, OSError):
            return None  # the client is gone: nothing left to serve
        return command

    def emit(self, event: Event) -> None:
        self._conn.send_bytes(encode_event(event))


def _redirect_output(log_path: str) -> None:
    # llama.cpp writes to the C-level stderr; send it, and Python's, to the engine log so
    # that a crash report can quote the last lines.
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)  # noqa: SIM115


def child_main(conn: Connection, cancel: Any, factory: BackendFactory, log_path: str) -> None:
    # Ctrl+C in a terminal reaches the whole process group; the parent decides what a
    # Ctrl+C means (cancel the job), so the engine ignores it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _redirect_output(log_path)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s engine %(levelname)s %(name)s: %(message)s",
    )
    host = EngineHost(
        factory, _PipeChannel(conn), _SharedCancelFlag(cancel), send_interval_s=SEND_INTERVAL_S
    )
    try:
        host.run()
    except (BrokenPipeError, EOFError, ConnectionResetError):
        pass  # the client went away mid-job
    finally:
        conn.close()
