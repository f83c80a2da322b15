"""The planner's inputs, built from the configuration and the store, and one plan.

:mod:`calsync.learning.schedule` is the pure planner; this module says what
calsync feeds it — the settings (:func:`plan_params`), the task types with
their learned arrays (:func:`task_specs`), the user's own sessions
(:func:`own_sessions`) — and plans one target's blocks from the store and
what the write-back cycle observed (:func:`plan_target`).
:mod:`calsync.writeback` only reconciles a target with the plan; the
benchmarks plan through the same functions as the daemon.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from calsync.config import Config
from calsync.inference import busy_periods, is_own_session, match_task_type
from calsync.learning.schedule import (
    WEEK,
    ExistingBlock,
    PlannedBlock,
    PlanParams,
    Shortfall,
    TaskSpec,
    plan_with_reasons,
    sessions_over,
)
from calsync.model import Event
from calsync.reconcile import COUNTED

if TYPE_CHECKING:  # the store is imported by whoever passes one
    from calsync.service import Calsync
    from calsync.store.store import SuggestionRow

__all__ = ["Plan", "monday", "own_sessions", "plan_params", "plan_target", "task_specs"]

#: Statuses of the blocks in a target the plan starts from (besides those held).
_CURRENT = ("active", "user_moved", "missing")


def plan_params(config: Config) -> PlanParams:
    """The planner's settings from the configuration."""
    planning = config.planning
    return PlanParams(
        horizon=timedelta(days=planning.horizon_days),
        lead=timedelta(minutes=planning.lead_minutes),
        lock_horizon=timedelta(hours=planning.lock_horizon_hours),
        move_margin=planning.move_margin,
        day_cap_minutes=planning.max_suggested_minutes_per_day,
        buffer=timedelta(minutes=planning.buffer_minutes),
        scoring=config.scoring.params(),
    )


def task_specs(
    config: Config,
    habits: Mapping[str, np.ndarray],
    params: PlanParams,
    since: Mapping[str, datetime] | None = None,
) -> list[TaskSpec]:
    """The configured task types as the planner sees them, with their habit arrays.

    ``since``: when calsync began suggesting each task type (by name); a task
    type missing from it has been suggested for long.
    """
    return [
        TaskSpec(
            name=t.name,
            block_minutes=t.block_minutes,
            sessions=sessions_over(
                t.weekly_target.sessions, t.weekly_target.hours, t.block_minutes, WEEK
            ),
            windows=[w.window() for w in t.windows],
            habit=habits[t.name],
            max_per_day=t.max_per_day,
            since=(since or {}).get(t.name),
        )
        for t in config.task_types
    ]


def monday(now: datetime, tz: ZoneInfo) -> datetime:
    """Local midnight starting the calendar week of ``now``."""
    day = now.astimezone(tz).date()
    return datetime.combine(day - timedelta(days=day.weekday()), time(0), tzinfo=tz)


def own_sessions(events: Iterable[Event], config: Config) -> list[ExistingBlock]:
    """The user's own sessions of each task type: timed events of theirs that match one.

    Not calsync's blocks, not cancelled, declined or all-day. They count toward
    their week's target and their day's ``max_per_day`` — once, however many
    sources carry the same occurrence (its iCalendar UID and RECURRENCE-ID).
    """
    sessions = []
    seen: set[str] = set()
    for event in events:
        start, end = event.start, event.end
        if not isinstance(start, datetime) or not isinstance(end, datetime):
            continue
        if not is_own_session(event) or event.occurrence_identity in seen:
            continue
        seen.add(event.occurrence_identity)
        task = match_task_type(event, config.task_types)
        if task is not None:
            sessions.append(ExistingBlock(f"own:{event.occurrence_key}", task.name, start, end))
    return sessions


@dataclass(frozen=True)
class Plan:
    """One target's plan and the completion counts it was learned from.

    Attributes:
        blocks: The planned blocks (new ones without an id yet).
        completions: Completions learned per task type (for the blocks' explanations).
        shortfalls: Each task type and week with fewer blocks than wanted, and
            why (:func:`calsync.learning.schedule.plan_with_reasons`).

    """

    blocks: list[PlannedBlock]
    completions: dict[str, int]
    shortfalls: list[Shortfall] = field(default_factory=list)


def plan_target(
    cs: Calsync,
    now: datetime,
    rows: Sequence[SuggestionRow],
    *,
    held: Collection[str] = (),
    declined: Iterable[SuggestionRow] = (),
    earlier: Iterable[SuggestionRow] = (),
    since: Mapping[str, datetime] | None = None,
    manual: bool = False,
) -> Plan:
    """Plan one target's blocks from the learned arrays, the mirror and its blocks.

    ``rows``: the target's suggestions as just observed — the current ones
    (``active``, ``user_moved``, ``missing`` and those in ``held``) are the
    existing blocks; one whose ``planned_start`` differs from its start marks
    the slot the user moved it away from. ``held``: ids calsync cannot see
    right now, kept where they are. ``declined``: rows declined or lost (the
    planner does not offer their slots again; other rows are ignored).
    ``earlier``: rows of this and last week; those ended (or gone after their
    start) count toward their week's target. ``since``: when calsync
    began suggesting each task type. ``manual`` (approval mode): calsync never
    moves a block on its own.
    """
    config = cs.config
    user = config.user.id
    tz = ZoneInfo(config.user.timezone)
    params = plan_params(config)
    with cs.store.read() as tx:
        habits = {t.name: cs.habit_in(tx, t.name, user) for t in config.task_types}
        energy, _ = tx.load_energy(user, config.learning.neutral_value)
        mirror = tx.events(start=now, end=now + params.horizon)
        this_week = tx.events(start=monday(now, tz), end=now + params.horizon)
    specs = task_specs(config, {name: array for name, (array, _) in habits.items()}, params, since)
    current = [r for r in rows if r.status in _CURRENT or r.id in held]
    blocks, shortfalls = plan_with_reasons(
        specs,
        energy,
        busy_periods(mirror, params.buffer, tz),
        now,
        tz,
        params,
        existing=[
            ExistingBlock(
                r.id,
                r.task_type,
                r.start,
                r.end,
                # In approval mode calsync never moves a block on its own.
                user_placed=r.status == "user_moved" or r.id in held or manual,
            )
            for r in current
        ],
        declined=[
            ExistingBlock(r.id, r.task_type, r.start, r.end)
            for r in declined
            if r.status in ("declined", "lost")
        ],
        avoid=[  # slots the user moved a block away from
            ExistingBlock(r.id, r.task_type, r.planned_start, r.planned_start + (r.end - r.start))
            for r in rows
            if r.planned_start is not None and r.planned_start != r.start
        ],
        own=own_sessions(this_week, config),
        earlier=[  # they count toward their week's target
            ExistingBlock(r.id, r.task_type, r.start, r.end)
            for r in earlier
            if r.status in COUNTED and (r.end <= now or (r.status == "gone" and r.start < now))
        ],
    )
    return Plan(blocks, {name: count for name, (_, count) in habits.items()}, shortfalls)
