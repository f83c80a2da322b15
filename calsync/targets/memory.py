"""An in-memory :class:`~calsync.targets.base.Target` with foreign events, for tests."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from calsync.errors import TargetError, TargetOwnershipError
from calsync.targets.base import BlockContent, OwnedEvent, refuse_foreign


@dataclass(frozen=True)
class StoredEvent:
    """An event in the memory calendar.

    ``owner_id`` is calsync's marker (``None``: a foreign event; ``""``: a
    malformed marker); ``installation`` the installation id on it.
    """

    remote_id: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    owner_id: str | None = None
    installation: str | None = None


class MemoryTarget:
    """A calendar in memory. It counts write calls so tests can prove idempotence.

    Test controls: ``fail_after`` (writes allowed before every further one
    fails), ``fail_reads`` (every read fails), ``fail_gets`` (every fetch by
    id fails), ``listing_limit`` (a listing returns at most that many owned
    events: an empty or partial listing).
    """

    def __init__(self, name: str = "memory"):
        self.name = name
        self.events: dict[str, StoredEvent] = {}
        self.writes = 0
        self.fail_after: int | None = None
        self.fail_reads = False
        self.fail_gets = False
        self.listing_limit: int | None = None

    def add_foreign(self, remote_id: str, start: datetime, end: datetime, summary: str) -> None:
        """Add an event the user owns (calsync must never change it)."""
        self.events[remote_id] = StoredEvent(remote_id, start, end, summary)

    def _write(self) -> None:
        if self.fail_after is not None and self.writes >= self.fail_after:
            raise TargetError("simulated failure before the write")
        self.writes += 1

    def _read(self) -> None:
        if self.fail_reads:
            raise TargetError("simulated failure of a read")

    @staticmethod
    def _owned(event: StoredEvent) -> OwnedEvent:
        assert event.owner_id is not None
        return OwnedEvent(
            event.owner_id,
            event.remote_id,
            event.start,
            event.end,
            event.summary,
            event.description,
            event.installation,
        )

    def _check(self, existing: StoredEvent, installation: str | None) -> None:
        if existing.owner_id is None:
            raise TargetOwnershipError(f"{existing.remote_id} is not calsync's")
        refuse_foreign(
            self.name, existing.remote_id, existing.owner_id, existing.installation, installation
        )

    def list_owned(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[OwnedEvent]:
        """Owned events overlapping the range."""
        self._read()
        owned = [
            self._owned(e)
            for e in self.events.values()
            if e.owner_id is not None
            and (start is None or e.end > start)
            and (end is None or e.start < end)
        ]
        return owned if self.listing_limit is None else owned[: self.listing_limit]

    def get_owned(self, suggestion_id: str) -> OwnedEvent | None:
        """The owned event under that id, or ``None``."""
        self._read()
        if self.fail_gets:
            raise TargetError("simulated failure of a fetch by id")
        event = self.events.get(suggestion_id)
        return None if event is None or event.owner_id is None else self._owned(event)

    def create(self, content: BlockContent) -> str:
        """Create (or adopt) the block under its deterministic id."""
        existing = self.events.get(content.suggestion_id)
        if existing is not None:
            self._check(existing, content.installation)
        self._write()
        self.events[content.suggestion_id] = StoredEvent(
            content.suggestion_id,
            content.start,
            content.end,
            content.summary,
            content.description,
            content.suggestion_id,
            content.installation,
        )
        return content.suggestion_id

    def update(self, remote_id: str, content: BlockContent) -> None:
        """Rewrite an owned block."""
        existing = self.events.get(remote_id)
        if existing is None:
            raise TargetError(f"{remote_id} is gone")
        self._check(existing, content.installation)
        self._write()
        self.events[remote_id] = replace(
            existing,
            start=content.start,
            end=content.end,
            summary=content.summary,
            description=content.description,
            installation=content.installation,
        )

    def delete(self, remote_id: str, installation: str | None = None) -> None:
        """Delete an owned block."""
        existing = self.events.get(remote_id)
        if existing is None:
            return
        self._check(existing, installation)
        self._write()
        del self.events[remote_id]

    def close(self) -> None:
        """Nothing to release."""

    # -------------------------------------------------------------- what a user does

    def user_move(self, remote_id: str, start: datetime, end: datetime) -> None:
        """The user drags a block elsewhere in their calendar app."""
        self.events[remote_id] = replace(self.events[remote_id], start=start, end=end)

    def user_delete(self, remote_id: str) -> None:
        """The user deletes a block."""
        del self.events[remote_id]
