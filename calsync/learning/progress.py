"""Learning progress: maturity, peak slots and best day per task type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from calsync.learning.habits import WeeklyArray, _check_array
from calsync.learning.slots import DAY_NAMES, slot_label

# Differences smaller than this are float noise, not something learned.
_EPSILON = 1e-9

#: A slot is reported as a peak only with at least this many of the user's own
#: outcomes in it: smoothing and pooling lift neighbours of what went well,
#: which is a fine guess for planning but not something the user did there.
PEAK_MIN_OUTCOMES = 1


@dataclass(frozen=True)
class TaskProgress:
    """What calsync has learned about one task type.

    Attributes:
        task_type: The task type's name.
        completion_count: Completions learned from.
        peak_slots: The best slots above the baseline, best first (``"Tuesday 09:00"``).
        peak_values: Habit values of ``peak_slots``.
        best_day: The day of the best peak, or ``None`` while there is none.

    """

    task_type: str
    completion_count: int
    peak_slots: list[str] = field(default_factory=list)
    peak_values: list[float] = field(default_factory=list)
    best_day: str | None = None


@dataclass(frozen=True)
class LearningProgress:
    """A user's learning progress across task types."""

    total_completions: int
    maturity: str
    tasks: list[TaskProgress]

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            "total_completions": self.total_completions,
            "maturity": self.maturity,
            "tasks": [
                {
                    "task_type": t.task_type,
                    "completion_count": t.completion_count,
                    "peak_slots": t.peak_slots,
                    "peak_values": t.peak_values,
                    "best_day": t.best_day,
                }
                for t in self.tasks
            ],
        }


def maturity(total_completions: int, developing_after: int, mature_after: int) -> str:
    """Return ``bootstrap``, ``developing`` or ``mature`` for a completion count."""
    if total_completions >= mature_after:
        return "mature"
    if total_completions >= developing_after:
        return "developing"
    return "bootstrap"


def task_progress(
    name: str,
    habit: WeeklyArray,
    completion_count: int,
    neutral: float = 0.5,
    peaks: int = 3,
    baseline: WeeklyArray | None = None,
    outcomes: np.ndarray | None = None,
    min_outcomes: int = PEAK_MIN_OUTCOMES,
) -> TaskProgress:
    """Summarise one task type's habit array.

    The best day is the day of the best peak — the day calsync would pick
    first — rather than the day with the highest mean, which a learner that
    smooths evidence across similar days can hand to a neighbour of the days
    that actually went well.

    Args:
        name: The task type.
        habit: Its habit array.
        completion_count: Completions learned from.
        neutral: The arrays' neutral value.
        peaks: How many peak slots to list.
        baseline: The array before anything is learned (default: ``neutral``
            everywhere); only slots above it are peaks.
        outcomes: The user's own outcomes per slot (168 counts), when known:
            only a slot with at least ``min_outcomes`` of them is a peak.
        min_outcomes: See ``outcomes``.

    """
    _check_array(habit)
    floor = np.full(len(habit), neutral) if baseline is None else np.asarray(baseline)
    _check_array(floor)
    order = sorted(range(len(habit)), key=lambda i: (-habit[i], i))
    top = [
        i
        for i in order
        if habit[i] > floor[i] + _EPSILON and (outcomes is None or outcomes[i] >= min_outcomes)
    ][:peaks]
    best_day = DAY_NAMES[top[0] // 24] if top else None
    return TaskProgress(
        task_type=name,
        completion_count=completion_count,
        peak_slots=[slot_label(i) for i in top],
        peak_values=[round(float(habit[i]), 4) for i in top],
        best_day=best_day,
    )


def learning_progress(
    habits: Mapping[str, tuple[WeeklyArray, int]],
    developing_after: int,
    mature_after: int,
    neutral: float = 0.5,
    peaks: int = 3,
    baseline: WeeklyArray | None = None,
    outcomes: Mapping[str, np.ndarray] | None = None,
) -> LearningProgress:
    """Summarise every task type's array and the user's overall maturity.

    Args:
        habits: Task type name → (habit array, completion count).
        developing_after: Total completions from which the user is ``developing``.
        mature_after: Total completions from which the user is ``mature``.
        neutral: The arrays' neutral value; only slots above it are peaks.
        peaks: How many peak slots to list per task type.
        baseline: The arrays before anything is learned, when not ``neutral``
            everywhere (the evidence learner's population prior); only slots
            above it are peaks.
        outcomes: Task type name → the user's own outcomes per slot; a peak
            needs :data:`PEAK_MIN_OUTCOMES` of them (a task type missing
            here has none).

    """
    tasks = [
        task_progress(
            name,
            array,
            count,
            neutral=neutral,
            peaks=peaks,
            baseline=baseline,
            outcomes=None if outcomes is None else outcomes.get(name, np.zeros(len(array))),
        )
        for name, (array, count) in habits.items()
    ]
    total = sum(t.completion_count for t in tasks)
    return LearningProgress(
        total_completions=total,
        maturity=maturity(total, developing_after, mature_after),
        tasks=tasks,
    )
