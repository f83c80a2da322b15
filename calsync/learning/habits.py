"""Behavioural updates and the LLM adjustment merge on 168-slot arrays.

Arrays are ``numpy`` vectors of 168 floats in [0, 1], neutral at 0.5. Every
function here is pure: it returns a new array and never changes its input.

Behavioural update (one completion with ``success`` in [0, 1])::

    lr  = base_rate / (1 + completion_count * rate_decay)     # 0.2 / (1 + n * 0.05)
    new = current * (1 - lr) + success * lr
    completion_count += 1

LLM adjustment merge, for every slot an adjustment covers::

    modifier = clamp(modifier, modifier_min, modifier_max)    # 0.5 … 1.5
    value    = clamp(value * 0.7 + (value * modifier) * 0.3, 0, 1)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from calsync.errors import AdjustmentError, InputError
from calsync.learning.slots import DAY_NAMES, SLOTS_PER_WEEK

#: A 168-slot weekly array.
WeeklyArray = npt.NDArray[np.float64]

#: Day patterns an adjustment may use besides a single day name.
DAY_GROUPS: dict[str, tuple[int, ...]] = {
    "all": tuple(range(7)),
    "weekdays": (1, 2, 3, 4, 5),
    "weekends": (0, 6),
}


@dataclass(frozen=True)
class LearningParams:
    """Parameters of the behavioural (EMA) update.

    Attributes:
        base_rate: Learning rate of the first completion (0.2).
        rate_decay: How fast the rate shrinks per completion (0.05).

    """

    base_rate: float = 0.2
    rate_decay: float = 0.05


@dataclass(frozen=True)
class MergeParams:
    """Parameters of the behavioural/LLM merge.

    Attributes:
        behavioural_weight: Weight of the current (behavioural) value (0.7).
        llm_weight: Weight of the LLM-modified value (0.3).
        modifier_min: Smallest modifier accepted; lower ones are clamped (0.5).
        modifier_max: Largest modifier accepted; higher ones are clamped (1.5).
        max_sync_change: Largest combined change of one merge (one sync) on any
            slot, as a share of the slot's value (0.5: at most ±50 %), whatever
            the number of adjustments covering it.

    """

    behavioural_weight: float = 0.7
    llm_weight: float = 0.3
    modifier_min: float = 0.5
    modifier_max: float = 1.5
    max_sync_change: float = 0.5


def neutral_array(value: float = 0.5) -> WeeklyArray:
    """Return a fresh 168-slot array filled with the neutral ``value``."""
    return np.full(SLOTS_PER_WEEK, float(value), dtype=np.float64)


def _check_array(array: WeeklyArray) -> None:
    if array.shape != (SLOTS_PER_WEEK,):
        raise InputError(f"a weekly array has {SLOTS_PER_WEEK} slots, got shape {array.shape}")


def _check_unit(name: str, value: float) -> float:
    value = float(value)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InputError(f"{name} must be between 0 and 1, got {value!r}")
    return value


def learning_rate(completion_count: int, params: LearningParams = LearningParams()) -> float:
    """Return the adaptive learning rate after ``completion_count`` completions."""
    if completion_count < 0:
        raise InputError(f"completion_count cannot be negative, got {completion_count}")
    return params.base_rate / (1.0 + completion_count * params.rate_decay)


def behavioural_update(
    array: WeeklyArray,
    slot: int,
    value: float,
    completion_count: int,
    params: LearningParams = LearningParams(),
) -> tuple[WeeklyArray, int]:
    """Apply one completion to a habit (or energy) array.

    Args:
        array: The current 168-slot array (left unchanged).
        slot: Weekly index of the completion's local start.
        value: Success (or energy after the task) in [0, 1].
        completion_count: Updates this array has had so far.
        params: Learning-rate parameters.

    Returns:
        The updated copy and the new count (``completion_count + 1``).

    >>> arr = neutral_array(); arr[33] = 0.6
    >>> new, n = behavioural_update(arr, 33, 0.9, 0)
    >>> round(float(new[33]), 6), n
    (0.66, 1)

    """
    _check_array(array)
    if not 0 <= slot < SLOTS_PER_WEEK:
        raise InputError(f"slot index must be 0-167, got {slot}")
    value = _check_unit("success", value)
    lr = learning_rate(completion_count, params)
    updated = array.copy()
    updated[slot] = min(1.0, max(0.0, updated[slot] * (1.0 - lr) + value * lr))
    return updated, completion_count + 1


@dataclass(frozen=True)
class Adjustment:
    """A slot modifier proposed by an interpreter (LLM or rules).

    Attributes:
        day_pattern: ``all``, ``weekdays``, ``weekends`` or a day name (``tuesday``).
        hour_range: Hours 0–23 the adjustment covers.
        modifier: Multiplier for the covered slots (clamped on application).
        reason: Why, in words (kept for the audit log).

    """

    day_pattern: str
    hour_range: tuple[int, ...]
    modifier: float
    reason: str = ""

    def __post_init__(self) -> None:
        pattern = str(self.day_pattern).strip().lower()
        if pattern not in DAY_GROUPS and pattern not in _DAY_BY_NAME:
            allowed = ", ".join([*DAY_GROUPS, *_DAY_BY_NAME])
            raise AdjustmentError(f"unknown day_pattern {self.day_pattern!r} (allowed: {allowed})")
        hours = tuple(self.hour_range)
        if not hours:
            raise AdjustmentError("hour_range must name at least one hour")
        for hour in hours:
            if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
                raise AdjustmentError(f"hour {hour!r} in hour_range is outside 0-23")
        try:
            modifier = float(self.modifier)
        except (TypeError, ValueError) as err:
            raise AdjustmentError(f"modifier must be a number, got {self.modifier!r}") from err
        if math.isnan(modifier) or math.isinf(modifier):
            raise AdjustmentError(f"modifier must be a finite number, got {self.modifier!r}")
        object.__setattr__(self, "day_pattern", pattern)
        object.__setattr__(self, "hour_range", hours)
        object.__setattr__(self, "modifier", modifier)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Adjustment:
        """Build an adjustment from a dict such as an interpreter's JSON output."""
        missing = [k for k in ("day_pattern", "hour_range", "modifier") if k not in data]
        if missing:
            raise AdjustmentError(f"adjustment is missing {', '.join(missing)}")
        hours = data["hour_range"]
        if isinstance(hours, str | bytes) or not isinstance(hours, Iterable):
            raise AdjustmentError(f"hour_range must be a list of hours, got {hours!r}")
        return cls(
            day_pattern=str(data["day_pattern"]),
            hour_range=tuple(hours),
            modifier=data["modifier"],
            reason=str(data.get("reason", "")),
        )

    def to_mapping(self) -> dict[str, Any]:
        """Return the adjustment as a JSON-ready dict."""
        return {
            "day_pattern": self.day_pattern,
            "hour_range": list(self.hour_range),
            "modifier": self.modifier,
            "reason": self.reason,
        }

    def days(self) -> tuple[int, ...]:
        """Return the calsync day numbers (0 = Sunday) the pattern covers."""
        if self.day_pattern in DAY_GROUPS:
            return DAY_GROUPS[self.day_pattern]
        return (_DAY_BY_NAME[self.day_pattern],)

    def slots(self) -> list[int]:
        """Return every weekly index the adjustment covers."""
        return sorted({day * 24 + hour for day in self.days() for hour in self.hour_range})


