"""A generator of hostile ICS feeds, each with good events beside the bad part.

Every case is a :class:`Case`: a category, a name, the body, and what calsync
must do with it — learn the good events (``GOOD_BEFORE`` and ``GOOD_AFTER``)
and skip, cut or keep the hostile UID, or fail the whole source with a
:class:`~calsync.errors.SourceError` (only for a container that is not
iCalendar, is truncated, or is over a feed-wide cap). The window the cases
are written for is the one of :data:`NOW` with the source's default 60 days
back and 14 ahead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

#: The clock the cases are written for.
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
GOOD_BEFORE = "good-before"
GOOD_AFTER = "good-after"
BAD = "hostile"

#: What happens to the hostile UID.
SKIPPED, CUT, KEPT, ANY = "skipped", "cut", "kept", "any"
#: The whole source fails.
FAILS = "fails"

_HEAD = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync hostile//EN\r\n"
_TAIL = b"END:VCALENDAR\r\n"


def good(uid: str, day: int = 24) -> bytes:
    """A plain, valid event on November ``day``, 2026 (inside the window)."""
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
        f"DTSTART:202611{day:02d}T090000Z\r\nDTEND:202611{day:02d}T100000Z\r\n"
        f"SUMMARY:coding {uid}\r\nEND:VEVENT\r\n"
    ).encode()


def event(*lines: str | bytes, uid: str | bytes = BAD) -> bytes:
    """A VEVENT with the hostile UID (unless given) and these content lines."""
    raw = [line.encode() if isinstance(line, str) else line for line in lines]
    uid_bytes = uid.encode() if isinstance(uid, str) else uid
    return (
        b"BEGIN:VEVENT\r\nUID:" + uid_bytes + b"\r\n" + b"".join(r + b"\r\n" for r in raw)
    ) + b"END:VEVENT\r\n"


def series(rule: str, start: str = "20261101T090000Z", *extra: str) -> bytes:
    """A hostile series with this RRULE value."""
    return event(f"DTSTART:{start}", "DURATION:PT1H", f"RRULE:{rule}", *extra)


def feed(*parts: bytes, header: bytes = b"", goods: bool = True) -> bytes:
    """A calendar: a good event, the parts, another good event."""
    middle = b"".join(parts)
    if goods:
        middle = good(GOOD_BEFORE, 23) + middle + good(GOOD_AFTER, 25)
    return _HEAD + header + middle + _TAIL


@dataclass(frozen=True)
class Case:
    """One hostile feed and what calsync must make of it."""

    category: str
    name: str
    body: bytes
    #: SKIPPED, CUT, KEPT or ANY for the hostile UID; FAILS for the whole source.
    expect: str
    #: The good UIDs that must be learned (when the source does not fail).
    goods: tuple[str, ...] = (GOOD_BEFORE, GOOD_AFTER)
    #: The source's max_components for this case (``None``: the default).
    max_components: int | None = None

    @property
    def id(self) -> str:
        """``category/name``, for test ids."""
        return f"{self.category}/{self.name}"


def _vtimezone(tzid: str, *sub: str) -> bytes:
    body = "".join(line + "\r\n" for line in sub)
    return f"BEGIN:VTIMEZONE\r\nTZID:{tzid}\r\n{body}END:VTIMEZONE\r\n".encode()


def _zone_part(kind: str, rule: str, offset_from: str = "+0100", offset_to: str = "+0200") -> str:
    return (
        f"BEGIN:{kind}\r\nDTSTART:19700329T020000\r\nTZOFFSETFROM:{offset_from}\r\n"
        f"TZOFFSETTO:{offset_to}\r\nRRULE:{rule}\r\nEND:{kind}"
    )


def _in_zone(tzid: str) -> bytes:
    return event(f"DTSTART;TZID={tzid}:20261124T090000", f"DTEND;TZID={tzid}:20261124T100000")


def recurrence_cases() -> Iterator[Case]:
    """Rules that would spin or explode dateutil, and bad RDATE/EXDATE."""
    c = "recurrence"
    yield Case(c, "secondly-without-end", feed(series("FREQ=SECONDLY")), SKIPPED)
    yield Case(c, "minutely-without-end", feed(series("FREQ=MINUTELY")), SKIPPED)
    yield Case(c, "interval-0", feed(series("FREQ=DAILY;INTERVAL=0")), SKIPPED)
    yield Case(c, "interval-negative", feed(series("FREQ=DAILY;INTERVAL=-3")), SKIPPED)
    yield Case(c, "interval-huge", feed(series("FREQ=DAILY;INTERVAL=" + "9" * 40)), SKIPPED)
    yield Case(
        c, "interval-3000-digits", feed(series("FREQ=DAILY;INTERVAL=" + "9" * 3000)), SKIPPED
    )
    yield Case(c, "count-0", feed(series("FREQ=DAILY;COUNT=0")), SKIPPED)
    yield Case(c, "count-huge", feed(series("FREQ=DAILY;COUNT=999999999")), KEPT)
    yield Case(c, "no-freq", feed(series("COUNT=3")), SKIPPED)
    yield Case(c, "unknown-freq", feed(series("FREQ=FORTNIGHTLY")), SKIPPED)
    yield Case(c, "garbage-rule", feed(series("\x00\x01;;==;FREQ")), SKIPPED)
    every_minute = ",".join(str(n) for n in range(60))
    yield Case(
        c,
        "hourly-every-second",
        feed(series(f"FREQ=HOURLY;BYMINUTE={every_minute};BYSECOND={every_minute}")),
        SKIPPED,
    )
    yield Case(
        c, "hourly-never-matching", feed(series("FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30")), SKIPPED
    )
    # Feb -31 never exists; no cheap check sees it, the per-series time budget does.
    yield Case(
        c, "daily-never-matching", feed(series("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=-31")), SKIPPED
    )
    yield Case(c, "hourly-from-year-1", feed(series("FREQ=HOURLY", "00010101T000000Z")), SKIPPED)
    yield Case(c, "daily-from-year-1", feed(series("FREQ=DAILY", "00010101T000000Z")), ANY)
    yield Case(c, "hourly-in-window", feed(series("FREQ=HOURLY", "20260901T090000Z")), CUT)
    yield Case(c, "bymonth-13", feed(series("FREQ=YEARLY;BYMONTH=13")), SKIPPED)
    yield Case(c, "byday-garbage", feed(series("FREQ=WEEKLY;BYDAY=XX,9ZZ")), SKIPPED)
    yield Case(c, "bysetpos-0", feed(series("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0")), SKIPPED)
    yield Case(c, "byhour-25", feed(series("FREQ=DAILY;BYHOUR=25")), SKIPPED)
    yield Case(c, "until-garbage", feed(series("FREQ=DAILY;UNTIL=yesterday")), SKIPPED)
    yield Case(c, "until-before-start", feed(series("FREQ=DAILY;UNTIL=19000101T000000Z")), ANY)
    yield Case(
        c,
        "exrule-secondly",
        feed(series("FREQ=DAILY;COUNT=5", "20261120T090000Z", "EXRULE:FREQ=SECONDLY")),
        SKIPPED,
    )
    yield Case(
        c,
        "two-rrules-one-bad",
        feed(series("FREQ=DAILY;COUNT=3", "20261120T090000Z", "RRULE:FREQ=SECONDLY")),
        SKIPPED,
    )
    rdates = ",".join(
        f"202611{d:02d}T{h:02d}{m:02d}00Z"
        for d in range(1, 28)
        for h in range(24)
        for m in range(0, 60, 10)
    )
    yield Case(
        c,
        "3888-rdates",
        feed(series("FREQ=YEARLY;COUNT=1", "20261101T090000Z", f"RDATE:{rdates}")),
        CUT,
    )
    yield Case(
        c,
        "rdate-value-time",
        feed(event("DTSTART:20261101T090000Z", "RDATE;VALUE=TIME:120000")),
        SKIPPED,
    )
    yield Case(
        c, "rdate-garbage", feed(event("DTSTART:20261101T090000Z", "RDATE:not-a-date")), SKIPPED
    )
    yield Case(
        c,
        "rdate-period-garbage",
        feed(event("DTSTART:20261101T090000Z", "RDATE;VALUE=PERIOD:20261102T090000Z/garbage")),
        SKIPPED,
    )
    yield Case(
        c,
        "exdate-garbage",
        feed(series("FREQ=DAILY;COUNT=3", "20261120T090000Z", "EXDATE:garbage")),
        SKIPPED,
    )
    yield Case(
        c,
        "exdate-unknown-tzid",
        feed(
            series(
                "FREQ=DAILY;COUNT=3", "20261120T090000Z", "EXDATE;TZID=Mars/Base:20261121T090000"
            )
        ),
        SKIPPED,
    )
    yield Case(
        c,
        "rdate-date-beside-datetime",
        feed(event("DTSTART:20261101T090000Z", "RDATE;VALUE=DATE:20261102")),
        SKIPPED,
    )


def date_cases() -> Iterator[Case]:
    """Missing, unparseable and out-of-range dates."""
    c = "dates"
    yield Case(c, "no-dtstart", feed(event("SUMMARY:x")), SKIPPED)
    yield Case(c, "dtstart-garbage", feed(event("DTSTART:2026-11-24")), SKIPPED)
    yield Case(c, "dtstart-empty", feed(event("DTSTART:")), SKIPPED)
    yield Case(c, "dtstart-month-13", feed(event("DTSTART:20261324T090000Z")), SKIPPED)
    yield Case(c, "dtstart-hour-25", feed(event("DTSTART:20261124T250000Z")), SKIPPED)
    yield Case(c, "dtstart-year-0", feed(event("DTSTART:00001124T090000Z")), SKIPPED)
    yield Case(
        c,
        "year-1-to-9999",
        feed(event("DTSTART:00010101T000000Z", "DTEND:99991231T000000Z")),
        SKIPPED,
    )
    yield Case(c, "year-9999", feed(event("DTSTART:99991231T230000Z", "DURATION:PT2H")), ANY)
    yield Case(
        c,
        "all-day-1-to-9999",
        feed(event("DTSTART;VALUE=DATE:00010101", "DTEND;VALUE=DATE:99991231")),
        SKIPPED,
    )
    yield Case(
        c,
        "ten-years-long",
        feed(event("DTSTART:20200101T000000Z", "DTEND:20300101T000000Z")),
        SKIPPED,
    )
    yield Case(
        c,
        "dtend-before-dtstart",
        feed(event("DTSTART:20261124T090000Z", "DTEND:20261123T090000Z")),
        SKIPPED,
    )
    yield Case(
        c, "duration-negative", feed(event("DTSTART:20261124T090000Z", "DURATION:-PT1H")), SKIPPED
    )
    yield Case(
        c, "duration-huge", feed(event("DTSTART:20261124T090000Z", "DURATION:P99999999D")), SKIPPED
    )
    yield Case(
        c, "duration-garbage", feed(event("DTSTART:20261124T090000Z", "DURATION:forever")), SKIPPED
    )
    yield Case(
        c,
        "date-and-datetime",
        feed(event("DTSTART;VALUE=DATE:20261124", "DTEND:20261125T090000Z")),
        SKIPPED,
    )
    yield Case(
        c,
        "two-dtstarts",
        feed(event("DTSTART:20261124T090000Z", "DTSTART:20261125T090000Z")),
        SKIPPED,
    )
    yield Case(c, "unknown-tzid", feed(event("DTSTART;TZID=Nowhere/Land:20261124T090000")), SKIPPED)
    yield Case(
        c, "tzid-garbage", feed(event('DTSTART;TZID="\x00\x1b[31m":20261124T090000')), SKIPPED
    )
    yield Case(
        c,
        "recurrence-id-garbage",
        feed(event("RECURRENCE-ID:soon", "DTSTART:20261124T090000Z")),
        SKIPPED,
    )
    yield Case(c, "floating-far-future", feed(event("DTSTART:30001124T090000")), ANY)


def timezone_cases() -> Iterator[Case]:
    """VTIMEZONEs that loop, explode or lie."""
    c = "timezones"
    yield Case(
        c,
        "vtimezone-secondly-rule",
        feed(_vtimezone("Loop", _zone_part("STANDARD", "FREQ=SECONDLY")), _in_zone("Loop")),
        SKIPPED,
    )
    yield Case(
        c,
        "vtimezone-daily-rule",
        feed(_vtimezone("Daily", _zone_part("DAYLIGHT", "FREQ=DAILY")), _in_zone("Daily")),
        SKIPPED,
    )
    yield Case(
        c,
        "vtimezone-interval-0",
        feed(
            _vtimezone("Zero", _zone_part("STANDARD", "FREQ=YEARLY;INTERVAL=0")), _in_zone("Zero")
        ),
        SKIPPED,
    )
    nested = "\r\n".join(["BEGIN:VTIMEZONE", "TZID:Nest"] * 5000 + ["END:VTIMEZONE"] * 5000)
    yield Case(
        c, "vtimezone-nested-5000", feed(nested.encode() + b"\r\n", _in_zone("Nest")), SKIPPED
    )
    yield Case(c, "vtimezone-empty", feed(_vtimezone("Empty"), _in_zone("Empty")), SKIPPED)
    yield Case(
        c,
        "vtimezone-bad-offsets",
        feed(
            _vtimezone("Odd", _zone_part("STANDARD", "FREQ=YEARLY", "+9999", "garbage")),
            _in_zone("Odd"),
        ),
        ANY,
    )
    yield Case(
        c,
        "vtimezone-twice",
        feed(
            _vtimezone("Twice", _zone_part("STANDARD", "FREQ=YEARLY", "+0100", "+0100")),
            _vtimezone("Twice", _zone_part("STANDARD", "FREQ=YEARLY", "+0500", "+0500")),
            _in_zone("Twice"),
        ),
        ANY,
    )
    many = "\r\n".join(
        f"BEGIN:STANDARD\r\nDTSTART:{1970 + i // 12:04d}{i % 12 + 1:02d}01T020000\r\n"
        "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:STANDARD"
        for i in range(5000)
    )
    yield Case(c, "vtimezone-5000-parts", feed(_vtimezone("Many", many), _in_zone("Many")), ANY)
    yield Case(c, "x-wr-timezone-unknown", feed(header=b"X-WR-TIMEZONE:Mars/Olympus\r\n"), ANY)
    yield Case(
        c, "x-wr-timezone-huge", feed(header=b"X-WR-TIMEZONE:" + b"A" * 2_000_000 + b"\r\n"), ANY
    )
    yield Case(
        c, "tzid-on-a-date", feed(event("DTSTART;VALUE=DATE;TZID=Europe/Berlin:20261124")), ANY
    )


def structure_cases() -> Iterator[Case]:
    """Nesting, duplicates, orphans, floods and broken containers."""
    c = "structure"
    deep = b"BEGIN:X\r\n" * 100_000 + b"END:X\r\n" * 100_000
    yield Case(c, "nested-100k-balanced", feed(event("DTSTART:20261124T090000Z", deep)), SKIPPED)
    yield Case(c, "nested-100k-top-level", feed(deep), ANY)
    yield Case(
        c,
        "nested-100k-unclosed",
        _HEAD
        + good(GOOD_BEFORE, 23)
        + event("DTSTART:20261124T090000Z", b"BEGIN:X\r\n" * 100_000)[: -len(b"END:VEVENT\r\n")]
        + _TAIL,
        SKIPPED,
        goods=(GOOD_BEFORE,),
    )
    yield Case(
        c,
        "end-mismatch",
        feed(
            b"BEGIN:VEVENT\r\nUID:hostile\r\nDTSTART:20261124T090000Z\r\nBEGIN:VALARM\r\nEND:VEVENT\r\nEND:VALARM\r\n"
        ),
        SKIPPED,
    )
    yield Case(c, "stray-end", feed(b"END:VEVENT\r\nEND:VTODO\r\n"), ANY)
    yield Case(
        c,
        "missing-end-vevent",
        _HEAD
        + good(GOOD_BEFORE, 23)
        + event("DTSTART:20261124T090000Z")[: -len(b"END:VEVENT\r\n")]
        + _TAIL,
        SKIPPED,
        goods=(GOOD_BEFORE,),
    )
    yield Case(
        c,
        "duplicate-uids",
        feed(event("DTSTART:20261124T090000Z"), event("DTSTART:20261124T110000Z")),
        ANY,
    )
    yield Case(
        c,
        "duplicate-good-uid",
        feed(good(GOOD_BEFORE, 24)),
        ANY,
    )
    yield Case(
        c,
        "recurrence-id-without-master",
        feed(event("RECURRENCE-ID:20261124T090000Z", "DTSTART:20261124T100000Z", "DURATION:PT1H")),
        ANY,
    )
    yield Case(
        c,
        "override-with-rrule",
        feed(
            series("FREQ=DAILY;COUNT=3", "20261120T090000Z"),
            event(
                "RECURRENCE-ID:20261121T090000Z", "DTSTART:20261121T100000Z", "RRULE:FREQ=SECONDLY"
            ),
        ),
        SKIPPED,
    )
    yield Case(
        c,
        "override-broken-master-fine",
        feed(
            series("FREQ=DAILY;COUNT=3", "20261120T090000Z"),
            event(
                "RECURRENCE-ID:20261121T090000Z",
                "DTSTART:20261121T100000Z",
                "DTEND:20261120T100000Z",
            ),
        ),
        KEPT,
    )
    yield Case(
        c,
        "vcalendar-inside-vevent",
        feed(event("DTSTART:20261124T090000Z", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR")),
        ANY,
    )
    yield Case(
        c,
        "two-calendars",
        feed() + _HEAD + event("DTSTART:20261124T090000Z") + _TAIL,
        KEPT,
    )
    yield Case(c, "garbage-after-end", feed() + b"\x00\xff garbage " * 1000, ANY)
    yield Case(c, "garbage-before-begin", b"hello\r\n" * 100 + feed(), ANY)
    yield Case(
        c,
        "no-vevent-at-all",
        _HEAD + b"BEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\n" + _TAIL,
        ANY,
        goods=(),
    )
    yield Case(c, "empty-calendar", _HEAD + _TAIL, ANY, goods=())
    yield Case(c, "not-icalendar", b"<html><body>404</body></html>", FAILS)
    yield Case(c, "empty-body", b"", FAILS)
    yield Case(c, "only-begin", b"BEGIN:VCALENDAR\r\n", FAILS)
    yield Case(c, "truncated", feed()[:-40], FAILS)
    yield Case(c, "utf-16", feed().decode().encode("utf-16"), FAILS)
    yield Case(c, "json", b'{"items": []}', FAILS)
    plain = b"".join(
        f"BEGIN:VEVENT\r\nUID:e{i}\r\nDTSTART:20261120T{i % 24:02d}0000Z\r\nDURATION:PT30M\r\n"
        f"SUMMARY:event {i}\r\nEND:VEVENT\r\n".encode()
        for i in range(100_000)
    )
    yield Case(c, "100k-plain-events", feed(plain), FAILS)
    history = b"".join(
        f"BEGIN:VEVENT\r\nUID:h{i}\r\nDTSTART:{2000 + i // 4000:04d}{i % 12 + 1:02d}"
        f"{i % 28 + 1:02d}T090000Z\r\nDTEND:{2000 + i // 4000:04d}{i % 12 + 1:02d}"
        f"{i % 28 + 1:02d}T100000Z\r\nSUMMARY:event {i}\r\nEND:VEVENT\r\n".encode()
        for i in range(100_000)
    )
    yield Case(
        c, "100k-history-events-under-a-raised-cap", feed(history), ANY, max_components=200_000
    )
    todos = b"BEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\n" * 60_000
    yield Case(c, "60k-todos", feed(todos), FAILS)


def line_cases() -> Iterator[Case]:
    """Huge lines, bad encodings, control characters."""
    c = "lines"
    huge = b"A" * 15_000_000
    yield Case(c, "15mb-garbage-line-in-event", feed(event("DTSTART:20261124T090000Z", huge)), KEPT)
    yield Case(
        c, "15mb-description", feed(event("DTSTART:20261124T090000Z", b"DESCRIPTION:" + huge)), KEPT
    )
    yield Case(c, "15mb-line-in-calendar", feed(header=huge + b"\r\n"), ANY)
    yield Case(c, "15mb-line-alone", huge, FAILS)
    yield Case(
        c,
        "15mb-folded-line",
        feed(
            event(
                "DTSTART:20261124T090000Z", b"DESCRIPTION:" + b"\r\n ".join([b"B" * 70] * 200_000)
            )
        ),
        KEPT,
    )
    yield Case(
        c,
        "latin-1",
        feed(event("DTSTART:20261124T090000Z", "SUMMARY:Café".encode("latin-1"))),
        KEPT,
    )
    yield Case(
        c,
        "nul-bytes",
        feed(event("DTSTART:20261124T090000Z", b"SUMMARY:a\x00b\x00c", b"X-\x00:\x00")),
        ANY,
    )
    yield Case(
        c,
        "invalid-utf-8",
        feed(event("DTSTART:20261124T090000Z", b"SUMMARY:\xff\xfe\xc3\x28\xed\xa0\x80")),
        ANY,
    )
    yield Case(
        c, "invalid-utf-8-in-uid", feed(event("DTSTART:20261124T090000Z", uid=b"\xff\xfe")), ANY
    )
    yield Case(
        c,
        "terminal-escapes-in-uid",
        feed(event("SUMMARY:no start", uid="\x1b]0;pwned\x07\x1b[2J")),
        ANY,
    )
    yield Case(c, "bom", b"\xef\xbb\xbf" + feed(), ANY)
    yield Case(c, "lf-only", feed().replace(b"\r\n", b"\n"), ANY)
    yield Case(c, "cr-only", feed().replace(b"\r\n", b"\r"), ANY)
    yield Case(c, "binary-in-the-middle", feed(bytes(range(256)) * 100 + b"\r\n"), ANY)
    yield Case(
        c, "10k-parameters", feed(event("DTSTART" + ";X-P=1" * 10_000 + ":20261124T090000Z")), ANY
    )
    yield Case(c, "unbalanced-quote", feed(event('DTSTART;X="unclosed:20261124T090000Z')), ANY)
    yield Case(
        c, "100k-properties", feed(event("DTSTART:20261124T090000Z", *["X-A:b"] * 100_000)), ANY
    )
    yield Case(c, "property-without-colon", feed(event("DTSTART:20261124T090000Z", "SUMMARY")), ANY)


def all_cases() -> list[Case]:
    """Every hostile case."""
    return [
        *recurrence_cases(),
        *date_cases(),
        *timezone_cases(),
        *structure_cases(),
        *line_cases(),
    ]


#: A feed that keeps a parser busy for a long time without any cheap check
#: seeing it: series whose rule never matches (there is no 31st-from-last of
#: February), so dateutil walks day by day to the year 9999 for each.
def slow_feed(series_count: int = 60) -> bytes:
    """A feed of ``series_count`` never-matching daily series (no good events)."""
    parts = [
        event(
            "DTSTART:20261101T090000Z",
            "DURATION:PT1H",
            "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=-31",
            uid=f"slow-{n}",
        )
        for n in range(series_count)
    ]
    return _HEAD + b"".join(parts) + _TAIL
