"""The grounded prompt: numbered passages inside the context budget, and the rules to cite.

Small collections (their whole text fits the budget) go in whole, in document order;
otherwise the best passages from retrieval go in, best first, until the budget is used.
The passages and the question travel in the last user message; the instructions in the
system message tell the model to cite ``[n]`` and to say so when the passages do not
answer the question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

from app.core.errors import HearthError
from app.core.options import ChatMessage
from app.docs.retrieval import Mode, Retriever
from app.store.documents import Collection, DocumentStore, Passage

CHARS_PER_TOKEN = 3.0
"""A cautious estimate (English averages about 4): the budget must not overflow."""
RESERVED_TOKENS = 96
"""Chat-template markup and the instructions' own overhead."""
MAX_PASSAGES = 8
MIN_BUDGET_CHARS = 300


class NoRoomForPassages(HearthError):
    def __init__(self, context_length: int, max_tokens: int) -> None:
        super().__init__(
            f"There is no room for document passages: the context holds {context_length} "
            f"tokens and {max_tokens} are kept for the answer.",
            "Load the model with a longer context, lower the maximum answer length, or "
            "start a new conversation.",
        )


INSTRUCTIONS = (
    "Answer the user's question using only the numbered passages from their documents. "
    "After each statement, cite the passage it comes from by its number in square "
    "brackets, like [1] or [2]. If the passages do not contain the answer, say that the "
    "documents do not answer the question; do not make an answer up."
)
NOTHING_FOUND = (
    "No passage of the user's documents matches this question. Tell the user that their "
    "documents do not contain the answer, and do not make one up."
)

CITE_CUE = "Answer with the passage number in brackets, like [1]."

_CITATION = re.compile(r"\[(\d{1,3})\]")


@dataclass(frozen=True)
class Grounding:
    passages: tuple[Passage, ...]
    whole: bool
    """True when the collections went in whole (small enough), not by retrieval."""
    messages: tuple[ChatMessage, ...]


def estimate_tokens(text: str) -> int:
    """A cautious token count without the model's tokenizer, by kind of character.

    A flat characters-per-token rate would overflow the context on dense text: with a
    typical BPE vocabulary, Chinese or Japanese runs at more than one token per
    character and number-heavy rows (CSV) at under 1.5 characters per token.
    """
    weight = 0.0
    for char in text:
        if char.isascii():
            if char.isalpha():
                weight += 0.38
            elif char.isspace():
                weight += 0.15
            else:  # digits and punctuation split into short tokens
                weight += 1.1
        elif char <= "\u024f":  # accented Latin letters
            weight += 0.6
        elif char <= "\u04ff":  # Greek and Cyrillic
            weight += 1.0
        else:  # CJK and other scripts, symbols: often more than one token a character
            weight += 2.0
    return int(weight) + 1


def passage_budget_chars(
    context_length: int, max_tokens: int, other_messages: Sequence[ChatMessage], question: str
) -> int:
    """Characters of passages that fit beside the conversation, the question and the answer."""
    used = RESERVED_TOKENS + max_tokens + estimate_tokens(INSTRUCTIONS + question)
    used += sum(estimate_tokens(m.content) + 8 for m in other_messages)
    return max(0, int((context_length - used) * CHARS_PER_TOKEN))


def passage_label(path: str, page: int | None, heading: str) -> str:
    """``report.pdf, page 3, Pricing > Discounts``."""
    parts = [PurePath(path).name]
    if page is not None:
        parts.append(f"page {page}")
    if heading:
        parts.append(heading)
    return ", ".join(parts)


def choose_passages(
    store: DocumentStore,
    retriever: Retriever,
    collections: Sequence[Collection],
    question: str,
    budget_chars: int,
    *,
    limit: int = MAX_PASSAGES,
    mode: Mode = "auto",
) -> tuple[list[Passage], bool]:
    """``(passages, whole)``: everything if it fits the budget, else the best that fit."""
    ids = [c.id for c in collections]
    budget = budget_chars / CHARS_PER_TOKEN  # in tokens, measured by estimate_tokens
    whole = store.all_passages(ids, budget_chars - 40 * max(1, store.chunk_count(ids)))
    if whole and sum(_cost(p) for p in whole) <= budget:
        return whole, True
    chosen: list[Passage] = []
    used = 0
    for hit in retriever.search(collections, question, limit=limit, mode=mode):
        size = _cost(hit.passage)
        if used + size > budget:
            continue  # a shorter passage further down may still fit
        chosen.append(hit.passage)
        used += size
    return chosen, False


def _cost(passage: Passage) -> int:
    """Tokens a passage takes in the prompt, with its number and label."""
    label = passage_label(passage.path, passage.page, passage.heading)
    return estimate_tokens(passage.text) + estimate_tokens(label) + 6


def grounded_messages(
    question: str,
    passages: Sequence[Passage],
    history: Sequence[ChatMessage] = (),
    system: str = "",
) -> tuple[ChatMessage, ...]:
    """The chat: instructions (after the user's own system prompt), history, then the
    question with its numbered passages."""
    instructions = f"{system.strip()}\n\n{INSTRUCTIONS}" if system.strip() else INSTRUCTIONS
    if passages:
        listed = "\n\n".join(
            f"[{n}] ({passage_label(p.path, p.page, p.heading)})\n{p.text}"
            for n, p in enumerate(passages, start=1)
        )
        user = f"Passages:\n\n{listed}\n\nQuestion: {question}\n\n{CITE_CUE}"
    else:
        user = f"{NOTHING_FOUND}\n\nQuestion: {question}"
    return (ChatMessage("system", instructions), *history, ChatMessage("user", user))


def ground(
    store: DocumentStore,
    retriever: Retriever,
    collections: Sequence[Collection],
    question: str,
    *,
    context_length: int,
    max_tokens: int,
    history: Sequence[ChatMessage] = (),
    system: str = "",
) -> Grounding:
    budget = passage_budget_chars(context_length, max_tokens, history, question + system)
    if budget < MIN_BUDGET_CHARS:
        raise NoRoomForPassages(context_length, max_tokens)
    passages, whole = choose_passages(store, retriever, collections, question, budget)
    return Grounding(tuple(passages), whole, grounded_messages(question, passages, history, system))


def cited_numbers(answer: str, count: int) -> list[int]:
    """The passage numbers an answer cites, in order of first citation (valid ones only)."""
    found = [int(n) for n in _CITATION.findall(answer)]
    return list(dict.fromkeys(n for n in found if 1 <= n <= count))
