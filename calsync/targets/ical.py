"""The iCalendar form of a suggested block, shared by the CalDAV and ICS-file targets."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar

from calsync.targets.base import BlockContent

#: calsync's marker on a VEVENT: the suggestion id.
MARKER = "X-CALSYNC-ID"
#: The installation that wrote the block (absent on blocks written before installation ids).
INSTALLATION = "X-CALSYNC-INSTALLATION"


def block_uid(suggestion_id: str) -> str:
    """The UID calsync gives the VEVENT of a suggestion."""
    return f"{suggestion_id}@calsync"


def block_vevent(content: BlockContent, stamp: datetime) -> icalendar.Event:
    """The VEVENT of one block: tentative, with calsync's marker (id and installation)."""
    event = icalendar.Event()
    event.add("uid", block_uid(content.suggestion_id))
    event.add("dtstamp", stamp)
    event.add("dtstart", content.start.astimezone(UTC))
    event.add("dtend", content.end.astimezone(UTC))
    event.add("summary", content.summary)
    event.add("description", content.description)
    event.add("status", "TENTATIVE")
    event.add("transp", "TRANSPARENT" if content.transparent else "OPAQUE")
    if content.color:
        event.add("color", content.color)
    event.add("x-calsync-id", content.suggestion_id)
    if content.installation:
        event.add("x-calsync-installation", content.installation)
    return event


def marker_of(component: icalendar.Component) -> tuple[str, str | None] | None:
    """``(suggestion id, installation)`` of a VEVENT's marker; ``None`` without one.

    The id is empty for a malformed marker; the installation ``None`` when the
    block was written before installation ids.
    """
    if MARKER not in component:
        return None
    installation = str(component.get(INSTALLATION, "")).strip()
    return str(component[MARKER]).strip(), installation or None
