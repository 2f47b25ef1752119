"""The window's built-in OpenAI-compatible server: uvicorn on a background thread.

It serves the window's own engine (API jobs take turns with the window's in the
engine queue) and the model the window has loaded. The socket is bound before the
server thread starts, so "port in use" or "permission denied" is reported at once.
Everything that may block (the keyring, binding, host name lookups, waiting for the
previous server to stop) runs off the GUI thread; requests reach the request log
through a queued signal. Off by default, loopback by default; the local network only
with an API key.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal, Slot

from app.api.metrics import RequestRecord
from app.api.server import LOOPBACK_HOSTS, ApiConfig, create_app
from app.core.errors import HearthError
from app.core.network import network_names
from app.core.policy import Policy, require_api
from app.core.secrets import SecretStore
from app.core.settings import ApiServer as ApiSettings
from app.engine.client import EngineClient
from app.ui.background import run_in_background

log = logging.getLogger(__name__)

API_KEY_SECRET = "api-server-key"
"""The keyring name of the built-in server's API key."""
LOG_LIMIT = 1000
"""Requests kept for the request log."""
STOP_WAIT_S = 3.0
MIN_KEY_LENGTH = 16


class ServerRefused(HearthError):
    """The server cannot start with these settings."""


@dataclass(frozen=True)
class _Running:
    server: object  # uvicorn.Server
    thread: threading.Thread
    address: str


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket, or a ServerRefused that says why not, in words."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if os.name != "nt":  # on Windows it would let another program share the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServerRefused(
                f"Port {port} is already in use by another program.",
                "Choose another port in Settings > Server, or stop the other program.",
            ) from exc
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise ServerRefused(
                f"Hearth may not listen on port {port} (permission denied).",
                "Ports below 1024 need administrator rights: choose a port above 1024.",
            ) from exc
        raise ServerRefused(f"Cannot listen on {host}:{port} ({exc.strerror or exc}).") from exc
    sock.setblocking(False)
    return sock


