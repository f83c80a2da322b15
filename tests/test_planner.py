"""find_optimal_slot, allowed windows and learning progress (pure core)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from freezegun import freeze_time

from calsync.errors import InputError
from calsync.learning.habits import neutral_array
from calsync.learning.planner import Period, ScoringParams, find_optimal_slot, slot_scores
from calsync.learning.progress import learning_progress, maturity, task_progress
from calsync.learning.slots import get_weekly_index
from calsync.learning.windows import Window, allowed_periods, merge_periods

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = datetime(2026, 11, 24, tzinfo=UTC_ZONE)


def habit_with(values: dict[tuple[int, int], float]) -> np.ndarray:
    array = neutral_array()
    for (day, hour), value in values.items():
        array[get_weekly_index(day, hour)] = value
    return array


def test_scores_combine_habit_and_energy() -> None:
    habit = habit_with({(2, 9): 1.0})
    energy = habit_with({(2, 9): 0.0})
    scores = slot_scores(habit, energy)
    assert scores[get_weekly_index(2, 9)] == pytest.approx(0.6)
    assert scores[0] == pytest.approx(0.5)


def test_the_whole_block_counts_not_only_its_first_hour() -> None:
    # 09:00 is great but 10:00 is poor; 13:00-15:00 is good throughout.
    habit = habit_with({(2, 9): 1.0, (2, 10): 0.0, (2, 13): 0.8, (2, 14): 0.8})
    period = Period(TUESDAY.replace(hour=8), TUESDAY.replace(hour=18))
    choice = find_optimal_slot(habit, neutral_array(), timedelta(hours=2), [period], UTC_ZONE)
    assert choice is not None
    assert choice.start == TUESDAY.replace(hour=13)
    assert choice.end == TUESDAY.replace(hour=15)
    assert choice.score == pytest.approx(0.6 * 0.8 + 0.4 * 0.5)


def test_partial_hours_are_weighted_by_time() -> None:
    habit = habit_with({(2, 10): 1.0})
    period = Period(TUESDAY.replace(hour=9, minute=30), TUESDAY.replace(hour=11, minute=30))
    choice = find_optimal_slot(habit, neutral_array(), timedelta(hours=2), [period], UTC_ZONE)
    assert choice is not None
    assert choice.start == TUESDAY.replace(hour=9, minute=30)
    # half of 09:00 (0.5), all of 10:00 (1.0), half of 11:00 (0.5) → habit mean 0.75
    assert choice.score == pytest.approx(0.6 * 0.75 + 0.4 * 0.5)


def test_starts_are_aligned_to_fifteen_minutes() -> None:
    habit = habit_with({(2, 9): 1.0})
    period = Period(TUESDAY.replace(hour=9, minute=7), TUESDAY.replace(hour=12))
    choice = find_optimal_slot(habit, neutral_array(), timedelta(minutes=30), [period], UTC_ZONE)
    assert choice is not None
    assert choice.start == TUESDAY.replace(hour=9, minute=15)
    assert choice.start.minute % 15 == 0


def test_alignment_is_configurable() -> None:
    period = Period(TUESDAY.replace(hour=9, minute=7), TUESDAY.replace(hour=12))
    params = ScoringParams(alignment_minutes=30)
    choice = find_optimal_slot(
        neutral_array(), neutral_array(), timedelta(minutes=30), [period], UTC_ZONE, params
    )
    assert choice is not None
    assert choice.start == TUESDAY.replace(hour=9, minute=30)


def test_nothing_when_no_period_fits() -> None:
    short = Period(TUESDAY.replace(hour=9, minute=10), TUESDAY.replace(hour=10, minute=10))
    assert (
        find_optimal_slot(neutral_array(), neutral_array(), timedelta(hours=1), [short], UTC_ZONE)
        is None
    )
    assert (
        find_optimal_slot(neutral_array(), neutral_array(), timedelta(hours=1), [], UTC_ZONE)
        is None
    )


def test_blocks_never_leave_their_period() -> None:
    habit = habit_with({(2, 11): 1.0})
    period = Period(TUESDAY.replace(hour=9), TUESDAY.replace(hour=11, minute=30))
    choice = find_optimal_slot(habit, neutral_array(), timedelta(hours=1), [period], UTC_ZONE)
    assert choice is not None
    assert choice.end <= period.end
    assert choice.start == TUESDAY.replace(hour=10, minute=30)


def test_best_period_wins_and_ties_go_to_the_earliest() -> None:
    later = Period(TUESDAY.replace(hour=14), TUESDAY.replace(hour=16))
    earlier = Period(TUESDAY.replace(hour=8), TUESDAY.replace(hour=10))
    choice = find_optimal_slot(
        neutral_array(), neutral_array(), timedelta(hours=1), [later, earlier], UTC_ZONE
    )
    assert choice is not None
    assert choice.start == TUESDAY.replace(hour=8)
    better = habit_with({(2, 15): 0.9})
    choice = find_optimal_slot(
        better, neutral_array(), timedelta(hours=1), [later, earlier], UTC_ZONE
    )
    assert choice is not None
    assert choice.start == TUESDAY.replace(hour=15)


def test_block_across_spring_forward_scores_the_hours_lived() -> None:
    # Berlin, Sunday 2026-03-29: 02:00-03:00 local does not exist.
    habit = habit_with({(0, 1): 1.0, (0, 2): 0.0, (0, 3): 1.0, (0, 4): 1.0})
    start = datetime(2026, 3, 29, 0, tzinfo=BERLIN)
    period = Period(start, start + timedelta(hours=6))
    choice = find_optimal_slot(habit, neutral_array(), timedelta(hours=3), [period], BERLIN)
    assert choice is not None
    assert choice.start == datetime(2026, 3, 29, 1, tzinfo=BERLIN)
    assert choice.end.hour == 5  # three real hours later, on summer time
    assert choice.score == pytest.approx(0.6 * 1.0 + 0.4 * 0.5)


def test_invalid_inputs() -> None:
    with pytest.raises(InputError):
        Period(datetime(2026, 1, 1), datetime(2026, 1, 2))  # noqa: DTZ001
    with pytest.raises(InputError):
        Period(TUESDAY.replace(hour=10), TUESDAY.replace(hour=9))
    period = Period(TUESDAY, TUESDAY + timedelta(days=1))
    for bad in (timedelta(0), timedelta(seconds=90), timedelta(minutes=-15)):
        with pytest.raises(InputError):
            find_optimal_slot(neutral_array(), neutral_array(), bad, [period], UTC_ZONE)


@freeze_time("2031-07-04 12:00:00")
def test_the_core_does_not_read_the_wall_clock() -> None:
    # Frozen far from the period: the result depends only on the inputs.
    habit = habit_with({(2, 9): 0.9})
    period = Period(TUESDAY, TUESDAY + timedelta(days=1))
    choice = find_optimal_slot(habit, neutral_array(), timedelta(hours=1), [period], UTC_ZONE)
    assert choice is not None
    assert choice.start == TUESDAY.replace(hour=9)


# ---------------------------------------------------------------- windows


def test_windows_follow_the_wall_clock_across_fall_back() -> None:
    # Berlin falls back on Sunday 2026-10-25; weekday windows stay 08:00-18:00 local.
    window = Window(days=(1, 2, 3, 4, 5), start=time(8), end=time(18))
    start = datetime(2026, 10, 22, tzinfo=BERLIN)  # Thursday
    periods = allowed_periods([window], start, start + timedelta(days=7), BERLIN)
    assert [p.start.astimezone(BERLIN).strftime("%a %H:%M") for p in periods] == [
        "Thu 08:00",
        "Fri 08:00",
        "Mon 08:00",
        "Tue 08:00",
        "Wed 08:00",
    ]
    assert all(p.end - p.start == timedelta(hours=10) for p in periods)
    assert periods[0].start.astimezone(BERLIN).utcoffset() == timedelta(hours=2)
    assert periods[2].start.astimezone(BERLIN).utcoffset() == timedelta(hours=1)


def test_windows_are_clipped_to_the_range_and_merged() -> None:
    morning = Window(days=(2,), start=time(8), end=time(12))
    noon = Window(days=(2,), start=time(11), end=time(14))
    night = Window(days=(2,), start=time(22), end=None)
    periods = allowed_periods(
        [morning, noon, night], TUESDAY.replace(hour=9), TUESDAY + timedelta(days=1), UTC_ZONE
    )
    assert [(p.start.hour, p.end - p.start) for p in periods] == [
        (9, timedelta(hours=5)),
        (22, timedelta(hours=2)),
    ]
    assert merge_periods([]) == []


# ---------------------------------------------------------------- progress


@pytest.mark.parametrize(
    ("total", "stage"),
    [(0, "bootstrap"), (9, "bootstrap"), (10, "developing"), (49, "developing"), (50, "mature")],
)
def test_maturity_thresholds(total: int, stage: str) -> None:
    assert maturity(total, developing_after=10, mature_after=50) == stage


def test_peaks_and_best_day() -> None:
    habit = habit_with({(2, 9): 0.9, (4, 10): 0.8, (2, 11): 0.7, (5, 16): 0.2})
    progress = task_progress("Deep Coding", habit, 12)
    assert progress.peak_slots == ["Tuesday 09:00", "Thursday 10:00", "Tuesday 11:00"]
    assert progress.peak_values == [0.9, 0.8, 0.7]
    assert progress.best_day == "Tuesday"
    assert progress.completion_count == 12


def test_nothing_learned_means_no_peaks() -> None:
    progress = learning_progress(
        {"Email": (neutral_array(), 0), "Deep Coding": (habit_with({(1, 9): 0.6}), 1)},
        developing_after=1,
        mature_after=5,
    )
    assert progress.total_completions == 1
    assert progress.maturity == "developing"
    email, coding = progress.tasks
    assert email.peak_slots == []
    assert email.best_day is None
    assert coding.peak_slots == ["Monday 09:00"]
    assert progress.to_dict()["tasks"][1]["best_day"] == "Monday"
