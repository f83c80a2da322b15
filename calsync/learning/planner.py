"""Slot scoring and :func:`find_optimal_slot`.

A candidate block is scored by the time-weighted mean, over every local hour
it covers, of ``habit_weight * habit + energy_weight * energy`` (0.6 / 0.4 by
default). A block from 09:30 to 11:30 therefore counts half of the 09:00 slot,
all of 10:00 and half of 11:00. Starts are aligned to ``alignment_minutes``
(15) on the local wall clock. Hours are read in the user's time zone for every
quarter hour of the block, so a block that spans a daylight-saving change is
scored by the hours the user actually lives through.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

import numpy as np

from calsync.errors import InputError
from calsync.learning.habits import WeeklyArray, _check_array
from calsync.learning.slots import slot_of

# Every UTC offset in use is a multiple of 15 minutes, so the local hour never
# changes inside a 15-minute step that starts on a quarter hour.
_QUANTUM_MINUTES = 15


@dataclass(frozen=True)
class ScoringParams:
    """How slots are scored and where blocks may start.

    Attributes:
        habit_weight: Weight of the task type's habit array (0.6).
        energy_weight: Weight of the user's energy array (0.4).
        alignment_minutes: Blocks start on multiples of this many minutes (15).

    """

    habit_weight: float = 0.6
    energy_weight: float = 0.4
    alignment_minutes: int = 15


@dataclass(frozen=True)
class Period:
    """A stretch of free time, ``start`` inclusive, ``end`` exclusive.

    Both are timezone-aware and normalised to UTC on creation, so comparisons
    and arithmetic on periods are exact across daylight-saving changes.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("end", self.end)):
            if value.tzinfo is None or value.utcoffset() is None:
                raise InputError(f"period {name} must be timezone-aware, got {value.isoformat()}")
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))
        if self.end < self.start:
            raise InputError(
                f"period ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})"
            )


@dataclass(frozen=True)
class SlotChoice:
    """The best block found: its start and end (in the user's zone) and score."""

    start: datetime
    end: datetime
    score: float


def slot_scores(
    habit: WeeklyArray, energy: WeeklyArray, params: ScoringParams = ScoringParams()
) -> WeeklyArray:
    """Return the 168 slot scores ``habit_weight * habit + energy_weight * energy``."""
    _check_array(habit)
    _check_array(energy)
    return params.habit_weight * habit + params.energy_weight * energy


def _whole_minutes(duration: timedelta) -> int:
    minutes = duration.total_seconds() / 60
    if minutes <= 0 or minutes != int(minutes):
        raise InputError(f"duration must be a positive whole number of minutes, got {duration}")
    return int(minutes)


def _align_up(moment: datetime, tz: tzinfo, step_minutes: int) -> datetime:
    """Return the first instant (in UTC) at or after ``moment`` on a local ``step`` boundary."""
    local = moment.astimezone(tz)
    into_step = timedelta(
        minutes=local.minute % step_minutes, seconds=local.second, microseconds=local.microsecond
    )
    instant = moment.astimezone(UTC)
    return instant + (timedelta(minutes=step_minutes) - into_step) if into_step else instant


def find_optimal_slot(
    habit: WeeklyArray,
    energy: WeeklyArray,
    duration: timedelta,
    available_periods: Iterable[Period],
    tz: tzinfo,
    params: ScoringParams = ScoringParams(),
) -> SlotChoice | None:
    """Find the best-scoring aligned block of ``duration`` inside the free periods.

    Args:
        habit: The task type's 168-slot habit array.
        energy: The user's 168-slot energy array.
        duration: Block length (a positive whole number of minutes).
        available_periods: Free periods (tz-aware); blocks never leave a period.
        tz: The user's time zone; slots and alignment are read on its clock.
        params: Weights and alignment.

    Returns:
        The best :class:`SlotChoice` (the earliest among equal scores), or
        ``None`` when no period is long enough.

    """
    scores = slot_scores(habit, energy, params)
    block = _whole_minutes(duration)
    step = params.alignment_minutes
    if step <= 0:
        raise InputError(f"alignment_minutes must be positive, got {step}")
    quantum = math.gcd(step, _QUANTUM_MINUTES)

    best: SlotChoice | None = None
    best_score = -math.inf
    # All arithmetic happens in UTC: adding a timedelta to a datetime in a
    # ZoneInfo zone moves its wall clock, which is wrong across DST changes.
    for period in sorted(available_periods, key=lambda p: p.start):
        first = _align_up(period.start, tz, step)
        span = int((period.end.astimezone(UTC) - first).total_seconds() // 60)
        if span < block:
            continue
        n_quanta = -(-span // quantum)
        quantum_scores = np.fromiter(
            (scores[slot_of(first + timedelta(minutes=i * quantum), tz)] for i in range(n_quanta)),
            dtype=np.float64,
            count=n_quanta,
        )
        per_minute = np.repeat(quantum_scores, quantum)[:span]
        cumulative = np.concatenate(([0.0], np.cumsum(per_minute)))
        offsets = np.arange(0, span - block + 1, step)
        means = (cumulative[offsets + block] - cumulative[offsets]) / block
        # Rounding keeps float noise from cumsum from breaking ties unpredictably.
        means = np.round(means, 12)
        index = int(np.argmax(means))
        if means[index] > best_score:
            best_score = float(means[index])
            start = first + timedelta(minutes=int(offsets[index]))
            best = SlotChoice(
                start=start.astimezone(tz), end=(start + duration).astimezone(tz), score=best_score
            )
    return best