class ApiServerController(QObject):
    """Starts, stops and restarts the built-in server as its settings change."""

    stateChanged = Signal(str, str)  # state: off | starting | running | error, text
    requestLogged = Signal(object)  # RequestRecord
    _recorded = Signal(object)

    def __init__(
        self,
        engine: EngineClient,
        current_model: Callable[[], str | None],
        policy: Policy,
        secrets: SecretStore | None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.current_model = current_model
        self.policy = policy
        self.secrets = secrets
        self.records: deque[RequestRecord] = deque(maxlen=LOG_LIMIT)
        self.state = "off"
        self.text = "API: off"
        self.address = ""
        self.detail = ""
        self._settings: ApiSettings | None = None
        self._running: _Running | None = None
        self._stopping: threading.Thread | None = None
        self._generation = 0
        self._closed = False
        self._start_lock = threading.Lock()
        """One start at a time: a superseded one has stopped before the next binds."""
        self._recorded.connect(self._on_recorded, Qt.ConnectionType.QueuedConnection)

    # -- GUI thread ----------------------------------------------------------------------

    def apply(self, settings: ApiSettings, force: bool = False) -> None:
        """Start, restart or stop the server so that it matches ``settings`` (``force``:
        restart even so, say for a new key)."""
        if not force and settings == self._settings and self.state in ("running", "starting"):
            return
        self._settings = settings
        self.restart()

    def restart(self) -> None:
        settings = self._settings
        self._stop_server()
        if settings is None or not settings.enabled or self._closed:
            self._set_state("off", "API: off")
            return
        try:
            require_api(self.policy)
        except HearthError as error:
            self._set_state("error", "API: disabled by your organization", error.user_text())
            return
        self._generation += 1
        generation = self._generation
        self._set_state("starting", "API: starting…")
        previous = self._stopping
        secrets = self.secrets

        def work() -> _Running:
            with self._start_lock:
                if previous is not None:
                    previous.join(STOP_WAIT_S)  # its port must be free before we bind
                key = secrets.get(API_KEY_SECRET) if secrets is not None else None
                running = self._start(settings, key)
                if generation != self._generation or self._closed:
                    _stop(running).join(STOP_WAIT_S)  # stopped or closed while it started
                return running

        def done(running: _Running | None, error: BaseException | None) -> None:
            if generation != self._generation or self._closed:
                if running is not None:
                    self._stopping = _stop(running)
                return
            if error is not None:
                text = error.user_text() if isinstance(error, HearthError) else str(error)
                log.warning("the API server did not start: %s", text)
                self._set_state("error", "API: not running", text)
                return
            assert running is not None
            self._running = running
            self.address = running.address
            self._set_state("running", f"API: {running.address}")

        run_in_background(work, done, self)

    def stop(self) -> None:
        self._settings = None
        self._stop_server()
        self._set_state("off", "API: off")

    def shutdown(self) -> None:
        """On quit: stop the server, waiting a little (the thread is a daemon)."""
        self._closed = True
        self._stop_server(force=True)
        stopping = self._stopping
        if stopping is not None:
            stopping.join(STOP_WAIT_S)

    def _stop_server(self, force: bool = False) -> None:
        self._generation += 1  # a start still in flight is stopped when it lands
        running, self._running = self._running, None
        self.address = ""
        if running is not None:
            self._stopping = _stop(running, force)

    def _set_state(self, state: str, text: str, detail: str = "") -> None:
        self.state = state
        self.text = text
        self.detail = detail
        self.stateChanged.emit(state, detail or text)

    @Slot(object)
    def _on_recorded(self, record: RequestRecord) -> None:
        self.records.append(record)
        self.requestLogged.emit(record)

    # -- background threads --------------------------------------------------------------

    def _start(self, settings: ApiSettings, key: str | None) -> _Running:
        import uvicorn

        hosts = set(LOOPBACK_HOSTS)
        if settings.allow_network:
            if not key:
                raise ServerRefused(
                    "Refusing to serve the local network without an API key: anyone on the "
                    "network could use the model.",
                    "Generate a key in Settings > Server, or serve this computer only.",
                )
            names, shown = network_names()
            hosts |= names
            bind_host = "0.0.0.0"  # asked for, and guarded by the key
        else:
            bind_host, shown = "127.0.0.1", "127.0.0.1"
        if key is not None and len(key) < MIN_KEY_LENGTH:
            raise ServerRefused(
                f"The API key must be at least {MIN_KEY_LENGTH} characters long.",
                "Use Generate key in Settings > Server.",
            )
        sock = bind_socket(bind_host, settings.port)
        try:
            config = ApiConfig(
                model_id="",
                api_key=key or None,
                allowed_hosts=frozenset(hosts),
                cors_origins=tuple(settings.cors_origins),
                current_model=self.current_model,
                on_request=self._record,
            )
            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(self.engine, config),
                    log_config=None,  # Hearth's logging stays as it is
                    access_log=False,  # the request log has them
                    lifespan="off",  # nothing to start; and a quick quit leaves no noise
                    timeout_graceful_shutdown=2,
                    log_level="warning",
                )
            )
        except BaseException:
            sock.close()
            raise
        thread = threading.Thread(
            target=_serve, args=(server, sock), name="hearth-api-server", daemon=True
        )
        thread.start()
        return _Running(server, thread, f"http://{shown}:{settings.port}/v1")

    def _record(self, record: RequestRecord) -> None:
        # On the server's thread: only a queued signal crosses to the GUI.
        with contextlib.suppress(RuntimeError):  # the window closed meanwhile
            self._recorded.emit(record)


def _serve(server, sock: socket.socket) -> None:
    try:
        server.run(sockets=[sock])
    except BaseException:
        log.exception("the API server stopped with an error")
    finally:
        sock.close()


def _stop(running: _Running, force: bool = False) -> threading.Thread:
    """Ask the server to stop; returns its thread (never joined on the GUI thread long).

    ``force`` (on quit): do not give open requests their grace time; cancelling them
    cancels their generations."""
    running.server.should_exit = True  # type: ignore[attr-defined]
    if force:
        running.server.force_exit = True  # type: ignore[attr-defined]
    return running.thread
