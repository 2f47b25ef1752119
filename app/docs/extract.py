"""Read a document into blocks: headings and paragraphs, each with its page number.

Every reader raises :class:`UnreadableDocument` with a one-line reason a person can act
on (``"password protected"``, ``"not a valid PDF: ..."``, ``"too large: ..."``); the
indexer lists those files instead of skipping them silently.

Text files are decoded as UTF-8 (with or without a BOM), UTF-16 with a BOM, and
otherwise as Windows-1252, whose superset of Latin-1 covers the usual legacy files;
a file that is none of these (binary data) is refused.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

BlockKind = Literal["heading", "text"]

MAX_FILE_BYTES = 64 * 1024 * 1024
"""Files above this size are listed as unreadable ("too large") rather than read."""

TEXT_SUFFIXES = frozenset({".txt", ".text", ".log"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
SUPPORTED_SUFFIXES = frozenset(
    {*TEXT_SUFFIXES, *MARKDOWN_SUFFIXES, *HTML_SUFFIXES, ".pdf", ".docx", ".csv"}
)


class UnreadableDocument(Exception):
    """A file that cannot be indexed; ``reason`` is one line for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    text: str
    page: int | None = None
    """1-based page for paged formats (PDF); ``None`` where a format has no pages."""
    level: int = 0
    """Heading level (1 = top); 0 for paragraphs."""


@dataclass(frozen=True)
class Extracted:
    blocks: tuple[Block, ...]
    pages: int | None = None
    title: str = ""
    note: str = ""
    """Something the user may want to know (e.g. the text encoding that was guessed)."""


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def extract(path: Path, max_bytes: int = MAX_FILE_BYTES) -> Extracted:
    """The blocks of ``path``; raises :class:`UnreadableDocument` with the reason."""
    suffix = path.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise UnreadableDocument(f"unsupported file type '{suffix or path.name}'")
    try:
        size = path.stat().st_size
    except OSError as error:
        raise UnreadableDocument(f"cannot open: {error.strerror or error}") from error
    if size > max_bytes:
        raise UnreadableDocument(
            f"too large: {size / 1e6:.0f} MB (the limit is {max_bytes / 1e6:.0f} MB)"
        )
    try:
        extracted = reader(path)
    except UnreadableDocument:
        raise
    except OSError as error:
        raise UnreadableDocument(f"cannot open: {error.strerror or error}") from error
    except MemoryError as error:
        raise UnreadableDocument("too large to read in memory") from error
    except Exception as error:  # a parser's own bug on a strange file: skip that file
        log.warning("could not read %s", path, exc_info=True)
        raise UnreadableDocument(f"could not be read ({_short(error)})") from error
    if not any(block.text.strip() for block in extracted.blocks):
        if suffix == ".pdf":
            raise UnreadableDocument(
                "no text found (a scanned PDF? Hearth does not read text in images)"
            )
        raise UnreadableDocument("no text found (the file is empty)")
    return extracted


# -- text ---------------------------------------------------------------------------------


