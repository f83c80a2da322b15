"""An in-memory :class:`~calsync.sources.base.Source`, for tests and simulations.

It keeps a change log; its cursor is the log position. A cursor it does not
know (too old, or from elsewhere) gets a full result, as a real source's
expired sync token would.
"""

from __future__ import annotations

from calsync.model import Event
from calsync.sources.base import FetchResult


class MemorySource:
    """A calendar held in memory; ``put`` and ``remove`` change it."""

    def __init__(self, name: str, events: list[Event] | None = None):
        self.name = name
        self._events: dict[str, Event] = {}
        self._log: list[tuple[str, Event | None]] = []
        for event in events or []:
            self.put(event)

    def put(self, event: Event) -> None:
        """Add or replace an occurrence."""
        self._events[event.occurrence_key] = event
        self._log.append((event.occurrence_key, event))

    def remove(self, occurrence_key: str) -> None:
        """Delete an occurrence (unknown keys are ignored)."""
        if self._events.pop(occurrence_key, None) is not None:
            self._log.append((occurrence_key, None))

    def events(self) -> list[Event]:
        """The current occurrences."""
        return list(self._events.values())

    def fetch(self, cursor: str | None) -> FetchResult:
        """Changes since ``cursor``; a full result for ``None`` or an unknown cursor."""
        position = len(self._log)
        if cursor is None or not cursor.isdigit() or int(cursor) > position:
            return FetchResult(events=self.events(), cursor=str(position), full=True)
        changed: dict[str, Event | None] = {}
        for key, event in self._log[int(cursor) :]:
            changed[key] = event
        return FetchResult(
            events=[e for e in changed.values() if e is not None],
            deleted=[k for k, e in changed.items() if e is None],
            cursor=str(position),
        )

    def close(self) -> None:
        """Nothing to release."""
