"""Allowed weekly windows → concrete periods in a date range (pure, DST-aware)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from calsync.learning.planner import Period
from calsync.learning.slots import calsync_day


@dataclass(frozen=True)
class Window:
    """A weekly window: on ``days`` (0 = Sunday) from ``start`` to ``end`` local time.

    ``end`` of ``None`` means midnight at the end of the day; an ``end`` at or
    before ``start`` is on the next day (a window across midnight, e.g.
    22:00–02:00 on Fridays runs into Saturday).
    """

    days: Sequence[int]
    start: time
    end: time | None


def _local(day: date, clock: time | None, tz: tzinfo) -> datetime:
    if clock is None:
        day, clock = day + timedelta(days=1), time(0, 0)
    # Going through UTC normalises wall-clock times that a DST change skips.
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC).astimezone(tz)


def allowed_periods(
    windows: Iterable[Window], range_start: datetime, range_end: datetime, tz: tzinfo
) -> list[Period]:
    """Every window occurrence between ``range_start`` and ``range_end``, clipped and merged.

    The periods are returned in UTC (see :class:`Period`).

    Windows are read on the wall clock of ``tz``: an 08:00–18:00 window is
    08:00–18:00 local time on both sides of a daylight-saving change.
    """
    windows = list(windows)
    range_start, range_end = range_start.astimezone(UTC), range_end.astimezone(UTC)
    periods: list[Period] = []
    day = range_start.astimezone(tz).date() - timedelta(days=1)
    last = range_end.astimezone(tz).date()
    while day <= last:
        weekday = calsync_day(datetime.combine(day, time(12)))
        for window in windows:
            if weekday not in window.days:
                continue
            overnight = window.end is not None and window.end <= window.start
            start = max(_local(day, window.start, tz).astimezone(UTC), range_start)
            end_day = day + timedelta(days=1) if overnight else day
            end = min(_local(end_day, window.end, tz).astimezone(UTC), range_end)
            if end > start:
                periods.append(Period(start, end))
        day += timedelta(days=1)
    return merge_periods(periods)


def merge_periods(periods: Iterable[Period]) -> list[Period]:
    """Sort periods and merge the ones that overlap or touch."""
    merged: list[Period] = []
    for period in sorted(periods, key=lambda p: p.start):
        if merged and period.start <= merged[-1].end:
            if period.end > merged[-1].end:
                merged[-1] = Period(merged[-1].start, period.end)
        else:
            merged.append(period)
    return merged
