"""The engine in a child process: crash isolation and recovery, with a scripted backend."""

from __future__ import annotations

import functools
import os
import signal
import time
from pathlib import Path

import pytest

from app.core.errors import EngineCrashed, EngineUnavailable
from app.core.options import ChatMessage, ChatRequest, LoadOptions
from app.engine.client import EngineClient
from app.engine.process_transport import ProcessTransport, describe_exit
from app.engine.protocol import TextChunk
from tests.fakes.backend import Script, ScriptedBackend

REQUEST = ChatRequest((ChatMessage("user", "hi"),))


def process_client(script: Script, log: Path, grace: float = 5.0) -> EngineClient:
    factory = functools.partial(ScriptedBackend, script)
    return EngineClient(lambda: ProcessTransport(factory, log), cancel_grace_s=grace)


def test_the_engine_runs_in_another_process(tmp_path):
    with process_client(Script(), tmp_path / "engine.log") as client:
        assert client.load(LoadOptions("/fake.gguf")).wait(30).ok
        assert client.chat(REQUEST).wait(30).text == "Hello, world!"
        assert client.engine_pid not in (None, os.getpid())


def test_a_crash_mid_answer_is_reported_and_the_next_request_works(tmp_path):
    log = tmp_path / "engine.log"
    pieces = tuple(f"w{i} ".encode() for i in range(10))
    # Tokens 25 ms apart (more than the 15 ms the engine may batch text): each is sent
    # on its own before the crash.
    script = Script(pieces=pieces, crash_after=3, token_delay_s=0.025)
    with process_client(script, log) as client:
        assert client.load(LoadOptions("/fake.gguf")).wait(30).ok
        first_pid = client.engine_pid
        job = client.chat(REQUEST)
        texts = [e.text for e in job.events(timeout=30) if isinstance(e, TextChunk)]
        finished = job.wait(1)
        assert texts == ["w0 ", "w1 ", "w2 "]
        assert finished.finish_reason == "crashed"
        assert isinstance(finished.error, EngineCrashed)
        assert "SIGKILL" in finished.error.reason
        assert finished.error.log_tail[-1] == "GGML_ASSERT(scripted crash) failed"

        # Same script, so the retry crashes too, but on a fresh engine that reloaded.
        retry = client.chat(REQUEST)
        assert retry.wait(30).finish_reason == "crashed"
        assert client.engine_pid != first_pid


def test_a_cancel_the_engine_ignores_restarts_it(tmp_path):
    script = Script(pieces=(b"a", b"b", b"c"), hang_after=1)
    with process_client(script, tmp_path / "engine.log", grace=0.5) as client:
        assert client.load(LoadOptions("/fake.gguf")).wait(30).ok
        job = client.chat(REQUEST)
        for event in job.events(timeout=30):
            if isinstance(event, TextChunk):
                time.sleep(0.2)  # the engine is now stuck in its next token
                started = time.monotonic()
                job.cancel()
                break
        finished = job.wait(10)
        assert finished.finish_reason == "cancelled"
        assert "restarted" in finished.extra["note"]
        assert time.monotonic() - started < 5


def test_an_engine_that_cannot_start_is_reported_once(tmp_path):
    with process_client(Script(fail_start=True), tmp_path / "engine.log") as client:
        finished = client.load(LoadOptions("/fake.gguf")).wait(30)
        assert isinstance(finished.error, EngineUnavailable)
        assert "cannot initialise the inference library" in str(finished.error)


def test_ctrl_c_in_the_terminal_does_not_kill_the_engine(tmp_path):
    script = Script(pieces=tuple(b"x" for _ in range(50)), token_delay_s=0.01)
    with process_client(script, tmp_path / "engine.log") as client:
        assert client.load(LoadOptions("/fake.gguf")).wait(30).ok
        job = client.chat(REQUEST)
        next(e for e in job.events(timeout=30) if isinstance(e, TextChunk))
        pid = client.engine_pid
        assert pid is not None
        os.kill(pid, signal.SIGINT)
        assert job.wait(30).finish_reason == "stop"


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (-signal.SIGKILL, "SIGKILL: out of memory"),
        (-signal.SIGSEGV, "segmentation fault"),
        (-signal.SIGABRT, "aborted"),
        (3, "exited with code 3"),
    ],
)
def test_exit_reasons_are_described_for_people(code, text):
    assert text in describe_exit(code)
