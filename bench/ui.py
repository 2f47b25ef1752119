"""UI streaming benchmark: Hearth's message view against a plain-text view.

A recorded long Markdown answer (``bench/data/long_answer.md``, about 8,000 tokens of
headings, paragraphs, nested lists, tables, quotes, links and code in several
languages) is replayed at 2,000 tokens/s into a chat that already holds 200 messages.
The tokens travel the way they do in the app: a producer thread calls the real
:class:`app.ui.bridges.engine_bridge.EngineBridge` listener with
:class:`app.engine.protocol.TextChunk` events (through a fake engine client that only
offers ``add_listener``), the bridge's GUI-thread timer drains them and emits
``textBatch``, and a slot that mirrors ``ChatController._on_text`` hands the text to the
view. The same replay goes into a plain ``QPlainTextEdit`` in an otherwise identical
window, in the same process, alternating with the Hearth runs. When the streamed reply
turns out to be off-screen, a third side runs the same view with a bench-side fix of
its canvas sizing (``--canvas-fix``), to show the numbers once that is fixed.

Measured on the GUI thread (offscreen platform, windows shown):

- event-loop lag while streaming (a 1 ms precise QTimer: actual interval - 1 ms);
- token arrival to paint (the producer stamps each token when it pushes it; an event
  filter sees the first ``QEvent.Paint`` of the streaming message after each flush
  that covers the end of the text);
- one flush once the streamed answer holds 100,000 characters (``stream_text`` call);
- opening a 2,000-message conversation (``show_messages`` to the first paint of the
  view scrolled to its end);
- streaming with persistence (a real ``HistoryStore`` on a temporary SQLite file,
  ``start_reply`` / ``update_reply`` once a second / ``finish_reply``) against without.

    python bench/ui.py                # full run (about 2.5 minutes on 2 cores)
    python bench/ui.py --quick        # smoke run (under 30 seconds)
    python bench/ui.py --write-docs   # also rewrite the UI section of docs/benchmarks.md
    python bench/ui.py --profile      # also profile one Hearth replay (cProfile, GUI thread)

See docs/benchmarks.md ("UI streaming") for what each metric means.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import datetime as dt
import gc
import io
import itertools
import math
import os
import platform
import pstats
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/ui.py` from a checkout without install
    sys.path.insert(0, str(ROOT))

import PySide6  # noqa: E402
from PySide6.QtCore import (  # noqa: E402
    QEvent,
    QEventLoop,
    QObject,
    QRect,
    Qt,
    QTimer,
    Slot,
    qVersion,
)
from PySide6.QtGui import QPaintEvent, QTextCursor  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QApplication,
    QLabel,
    QMainWindow,
    QPlainTextEdit,
    QSizePolicy,
    QWidget,
)

from app.engine.protocol import Event, JobFinished, TextChunk  # noqa: E402
from app.store.database import Database, open_database  # noqa: E402
from app.store.history import HistoryStore, Message  # noqa: E402
from app.ui.bridges.engine_bridge import FLUSH_INTERVAL_MS, EngineBridge  # noqa: E402
from app.ui.message_view import MessageView  # noqa: E402
from app.ui.rich_text import RichText  # noqa: E402
from app.ui.theme import apply_theme  # noqa: E402

DATA_DIR = Path(__file__).resolve().parent / "data"
ANSWER_FILE = DATA_DIR / "long_answer.md"
DOCS_FILE = ROOT / "docs" / "benchmarks.md"
DOCS_START = "<!-- ui-bench:start -->"
DOCS_END = "<!-- ui-bench:end -->"

ANSWER_SEED = 20261126
ANSWER_TOKENS = 8000
CHAT_SEED = 7
LONG_SEED = 100_000
RATE = 2000.0  # tokens per second
HISTORY_PAIRS = 100  # the chat the reply streams into: 200 messages
OPEN_MESSAGES = 2000
BIG_ANSWER_CHARS = 100_000
CHUNK_TOKENS = round(RATE * FLUSH_INTERVAL_MS / 1000)  # tokens per flush at 30 Hz: 60
FLUSH_TOKENS = 8  # the measured flush at 100,000 characters
PERSIST_SECONDS = 1.0  # ChatController.FLUSH_SECONDS
WINDOW_SIZE = (1100, 760)  # MainWindow's default size

TARGETS = {
    "lag_p99": 8.0,
    "lag_max": 50.0,
    "paint_p95": 33.0,
    "last_paint": 50.0,
    "flush_100k": 2.0,
    "open_2000": 150.0,
    "persist_ratio": 0.99,
}


# =============================================================================== data
#
# A deterministic generator of realistic chat Markdown: the recorded answer and the
# conversations. Only ``random.Random(seed)`` is used, so the output is the same
# everywhere; ``--regen-data`` rewrites bench/data/long_answer.md from it.


def _wordlist(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_WORDS = _wordlist(
    "the a an of to in for on with by from and or but not that this these those it its is "
    "are was be can will should would may might must use uses using run runs build builds "
    "model models token tokens thread threads queue buffer layout widget render renders "
    "parse parser commit block blocks stream streams value values cache caches request "
    "response server client process memory disk file files path config setting settings "
    "option options error errors result results test tests function functions method class "
    "object list table row rows column columns index query database schema migration user "
    "users message messages window view event events timer loop signal slot lock state "
    "data input output text string number type types field fields key keys map each every "
    "first last next previous small large fast slow simple safe stable default custom local "
    "remote network version release update install package library module import export "
    "when while before after because since so then also only just still already often "
    "usually always never again instead however therefore example practice pattern approach "
    "performance latency throughput overhead budget limit size count time second batch "
    "frame paint update flush write read open close start stop create delete change keep"
)

_NAMES = _wordlist(
    "config items batch result handler parser cache buffer record entry node worker "
    "session reader writer index offset total count payload options context request "
    "response stream queue chunk token label widget layout theme store model engine"
)

_TITLE_WORDS = _wordlist(
    "Overview Setup Configuration Design Performance Streaming Rendering Storage Testing "
    "Deployment Security Caching Concurrency Errors Migration Profiling Layout Summary "
    "Background Options Limits Examples Troubleshooting Architecture Memory Threads"
)

_DOMAINS = (
    "docs.python.org",
    "doc.qt.io",
    "developer.mozilla.org",
    "www.sqlite.org",
    "github.com",
    "en.wikipedia.org",
    "rust-lang.org",
    "go.dev",
)

_CODE_LINES: dict[str, tuple[str, tuple[str, ...], str]] = {
    # language: (opening line, body lines, closing line); {a}, {b}, {n}, {w}, {s} are filled in
    "python": (
        "def {a}_{b}({a}: list[str], limit: int = {n}) -> dict[str, int]:",
        (
            '    """{s}"""',
            "    {b} = {{}}",
            "    for i, item in enumerate({a}):",
            "        if len(item) > limit:",
            "            {b}[item] = i * {n}",
            "        elif item.startswith('{w}'):",
            "            continue",
            "    # {s}",
            "    with open('{w}.txt', encoding='utf-8') as handle:",
            "        lines = [line.strip() for line in handle if line]",
            "    total = sum(len(x) for x in lines) + {n}",
            "    print(f'{{total}} {w}')",
            "    {b}.update({{'{w}': total}})",
        ),
        "    return {b}",
    ),
    "javascript": (
        "export async function {a}{B}({a}, options = {{}}) {{",
        (
            "  const {b} = await fetch(`/api/{w}/${{{a}.id}}`);",
            "  // {s}",
            "  if (!{b}.ok) throw new Error('{w} failed: ' + {b}.status);",
            "  const data = await {b}.json();",
            "  for (const item of data.items ?? []) {{",
            "    options.onItem?.(item, {n});",
            "  }}",
            "  let total = data.items.reduce((acc, x) => acc + x.size, {n});",
            "  console.log(`{w}: ${{total}}`);",
        ),
        "  return {{ total, {b} }};\n}}",
    ),
    "rust": (
        "pub fn {a}_{b}({a}: &[u8], limit: usize) -> Result<Vec<String>, Error> {{",
        (
            "    let mut {b} = Vec::with_capacity({n});",
            "    // {s}",
            "    for (i, chunk) in {a}.chunks(limit).enumerate() {{",
            "        let text = std::str::from_utf8(chunk).map_err(Error::Utf8)?;",
            '        {b}.push(format!("{{}}:{{}}", i, text));',
            "    }}",
            "    if {b}.len() > {n} {{",
            "        {b}.truncate({n});",
            "    }}",
            "    let total: usize = {b}.iter().map(|s| s.len()).sum();",
            '    log::debug!("{w} {{}}", total);',
        ),
        "    Ok({b})\n}}",
    ),
    "sql": (
        "-- {s}",
        (
            "SELECT m.id, m.{a}, count(*) AS {b}",
            "FROM messages m",
            "JOIN conversations c ON c.id = m.conversation_id",
            "WHERE m.created_at > datetime('now', '-{n} days')",
            "  AND c.{w} IS NOT NULL",
            "GROUP BY m.{a}",
            "HAVING count(*) > {n}",
            "ORDER BY {b} DESC",
        ),
        "LIMIT {n};",
    ),
    "bash": (
        "#!/usr/bin/env bash\nset -euo pipefail",
        (
            '{a}="${{1:-{w}}}"',
            "# {s}",
            'for f in "${a}"/*.{w}; do',
            '  echo "processing $f"',
            '  grep -c "{b}" "$f" || true',
            "done",
            "python -m pip install --upgrade {w}",
            "export {A}_LIMIT={n}",
            'tar -czf "{b}.tar.gz" "${a}"',
        ),
        'echo "done: ${a}"',
    ),
    "go": (
        "func {A}{B}(ctx context.Context, {a} []string) (map[string]int, error) {{",
        (
            "\t{b} := make(map[string]int, {n})",
            "\t// {s}",
            "\tfor i, item := range {a} {{",
            "\t\tif len(item) > {n} {{",
            "\t\t\t{b}[item] = i",
            "\t\t}}",
            "\t}}",
            "\tselect {{",
            "\tcase <-ctx.Done():",
            "\t\treturn nil, ctx.Err()",
            "\tdefault:",
            "\t}}",
        ),
        "\treturn {b}, nil\n}}",
    ),
    "json": (
        "{{",
        (
            '  "{a}": "{w}",',
            '  "{b}": {n},',
            '  "enabled": true,',
            '  "tags": ["{w}", "{a}", "{b}"],',
            '  "limits": {{ "max": {n}, "min": 0 }},',
            '  "description": "{s}",',
        ),
        '  "version": {n}\n}}',
    ),
    "yaml": (
        "{a}:",
        (
            "  {b}: {n}",
            "  name: {w}",
            "  enabled: true",
            "  # {s}",
            "  items:",
            "    - {w}",
            "    - {a}",
            "  limits:",
            "    max: {n}",
        ),
        "  version: {n}",
    ),
    "cpp": (
        "std::vector<std::string> {a}{B}(const std::string& {a}, std::size_t limit) {{",
        (
            "    std::vector<std::string> {b};",
            "    // {s}",
            "    {b}.reserve({n});",
            "    for (std::size_t i = 0; i < {a}.size(); i += limit) {{",
            "        {b}.push_back({a}.substr(i, limit));",
            "    }}",
            '    std::cout << "{w}: " << {b}.size() << std::endl;',
            "    if ({b}.size() > {n}) {b}.resize({n});",
        ),
        "    return {b};\n}}",
    ),
}


class MarkdownGenerator:
    """Realistic assistant and user Markdown from a seeded random generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._languages = list(_CODE_LINES)
        self.rng.shuffle(self._languages)
        self._next_language = 0

    # -- inline text ---------------------------------------------------------------

    def _word(self) -> str:
        return self.rng.choice(_WORDS)

    def _name(self) -> str:
        return self.rng.choice(_NAMES)

    def _link(self, text: str) -> str:
        domain = self.rng.choice(_DOMAINS)
        path = "/".join(self._name() for _ in range(self.rng.randint(1, 3)))
        return f"[{text}](https://{domain}/{path})"

    def sentence(self, low: int = 7, high: int = 22, inline: bool = True) -> str:
        words: list[str] = []
        for i in range(self.rng.randint(low, high)):
            word = self._word()
            roll = self.rng.random() if inline and i > 0 else 1.0
            if roll < 0.06:
                word = f"`{self._name()}.{self._name()}()`"
            elif roll < 0.08:
                word = f"**{word} {self._word()}**"
            elif roll < 0.10:
                word = f"*{word}*"
            elif roll < 0.115:
                word = self._link(f"{word} {self._word()}")
            elif roll < 0.14:
                word = f"{self.rng.randint(2, 4096)}"
            words.append(word)
            if i and self.rng.random() < 0.07:
                words[-1] += ","
        text = " ".join(words).rstrip(",")
        return text[0].upper() + text[1:] + self.rng.choice(".....?!")

    def paragraph(self, low: int = 2, high: int = 6) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(low, high)))

    def title(self, low: int = 2, high: int = 5) -> str:
        words = [self.rng.choice(_TITLE_WORDS)]
        words += [self._word() for _ in range(self.rng.randint(low, high) - 1)]
        return " ".join(words)

    # -- blocks ---------------------------------------------------------------------

    def code(self, lang: str | None = None, low: int = 4, high: int = 28) -> str:
        if lang is None:  # every language in turn, so a long answer shows them all
            lang = self._languages[self._next_language % len(self._languages)]
            self._next_language += 1
        opening, body, closing = _CODE_LINES[lang]
        start = self.rng.randrange(len(body))  # body lines in order, from a random start
        count = self.rng.randint(low, high)
        lines = [opening, *(body[(start + k) % len(body)] for k in range(count)), closing]
        a, b = self._name(), self._name()
        filled = [
            line.format(
                a=a,
                b=b,
                A=a.capitalize(),
                B=b.capitalize(),
                n=self.rng.randint(1, 512),
                w=self._word(),
                s=self.sentence(4, 10, inline=False).rstrip("."),
            )
            for line in lines
        ]
        return f"```{lang}\n" + "\n".join(filled) + "\n```"

    def _list_lines(self, ordered: bool, depth: int) -> list[str]:
        lines = []
        bullet = self.rng.choice("-*") if depth else "-"
        for i in range(self.rng.randint(2, 6 if depth == 0 else 4)):
            marker = f"{i + 1}." if ordered else bullet
            lines.append(f"{marker} {self.sentence(4, 16)}")
            if depth < 2 and self.rng.random() < 0.35:
                child = self._list_lines(self.rng.random() < 0.25, depth + 1)
                lines += [" " * (len(marker) + 1) + line for line in child]
        return lines

    def bullets(self, ordered: bool = False) -> str:
        """A list, nested up to three levels."""
        return "\n".join(self._list_lines(ordered, 0))

    def table(self) -> str:
        columns = self.rng.randint(3, 5)
        header = [self.rng.choice(_TITLE_WORDS) for _ in range(columns)]
        align = [self.rng.choice(("---", ":---", ":---:", "---:")) for _ in range(columns)]
        rows = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
        for _ in range(self.rng.randint(3, 9)):
            cells = []
            for c in range(columns):
                roll = self.rng.random()
                if c and roll < 0.3:
                    cells.append(f"{self.rng.uniform(0, 999):.1f}")
                elif roll < 0.45:
                    cells.append(f"`{self._name()}`")
                else:
                    cells.append(self.sentence(1, 5, inline=False).rstrip("."))
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join(rows)

    def quote(self) -> str:
        lines = [f"> {self.sentence()}" for _ in range(self.rng.randint(1, 3))]
        if self.rng.random() < 0.4:
            lines += [">", f"> - {self.sentence(3, 10)}", f"> - {self.sentence(3, 10)}"]
        if self.rng.random() < 0.25:
            lines += [">", f"> > {self.sentence()}"]
        return "\n".join(lines)

    def block(self) -> str:
        kinds = ("paragraph", "code", "bullets", "ordered", "table", "quote", "heading")
        weights = (4.0, 3.0, 1.5, 1.0, 0.8, 0.6, 1.0)
        kind = self.rng.choices(kinds, weights)[0]
        if kind == "code":
            return self.code()
        if kind == "bullets":
            return self.bullets()
        if kind == "ordered":
            return self.bullets(ordered=True)
        if kind == "table":
            return self.table()
        if kind == "quote":
            return self.quote()
        if kind == "heading":
            return f"### {self.title()}"
        return self.paragraph()

    # -- whole messages -------------------------------------------------------------

    def answer(self, target_chars: int, title: bool = True) -> str:
        """A long structured answer of about ``target_chars`` (ends at a block boundary)."""
        parts = [f"# {self.title(3, 6)}", self.paragraph(2, 4)] if title else []
        size = sum(len(p) + 2 for p in parts)
        first = True
        while size < target_chars:
            section = [f"## {self.title()}", self.paragraph()]
            if first:  # every kind of block at least once, early on
                section += [
                    self.code(),
                    self.bullets(),
                    self.table(),
                    self.code(),
                    self.quote(),
                    self.bullets(ordered=True),
                    self.code(),
                ]
                first = False
            section += [self.block() for _ in range(self.rng.randint(3, 8))]
            parts += section
            size += sum(len(p) + 2 for p in section)
        return "\n\n".join(parts) + "\n"

    def assistant_message(self) -> str:
        roll = self.rng.random()
        if roll < 0.3:
            return self.paragraph(1, 4)
        if roll < 0.75:
            blocks = [self.paragraph()] + [self.block() for _ in range(self.rng.randint(2, 6))]
            return "\n\n".join(blocks)
        return self.answer(self.rng.randint(2500, 8000), title=False).rstrip("\n")

    def user_message(self) -> str:
        roll = self.rng.random()
        if roll < 0.55:
            return self.sentence(5, 20, inline=False)
        if roll < 0.85:
            return self.paragraph(2, 4).replace("`", "").replace("**", "")
        return f"{self.sentence(5, 14, inline=False)}\n\n{self.code(high=14)}"


