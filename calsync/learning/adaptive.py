"""A learner that learns how much to borrow: two memories, agreement-weighted pooling.

:mod:`calsync.learning.evidence` borrows at fixed weights: every other task
type's evidence counts ``pool_weight`` in every slot, forever, and one
half-life serves both "remember" and "follow a change". This module keeps
the same sufficient statistics — decayed per-slot successes and failures,
:class:`~calsync.learning.evidence.SlotEvidence` — twice per stream, and
decides from the data how much of the rest to use:

* **Two memories.** Each stream keeps a *long* memory (half-life
  ``long_half_life_days``) and a *recent* one (``short_half_life_days``),
  fed the same outcomes. Every outcome weighs at least as much in the long
  memory as in the recent one, so ``long − recent`` is the older evidence.
  A **change detector** scores, before each new outcome is added, how much
  better the recent memory predicted it than the long one (log-likelihood,
  summed over all the user's task types as a CUSUM that never drops below
  0, fading with ``score_half_life_days``). While the routine holds the long
  memory predicts better and the score stays near 0; when it exceeds
  ``change_threshold`` nats a change of routine is taken as detected and
  every long memory keeps its recent part and only ``change_keep`` of the
  older evidence — a steady routine keeps months of evidence, a new one is
  followed within a couple of weeks.
* **Borrowing from other task types as far as they agree.** Before each
  outcome of a task type is added, the learner also scores, for every other
  task type, whether borrowing that one's rate in the slot (at full weight)
  would have predicted it better than not borrowing. The pair's borrowing
  weight is the logistic of that score (``agreement_prior`` before any
  evidence, one logit unit per ``agreement_scale`` nats): task types with
  unrelated or opposed best times stop borrowing from each other as their
  outcomes show it, agreeing ones borrow more. What is borrowed is a
  **prior**, not evidence: the other task type's rate in a slot, worth at
  most ``pool_strength`` outcomes (saturating in how much it knows there),
  so a task type's own outcomes outweigh it as they accumulate instead of
  sharing every slot with the others for good.
* **Neighbouring hours and similar days** are borrowed the same way: the
  kernel-smoothed evidence around a slot (``hour_width``,
  ``similar_day_weight``, ``other_day_weight``) is a prior worth at most
  ``neighbour_strength`` outcomes, while the slot's own outcomes count in full.
* **The user's own past calendar.** Sessions the user logged before calsync
  started (read on the first sync) are outcomes like any other; the long
  memory keeps them for months, so they act as that task type's own prior
  until calsync's blocks tell otherwise.

The posterior mean of a slot is::

    habit = (S + n_nb · r_nb + Σ_o n_o · r_o + m0 · prior)
            / (S + F + n_nb + Σ_o n_o + m0)

with ``S``, ``F`` the slot's own (long-memory) successes and failures,
``r_nb`` the neighbourhood's rate (worth ``n_nb``), ``r_o`` another task
type's rate (worth ``n_o``: its borrowing weight times its capped evidence)
and the population prior (worth ``m0``, interpreter adjustments merged into
it as in the evidence learner).

Everything is pure (numpy only). The state is a deterministic function of
the outcomes *in the order they were learned* (the scores are prequential;
unlike :mod:`calsync.learning.evidence` the order matters), so replaying an
update log in its order recomputes it — and every array — exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from calsync.errors import InputError
from calsync.learning.evidence import (
    DEFAULT_MERGE,
    EvidenceParams,
    SlotEvidence,
    add_outcome,
    population_prior,
    smoothing_kernel,
)
from calsync.learning.habits import Adjustment, MergeParams, WeeklyArray, apply_adjustments
from calsync.learning.slots import SLOTS_PER_WEEK

#: Keeps log-odds finite.
_EPS = 1e-6


@dataclass(frozen=True)
class AdaptiveParams:
    """Parameters of the adaptive learner (``[learning]`` ``adaptive_*`` keys).

    Attributes:
        prior_weight: Outcomes the population prior is worth in each slot (``m0``).
        hour_width: Width (hours) of the neighbourhood across hours.
        similar_day_weight: Weight of the same hour on a similar day in the neighbourhood.
        other_day_weight: Weight of the same hour on the other kind of day.
        neighbour_strength: Most outcomes the neighbourhood's rate is worth in a slot.
        pool_strength: Most outcomes another task type's rate is worth in a slot.
        agreement_prior: Borrowing weight of a pair of task types before any evidence (0–1).
        agreement_scale: Nats of predictive gain that move a pair's weight by one logit unit.
        long_half_life_days: Half-life of the long memory.
        short_half_life_days: Half-life of the recent memory.
        score_half_life_days: Half-life of the predictive scores (change and agreement).
        change_threshold: Nats by which the recent memory must out-predict the long
            one before the old evidence is discounted.
        change_keep: Share of the old evidence kept when a change is detected.

    """

    prior_weight: float = 1.0
    hour_width: float = 1.0
    similar_day_weight: float = 0.4
    other_day_weight: float = 0.1
    neighbour_strength: float = 6.0
    pool_strength: float = 2.0
    agreement_prior: float = 0.3
    agreement_scale: float = 0.05
    long_half_life_days: float = 84.0
    short_half_life_days: float = 4.0
    score_half_life_days: float = 14.0
    change_threshold: float = 1.0
    change_keep: float = 0.05

    def __post_init__(self) -> None:
        positive = (
            "prior_weight",
            "hour_width",
            "agreement_scale",
            "long_half_life_days",
            "short_half_life_days",
            "score_half_life_days",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("neighbour_strength", "pool_strength", "change_threshold"):
            if not getattr(self, name) >= 0:
                raise InputError(f"{name} must not be negative, got {getattr(self, name)!r}")
        for name in ("similar_day_weight", "other_day_weight", "agreement_prior", "change_keep"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"{name} must be between 0 and 1, got {getattr(self, name)!r}")
        if self.short_half_life_days > self.long_half_life_days:
            raise InputError("short_half_life_days must not exceed long_half_life_days")

    def long(self) -> EvidenceParams:
        """Evidence parameters of the long memory (its half-life and the neighbourhood)."""
        return self._evidence(self.long_half_life_days)

    def short(self) -> EvidenceParams:
        """Evidence parameters of the recent memory."""
        return self._evidence(self.short_half_life_days)

    def _evidence(self, half_life: float) -> EvidenceParams:
        return EvidenceParams(
            prior_weight=self.prior_weight,
            hour_width=self.hour_width,
            similar_day_weight=self.similar_day_weight,
            other_day_weight=self.other_day_weight,
            half_life_days=half_life,
        )


@dataclass
class TwoMemories:
    """One stream's evidence in both memories (the same outcomes, two half-lives)."""

    long: SlotEvidence = field(default_factory=SlotEvidence)
    short: SlotEvidence = field(default_factory=SlotEvidence)

    def copy(self) -> TwoMemories:
        """An independent copy."""
        return TwoMemories(self.long.copy(), self.short.copy())


