"""Markdown to Qt-rich-text HTML for the chat view, whole or while a reply streams in.

Model output is untrusted (DESIGN.md, "Security defaults"), so the renderer:

- never interprets raw HTML: markdown-it runs with ``html`` off, and the two HTML
  token types are escaped again here should they ever appear;
- never emits ``<img>``: an image becomes a text link ("🖼 alt") to its URL, or plain
  text when the URL is not allowed, so nothing remote is ever fetched;
- keeps ``<a href>`` only for ``http``, ``https`` and ``mailto`` URLs; any other scheme
  (``javascript:``, ``file:``, ``data:``, our own ``hearth-copy:``, relative paths)
  renders the link text as plain text. Opening a link is the view's job, on a click.

The output targets QTextDocument's HTML subset (HTML 4 tags, a little CSS): code
colours are inline ``<span style="color: ...">`` from Pygments, table borders are
attributes, alignment is ``align=``, and the document-wide look comes from
:func:`stylesheet`, meant for ``QTextDocument.setDefaultStyleSheet``.

Streaming (:class:`StreamingMarkdown`): the source is cut into a committed prefix,
whose HTML never changes again, and an open tail that is re-rendered on each update.
The cut points come from markdown-it's own block parse of the complete lines
received so far: every top-level block followed by another top-level block is
final (CommonMark never reopens a closed block), and so is a top-level fenced code
block whose closing fence has arrived, and every item of the last top-level list
but its last one. The partial last line is never used to decide a cut. Committed
pieces are parsed again on their own and highlighted once; an ordered list cut
between its items goes on counting in the next piece. The tail is rendered without
Pygments and without copy links, and an open top-level code fence is not parsed at
all while it grows (its new lines are only scanned for a closing fence), so an
update costs time in proportion to the tail, not to the whole reply.

Known differences from rendering the whole text at once: a reference-style link
whose definition arrives only after the link's block was committed stays text
(the whole-text render resolves it), and a list cut into pieces may render its
items "tight" where the whole list is "loose". Text, links and code are the same.
"""

from __future__ import annotations

import functools
import re
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import OptionsDict
from pygments import highlight as _pygments_highlight  # type: ignore[import-untyped,unused-ignore]
from pygments.formatters import HtmlFormatter  # type: ignore[import-untyped,unused-ignore]
from pygments.lexer import Lexer  # type: ignore[import-untyped,unused-ignore]
from pygments.lexers import TextLexer, get_lexer_by_name  # type: ignore[import-untyped,unused-ignore]
from pygments.styles import get_all_styles, get_style_by_name  # type: ignore[import-untyped,unused-ignore]
from pygments.token import Token as PygmentsToken  # type: ignore[import-untyped,unused-ignore]
from pygments.util import ClassNotFound  # type: ignore[import-untyped,unused-ignore]

Theme = Literal["light", "dark"]

COPY_SCHEME = "hearth-copy"
"""Scheme of the code-block "Copy" links: ``hearth-copy:N`` copies ``code_blocks[N]``."""

IMAGE_LABEL = "\N{FRAME WITH PICTURE}"
"""Shown before an image's alt text; the image itself is never loaded."""

TAB_SIZE = 4
"""Tabs in displayed code become this many columns (copied code keeps its tabs)."""

MAX_HIGHLIGHT_CHARS = 20_000
"""Code blocks larger than this are shown without syntax colours: Pygments needs about
2-3 µs per character, and a committed block is highlighted on the GUI thread."""

_ALLOWED_HREF = re.compile(r"(?:https?://|mailto:)\S", re.IGNORECASE)
_COPY_HREF = re.compile(rf"{COPY_SCHEME}:(\d{{1,9}})")
_INFO_SPLIT = re.compile(r"\s+")
_ALIGN = re.compile(r"text-align:\s*(left|right|center)")
_MAX_LANG_CHARS = 40
_ENV_KEY = "hearth"


@dataclass(frozen=True)
class RenderedMarkdown:
    """A finished message: its HTML and the raw text of each code block, in order."""

    html: str
    code_blocks: tuple[str, ...]


@dataclass(frozen=True)
class RenderUpdate:
    """What changed since the previous update of a :class:`StreamingMarkdown`.

    ``committed_html`` is appended after everything committed before and never
    changes again; ``tail_html`` replaces the previous tail (it is ``""`` after
    :meth:`StreamingMarkdown.finish`).
    """

    committed_html: str
    tail_html: str


def is_allowed_href(href: str) -> bool:
    """True for URLs the view may turn into a clickable link (http, https, mailto)."""
    return _ALLOWED_HREF.match(href) is not None


