"""Foreign text is bounded and printed without control characters."""

from calsync.text import FOREIGN_LIMIT, bounded, printable, quote


def test_bounded_cuts_long_text_and_says_how_much() -> None:
    text = "x" * 15_000_000
    cut = bounded(text)
    assert cut.startswith("x" * FOREIGN_LIMIT)
    assert len(cut) < FOREIGN_LIMIT + 60
    assert f"{15_000_000 - FOREIGN_LIMIT} more characters" in cut


def test_short_text_is_kept() -> None:
    assert bounded("Deep work") == "Deep work"
    assert quote("Deep work") == "Deep work"


def test_printable_neutralises_terminal_escapes_and_bidi() -> None:
    hostile = "Gym\x1b[2J\x1b]0;owned\x07\r\x9b\u202eevil\u0000"
    safe = printable(hostile)
    assert all(ord(c) >= 0x20 and c not in "\x7f\x9b\u202e" for c in safe)
    assert safe == "Gym\\x1b[2J\\x1b]0;owned\\x07\\x0d\\x9b\\u202eevil\\x00"


def test_newlines_kept_only_on_request() -> None:
    assert printable("a\nb") == "a\\x0ab"
    assert printable("a\nb\tc", keep_newlines=True) == "a\nb\tc"


def test_quote_bounds_before_escaping() -> None:
    quoted = quote("\x1b" * 10_000)
    assert quoted.startswith("\\x1b" * FOREIGN_LIMIT)
    assert "\x1b" not in quoted
