"""Weekly slot mapping: the worked examples and DST correctness in two zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.errors import InputError
from calsync.learning.slots import get_weekly_index, slot_label, slot_of, split_index


@pytest.mark.parametrize(
    ("day", "hour", "index"),
    [(2, 10, 58), (5, 15, 135), (1, 9, 33), (0, 0, 0), (6, 23, 167)],
)
def test_worked_examples(day: int, hour: int, index: int) -> None:
    assert get_weekly_index(day, hour) == index
    assert split_index(index) == (day, hour)


@pytest.mark.parametrize(("day", "hour"), [(-1, 0), (7, 0), (0, 24), (0, -1), (1.5, 2)])
def test_out_of_range_is_rejected(day: int, hour: int) -> None:
    with pytest.raises(InputError):
        get_weekly_index(day, hour)  # type: ignore[arg-type]


def test_labels() -> None:
    assert slot_label(58) == "Tuesday 10:00"
    assert slot_label(get_weekly_index(0, 9)) == "Sunday 09:00"


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        slot_of(datetime(2026, 11, 24, 9), ZoneInfo("UTC"))  # noqa: DTZ001


def test_slot_is_read_on_the_users_clock() -> None:
    # 08:30 UTC on Tuesday is 09:30 in Berlin (winter) and 03:30 in New York.
    moment = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
    assert slot_of(moment, ZoneInfo("Europe/Berlin")) == get_weekly_index(2, 9)
    assert slot_of(moment, ZoneInfo("America/New_York")) == get_weekly_index(2, 3)
    # Late Monday evening in New York is already Tuesday in UTC.
    late = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    assert slot_of(late, ZoneInfo("America/New_York")) == get_weekly_index(1, 22)


# ---------------------------------------------------------------- an independent DST oracle
# The offsets are computed from the published rules, not from zoneinfo.


def _last_sunday(year: int, month: int) -> date:
    day = date(year, month + 1, 1) - timedelta(days=1) if month < 12 else date(year, 12, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def _nth_sunday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))


def _berlin_offset(instant: datetime) -> timedelta:
    # EU rule: summer time from 01:00 UTC on the last Sunday of March to
    # 01:00 UTC on the last Sunday of October.
    start = datetime.combine(_last_sunday(instant.year, 3), datetime.min.time(), UTC) + timedelta(
        hours=1
    )
    end = datetime.combine(_last_sunday(instant.year, 10), datetime.min.time(), UTC) + timedelta(
        hours=1
    )
    return timedelta(hours=2 if start <= instant < end else 1)


def _new_york_offset(instant: datetime) -> timedelta:
    # US rule (since 2007): 02:00 local on the second Sunday of March (07:00 UTC)
    # to 02:00 local on the first Sunday of November (06:00 UTC).
    start = datetime.combine(_nth_sunday(instant.year, 3, 2), datetime.min.time(), UTC) + timedelta(
        hours=7
    )
    end = datetime.combine(_nth_sunday(instant.year, 11, 1), datetime.min.time(), UTC) + timedelta(
        hours=6
    )
    return timedelta(hours=-4 if start <= instant < end else -5)


def _expected_slot(instant: datetime, offset: timedelta) -> int:
    wall = (instant + offset).replace(tzinfo=None)
    return ((wall.weekday() + 1) % 7) * 24 + wall.hour


instants = st.datetimes(
    min_value=datetime(2010, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=datetime(2035, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@settings(max_examples=600)
@given(instants)
def test_berlin_slots_match_the_eu_rule(instant: datetime) -> None:
    assert slot_of(instant, ZoneInfo("Europe/Berlin")) == _expected_slot(
        instant, _berlin_offset(instant)
    )


@settings(max_examples=600)
@given(instants)
def test_new_york_slots_match_the_us_rule(instant: datetime) -> None:
    assert slot_of(instant, ZoneInfo("America/New_York")) == _expected_slot(
        instant, _new_york_offset(instant)
    )


@pytest.mark.parametrize(
    ("zone", "utc_start", "expected_hours"),
    [
        # Berlin spring forward 2026-03-29: local 01:00, 03:00, 04:00 (02:00 never happens).
        ("Europe/Berlin", datetime(2026, 3, 29, 0, tzinfo=UTC), [1, 3, 4]),
        # Berlin fall back 2026-10-25: local 02:00 twice.
        ("Europe/Berlin", datetime(2026, 10, 24, 23, tzinfo=UTC), [1, 2, 2, 3]),
        # New York spring forward 2026-03-08 and fall back 2026-11-01.
        ("America/New_York", datetime(2026, 3, 8, 6, tzinfo=UTC), [1, 3, 4]),
        ("America/New_York", datetime(2026, 11, 1, 5, tzinfo=UTC), [1, 1, 2]),
    ],
)
def test_dst_transition_hours(zone: str, utc_start: datetime, expected_hours: list[int]) -> None:
    tz = ZoneInfo(zone)
    slots = [slot_of(utc_start + timedelta(hours=i), tz) for i in range(len(expected_hours))]
    assert [s % 24 for s in slots] == expected_hours
    assert {s // 24 for s in slots} == {0}  # all on Sunday
