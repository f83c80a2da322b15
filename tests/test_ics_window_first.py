"""Window-first ICS parsing (issue 14 item 1): skipping what cannot reach the window.

Every feed here is parsed twice in this process: as calsync parses it
(series that provably cannot reach the window are not parsed at all) and in
full (``window_first=False``, every series parsed and expanded). The events
must be identical (order aside: recurring-ical-events itself lists a
series' changed instances in a varying order): over Hypothesis-generated feeds whose
events and series sit around the window's edges (plain events, date-only
days, time zones from UTC-11 to UTC+14, RRULEs with UNTIL, COUNT, BYDAY and
INTERVAL, RDATEs, EXDATEs, moved and cancelled instances, repeated UIDs), the
bundled sample calendar, the ICS source's test feed and the hostile feeds.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calsync.model import Event
from calsync.sample import sample_calendar
from calsync.sources.ics_parse import (
    FeedRequest,
    ParseLimits,
    _last_rule_start,
    parse_feed,
)

from . import hostile_ics as hostile
from .test_sources_ics import FEED

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
ZONES = ["Europe/Berlin", "America/New_York", "Pacific/Kiritimati", "Pacific/Pago_Pago"]
#: Hostile feeds over this size are left to tests/test_hostile_ics.py (slow in full).
LARGEST_HOSTILE = 1_000_000
#: Hostile feeds that exhaust a series' time budget: what they yield depends on timing.
OVER_BUDGET = {"daily-never-matching", "daily-from-year-1", "100k-properties"}


def request(body: bytes, tz: ZoneInfo = BERLIN, now: datetime = NOW) -> FeedRequest:
    """The request an ICS source with the default window (60 days back, 14 ahead) makes."""
    return FeedRequest(
        body=body,
        source="feed",
        calendar="feed",
        tz=tz,
        start=(now - timedelta(days=60)).astimezone(tz),
        end=(now + timedelta(days=14)).astimezone(tz),
        limits=replace(ParseLimits.defaults(), max_series_seconds=5.0),
    )


def _sorted(events: list[Event]) -> list[Event]:
    """Events in a fixed order (recurring-ical-events' order of changed instances varies)."""
    return sorted(events, key=repr)


def assert_same(body: bytes, tz: ZoneInfo = BERLIN, now: datetime = NOW) -> int:
    """Parse ``body`` window-first and in full; the events must be equal. Return how many."""
    fast = parse_feed(request(body, tz, now))
    full = parse_feed(request(body, tz, now), window_first=False)
    assert _sorted(fast.events) == _sorted(full.events), body.decode()
    assert fast.stats.outside + fast.stats.series == full.stats.series
    return len(fast.events)


# ---------------------------------------------------------------- generated feeds

# Days relative to the window's start (NOW - 60 days) and end (NOW + 14 days),
# most near an edge, some far away.
_EDGE = st.one_of(
    st.integers(-4, 4).map(lambda d: d - 60),
    st.integers(-4, 4).map(lambda d: d + 14),
    st.integers(-900, 400),
)


def _stamp(day: datetime, kind: str) -> tuple[str, str]:
    """A DTSTART-style parameter suffix and value for ``day`` in one of four forms."""
    if kind == "date":
        return ";VALUE=DATE", f"{day:%Y%m%d}"
    if kind == "utc":
        return "", f"{day:%Y%m%dT%H%M%S}Z"
    if kind == "floating":
        return "", f"{day:%Y%m%dT%H%M%S}"
    return f";TZID={kind}", f"{day:%Y%m%dT%H%M%S}"


@st.composite
def _rule(draw: st.DrawFn, start: datetime, kind: str) -> str:
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY", "HOURLY"]))
    parts = [f"FREQ={freq}"]
    interval = draw(st.sampled_from([1, 1, 2, 3, 7]))
    if interval != 1:
        parts.append(f"INTERVAL={interval}")
    if freq == "WEEKLY" and draw(st.booleans()):
        days = draw(st.lists(st.sampled_from(["MO", "TU", "WE", "FR", "SU"]), min_size=1))
        parts.append("BYDAY=" + ",".join(sorted(set(days))))
    if freq == "MONTHLY" and draw(st.integers(0, 4)) == 0:
        parts.append("BYMONTHDAY=" + draw(st.sampled_from(["31", "-1", "15"])))
    end = draw(st.sampled_from(["count", "until", "until", "none"]))
    if freq == "HOURLY":
        end = "count"  # an hourly series over months fills the window past its cap
    if end == "count":
        parts.append(f"COUNT={draw(st.integers(1, 40))}")
    elif end == "until":
        until = start + timedelta(days=draw(st.integers(0, 200)), hours=draw(st.integers(0, 23)))
        if kind == "date":
            parts.append(f"UNTIL={until:%Y%m%d}")
        else:
            parts.append(f"UNTIL={until.astimezone(UTC) if until.tzinfo else until:%Y%m%dT%H%M%S}Z")
    return ";".join(parts)


@st.composite
def _component(draw: st.DrawFn, number: int) -> str:
    window_start = NOW - timedelta(days=60)
    start = (window_start + timedelta(days=draw(_EDGE) + 60)).replace(tzinfo=None)
    start = start.replace(hour=draw(st.integers(0, 23)), minute=draw(st.sampled_from([0, 30])))
    kind = draw(st.sampled_from(["date", "utc", "floating", *ZONES]))
    param, value = _stamp(start, kind)
    uid = f"ev-{draw(st.integers(0, number))}"
    lines = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"DTSTART{param}:{value}"]
    length = draw(st.sampled_from(["end", "end", "duration", "none"]))
    if length == "end":
        stop = start + (
            timedelta(days=draw(st.integers(1, 5)))
            if kind == "date"
            else timedelta(minutes=draw(st.sampled_from([30, 60, 600, 3000])))
        )
        end_param, end_value = _stamp(stop, kind)
        lines.append(f"DTEND{end_param}:{end_value}")
    elif length == "duration":
        lines.append(draw(st.sampled_from(["DURATION:PT1H", "DURATION:P2D", "DURATION:P1W"])))
    shape = draw(st.sampled_from(["plain", "plain", "rule", "rule", "rdate", "moved"]))
    if shape == "rule":
        lines.append(f"RRULE:{draw(_rule(start, kind))}")
        if draw(st.booleans()):
            skip_param, skip_value = _stamp(start + timedelta(days=7), kind)
            lines.append(f"EXDATE{skip_param}:{skip_value}")
    elif shape == "rdate":
        extra = [start + timedelta(days=draw(st.integers(-30, 120))) for _ in range(2)]
        rdate_param, _ = _stamp(start, kind)
        lines.append(f"RDATE{rdate_param}:" + ",".join(_stamp(d, kind)[1] for d in extra))
    elif shape == "moved":
        original = start - timedelta(days=draw(st.integers(-100, 100)))
        moved_param, moved_value = _stamp(original, kind)
        lines.append(f"RECURRENCE-ID{moved_param}:{moved_value}")
    if draw(st.integers(0, 9)) == 0:
        lines.append("STATUS:CANCELLED")
    lines += [f"SUMMARY:coding {number}", "END:VEVENT"]
    return "\r\n".join(lines) + "\r\n"


