"""The :class:`Target` protocol: a calendar calsync writes its own blocks into.

A target only ever touches events that carry calsync's marker (Google
``extendedProperties.private.calsync = "1"``, iCalendar ``X-CALSYNC-ID``).
Every implementation checks the marker on the remote event itself before it
updates or deletes anything, and raises :class:`TargetOwnershipError`
instead of touching an event it does not own — whatever the caller asked.

The marker also names the **installation** that wrote the block (Google
``extendedProperties.private.calsyncInstallation``, iCalendar
``X-CALSYNC-INSTALLATION``): the random id of the database behind it. A
block of another installation (another machine, a re-created state
directory sharing the calendar) or with a malformed marker (an empty id) is
listed — so it can be reported — but never updated or deleted, unless the
caller explicitly asks for :data:`ANY_INSTALLATION` (``calsync purge
--all-installations``). A marker without an installation id was written
before installation ids existed; :func:`may_write` lets it through, and the
caller (:mod:`calsync.reconcile`) decides it is its own only when the
database knows its suggestion id.

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

__all__ = [
    "ANY_INSTALLATION",
    "BlockContent",
    "OwnedEvent",
    "Target",
    "TargetOwnershipError",
    "may_write",
    "refuse_foreign",
    "suggestion_id",
]

#: Passed as ``installation`` to :meth:`Target.delete`: any event carrying
#: calsync's marker may go, another installation's or a malformed one too.
ANY_INSTALLATION = "*"


def suggestion_id(
    user: str, task_type: str, start: datetime, attempt: int = 0, installation: str = ""
) -> str:
    """A deterministic suggestion id, valid as a Google event id (base32hex, 5–1024 chars).

    ``attempt`` gives another id for the same slot, when the first is taken by a
    block the user moved away from it. ``installation`` keeps two installations
    planning the same slot in one calendar from choosing the same id (empty:
    the ids of calsync before installation ids).
    """
    stamp = start.astimezone(UTC).isoformat()
    salt = f"\0{installation}" if installation else ""
    digest = hashlib.sha256(f"{user}\0{task_type}\0{stamp}\0{attempt}{salt}".encode())
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
        installation: The installation id written into the marker (``None``:
            none, the form of blocks written before installation ids).

    """

    suggestion_id: str
    task_type: str
    start: datetime
    end: datetime
    summary: str
    description: str
    color: str | None = None
    transparent: bool = True
    installation: str | None = None


@dataclass(frozen=True)
class OwnedEvent:
    """An event carrying calsync's marker, as it stands in the target.

    ``suggestion_id`` is empty for a malformed marker; ``installation`` is the
    installation id on the marker (``None``: a block written before
    installation ids). Whether it is *this* installation's block is decided
    by :func:`calsync.reconcile.partition_owned`.
    """

    suggestion_id: str
    remote_id: str
    start: datetime
    end: datetime
    summary: str = ""
    description: str = ""
    installation: str | None = None

    @property
    def malformed(self) -> bool:
        """True when the marker carries no usable suggestion id."""
        return not self.suggestion_id.strip()


def may_write(marker_id: str, marker_installation: str | None, installation: str | None) -> bool:
    """Whether a write on behalf of ``installation`` may touch an event with this marker.

    A malformed marker (empty id) or another installation's id: no, unless
    ``installation`` is :data:`ANY_INSTALLATION`. A marker without an
    installation id (written before they existed): yes — the caller only asks
    for blocks its database knows.
    """
    if installation == ANY_INSTALLATION:
        return True
    if not marker_id.strip():
        return False
    return marker_installation is None or marker_installation == installation


def refuse_foreign(
    target: str,
    remote_id: str,
    marker_id: str,
    marker_installation: str | None,
    installation: str | None,
) -> None:
    """Raise :class:`TargetOwnershipError` unless :func:`may_write` allows the write."""
    if may_write(marker_id, marker_installation, installation):
        return
    whose = (
        "has a malformed calsync marker"
        if not marker_id.strip()
        else f"belongs to another calsync installation ({marker_installation})"
    )
    raise TargetOwnershipError(f"{target}: event {remote_id} {whose}; not touching it")


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

    def get_owned(self, suggestion_id: str) -> OwnedEvent | None:
        """Fetch one block by its suggestion id (its remote id follows from it).

        Answers *this event, now*, independently of any listing: ``None`` when
        it does not exist (or was deleted, or does not carry calsync's
        marker). Used to confirm an absence before calsync believes it.

        Raises:
            TargetError: the target cannot tell (unreachable, refused, unreadable).

        """
        ...

    def create(self, content: BlockContent) -> str:
        """Write a new block; return its remote id.

        An existing event with the same calsync id is adopted (and brought up
        to date) instead of being duplicated, when its marker allows
        (:func:`may_write` with ``content.installation``).

        Raises:
            TargetOwnershipError: that id belongs to an event calsync does not
                own, or to another installation's block.

        """
        ...

    def update(self, remote_id: str, content: BlockContent) -> None:
        """Move or rewrite an owned block (its marker checked against ``content.installation``).

        Raises:
            TargetOwnershipError: the remote event does not carry calsync's
                marker, or carries another installation's or a malformed one.

        """
        ...

    def delete(self, remote_id: str, installation: str | None = None) -> None:
        """Remove an owned block (an already missing one is fine).

        ``installation``: whose block it must be (see :func:`may_write`);
        :data:`ANY_INSTALLATION` removes any event with calsync's marker.

        Raises:
            TargetOwnershipError: the remote event does not carry calsync's
                marker, or the marker does not allow it.

        """
        ...

    def close(self) -> None:
        """Release what the target holds open (HTTP sessions); a no-op for most.

        The daemon closes its targets when the configuration is reloaded and
        when it stops. A closed target may be used again (it reconnects).
        """
        ...
