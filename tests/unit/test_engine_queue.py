"""The client's job queue, driven event by event through a hand-played host."""

from __future__ import annotations

import time

import pytest

from app.core.errors import EngineBusy, EngineCrashed, EngineUnavailable
from app.core.options import ChatMessage, ChatRequest, GenerationStats, LoadOptions
from app.engine.client import EngineClient
from app.engine.protocol import (
    ChatCommand,
    JobFinished,
    LoadCommand,
    LoadedModel,
    ModelLoaded,
    TextChunk,
)
from tests.fakes.transport import ManualTransport

REQUEST = ChatRequest((ChatMessage("user", "hi"),))
MODEL = LoadedModel("/m.gguf", "m", "llama", "Q4_1", 256, 256, 2, 0, "CPU", 1.0, None)


@pytest.fixture
def hosts() -> list[ManualTransport]:
    return []


@pytest.fixture
def client(hosts: list[ManualTransport]) -> EngineClient:
    engine = EngineClient(lambda: ManualTransport(hosts), cancel_grace_s=0.05, max_queue=3)
    yield engine
    engine.shutdown()


def _stats() -> GenerationStats:
    return GenerationStats(3, 0, 2, 5.0, 10.0, 9.0)


def _load(client: EngineClient, hosts: list[ManualTransport]) -> None:
    job = client.load(LoadOptions("/m.gguf"))
    host = hosts[-1]
    host.ready()
    host.emit(ModelLoaded(job.id, MODEL))
    host.emit(JobFinished(job.id, "stop"))
    assert job.wait(1).ok


def test_jobs_run_one_at_a_time_in_submission_order(client, hosts):
    first = client.chat(REQUEST)
    second = client.chat(REQUEST)
    host = hosts[0]
    assert [c.job_id for c in host.sent] == [first.id]  # the second waits
    host.emit(JobFinished(first.id, "stop", text="a", stats=_stats()))
    assert [c.job_id for c in host.sent] == [first.id, second.id]
    host.emit(JobFinished(second.id, "stop", text="b", stats=_stats()))
    assert first.wait(1).text == "a"
    assert second.wait(1).text == "b"


def test_events_of_a_job_arrive_in_order_and_end_with_finished(client, hosts):
    job = client.chat(REQUEST)
    host = hosts[0]
    for piece in ("a", "b", "c"):
        host.emit(TextChunk(job.id, piece, 1))
    host.emit(JobFinished(job.id, "stop", text="abc"))
    texts = [e.text for e in job.events(timeout=1) if isinstance(e, TextChunk)]
    assert texts == ["a", "b", "c"]


def test_stale_events_for_other_job_ids_are_dropped(client, hosts):
    seen = []
    client.add_listener(seen.append)
    job = client.chat(REQUEST)
    host = hosts[0]
    host.emit(TextChunk(job.id + 100, "stale", 1))
    host.emit(TextChunk(job.id, "fresh", 1))
    host.emit(JobFinished(job.id, "stop"))
    texts = [e.text for e in job.events(timeout=1) if isinstance(e, TextChunk)]
    assert texts == ["fresh"]
    assert all(getattr(e, "text", "") != "stale" for e in seen)


def test_cancel_of_a_queued_job_never_reaches_the_host(client, hosts):
    running = client.chat(REQUEST)
    queued = client.chat(REQUEST)
    queued.cancel()
    assert queued.wait(1).finish_reason == "cancelled"
    host = hosts[0]
    host.emit(JobFinished(running.id, "stop"))
    assert [c.job_id for c in host.sent] == [running.id]


def test_cancel_of_the_running_job_sets_the_flag_directly(client, hosts):
    job = client.chat(REQUEST)
    job.cancel()
    host = hosts[0]
    assert host.cancelled == [job.id]
    host.emit(JobFinished(job.id, "cancelled"))
    assert job.wait(1).finish_reason == "cancelled"
    assert not host.killed


def test_a_cancel_that_does_not_land_restarts_the_engine(client, hosts):
    job = client.chat(REQUEST)
    job.cancel()
    host = hosts[0]
    for _ in range(100):  # the grace period is 50 ms
        if host.killed:
            break
        time.sleep(0.01)
    assert host.killed
    host.exit("killed by SIGKILL")
    finished = job.wait(1)
    assert finished.finish_reason == "cancelled"
    assert "restarted" in finished.extra["note"]


def test_a_crash_ends_the_running_job_as_crashed_and_the_next_job_gets_a_fresh_host(client, hosts):
    _load(client, hosts)
    job = client.chat(REQUEST)
    hosts[0].emit(TextChunk(job.id, "partial", 1))
    hosts[0].exit("crashed with SIGSEGV (segmentation fault)", ("ggml_abort: boom",))
    finished = job.wait(1)
    assert finished.finish_reason == "crashed"
    assert isinstance(finished.error, EngineCrashed)
    assert "SIGSEGV" in str(finished.error)
    assert finished.error.log_tail == ("ggml_abort: boom",)
    assert client.loaded_model is None

    retry = client.chat(REQUEST)
    assert len(hosts) == 2
    fresh = hosts[1]
    # The fresh host reloads the last model before the waiting chat runs.
    assert isinstance(fresh.sent[0], LoadCommand)
    assert fresh.sent[0].options.path == "/m.gguf"
    fresh.ready()
    fresh.emit(ModelLoaded(fresh.sent[0].job_id, MODEL))
    fresh.emit(JobFinished(fresh.sent[0].job_id, "stop"))
    assert isinstance(fresh.sent[1], ChatCommand)
    assert fresh.sent[1].job_id == retry.id
    fresh.emit(JobFinished(retry.id, "stop", text="ok"))
    assert retry.wait(1).text == "ok"


