"""Simulated users, the interaction protocol and the learners of the learning benchmark.

A :class:`SimUser` has, per task type, a hidden 168-slot completion propensity
(``day * 24 + hour``, Sunday = 0, local time) built from a chronotype curve,
weekday/weekend differences, day effects, a personal sweet spot and noise;
weekly meetings that block time; and, for about a third of the users, a
change of routine (a *regime shift*) part-way through.

Each simulated week, at Monday 00:00 local time, calsync's planner
(:func:`calsync.learning.schedule.plan_blocks`, fed exactly as the daemon's
write-back feeds it) places the week's blocks from the learner's current
arrays. The user then completes, moves, deletes or ignores each block by the
hidden propensity; the calendar state that results goes through calsync's own
:func:`calsync.inference.infer_suggestion_outcomes`, and the learner sees what
that infers only once it is observable (a deletion before the block's start,
a completion after the block's end).

Everything is seeded: user ``i`` of seed ``s`` is the same user whatever the
number of users, and the same arguments give the same records.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np

from benchmarks.learning.metrics import block_means, ranking_metrics
from calsync.clock import FixedClock
from calsync.config import EXAMPLE_TASK_TYPES, Config, parse_config
from calsync.inference import KnownSuggestion, busy_periods, infer_suggestion_outcomes
from calsync.insights.interpret import PARTS_OF_DAY, RulesInterpreter
from calsync.insights.sync import energy_profile
from calsync.learning.adaptive import AdaptiveParams, AdaptiveState, adaptive_arrays, observe
from calsync.learning.evidence import (
    EvidenceParams,
    SlotEvidence,
    add_outcome,
    energy_array,
    population_prior,
    posterior_arrays,
)
from calsync.learning.habits import (
    Adjustment,
    apply_adjustments,
    behavioural_update,
    neutral_array,
)
from calsync.learning.planner import Period
from calsync.learning.schedule import (
    WEEK,
    ExistingBlock,
    PlannedBlock,
    PlanParams,
    TaskSpec,
    plan_blocks,
)
from calsync.learning.slots import DAY_NAMES, SLOTS_PER_WEEK, slot_of
from calsync.learning.windows import allowed_periods
from calsync.model import Event
from calsync.planning import plan_params, task_specs

#: First simulated Monday. The US (8 March) and EU (29 March) daylight-saving
#: changes fall inside the first weeks, so planning and slots cross them.
START = date(2026, 3, 2)
#: Users' time zones (Kolkata's +05:30 puts local hours on UTC half hours).
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC")
QUARTER = timedelta(minutes=15)
#: Peak hour ranges of the chronotypes (local time).
CHRONOTYPES: dict[str, tuple[float, float]] = {
    "lark": (7.5, 9.5),
    "neutral": (10.5, 13.0),
    "owl": (16.0, 20.0),
}
FLIP = {"lark": "owl", "owl": "lark"}
WEEKEND = (0, 6)
#: Learners ``run`` knows, in report order.
LEARNER_NAMES = (
    "adaptive",
    "adaptive_insights",
    "evidence",
    "evidence_insights",
    "seed_ema",
    "random",
    "oracle",
    "adaptive_full_information",
)


@dataclass(frozen=True)
class TaskPrior:
    """How a task type's propensity tends to sit relative to the user's chronotype.

    Attributes:
        offset_mean: Mean shift of the task's peak from the chronotype peak (hours).
        offset_sd: Spread of that shift between users.
        weekend_mean: Mean weekend offset (logit units).

    """

    offset_mean: float = 0.0
    offset_sd: float = 3.0
    weekend_mean: float = 0.0


#: Priors of the embedded default's task types; others get :data:`DEFAULT_PRIOR`.
TASK_PRIORS: dict[str, TaskPrior] = {
    "Deep Coding": TaskPrior(0.0, 1.0, -0.8),
    "Email": TaskPrior(-1.0, 2.5, -0.5),
    "Exercise": TaskPrior(-2.0, 4.0, 0.5),
}
DEFAULT_PRIOR = TaskPrior()


@dataclass(frozen=True)
class Family:
    """A family of simulated users (documented, with why real users look like it, in README.md).

    Attributes:
        name: Short name (``--families``).
        code: Seed stream of the family (0 keeps family ``shared`` the original users).
        style: How task types' best times relate: ``shared`` (one chronotype bump,
            each task a small personal offset), ``opposed`` (each task type its own
            best time, unrelated to the others'; a change of routine mirrors it) or
            ``mixed`` (each task type, at random, one or the other).
        amplitude: Range of the bump's height (logit units).
        sweet: Range of the sweet spot's height.
        noise: Slot noise (logit sd, fixed within a routine).
        rating_noise: Noise of a written rating around the true value.
        sparse: 6–8 task types of 1–2 sessions a week (:func:`family_task_types`).
        logs: The user also logs own sessions (history read on the first sync, and
            new ones while calsync runs).

    """

    name: str
    code: int
    style: str = "shared"
    amplitude: tuple[float, float] = (2.5, 4.0)
    sweet: tuple[float, float] = (1.0, 2.0)
    noise: float = 0.35
    rating_noise: float = 0.1
    sparse: bool = False
    logs: bool = False


#: The benchmark's families, in report order.
FAMILIES: dict[str, Family] = {
    "shared": Family("shared", 0),
    "opposed": Family("opposed", 1, style="opposed"),
    "sparse": Family("sparse", 2, style="mixed", sparse=True),
    "logged": Family("logged", 3, style="mixed", logs=True),
    "weak": Family("weak", 4, amplitude=(0.8, 1.8), sweet=(0.3, 0.8), noise=0.5, rating_noise=0.25),
}
#: The family left out when the learner and its defaults were chosen.
HELD_OUT = "sparse"
#: Weekday peak hours of task types with their own best time (``opposed``/``mixed``);
#: Exercise is either a morning or an evening person's; others any daytime hour.
OWN_PEAKS: dict[str, tuple[tuple[float, float], ...]] = {
    "Deep Coding": ((7.5, 11.5),),
    "Email": ((12.0, 16.5),),
    "Exercise": ((6.0, 8.5), (17.0, 20.5)),
}
DEFAULT_PEAKS = ((7.0, 20.0),)
#: Days of calendar history calsync reads on its first sync (``sources.*.days_back``).
DAYS_BACK = 60
#: Task types of the sparse family: (name, minutes, windows).
SPARSE_TASKS: tuple[tuple[str, int, list[dict[str, Any]]], ...] = (
    ("Deep Coding", 120, [{"days": ["weekdays"], "start": "08:00", "end": "18:00"}]),
    ("Email", 30, [{"days": ["weekdays"], "start": "08:00", "end": "18:00"}]),
    (
        "Exercise",
        60,
        [
            {"days": ["weekdays"], "start": "06:00", "end": "09:00"},
            {"days": ["weekdays"], "start": "17:00", "end": "21:00"},
            {"days": ["weekends"], "start": "08:00", "end": "18:00"},
        ],
    ),
    ("Reading", 60, [{"days": ["all"], "start": "07:00", "end": "22:00"}]),
    ("Writing", 90, [{"days": ["weekdays"], "start": "08:00", "end": "18:00"}]),
    ("Planning", 30, [{"days": ["weekdays"], "start": "08:00", "end": "18:00"}]),
    (
        "Guitar",
        45,
        [
            {"days": ["weekdays"], "start": "17:00", "end": "22:00"},
            {"days": ["weekends"], "start": "09:00", "end": "21:00"},
        ],
    ),
    ("Language", 30, [{"days": ["all"], "start": "07:00", "end": "21:00"}]),
    ("Admin", 45, [{"days": ["weekdays"], "start": "09:00", "end": "17:00"}]),
)


def family_task_types(seed: int, index: int, family: str) -> list[dict[str, Any]]:
    """The task types of a user of ``family``: the embedded default, or 6–8 sparse ones.

    A sparse user has 6–8 of :data:`SPARSE_TASKS` (drawn from the user's seed),
    each with a weekly target of 1 or 2 sessions and at most one a day.
    """
    spec = FAMILIES[family]
    if not spec.sparse:
        return [dict(t) for t in EXAMPLE_TASK_TYPES]
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, 7, spec.code]))
    count = int(rng.integers(6, 9))
    chosen = sorted(rng.choice(len(SPARSE_TASKS), size=count, replace=False).tolist())
    return [
        {
            "name": SPARSE_TASKS[i][0],
            "keywords": [SPARSE_TASKS[i][0].lower()],
            "block_minutes": SPARSE_TASKS[i][1],
            "weekly_target": {"sessions": int(rng.integers(1, 3))},
            "windows": SPARSE_TASKS[i][2],
            "max_per_day": 1,
        }
        for i in chosen
    ]


# --------------------------------------------------------------------------- users


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _bump(peak: np.ndarray, width: float) -> np.ndarray:
    """168 values of a Gaussian bump around each day's ``peak`` hour (circular in the day)."""
    hours = np.arange(24, dtype=float)
    distance = np.abs(hours[None, :] - peak[:, None]) % 24
    distance = np.minimum(distance, 24 - distance)
    return np.exp(-(distance**2) / (2 * width**2)).ravel()


def _night() -> np.ndarray:
    hour = np.arange(SLOTS_PER_WEEK) % 24
    return np.where(hour < 6, -2.0, np.where(hour >= 23, -1.0, 0.0))


@dataclass(frozen=True)
class Meeting:
    """A recurring weekly meeting: calsync day (0 = Sunday), local start minute, length."""

    day: int
    minute: int
    minutes: int


@dataclass(frozen=True)
class Regime:
    """One routine of a user: what is hidden from calsync.

    Attributes:
        chronotype: ``lark``, ``neutral`` or ``owl``.
        peak: Weekday peak hour of the user's energy.
        propensity: Per task type, the probability (168 slots) of completing a
            block placed in that slot.
        energy: The user's energy (168 slots), reported after some completions.
        meetings: Recurring weekly meetings.

    """

    chronotype: str
    peak: float
    propensity: Mapping[str, np.ndarray]
    energy: np.ndarray
    meetings: tuple[Meeting, ...]


def _regime(
    rng: np.random.Generator,
    chronotype: str,
    offsets: Mapping[str, float],
    widths: Mapping[str, float],
    family: Family | None = None,
    peaks: Mapping[str, float | None] | None = None,
) -> Regime:
    """Draw one routine: the propensity of every task type, energy and recurring meetings.

    A task type with a peak in ``peaks`` has its own best time (that weekday
    hour, later at weekends like everything else) instead of the chronotype's
    plus its offset; ``family`` gives the heights and noise.
    """
    family = family or FAMILIES["shared"]
    peak = float(rng.uniform(*CHRONOTYPES[chronotype]))
    weekend_delay = float(rng.uniform(0.5, 2.0))  # people sleep in at weekends
    day_peak = np.array([peak + (weekend_delay if d in WEEKEND else 0.0) for d in range(7)])
    night = _night()
    energy = _sigmoid(
        -1.5 + 3.0 * _bump(day_peak, 3.5) + night + rng.normal(0, 0.2, SLOTS_PER_WEEK)
    )
    weekend = np.array([d in WEEKEND for d in range(7)]).repeat(24)
    propensity = {}
    for name, offset in offsets.items():
        prior = TASK_PRIORS.get(name, DEFAULT_PRIOR)
        base = rng.uniform(-2.5, -1.5)
        amplitude = rng.uniform(*family.amplitude)
        weekend_offset = rng.normal(prior.weekend_mean, 0.5)
        day_effect = rng.normal(0.0, 0.35, 7).repeat(24)
        sweet = np.zeros(SLOTS_PER_WEEK)
        sweet_hour = int(rng.integers(7, 20))
        for day in rng.choice(7, size=int(rng.integers(1, 3)), replace=False):
            sweet[int(day) * 24 + sweet_hour : int(day) * 24 + sweet_hour + 2] = rng.uniform(
                *family.sweet
            )
        own = (peaks or {}).get(name)
        centre = day_peak + offset if own is None else day_peak - peak + own
        logit = (
            base
            + amplitude * _bump(centre, widths[name])
            + weekend_offset * weekend
            + day_effect
            + sweet
            + night
            + rng.normal(0.0, family.noise, SLOTS_PER_WEEK)
        )
        propensity[name] = _sigmoid(logit)
    meetings = tuple(
        Meeting(
            day=int(rng.integers(1, 6)),
            minute=int(rng.integers(9 * 4, 17 * 4)) * 15,
            minutes=int(rng.choice([30, 60, 60, 90])),
        )
        for _ in range(int(rng.integers(2, 9)))
    )
    return Regime(chronotype, peak, propensity, energy, meetings)


def _local(day: date, minute: int, tz: tzinfo) -> datetime:
    """Local wall-clock time ``minute`` after midnight on ``day`` (normalised through UTC)."""
    moment = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)
    return moment.astimezone(UTC).astimezone(tz)


@dataclass(frozen=True)
class SimUser:
    """A simulated user (see the module docstring).

    Attributes:
        index: Position in the population (with the seed, it fixes the user).
        seed: The benchmark seed.
        timezone: IANA zone of the user.
        regimes: One routine, or two for a user whose routine changes.
        shift_week: First week (from 0) of the second routine; ``None`` without a shift.
        rating_prob: Chance that a completed block carries a rating (else calsync
            assumes ``learning.default_success``).
        energy_prob: Chance that a completed block carries the energy afterwards.
        move_prob: Chance, when not doing a block at its time, of moving it to
            the best free slot that day.
        ignore_prob: Chance, when not doing it, of leaving it in the calendar
            undone (calsync then takes it for a completion).
        oneoff_rate: Mean number of one-off weekday meetings per week.
        family: The family the user belongs to (:data:`FAMILIES`).
        log_rate: Mean number of own sessions a week the user logs per task
            type (0 outside the ``logged`` family).

    """

    index: int
    seed: int
    timezone: str
    regimes: tuple[Regime, ...]
    shift_week: int | None
    rating_prob: float
    energy_prob: float
    move_prob: float
    ignore_prob: float
    oneoff_rate: float
    family: str = "shared"
    log_rate: float = 0.0

    @property
    def tz(self) -> ZoneInfo:
        """The user's zone."""
        return ZoneInfo(self.timezone)

    def regime(self, week: int) -> Regime:
        """The routine in force in ``week``."""
        shifted = self.shift_week is not None and week >= self.shift_week
        return self.regimes[1 if shifted else 0]

    def week_start(self, week: int) -> datetime:
        """Monday 00:00 local time of ``week``."""
        return _local(START + timedelta(weeks=week), 0, self.tz)

    def week_of(self, instant: datetime) -> int:
        """The week an instant falls in (weeks start Monday 00:00 local)."""
        return (instant.astimezone(self.tz).date() - START).days // 7

    def meetings(self, week: int) -> list[Event]:
        """The week's busy events: recurring meetings, one-offs, sometimes a weekend errand."""
        entropy = (
            [self.seed, self.index, week, 1]
            if week >= 0
            else [self.seed, self.index, 1000 + week, 1, 1]
        )
        rng = np.random.default_rng(np.random.SeedSequence(entropy))
        monday = START + timedelta(weeks=week)
        # calsync day d (0 = Sunday) of the Monday-based week is monday + (d - 1) % 7 days.
        items = [(m.day, m.minute, m.minutes) for m in self.regime(week).meetings]
        for _ in range(int(rng.poisson(self.oneoff_rate))):
            items.append(
                (
                    int(rng.integers(1, 6)),
                    int(rng.integers(8 * 4, 18 * 4)) * 15,
                    int(rng.choice([30, 60, 120])),
                )
            )
        if rng.random() < 0.4:
            items.append((int(rng.choice(WEEKEND)), int(rng.integers(9, 15)) * 60, 180))
        events = []
        for n, (day, minute, minutes) in enumerate(items):
            start = _local(monday + timedelta(days=(day - 1) % 7), minute, self.tz)
            end = (start.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(self.tz)
            events.append(Event("sim", f"meeting-{week}-{n}", start, end, summary="Meeting"))
        return events


def make_user(
    seed: int, index: int, task_names: Sequence[str], weeks: int, family: str = "shared"
) -> SimUser:
    """Draw user ``index`` of the population of ``seed`` in ``family``.

    About a third of the users change routine at a week drawn in the middle
    third of the run (when it has at least 4 weeks): the chronotype flips
    (lark ↔ owl, neutral to either), the propensities, energy and recurring
    meetings are drawn again; only the personal offsets of each task type stay
    (a task type with its own best time gets the mirror image of it,
    ``27 − peak`` hours: 08:00 becomes 19:00).
    """
    spec = FAMILIES[family]
    entropy = [seed, index, 0] if spec.code == 0 else [seed, index, 0, spec.code]
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    timezone = str(rng.choice(ZONES))
    chronotype = str(rng.choice(list(CHRONOTYPES), p=[0.35, 0.3, 0.35]))
    offsets = {}
    widths = {}
    for name in task_names:
        prior = TASK_PRIORS.get(name, DEFAULT_PRIOR)
        offsets[name] = float(rng.normal(prior.offset_mean, prior.offset_sd))
        widths[name] = float(rng.uniform(2.0, 4.0))
    peaks: dict[str, float | None] = {}
    if spec.style != "shared":
        for name in task_names:
            own = spec.style == "opposed" or rng.random() < 0.5
            ranges = OWN_PEAKS.get(name, DEFAULT_PEAKS)
            low, high = ranges[int(rng.integers(len(ranges)))]
            peaks[name] = float(rng.uniform(low, high)) if own else None
    mirrored = {name: None if p is None else 27.0 - p for name, p in peaks.items()}
    first = _regime(rng, chronotype, offsets, widths, spec, peaks)
    shifts, where = rng.random() < 1 / 3, rng.random()
    flipped = FLIP.get(chronotype) or str(rng.choice(["lark", "owl"]))
    second = _regime(rng, flipped, offsets, widths, spec, mirrored)
    shift_week = None
    if shifts and weeks >= 4:
        low_week, high_week = max(2, weeks // 3), max(3, weeks - 2)
        shift_week = low_week + int(where * (high_week - low_week))
    return SimUser(
        index=index,
        seed=seed,
        timezone=timezone,
        regimes=(first, second) if shift_week is not None else (first,),
        shift_week=shift_week,
        rating_prob=float(rng.uniform(0.2, 0.8)),
        energy_prob=float(rng.uniform(0.0, 0.5)),
        move_prob=float(rng.uniform(0.1, 0.4)),
        ignore_prob=float(rng.uniform(0.05, 0.25)),
        oneoff_rate=float(rng.uniform(1.0, 6.0)),
        family=family,
        log_rate=float(rng.uniform(0.5, 2.0)) if spec.logs else 0.0,
    )


@dataclass(frozen=True)
class OwnSession:
    """A session the user did and logged in the calendar themselves (family ``logged``)."""

    task: str
    start: datetime
    end: datetime
    success: float | None
    key: str


def own_sessions(user: SimUser, config: Config, week: int) -> list[OwnSession]:
    """The sessions a ``logged`` user does on their own in ``week`` (negative: before calsync).

    Per task type a Poisson(``log_rate``) number of sessions, at full-hour
    starts inside the task's windows and clear of the week's meetings (and of
    each other), picked with weight ``p³`` of the routine's propensity — people
    log what they do when it suits them. A session carries a rating with the
    user's rating chance. Empty outside the ``logged`` family.
    """
    if user.log_rate <= 0:
        return []
    tz = user.tz
    rng = np.random.default_rng(np.random.SeedSequence([user.seed, user.index, week + 1000, 6]))
    regime = user.regime(max(week, 0))
    monday = START + timedelta(weeks=week)
    t0 = _local(monday, 0, tz)
    t1 = _local(monday + timedelta(days=7), 0, tz)
    taken = [(e.start, e.end) for e in user.meetings(week)]
    noise = FAMILIES[user.family].rating_noise
    sessions = []
    for task in config.task_types:
        count = int(rng.poisson(user.log_rate))
        length = timedelta(minutes=task.block_minutes)
        periods = allowed_periods([w.window() for w in task.windows], t0, t1, tz)
        candidates = []
        for day in range(7):
            for hour in range(24):
                start = _local(monday + timedelta(days=day), hour * 60, tz)
                end = (start.astimezone(UTC) + length).astimezone(tz)
                if any(p.start <= start and end <= p.end for p in periods):
                    candidates.append((start, end))
        rating_draws = rng.random(max(count, 1))
        for n in range(count):
            free = [
                (a, b)
                for a, b in candidates
                if not any(a < other_end and other_start < b for other_start, other_end in taken)
            ]
            if not free:
                break
            values = np.array([regime.propensity[task.name][slot_of(a, tz)] for a, _ in free])
            weights = values**3
            pick = int(rng.choice(len(free), p=weights / weights.sum()))
            start, end = free[pick]
            taken.append((start, end))
            success = None
            if rating_draws[n] < user.rating_prob:
                value = float(regime.propensity[task.name][slot_of(start, tz)])
                success = float(np.clip(value + rng.normal(0.0, noise), 0.0, 1.0))
            sessions.append(
                OwnSession(task.name, start, end, success, f"event:{task.name}:{week}:{n}")
            )
    return sessions


def own_events(sessions: Sequence[OwnSession]) -> list[Event]:
    """The user's logged sessions as calendar events (busy time for the planner)."""
    return [Event("sim", s.key, s.start, s.end, summary=s.task) for s in sessions]


#: Parts of the day users talk about (the rules interpreter's words and hours).
SPOKEN_PARTS = ("morning", "afternoon", "evening")


def stated_truths(user: SimUser) -> list[str]:
    """One to three true things the user says about their routine (their first one).

    Derived from the hidden propensity averaged over the user's task types,
    phrased in words the offline ``rules`` interpreter reads:

    * the best part of the day on weekdays — "I do my best work in the mornings";
    * the best (day, part of the day) of the week — "Tuesday mornings are my sweet spot";
    * the worst weekday part of the day — "I crash on Friday afternoons".

    Which and how many (1–3, uniformly) is drawn from the user's own seed.
    """
    rng = np.random.default_rng(np.random.SeedSequence([user.seed, user.index, 4]))
    mean = np.mean([p for p in user.regimes[0].propensity.values()], axis=0).reshape(7, 24)

    def part_mean(days: Sequence[int], part: str) -> float:
        return float(mean[np.ix_(list(days), list(PARTS_OF_DAY[part]))].mean())

    weekdays = (1, 2, 3, 4, 5)
    best_part = max(SPOKEN_PARTS, key=lambda part: part_mean(weekdays, part))
    cells = [(day, part) for day in range(7) for part in SPOKEN_PARTS]
    sweet_day, sweet_part = max(cells, key=lambda cell: part_mean([cell[0]], cell[1]))
    weekday_cells = [(day, part) for day in weekdays for part in SPOKEN_PARTS]
    low_day, low_part = min(weekday_cells, key=lambda cell: part_mean([cell[0]], cell[1]))
    candidates = [
        f"I do my best work in the {best_part}s",
        f"{DAY_NAMES[sweet_day]} {sweet_part}s are my sweet spot",
        f"I crash on {DAY_NAMES[low_day]} {low_part}s",
    ]
    count = int(rng.integers(1, 4))
    chosen = sorted(rng.choice(len(candidates), size=count, replace=False).tolist())
    return [candidates[i] for i in chosen]


def user_config(
    user: SimUser, task_types: Sequence[Mapping[str, Any]] = EXAMPLE_TASK_TYPES
) -> Config:
    """The calsync configuration of a simulated user: defaults, its zone, the task types."""
    return parse_config(
        {"user": {"id": f"sim{user.index}", "timezone": user.timezone}, "task_types": task_types}
    )


# --------------------------------------------------------------------------- learners


class Learner(Protocol):
    """What the benchmark measures: something that learns arrays from calendar evidence.

    ``update`` receives one piece of evidence as calsync infers it
    (``kind`` is ``completion`` or ``skip``; a skip has success 0.0), never
    before it is observable. ``arrays`` is called just before every plan (each
    local midnight, or Mondays only with weekly re-planning) and returns the
    habit array of every task type and the energy array.
    """

    def update(
        self,
        task: str,
        slot: int,
        success: float,
        kind: str,
        *,
        energy_after: float | None = None,
        start: datetime | None = None,
        key: str | None = None,
    ) -> None:
        """Learn from one outcome."""
        ...

    def arrays(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The current habit arrays (by task type) and energy array."""
        ...


class SeedEMA:
    """The seed's learner: calsync's EMA (:func:`behavioural_update`), arrays starting at 0.5.

    With ``learn_skips=False`` (the seed as designed) only completions are
    learned; with ``True`` skips are learned as success 0.0 in their slot,
    which is what today's write-back does with deleted and moved blocks. The
    update is calsync's own function with the configured parameters, on
    in-memory arrays (:class:`StoreLearner` drives a real store and gives the
    same arrays, slower).
    """

    def __init__(self, config: Config, learn_skips: bool = False):
        self.params = config.learning.params()
        self.merge = config.merge.params()
        self.learn_skips = learn_skips
        neutral = config.learning.neutral_value
        self.habits = {t.name: (neutral_array(neutral), 0) for t in config.task_types}
        self.energy = (neutral_array(neutral), 0)

    def update(
        self,
        task: str,
        slot: int,
        success: float,
        kind: str,
        *,
        energy_after: float | None = None,
        start: datetime | None = None,
        key: str | None = None,
    ) -> None:
        """Apply one completion (and a skip when ``learn_skips``) as record_completion does."""
        if kind == "skip" and not self.learn_skips:
            return
        array, count = self.habits[task]
        self.habits[task] = behavioural_update(array, slot, success, count, self.params)
        if energy_after is not None:
            energy, energy_count = self.energy
            self.energy = behavioural_update(energy, slot, energy_after, energy_count, self.params)

    def adjust(self, adjustments: Sequence[Adjustment]) -> None:
        """Merge an interpreter sync's adjustments into the energy array, as the EMA path does."""
        energy, count = self.energy
        self.energy = (apply_adjustments(energy, adjustments, self.merge), count)

    def arrays(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The learned arrays."""
        return {name: array for name, (array, _) in self.habits.items()}, self.energy[0]


class EvidenceLearner:
    """calsync's default learner (:mod:`calsync.learning.evidence`) on in-memory evidence.

    Every outcome — completion or skip — is added to its task type's evidence
    at the outcome's start; the arrays are the posterior means the daemon
    computes from the same evidence.
    """

    def __init__(self, config: Config, params: EvidenceParams | None = None):
        self.params = params or config.learning.evidence_params()
        self.habits = {t.name: SlotEvidence() for t in config.task_types}
        self.energy = SlotEvidence()
        self.merge = config.merge.params()
        self.neutral = config.learning.neutral_value
        self.energy_adjustments: list[Adjustment] = []

    def adjust(self, adjustments: Sequence[Adjustment]) -> None:
        """Take an interpreter sync's energy adjustments (the latest set replaces the last)."""
        self.energy_adjustments = list(adjustments)

    def update(
        self,
        task: str,
        slot: int,
        success: float,
        kind: str,
        *,
        energy_after: float | None = None,
        start: datetime | None = None,
        key: str | None = None,
    ) -> None:
        """Add the outcome (and its energy rating) to the evidence."""
        assert start is not None, "the evidence learner needs the outcome's start"
        self.habits[task] = add_outcome(self.habits[task], slot, success, start, self.params)
        if energy_after is not None:
            self.energy = add_outcome(self.energy, slot, energy_after, start, self.params)

    def arrays(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The posterior-mean arrays."""
        energy = energy_array(
            self.energy,
            self.params,
            neutral=self.neutral,
            adjustments=self.energy_adjustments,
            merge=self.merge,
        )
        prior = population_prior(self.neutral)
        return posterior_arrays(self.habits, self.params, prior=prior), energy


class AdaptiveLearner:
    r"""The adaptive learner (:mod:`calsync.learning.adaptive`) on in-memory state.

    Every outcome — completion, skip or the user's own logged session — is
    :func:`~calsync.learning.adaptive.observe`\ d at the outcome's start; the
    habit arrays are :func:`~calsync.learning.adaptive.adaptive_arrays`, the
    energy array is the evidence learner's (same ratings, same prior, the
    interpreter sync's adjustments merged into it).
    """

    def __init__(self, config: Config, params: AdaptiveParams | None = None):
        self.params = params or config.learning.adaptive_params()
        self.energy_params = config.learning.evidence_params()
        self.tasks = [t.name for t in config.task_types]
        self.state = AdaptiveState()
        self.energy = SlotEvidence()
        self.merge = config.merge.params()
        self.neutral = config.learning.neutral_value
        self.prior = population_prior(self.neutral)
        self.energy_adjustments: list[Adjustment] = []
        self.notes_since = 0  # changes of routine detected before the notes were first seen

    def adjust(self, adjustments: Sequence[Adjustment]) -> None:
        """Take an interpreter sync's energy adjustments (the latest set replaces the last).

        The same notes sent again keep their age: notes written before a change
        of routine the learner has since detected describe the old routine,
        and are dropped (:meth:`arrays`) until the user's notes change.
        """
        if list(adjustments) != self.energy_adjustments:
            self.notes_since = self.state.changes
        self.energy_adjustments = list(adjustments)

    def update(
        self,
        task: str,
        slot: int,
        success: float,
        kind: str,
        *,
        energy_after: float | None = None,
        start: datetime | None = None,
        key: str | None = None,
    ) -> None:
        """Observe the outcome (and add its energy rating to the energy evidence)."""
        assert start is not None, "the adaptive learner needs the outcome's start"
        self.state = observe(self.state, task, slot, success, start, self.params, prior=self.prior)
        if energy_after is not None:
            self.energy = add_outcome(self.energy, slot, energy_after, start, self.energy_params)

    def arrays(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The adaptive habit arrays and the evidence learner's energy array."""
        fresh = self.state.changes == self.notes_since
        energy = energy_array(
            self.energy,
            self.energy_params,
            neutral=self.neutral,
            adjustments=self.energy_adjustments if fresh else (),
            merge=self.merge,
        )
        habits = adaptive_arrays(self.state, self.tasks, self.params, prior=self.prior)
        return habits, energy


class StoreLearner:
    """A learner through a real :class:`calsync.service.Calsync` on in-memory SQLite.

    Every outcome goes through ``record_completion`` with calsync's own
    idempotency key, interpreter adjustments through ``apply_adjustments``
    (the energy array, as the LLM sync sends them), and the arrays are read
    back with ``habit()`` and ``energy()``: the fidelity check of
    :class:`SeedEMA` and :class:`EvidenceLearner`.

    Args:
        config: The user's configuration.
        clock: The simulation's clock.
        learner: ``learning.learner`` to run (``ema`` or ``evidence``).
        learn_skips: Record skips too (the write-back does; the seed's design did not).

    """

    def __init__(
        self, config: Config, clock: FixedClock, learner: str = "ema", learn_skips: bool = False
    ):
        from calsync.service import open as open_calsync

        learning = config.learning.model_copy(update={"learner": learner})
        self.learn_skips = learn_skips
        self.cs = open_calsync(
            config.model_copy(update={"learning": learning}), store_url="sqlite://", clock=clock
        )
        self.syncs = 0

    def update(
        self,
        task: str,
        slot: int,
        success: float,
        kind: str,
        *,
        energy_after: float | None = None,
        start: datetime | None = None,
        key: str | None = None,
    ) -> None:
        """Record the outcome in the store (skips only when ``learn_skips``)."""
        if kind == "skip" and not self.learn_skips:
            return
        assert start is not None, "a store learner needs the outcome's start"
        self.cs.record_completion(task, start, success, energy_after, key=key)

    def adjust(self, adjustments: Sequence[Adjustment]) -> None:
        """Apply an interpreter sync's adjustments to the energy array, as the LLM sync does."""
        self.syncs += 1
        self.cs.apply_adjustments(list(adjustments), None, key=f"sim-sync-{self.syncs}")

    def arrays(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The arrays as the store holds them."""
        habits = {t.name: self.cs.habit(t.name).values for t in self.cs.config.task_types}
        return habits, self.cs.energy().values

    def close(self) -> None:
        """Close the store."""
        self.cs.close()


class RandomLearner:
    """Lower bound: fresh uniform random habit and energy arrays every week; learns nothing."""

    def __init__(self, task_names: Sequence[str], user: SimUser, clock: FixedClock):
        self.task_names = list(task_names)
        self.user = user
        self.clock = clock

    def update(self, task: str, slot: int, success: float, kind: str, **_: Any) -> None:
        """Ignore the outcome."""

    def arrays(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The week's random arrays (the same for every plan of that week)."""
        week = self.user.week_of(self.clock.now())
        rng = np.random.default_rng(
            np.random.SeedSequence([self.user.seed, self.user.index, week, 2])
        )
        habits = {name: rng.random(SLOTS_PER_WEEK) for name in self.task_names}
        return habits, rng.random(SLOTS_PER_WEEK)


class OracleLearner:
    """Upper bound: the hidden propensity of the current week as habit, a flat energy array.

    With a flat energy the planner's score is ``0.6 · p + const``, so it ranks
    blocks by the true propensity (the planner's greedy placement, caps and
    buffers still apply).
    """

    def __init__(self, user: SimUser, clock: FixedClock):
        self.user = user
        self.clock = clock

    def update(self, task: str, slot: int, success: float, kind: str, **_: Any) -> None:
        """Ignore the outcome: the oracle already knows."""

    def arrays(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The truth of the week the clock is in."""
        regime = self.user.regime(self.user.week_of(self.clock.now()))
        return {k: v.copy() for k, v in regime.propensity.items()}, neutral_array()


class NoisyOracleLearner(OracleLearner):
    """A bound between the oracle and the learners: the truth, off by ``sigma`` per slot.

    Each week every slot of every task type's propensity is moved by fresh
    Gaussian noise of ``sigma`` on the logit scale (``sigma = 1`` turns 0.5
    into 0.27–0.73 two times in three), independently per slot; energy is
    flat, as for the oracle. It answers "how precise must a learner's slot
    estimates be to reach a given regret?".
    """

    def __init__(self, user: SimUser, clock: FixedClock, sigma: float = 1.0):
        super().__init__(user, clock)
        self.sigma = sigma

    def arrays(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The truth of the week, each slot's logit moved by N(0, sigma)."""
        habits, energy = super().arrays()
        week = self.user.week_of(self.clock.now())
        rng = np.random.default_rng(
            np.random.SeedSequence([self.user.seed, self.user.index, week, 4])
        )
        noisy = {}
        for name, truth in habits.items():
            p = np.clip(truth, 1e-6, 1 - 1e-6)
            noisy[name] = _sigmoid(np.log(p / (1 - p)) + rng.normal(0.0, self.sigma, p.shape))
        return noisy, energy


class FullInformationLearner(EvidenceLearner):
    """An information bound: calsync's evidence learner told far more than blocks reveal.

    Besides the outcomes of its own blocks it learns, at the midnight after
    each day, one outcome at **every daytime hour (07:00–20:00)** of that day,
    for every task type — a Bernoulli draw from that day's true propensity, a
    success (1) or a failure (0) at the slot's own time. That is 98 extra
    outcomes per task type a week, about 25 times what the blocks give. It
    shows what the estimator can reach when exploration costs nothing.
    """

    #: Local hours told every day.
    HOURS = range(7, 21)

    def __init__(self, user: SimUser, config: Config, clock: FixedClock):
        super().__init__(config)
        self.user = user
        self.clock = clock
        self.told = START  # days before this one have been told

    def arrays(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Learn the free outcomes of every day that has ended, then the posterior means."""
        today = self.clock.now().astimezone(self.user.tz).date()
        while self.told < today:
            day, self.told = self.told, self.told + timedelta(days=1)
            for name, slot, success, start in told_outcomes(self.user, day, self.HOURS):
                self.habits[name] = add_outcome(
                    self.habits[name], slot, success, start, self.params
                )
        return super().arrays()


def told_outcomes(user: SimUser, day: date, hours: range) -> list[tuple[str, int, float, datetime]]:
    """The full-information bounds' free outcomes of one day: ``(task, slot, success, start)``.

    One Bernoulli draw from that day's true propensity at every hour of
    ``hours``, for every task type (seeded by user and day, so every bound
    learner is told the same).
    """
    week = (day - START).days // 7
    truth = user.regime(week).propensity
    rng = np.random.default_rng(np.random.SeedSequence([user.seed, user.index, day.toordinal(), 5]))
    told = []
    for hour in hours:
        start = _local(day, hour * 60, user.tz)
        slot = slot_of(start, user.tz)
        for name in sorted(truth):
            told.append((name, slot, float(rng.random() < truth[name][slot]), start))
    return told


class AdaptiveFullInformation(AdaptiveLearner):
    """The information bound of the adaptive learner: it is also told every daytime hour.

    Exactly :class:`FullInformationLearner`'s free outcomes (one at every
    hour 07:00–20:00 of every day that has ended, for every task type),
    observed by the adaptive learner — strictly more of the kind of
    information a calendar gives, about 25 times what the blocks reveal.
    """

    HOURS = FullInformationLearner.HOURS

    def __init__(self, user: SimUser, config: Config, clock: FixedClock):
        super().__init__(config)
        self.user = user
        self.clock = clock
        self.told = START

    def arrays(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Observe the free outcomes of every day that has ended, then the adaptive arrays."""
        today = self.clock.now().astimezone(self.user.tz).date()
        while self.told < today:
            day, self.told = self.told, self.told + timedelta(days=1)
            for name, slot, success, start in told_outcomes(self.user, day, self.HOURS):
                self.state = observe(
                    self.state, name, slot, success, start, self.params, prior=self.prior
                )
        return super().arrays()


LearnerFactory = Callable[[SimUser, Config, FixedClock], Learner]

#: Learners that plan on Mondays whatever the protocol: the oracles know one
#: week's truth at a time, and a daily plan reaching into next week would place
#: next week's blocks with this week's truth (wrong in a routine's first week).
WEEKLY_ONLY = frozenset({"oracle", "noisy_oracle"})

#: Learners that also get the interpreter's adjustments of the users' stated truths.
WITH_INSIGHTS = frozenset(
    {"evidence_insights", "evidence_insights_store", "ema_insights", "adaptive_insights"}
)

#: Learner name → factory; ``seed_ema_store`` and ``ema_skips_store`` are the slow twins.
LEARNERS: dict[str, LearnerFactory] = {
    "evidence": lambda user, config, clock: EvidenceLearner(config),
    "evidence_insights": lambda user, config, clock: EvidenceLearner(config),
    "adaptive": lambda user, config, clock: AdaptiveLearner(config),
    "adaptive_insights": lambda user, config, clock: AdaptiveLearner(config),
    "seed_ema": lambda user, config, clock: SeedEMA(config),
    "ema_skips": lambda user, config, clock: SeedEMA(config, learn_skips=True),
    "ema_insights": lambda user, config, clock: SeedEMA(config),
    "random": lambda user, config, clock: RandomLearner(
        [t.name for t in config.task_types], user, clock
    ),
    "oracle": lambda user, config, clock: OracleLearner(user, clock),
    "noisy_oracle": lambda user, config, clock: NoisyOracleLearner(user, clock),
    "full_information": lambda user, config, clock: FullInformationLearner(user, config, clock),
    "adaptive_full_information": lambda user, config, clock: AdaptiveFullInformation(
        user, config, clock
    ),
    "seed_ema_store": lambda user, config, clock: StoreLearner(config, clock),
    "ema_skips_store": lambda user, config, clock: StoreLearner(config, clock, learn_skips=True),
    "evidence_store": lambda user, config, clock: StoreLearner(
        config, clock, "evidence", learn_skips=True
    ),
    "evidence_insights_store": lambda user, config, clock: StoreLearner(
        config, clock, "evidence", learn_skips=True
    ),
}


# --------------------------------------------------------------------------- the protocol


@dataclass
class TaskGrid:
    """Where one task type's blocks may go in one week, and what they are truly worth.

    Attributes:
        length: Quarters in a block.
        feasible: Per quarter of the grid, whether a block may start there: it
            lies in the task's windows and clear of meetings and their buffers
            (other suggestions, day caps and ``max_per_day`` are ignored).
        hourly: Feasible starts on a local full hour — the ranked "slots".
        value: True propensity of a block starting at each quarter (mean over
            its quarters, the planner's weighting).
        best: The best value over every feasible start (NaN when none).

    """

    length: int
    feasible: np.ndarray
    hourly: np.ndarray
    value: np.ndarray
    best: float


@dataclass
class WeekContext:
    """One user-week as every learner meets it: the same meetings, grid and truth."""

    week: int
    now: datetime
    events: list[Event]
    busy: list[Period]
    t0: datetime
    slots: np.ndarray
    on_hour: np.ndarray
    days: np.ndarray
    busy_mask: np.ndarray
    tasks: dict[str, TaskGrid]

    def index(self, moment: datetime, up: bool) -> int:
        """Quarter index of an instant, rounded like the planner's grid, clipped."""
        offset = (moment.astimezone(UTC) - self.t0) / QUARTER
        value = math.ceil(offset - 1e-9) if up else math.floor(offset + 1e-9)
        return min(max(value, 0), len(self.slots))

    def time(self, index: int, tz: tzinfo) -> datetime:
        """Start of quarter ``index`` in ``tz``."""
        return (self.t0 + index * QUARTER).astimezone(tz)


def week_context(user: SimUser, config: Config, params: PlanParams, week: int) -> WeekContext:
    """Build the week's grid exactly as the planner cuts its horizon (quarters from now + lead)."""
    tz = user.tz
    now = user.week_start(week)
    events = user.meetings(week) + own_events(own_sessions(user, config, week))
    busy = busy_periods(events, params.buffer, tz)
    earliest = (now + params.lead).astimezone(UTC)
    local = earliest.astimezone(tz)
    into = timedelta(
        minutes=local.minute % 15, seconds=local.second, microseconds=local.microsecond
    )
    t0 = earliest + (QUARTER - into if into else timedelta(0))
    n = max(0, int(((now + params.horizon).astimezone(UTC) - t0) / QUARTER))
    starts = [(t0 + i * QUARTER).astimezone(tz) for i in range(n)]
    slots = np.array([slot_of(s, tz) for s in starts], dtype=np.int64)
    on_hour = np.array([s.minute == 0 for s in starts], dtype=bool)
    days = np.array([s.toordinal() for s in starts], dtype=np.int64)
    context = WeekContext(week, now, events, busy, t0, slots, on_hour, days, np.zeros(n, bool), {})
    for period in busy:
        context.busy_mask[context.index(period.start, False) : context.index(period.end, True)] = (
            True
        )
    propensity = user.regime(week).propensity
    for task in config.task_types:
        window = np.zeros(n, dtype=bool)
        for period in allowed_periods(
            [w.window() for w in task.windows], t0, now + params.horizon, tz
        ):
            window[context.index(period.start, False) : context.index(period.end, True)] = True
        length = max(1, math.ceil(task.block_minutes / 15))
        free = np.concatenate(([0], np.cumsum(~window | context.busy_mask)))
        feasible = np.zeros(n, dtype=bool)
        fit = max(0, n - length + 1)
        feasible[:fit] = (free[length : length + fit] - free[:fit]) == 0
        value = block_means(propensity[task.name], slots, length)
        best = float(value[feasible].max()) if feasible.any() else math.nan
        context.tasks[task.name] = TaskGrid(
            length, feasible, np.flatnonzero(feasible & on_hour), value, best
        )
    return context


#: How often calsync re-plans in the simulation: ``daily`` (every local
#: midnight, as the daemon's write-back keeps re-planning) or ``weekly``
#: (Monday 00:00 only, the protocol of the first version of this benchmark).
REPLANS = ("daily", "weekly")


def plan_from(
    specs: Sequence[TaskSpec],
    energy: np.ndarray,
    busy: Sequence[Period],
    now: datetime,
    tz: tzinfo,
    params: PlanParams,
    calendar: Mapping[str, ExistingBlock] | None = None,
    declined: Sequence[ExistingBlock] = (),
    avoid: Sequence[ExistingBlock] = (),
    history: Sequence[ExistingBlock] = (),
) -> list[PlannedBlock]:
    """The daemon's planner with the daemon's inputs, as its write-back calls it.

    ``calendar`` holds calsync's suggestions still in the calendar (those that
    have not ended are passed as ``existing``; a block the user moved as
    ``user_placed``); ``declined`` the ones the user deleted and ``avoid`` the
    slots a block was moved away from — each only while it lies ahead, as the
    write-back does; ``history`` every block the user has acted on, where it
    ended up (deleted ones at their planned time) — those that have ended are
    ``earlier`` and count toward their week's target. Busy time is
    :func:`calsync.inference.busy_periods` of the meetings (buffers included).
    """
    return plan_blocks(
        specs,
        energy,
        busy,
        now,
        tz,
        params,
        existing=[block for block in (calendar or {}).values() if block.end > now],
        declined=[b for b in declined if b.end > now],
        avoid=[b for b in avoid if b.end > now],
        earlier=[b for b in history if now - 2 * WEEK < b.end <= now],
    )


def plan_week(
    specs: Sequence[TaskSpec],
    energy: np.ndarray,
    context: WeekContext,
    tz: tzinfo,
    params: PlanParams,
) -> list[PlannedBlock]:
    """The week's blocks planned at Monday 00:00 with nothing suggested ahead.

    With weekly planning nothing calsync suggested earlier is still ahead, so
    there are no existing, declined or avoided blocks.
    """
    return plan_from(specs, energy, context.busy, context.now, tz, params)


@dataclass(order=True)
class _Pending:
    """Evidence waiting until calsync could see it."""

    time: datetime
    order: int
    task: str = field(compare=False)
    start: datetime = field(compare=False)
    success: float = field(compare=False)
    kind: str = field(compare=False)
    energy_after: float | None = field(compare=False)
    key: str = field(compare=False)


def _outcome_events(
    task: str, sid: str, start: datetime, end: datetime, description: str
) -> list[Event]:
    return [
        Event(
            "target",
            sid,
            start,
            end,
            summary=f"⧗ {task}",
            description=description,
            suggestion_id=sid,
        )
    ]


def simulate_learner(
    user: SimUser,
    config: Config,
    contexts: Sequence[WeekContext],
    learner_name: str,
    replan: str = "daily",
) -> dict[str, Any]:
    """Run one learner on one user for every week; return its scored items.

    Every local midnight (``replan="daily"``; Mondays only with ``"weekly"``)
    calsync plans with the learner's arrays and the calendar as it stands;
    then the user acts on the day's blocks. See the README's protocol.

    Returns:
        ``{"blocks": [...], "rankings": [...], "shift_week": ...}`` where a block
        item holds ``week``, ``task``, ``regret``, ``acceptance`` (1.0 when
        completed at the suggested time), ``completed`` (done at all, moved or
        not) and ``outcome``; a ranking item (one per task type at each
        Monday's plan) holds ``week``, ``task``, ``hit@1``, ``recall@3``,
        ``ndcg@5`` and ``candidates``.

    """
    if replan not in REPLANS:
        raise ValueError(f"replan must be one of {REPLANS}, got {replan!r}")
    if learner_name in WEEKLY_ONLY:
        replan = "weekly"
    tz = user.tz
    params = plan_params(config)
    weights = params.scoring
    default_success = config.learning.default_success
    task_order = {t.name: n for n, t in enumerate(config.task_types)}
    clock = FixedClock(contexts[0].now if contexts else user.week_start(0))
    learner = LEARNERS[learner_name](user, config, clock)
    pending: list[_Pending] = []
    seen: set[str] = set()
    blocks: list[dict[str, Any]] = []
    rankings: list[dict[str, Any]] = []
    counter = 0
    fed = 0  # outcomes the learner has seen, for the interpreter sync's "anything new?"
    synced_at: int | None = None
    insight_adjustments: list[Adjustment] = []
    if learner_name in WITH_INSIGHTS:
        # The user's notes go through the offline interpreter as the daemon's
        # sync sends them (the energy array's profile, one call for all notes).
        profile = energy_profile(neutral_array(config.learning.neutral_value), 0)
        reading = RulesInterpreter().interpret(stated_truths(user), profile)
        insight_adjustments = list(reading.adjustments)
    calendar: dict[str, ExistingBlock] = {}
    declined: list[ExistingBlock] = []
    avoid: list[ExistingBlock] = []
    history: list[ExistingBlock] = []
    made = 0  # suggestions created so far (their ids)
    rating_noise = FAMILIES[user.family].rating_noise
    if user.log_rate > 0 and contexts:
        # The first sync reads `days_back` of the user's calendar: their own
        # sessions before calsync started, learned before the first plan.
        first_sync = contexts[0].now
        horizon = first_sync - timedelta(days=DAYS_BACK)
        for back in range(-(DAYS_BACK // 7 + 1), 0):
            for session in own_sessions(user, config, back):
                if session.start >= horizon and session.end <= first_sync:
                    counter += 1
                    success = default_success if session.success is None else session.success
                    pending.append(
                        _Pending(
                            first_sync,
                            counter,
                            session.task,
                            session.start,
                            success,
                            "own",
                            None,
                            session.key,
                        )
                    )
    for context in contexts:
        # Sessions the user logs while calsync runs: seen once they have ended.
        for session in own_sessions(user, config, context.week):
            counter += 1
            success = default_success if session.success is None else session.success
            pending.append(
                _Pending(
                    session.end,
                    counter,
                    session.task,
                    session.start,
                    success,
                    "own",
                    None,
                    session.key,
                )
            )

    def feed(until: datetime) -> None:
        nonlocal pending, fed
        pending.sort()
        due = [p for p in pending if p.time <= until]
        pending = [p for p in pending if p.time > until]
        fed += len(due)
        for item in due:
            clock.set(item.time)
            learner.update(
                item.task,
                slot_of(item.start, tz),
                item.success,
                item.kind,
                energy_after=item.energy_after,
                start=item.start,
                key=item.key,
            )

    def act(held: ExistingBlock, context: WeekContext, decided: datetime) -> None:
        """The user's handling of one block on its day, and what calsync will see of it."""
        nonlocal counter
        grid = context.tasks[held.task_type]
        index = context.index(held.start, up=False)
        if context.time(index, tz) != held.start or not grid.feasible[index]:
            raise AssertionError(f"planner placed {held} outside free time")
        value = float(grid.value[index])
        # The same block (task, quarter, week) meets the same dice under every learner.
        rng = np.random.default_rng(
            np.random.SeedSequence(
                [user.seed, user.index, context.week, 3, index, task_order[held.task_type]]
            )
        )
        draw = rng.random(5)
        description = ""
        start, end = held.start, held.end
        if draw[0] < value:
            outcome = "completed"
        elif draw[1] < user.move_prob:
            spans = [(h.start, h.end) for h in calendar.values() if h.id != held.id]
            moved = _best_move(user, context, grid, index, value, spans, params)
            if moved is None:
                outcome = "deleted"
            else:
                outcome = "moved"
                start = context.time(moved, tz)
                end = (start.astimezone(UTC) + (held.end - held.start)).astimezone(tz)
                value = float(grid.value[moved])
        elif draw[1] < user.move_prob + user.ignore_prob:
            outcome = "ignored"
        else:
            outcome = "deleted"
        history.append(ExistingBlock(held.id, held.task_type, start, end))
        if outcome == "deleted":
            del calendar[held.id]
            declined.append(ExistingBlock(held.id, held.task_type, held.start, held.end))
        elif outcome == "moved":
            calendar[held.id] = ExistingBlock(held.id, held.task_type, start, end, user_placed=True)
            avoid.append(ExistingBlock(held.id, held.task_type, held.start, held.end))
        if outcome in ("completed", "moved"):
            lines = []
            if draw[2] < user.rating_prob:
                rating = float(np.clip(value + rng.normal(0.0, rating_noise), 0.0, 1.0))
                lines.append(f"success: {rating:.2f}")
            if draw[3] < user.energy_prob:
                level = user.regime(context.week).energy[slot_of(start, tz)]
                level += rng.normal(0.0, 0.1)
                lines.append(f"energy: {float(np.clip(level, 0.0, 1.0)):.2f}")
            description = "\n".join(lines)
        known = KnownSuggestion(held.id, held.task_type, held.start, held.end)
        events = (
            []
            if outcome == "deleted"
            else _outcome_events(held.task_type, held.id, start, end, description)
        )
        # What calsync would infer when it polls: before the start, and after the end.
        for moment in (decided, end):
            for found in infer_suggestion_outcomes([known], events, moment, default_success):
                if found.key in seen:
                    continue
                seen.add(found.key)
                counter += 1
                kind = "skip" if found.key.endswith(":skip") else "completion"
                pending.append(
                    _Pending(
                        moment,
                        counter,
                        found.task_type,
                        found.start,
                        found.success,
                        kind,
                        found.energy_after,
                        found.key,
                    )
                )
        blocks.append(
            {
                "week": context.week,
                "task": held.task_type,
                "regret": max(0.0, grid.best - float(grid.value[index])),
                "acceptance": float(outcome == "completed"),
                "completed": float(outcome in ("completed", "moved")),
                "outcome": outcome,
            }
        )

    try:
        for context in contexts:
            # The plan's horizon reaches into next week: its meetings are known too.
            following = user.meetings(context.week + 1) + own_events(
                own_sessions(user, config, context.week + 1)
            )
            busy = busy_periods([*context.events, *following], params.buffer, tz)
            monday = START + timedelta(weeks=context.week)
            for offset in range(7):
                today = monday + timedelta(days=offset)
                now = _local(today, 0, tz)
                feed(now)
                clock.set(now)
                if offset == 0 or replan == "daily":
                    if insight_adjustments and (synced_at is None or fed > synced_at):
                        # The interpreter sync: new notes (the first plan) or new behaviour since.
                        learner.adjust(insight_adjustments)  # type: ignore[attr-defined]
                        synced_at = fed
                    habits, energy = learner.arrays()
                    specs = task_specs(config, habits, params)
                    if offset == 0:
                        rankings += _rankings(specs, energy, context, weights)
                    plan = plan_from(
                        specs, energy, busy, now, tz, params, calendar, declined, avoid, history
                    )
                    live = {}
                    for block in plan:
                        if block.id is None:
                            made += 1
                            block_id = f"sim{user.index}-{made}"
                        else:
                            block_id = block.id
                        placed = calendar.get(block_id)
                        live[block_id] = ExistingBlock(
                            block_id,
                            block.task_type,
                            block.start,
                            block.end,
                            placed.user_placed if placed else False,
                        )
                    calendar = live  # blocks the plan dropped leave the calendar
                # The user decides about the day's blocks at midnight, in start order.
                todays = [h for h in calendar.values() if h.start.astimezone(tz).date() == today]
                for held in sorted(todays, key=lambda h: (h.start, task_order[h.task_type])):
                    act(held, context, now)
    finally:
        close = getattr(learner, "close", None)
        if close is not None:
            close()
    return {"blocks": blocks, "rankings": rankings, "shift_week": user.shift_week}


def _rankings(
    specs: Sequence[TaskSpec], energy: np.ndarray, context: WeekContext, weights: Any
) -> list[dict[str, Any]]:
    """How the learner ranks each task's feasible hour slots of the week, at Monday's plan."""
    items = []
    for spec in specs:
        grid = context.tasks[spec.name]
        if not len(grid.hourly):
            continue
        per_slot = weights.habit_weight * spec.habit + weights.energy_weight * energy
        scores = block_means(per_slot, context.slots, grid.length)[grid.hourly]
        item = ranking_metrics(scores, grid.value[grid.hourly])
        items.append(
            {"week": context.week, "task": spec.name, **item, "candidates": len(grid.hourly)}
        )
    return items


def _best_move(
    user: SimUser,
    context: WeekContext,
    grid: TaskGrid,
    index: int,
    value: float,
    spans: Sequence[tuple[datetime, datetime]],
    params: PlanParams,
) -> int | None:
    """The user's pick when moving a block: the best free full hour that day, if it is better.

    Free means inside the task's windows, clear of meetings (with buffers) and of
    calsync's other suggestions in the calendar (``spans``, with buffers).
    """
    length_time = grid.length * QUARTER
    best: int | None = None
    best_value = value
    for candidate in grid.hourly:
        if context.days[candidate] != context.days[index]:
            continue
        start = context.t0 + int(candidate) * QUARTER
        end = start + length_time
        clash = any(
            start < other_end + params.buffer and other_start - params.buffer < end
            for other_start, other_end in spans
        )
        if not clash and grid.value[candidate] > best_value + 1e-12:
            best, best_value = int(candidate), float(grid.value[candidate])
    return best


def run_user(
    seed: int,
    index: int,
    weeks: int,
    learners: Sequence[str],
    task_types: Sequence[Mapping[str, Any]] | None = None,
    replan: str = "daily",
    family: str = "shared",
) -> dict[str, Any]:
    """Simulate one user of ``family`` under every learner (same user, meetings and grids for all).

    ``replan`` is how often calsync re-plans (:data:`REPLANS`); ``task_types``
    defaults to the family's (:func:`family_task_types`).

    Returns:
        ``{"user": {...description...}, "learners": {name: items}}``.

    """
    if task_types is None:
        task_types = family_task_types(seed, index, family)
    names = [t["name"] for t in task_types]
    user = make_user(seed, index, names, weeks, family)
    config = user_config(user, task_types)
    params = plan_params(config)
    contexts = [week_context(user, config, params, week) for week in range(weeks)]
    return {
        "user": {
            "index": index,
            "timezone": user.timezone,
            "chronotypes": [r.chronotype for r in user.regimes],
            "shift_week": user.shift_week,
        },
        "learners": {
            name: simulate_learner(user, config, contexts, name, replan) for name in learners
        },
    }
