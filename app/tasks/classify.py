"""Bulk classification: labels, the prompt, and a run over many items. No Qt.

The model never writes free text here. Each item goes into one shared prompt (built
from the model's chat template by the engine); the labels are scored from the
next-token probabilities of the answer, and the scores are turned into calibrated
probabilities over the labels. See docs/analyst.md for the measured choices.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from app.core.errors import HearthError
from app.core.options import ChatMessage
from app.engine.protocol import ITEM_SLOT
from app.tasks.scoring import LabelScorer, ScoredItem, ScorePrompt

Method = Literal["names", "letters"]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CONTENT_FREE = "N/A"
"""A neutral item: its scores measure the prompt's bias toward each label."""
DEFAULT_MULTI_THRESHOLD = 0.3


class LabelError(HearthError):
    """The labels cannot be used as given."""


@dataclass(frozen=True)
class Label:
    name: str
    description: str = ""


@dataclass(frozen=True)
class Example:
    text: str
    label: str


@dataclass(frozen=True)
class LabelSet:
    labels: tuple[Label, ...]
    examples: tuple[Example, ...] = ()
    instruction: str = ""
    """Extra guidance for the task, e.g. what the texts are."""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    def validate(self) -> LabelSet:
        names = [label.name.strip() for label in self.labels]
        if not names:
            raise LabelError("No labels were given.", "Name at least two labels, e.g. a,b,c.")
        if any(not name for name in names):
            raise LabelError("A label is empty.", "Remove the empty label or give it a name.")
        if len(names) == 1:
            raise LabelError(
                f"Only one label was given ({names[0]}): every item would get it.",
                "Name at least two labels, e.g. add 'other'.",
            )
        if len(names) > len(LETTERS):
            raise LabelError(f"{len(names)} labels is too many.", "Use at most 26 labels.")
        seen: dict[str, str] = {}
        for name in names:
            key = name.casefold()
            if key in seen:
                raise LabelError(
                    f"The label '{name}' is given twice.", "Each label must be different."
                )
            seen[key] = name
        for example in self.examples:
            if example.label.strip().casefold() not in seen:
                raise LabelError(
                    f"An example uses the label '{example.label}', which is not in the list.",
                    "Use one of the labels for each example.",
                )
        return self


def parse_labels(text: str) -> LabelSet:
    """Labels from ``a,b,c`` or from lines of ``name: description``."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        labels = []
        for line in lines:
            name, _, description = line.partition(":")
            labels.append(Label(name.strip(), description.strip()))
        return LabelSet(tuple(labels))
    parts = [part.strip() for part in text.split(",")] if text.strip() else []
    return LabelSet(tuple(Label(part) for part in parts))


# -- options and results ------------------------------------------------------------------


@dataclass(frozen=True)
class ClassifyOptions:
    method: Method = "names"
    """``names``: score each label's own tokens; ``letters``: list the labels as A, B, C
    and score the letter (one token each)."""
    calibrate: bool = True
    """Divide out the prompt's bias, measured on a content-free item."""
    multi_label: bool = False
    multi_threshold: float = DEFAULT_MULTI_THRESHOLD
    items_per_decode: int = 1
    max_item_tokens: int | None = None
    top_alternatives: int = 3
    restate: bool = False
    """Name the labels again right before the item (in the cached prefix, so free)."""


@dataclass(frozen=True)
class Classification:
    index: int
    text: str
    label: str
    """Best label; empty when the item was empty."""
    confidence: float | None
    """Probability of ``label`` over the labels; None when it is not known."""
    alternatives: tuple[tuple[str, float], ...] = ()
    """The other labels with their probabilities, most likely first."""
    labels: tuple[str, ...] = ()
    """Multi-label: every label above the threshold (the best one at least)."""
    truncated: bool = False
    empty: bool = False
    corrected: bool = False

    @property
    def flags(self) -> tuple[str, ...]:
        result = []
        if self.empty:
            result.append("empty")
        if self.truncated:
            result.append("truncated")
        if self.corrected:
            result.append("corrected")
        return tuple(result)


@dataclass
class RunStats:
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.perf_counter)
    evaluated_tokens: int = 0
    prompt_tokens: int = 0
    item_tokens: int = 0

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    @property
    def items_per_s(self) -> float:
        elapsed = self.elapsed_s
        return self.done / elapsed if elapsed > 0 and self.done else 0.0

    @property
    def eta_s(self) -> float | None:
        rate = self.items_per_s
        return (self.total - self.done) / rate if rate > 0 else None


# -- the prompt ---------------------------------------------------------------------------


