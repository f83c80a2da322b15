"""Insight generation from behaviour (pure): the seed's rules.

* **Behavioural pattern**: a slot whose habit value is above 0.8 after more
  than 5 completions → "User consistently excels at {task} on {day} at
  {hour}:00" (confidence high).
* **Weekly pattern** (across task types): mean daytime performance on Friday
  below 0.6 × Monday's → "User shows significant performance decline on
  Fridays" (confidence medium).
* **User feedback** comes from notes on events and ``calsync note``; it is
  stored as it is, not generated here.

The caller stores each insight once (by fingerprint); generating the same
insight again is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from calsync.learning.habits import WeeklyArray
from calsync.learning.slots import DAY_NAMES

#: A slot above this value…
EXCELS_AT = 0.8
#: …after more than this many completions of the task type is a pattern.
EXCELS_AFTER = 5
#: Friday below this share of Monday is a decline.
FRIDAY_SHARE = 0.6
#: Daytime hours compared in the weekly pattern.
DAYTIME = range(8, 18)


@dataclass(frozen=True)
class GeneratedInsight:
    """An insight found in the arrays."""

    kind: str
    text: str
    confidence: str


def behavioural_insights(habits: Mapping[str, tuple[WeeklyArray, int]]) -> list[GeneratedInsight]:
    """Slots where a task type consistently goes well."""
    found = []
    for task, (array, count) in habits.items():
        if count <= EXCELS_AFTER:
            continue
        for index in np.flatnonzero(array > EXCELS_AT):
            day, hour = divmod(int(index), 24)
            found.append(
                GeneratedInsight(
                    "behavioural",
                    f"User consistently excels at {task} on {DAY_NAMES[day]} at {hour}:00",
                    "high",
                )
            )
    return found


def weekly_insights(habits: Mapping[str, tuple[WeeklyArray, int]]) -> list[GeneratedInsight]:
    """A Friday decline across every task type that has learned something."""
    learned = [array for array, count in habits.values() if count > 0]
    if not learned:
        return []
    grid = np.mean([a.reshape(7, 24)[:, DAYTIME] for a in learned], axis=0)
    monday, friday = float(grid[1].mean()), float(grid[5].mean())
    if monday > 0 and friday < FRIDAY_SHARE * monday:
        return [
            GeneratedInsight(
                "weekly", "User shows significant performance decline on Fridays", "medium"
            )
        ]
    return []


def generate_insights(habits: Mapping[str, tuple[WeeklyArray, int]]) -> list[GeneratedInsight]:
    """Every insight the seed's rules find in the arrays."""
    return behavioural_insights(habits) + weekly_insights(habits)
