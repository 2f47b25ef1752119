"""Turning a stream of token byte pieces into text, once per token.

Each token is decoded exactly once: an incremental UTF-8 decoder holds back the
bytes of a character split across tokens, and stop strings are matched on a small
rolling window rather than on the whole answer, so the cost per token stays flat
however long the answer grows.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable


class TokenTextDecoder:
    """Incremental UTF-8 decoding of token pieces; invalid bytes become U+FFFD."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, piece: bytes) -> str:
        return self._decoder.decode(piece)

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


class StopScanner:
    """Finds the first stop string in streamed text without re-scanning the past.

    ``feed`` returns the text that is safe to show now and whether a stop string
    was hit. Text that could still be the start of a stop string is held back
    (at most the longest stop string minus one character).
    """

    def __init__(self, stops: Iterable[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._hold = max((len(s) for s in self._stops), default=1) - 1
        self._pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        if self.stopped:
            return ""
        if not self._stops:
            return text
        window = self._pending + text
        first = -1
        for stop in self._stops:
            at = window.find(stop)
            if at != -1 and (first == -1 or at < first):
                first = at
        if first != -1:
            self.stopped = True
            self._pending = ""
            return window[:first]
        keep = self._held_suffix(window)
        self._pending = window[len(window) - keep :] if keep else ""
        return window[: len(window) - keep]

    def flush(self) -> str:
        """The held-back text, at the end of generation (no stop string came)."""
        rest, self._pending = self._pending, ""
        return "" if self.stopped else rest

    def _held_suffix(self, window: str) -> int:
        # Longest suffix of the window that is a proper prefix of some stop string.
        longest = min(self._hold, len(window))
        for size in range(longest, 0, -1):
            tail = window[-size:]
            if any(stop.startswith(tail) for stop in self._stops):
                return size
        return 0
