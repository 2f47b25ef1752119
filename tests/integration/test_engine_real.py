"""The real engine process with the real starter model (SmolLM2-135M-Instruct Q4_1)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from app.core.errors import ContextOverflow, EngineCrashed, ModelLoadError
from app.core.options import ChatMessage, ChatRequest, LoadOptions, SamplingOptions
from app.engine.client import EngineClient
from app.engine.protocol import JobFinished, LoadProgress, ModelLoaded, PromptEvaluated, TextChunk
from tests.integration.conftest import copy_with_chat_template, engine_client

pytestmark = pytest.mark.integration

GREEDY = SamplingOptions(temperature=0.0, seed=7, max_tokens=48)


def user(text: str, sampling: SamplingOptions = GREEDY) -> ChatRequest:
    return ChatRequest((ChatMessage("user", text),), sampling)


def test_load_reports_progress_and_describes_the_model(tmp_path: Path, starter_path: Path):
    client = engine_client(tmp_path / "engine.log")
    try:
        job = client.load(LoadOptions(str(starter_path), context_length=2048))
        events = list(job.events(timeout=120))
    finally:
        client.shutdown()
    fractions = [e.fraction for e in events if isinstance(e, LoadProgress)]
    assert len(fractions) >= 3
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    model = next(e.model for e in events if isinstance(e, ModelLoaded))
    assert model.architecture == "llama"
    assert model.quantization == "Q4_1"
    assert model.context_length == 2048
    assert model.layers == 30
    assert model.device == "CPU" and model.gpu_layers == 0
    assert model.chat_template and "<|im_start|>" in model.chat_template
    assert isinstance(events[-1], JobFinished) and events[-1].ok


def test_an_answer_streams_token_by_token(engine: EngineClient):
    job = engine.chat(user("Translate to French: good morning"))
    chunks = [e.text for e in job.events(timeout=120) if isinstance(e, TextChunk)]
    finished = job.wait(1)
    assert finished.ok and finished.finish_reason in ("stop", "length")
    assert len(chunks) >= 3
    assert "".join(chunks) == finished.text
    assert finished.text.strip()
    stats = finished.stats
    assert stats is not None
    assert stats.prompt_tokens > 10
    assert stats.completion_tokens >= len([c for c in chunks if c])
    assert stats.ttft_ms > 0 and stats.tokens_per_s > 0


def test_the_same_seed_gives_the_same_answer(engine: EngineClient):
    sampling = SamplingOptions(temperature=0.8, seed=99, max_tokens=24)
    first = engine.chat(user("Name three colours.", sampling)).wait(120)
    second = engine.chat(user("Name three colours.", sampling)).wait(120)
    assert first.text == second.text and first.text


def test_cancel_mid_stream_stops_within_one_token(engine: EngineClient):
    job = engine.chat(user("Write a long story about a dragon.", SamplingOptions(max_tokens=400)))
    seen = 0
    at_cancel = None
    for event in job.events(timeout=120):
        if isinstance(event, TextChunk):
            seen += event.tokens
            if at_cancel is None and seen >= 5:
                at_cancel = seen
                job.cancel()
    finished = job.wait(1)
    assert finished.finish_reason == "cancelled"
    assert at_cancel is not None and finished.stats is not None
    # After the flag is set the host finishes only the token it is computing. Besides it,
    # the client may not have seen yet up to 15 ms of text batched for the pipe (one or
    # two tokens at this speed): anything more would mean the cancel did not land.
    assert finished.stats.completion_tokens <= at_cancel + 3
    assert finished.stats.completion_tokens < 40
    # The engine is ready for the next question at once.
    assert engine.chat(user("Say hi.")).wait(120).ok


def test_a_second_turn_evaluates_only_the_new_tokens(engine: EngineClient):
    question = "List five fruits. " + "Please be precise and helpful. " * 20
    first = engine.chat(user(question))
    first_eval = next(e for e in first.events(timeout=120) if isinstance(e, PromptEvaluated))
    reply = first.wait(1).text
    history = (
        ChatMessage("user", question),
        ChatMessage("assistant", reply),
        ChatMessage("user", "Now list two vegetables."),
    )
    second = engine.chat(ChatRequest(history, GREEDY))
    second_eval = next(e for e in second.events(timeout=120) if isinstance(e, PromptEvaluated))
    assert second.wait(1).ok
    assert second_eval.cached_tokens >= first_eval.prompt_tokens - 1
    new_tokens = second_eval.prompt_tokens - second_eval.cached_tokens
    assert new_tokens < 40 < second_eval.cached_tokens


def test_killing_the_engine_mid_answer_is_reported_and_the_next_request_works(
    engine: EngineClient,
):
    job = engine.chat(user("Write a long story about the sea.", SamplingOptions(max_tokens=400)))
    pid = engine.engine_pid
    assert pid is not None and pid != os.getpid()
    for event in job.events(timeout=120):
        if isinstance(event, TextChunk):
            os.kill(pid, signal.SIGKILL)
            break
    finished = job.wait(30)
    assert finished.finish_reason == "crashed"
    assert isinstance(finished.error, EngineCrashed)
    assert "SIGKILL" in finished.error.reason
    assert engine.loaded_model is None

    retry = engine.chat(user("Say hello."))
    assert retry.wait(120).ok, retry.wait(1).error
    assert retry.wait(1).text.strip()
    assert engine.engine_pid not in (None, pid)
    assert engine.loaded_model is not None  # the model was reloaded for the retry


def test_a_chat_template_with_a_code_execution_payload_runs_nothing(
    tmp_path: Path, starter_path: Path
):
    marker = tmp_path / "pwned"
    payload = (
        "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}"
        "{{ ''.__class__.__mro__[1].__subclasses__() }}"
        "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    )
    hostile = copy_with_chat_template(starter_path, tmp_path / "hostile.gguf", payload)
    client = engine_client(tmp_path / "engine.log")
    try:
        assert client.load(LoadOptions(str(hostile))).wait(120).ok
        job = client.chat(user("Say hello."))
        warnings = [e.warning for e in job.events(timeout=120) if isinstance(e, PromptEvaluated)]
        finished = job.wait(1)
    finally:
        client.shutdown()
    assert not marker.exists()
    assert finished.ok and finished.text.strip()  # the generic chat format still answers
    assert "unsafe" in warnings[0]


def test_a_prompt_beyond_the_context_is_a_clear_error(tmp_path: Path, starter_path: Path):
    client = engine_client(tmp_path / "engine.log")
    try:
        assert client.load(LoadOptions(str(starter_path), context_length=256)).wait(120).ok
        finished = client.chat(user("word " * 400)).wait(120)
        assert isinstance(finished.error, ContextOverflow)
        assert finished.error.context_length == 256
        assert finished.error.prompt_tokens > 256
        assert "too long" in str(finished.error)
        assert client.chat(user("Hi")).wait(120).ok
    finally:
        client.shutdown()


def test_an_answer_that_reaches_the_context_end_stops_with_length(
    tmp_path: Path, starter_path: Path
):
    client = engine_client(tmp_path / "engine.log")
    try:
        # llama.cpp rounds the context up to a multiple of 256; the model reports it.
        assert client.load(LoadOptions(str(starter_path), context_length=256)).wait(120).ok
        assert client.loaded_model is not None
        context = client.loaded_model.context_length
        sampling = SamplingOptions(temperature=0.0, max_tokens=2000)
        essay = user("Write a very long essay about the history of Rome.", sampling)
        finished = client.chat(essay).wait(120)
    finally:
        client.shutdown()
    assert finished.finish_reason == "length"
    assert finished.stats is not None
    assert finished.stats.prompt_tokens + finished.stats.completion_tokens == context


def test_a_broken_model_file_fails_to_load_with_the_reason(tmp_path: Path, starter_path: Path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(starter_path.read_bytes()[:5_000_000])
    client = engine_client(tmp_path / "engine.log")
    try:
        finished = client.load(LoadOptions(str(broken))).wait(120)
        assert isinstance(finished.error, ModelLoadError)
        assert "truncated" in str(finished.error)
        assert client.loaded_model is None
        # The same engine still loads a good model afterwards.
        assert client.load(LoadOptions(str(starter_path))).wait(120).ok
    finally:
        client.shutdown()


def test_a_quantized_kv_cache_loads_and_answers(tmp_path: Path, starter_path: Path):
    log = tmp_path / "engine.log"
    client = engine_client(log)
    try:
        options = LoadOptions(str(starter_path), kv_cache_type="q8_0", flash_attention=True)
        assert client.load(options).wait(120).ok
        assert client.chat(user("Say hi.")).wait(120).text.strip()
    finally:
        client.shutdown()
    assert "K (q8_0)" in log.read_text(errors="replace")
