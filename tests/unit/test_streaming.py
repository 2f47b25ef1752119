"""Token pieces become text once each; stop strings are found across token borders."""

from __future__ import annotations

from app.engine.streaming import StopScanner, TokenTextDecoder


def feed_all(scanner: StopScanner, parts: list[str]) -> str:
    return "".join(scanner.feed(p) for p in parts) + scanner.flush()


def test_decoder_holds_a_split_character_until_complete():
    decoder = TokenTextDecoder()
    assert decoder.feed(b"\xe2\x82") == ""
    assert decoder.feed(b"\xac!") == "€!"
    assert decoder.flush() == ""


def test_decoder_flushes_a_dangling_partial_character_as_replacement():
    decoder = TokenTextDecoder()
    decoder.feed(b"a\xe2")
    assert decoder.flush() == "\ufffd"


def test_stop_string_split_over_tokens_is_found_and_cut():
    scanner = StopScanner(["<|end|>"])
    assert feed_all(scanner, ["Hello <", "|en", "d|> trailing"]) == "Hello "
    assert scanner.stopped


def test_without_a_stop_everything_is_released():
    scanner = StopScanner(["STOP"])
    assert feed_all(scanner, ["ST", "Oz"]) == "STOz"
    assert not scanner.stopped


def test_the_earliest_of_several_stops_wins():
    scanner = StopScanner(["bb", "a"])
    assert feed_all(scanner, ["xxbba"]) == "xx"


def test_held_back_text_is_bounded_by_the_longest_stop():
    scanner = StopScanner(["abc"])
    shown = scanner.feed("zzzzab")
    assert shown == "zzzz"  # "ab" might start "abc"
    assert scanner.feed("d") == "abd"


def test_no_stops_means_no_holding_back():
    scanner = StopScanner([])
    assert scanner.feed("anything") == "anything"