def decode_text(data: bytes) -> tuple[str, str]:
    """``(text, note)``: UTF-8/UTF-16 by BOM or by validity, else Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), ""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        pass
    if data.count(b"\x00") > len(data) // 100:
        raise UnreadableDocument("not a text file (binary data)")
    try:
        return data.decode("cp1252"), "read as Windows-1252 (not UTF-8)"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "read as Latin-1 (not UTF-8)"


def _read_text(path: Path) -> tuple[str, str]:
    return decode_text(path.read_bytes())


def paragraphs(text: str) -> Iterator[str]:
    """Paragraphs separated by blank lines, with their lines joined."""
    for part in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        cleaned = part.strip()
        if cleaned:
            yield cleaned


def _plain_text(path: Path) -> Extracted:
    text, note = _read_text(path)
    if "\x00" in text:
        raise UnreadableDocument("not a text file (binary data)")
    blocks = tuple(Block("text", part) for part in paragraphs(text))
    return Extracted(blocks, note=note)


_ATX = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^(```|~~~)")


def _markdown(path: Path) -> Extracted:
    text, note = _read_text(path)
    blocks = markdown_blocks(text)
    title = next((b.text for b in blocks if b.kind == "heading"), "")
    return Extracted(tuple(blocks), title=title, note=note)


def markdown_blocks(text: str) -> list[Block]:
    """Headings (ATX and setext) and paragraphs; a fenced code block stays one paragraph."""
    blocks: list[Block] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    pending: list[str] = []
    fence: str | None = None

    def flush() -> None:
        joined = "\n".join(pending).strip()
        if joined:
            blocks.append(Block("text", joined))
        pending.clear()

    for line in lines:
        if fence is not None:
            pending.append(line)
            if line.strip().startswith(fence):
                fence = None
                flush()
            continue
        opening = _FENCE.match(line.strip())
        if opening:
            flush()
            fence = opening.group(1)
            pending.append(line)
            continue
        heading = _ATX.match(line)
        if heading:
            flush()
            blocks.append(Block("heading", heading.group(2).strip(), level=len(heading.group(1))))
            continue
        stripped = line.strip()
        if pending and len(pending) == 1 and stripped and set(stripped) <= {"="}:
            blocks.append(Block("heading", pending[0].strip(), level=1))
            pending.clear()
            continue
        if pending and len(pending) == 1 and len(stripped) >= 2 and set(stripped) <= {"-"}:
            blocks.append(Block("heading", pending[0].strip(), level=2))
            pending.clear()
            continue
        if not stripped:
            flush()
        else:
            pending.append(line)
    flush()
    return blocks


# -- PDF ----------------------------------------------------------------------------------


def _pdf(path: Path) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    with path.open("rb") as handle:
        head = handle.read(1024)
    if b"%PDF-" not in head:
        raise UnreadableDocument("not a valid PDF (no PDF header)")
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                reader.decrypt("")  # many "protected" PDFs only restrict printing
            except Exception as error:
                raise UnreadableDocument("password protected") from error
        blocks: list[Block] = []
        pages = reader.pages
        for number, page in enumerate(pages, start=1):
            text = page.extract_text() or ""
            for part in _pdf_paragraphs(text):
                blocks.append(Block("text", part, page=number))
        count = len(pages)
        title = ""
        metadata = reader.metadata
        if metadata is not None and metadata.title:
            title = str(metadata.title)
    except UnreadableDocument:
        raise
    except FileNotDecryptedError as error:
        raise UnreadableDocument("password protected") from error
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        raise UnreadableDocument(f"not a valid PDF ({_short(error)})") from error
    except RecursionError as error:
        raise UnreadableDocument("not a valid PDF (its structure loops)") from error
    return Extracted(tuple(blocks), pages=count, title=title)


def _pdf_paragraphs(text: str) -> Iterator[str]:
    """PDF text has hard line breaks: blank lines separate paragraphs, lines are joined."""
    for part in paragraphs(text):
        yield re.sub(r"-\n(?=[a-z])", "", part).replace("\n", " ")


# -- Word ---------------------------------------------------------------------------------

_HEADING_STYLE = re.compile(r"^(?:heading|überschrift|titre)\s*(\d)", re.IGNORECASE)


def _docx(path: Path) -> Extracted:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise UnreadableDocument(f"not a valid Word document ({_short(error)})") from error
    except Exception as error:  # lxml errors on damaged XML inside the package
        raise UnreadableDocument(f"not a valid Word document ({_short(error)})") from error
    blocks: list[Block] = []
    title = ""
    for item in document.iter_inner_content():
        if isinstance(item, docx.table.Table):
            for row in item.rows:
                cells = [cell.text.strip() for cell in row.cells]
                line = " | ".join(dict.fromkeys(cell for cell in cells if cell))
                if line:
                    blocks.append(Block("text", line))
            continue
        text = item.text.strip()
        if not text:
            continue
        style = (item.style.name if item.style is not None else "") or ""
        heading = _HEADING_STYLE.match(style)
        if style.lower() == "title":
            title = title or text
            blocks.append(Block("heading", text, level=1))
        elif heading:
            blocks.append(Block("heading", text, level=int(heading.group(1))))
        else:
            blocks.append(Block("text", text))
    core_title = document.core_properties.title
    return Extracted(tuple(blocks), title=core_title or title)


# -- HTML ---------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {"p", "div", "li", "td", "th", "pre", "blockquote", "section", "article", "tr", "dd", "dt"}
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "head"})


class _HtmlBlocks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.title = ""
        self._parts: list[str] = []
        self._heading = 0
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self._flush()
            self._heading = int(tag[1])
        elif tag in _BLOCK_TAGS:
            self._flush()
        elif tag == "br":
            self._parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif (len(tag) == 2 and tag[0] == "h" and tag[1] in "123456") or tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self._parts.append(data)

    def _flush(self) -> None:
        text = re.sub(r"[ \t\r\n]+", " ", "".join(self._parts)).strip()
        self._parts.clear()
        if text:
            if self._heading:
                self.blocks.append(Block("heading", text, level=self._heading))
            else:
                self.blocks.append(Block("text", text))
        self._heading = 0

    def close(self) -> None:
        super().close()
        self._flush()


def _html(path: Path) -> Extracted:
    text, note = _read_text(path)
    parser = _HtmlBlocks()
    parser.feed(text)
    parser.close()
    return Extracted(tuple(parser.blocks), title=parser.title.strip(), note=note)


# -- CSV ----------------------------------------------------------------------------------


def _csv(path: Path) -> Extracted:
    """One paragraph per row, "column: value; ..." so each row reads on its own."""
    text, note = _read_text(path)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192])
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as error:
        raise UnreadableDocument(f"not a valid CSV file ({_short(error)})") from error
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        return Extracted((), note=note)
    header = [cell.strip() for cell in rows[0]]
    blocks: list[Block] = []
    has_header = len(rows) > 1 and all(header) and not any(_numeric(cell) for cell in header)
    body = rows[1:] if has_header else rows
    for row in body:
        if has_header:
            pairs = [
                f"{name}: {value.strip()}"
                for name, value in zip(header, row, strict=False)
                if value.strip()
            ]
            blocks.append(Block("text", "; ".join(pairs)))
        else:
            blocks.append(Block("text", "; ".join(cell.strip() for cell in row if cell.strip())))
    return Extracted(tuple(blocks), note=note)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:160]


_READERS: dict[str, Callable[[Path], Extracted]] = {
    **dict.fromkeys(TEXT_SUFFIXES, _plain_text),
    **dict.fromkeys(MARKDOWN_SUFFIXES, _markdown),
    **dict.fromkeys(HTML_SUFFIXES, _html),
    ".pdf": _pdf,
    ".docx": _docx,
    ".csv": _csv,
}
