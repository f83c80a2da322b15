"""Local time ↔ weekly slot index.

A week has 168 one-hour slots. The index is ``day * 24 + hour`` with day 0 =
Sunday, always in the user's local time zone: a completion at 09:30 local time
lands in the 09:00 slot whatever the UTC offset is that day, so slots stay
correct across daylight-saving changes.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from calsync.errors import InputError

#: Number of one-hour slots in a week.
SLOTS_PER_WEEK = 168

#: Day names by calsync day number (0 = Sunday).
DAY_NAMES: tuple[str, ...] = (
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
)


def get_weekly_index(day_of_week: int, hour: int) -> int:
    """Return the slot index of ``hour`` on ``day_of_week`` (0 = Sunday).

    >>> get_weekly_index(2, 10)  # Tuesday 10:00
    58

    Raises:
        InputError: when the day is not 0–6 or the hour not 0–23.

    """
    if not isinstance(day_of_week, int) or not 0 <= day_of_week <= 6:
        raise InputError(f"day_of_week must be an integer 0-6 (0 = Sunday), got {day_of_week!r}")
    if not isinstance(hour, int) or not 0 <= hour <= 23:
        raise InputError(f"hour must be an integer 0-23, got {hour!r}")
    return day_of_week * 24 + hour


def calsync_day(moment: datetime) -> int:
    """Return calsync's day number (0 = Sunday) of a (local) datetime."""
    # Python's weekday() has Monday = 0; calsync counts from Sunday.
    return (moment.weekday() + 1) % 7


def slot_of(moment: datetime, tz: tzinfo) -> int:
    """Return the weekly slot of an instant, read on the wall clock of ``tz``.

    Args:
        moment: A timezone-aware datetime (any offset).
        tz: The user's time zone, e.g. ``ZoneInfo("Europe/Berlin")``.

    Raises:
        InputError: for a naive datetime, whose instant is ambiguous.

    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InputError(f"a timezone-aware datetime is required, got naive {moment.isoformat()}")
    local = moment.astimezone(tz)
    return calsync_day(local) * 24 + local.hour


def split_index(index: int) -> tuple[int, int]:
    """Return ``(day_of_week, hour)`` of a slot index."""
    if not 0 <= index < SLOTS_PER_WEEK:
        raise InputError(f"slot index must be 0-167, got {index}")
    return divmod(index, 24)


def slot_label(index: int) -> str:
    """Return a human label such as ``"Tuesday 09:00"`` for a slot index."""
    day, hour = split_index(index)
    return f"{DAY_NAMES[day]} {hour:02d}:00"


def week_rows(week_start: str = "monday") -> list[int]:
    """The days (0 = Sunday) in the order a week is shown: from Monday, or from Sunday."""
    first = 0 if week_start == "sunday" else 1
    return [(first + offset) % 7 for offset in range(7)]
