"""An in-memory :class:`~calsync.targets.base.Target` with foreign events, for tests."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from calsync.errors import TargetError, TargetOwnershipError
from calsync.targets.base import BlockContent, OwnedEvent


@dataclass(frozen=True)
class StoredEvent:
    """An event in the memory calendar; ``owner_id`` is calsync's marker (None: foreign)."""

    remote_id: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    owner_id: str | None = None


class MemoryTarget:
    """A calendar in memory. It counts write calls so tests can prove idempotence."""

    def __init__(self, name: str = "memory"):
        self.name = name
        self.events: dict[str, StoredEvent] = {}
        self.writes = 0
        self.fail_after: int | None = None

    def add_foreign(self, remote_id: str, start: datetime, end: datetime, summary: str) -> None:
        """Add an event the user owns (calsync must never change it)."""
        self.events[remote_id] = StoredEvent(remote_id, start, end, summary)

    def _write(self) -> None:
        if self.fail_after is not None and self.writes >= self.fail_after:
            raise TargetError("simulated failure before the write")
        self.writes += 1

    def list_owned(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[OwnedEvent]:
        """Owned events overlapping the range."""
        return [
            OwnedEvent(e.owner_id, e.remote_id, e.start, e.end, e.summary, e.description)
            for e in self.events.values()
            if e.owner_id is not None
            and (start is None or e.end > start)
            and (end is None or e.start < end)
        ]

    def create(self, content: BlockContent) -> str:
        """Create (or adopt) the block under its deterministic id."""
        existing = self.events.get(content.suggestion_id)
        if existing is not None and existing.owner_id is None:
            raise TargetOwnershipError(f"{content.suggestion_id} belongs to the user")
        self._write()
        self.events[content.suggestion_id] = StoredEvent(
            content.suggestion_id,
            content.start,
            content.end,
            content.summary,
            content.description,
            content.suggestion_id,
        )
        return content.suggestion_id

    def update(self, remote_id: str, content: BlockContent) -> None:
        """Rewrite an owned block."""
        existing = self.events.get(remote_id)
        if existing is None:
            raise TargetError(f"{remote_id} is gone")
        if existing.owner_id is None:
            raise TargetOwnershipError(f"{remote_id} is not calsync's")
        self._write()
        self.events[remote_id] = replace(
            existing,
            start=content.start,
            end=content.end,
            summary=content.summary,
            description=content.description,
        )

    def delete(self, remote_id: str) -> None:
        """Delete an owned block."""
        existing = self.events.get(remote_id)
        if existing is None:
            return
        if existing.owner_id is None:
            raise TargetOwnershipError(f"{remote_id} is not calsync's")
        self._write()
        del self.events[remote_id]

    # -------------------------------------------------------------- what a user does

    def user_move(self, remote_id: str, start: datetime, end: datetime) -> None:
        """The user drags a block elsewhere in their calendar app."""
        self.events[remote_id] = replace(self.events[remote_id], start=start, end=end)

    def user_delete(self, remote_id: str) -> None:
        """The user deletes a block."""
        del self.events[remote_id]
