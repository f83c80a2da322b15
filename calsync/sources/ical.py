"""iCalendar ``VEVENT`` to :class:`~calsync.model.Event`, shared by the iCalendar sources.

ICS feeds and CalDAV servers both end up with expanded ``VEVENT`` components
(one per occurrence); :func:`component_to_event` turns one into an event:

* UID, SUMMARY, DESCRIPTION, STATUS (``CANCELLED`` occurrences are dropped:
  ``None``), TRANSP, CATEGORIES, COLOR and ``X-CALSYNC-ID`` (the suggestion
  calsync wrote, making the event *owned*);
* ``RECURRENCE-ID`` of an instance of a recurring series, as its original
  start in UTC ISO text (a date for all-day series);
* all-day events as ``date`` values (end exclusive; one day when DTEND and
  DURATION are missing), floating times read in the user's zone.

A component that cannot be converted is skipped with a warning naming its
UID (never its summary or description).
"""

from __future__ import annotations

import logging
from collections.abc import Container
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from calsync.errors import CalsyncError
from calsync.model import Event, EventStatus, Transparency
from calsync.text import quote

logger = logging.getLogger(__name__)


def localize(value: Any, tz: tzinfo) -> datetime | date:
    """A decoded DATE or DATE-TIME: floating times are read in ``tz``, the rest kept.

    Raises:
        TypeError: ``value`` is neither (a PERIOD, a malformed property).

    """
    if isinstance(value, datetime):
        return value.replace(tzinfo=tz) if value.tzinfo is None else value
    if isinstance(value, date):
        return value
    raise TypeError(f"not a date or date-time: {type(value).__name__}")


def _categories(component: Any) -> tuple[str, ...]:
    raw = component.get("CATEGORIES")
    items = raw if isinstance(raw, list) else [raw] if raw is not None else []
    categories: list[str] = []
    for item in items:
        categories += [str(c) for c in getattr(item, "cats", [item])]
    return tuple(categories)


def component_to_event(
    component: Any,
    *,
    source: str,
    calendar: str,
    tz: tzinfo,
    recurring: Container[str],
) -> Event | None:
    """Convert one expanded ``VEVENT`` occurrence into an :class:`Event`.

    Args:
        component: An ``icalendar`` VEVENT (one occurrence).
        source: The source's name (``Event.source``).
        calendar: The calendar label (``Event.calendar``).
        tz: The user's zone, for floating times.
        recurring: UIDs of recurring series; only their occurrences keep a
            ``recurrence_id``.

    Returns:
        The event, or ``None`` for a cancelled occurrence or one that cannot
        be converted (logged as a warning with its UID).

    """
    uid = str(component.get("UID", ""))
    status_text = str(component.get("STATUS", "CONFIRMED")).lower()
    if status_text == "cancelled":
        return None
    try:
        start = localize(component.decoded("DTSTART"), tz)
        if "DTEND" in component:
            end = localize(component.decoded("DTEND"), tz)
        elif "DURATION" in component:
            end = start + component.decoded("DURATION")
        else:
            end = start + timedelta(days=1) if not isinstance(start, datetime) else start
        recurrence_id = None
        if uid in recurring and "RECURRENCE-ID" in component:
            original = localize(component.decoded("RECURRENCE-ID"), tz)
            recurrence_id = (
                original.astimezone(UTC).isoformat()
                if isinstance(original, datetime)
                else original.isoformat()
            )
        transp = str(component.get("TRANSP", "")).lower()
        return Event(
            source=source,
            uid=uid,
            start=start,
            end=end,
            summary=str(component.get("SUMMARY", "")),
            recurrence_id=recurrence_id,
            description=str(component.get("DESCRIPTION", "")),
            status=EventStatus.TENTATIVE if status_text == "tentative" else EventStatus.CONFIRMED,
            transparency=Transparency(transp) if transp in ("opaque", "transparent") else None,
            calendar=calendar,
            color=str(component["COLOR"]) if "COLOR" in component else None,
            categories=_categories(component),
            suggestion_id=str(component["X-CALSYNC-ID"]) if "X-CALSYNC-ID" in component else None,
        )
    except (KeyError, ValueError, TypeError, CalsyncError) as err:
        logger.warning(
            "%s: skipping event %s: %s", source, quote(uid or "without UID"), quote(err, 200)
        )
        return None