_DAY_BY_NAME = {name.lower(): number for number, name in enumerate(DAY_NAMES)}


def apply_adjustments(
    array: WeeklyArray,
    adjustments: Iterable[Adjustment | Mapping[str, Any]],
    params: MergeParams = MergeParams(),
) -> WeeklyArray:
    """Merge interpreter adjustments into an array (70 % behaviour, 30 % LLM).

    All adjustments are validated before any is applied, so a bad one leaves
    the array untouched and raises :class:`AdjustmentError`. Each is clamped
    to the modifier range, and their *combined* effect on any slot to
    ``±max_sync_change`` of its value: twenty stacked ×1.15 merges move a
    slot by at most 50 % (by default), not by 1.15^20.
    """
    _check_array(array)
    parsed = [a if isinstance(a, Adjustment) else Adjustment.from_mapping(a) for a in adjustments]
    result = array.copy()
    for adjustment in parsed:
        modifier = min(params.modifier_max, max(params.modifier_min, adjustment.modifier))
        slots = adjustment.slots()
        values = result[slots]
        merged = values * params.behavioural_weight + (values * modifier) * params.llm_weight
        result[slots] = np.clip(merged, 0.0, 1.0)
    cap = params.max_sync_change
    return np.clip(np.clip(result, array * (1.0 - cap), array * (1.0 + cap)), 0.0, 1.0)