def add(
    memories: TwoMemories,
    slot: int,
    success: float,
    at: datetime,
    params: AdaptiveParams = AdaptiveParams(),
) -> TwoMemories:
    """Return ``memories`` with one outcome added to both (the input is left unchanged).

    >>> from datetime import UTC, datetime
    >>> m = add(TwoMemories(), 33, 0.75, datetime(2026, 3, 2, 9, tzinfo=UTC))
    >>> float(m.long.positive[33]), float(m.short.negative[33])
    (0.75, 0.25)

    """
    return TwoMemories(
        add_outcome(memories.long, slot, success, at, params.long()),
        add_outcome(memories.short, slot, success, at, params.short()),
    )


@dataclass
class AdaptiveState:
    """Everything the adaptive learner knows about one user (a function of the outcomes).

    Attributes:
        streams: Both memories of every task type.
        change: Decayed log-likelihood by which the recent memory predicted the
            outcomes better than the long one (nats; a change of routine makes it grow).
        gains: Per ordered pair ``(task, other)``, the decayed log-likelihood by which
            borrowing ``other``'s rate predicted ``task``'s outcomes better than not.
        reference: POSIX time the scores are decayed to, or ``None``.
        changes: How many changes of routine were detected (for reports).

    """

    streams: dict[str, TwoMemories] = field(default_factory=dict)
    change: float = 0.0
    gains: dict[tuple[str, str], float] = field(default_factory=dict)
    reference: float | None = None
    changes: int = 0

    def copy(self) -> AdaptiveState:
        """An independent copy."""
        return AdaptiveState(
            {k: v.copy() for k, v in self.streams.items()},
            self.change,
            dict(self.gains),
            self.reference,
            self.changes,
        )


def _loglik(success: float, p: float) -> float:
    q = min(max(p, _EPS), 1.0 - _EPS)
    return success * math.log(q) + (1.0 - success) * math.log(1.0 - q)


