"""calsync's normalized calendar model: one :class:`Event` type for every source.

Sources (ICS, CalDAV, Google, in-memory) translate what they read into these
frozen values; inference, planning and write-back only ever see them. Timed
events carry timezone-aware datetimes; all-day events carry ``date`` values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from calsync.errors import InputError


class EventStatus(StrEnum):
    """An event's status, as iCalendar and Google define it."""

    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


class Transparency(StrEnum):
    """Whether an event blocks time (``opaque``) or not (``transparent``)."""

    OPAQUE = "opaque"
    TRANSPARENT = "transparent"


@dataclass(frozen=True)
class Event:
    """One occurrence of a calendar event, normalized.

    Attributes:
        source: Name of the configured source it came from.
        uid: The event's UID (iCalendar) or id (Google).
        recurrence_id: Which instance of a recurring series this is (the
            original start as ISO text), ``None`` for a single event.
        start: Start: aware datetime, or ``date`` for an all-day event.
        end: End (exclusive), of the same kind as ``start``.
        summary: The title.
        description: The description (never logged at INFO).
        status: Confirmed, tentative or cancelled.
        transparency: Opaque or transparent; ``None`` when the source did not say.
        declined: The user declined the invitation.
        calendar: Calendar name or id within the source.
        color: Colour name or id, if any.
        categories: iCalendar categories.
        suggestion_id: Set when calsync wrote this event (it owns it).
        identity: The occurrence's name across sources when it differs from
            ``uid`` + ``recurrence_id`` (Google: ``iCalUID`` and the original
            start), see :attr:`occurrence_identity`.

    """

    source: str
    uid: str
    start: datetime | date
    end: datetime | date
    summary: str = ""
    recurrence_id: str | None = None
    description: str = ""
    status: EventStatus = EventStatus.CONFIRMED
    transparency: Transparency | None = None
    declined: bool = False
    calendar: str = ""
    color: str | None = None
    categories: tuple[str, ...] = field(default_factory=tuple)
    suggestion_id: str | None = None
    identity: str | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if isinstance(value, datetime) and (value.tzinfo is None or value.utcoffset() is None):
                raise InputError(f"event {self.uid!r}: {name} must be timezone-aware")
        if isinstance(self.start, datetime) != isinstance(self.end, datetime):
            raise InputError(f"event {self.uid!r}: start and end must both be dates or datetimes")
        if self.end < self.start:
            raise InputError(f"event {self.uid!r}: ends before it starts")

    @property
    def all_day(self) -> bool:
        """True for an all-day (date-valued) event."""
        return not isinstance(self.start, datetime)

    @property
    def owned(self) -> bool:
        """True when calsync wrote this event."""
        return self.suggestion_id is not None

    @property
    def occurrence_key(self) -> str:
        """A key naming this occurrence across polls, restarts and full resyncs."""
        return f"{self.source}:{self.uid}:{self.recurrence_id or ''}"

    @property
    def occurrence_identity(self) -> str:
        """The occurrence's name in any source: iCalendar UID and RECURRENCE-ID.

        The same calendar read as a file, by URL and by CalDAV names an
        occurrence alike (Google by its ``iCalUID`` and original start), so
        what it teaches is learned once.
        """
        return self.identity or f"{self.uid}:{self.recurrence_id or ''}"


def _when_to_text(value: datetime | date) -> str:
    return value.isoformat()


def _when_from_text(text: str) -> datetime | date:
    return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)


def event_to_dict(event: Event) -> dict[str, object]:
    """A JSON-ready dict of an event (for the store's mirror)."""
    return {
        "source": event.source,
        "uid": event.uid,
        "start": _when_to_text(event.start),
        "end": _when_to_text(event.end),
        "summary": event.summary,
        "recurrence_id": event.recurrence_id,
        "description": event.description,
        "status": event.status.value,
        "transparency": event.transparency.value if event.transparency else None,
        "declined": event.declined,
        "calendar": event.calendar,
        "color": event.color,
        "categories": list(event.categories),
        "suggestion_id": event.suggestion_id,
        "identity": event.identity,
    }


def event_from_dict(data: dict[str, Any]) -> Event:
    """The inverse of :func:`event_to_dict`."""
    return Event(
        source=data["source"],
        uid=data["uid"],
        start=_when_from_text(data["start"]),
        end=_when_from_text(data["end"]),
        summary=data.get("summary", ""),
        recurrence_id=data.get("recurrence_id"),
        description=data.get("description", ""),
        status=EventStatus(data.get("status", "confirmed")),
        transparency=Transparency(data["transparency"]) if data.get("transparency") else None,
        declined=bool(data.get("declined", False)),
        calendar=data.get("calendar", ""),
        color=data.get("color"),
        categories=tuple(data.get("categories", ())),
        suggestion_id=data.get("suggestion_id"),
        identity=data.get("identity"),
    )
