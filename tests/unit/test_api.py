"""The OpenAI-compatible API over a scripted engine: shapes, streaming and defences."""

from __future__ import annotations

import functools
import json

import pytest
from fastapi.testclient import TestClient

from app.api.server import ApiConfig, create_app
from app.core.options import LoadOptions
from app.engine.client import EngineClient
from app.engine.thread_transport import ThreadTransport
from tests.fakes.backend import Script, ScriptedBackend

BASE = "http://127.0.0.1:8080"


def make(script: Script | None = None, **config: object):
    factory = functools.partial(ScriptedBackend, script or Script())
    engine = EngineClient(lambda: ThreadTransport(factory), max_queue=int(config.pop("queue", 64)))
    assert engine.load(LoadOptions("/fake.gguf")).wait(5).ok
    app = create_app(engine, ApiConfig(model_id="scripted", **config))  # type: ignore[arg-type]
    return engine, TestClient(app, base_url=BASE)


@pytest.fixture
def api():
    engine, client = make()
    yield client
    engine.shutdown()


def chat_body(**extra: object) -> dict[str, object]:
    return {"model": "scripted", "messages": [{"role": "user", "content": "Hi"}], **extra}


def test_health_and_models(api):
    assert api.get("/health").json() == {"status": "ok", "model": "scripted", "queue": 0}
    models = api.get("/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["id"] == "scripted"


def test_chat_completion_has_openai_shape_and_usage(api):
    response = api.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion" and data["id"].startswith("chatcmpl-")
    choice = data["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Hello, world!"}
    assert choice["finish_reason"] == "stop"
    assert data["usage"]["completion_tokens"] == 4
    assert data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + 4


def test_streaming_sends_chunks_then_done(api):
    with api.stream("POST", "/v1/chat/completions", json=chat_body(stream=True)) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Hello, world!"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_max_tokens_is_capped_and_reported_as_length():
    engine, client = make(Script(pieces=tuple(b"w " for _ in range(50))), max_tokens_cap=5)
    try:
        data = client.post("/v1/chat/completions", json=chat_body(max_tokens=1000)).json()
        assert data["usage"]["completion_tokens"] == 5
        assert data["choices"][0]["finish_reason"] == "length"
    finally:
        engine.shutdown()


def test_a_foreign_host_header_is_refused(api):
    response = api.post(
        "/v1/chat/completions", json=chat_body(), headers={"host": "evil.example:8080"}
    )
    assert response.status_code == 400
    assert "not allowed" in response.json()["error"]["message"]


def test_the_api_key_is_required_when_set():
    engine, client = make(api_key="s3cret")
    try:
        assert client.get("/v1/models").status_code == 401
        wrong = client.get("/v1/models", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
        ok = client.get("/v1/models", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert client.get("/health").status_code == 200  # for load balancers and monitors
    finally:
        engine.shutdown()


def test_bodies_over_the_cap_are_refused(api):
    huge = chat_body(messages=[{"role": "user", "content": "x" * 3_000_000}])
    response = api.post("/v1/chat/completions", json=huge)
    assert response.status_code == 413


def test_invalid_requests_get_openai_errors(api):
    response = api.post("/v1/chat/completions", json={"messages": []})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    unknown = api.post("/v1/chat/completions", json=chat_body(model="gpt-9"))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"


def test_context_overflow_is_a_400_with_its_code():
    engine, client = make(Script(context_length=64))
    try:
        body = chat_body(messages=[{"role": "user", "content": "x" * 500}])
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "context_length_exceeded"
    finally:
        engine.shutdown()


def test_a_full_queue_answers_429_with_retry_after():
    script = Script(pieces=tuple(b"w " for _ in range(200)), token_delay_s=0.01)
    engine, client = make(script, queue=1)
    try:
        engine.chat(engine_request())  # running
        engine.chat(engine_request())  # waiting: the queue (of one) is full
        response = client.post("/v1/chat/completions", json=chat_body())
        assert response.status_code == 429 and response.headers["retry-after"] == "2"
    finally:
        engine.shutdown()


def engine_request():
    from app.core.options import ChatMessage, ChatRequest

    return ChatRequest((ChatMessage("user", "busy"),))


def test_metrics_count_requests_and_tokens(api):
    api.post("/v1/chat/completions", json=chat_body())
    api.post("/v1/chat/completions", json={"messages": []})
    text = api.get("/metrics").text
    assert 'hearth_requests_total{path="/v1/chat/completions",status="200"} 1' in text
    assert 'hearth_requests_total{path="/v1/chat/completions",status="400"} 1' in text
    assert 'hearth_tokens_total{kind="completion"} 4' in text
    assert "hearth_request_seconds_count 2" in text
    assert "hearth_queue_depth 0" in text


def test_no_cors_headers_unless_origins_are_configured(api):
    headers = {"origin": "https://intranet.example"}
    assert "access-control-allow-origin" not in api.get("/v1/models", headers=headers).headers
    engine, client = make(cors_origins=("https://intranet.example",))
    try:
        allowed = client.get("/v1/models", headers=headers)
        assert allowed.headers["access-control-allow-origin"] == "https://intranet.example"
        other = client.get("/v1/models", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    finally:
        engine.shutdown()
