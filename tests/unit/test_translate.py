"""Translation workflow with a fake chat model: paragraphs, glossary, streaming, cancel."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from app.core.options import ChatMessage
from app.tasks.translate import (
    TranslateError,
    TranslateSpec,
    Translator,
    build_messages,
    parse_glossary,
    split_paragraphs,
)


class FakeStream:
    def __init__(self, pieces: list[str], owner: FakeStreamer) -> None:
        self._pieces = pieces
        self._owner = owner
        self.finish_reason = ""

    def __iter__(self) -> Iterator[str]:
        for piece in self._pieces:
            if self._owner.cancelled:
                self.finish_reason = "cancelled"
                return
            yield piece
        self.finish_reason = "stop"

    def cancel(self) -> None:
        self._owner.cancelled = True


class FakeStreamer:
    """Upper-cases the paragraph, word by word, as a 'translation'."""

    def __init__(self) -> None:
        self.requests: list[tuple[Sequence[ChatMessage], int]] = []
        self.cancelled = False

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int) -> FakeStream:
        self.requests.append((messages, max_tokens))
        words = messages[-1].content.upper().split(" ")
        return FakeStream([" " + words[0], *(" " + w for w in words[1:])], self)


def test_paragraphs_split_and_join_back_exactly():
    text = "One line.\nSecond line.\n\n  \nNext paragraph.\n\n\nLast."
    paragraphs, separators = split_paragraphs(text)
    assert paragraphs == ["One line.\nSecond line.", "Next paragraph.", "Last."]
    assert "".join(p + s for p, s in zip(paragraphs, [*separators, ""], strict=True)) == text


def test_each_paragraph_is_translated_and_the_layout_kept():
    streamer = FakeStreamer()
    shown: list[str] = []
    result = Translator(streamer, TranslateSpec("German")).translate(
        "good day\n\nsee you", shown.append
    )
    assert result is not None
    assert result.text == "GOOD DAY\n\nSEE YOU"
    assert "".join(shown) == result.text
    assert len(streamer.requests) == 2
    assert "into German" in streamer.requests[0][0][0].content


def test_glossary_terms_go_into_the_prompt_when_present_and_misses_are_reported():
    spec = TranslateSpec("French", "English", (("Hearth", "Foyer"), ("invoice", "facture")))
    system = build_messages("Send the invoice", spec)[0].content
    assert "invoice -> facture" in system and "Hearth" not in system
    assert "from English" in system
    result = Translator(FakeStreamer(), spec).translate("Send the invoice")
    assert result is not None and result.missed_terms == ("invoice",)


def test_batch_keeps_rows_and_cancel_keeps_the_finished_ones():
    streamer = FakeStreamer()
    translator = Translator(streamer, TranslateSpec("de"))
    done: list[int] = []

    def on_result(result) -> None:
        done.append(result.index)
        if result.index == 1:
            translator.cancel()

    results = translator.translate_all(["a", "", "c", "d"], on_result)
    assert [r.text for r in results] == ["A", ""]
    assert results[1].empty and done == [0, 1]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TranslateSpec(" "), "No target language"),
        (TranslateSpec("de", glossary=(("a", "b"), ("A", "c"))), "twice"),
        (TranslateSpec("de", glossary=(("a", ""),)), "incomplete"),
    ],
)
def test_bad_requests_are_refused(spec, message):
    with pytest.raises(TranslateError, match=message):
        spec.validate()


def test_glossary_file_formats():
    lines = ["# comment", "Hearth = Foyer", "", "invoice,facture", "tab\tonglet"]
    assert parse_glossary(lines) == (("Hearth", "Foyer"), ("invoice", "facture"), ("tab", "onglet"))


def test_blank_lines_inside_a_translated_paragraph_do_not_add_paragraphs():
    class Chatty(FakeStreamer):
        def stream(self, messages, max_tokens):
            return FakeStream(["\n", "Erste", "\n", " \n", "Zeile", "\n\n"], self)

    shown: list[str] = []
    result = Translator(Chatty(), TranslateSpec("de")).translate("one\n\ntwo", shown.append)
    assert result is not None
    assert result.text == "Erste\nZeile\n\nErste\nZeile"
    assert "".join(shown) == result.text
