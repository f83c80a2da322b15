"""The :class:`Source` protocol every calendar adapter implements.

A source answers one question: *what changed since this cursor?* It returns
normalized :class:`~calsync.model.Event` values and a new opaque cursor. The
caller stores the cursor together with the events in one transaction, so a
crash never saves a cursor whose changes were lost.

A result is either *incremental* (``full=False``: ``events`` are the changed
or new occurrences and ``deleted`` names the removed ones) or *full*
(``full=True``: ``events`` is everything in the source's window, and anything
the caller had that is absent was deleted). Sources raise
:class:`~calsync.errors.SourceError` subclasses only: ``AuthError`` when the
user must re-authorize, ``TransientSourceError`` when a retry may help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from calsync.model import Event


@dataclass(frozen=True)
class FetchResult:
    """What one poll of a source returned.

    Attributes:
        events: Changed or new occurrences (all of them when ``full``).
        deleted: Occurrence keys removed since the cursor (incremental only).
        cursor: The cursor to pass next time (``None``: the source keeps none).
        full: True when ``events`` is the complete current state.

    """

    events: list[Event]
    cursor: str | None
    deleted: list[str] = field(default_factory=list)
    full: bool = False


@runtime_checkable
class Source(Protocol):
    """A calendar calsync reads from."""

    #: The source's configured name; part of every occurrence key.
    name: str

    def fetch(self, cursor: str | None) -> FetchResult:
        """Return the changes since ``cursor`` (``None``: everything).

        An expired or unknown cursor is not an error: the source answers with
        a full result instead.

        Raises:
            AuthError: the user must re-authorize calsync for this source.
            TransientSourceError: a network problem, rate limit or server error.
            SourceError: the source's data cannot be used (e.g. a malformed feed).

        """
        ...

    def close(self) -> None:
        """Release what the source holds open (HTTP sessions); a no-op for most.

        The daemon closes its sources when the configuration is reloaded and
        when it stops. A closed source may be used again (it reconnects).
        """
        ...
