"""Translation: paragraph by paragraph, streaming, with a glossary of fixed terms. No Qt.

Each paragraph is its own chat request, so the output has exactly the paragraphs of
the input, with the same blank lines between them, whatever the model does. The
glossary goes into the instruction; terms that the answer still misses are reported.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from app.core.errors import HearthError
from app.core.options import ChatMessage, ChatRequest, SamplingOptions
from app.engine.client import EngineClient, Job
from app.engine.protocol import JobFinished, TextChunk

_PARAGRAPH_BREAK = re.compile(r"(\n[ \t]*\n\s*)")
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")


class TranslateError(HearthError):
    """The translation request cannot be carried out as given."""


@dataclass(frozen=True)
class TranslateSpec:
    target: str
    source: str = ""
    """Empty: the model detects it."""
    glossary: tuple[tuple[str, str], ...] = ()
    """(term, its fixed translation) pairs."""

    def validate(self) -> TranslateSpec:
        if not self.target.strip():
            raise TranslateError(
                "No target language was given.", "Say which language, e.g. German."
            )
        seen: set[str] = set()
        for term, translation in self.glossary:
            if not term.strip() or not translation.strip():
                raise TranslateError(
                    f"A glossary entry is incomplete: '{term}' -> '{translation}'.",
                    "Give each term and its translation.",
                )
            if term.casefold() in seen:
                raise TranslateError(f"The glossary lists '{term}' twice.")
            seen.add(term.casefold())
        return self


def parse_glossary(lines: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``term = translation`` (or ``term,translation``) per line; blank lines skipped."""
    pairs = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        for separator in ("=", "\t", ","):
            if separator in line:
                term, _, translation = line.partition(separator)
                pairs.append((term.strip(), translation.strip()))
                break
        else:
            raise TranslateError(
                f"Cannot read the glossary line '{line.strip()}'.",
                "Write each entry as: term = translation",
            )
    return tuple(pairs)


def split_paragraphs(text: str) -> tuple[list[str], list[str]]:
    """(paragraphs, the separators after each but the last); joining them gives ``text``."""
    parts = _PARAGRAPH_BREAK.split(text)
    return parts[0::2], parts[1::2]


def build_messages(paragraph: str, spec: TranslateSpec) -> tuple[ChatMessage, ...]:
    source = f" from {spec.source.strip()}" if spec.source.strip() else ""
    system = (
        f"You are a professional translator. Translate the user's text{source} into "
        f"{spec.target.strip()}. Keep the meaning, tone, line breaks, numbers and names. "
        "Answer with the translation only, without notes or quotes."
    )
    terms = [(t, r) for t, r in spec.glossary if t.casefold() in paragraph.casefold()]
    if terms:
        listing = "\n".join(f"- {term} -> {translation}" for term, translation in terms)
        system += f"\nAlways translate these terms exactly like this:\n{listing}"
    return ChatMessage("system", system), ChatMessage("user", paragraph)


def missed_terms(source: str, translation: str, spec: TranslateSpec) -> list[str]:
    """Glossary terms in ``source`` whose fixed translation is not in ``translation``."""
    return [
        term
        for term, fixed in spec.glossary
        if term.casefold() in source.casefold() and fixed.casefold() not in translation.casefold()
    ]


class _ParagraphFilter:
    """Keeps a streamed paragraph one paragraph: no blank lines inside, no leading or
    trailing whitespace (held back until more text shows it is inside)."""

    def __init__(self) -> None:
        self._pending = ""
        self._started = False

    def feed(self, piece: str) -> str:
        text = _BLANK_LINES.sub("\n", self._pending + piece)
        if not self._started:
            text = text.lstrip()
        body = text.rstrip()
        self._pending = text[len(body) :]
        if body:
            self._started = True
        return body


# -- the model side ------------------------------------------------------------------------


class TextStream(Protocol):
    def __iter__(self) -> Iterator[str]:
        """Text pieces as they come; raises ``HearthError`` on failure."""
        ...

    def cancel(self) -> None: ...

    @property
    def finish_reason(self) -> str: ...


class ChatStreamer(Protocol):
    def stream(self, messages: Sequence[ChatMessage], max_tokens: int) -> TextStream: ...


