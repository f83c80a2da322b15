"""PNG rendering of a 168-slot week (the optional ``calsync[plot]`` extra).

matplotlib is imported inside :func:`heatmap_png` only, so calsync runs
without it; the figure is drawn on matplotlib's non-interactive Agg canvas
through the object API (no ``pyplot``, no global state, safe in a daemon
and in threads).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from calsync.errors import InputError
from calsync.learning.slots import DAY_NAMES, SLOTS_PER_WEEK, week_rows
from calsync.secrets import write_atomically

# Half-range of the colour scale when every value is neutral (nothing learned yet).
_FLAT_REACH = 0.05
# Cells at least this far from neutral are labelled with their value.
_LABEL_FROM = 0.01


def heatmap_png(
    values: np.ndarray,
    path: Path,
    title: str,
    neutral: float = 0.5,
    week_start: str = "monday",
) -> Path:
    """Draw a 168-slot array as a 7 × 24 week heatmap and save it as a PNG.

    Rows are Monday (top) to Sunday — Sunday to Saturday with ``week_start``
    ``"sunday"`` — columns the local hours 0–23. The
    diverging colormap (red below, green above) is centred on ``neutral``
    and stretches symmetrically to the value farthest from it, like the
    terminal heatmap, so early small differences show; the colour bar gives
    the numbers. The file is written atomically, mode 0600
    (:func:`calsync.secrets.write_atomically`; directories are created 0700).

    Args:
        values: 168 values (or a 7 × 24 grid), slot ``day * 24 + hour``, day 0 = Sunday.
        path: Where to write the PNG.
        title: Title above the grid (e.g. the task type).
        neutral: The value drawn as the colormap's centre.
        week_start: ``"monday"`` (the weekly targets' order) or ``"sunday"``.

    Returns:
        ``path``.

    Raises:
        InputError: matplotlib is missing (install ``calsync[plot]``), the
            array does not hold 168 finite numbers, or ``path`` cannot be written.

    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.colors import CenteredNorm
        from matplotlib.figure import Figure
    except ImportError as err:
        raise InputError("drawing a PNG needs matplotlib: pip install 'calsync[plot]'") from err

    grid = np.asarray(values, dtype=float)
    if grid.size != SLOTS_PER_WEEK:
        raise InputError(f"a week has {SLOTS_PER_WEEK} slots, got {grid.size} values")
    if not np.isfinite(grid).all() or not np.isfinite(neutral):
        raise InputError("the heatmap values must be finite numbers")
    days = week_rows(week_start)
    grid = grid.reshape(7, 24)[days]
    reach = float(np.abs(grid - neutral).max())
    norm = CenteredNorm(vcenter=neutral, halfrange=reach if reach > 1e-9 else _FLAT_REACH)

    figure = Figure(figsize=(11, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(grid, cmap="RdYlGn", norm=norm, aspect="auto", interpolation="nearest")
    axes.set_title(title)
    axes.set_xlabel("hour of day (local time)")
    axes.set_ylabel("day of week")
    axes.set_xticks(range(24), [f"{hour:02d}" for hour in range(24)])
    axes.set_yticks(range(7), [DAY_NAMES[day] for day in days])
    axes.set_xticks(np.arange(-0.5, 24, 1), minor=True)
    axes.set_yticks(np.arange(-0.5, 7, 1), minor=True)
    axes.grid(which="minor", color="white", linewidth=0.8)
    axes.tick_params(which="minor", length=0)
    # Learned cells carry their value; neutral ones stay quiet.
    for day, hour in zip(*np.nonzero(np.abs(grid - neutral) >= _LABEL_FROM), strict=True):
        strong = abs(grid[day, hour] - neutral) > 0.6 * norm.halfrange
        axes.text(
            hour,
            day,
            f"{grid[day, hour]:.2f}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if strong else "black",
        )
    bar = figure.colorbar(image, ax=axes, fraction=0.04, pad=0.02)
    bar.set_label(f"value (neutral {neutral:.2f})")
    bar.ax.axhline(neutral, color="black", linewidth=0.8)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    try:
        write_atomically(path, buffer.getvalue())
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror or err}") from err
    return path
