"""What the pages show, as plain values computed from the store (no HTML here).

Each function reads in one or a few read transactions and returns frozen
dataclasses the templates render. Calendar and note text stays as it came;
the templates escape it (and :func:`calsync.web.render.shown` neutralises
control characters).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from calsync import cyclelog
from calsync.approval import PROPOSED, block_values
from calsync.config import Config
from calsync.learning.habits import Adjustment
from calsync.learning.progress import LearningProgress, learning_progress
from calsync.learning.slots import (
    DAY_NAMES,
    SLOTS_PER_WEEK,
    slot_label,
    slot_of,
    split_index,
)
from calsync.service import Calsync
from calsync.store.store import StoreTx, SuggestionRow, UpdateRow

logger = logging.getLogger(__name__)

#: How a suggestion's status is shown on the week.
KIND_OF_STATUS: dict[str, str] = {
    PROPOSED: "proposed",
    "creating": "suggested",
    "active": "suggested",
    "moving": "suggested",
    "missing": "suggested",
    "done": "kept",
    "user_moved": "moved",
    "declined": "declined",
    "gone": "declined",
    "lost": "declined",
}
KINDS = ("proposed", "suggested", "kept", "moved", "declined", "own")


def monday_of(moment: datetime, tz: ZoneInfo) -> date:
    """The Monday starting the calendar week of ``moment`` (weeks start on Monday)."""
    day = moment.astimezone(tz).date()
    return day - timedelta(days=day.weekday())


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


# ---------------------------------------------------------------------- week


@dataclass(frozen=True)
class WeekBlock:
    """One block on the week: a suggestion (any status) or one of the user's own sessions."""

    key: str
    task_type: str
    start: datetime
    end: datetime
    kind: str
    target: str | None = None
    title: str | None = None
    score: float | None = None
    planned_start: datetime | None = None


@dataclass(frozen=True)
class Week:
    """The learned week of one task type (or energy) and the week's blocks."""

    monday: date
    tz: ZoneInfo
    selected: str
    names: list[str]
    values: np.ndarray
    count: int
    neutral: float
    blocks: list[WeekBlock]


def _blocks_of_week(
    cs: Calsync, tx: StoreTx, start: datetime, end: datetime, tz: ZoneInfo
) -> list[WeekBlock]:
    from calsync.planning import own_sessions

    user = cs.config.user.id
    blocks = []
    # A block lasts at most 12 hours (block_minutes <= 720); the user may have dragged
    # one longer, so look two days back for those still reaching into the week.
    for row in tx.suggestions(user, start_after=start - timedelta(days=2)):
        kind = KIND_OF_STATUS.get(row.status)
        if kind is None or row.end <= start or row.start >= end:
            continue
        if kind == "suggested" and row.planned_start not in (None, row.start):
            kind = "moved"
        if kind == "kept" and row.planned_start not in (None, row.start):
            kind = "moved"
        blocks.append(
            WeekBlock(
                row.id,
                row.task_type,
                row.start.astimezone(tz),
                row.end.astimezone(tz),
                kind,
                row.target,
                score=row.score,
                planned_start=row.planned_start,
            )
        )
    events = {e.occurrence_key: e for e in tx.events(start=start, end=end)}
    for own in own_sessions(list(events.values()), cs.config):
        event = events.get(own.id.removeprefix("own:"))
        blocks.append(
            WeekBlock(
                own.id,
                own.task_type,
                own.start.astimezone(tz),
                own.end.astimezone(tz),
                "own",
                title=event.summary if event is not None else None,
            )
        )
    return sorted(blocks, key=lambda b: (b.start, b.task_type, b.key))


def week(cs: Calsync, selected: str | None = None, monday: date | None = None) -> Week:
    """The week page's data: a task type's (or ``energy``'s) learned week and the blocks."""
    config = cs.config
    tz = ZoneInfo(config.user.timezone)
    names = [t.name for t in config.task_types]
    if selected is None or (selected != "energy" and config.task_type(selected) is None):
        selected = names[0] if names else "energy"
    elif selected != "energy":
        selected = cs.task_type(selected).name
    monday = monday or monday_of(cs.clock.now(), tz)
    start, end = _midnight(monday, tz), _midnight(monday + timedelta(days=7), tz)
    user = config.user.id
    with cs.store.read() as tx:
        if selected == "energy":
            values, count = tx.load_energy(user, config.learning.neutral_value)
        else:
            values, count = cs.habit_in(tx, selected, user)
        blocks = _blocks_of_week(cs, tx, start, end, tz)
    return Week(monday, tz, selected, names, values, count, config.learning.neutral_value, blocks)


# ---------------------------------------------------------------------- why


@dataclass(frozen=True)
class Evidence:
    """Outcomes learned for a task type around one slot."""

    label: str
    count: int
    mean_success: float | None


@dataclass(frozen=True)
class Why:
    """Why a block sits where it does."""

    block: WeekBlock
    slot: str
    score: float
    habit: float
    energy: float
    planned_score: float | None
    completions: int
    evidence: list[Evidence]
    adjustments: list[str]
    notes: list[str]


