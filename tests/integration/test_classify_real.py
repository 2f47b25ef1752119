"""Classification and translation with the real starter model through the real engine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.core.options import ChatMessage, ChatRequest, SamplingOptions
from app.engine.protocol import ScoreResults
from app.tasks.classify import Classifier, ClassifyOptions, Example, Label, LabelSet
from app.tasks.scoring import EngineScorer
from app.tasks.translate import EngineStreamer, TranslateSpec, Translator
from tests.labelled_sets import accuracy, sentiment_set

pytestmark = pytest.mark.integration

HEARTH = [sys.executable, "-m", "app"]


EXAMPLES = (
    Example("Lovely little cafe, great coffee.", "positive"),
    Example("The app keeps crashing, useless.", "negative"),
)


def sentiment_labels(data) -> LabelSet:
    labels = tuple(Label(n, d) for n, d in zip(data.labels, data.descriptions, strict=True))
    return LabelSet(labels, EXAMPLES)


def test_scoring_labels_reviews_from_one_pass_per_item_with_the_prefix_cached(engine):
    data = sentiment_set(16)
    classifier = Classifier(EngineScorer(engine), sentiment_labels(data))
    results = classifier.run(list(data.texts))
    labels = [r.label for r in results]
    assert accuracy(labels, data.answers) >= 0.85
    assert all(0.5 <= (r.confidence or 0) <= 1.0 for r in results)
    # Only each item's own tokens, the prompt tail and the label tokens are evaluated.
    stats = classifier.stats
    assert stats.evaluated_tokens / stats.done <= stats.item_tokens / stats.done + 16
    # The same labels again, and in reversed order.
    again = Classifier(EngineScorer(engine), sentiment_labels(data)).run(list(data.texts))
    assert [r.label for r in again] == labels
    backward = Classifier(EngineScorer(engine), sentiment_labels(data)).run(list(data.texts)[::-1])
    assert [r.label for r in backward][::-1] == labels


def test_the_instruction_is_evaluated_once_and_batches_agree(engine):
    data = sentiment_set(12)
    prompt = Classifier(EngineScorer(engine), sentiment_labels(data)).prompt
    from app.engine.protocol import ScoreRequest

    request = ScoreRequest(prompt.messages, data.texts, prompt.candidates, items_per_decode=1)
    events = [e for e in engine.score(request).events(timeout=120) if isinstance(e, ScoreResults)]
    assert events[0].prefix_evaluated == events[0].prefix_tokens > 100
    assert all(e.prefix_evaluated == 0 for e in events[1:])
    single = [max(range(2), key=s.logprobs.__getitem__) for e in events for s in e.scores]

    batched = ScoreRequest(prompt.messages, data.texts, prompt.candidates, items_per_decode=4)
    events = [e for e in engine.score(batched).events(timeout=120) if isinstance(e, ScoreResults)]
    assert [len(e.scores) for e in events] == [4, 4, 4]
    assert events[0].prefix_evaluated == 0
    assert [max(range(2), key=s.logprobs.__getitem__) for e in events for s in e.scores] == single


def test_chat_after_scoring_answers_as_before(engine):
    request = ChatRequest(
        (ChatMessage("user", "Name a colour."),),
        SamplingOptions(temperature=0.0, top_k=1, seed=1, max_tokens=12),
    )
    before = engine.chat(request).wait(120)
    data = sentiment_set(4)
    Classifier(EngineScorer(engine), sentiment_labels(data), ClassifyOptions()).run(
        list(data.texts)
    )
    after = engine.chat(request).wait(120)
    assert before.ok and after.ok and after.text == before.text


def test_translation_keeps_paragraphs(engine):
    translator = Translator(EngineStreamer(engine), TranslateSpec("French"))
    pieces: list[str] = []
    result = translator.translate("Good morning.\n\nThank you very much.", pieces.append)
    assert result is not None
    paragraphs = result.text.split("\n\n")
    assert len(paragraphs) == 2 and all(p.strip() for p in paragraphs)
    assert "".join(pieces) == result.text and len(pieces) > 2


def test_hearth_classify_json_from_stdin():
    lines = "I love it, wonderful!\n\nThis is the worst product I have ever bought.\n"
    result = subprocess.run(
        [
            *HEARTH,
            "classify",
            "--labels",
            "positive,negative",
            "--example",
            "Lovely little cafe, great coffee.=positive",
            "--example",
            "The app keeps crashing, useless.=negative",
            "--json",
        ],
        input=lines,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["text"] for r in rows] == lines.splitlines()
    assert [r["label"] for r in rows] == ["positive", "", "negative"]
    assert "1 empty item(s)" in result.stderr


def test_hearth_translate_streams_paragraphs():
    result = subprocess.run(
        [*HEARTH, "translate", "--to", "French", "Hello.\n\nGoodbye."],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n\n") == 1 and result.stdout.strip()


def test_a_batch_of_long_items_larger_than_the_context_is_split_not_failed(tmp_path, starter_path):
    from app.core.options import LoadOptions
    from app.engine.protocol import ScoreRequest
    from tests.integration.conftest import engine_client

    client = engine_client(tmp_path / "engine.log")
    try:
        assert client.load(LoadOptions(str(starter_path), context_length=512)).wait(120).ok
        data = sentiment_set(4)
        long_items = tuple((text + " ") * 12 for text in data.texts)  # four do not fit at once
        prompt = Classifier(EngineScorer(client), sentiment_labels(data)).prompt
        batched = ScoreRequest(prompt.messages, long_items, prompt.candidates, items_per_decode=4)
        job = client.score(batched)
        events = [e for e in job.events(timeout=120) if isinstance(e, ScoreResults)]
        assert job.wait(1).ok, job.wait(1).error
        assert sum(len(e.scores) for e in events) == 4  # rows in = rows out
        assert sum(e.prompt_tokens for e in events) > 512 - events[0].prefix_tokens
    finally:
        client.shutdown()


def test_more_long_labels_than_the_engine_can_branch_is_a_clear_error(engine):
    from app.engine.protocol import ITEM_SLOT, ScoreRequest

    # The classifier allows 26 labels; the engine itself refuses what it cannot branch.
    candidates = tuple(f"category number {n}" for n in range(35))
    messages = (ChatMessage("user", f"Which category? {ITEM_SLOT}"),)
    finished = engine.score(ScoreRequest(messages, ("x",), candidates)).wait(120)
    assert finished.error is not None
    assert "labels are several tokens long" in finished.error.user_text()
