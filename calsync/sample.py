"""The bundled sample calendar: weeks of a made-up person's history, around today.

calsync reads a window around "now", so a file with fixed dates would age out
of it. The package ships a *template* instead, ``calsync/data/sample.ics``
(written by ``benchmarks/make_sample_calendar.py``): a valid calendar whose
seven weeks of history end at a Monday, its anchor (``X-CALSYNC-SAMPLE-ANCHOR``).
:func:`sample_calendar` renders it for a given moment:

* every date moves by the same whole number of weeks, so the anchor becomes
  the first Monday on or after today (weekdays stay weekdays; ``DTSTAMP``
  becomes today);
* dates move on the local wall clock (``DTSTART;TZID=…:20260414T100000`` becomes
  ``…:20261027T100000``), so a 10:00 event stays at 10:00 across a
  daylight-saving change;
* the person's history (events marked ``X-CALSYNC-SAMPLE-PAST-ONLY``) that
  would fall on today or later is dropped: it ends with the last full day
  before now, between six and seven weeks of it;
* meetings are kept: the recurring ones (standup, 1:1, sprint planning) and a
  few one-offs go on into the coming weeks;
* the person lives in the zone given (Europe/Berlin in the template): times
  are re-labelled with that zone, with a matching ``VTIMEZONE``.

What the person does (the pattern calsync should learn) is described in
``benchmarks/make_sample_calendar.py``: deep work best on Tuesday and
Thursday mornings, poor coding on Monday and Friday afternoons, email in the
morning, exercise early rather than late, and two ``note:`` lines.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, timedelta, tzinfo
from importlib import resources
from pathlib import Path

from calsync.errors import InputError
from calsync.secrets import write_atomically

#: The zone the template is written in.
SAMPLE_TIMEZONE = "Europe/Berlin"
#: Calendar property naming the template's anchor: the Monday after its history.
ANCHOR_PROPERTY = "X-CALSYNC-SAMPLE-ANCHOR"
#: Event property marking the person's history, never rendered on or after today.
PAST_ONLY_PROPERTY = "X-CALSYNC-SAMPLE-PAST-ONLY"

_TEMPLATE = ("data", "sample.ics")
# Properties of a VEVENT whose values are dates or date-times to shift.
_DATE_PROPERTIES = frozenset({"DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE"})
_UNTIL = re.compile(r"(UNTIL=)(\d{8})")
_TZID = re.compile(r";TZID=[^;:]*")
_FOLD = re.compile(r"\r?\n[ \t]")
# Octets per line before folding (RFC 5545, section 3.1).
_LINE_OCTETS = 75


def template_path() -> Path:
    """Where the template lives in the source tree (what the generator writes)."""
    return Path(__file__).resolve().parent.joinpath(*_TEMPLATE)


@functools.lru_cache(maxsize=1)
def template_text() -> str:
    """The template as shipped in the package (unfolded lines, newline-separated)."""
    data = resources.files("calsync").joinpath(*_TEMPLATE).read_bytes()
    return _FOLD.sub("", data.decode("utf-8"))


def _zone_id(tz: tzinfo) -> str:
    """The IANA name of ``tz`` (``ZoneInfo``), or ``UTC`` for a zero-offset fixed zone."""
    key = getattr(tz, "key", None)
    if isinstance(key, str) and key:
        return key
    if tz.utcoffset(None) == timedelta(0):
        return "UTC"
    raise InputError(f"the sample calendar needs an IANA time zone (a ZoneInfo), got {tz!r}")


def _shift_date(text: str, weeks: int) -> str:
    """Shift a ``YYYYMMDD`` text by whole weeks."""
    moved = datetime.strptime(text, "%Y%m%d").date() + timedelta(weeks=weeks)  # noqa: DTZ007 - a date
    return moved.strftime("%Y%m%d")


def _split(line: str) -> tuple[str, str, str]:
    """``(NAME, name-and-params, value)`` of a content line (values here hold no quotes)."""
    head, _, value = line.partition(":")
    return head.split(";", 1)[0].upper(), head, value


def _shift_line(line: str, weeks: int, zone: str | None, stamp: str) -> str:
    """Shift the dates of one VEVENT line; re-label its ``TZID`` when ``zone`` is given."""
    name, head, value = _split(line)
    if name == "DTSTAMP":
        return f"DTSTAMP:{stamp}"
    if name == "RRULE":
        return _UNTIL.sub(lambda m: m.group(1) + _shift_date(m.group(2), weeks), line)
    if name not in _DATE_PROPERTIES:
        return line
    tokens = [_shift_date(token[:8], weeks) + token[8:] for token in value.split(",")]
    if zone is not None:
        head = _TZID.sub(f";TZID={zone}", head)
    return f"{head}:{','.join(tokens)}"


def _start_date(block: list[str]) -> date | None:
    for line in block:
        name, _, value = _split(line)
        if name == "DTSTART":
            return datetime.strptime(value[:8], "%Y%m%d").date()  # noqa: DTZ007 - a date
    return None


def _anchor(lines: list[str]) -> date:
    """The template's anchor date (the Monday after its history)."""
    for line in lines:
        name, _, value = _split(line)
        if name == ANCHOR_PROPERTY:
            return datetime.strptime(value, "%Y%m%d").date()  # noqa: DTZ007 - a date
    raise RuntimeError(f"the sample template has no {ANCHOR_PROPERTY}")  # a packaging bug


