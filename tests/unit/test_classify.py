"""Classification: labels, the prompt, scoring through the engine's score job, fallback."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import pytest

from app.core.errors import ContextOverflow, NoModelLoaded
from app.core.options import ChatMessage, LoadOptions
from app.engine.client import EngineClient
from app.engine.protocol import ITEM_SLOT, JobFinished, ScoreRequest, ScoreResults
from app.engine.thread_transport import ThreadTransport
from app.tasks.classify import (
    Classifier,
    ClassifyOptions,
    Example,
    Label,
    LabelError,
    LabelSet,
    build_prompt,
    parse_labels,
    probabilities,
)
from app.tasks.scoring import EngineScorer, GenerationScorer, match_choice
from tests.fakes.backend import Script, ScriptedBackend

FRUIT = LabelSet((Label("apple"), Label("banana"), Label("cherry")))


@pytest.fixture
def engine():
    made: list[tuple[EngineClient, list[ScriptedBackend]]] = []

    def build(**script: object) -> tuple[EngineClient, list[ScriptedBackend]]:
        backends: list[ScriptedBackend] = []

        def factory() -> ScriptedBackend:
            backend = ScriptedBackend(Script(context_length=4096, **script))  # type: ignore[arg-type]
            backends.append(backend)
            return backend

        client = EngineClient(lambda: ThreadTransport(factory))
        assert client.load(LoadOptions("/fake.gguf")).wait(5).ok
        made.append((client, backends))
        return client, backends

    yield build
    for client, _ in made:
        client.shutdown()


# -- labels -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "No labels"),
        ("spam", "Only one label"),
        ("spam, ham, Spam", "given twice"),
        ("spam,,ham", "A label is empty"),
    ],
)
def test_bad_label_lists_are_refused_with_a_reason(text, message):
    with pytest.raises(LabelError, match=message) as caught:
        parse_labels(text).validate()
    assert caught.value.hint


def test_labels_with_descriptions_from_lines():
    labels = parse_labels("spam: unwanted mail\nham: everything else\n")
    assert labels.labels == (Label("spam", "unwanted mail"), Label("ham", "everything else"))


def test_an_example_must_use_a_known_label():
    with pytest.raises(LabelError, match="grape"):
        LabelSet(FRUIT.labels, (Example("purple", "grape"),)).validate()


def test_prompt_puts_labels_and_examples_in_the_shared_prefix():
    label_set = LabelSet(
        (Label("spam", "unwanted mail"), Label("ham")), (Example("Win money now", "spam"),)
    )
    prompt = build_prompt(label_set, ClassifyOptions(method="letters"))
    assert prompt.candidates == ("A", "B")
    assert "A. spam: unwanted mail" in prompt.messages[0].content
    assert [m.role for m in prompt.messages] == ["system", "user", "assistant", "user"]
    assert prompt.messages[2].content == "A"
    assert ITEM_SLOT in prompt.messages[-1].content
    names = build_prompt(label_set, ClassifyOptions(method="names"))
    assert names.candidates == ("spam", "ham")


def test_probabilities_are_calibrated_by_the_prompt_bias():
    assert probabilities([math.log(0.6), math.log(0.4)]) == pytest.approx([0.6, 0.4])
    # A prompt that favours the first label 3:1 on a neutral text: divide it out.
    calibrated = probabilities([math.log(0.6), math.log(0.4)], [math.log(0.75), math.log(0.25)])
    assert calibrated[1] > calibrated[0]
    assert sum(calibrated) == pytest.approx(1.0)


# -- the engine's score job -----------------------------------------------------------------


def request(items: Sequence[str], **kwargs: object) -> ScoreRequest:
    messages = (ChatMessage("system", "Pick a fruit."), ChatMessage("user", f"Text:\n{ITEM_SLOT}"))
    return ScoreRequest(messages, tuple(items), ("A", "B"), **kwargs)  # type: ignore[arg-type]


def test_score_job_evaluates_the_shared_prefix_once(engine):
    client, backends = engine(score_keywords=("red", "yellow"))
    job = client.score(request(["a red one", "a yellow one", "plain"], items_per_decode=1))
    events = list(job.events(timeout=5))
    results = [e for e in events if isinstance(e, ScoreResults)]
    assert [r.start for r in results] == [0, 1, 2]
    scores = [s for r in results for s in r.scores]
    assert [s.logprobs.index(max(s.logprobs)) for s in scores] == [0, 1, 0]
    assert isinstance(events[-1], JobFinished) and events[-1].ok
    calls = backends[0].score_calls
    assert calls[0][0] > 0 and all(prefix == 0 for prefix, _ in calls[1:])
    # A second job with the same instruction finds the prefix cached.
    client.score(request(["again"])).wait(5)
    assert backends[0].score_calls[-1][0] == 0


def test_score_job_batches_items_per_decode_call(engine):
    client, _ = engine()
    job = client.score(request([f"item {i}" for i in range(5)], items_per_decode=2))
    results = [e for e in job.events(timeout=5) if isinstance(e, ScoreResults)]
    assert [(r.start, len(r.scores)) for r in results] == [(0, 2), (2, 2), (4, 1)]


def test_a_huge_item_is_cut_to_fit_and_flagged(engine):
    client, _ = engine()
    job = client.score(request(["short", "x" * 10_000]))
    scores = [s for e in job.events(timeout=5) if isinstance(e, ScoreResults) for s in e.scores]
    assert [s.truncated for s in scores] == [False, True]
    assert scores[1].item_tokens < 4096


def test_score_without_a_model_or_room_fails_clearly():
    client = EngineClient(lambda: ThreadTransport(lambda: ScriptedBackend(Script())))
    try:
        assert isinstance(client.score(request(["x"])).wait(5).error, NoModelLoaded)
        assert client.load(LoadOptions("/fake.gguf")).wait(5).ok
        huge = ScoreRequest(
            (ChatMessage("system", "x" * 300), ChatMessage("user", ITEM_SLOT)), ("a",), ("A",)
        )
        assert isinstance(client.score(huge).wait(5).error, ContextOverflow)
    finally:
        client.shutdown()


def test_score_request_needs_the_item_slot_once():
    with pytest.raises(ValueError, match="slot"):
        ScoreRequest((ChatMessage("user", "no slot"),), ("a",), ("A",))


# -- the classifier ------------------------------------------------------------------------


def test_rows_in_equal_rows_out_in_order_with_empty_lines_flagged(engine):
    client, _ = engine(score_keywords=("apple", "banana", "cherry"))
    items = ["an apple a day", "", "ripe banana", "   ", "cherry pie"]
    seen: list[int] = []
    results = Classifier(EngineScorer(client), FRUIT).run(items, lambda r: seen.append(r.index))
    assert [r.text for r in results] == items
    assert [r.label for r in results] == ["apple", "", "banana", "", "cherry"]
    assert [r.flags for r in results] == [(), ("empty",), (), ("empty",), ()]
    assert sorted(seen) == list(range(5))
    best = results[0]
    assert best.confidence is not None and best.confidence > 0.9
    assert [name for name, _ in best.alternatives] == ["banana", "cherry"]


def test_labels_do_not_depend_on_order(engine):
    client, _ = engine(score_keywords=("apple", "banana", "cherry"))
    items = ["banana bread", "apple juice", "cherry", "banana split", "nothing"]
    forward = Classifier(EngineScorer(client), FRUIT).run(items)
    backward = Classifier(EngineScorer(client), FRUIT).run(items[::-1])
    assert [r.label for r in forward] == [r.label for r in backward][::-1]


def test_multi_label_keeps_every_label_above_the_threshold(engine):
    client, _ = engine(score_keywords=("apple",))
    options = ClassifyOptions(multi_label=True, multi_threshold=0.0, calibrate=False)
    result = Classifier(EngineScorer(client), FRUIT, options).run(["apple"])[0]
    assert result.labels[0] == "apple" and set(result.labels) == {"apple", "banana", "cherry"}


def test_cancel_keeps_the_finished_rows(engine):
    client, _ = engine(score_delay_s=0.02)
    classifier = Classifier(EngineScorer(client), FRUIT, ClassifyOptions(calibrate=False))
    done = threading.Event()

    def on_result(result) -> None:
        if result.index == 2:
            classifier.cancel()
            done.set()

    results = classifier.run([f"item {i}" for i in range(200)], on_result)
    assert done.is_set()
    assert 3 <= len(results) < 200
    assert [r.index for r in results] == list(range(len(results)))


# -- the fallback without log-probabilities ---------------------------------------------------


class FakeCompleter:
    """A chat model without log-probabilities that answers chattily."""

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies = replies
        self.calls: list[tuple[str, tuple[str, ...], int]] = []

    def complete(self, messages, choices, max_tokens) -> str:
        text = messages[-1].content
        self.calls.append((text, tuple(choices), max_tokens))
        for key, reply in self.replies.items():
            if key in text:
                return reply
        return "I am not sure."


def test_generation_fallback_matches_replies_to_labels():
    completer = FakeCompleter({"red": "Cherry.", "long": "banana", "green": "It is an apple"})
    classifier = Classifier(GenerationScorer(completer), FRUIT)
    results = classifier.run(["red fruit", "long fruit", "green fruit", "odd", ""])
    assert [r.label for r in results] == ["cherry", "banana", "apple", "apple", ""]
    assert all(r.confidence is None for r in results)
    # Every call offers the labels as the allowed answers, with a short answer budget.
    assert all(choices == FRUIT.names and limit <= 8 for _, choices, limit in completer.calls)
    assert "Text:\nred fruit" in completer.calls[0][0]


def test_match_choice_prefers_the_exact_and_the_longest_label():
    choices = ["neutral", "neutral-ish", "bad"]
    assert match_choice(" Neutral-ish.", choices) == 1
    assert match_choice("**bad**", choices) == 2
    assert match_choice("The answer is neutral", choices) == 0
    assert match_choice("no idea", choices) is None
