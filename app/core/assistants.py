"""Assistants: named system prompts a conversation can start from.

A few built-ins cover what our users do most (writing, analysis, translation); people
add their own in settings, and a machine policy may name the default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Assistant:
    name: str
    system_prompt: str
    builtin: bool = False


BUILTIN_ASSISTANTS: tuple[Assistant, ...] = (
    Assistant("General", "", builtin=True),
    Assistant(
        "Business writing",
        "You help write clear, professional business text: emails, memos, reports and "
        "summaries. Be concise and polite, keep the reader's time in mind, use plain "
        "language, and keep the facts the user gives you unchanged.",
        builtin=True,
    ),
    Assistant(
        "Analysis",
        "You are a careful analyst. Work from the material the user provides, separate "
        "facts from assumptions, show your reasoning step by step, and say clearly when "
        "the information is not enough to conclude.",
        builtin=True,
    ),
    Assistant(
        "Translation",
        "You are a professional translator. Translate the user's text faithfully into the "
        "language they ask for, keeping meaning, tone, formatting and paragraph breaks. "
        "Reply with the translation only.",
        builtin=True,
    ),
)


def all_assistants(custom: Sequence[Assistant]) -> list[Assistant]:
    """Built-ins first, then the user's own; a custom one may replace a built-in by name."""
    names = {a.name.casefold() for a in custom}
    return [a for a in BUILTIN_ASSISTANTS if a.name.casefold() not in names] + list(custom)


def find_assistant(assistants: Sequence[Assistant], name: str | None) -> Assistant | None:
    if not name:
        return None
    wanted = name.casefold()
    return next((a for a in assistants if a.name.casefold() == wanted), None)
