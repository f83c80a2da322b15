"""Foreign text made safe to show: bounded in length, control characters neutralised.

Text from a calendar, a feed, a server's answer, a note or a model is
untrusted. Before calsync puts it into an error message, a stored error, a
log line or the terminal, it goes through one of these:

* :func:`bounded` cuts it to a few hundred characters (saying how much was
  cut), so a 15 MB garbage line never reaches ``status`` or the database;
* :func:`printable` replaces control characters (ESC, BEL, CR, the C1 range,
  bidi overrides …) with a visible ``xNN`` / ``uNNNN`` escape after a backslash, so event text
  cannot move the cursor, recolour the terminal or hide what follows;
* :func:`quote` does both, for one foreign value inside a message of
  calsync's own;
* :func:`terminal` is the last line of defence before the terminal: a whole
  message (newlines kept) bounded to :data:`MESSAGE_LIMIT` and made printable.
"""

from __future__ import annotations

import unicodedata

__all__ = ["FOREIGN_LIMIT", "MESSAGE_LIMIT", "bounded", "printable", "quote", "terminal"]

#: How many characters of foreign text a message, stored error or status line quotes.
FOREIGN_LIMIT = 300

#: Longest whole message (several lines, e.g. every problem of a configuration)
#: the command line prints as one error or report line.
MESSAGE_LIMIT = 4_000

# Format characters that reorder or hide text (bidi overrides and isolates).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character shown as a backslash escape (ESC as x1b).

    Tabs stay; newlines stay only with ``keep_newlines`` (for multi-line
    text printed as such).
    """
    out = []
    for char in text:
        if char == "\t" or (keep_newlines and char == "\n"):
            out.append(char)
        elif char in _BIDI or unicodedata.category(char) in ("Cc", "Cs"):
            out.append(_escape(char))
        else:
            out.append(char)
    return "".join(out)


def bounded(text: str, limit: int = FOREIGN_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def quote(value: object, limit: int = FOREIGN_LIMIT) -> str:
    """One foreign value for a message: bounded first, then made printable."""
    text = value if isinstance(value, str) else str(value)
    return printable(bounded(text, limit))


def terminal(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """A whole line or message for the terminal: bounded, printable, newlines kept."""
    return printable(bounded(text, limit), keep_newlines=True)
