"""Reading and writing the items of a bulk task: lines, a CSV column, a CSV out. No Qt.

Rows in = rows out: every line or CSV row becomes one item, empty ones included, and
the output keeps the input's order and columns.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import HearthError


class InputError(HearthError):
    """The items cannot be read as given."""


@dataclass(frozen=True)
class Items:
    texts: tuple[str, ...]
    header: tuple[str, ...] = ()
    """CSV input: the columns, kept in the output."""
    rows: tuple[tuple[str, ...], ...] = ()
    column: str = ""


def decode_text(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}).",
            "Save it as UTF-8 (e.g. 'iconv -f latin1 -t utf-8') and try again.",
        ) from exc
    return text


def read_path(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    return decode_text(data, str(path))


def parse_lines(text: str) -> Items:
    """One item per line; empty lines are items too (a final newline is not a line)."""
    # Only real line ends: str.splitlines() also splits on form feeds, U+2028 and other
    # separators, which would make more rows out than lines in.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return Items(tuple(lines))


def parse_csv(text: str, column: str, name: str = "the input") -> Items:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [tuple(row) for row in reader]
    except csv.Error as exc:
        raise InputError(f"{name} is not a readable CSV file: {exc}.") from exc
    if not rows:
        raise InputError(f"{name} is empty: there is no header row with a '{column}' column.")
    header, body = rows[0], rows[1:]
    if column not in header:
        folded = [h.casefold() for h in header]
        if column.casefold() in folded:
            column = header[folded.index(column.casefold())]
        else:
            listing = ", ".join(repr(h) for h in header) or "none"
            raise InputError(f"{name} has no column '{column}'.", f"Its columns are: {listing}.")
    at = header.index(column)
    texts = tuple(row[at] if at < len(row) else "" for row in body)
    return Items(texts, header, tuple(body), column)


def write_csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    return out.getvalue()


def write_file(path: Path, text: str) -> None:
    """Write via a temporary file so a failed write leaves no half file."""
    temporary = path.with_name(path.name + ".part")
    try:
        temporary.write_text(text, encoding="utf-8", newline="")
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InputError(f"Cannot write {path}: {exc.strerror or exc}.") from exc