def _evidence(label: str, rows: Iterable[UpdateRow], wanted: set[int]) -> Evidence:
    picked = [r.success for r in rows if r.slot in wanted and r.success is not None]
    mean = float(np.mean(picked)) if picked else None
    return Evidence(label, len(picked), mean)


def _covers(adjustment: dict[str, Any], slot: int) -> Adjustment | None:
    try:
        parsed = Adjustment.from_mapping(adjustment)
    except Exception:  # a stored row calsync itself wrote; unreadable means: not shown
        logger.debug("an unreadable stored adjustment was skipped", exc_info=True)
        return None
    return parsed if slot in parsed.slots() else None


def why(cs: Calsync, block: WeekBlock) -> Why:
    """Score, habit and energy values, the evidence and the notes behind a block."""
    config = cs.config
    tz = ZoneInfo(config.user.timezone)
    user = config.user.id
    slot = slot_of(block.start, tz)
    day, hour = split_index(slot)
    with cs.store.read() as tx:
        habit, count = cs.habit_in(tx, block.task_type, user)
        energy, _ = tx.load_energy(user, config.learning.neutral_value)
        task_id = cs.task_type_id_in(tx, cs.task_type(block.task_type).name)
        rows = [r for r in tx.updates_for_habit(user, task_id) if r.kind == "completion"]
        adjustments = tx.latest_adjustments(user)
        insights = tx.insights(user)
    score, h, e = block_values(habit, energy, block.start, block.end, tz, config.scoring.params())
    near = {day * 24 + x for x in (hour - 1, hour + 1) if 0 <= x < 24}
    same_hour = {d * 24 + hour for d in range(7) if d != day}
    evidence = [
        _evidence(f"in this slot ({slot_label(slot)})", rows, {slot}),
        _evidence(f"an hour either side on {DAY_NAMES[day]}", rows, near),
        _evidence(f"at {hour:02d}:00 on the other days", rows, same_hour),
    ]
    shaped = []
    for target, label in ((task_id, block.task_type), (None, "energy")):
        for item in adjustments.get(target, []):
            if (parsed := _covers(item, slot)) is not None:
                reason = parsed.reason or "no reason given"
                shaped.append(f"{label} × {parsed.modifier:g}: {reason}")
    words = {block.task_type.casefold(), DAY_NAMES[day].casefold()}
    notes = [
        i.text
        for i in insights
        if i.kind in ("user", "feedback")
        and (
            any(w in i.text.casefold() for w in words)
            or (i.meta or {}).get("task_type") == block.task_type
        )
    ]
    return Why(block, slot_label(slot), score, h, e, block.score, count, evidence, shaped, notes)


# ---------------------------------------------------------------------- progress


@dataclass(frozen=True)
class WeekAcceptance:
    """How the suggestions of one calendar week were received."""

    monday: date
    kept: int
    moved: int
    declined: int

    @property
    def decided(self) -> int:
        """Suggestions the user decided on."""
        return self.kept + self.moved + self.declined

    @property
    def rate(self) -> float | None:
        """Share kept where calsync put them (``None``: nothing decided)."""
        return self.kept / self.decided if self.decided else None


@dataclass(frozen=True)
class Outcomes:
    """What the user's handling of suggestions taught, counted from the store."""

    done: int = 0
    skip: int = 0
    moved: int = 0
    other: int = 0


def _moved(row: SuggestionRow) -> bool:
    return row.planned_start is not None and row.planned_start != row.start


def acceptance_by_week(rows: Sequence[SuggestionRow], tz: ZoneInfo) -> list[WeekAcceptance]:
    """Kept, moved and declined suggestions per calendar week (by the planned start)."""
    weeks: dict[date, list[int]] = {}
    for row in rows:
        if row.status not in ("done", "user_moved", "declined", "gone"):
            continue
        monday = monday_of(row.planned_start or row.start, tz)
        counts = weeks.setdefault(monday, [0, 0, 0])
        if row.status in ("declined", "gone"):
            counts[2] += 1
        elif _moved(row):
            counts[1] += 1
        else:
            counts[0] += 1
    return [WeekAcceptance(m, *c) for m, c in sorted(weeks.items())]


def outcomes(rows: Sequence[SuggestionRow], keys: Sequence[str]) -> Outcomes:
    """Outcomes learned from suggestions, from the completions' keys.

    ``suggestion:<id>:done`` is a kept block; ``suggestion:<id>:skip`` a
    deleted one, or a moved one when its row says it was moved.
    """
    by_id = {r.id: r for r in rows}
    done = skip = moved = other = 0
    for key in keys:
        if not key.startswith("suggestion:"):
            other += 1
            continue
        sid, _sep, kind = key.removeprefix("suggestion:").rpartition(":")
        if kind == "done":
            done += 1
        elif kind == "skip":
            row = by_id.get(sid)
            if row is not None and _moved(row):
                moved += 1
            else:
                skip += 1
        else:
            other += 1
    return Outcomes(done, skip, moved, other)


# ---------------------------------------------------------------------- health


