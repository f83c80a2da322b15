"""Metrics of the learning benchmark (pure numpy; definitions in README.md).

Two kinds of items are scored:

* a **placed block** (one block ``plan_blocks`` put in the calendar): its
  ``regret`` and whether it was ``accepted`` (completed at the suggested time);
* a **task-week** (one task type in one simulated week): how the learner
  *ranks* the task's feasible hour slots against the hidden propensity —
  ``hit@1``, ``recall@3`` and ``ndcg@5``.

Each user's items are averaged per period first; a period's figure is the mean
of those per-user means, with a 95 % confidence interval over users (normal
approximation, ``mean ± 1.96 · sd / √n``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

#: Metrics scored per placed block.
BLOCK_METRICS = ("regret", "acceptance", "completed")
#: Metrics scored per task-week (ranking of the feasible hour slots).
RANKING_METRICS = ("hit@1", "recall@3", "ndcg@5")
#: Every metric, in report order.
METRICS = ("regret", "hit@1", "recall@3", "ndcg@5", "acceptance", "completed")

#: Scores closer than this are equal (the planner rounds block scores to 12 places).
TIE = 1e-9

#: ``(name, predicate(week, shift_week))``; weeks count from 0 (week 0 is "week 1").
Period = tuple[str, Callable[[int, int | None], bool]]

PERIODS: tuple[Period, ...] = (
    ("week 1", lambda week, shift: week == 0),
    ("weeks 2-4", lambda week, shift: 1 <= week <= 3),
    ("month 2+", lambda week, shift: week >= 4),
    ("after shift", lambda week, shift: shift is not None and shift <= week < shift + 4),
)


def block_means(per_slot: np.ndarray, slots: np.ndarray, length: int) -> np.ndarray:
    """Mean of ``per_slot[slots[i:i + length]]`` for every start ``i`` (NaN where it does not fit).

    This is how the planner scores a block: the mean over its quarter hours of
    the value of each quarter's local hour slot.
    """
    values = per_slot[slots]
    sums = np.concatenate(([0.0], np.cumsum(values)))
    out = np.full(len(slots), np.nan)
    fit = max(0, len(slots) - length + 1)
    out[:fit] = (sums[length : length + fit] - sums[:fit]) / length
    return out


def learner_order(scores: np.ndarray) -> np.ndarray:
    """Candidate indices best first by the learner's score, earliest first among ties.

    Candidates are given in chronological order, so the stable sort breaks ties
    the way the planner's ``argmax`` does (earliest start wins).
    """
    return np.argsort(-np.round(scores, 12), kind="stable")


def ranking_metrics(
    scores: np.ndarray, truth: np.ndarray, recall_k: int = 3, ndcg_k: int = 5
) -> dict[str, float]:
    """hit@1, recall@k and NDCG@k of one task-week.

    Args:
        scores: The learner's planner score of each feasible hour slot
            (chronological order).
        truth: The hidden propensity of the same blocks.
        recall_k: Depth of recall (3).
        ndcg_k: Depth of NDCG (5).

    Returns:
        ``hit@1``: the learner's top slot is a best slot (within :data:`TIE`);
        ``recall@3``: a best slot is among the learner's top 3;
        ``ndcg@5``: DCG of the learner's top 5 over the ideal DCG, with gains
        the min-max normalised true values ``(v − min v) / (max v − min v)``
        (1.0 when all values are equal).

    """
    if len(scores) != len(truth) or not len(truth):
        raise ValueError("scores and truth must be non-empty and of equal length")
    order = learner_order(scores)
    best = truth >= truth.max() - TIE
    span = float(truth.max() - truth.min())
    gains = (truth - truth.min()) / span if span > TIE else np.ones_like(truth)
    k = min(ndcg_k, len(truth))
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = float(np.sort(gains)[::-1][:k] @ discounts)
    dcg = float(gains[order[:k]] @ discounts)
    return {
        "hit@1": float(best[order[0]]),
        f"recall@{recall_k}": float(best[order[:recall_k]].any()),
        f"ndcg@{ndcg_k}": dcg / ideal if ideal > 0 else 1.0,
    }


def mean_ci(values: Sequence[float], z: float = 1.96) -> dict[str, Any]:
    """Mean and normal-approximation 95 % interval (``None`` bounds for fewer than 2 values)."""
    data = np.asarray(values, dtype=float)
    n = len(data)
    if n == 0:
        return {"mean": None, "low": None, "high": None, "n": 0}
    mean = float(data.mean())
    if n < 2:
        return {"mean": round(mean, 6), "low": None, "high": None, "n": 1}
    half = z * float(data.std(ddof=1)) / math.sqrt(n)
    return {
        "mean": round(mean, 6),
        "low": round(mean - half, 6),
        "high": round(mean + half, 6),
        "n": n,
    }


def per_user_means(
    user: Mapping[str, Any], predicate: Callable[[int, int | None], bool]
) -> dict[str, float]:
    """One user's mean of every metric over the items of one period (absent metrics omitted)."""
    shift = user.get("shift_week")
    out: dict[str, float] = {}
    for kind, names in (("blocks", BLOCK_METRICS), ("rankings", RANKING_METRICS)):
        items = [item for item in user[kind] if predicate(item["week"], shift)]
        if items:
            for name in names:
                out[name] = float(np.mean([item[name] for item in items]))
    return out