@st.composite
def feeds(draw: st.DrawFn) -> bytes:
    """A feed of up to 12 components around the window's edges."""
    count = draw(st.integers(1, 12))
    header = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync window test//EN\r\n"
    if draw(st.integers(0, 4)) == 0:
        header += f"X-WR-TIMEZONE:{draw(st.sampled_from(ZONES))}\r\n"
    body = "".join(draw(_component(count)) for _ in range(count))
    return (header + body + "END:VCALENDAR\r\n").encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=feeds(), zone=st.sampled_from(["Europe/Berlin", "UTC", "Pacific/Kiritimati"]))
def test_window_first_equals_the_full_parse_on_generated_feeds(body: bytes, zone: str) -> None:
    assert_same(body, ZoneInfo(zone))


# ---------------------------------------------------------------- the peer calendars


def test_window_first_equals_the_full_parse_on_the_sample_calendar() -> None:
    for now in (NOW, NOW - timedelta(days=300), NOW + timedelta(days=400)):
        body = sample_calendar(now, BERLIN)
        assert assert_same(body, BERLIN, now) > 0
        # Seen from far after (or before) the sample's weeks: nothing reaches the window.
        later = now + timedelta(days=200)
        assert_same(body, BERLIN, later)


def test_window_first_equals_the_full_parse_on_the_source_test_feed() -> None:
    assert assert_same(FEED) > 0


