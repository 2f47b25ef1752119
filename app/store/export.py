"""Export a conversation's visible thread as Markdown or as a JSON-ready dict.

Local file paths (``model_path``) are left out of exports: they can name the user's
account and folders. The model is identified by name, quantization, size, fingerprint;
an answer's document sources by file name, page and section, with the passage text.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Any

from app.store.documents import DocumentStore, Source
from app.store.history import Conversation, HistoryStore, Message
from app.store.timestamps import format_ts

EXPORT_FORMAT = "hearth.conversation"
EXPORT_VERSION = 1

_NOTES = {
    "length": "This reply stopped at the length limit; it may be incomplete.",
    "cancelled": "This reply was stopped before it finished.",
    "error": "This reply failed",
    "crashed": "The model engine crashed while writing this reply; it may be incomplete.",
    "interrupted": "Hearth closed while writing this reply; it may be incomplete.",
}


def export_json(
    store: HistoryStore, conversation_id: int, documents: DocumentStore | None = None
) -> dict[str, Any]:
    """The conversation and its visible thread; ``json.dumps`` can write it as is."""
    conversation = store.get_conversation(conversation_id)
    thread = store.thread(conversation_id)
    sources = _sources(documents, thread)
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "id": conversation.id,
        "title": conversation.title,
        "created_at": format_ts(conversation.created_at),
        "updated_at": format_ts(conversation.updated_at),
        "system_prompt": conversation.system_prompt,
        "model_ref": conversation.model_ref,
        "messages": [_message_json(m, sources.get(m.id, [])) for m in thread],
    }


def export_markdown(
    store: HistoryStore, conversation_id: int, documents: DocumentStore | None = None
) -> str:
    conversation = store.get_conversation(conversation_id)
    parts = [f"# {_heading(conversation)}", ""]
    parts.append(f"<sub>{_esc(_date(conversation.created_at))}</sub>")
    parts.append("")
    if conversation.system_prompt.strip():
        parts.append("> **System prompt**")
        parts.append(">")
        parts.extend(f"> {line}".rstrip() for line in conversation.system_prompt.splitlines())
        parts.append("")
    thread = store.thread(conversation_id)
    sources = _sources(documents, thread)
    for index, message in enumerate(thread):
        if index:
            parts.extend(["---", ""])
        parts.extend(_message_markdown(message))
        parts.extend(_sources_markdown(sources.get(message.id, [])))
    return "\n".join(parts).rstrip() + "\n"


def _sources(documents: DocumentStore | None, thread: list[Message]) -> dict[int, list[Source]]:
    if documents is None:
        return {}
    return documents.sources_for([m.id for m in thread if m.role == "assistant"])


def _source_json(source: Source) -> dict[str, Any]:
    return {
        "number": source.number,
        "file": _file_name(source.path),
        "page": source.page,
        "section": source.heading or None,
        "text": source.text,
    }


def _sources_markdown(sources: list[Source]) -> list[str]:
    if not sources:
        return []
    lines = ["**Sources**", ""]
    for source in sources:
        where = _file_name(source.path)
        if source.page is not None:
            where += f", page {source.page}"
        if source.heading:
            where += f", {source.heading}"
        excerpt = " ".join(source.text.split())
        if len(excerpt) > 300:
            excerpt = excerpt[:299].rstrip() + "…"
        lines.append(f"{source.number}. {_esc(where)}: {_esc(excerpt)}")
    lines.append("")
    return lines


def _file_name(path: str) -> str:
    # Only the name: the folders can name the user's account.
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _message_json(message: Message, sources: list[Source]) -> dict[str, Any]:
    sampling: Any = None
    if message.sampling_json:
        try:
            sampling = json.loads(message.sampling_json)
        except ValueError:
            sampling = message.sampling_json
    return {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "finish_reason": message.finish_reason,
        "error": message.error,
        "created_at": format_ts(message.created_at),
        "updated_at": format_ts(message.updated_at),
        "model": message.model_name,
        "model_size": message.model_size,
        "model_fingerprint": message.model_fingerprint,
        "quantization": message.quantization,
        "sampling": sampling,
        "seed": message.seed,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "ttft_ms": message.ttft_ms,
        "tokens_per_s": message.tokens_per_s,
        "alternative": message.sibling_index + 1,
        "alternatives": message.sibling_count,
        "sources": [_source_json(source) for source in sources],
    }


def _message_markdown(message: Message) -> list[str]:
    who = {"user": "You", "assistant": "Assistant", "system": "System"}[message.role]
    header = f"**{who}**"
    if message.sibling_count > 1:
        header += f" <sub>(version {message.sibling_index + 1} of {message.sibling_count})</sub>"
    lines = [header, ""]
    if message.content:
        lines.extend([message.content.rstrip(), ""])
    if message.role == "assistant":
        stats = _stats(message)
        if stats:
            lines.extend([f"<sub>{_esc(stats)}</sub>", ""])
        note = _note(message)
        if note:
            lines.extend([f"> *{note}*", ""])
    return lines


def _stats(message: Message) -> str:
    bits: list[str] = []
    if message.model_name:
        bits.append(message.model_name)
    if message.quantization:
        bits.append(message.quantization)
    if message.completion_tokens is not None:
        bits.append(f"{message.completion_tokens} tokens")
    if message.tokens_per_s:
        bits.append(f"{message.tokens_per_s:.1f} tokens/s")
    if message.ttft_ms is not None:
        bits.append(f"first token after {message.ttft_ms:.0f} ms")
    if message.seed is not None:
        bits.append(f"seed {message.seed}")
    bits.append(_date(message.created_at))
    return " · ".join(bits)


def _note(message: Message) -> str:
    if message.finish_reason is None:
        return "This reply was still being written when it was exported."
    note = _NOTES.get(message.finish_reason, "")
    if message.finish_reason == "error":
        note += f": {message.error}." if message.error else "."
    return note


def _heading(conversation: Conversation) -> str:
    title = " ".join(conversation.title.split()) or "Untitled chat"
    return title.replace("#", "\\#") if title.startswith("#") else title


def _date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _esc(text: str) -> str:
    return html.escape(text, quote=False)