class _EngineTextStream:
    def __init__(self, job: Job) -> None:
        self._job = job
        self.finish_reason = ""

    def __iter__(self) -> Iterator[str]:
        for event in self._job.events():
            if isinstance(event, TextChunk):
                yield event.text
            elif isinstance(event, JobFinished):
                self.finish_reason = event.finish_reason
                if event.error is not None and event.finish_reason != "cancelled":
                    raise event.error

    def cancel(self) -> None:
        self._job.cancel()


class EngineStreamer:
    """Streams through the engine's chat job: greedy, so a rerun gives the same text."""

    def __init__(self, client: EngineClient) -> None:
        self._client = client

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int) -> TextStream:
        sampling = SamplingOptions(
            temperature=0.0, top_k=1, repeat_penalty=1.0, seed=0, max_tokens=max_tokens
        )
        return _EngineTextStream(self._client.chat(ChatRequest(tuple(messages), sampling)))


# -- the workflow -------------------------------------------------------------------------


@dataclass(frozen=True)
class Translation:
    index: int
    source: str
    text: str
    missed_terms: tuple[str, ...] = ()
    cut: bool = False
    """The answer hit its token budget in some paragraph."""
    empty: bool = False


@dataclass
class TranslateStats:
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def items_per_s(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.done / elapsed if elapsed > 0 and self.done else 0.0

    @property
    def eta_s(self) -> float | None:
        rate = self.items_per_s
        return (self.total - self.done) / rate if rate > 0 else None


def answer_budget(paragraph: str) -> int:
    # Translations run up to about twice the source's tokens (about four characters each).
    return min(2048, 32 + len(paragraph) // 2)


class Translator:
    def __init__(self, streamer: ChatStreamer, spec: TranslateSpec) -> None:
        self.streamer = streamer
        self.spec = spec.validate()
        self._cancelled = False
        self._stream: TextStream | None = None
        self.stats = TranslateStats()

    def cancel(self) -> None:
        self._cancelled = True
        if self._stream is not None:
            self._stream.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def translate(
        self, text: str, on_text: Callable[[str], None] | None = None, index: int = 0
    ) -> Translation | None:
        """One text, paragraph by paragraph; ``on_text`` gets the output as it streams
        (separators included). ``None`` if cancelled before the end."""
        if not text.strip():
            if on_text is not None and text:
                on_text(text)
            return Translation(index, text, text, empty=True)
        paragraphs, separators = split_paragraphs(text)
        out: list[str] = []
        missed: list[str] = []
        cut = False
        for number, paragraph in enumerate(paragraphs):
            if self._cancelled:
                return None
            if paragraph.strip():
                leading = paragraph[: len(paragraph) - len(paragraph.lstrip())]
                trailing = paragraph[len(paragraph.rstrip()) :]
                if leading and on_text is not None:
                    on_text(leading)
                core = paragraph.strip()
                stream = self.streamer.stream(build_messages(core, self.spec), answer_budget(core))
                self._stream = stream
                pieces: list[str] = []
                keep = _ParagraphFilter()
                for raw in stream:
                    piece = keep.feed(raw)
                    if piece:
                        pieces.append(piece)
                        if on_text is not None:
                            on_text(piece)
                if self._cancelled or stream.finish_reason == "cancelled":
                    self._cancelled = True
                    return None
                cut = cut or stream.finish_reason == "length"
                translated = "".join(pieces)
                missed += missed_terms(core, translated, self.spec)
                out.append(leading + translated + trailing)
                if trailing and on_text is not None:
                    on_text(trailing)
            else:
                out.append(paragraph)
                if on_text is not None and paragraph:
                    on_text(paragraph)
            if number < len(separators):
                out.append(separators[number])
                if on_text is not None:
                    on_text(separators[number])
        return Translation(index, text, "".join(out), tuple(missed), cut)

    def translate_all(
        self,
        items: Sequence[str],
        on_result: Callable[[Translation], None] | None = None,
    ) -> list[Translation]:
        """Many texts (lines, a CSV column): rows in = rows out, in order. After a
        cancel, the finished rows are returned."""
        self.stats = TranslateStats(total=len(items))
        results: list[Translation] = []
        for index, item in enumerate(items):
            if self._cancelled:
                break
            result = self.translate(item, index=index)
            if result is None:
                break
            results.append(result)
            self.stats.done += 1
            if on_result is not None:
                on_result(result)
        return results
