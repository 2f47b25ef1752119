"""Citations in answers: ``[n]`` becomes a link to passage n; the list of sources."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from app.docs.grounding import passage_label

SOURCE_SCHEME = "hearth-source"

_PRE = re.compile(r"(<pre\b.*?</pre>)", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"(<[^>]+>)")
_CITATION = re.compile(r"\[(\d{1,3})\]")


def source_href(number: int) -> str:
    return f"{SOURCE_SCHEME}:{number}"


def source_number(href: str) -> int | None:
    """``n`` for a ``hearth-source:n`` link, else ``None``."""
    scheme, _, rest = href.partition(":")
    if scheme != SOURCE_SCHEME or not rest.isdigit():
        return None
    return int(rest)


def link_citations(rendered: str, count: int) -> str:
    """Turn ``[n]`` (1 <= n <= count) in rendered HTML text into links; code stays as is."""
    if count <= 0:
        return rendered

    def link(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if not 1 <= number <= count:
            return match.group(0)
        return f'<a href="{source_href(number)}">[{number}]</a>'

    out: list[str] = []
    for block in _PRE.split(rendered):
        if block.lower().startswith("<pre"):
            out.append(block)
            continue
        inside_link = False
        for piece in _TAG.split(block):
            if piece.startswith("<"):
                lowered = piece.lower()
                if lowered.startswith("<a "):
                    inside_link = True
                elif lowered.startswith("</a"):
                    inside_link = False
                out.append(piece)
            elif inside_link or "<code" in (out[-1].lower() if out else ""):
                out.append(piece)
            else:
                out.append(_CITATION.sub(link, piece))
    return "".join(out)


def sources_html(sources: Sequence) -> str:
    """``Sources: [1] report.pdf, page 3 · [2] ...`` with each entry a link."""
    links = [
        f'<a href="{source_href(s.number)}">[{s.number}]</a> '
        f"{html.escape(passage_label(s.path, s.page, s.heading))}"
        for s in sources
    ]
    return "<p><small>Sources: " + " · ".join(links) + "</small></p>"
