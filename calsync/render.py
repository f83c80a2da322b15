"""Text rendering for the terminal: the 7 × 24 heatmap and progress summaries.

Pure functions from values to strings; the command line decides where they go.
Names and titles (task types, users) are shown with control characters
neutralised (:func:`calsync.text.printable`): only the heatmap's own colour
codes ever reach the terminal.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

import numpy as np

from calsync.learning.progress import LearningProgress
from calsync.learning.slots import DAY_NAMES, week_rows
from calsync.text import quote

# 256-colour palette from low (red) through neutral (yellow) to high (green).
_PALETTE = [196, 202, 208, 214, 220, 226, 190, 154, 118, 82, 46]
# Without colour, darker characters mean higher values.
_SHADES = " .:-=+*#%@"


def _cell(value: float, color: bool) -> str:
    value = min(1.0, max(0.0, float(value)))
    if color:
        code = _PALETTE[round(value * (len(_PALETTE) - 1))]
        return f"\x1b[48;5;{code}m  \x1b[0m"
    char = _SHADES[round(value * (len(_SHADES) - 1))]
    return char * 2


def heatmap(
    values: np.ndarray,
    title: str,
    color: bool,
    neutral: float = 0.5,
    week_start: str = "monday",
) -> str:
    """Render a 168-slot array as a week grid (rows Monday…Sunday, columns 00…23).

    Neutral is the middle shade; the scale stretches symmetrically to the
    largest distance from neutral, so early, small differences are visible
    and "above neutral" always looks darker (greener) than "below".
    ``week_start`` ``"sunday"`` puts Sunday first (the arrays' own order);
    the default, Monday, is the order of the weekly targets.
    """
    grid = np.asarray(values, dtype=float).reshape(7, 24)
    reach = float(np.abs(grid - neutral).max())
    flat = reach < 1e-9
    scaled = np.full_like(grid, 0.5) if flat else 0.5 + (grid - neutral) / (2 * reach)
    low, high = neutral - reach, neutral + reach
    lines = [
        quote(title),
        "      " + "".join(f"{h:<2d}" if h % 3 == 0 else "  " for h in range(24)),
    ]
    for day in week_rows(week_start):
        cells = "".join(_cell(v, color) for v in scaled[day])
        lines.append(f"{DAY_NAMES[day][:3]:<5} {cells}")
    steps = len(_PALETTE) if color else len(_SHADES)
    legend = "".join(_cell(v, color) for v in np.linspace(0, 1, steps))
    lines.append(f"      {low:.2f} {legend} {high:.2f}   (neutral {neutral:.2f} in the middle)")
    return "\n".join(lines)


def progress_text(progress: LearningProgress, user: str) -> str:
    """Render learning progress as a few readable lines."""
    lines = [
        f"user {quote(user)}: {progress.total_completions} completion(s) learned, "
        f"maturity {progress.maturity}"
    ]
    for task in progress.tasks:
        peaks = ", ".join(
            f"{slot} ({value:.2f})"
            for slot, value in zip(task.peak_slots, task.peak_values, strict=True)
        )
        lines.append(
            f"  {quote(task.task_type)}: {task.completion_count} completion(s); "
            f"best day {task.best_day or '—'}; peaks {peaks or '— (nothing learned yet)'}"
        )
    return "\n".join(lines)


def human_time(moment: datetime, now: datetime, tz: tzinfo) -> str:
    """An instant for people: how long ago or ahead, and the local time, no microseconds.

    ``3 min ago (Fri 04 Dec 19:20)``, ``in 2 h (Sat 05 Dec 08:00)``,
    ``just now (Fri 04 Dec 19:23)``.
    """
    seconds = (moment - now).total_seconds()
    size = abs(seconds)
    if size < 45:
        relative = "just now"
    else:
        if size < 90 * 60:
            amount = f"{max(1, round(size / 60))} min"
        elif size < 36 * 3600:
            amount = f"{round(size / 3600)} h"
        else:
            amount = f"{round(size / 86400)} day(s)"
        relative = f"in {amount}" if seconds > 0 else f"{amount} ago"
    return f"{relative} ({moment.astimezone(tz):%a %d %b %H:%M})"