def _own_rate(
    evidence: SlotEvidence, slot: int, kernel: np.ndarray, params: AdaptiveParams, prior: float
) -> tuple[float, float]:
    """One slot's rate from one memory alone (own outcomes + capped neighbourhood + prior).

    Returns the rate and the evidence behind it (own outcomes plus the
    neighbourhood's weight), the pseudo-count a borrower sees.
    """
    pos = float(evidence.positive[slot])
    neg = float(evidence.negative[slot])
    nb_pos = float(kernel[slot] @ evidence.positive) - pos
    nb_neg = float(kernel[slot] @ evidence.negative) - neg
    nb_n = nb_pos + nb_neg
    nb_rate = nb_pos / nb_n if nb_n > _EPS else 0.5
    ns = params.neighbour_strength
    nb_w = ns * nb_n / (nb_n + ns) if ns > 0 else 0.0
    m0 = params.prior_weight
    rate = (pos + nb_w * nb_rate + m0 * prior) / (pos + neg + nb_w + m0)
    return rate, pos + neg + nb_w


def agreement(state: AdaptiveState, task: str, other: str, params: AdaptiveParams) -> float:
    """How much ``task`` borrows from ``other`` (0–1): the logistic of their predictive gain.

    ``agreement_prior`` before any evidence; each ``agreement_scale`` nats by
    which borrowing ``other``'s rate predicted ``task``'s outcomes better (or
    worse) than not borrowing moves it one logit unit up (or down).
    """
    prior = min(max(params.agreement_prior, _EPS), 1.0 - _EPS)
    logit = math.log(prior / (1.0 - prior)) + state.gains.get((task, other), 0.0) / (
        params.agreement_scale
    )
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))


