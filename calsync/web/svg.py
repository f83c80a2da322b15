"""SVG pictures for the web view: the learned week with its blocks, and small bar charts.

Drawn as strings: every text and attribute value that is not a number of
calsync's own goes through :func:`markupsafe.escape` (and
:func:`calsync.web.render.shown` for calendar text), so the result can be
embedded in a page as it is. No inline styles (the page's
Content-Security-Policy forbids them): colours are presentation attributes,
the rest is in ``static/style.css``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlencode

import numpy as np
from markupsafe import Markup, escape

from calsync.learning.slots import get_weekly_index
from calsync.text import bounded, printable
from calsync.web.views import Week, WeekAcceptance, WeekBlock

DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
LEFT, TOP, CELL_W, CELL_H = 44, 22, 104, 22
#: Outline colour of a block by its kind.
KIND_COLOURS = {
    "proposed": "#6a3fb5",
    "suggested": "#1f5fbf",
    "kept": "#1b7a3a",
    "moved": "#b86e00",
    "declined": "#9a9a9a",
    "own": "#222222",
}


def shown(text: str, limit: int = 200) -> str:
    """Calendar or note text as shown: bounded, control characters as escapes (not HTML-escaped)."""
    return printable(bounded(text, limit))


def colour(value: float, neutral: float, spread: float) -> str:
    """A diverging colour: red below ``neutral``, white at it, green above."""
    t = max(-1.0, min(1.0, (value - neutral) / spread)) if spread > 0 else 0.0
    if t >= 0:
        r, g, b = 255 - int(190 * t), 255 - int(80 * t), 255 - int(170 * t)
    else:
        r, g, b = 255 - int(40 * -t), 255 - int(180 * -t), 255 - int(180 * -t)
    return f"#{r:02x}{g:02x}{b:02x}"


def _block_rect(block: WeekBlock, week: Week, link: str, selected: bool) -> str:
    """One block as a linked rectangle, clipped to its day."""
    start = block.start.astimezone(week.tz)
    day = (start.date() - week.monday).days
    if not 0 <= day < 7:
        return ""
    day_end = datetime.combine(start.date() + timedelta(days=1), datetime.min.time(), week.tz)
    end = min(block.end.astimezone(week.tz), day_end)
    top = start.hour + start.minute / 60
    hours = max((end - start) / timedelta(hours=1), 0.25)
    x = LEFT + day * CELL_W + 3
    y = TOP + top * CELL_H
    h = min(hours * CELL_H, TOP + 24 * CELL_H - y)
    label = escape(shown(block.task_type, 24))
    colour_ = KIND_COLOURS.get(block.kind, "#000000")
    title = f"{block.task_type} ({block.kind}) {start:%a %H:%M}-{end:%H:%M}"
    if block.title:
        title += f": {block.title}"
    chosen = " selected" if selected else ""
    return (
        f'<a href="{escape(link)}" class="block {escape(block.kind)}{chosen}" '
        f'data-key="{escape(block.key)}" data-kind="{escape(block.kind)}">'
        f"<title>{escape(shown(title))}</title>"
        f'<rect x="{x}" y="{y:.1f}" width="{CELL_W - 6}" height="{h:.1f}" rx="3" '
        f'fill="{colour_}" fill-opacity="{0.45 if selected else 0.18}" stroke="{colour_}" '
        f'stroke-width="{4 if selected else 2}"/>'
        f'<text x="{x + 4}" y="{y + min(h - 2, 12):.1f}" fill="{colour_}">{label}</text></a>'
    )


def _now_line(week: Week, now: datetime | None) -> str:
    if now is None:
        return ""
    local = now.astimezone(week.tz)
    day = (local.date() - week.monday).days
    if not 0 <= day < 7:
        return ""
    y = TOP + (local.hour + local.minute / 60) * CELL_H
    x = LEFT + day * CELL_W
    return (
        f'<line id="now" x1="{x}" x2="{x + CELL_W - 1}" y1="{y:.1f}" y2="{y:.1f}" '
        'stroke="#d0021b" stroke-width="2"><title>now</title></line>'
    )


def week_svg(
    week: Week, links: dict[str, str], selected: str | None = None, now: datetime | None = None
) -> Markup:
    """The 7 × 24 learned week (Monday first, hours down) with the week's blocks on it.

    ``links`` maps a block's key to the URL that opens its *why*; the block
    ``selected`` (a key) is highlighted; a red line marks ``now``.
    """
    values = np.asarray(week.values, dtype=float)
    spread = max(float(np.max(np.abs(values - week.neutral))), 0.05)
    width, height = LEFT + 7 * CELL_W + 2, TOP + 24 * CELL_H + 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="heatmap" class="heatmap" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(week.selected)}: learned week">'
    ]
    for col, name in enumerate(DAY_LABELS):
        date = week.monday + timedelta(days=col)
        parts.append(
            f'<text class="day" x="{LEFT + col * CELL_W + CELL_W / 2:.0f}" y="15" '
            f'text-anchor="middle">{name} {date:%d %b}</text>'
        )
    for hour in range(24):
        parts.append(
            f'<text class="hour" x="{LEFT - 6}" y="{TOP + hour * CELL_H + 13}" '
            f'text-anchor="end">{hour:02d}</text>'
        )
    cells = []
    for col in range(7):
        day = (col + 1) % 7  # calsync days: Sunday = 0
        x = LEFT + col * CELL_W
        for hour in range(24):
            value = float(values[get_weekly_index(day, hour)])
            cells.append(
                f'<rect class="cell" x="{x}" y="{TOP + hour * CELL_H}" width="{CELL_W - 1}" '
                f'height="{CELL_H - 1}" fill="{colour(value, week.neutral, spread)}">'
                f"<title>{DAY_LABELS[col]} {hour:02d}:00 = {value:.2f}</title></rect>"
            )
    parts.append('<g class="cells">' + "".join(cells) + "</g>")
    parts.append('<g class="blocks">')
    parts += [_block_rect(b, week, links.get(b.key, "#"), b.key == selected) for b in week.blocks]
    parts.append("</g>" + _now_line(week, now) + "</svg>")
    return Markup("".join(parts))  # noqa: S704 - every foreign value above is escaped


def acceptance_svg(weeks: Sequence[WeekAcceptance], last: int = 12) -> Markup:
    """Acceptance (kept where calsync put them) per calendar week, as small bars."""
    shown_weeks = list(weeks)[-last:]
    bar, gap, height = 28, 6, 80
    width = max(1, len(shown_weeks)) * (bar + gap) + gap
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="acceptance" class="chart" '
        f'viewBox="0 0 {width} {height + 30}" width="{width}" height="{height + 30}" role="img" '
        'aria-label="acceptance per week">'
    ]
    for index, w in enumerate(shown_weeks):
        rate = w.rate or 0.0
        x = gap + index * (bar + gap)
        h = max(1.0, rate * height)
        parts.append(
            f'<rect class="bar" x="{x}" y="{height - h:.1f}" width="{bar}" height="{h:.1f}" '
            f'fill="#1b7a3a"><title>week of {w.monday:%d %b}: {rate:.0%} kept '
            f"({w.kept} kept, {w.moved} moved, {w.declined} declined)</title></rect>"
            f'<text x="{x + bar / 2:.0f}" y="{height + 12}" text-anchor="middle" '
            f'class="axis">{w.monday:%d.%m}</text>'
            f'<text x="{x + bar / 2:.0f}" y="{height + 25}" text-anchor="middle" '
            f'class="axis">{rate:.0%}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and dates only


def why_link(path: str, selected: str, monday: str, key: str) -> str:
    """The URL that opens a block's *why* on the week page."""
    return f"{path}?{urlencode({'task': selected, 'week': monday, 'why': key})}#why"