def test_events_from_a_replaced_host_are_ignored(client, hosts):
    job = client.chat(REQUEST)
    old = hosts[0]
    old.exit()
    assert job.wait(1).finish_reason == "crashed"
    retry = client.chat(REQUEST)
    old.emit(JobFinished(retry.id, "stop", text="from the dead host"))
    assert not retry.done
    hosts[1].emit(JobFinished(retry.id, "stop", text="real"))
    assert retry.wait(1).text == "real"


def test_a_host_that_cannot_start_fails_the_queue_instead_of_retrying_forever(client, hosts):
    first = client.chat(REQUEST)
    second = client.chat(REQUEST)
    hosts[0].exit("exited with code 1", ("ImportError: libcuda.so.1",))
    for job in (first, second):
        finished = job.wait(1)
        assert isinstance(finished.error, EngineUnavailable)
        assert "libcuda" in str(finished.error)
    assert len(hosts) == 1


def test_a_full_queue_refuses_with_a_clear_error(client, hosts):
    client.chat(REQUEST)  # running
    for _ in range(3):
        client.chat(REQUEST)
    with pytest.raises(EngineBusy, match="queue is full"):
        client.chat(REQUEST)


def test_shutdown_cancels_everything_and_refuses_new_jobs(client, hosts):
    running = client.chat(REQUEST)
    queued = client.chat(REQUEST)
    client.shutdown()
    assert running.wait(1).finish_reason == "cancelled"
    assert queued.wait(1).finish_reason == "cancelled"
    assert hosts[0].closed
    with pytest.raises(EngineUnavailable):
        client.chat(REQUEST)


def test_unload_forgets_the_model_so_a_crash_does_not_reload_it(client, hosts):
    _load(client, hosts)
    job = client.unload()
    hosts[0].emit(JobFinished(job.id, "stop"))
    job.wait(1)
    assert client.loaded_model is None
    hosts[0].exit()
    client.chat(REQUEST)
    assert isinstance(hosts[1].sent[0], ChatCommand)


def test_after_an_escalation_the_next_job_waits_for_a_fresh_host(client, hosts):
    first = client.chat(REQUEST)
    second = client.chat(REQUEST)
    dying = hosts[0]
    dying.ready()
    first.cancel()
    for _ in range(100):
        if dying.killed:
            break
        time.sleep(0.01)
    assert dying.killed
    # The cancel landed just as the kill did: the finish is still in the pipe.
    dying.emit(JobFinished(first.id, "cancelled"))
    assert [c.job_id for c in dying.sent] == [first.id]  # nothing sent to the dying host
    dying.exit("killed by SIGKILL")
    assert len(hosts) == 2 and [c.job_id for c in hosts[1].sent] == [second.id]
    hosts[1].emit(JobFinished(second.id, "stop", text="fine"))
    assert second.wait(1).text == "fine"


def test_an_engine_that_fails_to_spawn_is_a_clear_error_and_the_next_try_starts_fresh():
    attempts: list[ManualTransport] = []

    class Flaky(ManualTransport):
        def start(self, on_event, on_exit):
            if len(attempts) == 1:
                raise OSError(24, "Too many open files")
            super().start(on_event, on_exit)

    engine = EngineClient(lambda: Flaky(attempts))
    try:
        with pytest.raises(EngineUnavailable, match="Too many open files"):
            engine.chat(REQUEST)
        assert engine.queue_depth == 0
        job = engine.chat(REQUEST)
        attempts[-1].emit(JobFinished(job.id, "stop", text="ok"))
        assert job.wait(1).text == "ok"
    finally:
        engine.shutdown()


def test_owners_take_turns_so_a_burst_from_the_api_does_not_starve_the_window(hosts):
    engine = EngineClient(lambda: ManualTransport(hosts), max_queue=16)
    try:
        running = engine.chat(REQUEST, owner="api")
        burst = [engine.chat(REQUEST, owner="api") for _ in range(4)]
        window = engine.chat(REQUEST)  # queued last
        host = hosts[0]
        host.emit(JobFinished(running.id, "stop", text="", stats=_stats()))
        # The window's job goes next, ahead of the API's earlier ones.
        assert host.sent[-1].job_id == window.id
        host.emit(JobFinished(window.id, "stop", text="", stats=_stats()))
        assert host.sent[-1].job_id == burst[0].id  # then the API, in its own order
    finally:
        engine.shutdown()


def test_a_per_owner_limit_refuses_only_that_owner(hosts):
    engine = EngineClient(lambda: ManualTransport(hosts), max_queue=16)
    try:
        engine.chat(REQUEST, owner="api", max_waiting=2)  # runs at once
        engine.chat(REQUEST, owner="api", max_waiting=2)
        engine.chat(REQUEST, owner="api", max_waiting=2)
        with pytest.raises(EngineBusy):
            engine.chat(REQUEST, owner="api", max_waiting=2)
        assert engine.chat(REQUEST).id  # the window is not refused
    finally:
        engine.shutdown()


def test_a_crash_during_an_embed_job_reloads_the_model_before_the_next_one(client, hosts):
    _load(client, hosts)
    first = client.embed(["a"])
    hosts[0].exit()
    assert first.wait(1).finish_reason == "crashed"
    second = client.embed(["b"])
    fresh = hosts[1]
    fresh.ready()
    assert isinstance(fresh.sent[0], LoadCommand)  # the model comes back first
    fresh.emit(JobFinished(fresh.sent[0].job_id, "stop"))
    assert fresh.sent[-1].job_id == second.id