def copy_index(href: str) -> int | None:
    """The code-block index of a ``hearth-copy:N`` link, or None for any other URL."""
    match = _COPY_HREF.fullmatch(href.strip())
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------- themes


@dataclass(frozen=True)
class _ThemeSpec:
    name: Theme
    pygments_style: str
    code_bg: str
    code_fg: str
    header_bg: str
    header_fg: str
    inline_code_bg: str
    link: str
    muted: str
    table_header_bg: str


def _pick_style(candidates: Sequence[str]) -> str:
    available = set(get_all_styles())
    for name in candidates:
        if name in available:
            return name
    return "default"


@functools.cache
def _theme_spec(theme: Theme) -> _ThemeSpec:
    if theme not in get_args(Theme):
        raise ValueError(f"unknown theme {theme!r}: use 'light' or 'dark'")
    dark = theme == "dark"
    style_name = _pick_style(
        ("github-dark", "monokai", "native") if dark else ("default", "friendly")
    )
    style = get_style_by_name(style_name)
    code_bg = style.background_color or ("#0d1117" if dark else "#f8f8f8")
    text_color = style.style_for_token(PygmentsToken.Text).get("color") or ""
    code_fg = f"#{text_color}" if text_color else ("#e6edf3" if dark else "#1f2328")
    if dark:
        return _ThemeSpec(
            name=theme,
            pygments_style=style_name,
            code_bg=code_bg,
            code_fg=code_fg,
            header_bg="#262c36",
            header_fg="#9198a1",
            inline_code_bg="#343942",
            link="#4493f8",
            muted="#9198a1",
            table_header_bg="#262c36",
        )
    return _ThemeSpec(
        name=theme,
        pygments_style=style_name,
        code_bg=code_bg,
        code_fg=code_fg,
        header_bg="#e8eaed",
        header_fg="#59636e",
        inline_code_bg="#eff1f3",
        link="#0969da",
        muted="#59636e",
        table_header_bg="#f0f2f4",
    )


def stylesheet(theme: Theme = "light") -> str:
    """Default stylesheet for ``QTextDocument.setDefaultStyleSheet`` (tag/class selectors).

    Only properties Qt's rich text understands are used. Code-block colours are also
    set inline, so the blocks look right even where this stylesheet is not applied.
    """
    spec = _theme_spec(theme)
    return (
        "p { margin-top: 4px; margin-bottom: 4px; }\n"
        "h1 { font-size: x-large; margin-top: 10px; margin-bottom: 4px; }\n"
        "h2 { font-size: large; margin-top: 10px; margin-bottom: 4px; }\n"
        "h3, h4, h5, h6 { font-size: medium; margin-top: 8px; margin-bottom: 4px; }\n"
        f"a {{ color: {spec.link}; }}\n"
        f"code {{ font-family: monospace; background-color: {spec.inline_code_bg}; }}\n"
        "pre { font-family: monospace; }\n"
        f"pre.code {{ background-color: {spec.code_bg}; color: {spec.code_fg};"
        " margin-top: 0px; margin-bottom: 8px; white-space: pre-wrap; }\n"
        f"p.code-header {{ background-color: {spec.header_bg}; color: {spec.header_fg};"
        " font-size: small; margin-top: 8px; margin-bottom: 0px; }\n"
        f"blockquote {{ color: {spec.muted}; margin-left: 12px; }}\n"
        f"th {{ background-color: {spec.table_header_bg}; font-weight: bold; }}\n"
        "table { margin-top: 4px; margin-bottom: 4px; }\n"
    )


# ----------------------------------------------------------------------- code blocks


@functools.lru_cache(maxsize=128)
def _lexer(lang: str) -> Lexer:
    options: dict[str, Any] = {"stripnl": False, "ensurenl": True, "tabsize": TAB_SIZE}
    lexer: Lexer
    try:
        lexer = get_lexer_by_name(lang, **options) if lang else TextLexer(**options)
    except ClassNotFound:
        lexer = TextLexer(**options)
    return lexer


@functools.cache
def _formatter(style_name: str) -> HtmlFormatter[str]:
    return HtmlFormatter(style=style_name, noclasses=True, nowrap=True)


