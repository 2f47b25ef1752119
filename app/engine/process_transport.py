"""The host in a child process, so that a native crash cannot take the app down."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from pathlib import Path
from typing import Any

from app.engine.backend import BackendFactory
from app.engine.child import child_main
from app.engine.protocol import Command, ShutdownCommand
from app.engine.transport import EventSink, ExitSink, HostExit
from app.engine.wire import decode_event

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 12


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "stopped responding"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if name == "SIGKILL":
            return "killed by SIGKILL: out of memory, or stopped by another program"
        if name == "SIGSEGV":
            return "crashed with SIGSEGV (segmentation fault)"
        if name == "SIGABRT":
            return "aborted (SIGABRT)"
        return f"killed by {name}"
    return f"exited with code {exitcode}"


def read_log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> tuple[str, ...]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 16_384))
            data = handle.read()
    except OSError:
        return ()
    text = data.decode("utf-8", errors="replace")
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return tuple(kept[-lines:])


class ProcessTransport:
    def __init__(self, backend_factory: BackendFactory, log_path: Path) -> None:
        self._factory = backend_factory
        self._log_path = log_path
        self._process: Any = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._cancel: Any = None
        self._send_lock = threading.Lock()
        self._closing = False
        self._reader: threading.Thread | None = None

    def start(self, on_event: EventSink, on_exit: ExitSink) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        # Keep the previous engine's log: after a crash it says what happened.
        with contextlib.suppress(OSError):
            os.replace(self._log_path, self._log_path.with_name(self._log_path.name + ".1"))
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        self._cancel = ctx.RawValue("q", -1)
        self._process = ctx.Process(
            target=child_main,
            args=(child_conn, self._cancel, self._factory, str(self._log_path)),
            name="hearth-engine",
            daemon=True,
        )
        self._process.start()
        child_conn.close()
        self._conn = parent_conn
        self._reader = threading.Thread(
            target=self._read, args=(on_event, on_exit), name="hearth-engine-reader", daemon=True
        )
        self._reader.start()

    def _read(self, on_event: EventSink, on_exit: ExitSink) -> None:
        conn, process = self._conn, self._process
        assert conn is not None
        # Only the child holds the other end of the pipe, so its death (or exit) is an
        # EOF here: a plain blocking read needs no selector per message.
        while True:
            try:
                data = conn.recv_bytes()
            except (EOFError, OSError):
                break
            try:
                event = decode_event(data)
            except Exception:
                log.exception("undecodable message from the engine")
                process.kill()
                break
            on_event(event)
        process.join(5)
        if process.exitcode is None:
            process.kill()
            process.join(5)
        if not self._closing:
            exit_info = HostExit(describe_exit(process.exitcode), read_log_tail(self._log_path))
            log.warning("engine process %s: %s", process.pid, exit_info.reason)
            on_exit(exit_info)

    def send(self, command: Command) -> None:
        conn = self._conn
        if conn is None:
            return
        # A dead pipe is fine here: the reader thread reports the exit.
        with self._send_lock, contextlib.suppress(BrokenPipeError, OSError):
            conn.send(command)

    def request_cancel(self, job_id: int) -> None:
        if self._cancel is not None:
            self._cancel.value = job_id

    def kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()

    def close(self, timeout: float) -> None:
        self._closing = True
        if self._process is None:
            return
        self.send(ShutdownCommand())
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(5)
        if self._conn is not None:
            self._conn.close()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else int(self._process.pid)