_TOKEN = re.compile(r"\s*[A-Za-z]{1,7}|\s*[0-9]{1,3}|\s*[^\sA-Za-z0-9]{1,2}|\s+")


def tokenize(text: str) -> list[str]:
    """~4-character "tokens": a word of up to 7 letters with its leading space, or pieces."""
    tokens = _TOKEN.findall(text)
    assert "".join(tokens) == text
    return tokens


def recorded_answer(regenerate: bool = False) -> str:
    """The replayed answer: bench/data/long_answer.md (written from the generator if absent)."""
    if regenerate or not ANSWER_FILE.exists():
        text = _answer_of_tokens(ANSWER_SEED, ANSWER_TOKENS)
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        ANSWER_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {ANSWER_FILE.relative_to(ROOT)} ({len(tokenize(text))} tokens)")
    return ANSWER_FILE.read_text(encoding="utf-8")


def _answer_of_tokens(seed: int, tokens: int) -> str:
    """An answer of at least ``tokens`` tokens, cut at the first block boundary after it."""
    text = MarkdownGenerator(seed).answer(tokens * 4)
    while len(tokenize(text)) < tokens:
        tokens_now = len(tokenize(text))
        text = MarkdownGenerator(seed).answer(int(len(text) * tokens / tokens_now) + 400)
    return text


