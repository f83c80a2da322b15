"""The weekly planner (pure): which blocks to suggest over the coming days.

Time over the horizon is cut into quarter hours (every UTC offset in use is a
multiple of 15 minutes, so each quarter lies in one local hour). For every
task type, a quarter's score is ``habit_weight * habit + energy_weight *
energy`` of its local slot, and a block's score is the mean over its quarters
— the time-weighted mean over every hour it covers, as in
:func:`~calsync.learning.planner.find_optimal_slot`.

A block may only use quarters that lie inside one of its task type's windows,
are not busy (busy events already carry their buffer), are not taken by
another suggestion or its buffer, and start no sooner than ``lead`` from now.
Each day holds at most ``day_cap`` minutes of suggestions and each task type
at most ``max_per_day`` blocks.

Weekly targets are per **calendar week** (Monday to Sunday, local time):
everything calsync suggested in a week counts toward that week's target —
blocks still ahead, and (``earlier``) the ones that already took place, were
moved or were deleted by the user, so re-planning as the days pass never
suggests more than the target — and so do the user's own sessions of the
task type (``own``: their events that match it). A week the horizon only
partly reaches gets the share of its target that the horizon covers —
measured in the task type's allowed time (its windows), halves rounded up —
so the next week is filled gradually as its days come into view rather than
all on its first day, and a short horizon still reaches the whole target by
the week's last window. Likewise a week in which calsync began suggesting a
task type (``TaskSpec.since``) gets the share of its target from then on.

Placement is greedy over all task types at once — the best-scoring valid
block anywhere is placed first — evaluated lazily: a candidate that became
invalid is replaced by its task type's next best, which can only score lower.

Stability: blocks the user moved stay where the user put them; blocks that
start within ``lock_horizon`` are never moved; any other existing block is
moved only when the best free slot beats it by ``move_margin``. A block the
user deleted still counts toward its week (the user decided) and its slot is
not offered to that task type again.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

import numpy as np

from calsync.learning.habits import WeeklyArray
from calsync.learning.planner import Period, ScoringParams
from calsync.learning.slots import slot_of
from calsync.learning.windows import Window, allowed_periods

QUARTER = timedelta(minutes=15)
#: Length of the period a weekly target is counted over.
WEEK = timedelta(days=7)


@dataclass(frozen=True, eq=False)
class TaskSpec:
    """A task type as the planner sees it.

    Attributes:
        name: Task type name.
        block_minutes: Length of each block.
        sessions: Blocks wanted per calendar week (see the module docstring;
            :func:`sessions_over` turns a target in hours into blocks).
        windows: Where its blocks may lie.
        habit: Its 168-slot habit array.
        max_per_day: At most this many of its blocks on one day.
        since: When calsync began suggesting it (``None``: long ago). A week
            that began earlier gets the share of its target from then on, so
            a first run on a Thursday does not cram a week into two days.

    """

    name: str
    block_minutes: int
    sessions: int
    windows: Sequence[Window]
    habit: WeeklyArray
    max_per_day: int | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class PlanParams:
    """Planner settings (see :class:`calsync.config.PlanningConfig`)."""

    horizon: timedelta = timedelta(days=7)
    lead: timedelta = timedelta(minutes=60)
    lock_horizon: timedelta = timedelta(hours=24)
    move_margin: float = 0.05
    day_cap_minutes: int = 240
    buffer: timedelta = timedelta(minutes=10)
    scoring: ScoringParams = field(default_factory=ScoringParams)


@dataclass(frozen=True)
class ExistingBlock:
    """A suggestion from an earlier cycle, as it stands in the calendar now.

    ``user_placed`` marks a block the user moved: it is theirs to keep where it is.
    """

    id: str
    task_type: str
    start: datetime
    end: datetime
    user_placed: bool = False


@dataclass(frozen=True)
class PlannedBlock:
    """One block of the plan.

    Attributes:
        id: The suggestion's id; ``None`` for a new block.
        task_type: Its task type.
        start: Start (in the user's zone).
        end: End.
        score: Mean slot score over the block.
        habit: Mean habit value over the block.
        energy: Mean energy value over the block.
        reason: ``new``, ``kept``, ``moved``, ``locked`` or ``user``.

    """

    id: str | None
    task_type: str
    start: datetime
    end: datetime
    score: float
    habit: float
    energy: float
    reason: str


@dataclass(frozen=True)
class Shortfall:
    """Why a task type has fewer blocks in a calendar week than its target asks for.

    One per task type and week the horizon reaches in which the plan has no
    block of it, or fewer than the week still needs; the command line
    (``calsync plan``) and the web view's Plan page show the same words.

    Attributes:
        task_type: The task type.
        week: The Monday of the calendar week (local).
        wanted: The week's target in blocks (its share, when the horizon
            reaches part of the week or calsync began suggesting it midweek).
        weekly: The task type's whole weekly target in blocks.
        counted: What counts toward it: blocks planned, earlier blocks and
            the user's own sessions.
        planned: Blocks of it in this plan, in that week.
        reason: ``target_reached``, ``no_share``, ``no_window``, ``too_short``,
            ``busy``, ``declined``, ``taken``, ``day_cap``, ``max_per_day`` or
            ``day_limits``.
        detail: The reason in words, with the config key to change.

    """

    task_type: str
    week: date
    wanted: int
    weekly: int
    counted: int
    planned: int
    reason: str
    detail: str

    def counts(self) -> str:
        """What counts of the target, for people: ``4 of 5 counted (this week's share: 0)``."""
        share = "" if self.wanted == self.weekly else f" (this week's share: {self.wanted})"
        return f"{self.counted} of {self.weekly} counted{share}"

    def text(self) -> str:
        """One line for people."""
        return (
            f"{self.task_type}, week of {self.week:%a %d %b}: {self.planned} planned, "
            f"{self.counts()}; {self.detail}"
        )


def week_of(day: int) -> int:
    """The proleptic ordinal of the Monday starting the calendar week of ordinal ``day``."""
    return day - (day - 1) % 7


def sessions_over(
    weekly_sessions: int | None, weekly_hours: float | None, block_minutes: int, horizon: timedelta
) -> int:
    """Blocks wanted over ``horizon`` for a weekly target in sessions or hours."""
    share = horizon / timedelta(days=7)
    if weekly_sessions is not None:
        return round(weekly_sessions * share)
    assert weekly_hours is not None
    return math.ceil(round(weekly_hours * 60 / block_minutes * share, 6))


class _Grid:
    """The horizon cut into quarter hours, with the masks the planner needs."""

    def __init__(self, now: datetime, tz: tzinfo, params: PlanParams):
        self.tz = tz
        earliest = (now + params.lead).astimezone(UTC)
        into = timedelta(
            minutes=earliest.astimezone(tz).minute % 15,
            seconds=earliest.second,
            microseconds=earliest.microsecond,
        )
        self.t0 = earliest + (QUARTER - into if into else timedelta(0))
        self.end = (now + params.horizon).astimezone(UTC)
        self.n = max(0, int((self.end - self.t0) / QUARTER))
        starts = [self.t0 + i * QUARTER for i in range(self.n)]
        self.slots = np.fromiter((slot_of(s, tz) for s in starts), dtype=np.int64, count=self.n)
        self.days = np.fromiter(
            (s.astimezone(tz).toordinal() for s in starts), dtype=np.int64, count=self.n
        )
        self.weeks = self.days - (self.days - 1) % 7  # ordinal of each quarter's Monday
        self.busy = np.zeros(self.n, dtype=bool)

    def week_share(
        self, monday: int, windows: Sequence[Window], since: datetime | None = None
    ) -> float:
        """How much of a task type's time in the week starting on ordinal ``monday`` counts.

        The share of the week's allowed time (inside ``windows``) that lies
        before the horizon's end — its past included, whose suggestions count
        through ``earlier`` — and not before ``since`` (when calsync began
        suggesting the task type). 1.0 for a week wholly reached.
        """
        start = datetime.combine(date.fromordinal(monday), time(0), tzinfo=self.tz)
        end = datetime.combine(date.fromordinal(monday + 7), time(0), tzinfo=self.tz)
        total = _minutes(allowed_periods(windows, start, end, self.tz))
        if total <= 0:
            return 1.0
        low = start if since is None else max(start, since)
        high = min(end.astimezone(UTC), self.end)
        if high <= low:
            return 0.0
        return _minutes(allowed_periods(windows, low, high, self.tz)) / total

    def index(self, moment: datetime, up: bool) -> int:
        """Quarter index of an instant (rounded up or down), clipped to the grid."""
        offset = (moment.astimezone(UTC) - self.t0) / QUARTER
        value = math.ceil(offset - 1e-9) if up else math.floor(offset + 1e-9)
        return min(max(value, 0), self.n)

    def mark(self, mask: np.ndarray, start: datetime, end: datetime) -> None:
        """Set every quarter that overlaps ``[start, end)``."""
        mask[self.index(start, up=False) : self.index(end, up=True)] = True

    def time(self, index: int) -> datetime:
        """Start of quarter ``index`` in the user's zone."""
        return (self.t0 + index * QUARTER).astimezone(self.tz)


def _minutes(periods: Sequence[Period]) -> float:
    return sum((p.end - p.start) / timedelta(minutes=1) for p in periods)


def _share_of(sessions: int, share: float) -> int:
    """A week's target for a share of it (halves round up; all of it from 1)."""
    return sessions if share >= 1.0 - 1e-9 else math.floor(sessions * share + 0.5)


class _TaskState:
    def __init__(self, spec: TaskSpec, grid: _Grid, energy: WeeklyArray, params: PlanParams):
        self.spec = spec
        self.length = max(1, math.ceil(spec.block_minutes / 15))
        self.step = max(1, params.scoring.alignment_minutes // 15)
        weights = params.scoring
        self.habit_q = spec.habit[grid.slots]
        self.energy_q = energy[grid.slots]
        scores = weights.habit_weight * self.habit_q + weights.energy_weight * self.energy_q
        self.score_sums = np.concatenate(([0.0], np.cumsum(scores)))
        self.window = np.zeros(grid.n, dtype=bool)
        if grid.n:
            for period in allowed_periods(spec.windows, grid.t0, grid.end, grid.tz):
                grid.mark(self.window, period.start, period.end)
        self.tz = grid.tz
        self.declined = np.zeros(grid.n, dtype=bool)
        self.per_day: dict[int, int] = {}
        self.per_week: dict[int, int] = {}
        self.quota = {
            int(monday): _share_of(
                spec.sessions, grid.week_share(int(monday), spec.windows, spec.since)
            )
            for monday in np.unique(grid.weeks)
        }

    def room(self, monday: int) -> bool:
        """Whether the calendar week starting on ordinal ``monday`` takes another block."""
        return self.per_week.get(monday, 0) < self.quota.get(monday, 0)

    def week_of(self, start: datetime) -> int:
        """The calendar week (ordinal of its Monday) of a block starting at ``start``."""
        return week_of(start.astimezone(self.tz).toordinal())

    def count(self, start: datetime) -> None:
        """Count a block by its start toward its day and week."""
        day = start.astimezone(self.tz).toordinal()
        self.per_day[day] = self.per_day.get(day, 0) + 1
        self.per_week[week_of(day)] = self.per_week.get(week_of(day), 0) + 1

    def block_score(self, i: int) -> float:
        return float(self.score_sums[i + self.length] - self.score_sums[i]) / self.length

    def block_means(self, i: int) -> tuple[float, float]:
        part = slice(i, i + self.length)
        return float(self.habit_q[part].mean()), float(self.energy_q[part].mean())


class _Planner:
    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        energy: WeeklyArray,
        busy: Sequence[Period],
        now: datetime,
        tz: tzinfo,
        params: PlanParams,
    ):
        self.params = params
        self.grid = _Grid(now, tz, params)
        for period in busy:
            self.grid.mark(self.grid.busy, period.start, period.end)
        self.taken = np.zeros(self.grid.n, dtype=bool)
        self.day_minutes: dict[int, int] = {}
        self.buffer_q = math.ceil(params.buffer / QUARTER)
        self.tasks = {t.name: _TaskState(t, self.grid, energy, params) for t in tasks}

    # -------------------------------------------------------------- validity

    def free(self, state: _TaskState) -> np.ndarray:
        return state.window & ~self.grid.busy & ~self.taken & ~state.declined

    def candidates(self, state: _TaskState) -> np.ndarray:
        """Scores of every valid start (``-inf`` where a block may not start)."""
        n, length = self.grid.n, state.length
        out = np.full(max(0, n - length + 1), -np.inf)
        if n < length:
            return out
        blocked = np.concatenate(([0], np.cumsum(~self.free(state))))
        starts = np.arange(0, n - length + 1)
        ok = (blocked[starts + length] - blocked[starts]) == 0
        ok &= (starts % state.step) == 0
        weeks = self.grid.weeks[starts]
        for monday in np.unique(weeks[ok]):
            if not state.room(int(monday)):
                ok &= weeks != monday
        days = self.grid.days[starts]
        cap = self.params.day_cap_minutes - state.length * 15
        for day in np.unique(days[ok]):
            used = self.day_minutes.get(int(day), 0)
            limit = state.spec.max_per_day
            if used > cap or (limit is not None and state.per_day.get(int(day), 0) >= limit):
                ok &= days != day
        sums = state.score_sums
        out[ok] = (sums[starts[ok] + length] - sums[starts[ok]]) / length
        return out

    def best(self, state: _TaskState) -> int | None:
        scores = self.candidates(state)
        if not len(scores) or not np.isfinite(scores).any():
            return None
        return int(np.argmax(np.round(scores, 12)))

    def valid(self, state: _TaskState, i: int) -> bool:
        """The same rules as :meth:`candidates`, for one start."""
        length = state.length
        if i < 0 or i + length > self.grid.n or i % state.step:
            return False
        part = slice(i, i + length)
        free = (
            state.window[part] & ~self.grid.busy[part] & ~self.taken[part] & ~state.declined[part]
        )
        if not free.all():
            return False
        if not state.room(int(self.grid.weeks[i])):
            return False
        day = int(self.grid.days[i])
        limit = state.spec.max_per_day
        if self.day_minutes.get(day, 0) > self.params.day_cap_minutes - length * 15:
            return False
        return limit is None or state.per_day.get(day, 0) < limit

    # -------------------------------------------------------------- bookkeeping

    def occupy(self, state: _TaskState, i: int) -> None:
        low = max(0, i - self.buffer_q)
        self.taken[low : i + state.length + self.buffer_q] = True
        day = int(self.grid.days[i])
        self.day_minutes[day] = self.day_minutes.get(day, 0) + state.length * 15
        state.count(self.grid.time(i))

    def occupy_span(self, state: _TaskState, start: datetime, end: datetime) -> None:
        """Account for a block given by its times (it may lie partly outside the grid)."""
        low = self.grid.index(start - self.params.buffer, up=False)
        high = self.grid.index(end + self.params.buffer, up=True)
        self.taken[low:high] = True
        self.count_past(state, start, end)

    def count_past(self, state: _TaskState, start: datetime, end: datetime) -> None:
        """Count a block toward its day's cap, its day and its week, taking no time."""
        day = start.astimezone(self.grid.tz).toordinal()
        minutes = int((end - start) / timedelta(minutes=1))
        self.day_minutes[day] = self.day_minutes.get(day, 0) + minutes
        state.count(start)

    def planned(self, state: _TaskState, i: int, block_id: str | None, reason: str) -> PlannedBlock:
        start = self.grid.time(i)
        habit, energy = state.block_means(i)
        return PlannedBlock(
            id=block_id,
            task_type=state.spec.name,
            start=start,
            end=(start.astimezone(UTC) + timedelta(minutes=state.spec.block_minutes)).astimezone(
                self.grid.tz
            ),
            score=round(state.block_score(i), 12),
            habit=habit,
            energy=energy,
            reason=reason,
        )


def plan_blocks(
    tasks: Sequence[TaskSpec],
    energy: WeeklyArray,
    busy: Sequence[Period],
    now: datetime,
    tz: tzinfo,
    params: PlanParams = PlanParams(),
    existing: Sequence[ExistingBlock] = (),
    declined: Sequence[ExistingBlock] = (),
    avoid: Sequence[ExistingBlock] = (),
    earlier: Sequence[ExistingBlock] = (),
    own: Sequence[ExistingBlock] = (),
) -> list[PlannedBlock]:
    """Plan the suggested blocks for the horizon.

    Args:
        tasks: Task types with their targets, windows and habit arrays.
        energy: The user's energy array.
        busy: The user's busy time, buffers included (calsync's own blocks excluded).
        now: The current instant.
        tz: The user's zone.
        params: Planner settings.
        existing: Suggestions still in the calendar from earlier cycles.
        declined: Suggestions the user deleted (they count; their slot is not reused).
        avoid: Slots the user moved a block away from (not offered to that task again).
        earlier: Suggestions that started before now and are passed neither
            as ``existing`` nor as ``declined`` — done, moved or deleted by
            the user (a declined one at its planned time); those in a calendar
            week the horizon reaches count toward its target, their day's
            ``max_per_day`` and day cap.
        own: The user's own sessions of a task type (their events that match
            it, past or ahead): they count toward their week's target and
            their day's ``max_per_day``, not toward the cap on suggested time.

    Returns:
        Every block to have in the calendar, sorted by start; existing blocks keep their id.

    """
    return plan_with_reasons(
        tasks, energy, busy, now, tz, params, existing, declined, avoid, earlier, own
    )[0]


def plan_with_reasons(
    tasks: Sequence[TaskSpec],
    energy: WeeklyArray,
    busy: Sequence[Period],
    now: datetime,
    tz: tzinfo,
    params: PlanParams = PlanParams(),
    existing: Sequence[ExistingBlock] = (),
    declined: Sequence[ExistingBlock] = (),
    avoid: Sequence[ExistingBlock] = (),
    earlier: Sequence[ExistingBlock] = (),
    own: Sequence[ExistingBlock] = (),
) -> tuple[list[PlannedBlock], list[Shortfall]]:
    """:func:`plan_blocks`, and for each task type and week it leaves short, why.

    The arguments are :func:`plan_blocks`'s. The reasons are read from the
    planner's own final state (its windows, busy time, taken time, day caps
    and counts), so they are the rules that decided, not a second guess.
    """
    planner = _Planner(tasks, energy, busy, now, tz, params)
    grid = planner.grid
    result: list[PlannedBlock] = []

    for block in own:
        state = planner.tasks.get(block.task_type)
        if state is not None and state.week_of(block.start) in state.quota:
            state.count(block.start)
    for block in earlier:
        state = planner.tasks.get(block.task_type)
        if state is not None and block.start < now and state.week_of(block.start) in state.quota:
            planner.count_past(state, block.start, block.end)
    for block in declined:
        state = planner.tasks.get(block.task_type)
        if state is not None and block.end > now:
            grid.mark(state.declined, block.start, block.end)
            planner.count_past(state, block.start, block.end)  # as it will once ended
    for block in avoid:
        state = planner.tasks.get(block.task_type)
        if state is not None and block.end > now:
            grid.mark(state.declined, block.start, block.end)

    lock_until = now + params.lock_horizon
    movable: list[tuple[float, ExistingBlock, _TaskState, int]] = []
    for block in sorted(existing, key=lambda b: b.start):
        state = planner.tasks.get(block.task_type)
        if state is None or block.end <= now:
            continue  # a task type no longer configured, or a block in the past
        if block.user_placed or block.start < lock_until:
            planner.occupy_span(state, block.start, block.end)
            index = grid.index(block.start, up=False)
            reason = "user" if block.user_placed else "locked"
            if index < grid.n and grid.time(index) == block.start.astimezone(tz):
                result.append(planner.planned(state, index, block.id, reason))
            else:
                result.append(
                    PlannedBlock(
                        block.id, block.task_type, block.start, block.end, 0.0, 0.0, 0.0, reason
                    )
                )
            continue
        index = grid.index(block.start, up=False)
        score = state.block_score(index) if index + state.length <= grid.n else -math.inf
        movable.append((score, block, state, index))

    # Existing blocks, best first: keep, move (beaten by the margin) or drop.
    for score, block, state, index in sorted(movable, key=lambda m: (-m[0], m[1].start)):
        if not state.room(state.week_of(block.start)):
            continue  # its week is over target (e.g. the target was lowered): drop it
        best = planner.best(state)
        here_ok = grid.time(index) == block.start.astimezone(tz) and planner.valid(state, index)
        if here_ok and (best is None or state.block_score(best) <= score + params.move_margin):
            planner.occupy(state, index)
            result.append(planner.planned(state, index, block.id, "kept"))
        elif best is not None:
            planner.occupy(state, best)
            result.append(planner.planned(state, best, block.id, "moved"))

    # New blocks: the best valid block of any task type first.
    heap: list[tuple[float, int, int, str]] = []
    for order, state in enumerate(planner.tasks.values()):
        if (best := planner.best(state)) is not None:  # None: no week has room
            heapq.heappush(heap, (-state.block_score(best), best, order, state.spec.name))
    while heap:
        _neg, index, order, name = heapq.heappop(heap)
        state = planner.tasks[name]
        if planner.valid(state, index):  # still free, and its week still has room
            planner.occupy(state, index)
            result.append(planner.planned(state, index, None, "new"))
        best = planner.best(state)
        if best is not None:
            heapq.heappush(heap, (-state.block_score(best), best, order, name))
    blocks = sorted(result, key=lambda b: (b.start, b.task_type))
    return blocks, _shortfalls(planner, blocks)


def _fits(state: _TaskState, mask: np.ndarray) -> np.ndarray:
    """Aligned starts at which a whole block of ``state`` lies inside ``mask``."""
    n, length = len(mask), state.length
    if n < length:
        return np.zeros(0, dtype=np.int64)
    inside = np.concatenate(([0], np.cumsum(mask)))
    starts = np.arange(0, n - length + 1)
    ok = (inside[starts + length] - inside[starts]) == length
    fitting: np.ndarray = starts[ok & (starts % state.step == 0)]
    return fitting


def _shortfalls(planner: _Planner, blocks: Sequence[PlannedBlock]) -> list[Shortfall]:
    """Each task type's weeks with fewer blocks than wanted, and the rule that stopped it."""
    found = []
    for state in planner.tasks.values():
        spec = state.spec
        for monday, wanted in sorted(state.quota.items()):
            planned = sum(
                1 for b in blocks if b.task_type == spec.name and state.week_of(b.start) == monday
            )
            counted = state.per_week.get(monday, 0)
            if counted >= wanted and planned > 0:
                continue
            whole = counted > 0 and counted >= spec.sessions  # the whole week's target is met
            if wanted == 0 and not whole:
                # Nothing is asked of this week (what remains of it is too little),
                # whatever was done in it: not "reached".
                reason, detail = _no_share(planner, state, monday)
            elif counted >= wanted:  # and counted > 0: wanted > 0 here, or the whole target met
                reached = "target reached" if whole else "this week's share of the target reached"
                reason, detail = (
                    "target_reached",
                    f"{reached} (earlier blocks and your own sessions count)",
                )
            else:
                reason, detail = _why_not(planner, state, monday)
            found.append(
                Shortfall(
                    spec.name,
                    date.fromordinal(monday),
                    wanted,
                    spec.sessions,
                    counted,
                    planned,
                    reason,
                    detail,
                )
            )
    return found


def _no_share(planner: _Planner, state: _TaskState, monday: int) -> tuple[str, str]:
    """Why a week's share of the target is 0: calsync began midweek, or the horizon is short."""
    spec = state.spec
    if spec.since is not None and _share_of(
        spec.sessions, planner.grid.week_share(monday, spec.windows)
    ):
        since = spec.since.astimezone(planner.grid.tz)
        left = planner.grid.week_share(monday, spec.windows, spec.since)
        if left <= 0:
            time_left = "no window time of it is left in this week after that"
        else:
            time_left = f"only {left:.0%} of this week's window time of it is left after that"
        return "no_share", (
            f"calsync began suggesting it on {since:%a %d %b %H:%M} and {time_left}, so this "
            f"week's share of its target of {spec.sessions} is 0"
        )
    return "no_share", (
        "planning.horizon_days reaches too little of this week's windows for a share of its target"
    )


def _why_not(planner: _Planner, state: _TaskState, monday: int) -> tuple[str, str]:
    """The first rule, in the planner's order, that leaves no valid start in a week."""
    grid, params = planner.grid, planner.params
    week = grid.weeks == monday
    steps = [
        ("no_window", "no window time of it is left in this week (after planning.lead_minutes)"),
        (
            "too_short",
            "what is left of its windows is shorter than block_minutes "
            f"({state.spec.block_minutes})",
        ),
        ("busy", "your events (with planning.buffer_minutes around them) fill its window time"),
        (
            "declined",
            "the free slots left are ones you deleted a block from or moved one away from",
        ),
        ("taken", "other suggested blocks (and their buffers) take the free time left"),
    ]
    masks = [
        state.window & week,
        state.window & week,
        state.window & week & ~grid.busy,
        state.window & week & ~grid.busy & ~state.declined,
        state.window & week & ~grid.busy & ~state.declined & ~planner.taken,
    ]
    if not masks[0].any():
        return steps[0]
    starts = np.zeros(0, dtype=np.int64)
    for (reason, detail), mask in zip(steps[1:], masks[1:], strict=True):
        starts = _fits(state, mask)
        if not len(starts):
            return reason, detail
    capped = limited = 0
    days = {int(d) for d in grid.days[starts]}
    limit = state.spec.max_per_day
    for day in days:
        if planner.day_minutes.get(day, 0) > params.day_cap_minutes - state.length * 15:
            capped += 1
        elif limit is not None and state.per_day.get(day, 0) >= limit:
            limited += 1
    if capped == len(days):
        return "day_cap", (
            f"planning.max_suggested_minutes_per_day ({params.day_cap_minutes}) is used up on "
            "every day with free time"
        )
    if limited == len(days):
        return "max_per_day", f"max_per_day ({limit}) is reached on every day with free time"
    return "day_limits", (
        "every day with free time has reached planning.max_suggested_minutes_per_day "
        f"({params.day_cap_minutes}) or max_per_day ({limit})"
    )
