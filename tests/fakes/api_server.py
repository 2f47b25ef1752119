"""Hearth's own API on a real socket, over a scripted engine: a stand-in remote server."""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from app.api.server import ApiConfig, create_app
from app.core.options import LoadOptions
from app.engine.client import EngineClient
from app.engine.thread_transport import ThreadTransport
from tests.fakes.backend import Script, ScriptedBackend


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def scripted_api_server(
    script: Script | None = None, model_id: str = "scripted", api_key: str | None = None
) -> Iterator[str]:
    """Serve the scripted model at ``http://127.0.0.1:PORT/v1`` while the block runs."""
    with scripted_api(script, model_id, api_key) as (url, _engine):
        yield url


@contextmanager
def scripted_api(
    script: Script | None = None, model_id: str = "scripted", api_key: str | None = None
) -> Iterator[tuple[str, EngineClient]]:
    """The same, also handing over the engine behind the server."""
    factory = functools.partial(ScriptedBackend, script or Script())
    engine = EngineClient(lambda: ThreadTransport(factory))
    assert engine.load(LoadOptions("/fake.gguf")).wait(5).ok
    app = create_app(engine, ApiConfig(model_id=model_id, api_key=api_key))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the stand-in server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1", engine
    finally:
        server.should_exit = True
        thread.join(10)
        engine.shutdown()