def chat_contents(seed: int, pairs: int) -> list[tuple[str, str]]:
    gen = MarkdownGenerator(seed)
    return [(gen.user_message(), gen.assistant_message()) for _ in range(pairs)]


# ============================================================================ helpers


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (q in 0..100); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else math.nan


def run_loop_until(done: Callable[[], bool], timeout_s: float, check_ms: int = 2) -> bool:
    """Run the real event loop until ``done()`` (checked every ``check_ms``) or a timeout."""
    if done():
        return True
    loop = QEventLoop()
    deadline = time.perf_counter() + timeout_s
    timer = QTimer()
    timer.setInterval(check_ms)

    def check() -> None:
        if done() or time.perf_counter() > deadline:
            loop.quit()

    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    return done()


def settle(seconds: float) -> None:
    """Let layouts, deferred deletes and paints finish."""
    end = time.perf_counter() + seconds
    run_loop_until(lambda: time.perf_counter() >= end, seconds + 1, check_ms=10)
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def pump() -> None:
    """Process what is pending now (posted layout requests, update requests, paints)."""
    for _ in range(3):
        QApplication.processEvents()


class Heartbeat(QObject):
    """A 1 ms precise timer on the GUI thread; its late ticks are the event-loop lag."""

    def __init__(self) -> None:
        super().__init__()
        self.ticks: list[float] = []
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(1)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.ticks = [time.perf_counter()]
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @Slot()
    def _tick(self) -> None:
        self.ticks.append(time.perf_counter())

    def lags_ms(self, until: float) -> list[float]:
        """Interval - 1 ms for each tick up to ``until`` (never below zero)."""
        ticks = [t for t in self.ticks if t <= until]
        return [max(0.0, (b - a) * 1000 - 1.0) for a, b in itertools.pairwise(ticks)]


class PaintProbe(QObject):
    """Sees QEvent.Paint on the watched widgets; tokens flushed but not yet painted wait here.

    With ``covers``, a paint counts only when its rectangle covers the end of the text
    (the last line of the reply's last body label; the text cursor in the baseline).
    With a ``condition``, only paints for which it holds count (opening a conversation:
    the scroll bar must be at the bottom).
    """

    def __init__(self) -> None:
        super().__init__()
        self.awaiting: list[float] = []  # push times of flushed tokens not painted yet
        self.latencies_ms: list[float] = []
        self.paints = 0
        self.last_paint = 0.0
        self.last_latency_ms = math.nan
        self.condition: Callable[[], bool] | None = None
        self.covers: Callable[[QWidget, QRect], bool] | None = None
        self._watched: dict[int, QWidget] = {}

    def reset(self) -> None:
        self.awaiting = []
        self.latencies_ms = []
        self.paints = 0
        self.last_paint = 0.0
        self.last_latency_ms = math.nan
        self.condition = None
        self.covers = None

    def watch(self, widgets: Iterable[QWidget]) -> None:
        for widget in widgets:
            if id(widget) not in self._watched:
                widget.installEventFilter(self)
                self._watched[id(widget)] = widget

    def unwatch_all(self) -> None:
        for widget in self._watched.values():
            with contextlib.suppress(RuntimeError):  # already deleted (a replaced message)
                widget.removeEventFilter(self)
        self._watched.clear()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Paint:
            return False
        if self.condition is not None and not self.condition():
            return False
        if self.covers is not None and isinstance(watched, QWidget):
            assert isinstance(event, QPaintEvent)
            if not self.covers(watched, event.rect()):
                return False  # a repaint that does not show the end of the text
        now = time.perf_counter()
        self.paints += 1
        self.last_paint = now
        if self.awaiting:
            self.latencies_ms.extend((now - t) * 1000 for t in self.awaiting)
            self.last_latency_ms = (now - self.awaiting[-1]) * 1000
            self.awaiting = []
        return False


# ============================================================================= sinks

HEARTH = "Hearth"
FIXED = "Hearth, canvas fixed in bench"
PLAIN = "plain text"


class Sink(Protocol):
    name: str
    window: QMainWindow
    status: QLabel

    def prepare(self, history: Sequence[Message], user: Message, reply: Message) -> None: ...
    def stream(self, message_id: int, text: str) -> None: ...
    def finish(self, message: Message) -> None: ...
    def paint_targets(self, message_id: int) -> list[QWidget]: ...
    def covers_end(self, widget: QWidget, rect: QRect) -> bool: ...
    def on_screen(self, message_id: int) -> bool: ...
    def blank_below(self, message_id: int) -> int: ...
    def open(self, messages: Sequence[Message]) -> None: ...
    def viewport_widget(self) -> QWidget: ...
    def at_bottom(self) -> bool: ...


def _window(central: QWidget, title: str) -> tuple[QMainWindow, QLabel]:
    window = QMainWindow()
    window.setWindowTitle(title)
    window.resize(*WINDOW_SIZE)
    window.setCentralWidget(central)
    status = QLabel("")
    window.statusBar().addPermanentWidget(status)
    window.show()
    return window, status


class HearthSink:
    """The app's MessageView, driven the way MainWindow wires it to ChatController.

    ``fix_canvas`` applies a bench-side workaround for the blank space under the last
    message (see docs/benchmarks.md): the canvas's vertical size policy becomes Ignored,
    so QScrollArea sizes it by heightForWidth instead of the sum of the messages'
    minimum heights. Nothing else differs.
    """

    def __init__(self, name: str = HEARTH, fix_canvas: bool = False) -> None:
        self.name = name
        self.view = MessageView()
        if fix_canvas:
            self._canvas().setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self.window, self.status = _window(self.view, name)

    def _canvas(self) -> QWidget:
        canvas = self.view.widget()
        assert canvas is not None
        return canvas

    def prepare(self, history: Sequence[Message], user: Message, reply: Message) -> None:
        self.view.show_messages(list(history))  # threadReset
        self.view.append_message(user)  # messageAdded
        self.view.begin_stream(reply)  # replyStarted

    def stream(self, message_id: int, text: str) -> None:
        self.view.stream_text(message_id, text)  # replyText

    def finish(self, message: Message) -> None:
        self.view.end_stream(message)  # replyFinished

    def paint_targets(self, message_id: int) -> list[QWidget]:
        widget = self.view.message_widget(message_id)
        return [] if widget is None else [widget]

    def covers_end(self, widget: QWidget, rect: QRect) -> bool:
        """The paint covers the last line of the message's last body block."""
        labels: list[QWidget] = [
            block for block in widget.findChildren(RichText) if block.isVisible()
        ] or [
            label
            for label in widget.findChildren(QLabel)
            if label.parent() is widget
            and label.isVisible()
            and label.objectName() != "messageStats"  # the footer under the body
        ]
        if not labels:
            return True
        last = max(labels, key=lambda label: label.geometry().bottom()).geometry()
        strip = QRect(last.left(), last.bottom() - 11, last.width(), 12)
        return rect.intersects(strip)

    def on_screen(self, message_id: int) -> bool:
        widget = self.view.message_widget(message_id)
        return widget is not None and not widget.visibleRegion().isEmpty()

    def blank_below(self, message_id: int) -> int:
        """Pixels of canvas under the message (it is the last one: nothing should be there)."""
        widget = self.view.message_widget(message_id)
        canvas = self._canvas()
        layout = canvas.layout()
        if widget is None or layout is None:
            return 0
        margin = layout.contentsMargins().bottom()
        return canvas.height() - widget.geometry().bottom() - 1 - margin

    def open(self, messages: Sequence[Message]) -> None:
        self.view.show_messages(list(messages))

    def viewport_widget(self) -> QWidget:
        # The message canvas is opaque and covers the viewport: it is what gets painted.
        canvas = self.view.widget()
        return canvas if canvas is not None else self.view.viewport()

    def at_bottom(self) -> bool:
        bar = self.view.verticalScrollBar()
        return bar.value() == bar.maximum()