def aggregate(
    users: Iterable[Mapping[str, Any]], periods: Sequence[Period] = PERIODS
) -> dict[str, dict[str, Any]]:
    """Per period and metric: mean over users of the per-user means, with its 95 % CI.

    Args:
        users: One learner's per-user records (``blocks``, ``rankings``, ``shift_week``).
        periods: The periods to report.

    Returns:
        ``{period: {metric: {"mean", "low", "high", "n"}}}``; a period no user
        has items in is left out.

    """
    users = list(users)
    result: dict[str, dict[str, Any]] = {}
    for name, predicate in periods:
        means = [per_user_means(user, predicate) for user in users]
        row = {m: mean_ci([u[m] for u in means if m in u]) for m in METRICS}
        if any(cell["n"] for cell in row.values()):
            result[name] = row
    return result


def paired_difference(
    first: Sequence[Mapping[str, Any]],
    second: Sequence[Mapping[str, Any]],
    metric: str = "regret",
    periods: Sequence[Period] = PERIODS,
) -> dict[str, dict[str, Any]]:
    """Per period, the mean over users of ``first − second`` with its 95 % CI.

    Both learners met the same users (same index order), so the per-user
    difference removes the between-user spread that makes side-by-side
    intervals overlap.
    """
    if len(first) != len(second):
        raise ValueError("paired records must cover the same users")
    result: dict[str, dict[str, Any]] = {}
    for name, predicate in periods:
        diffs = []
        for a, b in zip(first, second, strict=True):
            mean_a = per_user_means(a, predicate).get(metric)
            mean_b = per_user_means(b, predicate).get(metric)
            if mean_a is not None and mean_b is not None:
                diffs.append(mean_a - mean_b)
        if diffs:
            result[name] = mean_ci(diffs)
    return result


def recovery(users: Iterable[Mapping[str, Any]], before: int = 3, after: int = 5) -> dict[str, Any]:
    """How regret recovers after a change of routine (users with a shift only).

    ``pre`` is each shifted user's mean block regret over the ``before`` weeks
    before the shift week; for ``k = 0 … after - 1``, ``week +k`` is the mean
    regret of the shift week plus ``k`` and ``week +k − pre`` the paired
    difference, each averaged over the users that have that week (mean and
    95 % CI). "Back to the pre-change regret within 3 weeks" reads as
    ``week +3 − pre`` ≤ 0 (the fourth week of the new routine, after three
    weeks of evidence from it).
    """
    pre_values: list[float] = []
    weeks: dict[int, list[float]] = {k: [] for k in range(after)}
    diffs: dict[int, list[float]] = {k: [] for k in range(after)}
    for user in users:
        shift = user.get("shift_week")
        if shift is None:
            continue
        by_week: dict[int, list[float]] = {}
        for block in user["blocks"]:
            by_week.setdefault(block["week"], []).append(block["regret"])
        earlier = [v for w in range(shift - before, shift) for v in by_week.get(w, [])]
        if not earlier:
            continue
        pre = float(np.mean(earlier))
        pre_values.append(pre)
        for k in range(after):
            values = by_week.get(shift + k)
            if values:
                weeks[k].append(float(np.mean(values)))
                diffs[k].append(float(np.mean(values)) - pre)
    return {
        "pre": mean_ci(pre_values),
        "weeks": [
            {"k": k, "regret": mean_ci(weeks[k]), "minus_pre": mean_ci(diffs[k])}
            for k in range(after)
            if weeks[k]
        ],
    }


def learning_curve(
    users: Iterable[Mapping[str, Any]], metric: str = "regret"
) -> list[dict[str, Any]]:
    """Week by week, the mean block ``metric`` over users in their first routine.

    A user counts in week ``w`` when their routine has not changed by then
    (no shift, or the shift comes later), so the curve shows how a learner
    improves with evidence from one routine, undisturbed by the changes
    :func:`recovery` measures. Returns ``[{"week": w, **mean_ci}]`` for every
    week some user has blocks in (``week`` counts from 0).
    """
    by_week: dict[int, list[float]] = {}
    for user in users:
        shift = user.get("shift_week")
        values: dict[int, list[float]] = {}
        for block in user["blocks"]:
            if shift is None or block["week"] < shift:
                values.setdefault(block["week"], []).append(block[metric])
        for week, items in values.items():
            by_week.setdefault(week, []).append(float(np.mean(items)))
    return [{"week": week, **mean_ci(by_week[week])} for week in sorted(by_week)]
