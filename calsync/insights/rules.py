"""Insight generation from behaviour (pure): the seed's rules, on the user's own outcomes.

* **Behavioural pattern**: a slot where the user's own outcomes — at least
  :data:`MIN_OUTCOMES` of them, in that very slot — average above 0.8, after
  more than 5 completions of the task type → "User consistently excels at
  {task} on {day} at {hour}:00" (confidence high).
* **Weekly pattern** (across task types): the mean of the user's own daytime
  outcomes on Friday below 0.6 × Monday's, each day with at least
  :data:`MIN_OUTCOMES` of them → "User shows significant performance decline
  on Fridays" (confidence medium).
* **User feedback** comes from notes on events and ``calsync note``; it is
  stored as it is, not generated here.

The arrays are smoothed across neighbouring hours and similar days and
pooled across task types — a fine guess for planning, but "the user excels
at Exercise on Tuesday at 10:00" must rest on something the user did there,
so the rules read the outcomes themselves (count and sum of success per
slot, :meth:`calsync.service.Calsync.outcomes`), never the arrays' values.

The caller stores each insight once (by fingerprint); generating the same
insight again is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from calsync.learning.habits import WeeklyArray
from calsync.learning.slots import DAY_NAMES

#: A slot whose own outcomes average above this…
EXCELS_AT = 0.8
#: …after more than this many completions of the task type is a pattern.
EXCELS_AFTER = 5
#: Own outcomes a slot (or a day, for the weekly pattern) needs before anything is said of it.
MIN_OUTCOMES = 3
#: Friday below this share of Monday is a decline.
FRIDAY_SHARE = 0.6
#: Daytime hours compared in the weekly pattern.
DAYTIME = range(8, 18)

#: Per task type: (count of own outcomes, sum of their success), 168 slots each.
Outcomes = Mapping[str, tuple[WeeklyArray, WeeklyArray]]


@dataclass(frozen=True)
class GeneratedInsight:
    """An insight found in the user's outcomes."""

    kind: str
    text: str
    confidence: str


def behavioural_insights(outcomes: Outcomes) -> list[GeneratedInsight]:
    """Slots where a task type consistently goes well, by the user's own outcomes there."""
    found = []
    for task, (counts, sums) in outcomes.items():
        counts, sums = np.asarray(counts, dtype=float), np.asarray(sums, dtype=float)
        if counts.sum() <= EXCELS_AFTER:
            continue
        enough = counts >= MIN_OUTCOMES
        means = np.divide(sums, counts, out=np.zeros_like(sums), where=enough)
        for index in np.flatnonzero(enough & (means > EXCELS_AT)):
            day, hour = divmod(int(index), 24)
            found.append(
                GeneratedInsight(
                    "behavioural",
                    f"User consistently excels at {task} on {DAY_NAMES[day]} at {hour}:00",
                    "high",
                )
            )
    return found


def weekly_insights(outcomes: Outcomes) -> list[GeneratedInsight]:
    """A Friday decline across every task type, by the user's own daytime outcomes."""
    count = np.zeros((7, 24))
    total = np.zeros((7, 24))
    for counts, sums in outcomes.values():
        count += np.asarray(counts, dtype=float).reshape(7, 24)
        total += np.asarray(sums, dtype=float).reshape(7, 24)
    monday_n, friday_n = count[1, DAYTIME].sum(), count[5, DAYTIME].sum()
    if monday_n < MIN_OUTCOMES or friday_n < MIN_OUTCOMES:
        return []
    monday = total[1, DAYTIME].sum() / monday_n
    friday = total[5, DAYTIME].sum() / friday_n
    if monday > 0 and friday < FRIDAY_SHARE * monday:
        return [
            GeneratedInsight(
                "weekly", "User shows significant performance decline on Fridays", "medium"
            )
        ]
    return []


def generate_insights(outcomes: Outcomes) -> list[GeneratedInsight]:
    """Every insight the seed's rules find in the user's own outcomes."""
    return behavioural_insights(outcomes) + weekly_insights(outcomes)
