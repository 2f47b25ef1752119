"""The engine host's jobs, through the real client on the in-process transport."""

from __future__ import annotations

import functools
import threading

import pytest

from app.core.errors import ContextOverflow, EmbeddingsUnsupported, ModelLoadError, NoModelLoaded
from app.core.options import ChatMessage, ChatRequest, LoadOptions, SamplingOptions
from app.engine.client import EngineClient, collect_embeddings
from app.engine.protocol import (
    JobFinished,
    LoadProgress,
    ModelLoaded,
    PromptEvaluated,
    TextChunk,
)
from app.engine.thread_transport import ThreadTransport
from tests.fakes.backend import Script, ScriptedBackend


def make_client(script: Script) -> EngineClient:
    factory = functools.partial(ScriptedBackend, script)
    return EngineClient(lambda: ThreadTransport(factory))


def ask(text: str = "hi", **sampling: object) -> ChatRequest:
    return ChatRequest((ChatMessage("user", text),), SamplingOptions(**sampling))  # type: ignore[arg-type]


@pytest.fixture
def engine():
    clients: list[EngineClient] = []

    def build(script: Script | None = None, load: bool = True) -> EngineClient:
        client = make_client(script or Script())
        clients.append(client)
        if load:
            assert client.load(LoadOptions("/fake.gguf")).wait(5).ok
        return client

    yield build
    for client in clients:
        client.shutdown()


def chunks(job) -> list[str]:
    return [e.text for e in job.events(timeout=5) if isinstance(e, TextChunk)]


def test_load_reports_progress_then_the_model(engine):
    client = engine(Script(load_steps=5), load=False)
    job = client.load(LoadOptions("/fake.gguf"))
    events = list(job.events(timeout=5))
    fractions = [e.fraction for e in events if isinstance(e, LoadProgress)]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 5
    loaded = [e for e in events if isinstance(e, ModelLoaded)]
    assert loaded[0].model.name == "scripted"
    assert events[-1] == JobFinished(job.id, "stop")
    assert client.loaded_model is not None and client.loaded_model.device == "CPU"


def test_a_failed_load_is_a_typed_error_and_leaves_no_model(engine):
    client = engine(Script(load_error="unknown model architecture: 'foo'"), load=False)
    finished = client.load(LoadOptions("/fake.gguf")).wait(5)
    assert finished.finish_reason == "error"
    assert isinstance(finished.error, ModelLoadError)
    assert "unknown model architecture" in str(finished.error)
    assert client.loaded_model is None


def test_chat_without_a_model_says_so(engine):
    client = engine(load=False)
    finished = client.chat(ask()).wait(5)
    assert isinstance(finished.error, NoModelLoaded)


def test_answer_streams_in_order_and_the_final_text_matches(engine):
    client = engine(Script(pieces=(b"The", b" answer", b" is", b" 42")))
    job = client.chat(ask())
    assert chunks(job) == ["The", " answer", " is", " 42"]
    finished = job.wait(5)
    assert finished.finish_reason == "stop"
    assert finished.text == "The answer is 42"
    assert finished.stats is not None and finished.stats.completion_tokens == 4


def test_characters_split_across_tokens_are_decoded_once_whole(engine):
    # "é" is two bytes and the emoji four; llama.cpp may cut them between tokens.
    pieces = (b"caf", b"\xc3", b"\xa9 ", b"\xf0\x9f", b"\x8d", b"\xb5")
    client = engine(Script(pieces=pieces))
    job = client.chat(ask())
    streamed = chunks(job)
    assert "".join(streamed) == "café 🍵"
    assert all("\ufffd" not in piece for piece in streamed)


def test_invalid_bytes_become_replacement_characters_not_errors(engine):
    client = engine(Script(pieces=(b"ok ", b"\xff", b" fine")))
    assert client.chat(ask()).wait(5).text == "ok \ufffd fine"


def test_stop_strings_end_the_answer_and_are_not_shown(engine):
    pieces = (b"Sure", b".", b" ##", b"#", b" END", b"never")
    client = engine(Script(pieces=pieces))
    job = client.chat(ask(stop=("### END",)))
    finished = job.wait(5)
    assert finished.text == "Sure. "
    assert finished.finish_reason == "stop"


def test_text_that_only_looks_like_a_stop_string_is_released(engine):
    client = engine(Script(pieces=(b"a #", b"## b")))
    finished = client.chat(ask(stop=("###!",))).wait(5)
    assert finished.text == "a ### b"


def test_max_tokens_cuts_the_answer_with_reason_length(engine):
    client = engine(Script(pieces=tuple(f"w{i} ".encode() for i in range(20))))
    finished = client.chat(ask(max_tokens=5)).wait(5)
    assert finished.finish_reason == "length"
    assert finished.stats is not None and finished.stats.completion_tokens == 5


