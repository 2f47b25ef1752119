"""Remote OpenAI-compatible endpoints: the engine client over HTTP, and clear failures."""

from __future__ import annotations

import httpx
import pytest

from app.core.options import ChatMessage, ChatRequest, LoadOptions, SamplingOptions
from app.core.policy import Policy, PolicyViolation
from app.core.remote import (
    RemoteAuthFailed,
    RemoteError,
    RemoteHttp,
    RemoteModelMissing,
    RemoteTimeout,
    RemoteUnreachable,
    UnknownEndpoint,
    list_remote_models,
    resolve_target,
)
from app.core.settings import RemoteEndpointEntry, Settings
from app.engine.client import EngineClient, collect_embeddings
from app.engine.protocol import TextChunk
from app.engine.remote_transport import RemoteTransport
from tests.fakes.api_server import free_port, scripted_api_server
from tests.fakes.backend import Script

KEY = "a-remote-key-of-some-length"


def endpoint(url: str, **extra: object) -> RemoteEndpointEntry:
    return RemoteEndpointEntry(name="farm", base_url=url, **extra)  # type: ignore[arg-type]


def remote_engine(entry: RemoteEndpointEntry, key: str | None = None) -> EngineClient:
    return EngineClient(lambda: RemoteTransport(RemoteHttp(entry, None, key=key)))


def hello() -> ChatRequest:
    return ChatRequest((ChatMessage("user", "Hi"),), SamplingOptions(max_tokens=50))


def test_chat_streams_from_the_remote_model_through_the_same_engine_client():
    with scripted_api_server(api_key=KEY) as url:
        engine = remote_engine(endpoint(url), key=KEY)
        try:
            loaded = engine.load(LoadOptions("scripted")).wait(10)
            assert loaded.ok, loaded.error
            assert engine.loaded_model is not None
            assert engine.loaded_model.device == f"remote: {url}"
            job = engine.chat(hello())
            chunks = [e.text for e in job.events(timeout=10) if isinstance(e, TextChunk)]
            finished = job.wait(1)
            assert "".join(chunks) == finished.text == "Hello, world!"
            assert finished.stats is not None and finished.stats.completion_tokens == 4
            assert finished.stats.prompt_tokens > 0  # the server's usage came through
        finally:
            engine.shutdown()


def test_raw_completions_and_embeddings_go_to_their_endpoints():
    with scripted_api_server(Script(echo_prompt=True)) as url:
        engine = remote_engine(endpoint(url))
        try:
            assert engine.load(LoadOptions("scripted")).wait(10).ok
            raw = ChatRequest((), SamplingOptions(max_tokens=100), prompt="Once upon a")
            assert engine.chat(raw).wait(10).text == "Once upon a"
            vectors = collect_embeddings(engine.embed(["cats and dogs", "dogs and cats"]), 10)
            assert vectors.vectors[0] == pytest.approx(vectors.vectors[1])
        finally:
            engine.shutdown()


def test_cancel_stops_a_remote_stream():
    script = Script(pieces=tuple(b"w " for _ in range(400)), token_delay_s=0.01)
    with scripted_api_server(script) as url:
        engine = remote_engine(endpoint(url))
        try:
            assert engine.load(LoadOptions("scripted")).wait(10).ok
            job = engine.chat(ChatRequest((ChatMessage("user", "go"),), SamplingOptions()))
            for event in job.events(timeout=10):
                if isinstance(event, TextChunk):
                    job.cancel()
                    break
            finished = job.wait(5)
            assert finished.finish_reason == "cancelled"
            assert len(finished.text) < 400 * 2
        finally:
            engine.shutdown()


def test_a_wrong_key_is_a_clear_error():
    with scripted_api_server(api_key=KEY) as url:
        engine = remote_engine(endpoint(url), key="not-the-key")
        try:
            error = engine.load(LoadOptions("scripted")).wait(10).error
            assert isinstance(error, RemoteAuthFailed)
            assert "refused the API key" in error.user_text()
        finally:
            engine.shutdown()


def test_a_model_the_server_does_not_have_names_what_it_has():
    with scripted_api_server() as url:
        engine = remote_engine(endpoint(url))
        try:
            error = engine.load(LoadOptions("llama-70b")).wait(10).error
            assert isinstance(error, RemoteModelMissing)
            assert "llama-70b" in error.message and "scripted" in error.hint
        finally:
            engine.shutdown()