@dataclass(frozen=True)
class SourceHealth:
    """One calendar source's state."""

    name: str
    kind: str
    last_success: datetime | None
    last_attempt: datetime | None
    last_error: str | None
    failures: int
    backoff_minutes: float
    needs_reauth: bool


@dataclass(frozen=True)
class TargetHealth:
    """One target's last write-back, as the service recorded it."""

    name: str
    kind: str
    last_cycle: str | None
    last_success: str | None
    last_error: str | None
    last_error_at: str | None


@dataclass(frozen=True)
class Interpreter:
    """The interpreter's use, summed over its recorded runs."""

    runs: int
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    last_run: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Health:
    """Everything the Health page and /metrics show."""

    sources: list[SourceHealth]
    targets: list[TargetHealth]
    cycles: dict[str, Any]
    interpreter: Interpreter
    #: ``None`` when not asked for (``/metrics``: it reads the whole update log).
    progress: LearningProgress | None
    acceptance: list[WeekAcceptance]
    outcomes: Outcomes
    suggestions: dict[str, int] = field(default_factory=dict)
    #: Completions learned from, over the configured task types.
    completions: int = 0


def learning_progress_of(cs: Calsync) -> LearningProgress:
    """:meth:`Calsync.progress` of the configured user, with the outcomes summed by the database.

    The same inputs (stored arrays, the user's own outcomes per slot), read
    without decoding every row of the update log.
    """
    config = cs.config
    user = config.user.id
    default = cs.learner.habit_default()
    with cs.store.read() as tx:
        stored = tx.habits(user)
        names = tx.task_type_names()
        counted = tx.outcome_counts(user)
    by_name = {names[task_id]: value for task_id, value in stored.items() if task_id in names}
    habits = {t.name: by_name.get(t.name, (default.copy(), 0)) for t in config.task_types}
    outcomes: dict[str, np.ndarray] = {}
    for task_id, slot, count, _total in counted:
        name = names.get(task_id)
        if name is not None:
            outcomes.setdefault(name, np.zeros(SLOTS_PER_WEEK))[slot] += count
    return learning_progress(
        habits,
        config.learning.developing_after,
        config.learning.mature_after,
        neutral=config.learning.neutral_value,
        peaks=config.learning.peak_slots,
        baseline=default,
        outcomes=outcomes,
    )


def backoff_minutes(config: Config, name: str, failures: int) -> float:
    """The wait before a failing source is polled again (0 while it does not fail)."""
    if failures <= 0:
        return 0.0
    configured = next((s for s in config.sources if s.name == name), None)
    minutes = (configured.poll_minutes if configured else None) or config.daemon.poll_minutes
    return float(min(minutes * 2**failures, config.daemon.max_backoff_minutes))


def health(cs: Calsync, progress: bool = True) -> Health:
    """Sources, targets, cycles, interpreter use and (with ``progress``) learning progress."""
    config = cs.config
    tz = ZoneInfo(config.user.timezone)
    user = config.user.id
    with cs.store.read() as tx:
        states = {s.name: tx.sync_state(s.name) for s in config.sources}
        runs = tx.llm_runs(limit=100_000)
        rows = tx.suggestions(user)
        keys = tx.completion_keys(user, "suggestion:")
        habits = tx.habits(user)  # (habit_counts locks rows on PostgreSQL: not in a read)
        names = tx.task_type_names()
    learned = {names.get(i): count for i, (_array, count) in habits.items()}
    completions = sum(learned.get(t.name, 0) for t in config.task_types)
    sources = []
    for source in config.sources:
        state = states[source.name]
        failures = state.consecutive_failures if state else 0
        sources.append(
            SourceHealth(
                source.name,
                source.type,
                state.last_success_at if state else None,
                state.last_attempt_at if state else None,
                state.last_error if state else None,
                failures,
                backoff_minutes(config, source.name, failures),
                bool(state and state.needs_reauth),
            )
        )
    cycles = cyclelog.read(config.resolved_state_dir())
    recorded = cycles.get("targets", {})
    from calsync.targets.factory import DEFAULT_TARGET

    target_names = [(t.name, t.type) for t in config.targets] or [(DEFAULT_TARGET, "ics")]
    targets = [
        TargetHealth(
            name,
            kind,
            recorded.get(name, {}).get("last_cycle_at"),
            recorded.get(name, {}).get("last_success_at"),
            recorded.get(name, {}).get("last_error"),
            recorded.get(name, {}).get("last_error_at"),
        )
        for name, kind in target_names
    ]
    errors = [r["errors"] for r in runs if r.get("errors")]
    interpreter = Interpreter(
        runs=len(runs),
        calls=sum(int(r["llm_calls"]) for r in runs),
        prompt_tokens=sum(int(r["prompt_tokens"]) for r in runs),
        completion_tokens=sum(int(r["completion_tokens"]) for r in runs),
        cost=sum(float(r["cost"]) for r in runs),
        last_run=runs[0]["started_at"] if runs else None,
        last_error=errors[0] if errors else None,
    )
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return Health(
        sources,
        targets,
        cycles,
        interpreter,
        learning_progress_of(cs) if progress else None,
        acceptance_by_week(rows, tz),
        outcomes(rows, keys),
        counts,
        completions,
    )
