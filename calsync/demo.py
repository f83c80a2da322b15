"""``calsync demo``: the learning core at work on the embedded default, end to end.

It simulates a few weeks of history for a made-up person whose habits are
known (deep work best on Tuesday and Thursday mornings, exercise early,
email fine any time but better before lunch), records every completion
through the same :class:`~calsync.service.Calsync` API the daemon uses, and
shows what calsync learned: progress, a heatmap, and the best block for each
task type in the coming week. The history is seeded, so two runs agree.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from calsync.learning.planner import SlotChoice
from calsync.learning.slots import calsync_day
from calsync.learning.windows import allowed_periods
from calsync.service import Calsync


@dataclass(frozen=True)
class DemoResult:
    """What the demo recorded and found."""

    completions: int
    best_slots: dict[str, SlotChoice | None]


def _propensity(task: str, day: int, hour: int) -> float:
    """The made-up person's hidden chance of a task going well at a local time."""
    if task == "Deep Coding":
        base = 0.85 if 8 <= hour < 12 else 0.35
        return min(1.0, base + (0.1 if day in (2, 4) else 0.0))
    if task == "Exercise":
        return 0.9 if hour < 9 else 0.5
    return 0.8 if hour < 12 else 0.55


def _energy(hour: int) -> float:
    """Energy after a task: a morning person who fades after lunch."""
    return 0.85 if hour < 12 else 0.45


def run_demo(cs: Calsync, weeks: int = 4, seed: int = 7) -> DemoResult:
    """Record ``weeks`` of simulated history into ``cs`` and find next week's best slots."""
    rng = random.Random(seed)
    tz = cs.timezone()
    now = cs.clock.now()
    history_start = now - timedelta(weeks=weeks)
    recorded = 0
    for task in cs.config.task_types:
        windows = [w.window() for w in task.windows]
        for period in allowed_periods(windows, history_start, now, tz):
            # Roughly one session in three possible windows actually happened.
            if rng.random() > 0.35:
                continue
            first, end = period.start.astimezone(UTC), period.end.astimezone(UTC)
            latest = end - timedelta(minutes=task.block_minutes)
            if latest < first:
                continue
            steps = int((latest - first) / timedelta(minutes=15))
            start = first + timedelta(minutes=15 * rng.randint(0, steps))
            local = start.astimezone(tz)
            chance = _propensity(task.name, calsync_day(local), local.hour)
            success = min(1.0, max(0.0, rng.gauss(chance, 0.08)))
            energy = min(1.0, max(0.0, rng.gauss(_energy(local.hour), 0.05)))
            cs.record_completion(task.name, start, round(success, 2), round(energy, 2))
            recorded += 1

    best: dict[str, SlotChoice | None] = {}
    tomorrow = now.astimezone(tz).date() + timedelta(days=1)
    week_start = datetime.combine(tomorrow, datetime.min.time(), tzinfo=tz)
    for task in cs.config.task_types:
        periods = allowed_periods(
            [w.window() for w in task.windows], week_start, week_start + timedelta(days=7), tz
        )
        best[task.name] = cs.find_optimal_slot(task.name, None, periods)
    return DemoResult(completions=recorded, best_slots=best)


def describe_choice(choice: SlotChoice | None) -> str:
    """One line for a best slot."""
    if choice is None:
        return "no free period is long enough"
    start: datetime = choice.start
    return f"{start:%A %d %b %H:%M}–{choice.end:%H:%M} {start.tzname()} (score {choice.score:.3f})"