def _plain_text(messages: Iterable[Message]) -> str:
    names = {"user": "You", "assistant": "Assistant"}
    return "\n\n".join(f"{names.get(m.role, m.role)}\n{m.content}" for m in messages)


class PlainSink:
    """The baseline: one read-only QPlainTextEdit, text appended as it comes."""

    name = PLAIN

    def __init__(self) -> None:
        self.edit = QPlainTextEdit()
        self.edit.setReadOnly(True)
        self.window, self.status = _window(self.edit, "Plain")

    def prepare(self, history: Sequence[Message], user: Message, reply: Message) -> None:
        self.edit.setPlainText(_plain_text([*history, user]))
        self.edit.appendPlainText("\nAssistant\n")
        self.edit.moveCursor(QTextCursor.MoveOperation.End)

    def stream(self, message_id: int, text: str) -> None:
        self.edit.moveCursor(QTextCursor.MoveOperation.End)
        self.edit.insertPlainText(text)
        self.edit.ensureCursorVisible()  # keep the end in view, as the chat view does

    def finish(self, message: Message) -> None:
        pass

    def paint_targets(self, message_id: int) -> list[QWidget]:
        return [self.edit.viewport()]

    def covers_end(self, widget: QWidget, rect: QRect) -> bool:
        return rect.intersects(self.edit.cursorRect())

    def on_screen(self, message_id: int) -> bool:
        return True

    def blank_below(self, message_id: int) -> int:
        return 0

    def open(self, messages: Sequence[Message]) -> None:
        self.edit.setPlainText(_plain_text(messages))
        self.edit.moveCursor(QTextCursor.MoveOperation.End)

    def viewport_widget(self) -> QWidget:
        return self.edit.viewport()

    def at_bottom(self) -> bool:
        """The end of the text (where the cursor is) is on screen."""
        return self.edit.viewport().rect().contains(self.edit.cursorRect().center())


# ========================================================================= the replay


class FakeEngine:
    """The one part of EngineClient that EngineBridge uses: ``add_listener``."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[Event], None]] = []

    def add_listener(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)


class Producer(threading.Thread):
    """Pushes the tokens at a fixed rate (absolute schedule: no drift), stamping each push."""

    def __init__(self, engine: FakeEngine, job_id: int, tokens: Sequence[str], rate: float):
        super().__init__(name="bench-producer", daemon=True)
        self.engine = engine
        self.job_id = job_id
        self.tokens = tokens
        self.rate = rate
        self.push_times: list[float] = []
        self.started_at = 0.0

    def run(self) -> None:
        start = time.perf_counter() + 0.002
        self.started_at = start
        for i, token in enumerate(self.tokens):
            delay = start + i / self.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self.push_times.append(time.perf_counter())
            self.engine.emit(TextChunk(self.job_id, token, 1))
        delay = start + len(self.tokens) / self.rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        self.engine.emit(JobFinished(self.job_id, "stop", text="".join(self.tokens)))


class ReplayController(QObject):
    """What ChatController does with the bridge's signals, minus the engine and the model."""

    def __init__(
        self,
        bridge: EngineBridge,
        sink: Sink,
        reply: Message,
        producer: Producer,
        probe: PaintProbe,
        *,
        history: HistoryStore | None,
    ) -> None:
        super().__init__()
        self.sink = sink
        self.reply = reply
        self.producer = producer
        self.probe = probe
        self.history = history
        self.job_id = producer.job_id
        self.parts: list[str] = []
        self.tokens = 0
        self.first_token_at = 0.0
        self.last_flush = 0.0
        self.stream_ms: list[float] = []
        self.flush_chars: list[int] = []
        self.persist_ms: list[float] = []  # update_reply calls, then finish_reply + get_message
        self.updates = 0
        self.last_text_at = 0.0  # stream_text returned with the last token
        self.finished = False
        self.finish_started = 0.0
        self.cpu_at_finish = 0.0
        self.end_stream_ms = 0.0
        self.on_screen = False
        self.blank_px = 0
        self.labels = 0  # labels in the streamed reply (QLabel children), before end_stream
        bridge.textBatch.connect(self._on_text)
        bridge.jobFinished.connect(self._on_finished)

    @Slot(int, str, int)
    def _on_text(self, job_id: int, text: str, tokens: int) -> None:
        if job_id != self.job_id:
            return
        now = time.monotonic()
        if not self.first_token_at:
            self.first_token_at = now
        self.parts.append(text)
        first = self.tokens
        self.tokens += tokens
        t0 = time.perf_counter()
        self.sink.stream(self.reply.id, text)  # replyText -> MessageView.stream_text
        self.last_text_at = time.perf_counter()
        self.stream_ms.append((self.last_text_at - t0) * 1000)
        self.flush_chars.append(len(text))
        self.probe.awaiting.extend(self.producer.push_times[first : self.tokens])
        elapsed = now - self.first_token_at
        if elapsed > 0.25 and self.tokens > 1:  # speedChanged -> the status bar label
            self.sink.status.setText(f"{(self.tokens - 1) / elapsed:.1f} tok/s")
        if self.history is not None and now - self.last_flush >= PERSIST_SECONDS:
            self.last_flush = now
            t1 = time.perf_counter()
            self.history.update_reply(self.reply.id, "".join(self.parts))
            self.persist_ms.append((time.perf_counter() - t1) * 1000)
            self.updates += 1

    @Slot(int, object)
    def _on_finished(self, job_id: int, finished: JobFinished) -> None:
        if job_id != self.job_id:
            return
        self.finish_started = time.perf_counter()
        self.cpu_at_finish = time.thread_time()
        self.on_screen = self.sink.on_screen(self.reply.id)
        self.blank_px = self.sink.blank_below(self.reply.id)
        self.labels = sum(
            len(w.findChildren(RichText)) for w in self.sink.paint_targets(self.reply.id)
        )
        text = finished.text or "".join(self.parts)
        elapsed = max(1e-9, time.monotonic() - self.first_token_at)
        speed = (self.tokens - 1) / elapsed
        if self.history is not None:
            t1 = time.perf_counter()
            self.history.finish_reply(
                self.reply.id, text, "stop", completion_tokens=self.tokens, tokens_per_s=speed
            )
            message = self.history.get_message(self.reply.id)
            self.persist_ms.append((time.perf_counter() - t1) * 1000)
        else:
            message = dataclasses.replace(
                self.reply,
                content=text,
                finish_reason="stop",
                completion_tokens=self.tokens,
                tokens_per_s=speed,
            )
        t0 = time.perf_counter()
        self.sink.finish(message)  # replyFinished -> MessageView.end_stream
        self.end_stream_ms = (time.perf_counter() - t0) * 1000
        self.probe.watch(self.sink.paint_targets(self.reply.id))  # the finished widget
        self.finished = True


@dataclass
class ReplayResult:
    side: str
    persist: bool
    tokens: int
    lags_ms: list[float]
    latencies_ms: list[float]
    last_latency_ms: float
    unpainted: int
    flushes: int
    flush_chars: list[int]
    stream_ms: list[float]
    persist_ms: list[float]
    updates: int
    gui_cpu_s: float
    stream_wall_s: float
    shown_s: float  # first push to stream_text returning with the last token
    painted_s: float  # first push to the paint of the last token (nan: never painted)
    producer_rate: float
    end_stream_ms: float
    paints: int
    labels: int
    on_screen: bool
    blank_px: int

    def lag(self, q: float) -> float:
        return percentile(self.lags_ms, q)

    @property
    def lag_max(self) -> float:
        return max(self.lags_ms, default=math.nan)

    def paint(self, q: float) -> float:
        """Token-to-paint percentile; inf when some tokens were never painted."""
        return math.inf if self.unpainted else percentile(self.latencies_ms, q)

    @property
    def last_paint(self) -> float:
        return math.inf if self.unpainted else self.last_latency_ms