def observe(
    state: AdaptiveState,
    task: str,
    slot: int,
    success: float,
    at: datetime,
    params: AdaptiveParams = AdaptiveParams(),
    *,
    prior: WeeklyArray | None = None,
) -> AdaptiveState:
    """Return ``state`` with one outcome learned (the input is left unchanged).

    Before the outcome is added, every score is updated with how well each
    memory and each borrowing predicted it (a prequential score: the outcome
    is predicted from what was known before it):

    * ``change`` += log-likelihood under the recent memory − under the long one;
    * ``gains[(task, other)]`` += log-likelihood with ``other``'s rate borrowed
      at full weight − without (``other`` is every other task type with evidence).

    Scores fade with ``score_half_life_days``. When ``change`` exceeds
    ``change_threshold`` a change of routine is taken as detected: every
    task type's long memory keeps its recent part and ``change_keep`` of the
    older evidence, and ``change`` restarts from 0.

    Args:
        state: What is known so far.
        task: The outcome's task type (new ones are added).
        slot: Weekly slot of its local start.
        success: 0–1.
        at: When it happened (timezone-aware).
        params: Learner parameters.
        prior: The population prior (default :func:`population_prior`).

    """
    if not 0 <= slot < SLOTS_PER_WEEK:
        raise InputError(f"slot index must be 0-167, got {slot}")
    success = float(success)
    if math.isnan(success) or not 0.0 <= success <= 1.0:
        raise InputError(f"success must be between 0 and 1, got {success!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError(f"a timezone-aware datetime is required, got {at.isoformat()}")
    base = population_prior() if prior is None else np.asarray(prior, dtype=np.float64)
    kernel = smoothing_kernel(params.long())
    result = state.copy()
    moment = at.timestamp()
    weight = 1.0
    if result.reference is None:
        result.reference = moment
    elif moment > result.reference:
        fade = 0.5 ** ((moment - result.reference) / (params.score_half_life_days * 86_400.0))
        result.change *= fade
        result.gains = {k: v * fade for k, v in result.gains.items()}
        result.reference = moment
    else:
        weight = 0.5 ** ((result.reference - moment) / (params.score_half_life_days * 86_400.0))
    memories = result.streams.get(task, TwoMemories())
    cell_prior = float(base[slot])
    p_long, n_long = _own_rate(memories.long, slot, kernel, params, cell_prior)
    p_short, _ = _own_rate(memories.short, slot, kernel, params, cell_prior)
    if memories.long.total > 0:
        # A CUSUM: evidence for "the routine has changed" accumulates, never below 0.
        step = weight * (_loglik(success, p_short) - _loglik(success, p_long))
        result.change = max(0.0, result.change + step)
    # Borrowing adds another task type's rate as pseudo-outcomes to the long memory's slot.
    mass = n_long + params.prior_weight
    for other, theirs in state.streams.items():
        if other == task or theirs.long.total <= 0:
            continue
        rate, count = _own_rate(theirs.long, slot, kernel, params, cell_prior)
        ps = params.pool_strength
        borrowed = ps * count / (count + ps) if ps > 0 else 0.0
        with_other = (p_long * mass + borrowed * rate) / (mass + borrowed)
        gain = _loglik(success, with_other) - _loglik(success, p_long)
        result.gains[(task, other)] = result.gains.get((task, other), 0.0) + weight * gain
    result.streams[task] = add(memories, slot, success, at, params)
    if result.change > params.change_threshold:
        keep = params.change_keep
        for name, both in result.streams.items():
            long, short = _aligned(both, params)
            long.positive = short.positive + keep * np.maximum(long.positive - short.positive, 0.0)
            long.negative = short.negative + keep * np.maximum(long.negative - short.negative, 0.0)
            result.streams[name] = TwoMemories(long, both.short.copy())
        result.change = 0.0
        result.changes += 1
    return result


def _aligned(memories: TwoMemories, params: AdaptiveParams) -> tuple[SlotEvidence, SlotEvidence]:
    """Copies of the long and recent memory, the recent one decayed to the long one's reference."""
    long, short = memories.long.copy(), memories.short.copy()
    if long.reference is not None and short.reference is not None:
        gap = long.reference - short.reference
        if gap > 0:
            fade = 0.5 ** (gap / (params.short_half_life_days * 86_400.0))
            short.positive *= fade
            short.negative *= fade
            short.reference = long.reference
    return long, short


def adaptive_arrays(
    state: AdaptiveState,
    tasks: Sequence[str],
    params: AdaptiveParams = AdaptiveParams(),
    *,
    prior: WeeklyArray | None = None,
    adjustments: Mapping[str, Sequence[Adjustment]] | None = None,
    merge: MergeParams = DEFAULT_MERGE,
) -> dict[str, WeeklyArray]:
    """Every task type's habit array (see the module docstring).

    Per slot: the task type's own long-memory outcomes, the neighbourhood's
    rate worth at most ``neighbour_strength`` outcomes, every other task
    type's rate worth at most ``pool_strength`` outcomes times their
    :func:`agreement`, and the population prior worth ``prior_weight``
    (interpreter adjustments of the task type merged into it, 70/30).

    Args:
        state: What is known (:func:`observe`).
        tasks: The user's task types (those without evidence get the prior).
        params: Learner parameters.
        prior: The population prior (default :func:`population_prior`).
        adjustments: Interpreter adjustments by task type.
        merge: The adjustment merge parameters.

    Returns:
        The 168-slot array of every task type in ``tasks``, values in [0, 1].

    """
    base = population_prior() if prior is None else np.asarray(prior, dtype=np.float64)
    kernel = smoothing_kernel(params.long())
    ns, ps, m0 = params.neighbour_strength, params.pool_strength, params.prior_weight
    rates: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    own: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in tasks:
        memories = state.streams.get(name)
        if memories is None:
            continue
        pos, neg = memories.long.positive, memories.long.negative
        nb_pos = kernel @ pos - pos
        nb_neg = kernel @ neg - neg
        nb_n = nb_pos + nb_neg
        nb_rate = np.where(nb_n > _EPS, nb_pos / np.maximum(nb_n, _EPS), 0.5)
        nb_w = ns * nb_n / (nb_n + ns) if ns > 0 else np.zeros(SLOTS_PER_WEEK)
        own[name] = (pos + nb_w * nb_rate, neg + nb_w * (1.0 - nb_rate))
        rates[name] = (own[name][0] + m0 * base) / (pos + neg + nb_w + m0)
        counts[name] = pos + neg + nb_w
    result: dict[str, WeeklyArray] = {}
    for name in tasks:
        task_prior = base
        if adjustments and adjustments.get(name):
            task_prior = apply_adjustments(base, adjustments[name], merge)
        successes = np.zeros(SLOTS_PER_WEEK)
        failures = np.zeros(SLOTS_PER_WEEK)
        if name in own:
            successes, failures = own[name]
        for other in rates:
            if other == name:
                continue
            rho = agreement(state, name, other, params)
            borrowed = rho * (ps * counts[other] / (counts[other] + ps)) if ps > 0 else 0.0
            successes = successes + borrowed * rates[other]
            failures = failures + borrowed * (1.0 - rates[other])
        mean = (successes + m0 * task_prior) / (successes + failures + m0)
        result[name] = np.clip(mean, 0.0, 1.0)
    return result
