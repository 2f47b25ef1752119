"""Events survive the trip from the engine process intact, text and errors alike."""

from __future__ import annotations

import pytest

from app.core.errors import ContextOverflow, EngineCrashed
from app.core.options import GenerationStats
from app.engine.protocol import JobFinished, LoadProgress, TextChunk
from app.engine.wire import decode_event, encode_event


@pytest.mark.parametrize("text", ["", "plain", "café 🍵 — 日本語", "\x00 and \ufffd"])
def test_text_chunks_round_trip(text: str):
    event = TextChunk(2**40, text, 7)
    assert decode_event(encode_event(event)) == event


def test_other_events_round_trip_with_their_typed_errors():
    finished = JobFinished(
        5,
        "error",
        text="partial",
        stats=GenerationStats(10, 2, 3, 4.0, 5.0, 6.0, seed=9),
        error=ContextOverflow(5000, 4096),
    )
    back = decode_event(encode_event(finished))
    assert isinstance(back, JobFinished) and back.stats == finished.stats
    assert isinstance(back.error, ContextOverflow)
    assert back.error.context_length == 4096 and "5000 tokens" in str(back.error)
    crashed = decode_event(
        encode_event(JobFinished(1, "crashed", error=EngineCrashed("x", ("a",))))
    )
    assert crashed.error.log_tail == ("a",)
    assert decode_event(encode_event(LoadProgress(3, 0.5))) == LoadProgress(3, 0.5)


def test_an_unknown_message_is_refused():
    with pytest.raises(ValueError, match="unknown engine message"):
        decode_event(b"Zgarbage")
