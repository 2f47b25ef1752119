"""Cut a document's blocks into passages that respect headings, paragraphs and pages.

Rules, in order:

- a heading closes the current passage; the headings above a passage (its section
  path, e.g. ``"Pricing > Discounts"``) travel with it, for search and for citations;
- a new page closes the current passage, so every passage has one page number;
- paragraphs are added whole while the passage stays under ``target`` characters;
- a paragraph longer than ``limit`` is cut at sentence ends, else at spaces, else hard.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from app.docs.extract import Block

TARGET_CHARS = 1200
"""About 300 tokens: small enough to cite precisely, big enough to carry context."""
LIMIT_CHARS = 2000
SECTION_SEPARATOR = " > "

_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+")


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    text: str
    heading: str
    """The section path above the passage (may be empty)."""
    page: int | None


def chunk_blocks(
    blocks: Iterable[Block], target: int = TARGET_CHARS, limit: int = LIMIT_CHARS
) -> list[Chunk]:
    chunks: list[Chunk] = []
    sections: list[tuple[int, str]] = []
    parts: list[str] = []
    size = 0
    page: int | None = None

    def close() -> None:
        nonlocal size
        if parts:
            heading = SECTION_SEPARATOR.join(title for _, title in sections)
            chunks.append(Chunk(len(chunks), "\n\n".join(parts), heading, page))
            parts.clear()
            size = 0

    for block in blocks:
        if block.kind == "heading":
            close()
            level = block.level or 1
            sections[:] = [(lvl, title) for lvl, title in sections if lvl < level]
            sections.append((level, block.text[:200]))
            continue
        if block.page != page:
            close()
            page = block.page
        for piece in split_long(block.text, limit):
            if parts and size + len(piece) + 2 > target:
                close()
            parts.append(piece)
            size += len(piece) + 2
    close()
    return chunks


def split_long(text: str, limit: int = LIMIT_CHARS) -> Iterator[str]:
    """``text`` whole when short, else pieces under ``limit`` cut at sentences or spaces."""
    if len(text) <= limit:
        yield text
        return
    piece = ""
    for whole in _SENTENCE_END.split(text):
        sentence = whole
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            head, sentence = sentence[:cut].strip(), sentence[cut:].strip()
            if piece:
                yield piece
                piece = ""
            yield head
        if piece and len(piece) + 1 + len(sentence) > limit:
            yield piece
            piece = sentence
        else:
            piece = f"{piece} {sentence}" if piece else sentence
    if piece:
        yield piece
