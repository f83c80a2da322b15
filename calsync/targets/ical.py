"""The iCalendar form of a suggested block, shared by the CalDAV and ICS-file targets."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar

from calsync.targets.base import BlockContent


def block_uid(suggestion_id: str) -> str:
    """The UID calsync gives the VEVENT of a suggestion."""
    return f"{suggestion_id}@calsync"


def block_vevent(content: BlockContent, stamp: datetime) -> icalendar.Event:
    """The VEVENT of one block: tentative, calsync's marker (``X-CALSYNC-ID``) on it."""
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
    return event
