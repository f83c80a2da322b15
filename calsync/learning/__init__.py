"""The pure learning and planning core.

Nothing in this package performs I/O or imports an SDK: it maps local times to
weekly slots, updates the 168-slot habit and energy arrays, merges LLM
adjustments, scores and picks slots, and summarises learning progress. Every
function takes its inputs explicitly (arrays, parameters, time zones) so the
core can be tested with plain values and frozen time.

The names below are imported on first use (:pep:`562`), so importing one
module of the core (``calsync.learning.slots``) costs only that module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from calsync.lazy import exports

if TYPE_CHECKING:
    from calsync.learning.habits import (
        Adjustment,
        LearningParams,
        MergeParams,
        apply_adjustments,
        behavioural_update,
        learning_rate,
        neutral_array,
    )
    from calsync.learning.planner import Period, SlotChoice, find_optimal_slot, slot_scores
    from calsync.learning.progress import (
        LearningProgress,
        TaskProgress,
        learning_progress,
        maturity,
    )
    from calsync.learning.slots import (
        DAY_NAMES,
        SLOTS_PER_WEEK,
        get_weekly_index,
        slot_label,
        slot_of,
    )

_MODULES = {
    "calsync.learning.habits": (
        "Adjustment",
        "LearningParams",
        "MergeParams",
        "apply_adjustments",
        "behavioural_update",
        "learning_rate",
        "neutral_array",
    ),
    "calsync.learning.planner": ("Period", "SlotChoice", "find_optimal_slot", "slot_scores"),
    "calsync.learning.progress": (
        "LearningProgress",
        "TaskProgress",
        "learning_progress",
        "maturity",
    ),
    "calsync.learning.slots": (
        "DAY_NAMES",
        "SLOTS_PER_WEEK",
        "get_weekly_index",
        "slot_label",
        "slot_of",
    ),
}
#: Where each public name lives (imported on first access).
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "DAY_NAMES",
    "SLOTS_PER_WEEK",
    "Adjustment",
    "LearningParams",
    "LearningProgress",
    "MergeParams",
    "Period",
    "SlotChoice",
    "TaskProgress",
    "apply_adjustments",
    "behavioural_update",
    "find_optimal_slot",
    "get_weekly_index",
    "learning_progress",
    "learning_rate",
    "maturity",
    "neutral_array",
    "slot_label",
    "slot_of",
    "slot_scores",
]


__getattr__, __dir__ = exports(__name__, _LAZY, globals())
