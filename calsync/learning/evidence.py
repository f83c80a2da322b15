"""The default learner: smoothed Beta–Bernoulli evidence behind the 168-slot arrays.

The seed learned with an EMA of completions only. This learner keeps, per
user and task type, **evidence**: for every weekly slot a decayed sum of
successes ``S`` and failures ``F``. An outcome with success ``s`` in [0, 1]
adds ``s`` to ``S`` and ``1 - s`` to ``F`` in its slot — so a kept block
counts as (mostly) a success and a skip (a deleted block, or the slot a block
was moved away from: success 0) as a failure. Evidence **fades** with a
half-life (``half_life_days``), measured from the newest evidence of that
task type, so a changed routine is followed and a quiet month does not erase
what was known.

The 168-slot array — what heatmaps show, what the planner scores and what
the LLM/rules adjustments shape — is the posterior mean of every slot::

    S~ = K S + pool * K S_other          F~ = K F + pool * K F_other
    habit[slot] = (S~ + m0 * prior) / (S~ + F~ + m0)

* ``K`` **smooths** across neighbouring hours (Gaussian, ``hour_width``
  hours) and carries the same hours of *similar* days (weekday ↔ weekday,
  weekend ↔ weekend: ``similar_day_weight``) and of the other kind of day
  (``other_day_weight``): one skip on Tuesday at 10:00 says something about
  Wednesday at 11:00, much less about Saturday.
* ``pool`` **shrinks toward the user's other task types**: their evidence
  counts with a small weight, so a new task type starts from the user's
  rhythm rather than from nothing.
* ``prior`` (weight ``m0`` pseudo-observations per slot) is the **population
  prior**: :func:`population_prior` — a documented circadian curve, not
  flat, so with nothing known the planner prefers late morning and early
  afternoon over "the earliest free slot". Interpreter adjustments (LLM or
  rules) multiply the prior with the 70/30 merge (see
  :func:`calsync.learning.habits.apply_adjustments`), so a stated preference
  decides while evidence is thin and yields to behaviour as it accumulates.

The energy array is the same estimator over the energy ratings (``energy:``
markers) alone: per slot a decayed sum of ratings and their count.

Everything here is pure (numpy only). The evidence is a sufficient statistic
of the behaviour update log, so :meth:`calsync.service.Calsync.rebuild`
recomputes it — and the arrays — after a configuration change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import numpy as np

from calsync.errors import InputError
from calsync.learning.habits import Adjustment, MergeParams, WeeklyArray, apply_adjustments
from calsync.learning.slots import SLOTS_PER_WEEK

#: Seconds per day, for half-lives.
_DAY = 86_400.0
#: Weekend days (0 = Sunday, 6 = Saturday).
_WEEKEND = frozenset({0, 6})
#: The default 70/30 merge of interpreter adjustments.
DEFAULT_MERGE = MergeParams()


@dataclass(frozen=True)
class EvidenceParams:
    """Parameters of the evidence learner (``[learning]`` in the configuration).

    Attributes:
        prior_weight: Pseudo-observations the prior is worth in each slot (``m0``).
        hour_width: Width (standard deviation, hours) of the smoothing across hours.
        similar_day_weight: How much the same hour on a similar day counts (0–1).
        other_day_weight: How much the same hour on the other kind of day counts (0–1).
        pool_weight: How much the user's other task types' evidence counts (0–1).
        half_life_days: Evidence loses half its weight in this many days.
        energy_prior_weight: ``m0`` of the energy array.

    """

    prior_weight: float = 1.0
    hour_width: float = 1.0
    similar_day_weight: float = 0.4
    other_day_weight: float = 0.1
    pool_weight: float = 0.4
    half_life_days: float = 14.0
    energy_prior_weight: float = 3.0

    def __post_init__(self) -> None:
        for name in ("prior_weight", "hour_width", "half_life_days", "energy_prior_weight"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("similar_day_weight", "other_day_weight", "pool_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"{name} must be between 0 and 1, got {getattr(self, name)!r}")


@dataclass
class SlotEvidence:
    """Decayed per-slot sums of one stream of outcomes.

    Attributes:
        positive: Per slot, the decayed sum of successes (or of energy ratings).
        negative: Per slot, the decayed sum of failures (``1 - success``); for
            the energy stream, the decayed count of ratings minus their sum.
        reference: POSIX time the sums are decayed to (the newest evidence), or ``None``.

    """

    positive: WeeklyArray = field(default_factory=lambda: np.zeros(SLOTS_PER_WEEK))
    negative: WeeklyArray = field(default_factory=lambda: np.zeros(SLOTS_PER_WEEK))
    reference: float | None = None

    def copy(self) -> SlotEvidence:
        """An independent copy."""
        return SlotEvidence(self.positive.copy(), self.negative.copy(), self.reference)

    @property
    def total(self) -> float:
        """The decayed number of observations."""
        return float(self.positive.sum() + self.negative.sum())


def add_outcome(
    evidence: SlotEvidence,
    slot: int,
    success: float,
    at: datetime,
    params: EvidenceParams = EvidenceParams(),
) -> SlotEvidence:
    """Return ``evidence`` with one outcome added (the input is left unchanged).

    Args:
        evidence: The stream's evidence so far.
        slot: Weekly slot of the outcome's local start.
        success: 0–1; adds ``success`` to the slot's successes and ``1 - success``
            to its failures.
        at: When it happened (timezone-aware); used only for fading, so outcomes
            may arrive in any order and give the same sums.
        params: Learner parameters (the half-life).

    >>> from datetime import UTC, datetime
    >>> ev = add_outcome(SlotEvidence(), 33, 0.75, datetime(2026, 3, 2, 9, tzinfo=UTC))
    >>> float(ev.positive[33]), float(ev.negative[33])
    (0.75, 0.25)

    """
    if not 0 <= slot < SLOTS_PER_WEEK:
        raise InputError(f"slot index must be 0-167, got {slot}")
    success = float(success)
    if math.isnan(success) or not 0.0 <= success <= 1.0:
        raise InputError(f"success must be between 0 and 1, got {success!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError(f"a timezone-aware datetime is required, got {at.isoformat()}")
    moment = at.timestamp()
    result = evidence.copy()
    weight = 1.0
    if result.reference is None:
        result.reference = moment
    elif moment > result.reference:
        fade = _fade(moment - result.reference, params)
        result.positive *= fade
        result.negative *= fade
        result.reference = moment
    else:
        weight = _fade(result.reference - moment, params)
    result.positive[slot] += weight * success
    result.negative[slot] += weight * (1.0 - success)
    return result


def _fade(seconds: float, params: EvidenceParams) -> float:
    return float(0.5 ** (seconds / (params.half_life_days * _DAY)))


@lru_cache(maxsize=16)
def _kernel(hour_width: float, similar: float, other: float) -> np.ndarray:
    hours = np.arange(24, dtype=np.float64)
    distance = np.abs(hours[:, None] - hours[None, :])
    distance = np.minimum(distance, 24.0 - distance)
    by_hour = np.exp(-(distance**2) / (2.0 * hour_width**2))
    by_day = np.empty((7, 7))
    for a in range(7):
        for b in range(7):
            if a == b:
                by_day[a, b] = 1.0
            elif (a in _WEEKEND) == (b in _WEEKEND):
                by_day[a, b] = similar
            else:
                by_day[a, b] = other
    kernel = np.kron(by_day, by_hour)
    kernel.setflags(write=False)
    return kernel


def smoothing_kernel(params: EvidenceParams = EvidenceParams()) -> np.ndarray:
    """The 168 × 168 smoothing matrix ``K`` (read-only; ``K[i, i] == 1``)."""
    return _kernel(params.hour_width, params.similar_day_weight, params.other_day_weight)


def population_prior(neutral: float = 0.5) -> WeeklyArray:
    """The population prior: what calsync assumes before it knows a user.

    A gentle circadian curve around ``neutral``: lowest in the small hours
    (``neutral - 0.3`` at 03:00), rising through the morning to
    ``neutral + 0.05`` around 10:00–12:00, a post-lunch dip of a few
    hundredths around 14:00, a second, lower plateau in the late afternoon
    and a fall through the evening — the average alertness curve of
    chronobiology textbooks, deliberately shallow so one outcome outweighs
    it. Every day has the same curve, so the prior never prefers a day.

    >>> prior = population_prior()
    >>> round(float(prior[1 * 24 + 11]), 3) > round(float(prior[1 * 24 + 8]), 3)
    True

    """
    hour = np.arange(24, dtype=np.float64)
    curve = (
        -0.30 * np.exp(-((hour - 3.0) ** 2) / (2 * 2.5**2))
        - 0.30 * np.exp(-((hour - 27.0) ** 2) / (2 * 2.5**2))
        + 0.05 * np.exp(-((hour - 11.0) ** 2) / (2 * 2.0**2))
        - 0.02 * np.exp(-((hour - 14.5) ** 2) / (2 * 1.0**2))
        + 0.03 * np.exp(-((hour - 16.5) ** 2) / (2 * 1.5**2))
    )
    return np.clip(np.tile(neutral + curve, 7), 0.0, 1.0)


def posterior_arrays(
    habits: Mapping[str, SlotEvidence],
    params: EvidenceParams = EvidenceParams(),
    *,
    prior: WeeklyArray | None = None,
    adjustments: Mapping[str, Sequence[Adjustment]] | None = None,
    merge: MergeParams = DEFAULT_MERGE,
) -> dict[str, WeeklyArray]:
    """Every task type's habit array from the user's evidence.

    Args:
        habits: Evidence by task type (every task type of the user).
        params: Learner parameters.
        prior: The population prior (default :func:`population_prior`).
        adjustments: Interpreter adjustments by task type, merged into that
            task type's prior (70/30) before the evidence is added.
        merge: The adjustment merge parameters.

    Returns:
        The 168-slot array of every task type in ``habits``, values in [0, 1].

    """
    kernel = smoothing_kernel(params)
    base = population_prior() if prior is None else np.asarray(prior, dtype=np.float64)
    smoothed = {name: (kernel @ ev.positive, kernel @ ev.negative) for name, ev in habits.items()}
    total_pos = sum((s[0] for s in smoothed.values()), np.zeros(SLOTS_PER_WEEK))
    total_neg = sum((s[1] for s in smoothed.values()), np.zeros(SLOTS_PER_WEEK))
    result: dict[str, WeeklyArray] = {}
    for name, (pos, neg) in smoothed.items():
        task_prior = base
        if adjustments and adjustments.get(name):
            task_prior = apply_adjustments(base, adjustments[name], merge)
        successes = pos + params.pool_weight * (total_pos - pos)
        failures = neg + params.pool_weight * (total_neg - neg)
        mean = (successes + params.prior_weight * task_prior) / (
            successes + failures + params.prior_weight
        )
        result[name] = np.clip(mean, 0.0, 1.0)
    return result


def energy_array(
    evidence: SlotEvidence,
    params: EvidenceParams = EvidenceParams(),
    *,
    neutral: float = 0.5,
    adjustments: Sequence[Adjustment] = (),
    merge: MergeParams = DEFAULT_MERGE,
) -> WeeklyArray:
    """The energy array: smoothed mean of the energy ratings, shrunk toward ``neutral``.

    Interpreter adjustments of the energy array (what the LLM sync produces)
    are merged into its prior, like the habit arrays'.
    """
    kernel = smoothing_kernel(params)
    prior = np.full(SLOTS_PER_WEEK, float(neutral))
    if adjustments:
        prior = apply_adjustments(prior, adjustments, merge)
    pos = kernel @ evidence.positive
    neg = kernel @ evidence.negative
    mean = (pos + params.energy_prior_weight * prior) / (pos + neg + params.energy_prior_weight)
    return np.clip(mean, 0.0, 1.0)


def evidence_from(
    outcomes: Iterable[tuple[int, float, datetime]], params: EvidenceParams = EvidenceParams()
) -> SlotEvidence:
    """Evidence of a stream of ``(slot, value, at)`` outcomes, in any order (a replay)."""
    evidence = SlotEvidence()
    for slot, value, at in outcomes:
        evidence = add_outcome(evidence, slot, value, at, params)
    return evidence