def test_a_prompt_longer_than_the_context_is_refused_clearly(engine):
    client = engine(Script(context_length=64))
    finished = client.chat(ask("x" * 200)).wait(5)
    assert isinstance(finished.error, ContextOverflow)
    assert "too long" in str(finished.error)
    assert finished.error.context_length == 64
    # The engine is still usable.
    assert client.chat(ask("short")).wait(5).finish_reason == "stop"


def test_cancel_lands_within_one_token(engine):
    pieces = tuple(f"t{i} ".encode() for i in range(200))
    client = engine(Script(pieces=pieces, token_delay_s=0.005))
    job = client.chat(ask())
    received = 0
    after_cancel = 0
    cancelled = False
    for event in job.events(timeout=5):
        if isinstance(event, TextChunk):
            if cancelled:
                after_cancel += 1
            received += 1
            if received == 5 and not cancelled:
                job.cancel()
                cancelled = True
    finished = job.wait(5)
    assert finished.finish_reason == "cancelled"
    assert after_cancel <= 1
    assert finished.stats is not None and finished.stats.completion_tokens <= 6


def test_follow_up_turn_reports_the_reused_prefix(engine):
    client = engine()
    first = client.chat(ask("What is the capital of France?"))
    reply = first.wait(5).text
    history = (
        ChatMessage("user", "What is the capital of France?"),
        ChatMessage("assistant", reply),
        ChatMessage("user", "And of Italy?"),
    )
    second = client.chat(ChatRequest(history))
    evaluated = [e for e in second.events(timeout=5) if isinstance(e, PromptEvaluated)]
    assert evaluated[0].cached_tokens > 40
    assert evaluated[0].cached_tokens < evaluated[0].prompt_tokens


def test_a_chosen_seed_is_reported_and_a_random_one_is_recorded(engine):
    client = engine()
    assert client.chat(ask(seed=1234)).wait(5).stats.seed == 1234
    assert client.chat(ask()).wait(5).stats.seed > 0


def test_hostile_template_falls_back_with_a_warning_and_runs_nothing(engine, tmp_path):
    marker = tmp_path / "pwned"
    payload = (
        "{{ cycler.__init__.__globals__.os.system('touch " + str(marker) + "') }}"
        "{% for m in messages %}{{ m.content }}{% endfor %}"
    )
    client = engine(Script(chat_template=payload))
    job = client.chat(ask())
    warnings = [e.warning for e in job.events(timeout=5) if isinstance(e, PromptEvaluated)]
    assert job.wait(5).finish_reason == "stop"
    assert "unsafe" in warnings[0]
    assert not marker.exists()


def test_listeners_see_every_event_on_a_background_thread(engine):
    client = engine()
    seen: list[object] = []
    threads: set[str] = set()

    def listen(event: object) -> None:
        seen.append(event)
        threads.add(threading.current_thread().name)

    client.add_listener(listen)
    client.chat(ask()).wait(5)
    assert any(isinstance(e, TextChunk) for e in seen)
    assert isinstance(seen[-1], JobFinished)
    assert threading.main_thread().name not in threads


def test_a_cancel_before_the_first_token_reports_no_time_to_first_token(engine):
    client = engine(Script(pieces=(b"a",) * 50, token_delay_s=0.01))
    job = client.chat(ask())
    job.cancel()
    finished = job.wait(5)
    assert finished.finish_reason == "cancelled"
    assert finished.stats is not None and finished.stats.ttft_ms >= 0


def test_a_raw_prompt_reaches_the_model_as_it_is_without_the_chat_template(engine):
    client = engine(Script(echo_prompt=True))
    job = client.chat(ChatRequest((), SamplingOptions(max_tokens=200), prompt="Once upon a"))
    assert job.wait(5).text == "Once upon a"


def test_embeddings_come_back_in_order_one_vector_per_text(engine):
    client = engine()
    texts = ["cats and dogs", "the stock market", "dogs and cats"]
    result = collect_embeddings(client.embed(texts), timeout=5)
    assert len(result.vectors) == 3
    assert result.token_counts == tuple(len(t) for t in texts)
    same = sum(a * b for a, b in zip(result.vectors[0], result.vectors[2], strict=True))
    other = sum(a * b for a, b in zip(result.vectors[0], result.vectors[1], strict=True))
    assert same == pytest.approx(1.0) and other < 0.5


def test_embeddings_need_a_model_and_one_that_can_embed(engine):
    with pytest.raises(NoModelLoaded):
        collect_embeddings(engine(load=False).embed(["x"]), timeout=5)
    with pytest.raises(EmbeddingsUnsupported):
        collect_embeddings(engine(Script(can_embed=False)).embed(["x"]), timeout=5)
