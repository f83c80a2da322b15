"""calsync: learns when you do each kind of work best and suggests blocks in your calendar.

The public Python API::

    import calsync
    cs = calsync.open("config.toml")          # or calsync.open() for the default location
    cs.record_completion("Deep Coding", start, success=0.9, energy_after=0.7)
    cs.habit("Deep Coding").values            # 168 floats, index = day * 24 + hour, Sunday = 0
    cs.find_optimal_slot("Deep Coding", timedelta(hours=2), free_periods)
    cs.progress()

The names are imported when first used (:pep:`562`): ``import calsync`` or
``import calsync.learning`` loads no configuration schema (pydantic), no
store (SQLAlchemy, Alembic) and no SDK, so the command line and the pure core
start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from calsync.lazy import exports

if TYPE_CHECKING:
    from calsync.config import Config, load_config
    from calsync.errors import CalsyncError
    from calsync.learning.habits import Adjustment
    from calsync.learning.planner import Period, SlotChoice
    from calsync.learning.slots import get_weekly_index
    from calsync.service import Calsync, RecordResult, WeeklyArrayView, open

__version__ = "0.1.0"

#: Where each public name lives (imported on first access).
_LAZY = {
    "Adjustment": "calsync.learning.habits",
    "Calsync": "calsync.service",
    "CalsyncError": "calsync.errors",
    "Config": "calsync.config",
    "Period": "calsync.learning.planner",
    "RecordResult": "calsync.service",
    "SlotChoice": "calsync.learning.planner",
    "WeeklyArrayView": "calsync.service",
    "get_weekly_index": "calsync.learning.slots",
    "load_config": "calsync.config",
    "open": "calsync.service",
}

__all__ = [
    "Adjustment",
    "Calsync",
    "CalsyncError",
    "Config",
    "Period",
    "RecordResult",
    "SlotChoice",
    "WeeklyArrayView",
    "__version__",
    "get_weekly_index",
    "load_config",
    "open",
]


__getattr__, __dir__ = exports(__name__, _LAZY, globals())
