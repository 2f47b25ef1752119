"""A client that goes away cancels its generation; a chunked body is capped as it comes."""

from __future__ import annotations

import json
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest

from app.engine.protocol import JobFinished
from tests.fakes.api_server import scripted_api
from tests.fakes.backend import Script

SLOW = Script(pieces=tuple(b"w " for _ in range(400)), token_delay_s=0.02)  # 8 s in all


def send_then_leave(url: str, body: dict[str, object], after_s: float) -> None:
    parts = urlsplit(url)
    payload = json.dumps(body).encode()
    with socket.create_connection((parts.hostname, parts.port)) as conn:
        conn.sendall(
            f"POST {parts.path}/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        time.sleep(after_s)


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_disconnects_cancels_its_generation(stream: bool):
    with scripted_api(SLOW) as (url, engine):
        ended: list[JobFinished] = []
        done = threading.Event()

        def listen(event: object) -> None:
            if isinstance(event, JobFinished):
                ended.append(event)
                done.set()

        engine.add_listener(listen)
        body = {"messages": [{"role": "user", "content": "go"}], "stream": stream}
        send_then_leave(url, body, after_s=0.5)
        assert done.wait(3), "the generation kept running after the client left"
        assert ended[0].finish_reason == "cancelled"


def test_a_chunked_body_over_the_cap_is_refused_as_it_arrives():
    with scripted_api() as (url, _engine):

        def chunks():
            for _ in range(40):
                yield b" " * 100_000  # 4 MB in all, with no Content-Length

        response = httpx.post(
            f"{url}/chat/completions",
            content=chunks(),
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 413