class Session:
    """The app object's windows, the history they show, and the SQLite store."""

    def __init__(self, tmp: Path) -> None:
        self.sinks: dict[str, Sink] = {HEARTH: HearthSink(), PLAIN: PlainSink()}
        self.heartbeat = Heartbeat()
        self.probe = PaintProbe()
        self.db: Database = open_database(tmp / "hearth.db")
        self.store = HistoryStore(self.db)
        conversation = self.store.create_conversation(model_ref="bench")
        self.conversation_id = conversation.id
        parent: int | None = None
        for user_text, reply_text in chat_contents(CHAT_SEED, HISTORY_PAIRS):
            user = self.store.add_user_message(self.conversation_id, user_text, parent)
            reply = self.store.start_reply(self.conversation_id, user.id, model_name="bench")
            tokens = len(tokenize(reply_text))
            self.store.finish_reply(
                reply.id, reply_text, "stop", completion_tokens=tokens, tokens_per_s=42.0
            )
            parent = reply.id
        self.history = self.store.thread(self.conversation_id)
        self._parent = parent
        self._next_id = 10_000_000
        self._job = 0

    def add_fixed(self) -> Sink:
        sink = HearthSink(FIXED, fix_canvas=True)
        self.sinks = {HEARTH: self.sinks[HEARTH], FIXED: sink, PLAIN: self.sinks[PLAIN]}
        return sink

    def close(self) -> None:
        self.db.close()
        for sink in self.sinks.values():
            sink.window.close()

    def new_turn(self, persist: bool) -> tuple[Message, Message]:
        prompt = "Write a complete guide to the streaming renderer, with examples."
        if persist:
            user = self.store.add_user_message(self.conversation_id, prompt, self._parent)
            reply = self.store.start_reply(self.conversation_id, user.id, model_name="bench")
            self._parent = reply.id
            return user, reply
        now = dt.datetime.now(dt.UTC)
        self._next_id += 2
        user = Message(self._next_id, 1, None, "user", prompt, now, now, None)
        reply = Message(
            self._next_id + 1, 1, self._next_id, "assistant", "", now, now, None, model_name="bench"
        )
        return user, reply

    def next_job(self) -> int:
        self._job += 1
        return self._job


def replay(
    session: Session, sink: Sink, tokens: Sequence[str], rate: float, persist: bool
) -> ReplayResult:
    """One replay of ``tokens`` into ``sink``, through the real EngineBridge."""
    user, reply = session.new_turn(persist)
    sink.prepare(session.history, user, reply)
    settle(0.25)
    gc.collect()
    probe = session.probe
    probe.reset()
    probe.covers = sink.covers_end
    probe.watch(sink.paint_targets(reply.id))
    engine = FakeEngine()
    bridge = EngineBridge(engine)  # type: ignore[arg-type]  # duck-typed EngineClient
    producer = Producer(engine, session.next_job(), tokens, rate)
    controller = ReplayController(
        bridge, sink, reply, producer, probe, history=session.store if persist else None
    )
    heartbeat = session.heartbeat
    heartbeat.start()
    cpu0 = time.thread_time()
    producer.start()
    ok = run_loop_until(
        lambda: controller.finished and controller.tokens == len(tokens),
        timeout_s=len(tokens) / rate + 30,
    )
    if ok:  # the last paint (never comes when the reply is off-screen)
        run_loop_until(lambda: not probe.awaiting, 1.0)
    heartbeat.stop()
    producer.join()
    bridge.close()
    probe.unwatch_all()
    if not ok:
        raise RuntimeError(f"{sink.name}: the replay did not finish ({controller.tokens} tokens)")
    first_push = producer.push_times[0]
    result = ReplayResult(
        side=sink.name,
        persist=persist,
        tokens=len(tokens),
        lags_ms=heartbeat.lags_ms(controller.finish_started),
        latencies_ms=probe.latencies_ms,
        last_latency_ms=probe.last_latency_ms,
        unpainted=len(probe.awaiting),
        flushes=len(controller.stream_ms),
        flush_chars=controller.flush_chars,
        stream_ms=controller.stream_ms,
        persist_ms=controller.persist_ms,
        updates=controller.updates,
        gui_cpu_s=controller.cpu_at_finish - cpu0,
        stream_wall_s=controller.finish_started - producer.started_at,
        shown_s=controller.last_text_at - first_push,
        painted_s=math.nan if probe.awaiting else probe.last_paint - first_push,
        producer_rate=(len(tokens) - 1) / (producer.push_times[-1] - first_push),
        end_stream_ms=controller.end_stream_ms,
        paints=probe.paints,
        labels=controller.labels if isinstance(sink, HearthSink) else 0,
        on_screen=controller.on_screen,
        blank_px=controller.blank_px,
    )
    bridge.deleteLater()
    controller.deleteLater()
    return result


# ===================================================================== other metrics


@dataclass
class FlushResult:
    side: str
    answer_chars: int
    stream_ms: list[float]
    to_paint_ms: list[float]
    on_screen: bool
    feed_s: float


def flush_at_size(
    session: Session,
    sink: Sink,
    tokens: Sequence[str],
    *,
    samples: int,
    chunk_tokens: int,
    events_every: int,
) -> FlushResult:
    """Stream until the answer holds BIG_ANSWER_CHARS, then time single small flushes.

    While growing the answer, the event loop runs after every ``events_every`` flushes
    only (a layout pass of a long reply takes the better part of a second).
    """
    user, reply = session.new_turn(False)
    sink.prepare(session.history, user, reply)
    settle(0.2)
    probe = session.probe
    probe.reset()
    pos = 0
    size = 0
    t_feed = time.perf_counter()

    def feed(count: int) -> None:
        nonlocal pos, size
        text = "".join(tokens[pos : pos + count])
        pos += count
        size += len(text)
        sink.stream(reply.id, text)

    flushes = 0
    while size < BIG_ANSWER_CHARS:
        feed(chunk_tokens)
        flushes += 1
        if flushes % events_every == 0:
            pump()
    settle(0.1)
    feed_s = time.perf_counter() - t_feed
    at = size
    on_screen = sink.on_screen(reply.id)
    probe.covers = sink.covers_end
    probe.watch(sink.paint_targets(reply.id))
    stream_ms: list[float] = []
    to_paint: list[float] = []
    for sample in range(samples):
        if sample:  # move on, so the samples fall at different places of the answer
            for _ in range(4):
                feed(CHUNK_TOKENS)
            pump()
        paints = probe.paints
        text = "".join(tokens[pos : pos + FLUSH_TOKENS])
        pos += FLUSH_TOKENS
        size += len(text)
        t0 = time.perf_counter()
        sink.stream(reply.id, text)
        stream_ms.append((time.perf_counter() - t0) * 1000)

        def painted(before: int = paints) -> bool:
            return probe.paints > before

        if on_screen and run_loop_until(painted, 5.0, check_ms=1):
            to_paint.append((probe.last_paint - t0) * 1000)
        else:
            pump()
    probe.unwatch_all()
    return FlushResult(sink.name, at, stream_ms, to_paint, on_screen, feed_s)


@dataclass
class OpenResult:
    side: str
    cold_ms: list[float]
    warm_ms: list[float]
    call_ms: list[float]
    newest_on_screen: list[bool]


def conversation_messages(contents: Sequence[tuple[str, str]]) -> list[Message]:
    now = dt.datetime.now(dt.UTC)
    messages: list[Message] = []
    for i, (user_text, reply_text) in enumerate(contents):
        messages.append(Message(2 * i + 1, 2, 2 * i or None, "user", user_text, now, now, None))
        messages.append(
            Message(
                2 * i + 2,
                2,
                2 * i + 1,
                "assistant",
                reply_text,
                now,
                now,
                "stop",
                model_name="bench",
                completion_tokens=len(reply_text) // 4,
                tokens_per_s=42.0,
                ttft_ms=180.0,
            )
        )
    return messages


def open_conversation(
    session: Session, sink: Sink, base: Sequence[Message], reps: int, warm: bool = True
) -> OpenResult:
    """show_messages(2,000 messages) to the first paint of the view scrolled to its end."""
    probe = session.probe
    result = OpenResult(sink.name, [], [], [], [])

    def one(messages: list[Message]) -> tuple[float, float]:
        settle(0.15)
        gc.collect()
        probe.reset()
        probe.watch([sink.viewport_widget()])
        t0 = time.perf_counter()
        sink.open(messages)
        t_call = time.perf_counter()
        probe.condition = sink.at_bottom
        if not run_loop_until(lambda: probe.paints > 0, 10.0, check_ms=1):
            raise RuntimeError(f"{sink.name}: the opened conversation was never painted")
        probe.unwatch_all()
        result.newest_on_screen.append(sink.on_screen(messages[-1].id))
        return (probe.last_paint - t0) * 1000, (t_call - t0) * 1000

    for rep in range(reps):
        offset = (rep + 1) * 1_000_000  # new ids: nothing cached (a conversation opened first)
        fresh = [dataclasses.replace(m, id=m.id + offset) for m in base]
        total, call = one(fresh)
        result.cold_ms.append(total)
        result.call_ms.append(call)
        if warm:
            total, _ = one(fresh)  # the same conversation again: its HTML is cached
            result.warm_ms.append(total)
    return result