def _fold(line: str) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 character."""
    data = line.encode("utf-8")
    parts: list[bytes] = []
    limit = _LINE_OCTETS
    while len(data) > limit:
        cut = limit
        while cut > 0 and data[cut] & 0xC0 == 0x80:  # a continuation byte
            cut -= 1
        parts.append(data[:cut])
        data = data[cut:]
        limit = _LINE_OCTETS - 1  # continuation lines start with a space
    parts.append(data)
    return "\r\n ".join(part.decode("utf-8") for part in parts)


def _vtimezone(zone: str, around: date) -> list[str]:
    """A ``VTIMEZONE`` for ``zone`` covering a year and more either side of ``around``."""
    import icalendar

    component = icalendar.Timezone.from_tzid(
        zone, first_date=around - timedelta(days=400), last_date=around + timedelta(days=400)
    )
    return _FOLD.sub("", component.to_ical().decode("utf-8")).splitlines()


def sample_calendar(now: datetime, tz: tzinfo) -> bytes:
    """Render the sample calendar around ``now`` for a person living in ``tz``.

    Args:
        now: The current instant (timezone-aware). The history ends with the
            last full day before it (on ``tz``'s clock); meetings continue
            into the following weeks.
        tz: The person's zone, normally the user's (``ZoneInfo``).

    Returns:
        The calendar as ICS bytes (CRLF lines, folded at 75 octets). The same
        ``now`` day and zone always give the same bytes, and every event keeps
        its UID from one rendering to the next.

    Raises:
        InputError: for a naive ``now`` or a zone without an IANA name.

    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise InputError(f"now must be timezone-aware, got {now.isoformat()}")
    zone = _zone_id(tz)
    relabel = None if zone == SAMPLE_TIMEZONE else zone
    today = now.astimezone(tz).date()
    lines = template_text().splitlines()
    anchor = _anchor(lines)
    new_anchor = today + timedelta(days=(anchor.weekday() - today.weekday()) % 7)
    weeks = (new_anchor - anchor).days // 7
    stamp = f"{today:%Y%m%d}T000000Z"  # "written today", the same all day long

    out: list[str] = []
    block: list[str] | None = None
    skipping_zone = False
    for line in lines:
        if block is not None:
            if line != "END:VEVENT":
                block.append(_shift_line(line, weeks, relabel, stamp))
                continue
            past_only = any(_split(item)[0] == PAST_ONLY_PROPERTY for item in block)
            start = _start_date(block)
            if not (past_only and start is not None and start >= today):
                out += [item for item in block if _split(item)[0] != PAST_ONLY_PROPERTY]
                out.append(line)
            block = None
        elif line == "BEGIN:VEVENT":
            block = [line]
        elif relabel is not None and line == "BEGIN:VTIMEZONE":
            skipping_zone = True
            out += _vtimezone(relabel, today)
        elif skipping_zone:
            skipping_zone = line != "END:VTIMEZONE"
        elif _split(line)[0] == ANCHOR_PROPERTY:
            out.append(f"{ANCHOR_PROPERTY}:{new_anchor:%Y%m%d}")
        else:
            out.append(line)
    return ("\r\n".join(_fold(line) for line in out) + "\r\n").encode("utf-8")


def write_sample_calendar(path: Path, now: datetime, tz: tzinfo) -> Path:
    """Render :func:`sample_calendar` into ``path`` atomically; return ``path``.

    The directory is created when missing (mode 0700). A file that already
    holds the same bytes is left alone, so its readers see no change.

    Raises:
        InputError: for a naive ``now``, a zone without an IANA name, or a
            path that cannot be written.

    """
    body = sample_calendar(now, tz)
    try:
        if path.is_file() and path.read_bytes() == body:
            return path
        write_atomically(path, body)
    except OSError as err:
        raise InputError(
            f"cannot write the sample calendar to {path}: {err.strerror or err}"
        ) from err
    return path