def _strip_final_newline(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text


def _highlight(code: str, lang: str, spec: _ThemeSpec) -> str:
    if len(code) > MAX_HIGHLIGHT_CHARS:
        return escapeHtml(code.expandtabs(TAB_SIZE))
    html = _pygments_highlight(code, _lexer(lang.lower()), _formatter(spec.pygments_style))
    return str(html)


def _fence_language(info: str) -> str:
    info = unescapeAll(info).strip()
    if not info:
        return ""
    return _INFO_SPLIT.split(info, maxsplit=1)[0][:_MAX_LANG_CHARS]


# -------------------------------------------------------------------------- renderer


@dataclass
class _RenderContext:
    spec: _ThemeSpec
    final: bool  # committed output: Pygments colours and a Copy link per code block
    code_blocks: list[str]
    links: list[bool] = field(default_factory=list)  # open links: emitted as <a>?


def _context(env: MutableMapping[str, Any]) -> _RenderContext:
    ctx = env.get(_ENV_KEY)
    if not isinstance(ctx, _RenderContext):
        raise TypeError("render with the Hearth render context in env")
    return ctx


class _Renderer(RendererHTML):
    """markdown-it's HTML renderer, made safe and shaped for QTextDocument."""

    def html_block(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
        return escapeHtml(tokens[idx].content)

    def html_inline(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
        return escapeHtml(tokens[idx].content)

    def link_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
        ctx = _context(env)
        href = str(tokens[idx].attrGet("href") or "")
        allowed = is_allowed_href(href) and not any(ctx.links)
        ctx.links.append(allowed)
        return f'<a href="{escapeHtml(href)}">' if allowed else ""

    def link_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
        ctx = _context(env)
        allowed = ctx.links.pop() if ctx.links else False
        return "</a>" if allowed else ""

    def image(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
        ctx = _context(env)
        token = tokens[idx]
        alt = " ".join(self.renderInlineAsText(token.children, options, env).split())
        label = escapeHtml(f"{IMAGE_LABEL} {alt or 'image'}")
        src = str(token.attrGet("src") or "")
        if is_allowed_href(src) and not any(ctx.links):
            return f'<a href="{escapeHtml(src)}">{label}</a>'
        return label

    def fence(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
        token = tokens[idx]
        return self._code(token.content, _fence_language(token.info), _context(env))

    def code_block(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
        return self._code(tokens[idx].content, "", _context(env))

    def table_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
        return '<table border="1" cellspacing="0" cellpadding="4">\n'

    def th_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
        return self._cell("th", tokens[idx])

    def td_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
        return self._cell("td", tokens[idx])

    @staticmethod
    def _cell(tag: str, token: Token) -> str:
        match = _ALIGN.search(str(token.attrGet("style") or ""))
        return f'<{tag} align="{match.group(1)}">' if match else f"<{tag}>"

    @staticmethod
    def _code(code: str, lang: str, ctx: _RenderContext) -> str:
        spec = ctx.spec
        label = escapeHtml(lang or "text")
        if ctx.final:
            index = len(ctx.code_blocks)
            ctx.code_blocks.append(_strip_final_newline(code))
            body = _highlight(code, lang, spec)
            action = f'&nbsp;&nbsp;<a href="{COPY_SCHEME}:{index}">Copy</a>'
        else:
            body = escapeHtml(code.expandtabs(TAB_SIZE))
            action = ""
        header_style = (
            f"background-color: {spec.header_bg}; color: {spec.header_fg};"
            " margin-top: 8px; margin-bottom: 0px;"
        )
        pre_style = (
            f"background-color: {spec.code_bg}; color: {spec.code_fg};"
            " margin-top: 0px; margin-bottom: 8px; white-space: pre-wrap;"
        )
        # An empty <pre> vanishes in Qt (or not, depending on how it is inserted): keep a line.
        body = _strip_final_newline(body) or "&nbsp;"
        return (
            f'<p class="code-header" style="{header_style}">{label}{action}</p>\n'
            f'<pre class="code" style="{pre_style}">{body}</pre>\n'
        )


def _new_parser() -> MarkdownIt:
    return (
        MarkdownIt(
            "commonmark",
            {"html": False, "linkify": False, "typographer": False},
            renderer_cls=_Renderer,
        )
        .enable("table")
        .enable("strikethrough")
    )


@functools.cache
def _parser() -> MarkdownIt:
    return _new_parser()


@functools.cache
def _block_parser() -> MarkdownIt:
    # Block structure only (with link reference definitions): enough to find cut points.
    return _new_parser().disable(["inline", "text_join"])


def _render_tokens(md: MarkdownIt, tokens: Sequence[Token], env: MutableMapping[str, Any]) -> str:
    renderer = md.renderer
    if not isinstance(renderer, _Renderer):  # pragma: no cover - construction guarantees it
        raise TypeError("unexpected markdown renderer")
    return renderer.render(tokens, md.options, env)


def render_markdown(text: str, *, theme: Theme = "light") -> RenderedMarkdown:
    """Render a finished message (untrusted Markdown) to Qt rich-text HTML."""
    md = _parser()
    ctx = _RenderContext(spec=_theme_spec(theme), final=True, code_blocks=[])
    env: dict[str, Any] = {_ENV_KEY: ctx}
    html = _render_tokens(md, md.parse(text, env), env)
    return RenderedMarkdown(html=html, code_blocks=tuple(ctx.code_blocks))


# ------------------------------------------------------------------------- streaming


@dataclass(frozen=True)
class _ListContinuation:
    """The committed text ended with an ordered list: how the next item is numbered."""

    delimiter: str  # "." or ")": a different delimiter starts a new list
    next_number: int


def _top_level(tokens: Sequence[Token]) -> list[int]:
    """Indexes of the tokens that open (or are) a top-level block."""
    return [i for i, t in enumerate(tokens) if t.level == 0 and t.nesting >= 0 and t.map]


def _continue_list(tokens: Sequence[Token], cont: _ListContinuation | None) -> None:
    if cont is None:
        return
    tops = _top_level(tokens)
    if not tops:
        return
    first = tokens[tops[0]]
    if first.type == "ordered_list_open" and first.markup == cont.delimiter:
        if cont.next_number == 1:
            first.attrs.pop("start", None)
        else:
            first.attrSet("start", cont.next_number)


def _trailing_list(tokens: Sequence[Token]) -> _ListContinuation | None:
    tops = _top_level(tokens)
    if not tops or tokens[tops[-1]].type != "ordered_list_open":
        return None
    opener = tokens[tops[-1]]
    items = sum(1 for t in tokens[tops[-1] :] if t.type == "list_item_open" and t.level == 1)
    return _ListContinuation(opener.markup, int(opener.attrGet("start") or 1) + items)


def _line_offset(text: str, line: int) -> int:
    """Character offset where 0-based ``line`` starts (len(text) past the end)."""
    pos = 0
    for _ in range(line):
        found = text.find("\n", pos)
        if found < 0:
            return len(text)
        pos = found + 1
    return pos


def _is_closed_fence(token: Token, source: str) -> bool:
    assert token.map is not None
    start, end = token.map
    if end - start < 2 or not token.markup:
        return False
    first = _line_offset(source, end - 1)
    newline = source.find("\n", first)
    line = source[first : newline if newline >= 0 else len(source)]
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3:
        return False
    char = token.markup[0]
    run = len(stripped) - len(stripped.lstrip(char))
    return run >= len(token.markup) and not stripped[run:].strip()


def _final_lines(tokens: Sequence[Token], source: str) -> tuple[int, bool]:
    """How many leading lines of ``source`` (complete lines only) hold final blocks, and
    whether that cut falls between two items of one list (the list goes on after it)."""
    tops = _top_level(tokens)
    if not tops:
        return 0, False
    last = tokens[tops[-1]]
    assert last.map is not None
    if last.type == "fence" and _is_closed_fence(last, source):
        return last.map[1], False
    if last.type in ("bullet_list_open", "ordered_list_open"):
        items = [t for t in tokens[tops[-1] :] if t.type == "list_item_open" and t.level == 1]
        if len(items) >= 2 and items[-1].map is not None:
            return items[-1].map[0], True
    return last.map[0], False


@dataclass(frozen=True)
class _OpenFence:
    """The uncommitted text starts with a top-level code fence that is still open."""

    closer: re.Pattern[str]  # lines that may close it (a superset; a parse decides)
    lang: str
    body_start: int  # offset in the uncommitted text of the first line of code


def _open_fence(tokens: Sequence[Token], source: str, cut: int) -> _OpenFence | None:
    """The open fence that ``source[cut:]`` starts with, when it is a plain top-level one."""
    tops = _top_level(tokens)
    if not tops:
        return None
    last = tokens[tops[-1]]
    if last.type != "fence" or last.map is None or _is_closed_fence(last, source):
        return None
    if source[_line_offset(source, last.map[0])] != last.markup[:1]:
        return None  # an indented opener strips indentation from the code: use the parser
    marker = last.markup
    closer = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}", re.MULTILINE)
    body_start = _line_offset(source, last.map[0] + 1) - cut
    return _OpenFence(closer=closer, lang=_fence_language(last.info), body_start=body_start)


def _normalize(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\0" in text:
        text = text.replace("\0", "\ufffd")
    return text


class StreamingMarkdown:
    """Incremental rendering of one reply while it streams in.

    Call :meth:`feed` with each fragment, :meth:`update` on the view's timer, and
    :meth:`finish` once at the end. See the module docstring for how blocks become
    final. Not thread-safe: use it from one thread.
    """

    def __init__(self, theme: Theme = "light") -> None:
        self._spec = _theme_spec(theme)
        self._md = _parser()
        self._block_md = _block_parser()
        self._incoming: list[str] = []
        self._held_cr = False
        self._pending = ""  # source not committed yet; starts at a line start
        self._checked = 0  # length of the complete-lines prefix of _pending already cut
        self._references: dict[str, Any] = {}
        self._code_blocks: list[str] = []
        self._list: _ListContinuation | None = None
        self._fence: _OpenFence | None = None
        self._tail_html = ""
        self._finished = False

    @property
    def code_blocks(self) -> tuple[str, ...]:
        """Raw code of each committed code block; ``hearth-copy:N`` indexes it."""
        return tuple(self._code_blocks)

    @property
    def finished(self) -> bool:
        return self._finished

    def feed(self, text: str) -> None:
        """Append a fragment of the reply (any size, may split lines, words or fences)."""
        if self._finished:
            raise RuntimeError("this reply is finished; start a new StreamingMarkdown")
        if text:
            self._incoming.append(text)

    def update(self) -> RenderUpdate:
        """Commit the blocks that became final; render the open tail."""
        if self._finished:
            return RenderUpdate("", "")
        if not self._take_incoming(final=False):
            return RenderUpdate("", self._tail_html)  # nothing new: same tail
        committed = self._commit_final_blocks()
        if self._fence is not None:
            # An open code fence: show the code as plain text, no Markdown parse at all.
            ctx = _RenderContext(spec=self._spec, final=False, code_blocks=[])
            code = self._pending[self._fence.body_start :]
            self._tail_html = _Renderer._code(code, self._fence.lang, ctx)
        elif self._pending.strip():
            self._tail_html = self._render(self._pending, final=False)[0]
        else:
            self._tail_html = ""
        return RenderUpdate(committed, self._tail_html)

    def finish(self) -> RenderUpdate:
        """Commit everything that is left (an open code fence ends with the text)."""
        if self._finished:
            return RenderUpdate("", "")
        self._take_incoming(final=True)
        rest, self._pending = self._pending, ""
        self._finished = True
        self._fence = None
        self._tail_html = ""
        return RenderUpdate(self._render(rest, final=True)[0] if rest.strip() else "", "")

    # ------------------------------------------------------------------ internals

    def _take_incoming(self, *, final: bool) -> bool:
        """Move fed text into the uncommitted source; False when there was none."""
        if not self._incoming and not (self._held_cr and final):
            return False
        text = "".join(self._incoming)
        self._incoming.clear()
        if self._held_cr:  # a "\r" that may have been the first half of "\r\n"
            text = "\r" + text
            self._held_cr = False
        if text.endswith("\r") and not final:
            text = text[:-1]
            self._held_cr = True
        self._pending += _normalize(text)
        return True

    def _commit_final_blocks(self) -> str:
        end = self._pending.rfind("\n") + 1
        if end <= self._checked:
            return ""  # no new complete line: the cut cannot move
        fence = self._fence
        if fence is not None:
            start = max(self._checked, fence.body_start)
            if fence.closer.search(self._pending, start, end) is None:
                self._checked = end  # still inside the open fence: nothing can be final
                return ""
            self._fence = None
        complete = self._pending[:end]
        env: dict[str, Any] = {"references": dict(self._references)}
        tokens = self._block_md.parse(complete, env)
        lines, inside_list = _final_lines(tokens, complete)
        cut = _line_offset(complete, lines) if lines else 0
        self._checked = end - cut
        self._fence = _open_fence(tokens, complete, cut)
        if cut == 0:
            return ""
        self._references = env.get("references", self._references)
        chunk = self._pending[:cut]
        self._pending = self._pending[cut:]
        html, tokens = self._render(chunk, final=True)
        # Only a list cut between its items goes on in the next piece (markdown-it may start
        # a new list even after a list of the same kind, so never guess from the markers).
        self._list = _trailing_list(tokens) if inside_list else None
        return html

    def _render(self, source: str, *, final: bool) -> tuple[str, list[Token]]:
        ctx = _RenderContext(spec=self._spec, final=final, code_blocks=self._code_blocks)
        if not final:
            ctx.code_blocks = []  # the tail never numbers code blocks
        env: dict[str, Any] = {"references": dict(self._references), _ENV_KEY: ctx}
        tokens = self._md.parse(source, env)
        _continue_list(tokens, self._list)
        return _render_tokens(self._md, tokens, env), tokens