# ============================================================================ report


@dataclass
class Report:
    started: dt.datetime
    quick: bool
    rounds: int
    answer_tokens: int
    answer_chars: int
    rate: float
    sides: list[str] = field(default_factory=list)
    runs: list[ReplayResult] = field(default_factory=list)
    flush: dict[str, FlushResult] = field(default_factory=dict)
    opened: dict[str, OpenResult] = field(default_factory=dict)
    load_start: tuple[float, ...] = ()
    load_end: tuple[float, ...] = ()
    elapsed_s: float = 0.0

    def select(self, side: str, persist: bool = False) -> list[ReplayResult]:
        return [r for r in self.runs if r.side == side and r.persist == persist]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _fmt(value: float, digits: int = 1) -> str:
    if math.isinf(value):
        return "never painted"
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def _range(values: Sequence[float], digits: int = 1) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return _fmt(values[0], digits)
    low, high = _fmt(min(values), digits), _fmt(max(values), digits)
    return f"{_fmt(median(values), digits)} ({low}-{high})"


def _median_of(runs: Sequence[ReplayResult], fn: Callable[[ReplayResult], float]) -> float:
    values = [fn(r) for r in runs]
    if any(math.isinf(v) for v in values):
        return (
            math.inf
            if sum(math.isinf(v) for v in values) * 2 >= len(values)
            else median(v for v in values if not math.isinf(v))
        )
    return median(values)


@dataclass(frozen=True)
class Metric:
    name: str
    target: str
    passes: Callable[[float], bool] | None
    digits: int
    value: Callable[[str], float]  # side -> value (nan: not measured)


def _metrics(report: Report) -> list[Metric]:
    def runs(side: str) -> list[ReplayResult]:
        return report.select(side)

    def per_run(fn: Callable[[ReplayResult], float]) -> Callable[[str], float]:
        return lambda side: _median_of(runs(side), fn)

    def flush(side: str) -> float:
        result = report.flush.get(side)
        return median(result.stream_ms) if result else math.nan

    def flush_to_paint(side: str) -> float:
        result = report.flush.get(side)
        if result is None:
            return math.nan
        return median(result.to_paint_ms) if result.to_paint_ms else math.inf

    def opened(side: str) -> float:
        result = report.opened.get(side)
        return median(result.cold_ms) if result else math.nan

    def persist_ratio(side: str) -> float:
        with_db = report.select(side, persist=True)
        without = runs(side)
        if not with_db or side == PLAIN:
            return math.nan
        rate = _median_of(without, lambda r: r.tokens / r.shown_s)
        return _median_of(with_db, lambda r: r.tokens / r.shown_s) / rate

    t = TARGETS
    return [
        Metric(
            "Event-loop lag while streaming, p50, ms", "-", None, 2, per_run(lambda r: r.lag(50))
        ),
        Metric(
            "Event-loop lag while streaming, p99, ms",
            f"<= {t['lag_p99']:g}",
            lambda v: v <= t["lag_p99"],
            1,
            per_run(lambda r: r.lag(99)),
        ),
        Metric(
            "Event-loop lag while streaming, max, ms",
            f"<= {t['lag_max']:g}",
            lambda v: v <= t["lag_max"],
            1,
            per_run(lambda r: r.lag_max),
        ),
        Metric(
            "Token arrival to paint, p95, ms",
            f"<= {t['paint_p95']:g}",
            lambda v: v <= t["paint_p95"],
            1,
            per_run(lambda r: r.paint(95)),
        ),
        Metric(
            "Last token to paint after the replay ends, ms",
            f"<= {t['last_paint']:g}",
            lambda v: v <= t["last_paint"],
            1,
            per_run(lambda r: r.last_paint),
        ),
        Metric(
            f"One flush ({FLUSH_TOKENS} tokens) at {BIG_ANSWER_CHARS:,} characters, median, ms",
            f"<= {t['flush_100k']:g}",
            lambda v: v <= t["flush_100k"],
            2,
            flush,
        ),
        Metric(
            "... the same flush from the call to the reply's repaint, median, ms",
            "-",
            None,
            1,
            flush_to_paint,
        ),
        Metric(
            f"Open a {OPEN_MESSAGES:,}-message conversation to first paint, ms",
            f"<= {t['open_2000']:g}",
            lambda v: v <= t["open_2000"],
            1,
            opened,
        ),
        Metric(
            "Streaming with persistence / without, tokens/s",
            f">= {t['persist_ratio']:g}",
            lambda v: v >= t["persist_ratio"],
            3,
            persist_ratio,
        ),
    ]


def _verdict(metric: Metric, value: float) -> str:
    if metric.passes is None:
        return "info"
    if math.isnan(value):
        return "-"
    return "PASS" if metric.passes(value) else "FAIL"


def render_report(report: Report) -> str:
    sides = report.sides
    hearths = [s for s in sides if s != PLAIN]
    header = ["Metric", *(_column(s) for s in sides), "Target"]
    header += ["Result" if s == HEARTH else f"Result ({_column(s)})" for s in hearths]
    lines = [
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * len(sides) + "---|" * (1 + len(hearths)),
    ]
    for metric in _metrics(report):
        values = {s: metric.value(s) for s in sides}
        cells = [metric.name, *(_fmt(values[s], metric.digits) for s in sides), metric.target]
        cells += [_verdict(metric, values[s]) for s in hearths]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *render_details(report)]
    return "\n".join(lines)


def _column(side: str) -> str:
    return {HEARTH: "Hearth", FIXED: "Hearth, canvas fixed (bench)", PLAIN: "Plain-text baseline"}[
        side
    ]


def _store_share(result: ReplayResult) -> float:
    """Percent of the streaming time the GUI thread spent in HistoryStore calls."""
    return sum(result.persist_ms) / (result.stream_wall_s * 1000) * 100