def test_an_unreachable_server_is_a_clear_error():
    engine = remote_engine(endpoint(f"http://127.0.0.1:{free_port()}/v1"))
    try:
        error = engine.load(LoadOptions("any")).wait(20).error
        assert isinstance(error, RemoteUnreachable)
        assert "Cannot reach the server" in error.user_text()
    finally:
        engine.shutdown()


def test_a_server_that_stops_answering_times_out_clearly():
    script = Script(pieces=(b"late",), token_delay_s=2.0)
    with scripted_api_server(script) as url:
        engine = remote_engine(endpoint(url, timeout_s=0.5))
        try:
            assert engine.load(LoadOptions("scripted")).wait(10).ok
            error = engine.chat(hello()).wait(10).error
            assert isinstance(error, RemoteTimeout)
        finally:
            engine.shutdown()


def test_references_pick_the_endpoint_and_model_and_respect_the_policy():
    farm = endpoint("http://gpu-farm:8000/v1", default_model="llama-3-70b")
    settings = Settings(remotes=[farm])
    target, _ = resolve_target("remote:farm", settings, Policy())
    assert (target.model, target.id) == ("llama-3-70b", "remote:farm/llama-3-70b")
    target, _ = resolve_target("remote:farm/mixtral", settings, Policy())
    assert target.model == "mixtral"
    target, _ = resolve_target("remote:llama-3-70b", settings, Policy())
    assert target.endpoint.name == "farm"
    with pytest.raises(UnknownEndpoint):
        resolve_target("remote:elsewhere/x", settings, Policy())
    with pytest.raises(PolicyViolation):
        resolve_target("remote:farm", settings, Policy(remote_enabled=False))
    only_other = Policy(remote_endpoints=("http://gateway.corp",))
    with pytest.raises(PolicyViolation):
        resolve_target("remote:farm", settings, only_other)


def test_listing_reports_each_endpoint_s_models_or_why_not():
    with scripted_api_server() as url:
        down = RemoteEndpointEntry(name="down", base_url=f"http://127.0.0.1:{free_port()}")
        settings = Settings(remotes=[endpoint(url), down])
        listings = list_remote_models(settings, Policy(), None)
    assert [(x.id, bool(x.error)) for x in listings] == [
        ("remote:farm/scripted", False),
        ("remote:down", True),
    ]


def test_a_stream_the_server_cuts_short_is_an_error_that_keeps_the_text():
    body = (
        'data: {"choices": [{"index": 0, "delta": {"content": "Half an"}}]}\n\n'
        'data: {"choices": [{"index": 0, "delta": {"content": " answer"}}]}\n\n'
    )  # and then the connection ends: no finish_reason, no [DONE]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    transport = httpx.MockTransport(handler)
    entry = endpoint("http://cut.example/v1")
    engine = EngineClient(lambda: RemoteTransport(RemoteHttp(entry, None, transport=transport)))
    try:
        assert engine.load(LoadOptions("m")).wait(10).ok
        finished = engine.chat(hello()).wait(10)
        assert finished.finish_reason == "error"
        assert finished.text == "Half an answer"
        assert "before it was complete" in finished.error.user_text()
    finally:
        engine.shutdown()


def test_classification_on_a_remote_model_asks_for_answers_instead_of_scores():
    from app.tasks.classify import Classifier, Label, LabelSet
    from app.tasks.scoring import GenerationScorer, scorer_for

    fruit = LabelSet((Label("apple"), Label("banana"), Label("cherry")))
    with scripted_api_server(Script(pieces=(b"Banana",))) as url:
        engine = remote_engine(endpoint(url))
        try:
            assert engine.load(LoadOptions("scripted")).wait(10).ok
            scorer = scorer_for(engine)
            assert isinstance(scorer, GenerationScorer)  # no log-probabilities remotely
            results = Classifier(scorer, fruit).run(["a long yellow fruit", "", "another"])
            assert [r.label for r in results] == ["banana", "", "banana"]
            assert [r.confidence for r in results] == [None, None, None]
        finally:
            engine.shutdown()


def test_a_server_with_an_odd_model_list_does_not_hide_the_other_endpoints():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": None})

    odd = RemoteHttp(
        endpoint("http://odd.example/v1"), None, transport=httpx.MockTransport(handler)
    )
    with pytest.raises(RemoteError, match="did not list its models"):
        odd.list_models()