def build_prompt(label_set: LabelSet, options: ClassifyOptions) -> ScorePrompt:
    label_set.validate()
    letters = options.method == "letters"
    lines = []
    for index, label in enumerate(label_set.labels):
        tag = f"{LETTERS[index]}. {label.name}" if letters else label.name
        lines.append(f"- {tag}: {label.description}" if label.description else f"- {tag}")
    answer = "the letter of the label" if letters else "the label"
    system = "You are a text classifier. Read the text and choose the one label that fits best."
    if label_set.instruction.strip():
        system += f"\n{label_set.instruction.strip()}"
    system += "\n\nLabels:\n" + "\n".join(lines) + f"\n\nAnswer with {answer} only."
    messages: list[ChatMessage] = [ChatMessage("system", system)]
    by_key = {label.name.casefold(): index for index, label in enumerate(label_set.labels)}
    for example in label_set.examples:
        index = by_key[example.label.strip().casefold()]
        reply = LETTERS[index] if letters else label_set.labels[index].name
        messages.append(ChatMessage("user", _item_message(example.text)))
        messages.append(ChatMessage("assistant", reply))
    lead = ""
    if options.restate:
        tags = [LETTERS[i] if letters else name for i, name in enumerate(label_set.names)]
        lead = f"Which label fits this text: {', '.join(tags[:-1])} or {tags[-1]}?\n"
    messages.append(ChatMessage("user", lead + _item_message(ITEM_SLOT)))
    candidates = tuple(LETTERS[: len(label_set.labels)]) if letters else label_set.names
    return ScorePrompt(
        tuple(messages),
        candidates,
        items_per_decode=options.items_per_decode,
        max_item_tokens=options.max_item_tokens,
    )


def _item_message(text: str) -> str:
    # The item starts after a newline so that its tokens do not merge with the prompt's.
    return f"Text:\n{text}"


# -- turning scores into results ----------------------------------------------------------


def probabilities(logprobs: Sequence[float], bias: Sequence[float] | None = None) -> list[float]:
    """Softmax over the candidates, after subtracting the prompt's bias if given."""
    values = [lp - (bias[i] if bias is not None else 0.0) for i, lp in enumerate(logprobs)]
    peak = max(values)
    weights = [math.exp(v - peak) for v in values]
    total = sum(weights)
    return [w / total for w in weights]


def make_result(
    index: int,
    text: str,
    scored: ScoredItem,
    names: Sequence[str],
    *,
    options: ClassifyOptions,
    bias: Sequence[float] | None,
) -> Classification:
    probs = probabilities(scored.logprobs, bias if scored.exact else None)
    # Ties go to the earlier label, so the answer never depends on float noise order.
    order = sorted(range(len(names)), key=lambda i: (-probs[i], i))
    best = order[0]
    chosen: tuple[str, ...] = (names[best],)
    if options.multi_label:
        chosen = tuple(names[i] for i in order if probs[i] >= options.multi_threshold) or chosen
    alternatives = tuple((names[i], probs[i]) for i in order[1 : 1 + options.top_alternatives])
    return Classification(
        index=index,
        text=text,
        label=names[best],
        confidence=probs[best] if scored.exact else None,
        alternatives=alternatives if scored.exact else (),
        labels=chosen,
        truncated=scored.truncated,
    )


class Classifier:
    """Runs a label set over items with a scorer. Rows in = rows out, in order."""

    def __init__(
        self, scorer: LabelScorer, label_set: LabelSet, options: ClassifyOptions | None = None
    ) -> None:
        self.scorer = scorer
        self.label_set = label_set.validate()
        self.options = options or ClassifyOptions()
        self.prompt = build_prompt(self.label_set, self.options)
        self._stream: object | None = None
        self._cancelled = False
        self._bias_cache: list[float] | None = None
        self.stats = RunStats()

    def cancel(self) -> None:
        self._cancelled = True
        stream = self._stream
        cancel = getattr(stream, "cancel", None)
        if cancel is not None:
            cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def run(
        self,
        items: Sequence[str],
        on_result: Callable[[Classification], None] | None = None,
    ) -> list[Classification]:
        """Classify ``items``; each result is passed to ``on_result`` as it is done.

        Empty items get an empty label (flagged), without a model call. After a
        cancel, the finished rows are returned (in order; the rest are missing).
        """
        names = self.label_set.names
        results: list[Classification | None] = [None] * len(items)
        self.stats = RunStats(total=len(items))
        send = [i for i, text in enumerate(items) if text.strip()]
        for index, text in enumerate(items):
            if not text.strip():
                self._record(results, Classification(index, text, "", None, empty=True), on_result)
        bias = None
        calibrate = self.options.calibrate and self.scorer.gives_probabilities
        if calibrate and send and not self._cancelled:
            bias = self._bias()
        if send and not self._cancelled:
            stream = self.scorer.start(self.prompt, [items[i] for i in send])
            self._stream = stream
            if self._cancelled:
                stream.cancel()
            for position, scored in stream:
                index = send[position]
                result = make_result(
                    index, items[index], scored, names, options=self.options, bias=bias
                )
                self.stats.evaluated_tokens += scored.evaluated_tokens
                self.stats.prompt_tokens += scored.prompt_tokens
                self.stats.item_tokens += scored.item_tokens
                self._record(results, result, on_result)
        return [r for r in results if r is not None]

    def _record(
        self,
        results: list[Classification | None],
        result: Classification,
        on_result: Callable[[Classification], None] | None,
    ) -> None:
        results[result.index] = result
        self.stats.done += 1
        if on_result is not None:
            on_result(result)

    def _bias(self) -> list[float] | None:
        if self._bias_cache is not None:
            return self._bias_cache
        stream = self.scorer.start(self.prompt, [CONTENT_FREE])
        self._stream = stream
        for _, scored in stream:
            if not scored.exact:
                return None
            self._bias_cache = list(scored.logprobs)
            return self._bias_cache
        return None


def classify_all(
    scorer: LabelScorer,
    label_set: LabelSet,
    items: Iterable[str],
    options: ClassifyOptions | None = None,
) -> list[Classification]:
    return Classifier(scorer, label_set, options).run(list(items))