def render_details(report: Report) -> list[str]:
    sides = report.sides

    def row(name: str, fn: Callable[[str], str]) -> str:
        return "| " + " | ".join([name, *(fn(s) for s in sides)]) + " |"

    def each(fn: Callable[[ReplayResult], float], digits: int = 1) -> Callable[[str], str]:
        return lambda side: _range([fn(r) for r in report.select(side)], digits)

    def triple(
        fns: Sequence[Callable[[ReplayResult], float]], digits: int = 1
    ) -> Callable[[str], str]:
        return lambda side: " / ".join(
            _fmt(_median_of(report.select(side), fn), digits) for fn in fns
        )

    def hearth_only(fn: Callable[[str], str]) -> Callable[[str], str]:
        return lambda side: "-" if side == PLAIN else fn(side)

    def persisted(fn: Callable[[list[ReplayResult]], str]) -> Callable[[str], str]:
        return lambda side: fn(report.select(side, persist=True)) or "-"

    lines = [
        "| Detail | " + " | ".join(_column(s) for s in sides) + " |",
        "|---|" + "---:|" * len(sides),
        row(
            "Replays (tokens each)",
            lambda s: (
                f"{len(report.select(s))} ({report.answer_tokens})"
                + (
                    f" + {len(report.select(s, True))} with persistence"
                    if report.select(s, True)
                    else ""
                )
            ),
        ),
        row("Producer rate achieved, tokens/s", each(lambda r: r.producer_rate, 0)),
        row("Lag p99, ms, median (range) of runs", each(lambda r: r.lag(99))),
        row("Lag max, ms, median (range) of runs", each(lambda r: r.lag_max)),
        row(
            "Heartbeat ticks late by > 16 ms, per replay",
            each(lambda r: sum(x > 16 for x in r.lags_ms), 0),
        ),
        row(
            "Token to paint p50 / p95 / p99, ms",
            triple([lambda r: r.paint(50), lambda r: r.paint(95), lambda r: r.paint(99)]),
        ),
        row("Last token to paint, ms, median (range)", each(lambda r: r.last_paint)),
        row("Tokens never painted, per replay", each(lambda r: r.unpainted, 0)),
        row(
            "Streamed reply on screen at the end of the stream",
            lambda s: "/".join("yes" if r.on_screen else "no" for r in report.select(s)) or "-",
        ),
        row(
            "Blank canvas under the streamed reply (last message), px",
            hearth_only(each(lambda r: r.blank_px, 0)),
        ),
        row("Flushes (textBatch) per replay", each(lambda r: r.flushes, 0)),
        row("Flushes per second while streaming", each(lambda r: r.flushes / r.stream_wall_s, 0)),
        row("Characters per flush, median", each(lambda r: median(r.flush_chars), 0)),
        row(
            "stream_text per flush, ms: median / p99 / max",
            triple(
                [
                    lambda r: median(r.stream_ms),
                    lambda r: percentile(r.stream_ms, 99),
                    lambda r: max(r.stream_ms),
                ],
                2,
            ),
        ),
        row("Time in stream_text per replay, s", each(lambda r: sum(r.stream_ms) / 1000, 2)),
        row("GUI-thread CPU while streaming, s", each(lambda r: r.gui_cpu_s, 2)),
        row(
            "GUI-thread CPU / wall time while streaming, %",
            each(lambda r: 100 * r.gui_cpu_s / r.stream_wall_s, 0),
        ),
        row("Paint events seen on the reply, per replay", each(lambda r: r.paints, 0)),
        row("Labels in the streamed reply at the end", hearth_only(each(lambda r: r.labels, 0))),
        row(
            "end_stream (finished message replaces the stream), ms",
            hearth_only(each(lambda r: r.end_stream_ms)),
        ),
        row("First push to last token shown (stream_text), s", each(lambda r: r.shown_s, 3)),
        row("First push to last token painted, s", each(lambda r: r.painted_s, 3)),
        row(
            "With persistence: first push to last token shown, s",
            persisted(lambda rs: _range([r.shown_s for r in rs], 3) if rs else ""),
        ),
        row(
            "With persistence: GUI-thread CPU, s; lag p99 / max, ms",
            persisted(
                lambda rs: (
                    (
                        f"{_range([r.gui_cpu_s for r in rs], 2)}; "
                        f"{_fmt(_median_of(rs, lambda r: r.lag(99)))} / "
                        f"{_fmt(_median_of(rs, lambda r: r.lag_max))}"
                    )
                    if rs
                    else ""
                )
            ),
        ),
        row(
            "With persistence: update_reply calls per replay; ms each, median (max)",
            persisted(
                lambda rs: (
                    (
                        f"{_range([r.updates for r in rs], 0)}; "
                        f"{_fmt(median(x for r in rs for x in r.persist_ms[: r.updates]), 2)} "
                        f"({_fmt(max(x for r in rs for x in r.persist_ms[: r.updates]), 2)})"
                    )
                    if rs and any(r.updates for r in rs)
                    else ""
                )
            ),
        ),
        row(
            "With persistence: all store calls on the GUI thread, ms per replay (share of stream)",
            persisted(
                lambda rs: (
                    (
                        f"{_range([sum(r.persist_ms) for r in rs])} "
                        f"({_fmt(_median_of(rs, _store_share), 2)} %)"
                    )
                    if rs
                    else ""
                )
            ),
        ),
    ]

    def flushed(fn: Callable[[FlushResult], str]) -> Callable[[str], str]:
        return lambda side: fn(report.flush[side]) if side in report.flush else "-"

    def opened(fn: Callable[[OpenResult], str]) -> Callable[[str], str]:
        return lambda side: fn(report.opened[side]) if side in report.opened else "-"

    big = f"{BIG_ANSWER_CHARS:,}"
    lines += [
        row(
            f"Flush at {big} chars: stream_text median / max, ms (flushes)",
            flushed(
                lambda f: (
                    f"{_fmt(median(f.stream_ms), 2)} / {_fmt(max(f.stream_ms), 2)}"
                    f" ({len(f.stream_ms)}, from {f.answer_chars:,} chars)"
                )
            ),
        ),
        row(
            f"Flush at {big} chars: call to paint, median / max, ms",
            flushed(
                lambda f: (
                    f"{_fmt(median(f.to_paint_ms))} / {_fmt(max(f.to_paint_ms))}"
                    if f.to_paint_ms
                    else "never painted (off-screen)"
                )
            ),
        ),
        row(
            f"Streaming the first {big} chars ({CHUNK_TOKENS}-token flushes), s",
            flushed(lambda f: _fmt(f.feed_s)),
        ),
        row(
            f"Open {OPEN_MESSAGES:,} messages, first time (cold), ms, median (range)",
            opened(lambda o: _range(o.cold_ms)),
        ),
        row(
            "... the show_messages() / setPlainText() call alone, ms",
            opened(lambda o: _range(o.call_ms)),
        ),
        row("... again, HTML cached (warm), ms", opened(lambda o: _range(o.warm_ms))),
        row(
            "... newest message on screen after opening",
            opened(lambda o: "yes" if all(o.newest_on_screen) else "no"),
        ),
    ]
    return lines


def render_header(report: Report) -> str:
    load_start = " ".join(f"{x:.2f}" for x in report.load_start)
    load_end = " ".join(f"{x:.2f}" for x in report.load_end)
    mode = "quick (smoke) run" if report.quick else "full run"
    plan = "Hearth / plain text / Hearth with persistence"
    if FIXED in report.sides:
        plan = "Hearth / plain text / Hearth with persistence / Hearth with the canvas fixed"
    return "\n".join(
        [
            f"Run: {report.started:%Y-%m-%d %H:%M} UTC, {mode}, {report.elapsed_s:.0f} s in all.",
            "",
            f"- Machine: {_nproc()} CPUs (nproc), {_cpu_model()}, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}; "
            f"load average at start {load_start}, at end {load_end}",
            f"- PySide6 {PySide6.__version__} (Qt {qVersion()}), QPA platform "
            f"{QApplication.platformName()}, window {WINDOW_SIZE[0]}x{WINDOW_SIZE[1]}",
            f"- Replay: {report.answer_tokens} tokens ({report.answer_chars:,} characters) at "
            f"{report.rate:g} tokens/s into a chat of {2 * HISTORY_PAIRS} messages; "
            f"{report.rounds} round(s) of {plan}, order rotated each round; "
            "medians of the per-run values",
        ]
    )


# =============================================================================== docs

DOCS_INTRO = """\
## UI streaming: Hearth's message view against a plain-text view

`bench/ui.py` asks whether the chat view keeps up with a fast model. It replays a
recorded long Markdown answer (`bench/data/long_answer.md`: about 8,000 tokens of
headings, paragraphs, nested lists, tables, quotes, links and code in Python, Rust,
JavaScript, Go, SQL, shell, JSON, YAML and C++, made by a seeded generator in the
script) at 2,000 tokens/s into a chat that already holds 200 messages (100 pairs of
generated Markdown of varied length, stored with `HistoryStore` and shown with
`MessageView.show_messages`, which builds the newest 40). The answer is cut into
"tokens" of about 4 characters (a word of up to 7 letters with its leading space, or a
piece of one).

The tokens travel as they do in the app: a producer thread calls the listener of a real
`EngineBridge` (through a fake engine client that only offers `add_listener`) with
`TextChunk` events on an absolute 2,000/s schedule, stamping each push; the bridge's
GUI-thread timer drains them and emits `textBatch`; a slot that mirrors
`ChatController._on_text` (status-bar speed label included) calls
`MessageView.stream_text`, and `JobFinished` ends with `MessageView.end_stream`. The
**plain-text baseline** is the same replay, through the same bridge and slot, into a
read-only `QPlainTextEdit` (`insertPlainText` at the end) in an otherwise identical
window (a 1100x760 `QMainWindow` with a status bar, Hearth's light theme applied).
Runs alternate between the sides in one process on the offscreen platform, with the
windows shown; offscreen Qt delivers real paint events and rasterises into its
backing store, so painting costs what it costs on a desktop minus the compositor.

When the streamed reply turns out to be off-screen (see "Known problem" in the
results), a third side runs: the same `MessageView` with one bench-side workaround
(the canvas's vertical size policy set to `Ignored`), to show what the metrics would
be once the reply is on screen. The verdicts for the app as it is are in "Result".

### Metrics

1. **Event-loop lag while streaming** (target: p99 <= 8 ms, max <= 50 ms). A 1 ms
   `Qt.PreciseTimer` on the GUI thread from the first push until `JobFinished` is
   handled; lag = interval between ticks - 1 ms. The time `end_stream` takes (the
   finished message replacing the streamed one) is reported apart, in the details.
2. **Token arrival to paint** (target: p95 <= 33 ms; last token <= 50 ms after the
   replay ends). An event filter on the streaming message widget (on the text edit's
   viewport for the baseline; also on the finished widget after `end_stream`) sees
   each `QEvent.Paint`; a paint counts when its rectangle covers the end of the text
   (the last line of the reply's last body label; the text cursor in the baseline,
   which calls `ensureCursorVisible` after each insert). Every token handed to the
   view and not yet painted gets latency = time of the first such paint after its
   flush - its push time. "Last token" is that latency for the final token, which
   includes `end_stream` when the finished message is what paints it. A token never
   painted (reply off-screen) makes the metric "never painted".
3. **One flush at 100,000 characters** (target: median <= 2 ms). A reply is streamed
   in 60-token flushes (2,000 tokens/s at 30 Hz), with the event loop run after every
   40th (a layout pass of a long reply takes seconds), until it holds 100,000
   characters; then 9 single `stream_text` calls of 8 tokens are timed, each followed
   by the event loop until the reply repaints (when on screen), with four 60-token
   flushes between samples so that they fall at different places. The quick mode
   reaches the size in 2,000-token flushes and times one call.
4. **Open a 2,000-message conversation** (target: <= 150 ms). `show_messages` with
   2,000 generated messages, to the first paint of the view's viewport with the
   scroll bar at the bottom. New message ids each time, so nothing is cached (a
   conversation opened for the first time); the warm figure (same ids again) is in
   the details. Baseline: `setPlainText` of the whole conversation.
5. **Streaming with persistence vs without** (target: ratio >= 0.99). The same replay
   with a real `HistoryStore` on a temporary SQLite file: `start_reply` before,
   `update_reply` with the whole text at most once a second (as `ChatController`
   does, on the GUI thread), `finish_reply` and `get_message` at the end.
   Tokens/s = tokens / (first push to `stream_text` returning with the last token),
   with / without; the time to the last paint is in the details.

### Running it

```sh
.venv/bin/python bench/ui.py               # full run (about 2.5 minutes on 2 cores)
.venv/bin/python bench/ui.py --write-docs  # and replace the results below
.venv/bin/python bench/ui.py --quick       # smoke run, under 30 seconds
.venv/bin/python bench/ui.py --profile     # also cProfile one Hearth replay (GUI thread)
```

`--profile` shows the Python side only; Qt's own layout and text shaping run inside
`QEventLoop.exec`, so for them sample the process natively, e.g.
`.venv/bin/py-spy record --native -f raw -o ui.txt -- .venv/bin/python bench/ui.py --quick`.

`QT_QPA_PLATFORM` defaults to `offscreen`. Other options: `--rounds N`, `--rate N`,
`--canvas-fix auto|always|never` (the third side), `--regen-data` (rewrite
`bench/data/long_answer.md` from the generator). On a small, shared machine absolute
times move with the load (reported below); compare the sides of the same run.

### Results
"""