@pytest.mark.parametrize(
    "case",
    [
        c
        for c in hostile.all_cases()
        if len(c.body) <= LARGEST_HOSTILE and c.name not in OVER_BUDGET
    ],
    ids=lambda c: c.name,
)
def test_window_first_equals_the_full_parse_on_the_hostile_feeds(case: hostile.Case) -> None:
    limits = replace(ParseLimits.defaults(), max_series_seconds=10.0)
    if case.max_components:
        limits = replace(limits, max_components=case.max_components)
    fast_request = replace(request(case.body, BERLIN, hostile.NOW), limits=limits)
    try:
        fast = parse_feed(fast_request)
    except Exception as err:  # the full parse must fail alike
        with pytest.raises(type(err)):
            parse_feed(fast_request, window_first=False)
        return
    assert _sorted(fast.events) == _sorted(parse_feed(fast_request, window_first=False).events)


def test_a_long_history_is_mostly_not_parsed() -> None:
    """Events and ended series of two past years cost no parse; the window's do."""
    parts = []
    for day in range(0, 730, 2):
        start = datetime(2025, 1, 1, 9, tzinfo=UTC) + timedelta(days=day)
        parts.append(
            f"BEGIN:VEVENT\r\nUID:e{day}\r\nDTSTART:{start:%Y%m%dT%H%M%SZ}\r\n"
            f"DTEND:{start + timedelta(hours=1):%Y%m%dT%H%M%SZ}\r\nSUMMARY:x\r\nEND:VEVENT\r\n"
        )
        if day % 40 == 0:
            parts.append(
                f"BEGIN:VEVENT\r\nUID:s{day}\r\nDTSTART:{start:%Y%m%dT%H%M%SZ}\r\n"
                f"DURATION:PT1H\r\nRRULE:FREQ=WEEKLY;COUNT=5\r\nSUMMARY:x\r\nEND:VEVENT\r\n"
            )
    body = ("BEGIN:VCALENDAR\r\n" + "".join(parts) + "END:VCALENDAR\r\n").encode()
    result = parse_feed(request(body))
    assert assert_same(body) == len(result.events) > 0
    assert result.stats.outside > 0.8 * (result.stats.outside + result.stats.series)


# ---------------------------------------------------------------- the rule bound


@pytest.mark.parametrize(
    ("rule", "first"),
    [
        ("FREQ=DAILY;UNTIL=20260105T000000Z", date(2026, 1, 1)),
        ("FREQ=DAILY;COUNT=3", date(2026, 1, 1)),
        ("FREQ=WEEKLY;INTERVAL=2;COUNT=3", date(2026, 1, 1)),
        ("FREQ=WEEKLY;BYDAY=MO,FR;COUNT=4", date(2026, 1, 1)),
        ("FREQ=WEEKLY;BYDAY=WE;INTERVAL=3;COUNT=4", date(2026, 1, 1)),
        ("FREQ=MONTHLY;COUNT=13", date(2026, 1, 28)),
        ("FREQ=YEARLY;INTERVAL=2;COUNT=3", date(2026, 3, 1)),
        ("FREQ=HOURLY;COUNT=49", date(2026, 1, 1)),
    ],
)
def test_a_provable_end_is_an_upper_bound(rule: str, first: date) -> None:
    start = datetime(first.year, first.month, first.day, 23, 30, tzinfo=UTC)
    last = max(rrulestr(rule.replace("T000000Z", "T235959Z"), dtstart=start)).date()
    bound = _last_rule_start(rule, first)
    assert bound is not None
    assert bound >= last


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY",  # open-ended
        "FREQ=MONTHLY;COUNT=5;BYMONTHDAY=31",  # months without a 31st are skipped
        "FREQ=DAILY;BYDAY=MO;INTERVAL=7;COUNT=3",  # may never meet
        "FREQ=WEEKLY;BYDAY=1MO;COUNT=3",
        "FREQ=YEARLY;BYSETPOS=1;COUNT=2",
        "FREQ=DAILY;COUNT=99999999999999",  # beyond the calendar
        "FREQ=DAILY;UNTIL=garbage",
    ],
)
def test_an_unprovable_end_is_parsed_in_full(rule: str) -> None:
    assert _last_rule_start(rule, date(2026, 1, 1)) is None
    assert _last_rule_start("FREQ=MONTHLY;COUNT=3", date(2026, 1, 31)) is None
    assert _last_rule_start("FREQ=YEARLY;COUNT=3", date(2024, 2, 29)) is None
