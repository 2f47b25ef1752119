"""The OpenAI-compatible API over a scripted engine: shapes, streaming and defences."""

from __future__ import annotations

import base64
import functools
import json
import struct

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
        # Streamed too: the failure comes before any text, so it is an HTTP error.
        streamed = client.post("/v1/chat/completions", json={**body, "stream": True})
        assert streamed.status_code == 400
        assert streamed.json()["error"]["code"] == "context_length_exceeded"
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


def test_text_completion_uses_the_raw_prompt_and_has_openai_shape():
    engine, client = make(Script(echo_prompt=True))
    try:
        body = {"model": "scripted", "prompt": "Once upon a", "max_tokens": 100}
        data = client.post("/v1/completions", json=body).json()
        assert data["object"] == "text_completion" and data["id"].startswith("cmpl-")
        assert data["choices"][0]["text"] == "Once upon a"  # no chat template around it
        assert data["choices"][0]["finish_reason"] == "stop"
        echoed = client.post("/v1/completions", json={**body, "echo": True}).json()
        assert echoed["choices"][0]["text"] == "Once upon aOnce upon a"
    finally:
        engine.shutdown()


def test_streamed_text_completion_and_usage_at_the_end(api):
    body = {"prompt": "Hi", "stream": True, "stream_options": {"include_usage": True}}
    with api.stream("POST", "/v1/completions", json=body) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "Hello, world!"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4


def test_several_prompts_in_one_request_are_refused_clearly(api):
    response = api.post("/v1/completions", json={"prompt": ["a", "b"]})
    assert response.status_code == 400
    assert "one prompt" in response.json()["error"]["message"]


def test_embeddings_in_float_and_base64_agree(api):
    body = {"model": "scripted", "input": ["cats and dogs", "dogs and cats"]}
    data = api.post("/v1/embeddings", json=body).json()
    assert data["object"] == "list" and [d["index"] for d in data["data"]] == [0, 1]
    first = data["data"][0]["embedding"]
    assert first == pytest.approx(data["data"][1]["embedding"])
    assert data["usage"]["prompt_tokens"] == 26
    packed = api.post("/v1/embeddings", json={**body, "encoding_format": "base64"}).json()
    raw = base64.b64decode(packed["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == pytest.approx(first, abs=1e-6)


def test_a_model_that_cannot_embed_gets_a_400():
    engine, client = make(Script(can_embed=False))
    try:
        response = client.post("/v1/embeddings", json={"input": "x"})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "model_not_supported"
    finally:
        engine.shutdown()


def test_a_request_for_another_model_is_a_404_with_openai_code(api):
    response = api.post("/v1/chat/completions", json=chat_body(model="gpt-4o"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_the_window_server_follows_the_window_model_and_logs_requests():
    current: list[str | None] = [None]
    seen: list[tuple[str, int]] = []
    engine, client = make(
        current_model=lambda: current[0], on_request=lambda r: seen.append((r.path, r.status))
    )
    try:
        assert client.get("/v1/models").json()["data"] == []
        refused = client.post("/v1/chat/completions", json=chat_body(model=""))
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "no_model"
        current[0] = "picked-in-window"
        assert client.get("/v1/models").json()["data"][0]["id"] == "picked-in-window"
        answer = client.post("/v1/chat/completions", json=chat_body(model="picked-in-window"))
        assert answer.json()["model"] == "picked-in-window"
        assert seen == [
            ("/v1/models", 200),
            ("/v1/chat/completions", 503),
            ("/v1/models", 200),
            ("/v1/chat/completions", 200),
        ]
    finally:
        engine.shutdown()


def test_the_api_share_of_the_queue_is_capped_but_the_window_still_gets_in():
    script = Script(pieces=tuple(b"w " for _ in range(200)), token_delay_s=0.01)
    engine, client = make(script, max_queue=1)
    try:
        engine.chat(engine_request(), owner="api")  # running
        engine.chat(engine_request(), owner="api")  # the API's one waiting place
        response = client.post("/v1/chat/completions", json=chat_body())
        assert response.status_code == 429
        assert response.json()["error"]["type"] == "rate_limit_error"
        assert engine.chat(engine_request()).id  # the window's job is still accepted
    finally:
        engine.shutdown()


def test_llama_cpp_sampling_extensions_are_honoured():
    engine, client = make(Script(echo_prompt=True))
    seen = []
    original = engine.chat

    def spy(request, **kwargs):
        seen.append(request.sampling)
        return original(request, **kwargs)

    engine.chat = spy  # type: ignore[method-assign]
    try:
        body = chat_body(top_k=5, min_p=0.2, repeat_penalty=1.0)
        assert client.post("/v1/chat/completions", json=body).status_code == 200
        assert (seen[0].top_k, seen[0].min_p, seen[0].repeat_penalty) == (5, 0.2, 1.0)
    finally:
        engine.shutdown()


def test_a_cors_preflight_is_answered_only_for_configured_origins(api):
    preflight = {
        "origin": "https://intranet.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }
    refused = api.options("/v1/chat/completions", headers=preflight)
    assert "access-control-allow-origin" not in refused.headers
    engine, client = make(cors_origins=("https://intranet.example",), api_key="k" * 20)
    try:
        allowed = client.options("/v1/chat/completions", headers=preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://intranet.example"
        assert "POST" in allowed.headers["access-control-allow-methods"]
        evil = client.options(
            "/v1/chat/completions", headers={**preflight, "origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in evil.headers
    finally:
        engine.shutdown()


def test_max_tokens_beyond_the_context_stops_at_the_context_with_length():
    # 64-token context; the prompt takes most of it; 4,000 tokens asked for.
    script = Script(pieces=tuple(b"w" for _ in range(500)), context_length=64)
    engine, client = make(script)
    try:
        body = {"prompt": "x" * 40, "max_tokens": 4000}
        data = client.post("/v1/completions", json=body).json()
        assert data["choices"][0]["finish_reason"] == "length"
        assert data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"] <= 64
    finally:
        engine.shutdown()


def test_after_an_engine_crash_the_next_request_reloads_the_model(tmp_path):
    from app.engine.process_transport import ProcessTransport

    factory = functools.partial(ScriptedBackend, Script(crash_after=2))
    engine = EngineClient(lambda: ProcessTransport(factory, tmp_path / "engine.log"))
    try:
        assert engine.load(LoadOptions("/fake.gguf")).wait(30).ok
        client = TestClient(create_app(engine, ApiConfig(model_id="scripted")), base_url=BASE)
        crashed = client.post("/v1/chat/completions", json=chat_body())
        assert crashed.status_code == 503
        assert client.get("/health").json()["status"] == "ok"  # still served
        # The scripted engine crashes again after two tokens, but the request reached
        # a fresh engine with the model reloaded (not a 503 "no model").
        again = client.post("/v1/chat/completions", json=chat_body())
        assert again.json()["error"]["code"] != "no_model"
    finally:
        engine.shutdown()


def test_unknown_paths_cannot_add_metric_series_or_break_the_page(api):
    for n in range(20):
        api.get(f"/rand{n}")
    api.get("/x%22%7D%201%0Ahearth_queue_depth%2099999")
    page = api.get("/metrics").text
    assert page.count('path="other"') == 1
    assert "99999" not in page


def test_a_shut_down_engine_is_an_openai_error_not_a_bare_500():
    engine, client = make()
    engine.shutdown()
    response = client.post("/v1/chat/completions", json=chat_body())
    assert response.status_code in (500, 503)
    assert "error" in response.json() and response.json()["error"]["message"]