KNOWN_PROBLEM = """\
**Known problem (found by this benchmark).** In a chat of 200 messages the view
leaves a blank area under the last message, taller than the window, so the streamed
reply is off-screen while it streams and the view "sticks to the bottom" (its text
shows up, if at all, only when the finished message replaces it: hence a token-to-paint
time of seconds, or "never painted").
`MessageView`'s canvas is sized by `QScrollArea` from its `minimumSizeHint()`, which
its layout computes as the sum of the messages' minimum heights; each body `QLabel`
has the vertical size policy `Minimum` (`message_widget._body_label`), so its minimum
height is its `sizeHint()` height, measured at the label's preferred width (about 560
px) rather than at the real one. The surplus goes to the stretch at the end of the
layout. Setting the canvas's vertical size policy to `Ignored` (the "canvas fixed"
column) makes the canvas exactly `heightForWidth(viewport width)` tall.
"""


def write_docs(body: str) -> None:
    section = f"{DOCS_START}\n{DOCS_INTRO}\n{body}\n{DOCS_END}"
    text = DOCS_FILE.read_text(encoding="utf-8") if DOCS_FILE.exists() else "# Benchmarks\n"
    start, end = text.find(DOCS_START), text.find(DOCS_END)
    if start >= 0 and end > start:
        text = text[:start] + section + text[end + len(DOCS_END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOCS_FILE.write_text(text, encoding="utf-8")
    print(f"updated {DOCS_FILE.relative_to(ROOT)}")


# =============================================================================== main


def profile_replay(
    session: Session, sink: Sink, tokens: Sequence[str], rate: float, out: Path | None
) -> str:
    """cProfile (GUI thread only) of one more replay; returns the top functions."""
    profiler = cProfile.Profile()
    profiler.enable()
    result = replay(session, sink, tokens, rate, persist=False)
    profiler.disable()
    if out is not None:
        profiler.dump_stats(str(out))
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(35)
    head = (
        f"profiled replay into '{sink.name}': lag p99 {result.lag(99):.1f} ms, max "
        f"{result.lag_max:.1f} ms, {result.flushes} flushes, GUI CPU {result.gui_cpu_s:.2f} s "
        "(times under cProfile are inflated)\n"
    )
    return head + buffer.getvalue()


_T0 = time.perf_counter()


def _log(text: str) -> None:
    print(f"[{time.perf_counter() - _T0:5.1f} s] {text}", file=sys.stderr, flush=True)


def _summary(result: ReplayResult) -> str:
    return (
        f"  {result.side}{' + persistence' if result.persist else ''}: lag p99 "
        f"{result.lag(99):.1f} max {result.lag_max:.1f} ms, paint p95 "
        f"{_fmt(result.paint(95))} ms, last {_fmt(result.last_paint)} ms, "
        f"{result.flushes} flushes, GUI CPU {result.gui_cpu_s:.2f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run, under 30 s")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--rounds", type=int, default=None, help="replay rounds (default 3)")
    parser.add_argument("--rate", type=float, default=RATE, help="tokens per second")
    parser.add_argument(
        "--canvas-fix",
        choices=("auto", "always", "never"),
        default="auto",
        help="also run a view with the canvas workaround (auto: when the reply is off-screen)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile one Hearth replay")
    parser.add_argument("--profile-out", type=Path, default=None, help="save the pstats file")
    parser.add_argument("--regen-data", action="store_true", help="rewrite bench/data")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    report = Report(
        started=dt.datetime.now(dt.UTC),
        quick=args.quick,
        rounds=args.rounds or (1 if args.quick else 3),
        answer_tokens=0,
        answer_chars=0,
        rate=args.rate,
        load_start=os.getloadavg(),
    )
    answer = recorded_answer(args.regen_data)
    tokens = tokenize(answer)
    if args.quick:
        tokens = tokens[:1000]
    report.answer_tokens = len(tokens)
    report.answer_chars = sum(len(t) for t in tokens)
    big = tokenize(answer + "\n" + MarkdownGenerator(LONG_SEED).answer(130_000))
    opened_messages = conversation_messages(chat_contents(CHAT_SEED + 1, OPEN_MESSAGES // 2))

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    apply_theme(app, "light")
    profile = ""
    with tempfile.TemporaryDirectory(prefix="hearth-ui-bench-") as tmp:
        session = Session(Path(tmp))
        settle(0.3)
        _log(f"replaying {len(tokens)} tokens at {args.rate:g}/s, {report.rounds} round(s)")
        warm_tokens = tokens[: 200 if args.quick else 600]
        warm_sinks = list(session.sinks.values())[: 1 if args.quick else None]
        warm = [replay(session, s, warm_tokens, args.rate, False) for s in warm_sinks]
        off_screen = not warm[0].on_screen
        if args.canvas_fix == "always" or (args.canvas_fix == "auto" and off_screen):
            if off_screen:
                _log(f"  the streamed reply is off-screen ({warm[0].blank_px} px blank below it)")
            fixed = session.add_fixed()
            if not args.quick:
                replay(session, fixed, warm_tokens, args.rate, False)
        report.sides = list(session.sinks)
        plan: list[tuple[Sink, bool]] = [
            (session.sinks[HEARTH], False),
            (session.sinks[PLAIN], False),
            (session.sinks[HEARTH], True),
        ]
        if FIXED in session.sinks:
            plan.append((session.sinks[FIXED], False))
        for round_ in range(report.rounds):
            shift = round_ % len(plan)
            for sink, persist in plan[shift:] + plan[:shift]:
                result = replay(session, sink, tokens, args.rate, persist)
                report.runs.append(result)
                _log(_summary(result))
        # quick: big flushes to reach the size fast (fewer, larger labels: not comparable)
        samples, chunk, every = (1, 2000, 100) if args.quick else (9, CHUNK_TOKENS, 40)
        for name, sink in session.sinks.items():
            _log(f"flush at {BIG_ANSWER_CHARS:,} characters: {name}")
            report.flush[name] = flush_at_size(
                session, sink, big, samples=samples, chunk_tokens=chunk, events_every=every
            )
        reps = 1 if args.quick else 3
        for name, sink in session.sinks.items():
            _log(f"open {OPEN_MESSAGES} messages: {name}")
            report.opened[name] = open_conversation(
                session, sink, opened_messages, reps, warm=not args.quick
            )
        if args.profile:
            target = session.sinks.get(FIXED, session.sinks[HEARTH])
            _log(f"profiling one replay into '{target.name}'")
            profile = profile_replay(session, target, tokens, args.rate, args.profile_out)
        session.close()
    report.load_end = os.getloadavg()
    report.elapsed_s = time.perf_counter() - started
    body = render_header(report) + "\n\n"
    if any(not r.on_screen for r in report.select(HEARTH)):
        body += KNOWN_PROBLEM + "\n"
    body += render_report(report)
    print(body)
    if profile:
        print("\n" + profile)
    if args.write_docs:
        write_docs(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
