"""The :class:`Target` protocol: a calendar calsync writes its own blocks into.

A target only ever touches events that carry calsync's marker (Google
``extendedProperties.private.calsync = "1"``, iCalendar ``X-CALSYNC-ID``).
Every implementation checks the marker on the remote event itself before it
updates or deletes anything, and raises :class:`TargetOwnershipError`
instead of touching an event it does not own — whatever the caller asked.

Event ids are chosen by calsync (:func:`suggestion_id`): creating a block
whose id already exists in the target adopts it (after checking the marker)
instead of adding a second one, so a crash between the remote write and the
database commit never leaves a duplicate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from calsync.errors import TargetOwnershipError

__all__ = ["BlockContent", "OwnedEvent", "Target", "TargetOwnershipError", "suggestion_id"]


def suggestion_id(user: str, task_type: str, start: datetime, attempt: int = 0) -> str:
    """A deterministic suggestion id, valid as a Google event id (base32hex, 5–1024 chars).

    ``attempt`` gives another id for the same slot, when the first is taken by a
    block the user moved away from it.
    """
    stamp = start.astimezone(UTC).isoformat()
    digest = hashlib.sha256(f"{user}\0{task_type}\0{stamp}\0{attempt}".encode())
    # Hex digits are a subset of base32hex (0-9, a-v); "cs" keeps ids recognisable.
    return "cs" + digest.hexdigest()[:30]


@dataclass(frozen=True)
class BlockContent:
    """What calsync writes for one suggestion.

    Attributes:
        suggestion_id: calsync's id (also the remote event id / UID stem).
        task_type: The task type.
        start: Start (timezone-aware).
        end: End.
        summary: Title (prefix + task type).
        description: One or two lines explaining the choice.
        color: Colour for the target (Google colorId or a CSS name), if any.
        transparent: Show as free (True) or busy.

    """

    suggestion_id: str
    task_type: str
    start: datetime
    end: datetime
    summary: str
    description: str
    color: str | None = None
    transparent: bool = True


@dataclass(frozen=True)
class OwnedEvent:
    """A calsync-owned event as it stands in the target."""

    suggestion_id: str
    remote_id: str
    start: datetime
    end: datetime
    summary: str = ""
    description: str = ""


@runtime_checkable
class Target(Protocol):
    """A calendar calsync writes its suggestions into."""

    #: The target's configured name.
    name: str

    def list_owned(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[OwnedEvent]:
        """Every calsync-owned event overlapping ``[start, end)`` (all when ``None``)."""
        ...

    def create(self, content: BlockContent) -> str:
        """Write a new block; return its remote id.

        An existing event with the same calsync id is adopted (and brought up
        to date) instead of being duplicated.

        Raises:
            TargetOwnershipError: that id belongs to an event calsync does not own.

        """
        ...

    def update(self, remote_id: str, content: BlockContent) -> None:
        """Move or rewrite an owned block.

        Raises:
            TargetOwnershipError: the remote event does not carry calsync's marker.

        """
        ...

    def delete(self, remote_id: str) -> None:
        """Remove an owned block (an already missing one is fine).

        Raises:
            TargetOwnershipError: the remote event does not carry calsync's marker.

        """
        ...
