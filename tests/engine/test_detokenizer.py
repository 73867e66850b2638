"""IncrementalDetokenizer: UTF-8-safe deltas and stop strings that are never streamed."""

from __future__ import annotations

import pytest

from openmaas.engine.detokenizer import IncrementalDetokenizer

THAI = "สวัสดีครับ ภาษาไทย"


def push_all(detok: IncrementalDetokenizer, pieces: list[bytes]) -> list[tuple[str, str | None]]:
    return [detok.push(piece) for piece in pieces]


def is_valid_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def split_bytes(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_emoji_split_into_single_bytes_is_emitted_whole() -> None:
    emoji = "😀".encode()
    assert len(emoji) == 4
    detok = IncrementalDetokenizer()
    pieces = [b"hi "] + [emoji[i : i + 1] for i in range(4)] + [b"!"]
    results = push_all(detok, pieces)
    assert results == [("hi ", None), ("", None), ("", None), ("", None), ("😀", None), ("!", None)]
    assert detok.finish() == ""
    assert detok.text == "hi 😀!"


@pytest.mark.parametrize("size", [1, 2, 4, 5, 7])
def test_thai_split_mid_character_never_yields_broken_characters(size: int) -> None:
    data = THAI.encode()
    pieces = split_bytes(data, size)
    assert any(not is_valid_utf8(p) for p in pieces)  # some pieces end inside a character
    detok = IncrementalDetokenizer()
    deltas = []
    for piece in pieces:
        delta, stop = detok.push(piece)
        assert stop is None
        assert "\ufffd" not in delta
        deltas.append(delta)
        # What has been streamed so far is always a prefix of the real text.
        assert THAI.startswith("".join(deltas))
    deltas.append(detok.finish())
    assert "".join(deltas) == THAI


def test_thai_with_stop_string_split_mid_character() -> None:
    text = "สวัสดี" + "ครับ" + "ไทย"
    data = text.encode()
    detok = IncrementalDetokenizer(("ครับ",))
    streamed = []
    stops = []
    for piece in split_bytes(data, 2):
        delta, stop = detok.push(piece)
        assert "\ufffd" not in delta
        streamed.append(delta)
        if stop is not None:
            stops.append(stop)
            break
    assert stops == ["ครับ"]
    assert "".join(streamed) == "สวัสดี"
    assert detok.text == "สวัสดี"


def test_no_stop_strings_emits_everything_immediately() -> None:
    detok = IncrementalDetokenizer()
    assert push_all(detok, [b"Hel", b"lo", b" world"]) == [("Hel", None), ("lo", None), (" world", None)]
    assert detok.finish() == ""


def test_stop_string_inside_one_piece_is_cut() -> None:
    detok = IncrementalDetokenizer(("STOP",))
    assert detok.push(b"Hello STOP world") == ("Hello ", "STOP")
    assert detok.text == "Hello "


def test_stop_string_at_the_start() -> None:
    detok = IncrementalDetokenizer(("STOP",))
    assert detok.push(b"STOP") == ("", "STOP")
    assert detok.text == ""


def test_stop_string_spanning_two_pieces_is_never_emitted() -> None:
    detok = IncrementalDetokenizer(("STOP",))
    results = push_all(detok, [b"Hello ", b"ST", b"OP and more"])
    assert results == [("Hello ", None), ("", None), ("", "STOP")]
    assert detok.text == "Hello "


def test_stop_string_spanning_many_pieces() -> None:
    detok = IncrementalDetokenizer(("<|end|>",))
    results = push_all(detok, [b"ok<", b"|", b"en", b"d|", b">tail"])
    assert results == [("ok", None), ("", None), ("", None), ("", None), ("", "<|end|>")]
    assert detok.text == "ok"


def test_stop_string_after_text_held_back_for_a_while() -> None:
    # "ab" is held back as a possible start of "abc"; "x" shows it is not, "abc" then stops.
    detok = IncrementalDetokenizer(("abc",))
    results = push_all(detok, [b"ab", b"x", b"a", b"bc"])
    assert results == [("", None), ("abx", None), ("", None), ("", "abc")]
    assert detok.text == "abx"


def test_lookalike_prefix_is_held_back_then_released() -> None:
    detok = IncrementalDetokenizer(("</end>",))
    results = push_all(detok, [b"a <", b"/e", b"x", b" b"])
    assert results == [("a ", None), ("", None), ("</ex", None), (" b", None)]
    assert detok.finish() == ""
    assert detok.text == "a </ex b"


def test_finish_releases_a_held_back_lookalike() -> None:
    detok = IncrementalDetokenizer(("</end>",))
    assert detok.push(b"text </en") == ("text ", None)
    assert detok.finish() == "</en"
    assert detok.text == "text </en"


def test_overlapping_lookalike_releases_only_what_cannot_start_the_stop() -> None:
    detok = IncrementalDetokenizer(("aab",))
    results = push_all(detok, [b"a", b"a", b"a", b"b"])
    # "aaa" -> the last "aa" may still start "aab"; the first "a" is safe.
    assert results == [("", None), ("", None), ("a", None), ("", "aab")]
    assert detok.text == "a"


@pytest.mark.parametrize("stops", [("bar", "foo"), ("foo", "bar")])
def test_earliest_of_several_stop_strings_wins(stops: tuple[str, ...]) -> None:
    detok = IncrementalDetokenizer(stops)
    assert detok.push(b"xx foo yy bar") == ("xx ", "foo")
    assert detok.text == "xx "


def test_earliest_stop_wins_when_a_shorter_one_ends_later_in_the_same_piece() -> None:
    # "ABCD" starts at 1, "CD" at 3: both end in the same piece, the earlier start wins.
    detok = IncrementalDetokenizer(("CD", "ABCD"))
    assert push_all(detok, [b"xAB", b"CDy"]) == [("x", None), ("", "ABCD")]
    assert detok.text == "x"


def test_concatenation_of_deltas_without_a_stop_is_the_text() -> None:
    text = "Stopping is not STOP-ping 😀 ok"
    detok = IncrementalDetokenizer(("STOPPED", "NOPE"))
    deltas = []
    for piece in split_bytes(text.encode(), 3):
        delta, stop = detok.push(piece)
        assert stop is None
        deltas.append(delta)
    deltas.append(detok.finish())
    assert "".join(deltas) == text
