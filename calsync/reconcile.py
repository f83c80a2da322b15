"""Reconciliation (pure): what the calendar holds vs. what calsync knows and plans.

Four steps, all on plain values:

* :func:`partition_owned` splits the events carrying calsync's marker into
  this installation's and the others' (another installation's, a malformed
  marker, a pre-installation-id block this database does not know): only the
  first are ever updated, deleted, adopted or learned from.
* :func:`absences_to_confirm` names the blocks calsync believes live that a
  listing did not return, and :func:`is_mass_absence` whether the listing
  looks like a storage that lost them rather than a user who deleted them
  (see :func:`observe` for what each verdict changes). Fetching each one by
  id (the I/O) happens in :mod:`calsync.writeback`.
* :func:`observe` compares the suggestions calsync recorded with the owned
  events in the target and says what happened since: a write that was in
  flight when calsync stopped, a block the user deleted or moved, a block
  that has passed.
* :func:`compute_actions` turns the plan into the create / update / delete
  actions that make the target match it. Blocks calsync keeps, and blocks
  the user moved, produce no action at all, so an unchanged cycle writes
  nothing. Only events carrying calsync's marker ever appear in an action.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from calsync.learning.schedule import PlannedBlock
from calsync.store.store import SuggestionRow
from calsync.targets.base import BlockContent, OwnedEvent

#: Statuses of suggestions that may still have an event in the target
#: (``missing``: absent from a listing that lost most blocks, held for a
#: second look).
LIVE = ("creating", "active", "moving", "deleting", "user_moved", "missing")
#: Statuses of suggestions that count toward their week's target once ended:
#: kept (``done``, or not yet observed as such), moved by the user, deleted
#: by the user before (``declined``) or after (``gone``) their start, held
#: (``missing``) or lost (``lost``) with most of the others: nothing learned
#: from those two.
COUNTED = ("active", "user_moved", "done", "declined", "gone", "missing", "lost")
#: Live statuses of blocks calsync believes are in the target right now.
VISIBLE = ("active", "moving", "user_moved", "missing")
#: A listing that misses at least this many visible blocks, and leaves fewer
#: than a fifth of them, is a *mass absence* (see :func:`is_mass_absence`).
MASS_ABSENCE_MIN = 3
#: The share of visible blocks below which what is left counts as "far fewer".
MASS_ABSENCE_LEFT = 0.2


@dataclass(frozen=True)
class Create:
    """Write a new block (adopting an event already there under its id)."""

    content: BlockContent


@dataclass(frozen=True)
class Update:
    """Move an owned block (calsync's own decision)."""

    remote_id: str
    content: BlockContent


@dataclass(frozen=True)
class Delete:
    """Remove an owned block."""

    suggestion_id: str
    remote_id: str
    reason: str


Action = Create | Update | Delete


@dataclass(frozen=True)
class Ownership:
    """The events with calsync's marker, split by whose they are.

    Attributes:
        ours: This installation's blocks: its installation id on the marker,
            or no installation id (written before they existed) and a
            suggestion id this database knows.
        foreign: Everything else with the marker — another installation's,
            a malformed marker, an unknown pre-installation-id block. Never
            updated, deleted or learned from; reported.

    """

    ours: list[OwnedEvent]
    foreign: list[OwnedEvent]


def partition_owned(
    remote: Iterable[OwnedEvent], installation: str, known_ids: Collection[str]
) -> Ownership:
    """Split marked events into this installation's and the others' (see :class:`Ownership`)."""
    ours: list[OwnedEvent] = []
    foreign: list[OwnedEvent] = []
    for event in remote:
        mine = not event.malformed and (
            event.installation == installation
            or (event.installation is None and event.suggestion_id in known_ids)
        )
        (ours if mine else foreign).append(event)
    return Ownership(ours, foreign)


def absences_to_confirm(
    rows: Sequence[SuggestionRow], listed: Iterable[OwnedEvent]
) -> list[SuggestionRow]:
    """The live suggestions a listing did not return: each must be confirmed by id.

    A missing event may be a user's decision — or a listing that came back
    empty or short (a server fault, a wrong calendar). Until a fetch by id
    says it is gone, nothing is concluded from its absence.
    """
    present = {event.suggestion_id for event in listed}
    return [row for row in rows if row.status in LIVE and row.id not in present]


def is_mass_absence(rows: Sequence[SuggestionRow], absent: Collection[str]) -> bool:
    """Whether the absences look like a calendar that lost blocks rather than a user's edits.

    True when at least :data:`MASS_ABSENCE_MIN` of the visible blocks (the
    ones calsync believes are in the target) are absent and fewer than
    :data:`MASS_ABSENCE_LEFT` of them are left (none, or far fewer). Like
    vdirsyncer's guard against an empty storage: a calendar that suddenly
    holds (almost) none of calsync's blocks — the wrong calendar, a server
    that lost them — must not be read as "the user deleted everything".
    """
    visible = [row for row in rows if row.status in VISIBLE]
    missing = [row for row in visible if row.id in absent]
    left = len(visible) - len(missing)
    return len(missing) >= MASS_ABSENCE_MIN and left < MASS_ABSENCE_LEFT * len(visible)


@dataclass(frozen=True)
class Observation:
    """What :func:`observe` found.

    Attributes:
        rows: Every live suggestion with its status brought up to date.
        orphans: Owned events calsync has no record of (a write cut short).

    """

    rows: list[SuggestionRow]
    orphans: list[OwnedEvent]


def block_row(
    user: str, target: str, block: PlannedBlock, remote_id: str | None, status: str
) -> SuggestionRow:
    """The suggestion record of a planned block (its id given) in ``status``."""
    assert block.id is not None
    return SuggestionRow(
        id=block.id,
        user_id=user,
        task_type=block.task_type,
        target=target,
        remote_id=remote_id,
        start=block.start,
        end=block.end,
        score=block.score,
        status=status,
        planned_start=block.start,
    )


def _same_times(row_start: datetime, row_end: datetime, event: OwnedEvent) -> bool:
    return row_start == event.start and row_end == event.end


def observe(
    rows: Sequence[SuggestionRow],
    remote: Iterable[OwnedEvent],
    now: datetime,
    known_ids: Iterable[str] = (),
    confirmed_absent: Collection[str] | None = None,
    mass: bool = False,
) -> Observation:
    """Bring recorded suggestions up to date with the owned events in the target.

    ``rows`` are the live suggestions; ``remote`` this installation's events
    (see :func:`partition_owned`), listed or fetched by id; ``known_ids``
    every id calsync has recorded for the target (a passed block stays in
    the calendar as history and is not an orphan).

    An absent row changes only when its absence is confirmed (its id in
    ``confirmed_absent``: a fetch by id found nothing; ``None`` takes every
    absence as confirmed). An unconfirmed absence changes nothing.

    * ``creating``: the event exists → ``active``; it does not → ``retracted``
      (the write never happened).
    * ``moving``: found at the destination → ``active`` there; at the old place
      → ``active`` (the move never happened).
    * ``deleting``: still there → stays ``deleting`` (delete again); gone → ``retracted``.
    * ``active`` / ``user_moved``: gone before its start → ``declined`` (the user
      deleted it); gone later → ``gone``; at other times → ``user_moved``;
      ended → ``done``.
    * A confirmed absence in a ``mass`` absence (:func:`is_mass_absence`) is
      not the user's decision: the row is held as ``missing`` (nothing
      learned, its slot kept); a ``missing`` row found again is ``active``
      again; confirmed absent at a later look it is ``lost`` (it counts for
      its week, nothing is learned from it).
    """
    by_id = {event.suggestion_id: event for event in remote}
    known = {row.id for row in rows} | set(known_ids)
    updated: list[SuggestionRow] = []
    for row in rows:
        event = by_id.get(row.id)
        status = row.status
        if event is None and confirmed_absent is not None and row.id not in confirmed_absent:
            updated.append(row)  # unconfirmed: nothing is concluded
            continue
        if status == "missing":
            if event is None:
                updated.append(replace(row, status="lost"))
                continue
            row = replace(row, status="user_moved" if row.planned_start != row.start else "active")
        if status == "creating":
            if event is None:
                updated.append(replace(row, status="retracted"))
                continue
            row = replace(row, status="active", remote_id=event.remote_id)
        elif status == "moving":
            to_start, to_end = row.pending_start, row.pending_end
            if (
                event is not None
                and to_start is not None
                and to_end is not None
                and _same_times(to_start, to_end, event)
            ):
                row = replace(row, start=to_start, end=to_end)
            row = replace(row, status="active", pending_start=None, pending_end=None)
        elif status == "deleting":
            updated.append(row if event is not None else replace(row, status="retracted"))
            continue
        if event is None:
            if mass:
                updated.append(replace(row, status="missing"))
            else:
                updated.append(replace(row, status="declined" if now < row.start else "gone"))
            continue
        if not _same_times(row.start, row.end, event):
            row = replace(row, status="user_moved", start=event.start, end=event.end)
        if event.end <= now:
            row = replace(row, status="done")
        updated.append(row)
    orphans = [event for event in by_id.values() if event.suggestion_id not in known]
    return Observation(rows=updated, orphans=orphans)


def compute_actions(
    plan: Sequence[PlannedBlock],
    contents: dict[str, BlockContent],
    rows: Sequence[SuggestionRow],
    remote: Iterable[OwnedEvent],
    orphans: Sequence[OwnedEvent],
) -> list[Action]:
    """The writes that make the target match the plan.

    Args:
        plan: The planned blocks; new ones already carry their id.
        contents: What to write for every new or moved block, by id.
        rows: The observed suggestions (see :func:`observe`).
        remote: The owned events in the target.
        orphans: Owned events calsync has no record of.

    """
    by_id = {event.suggestion_id: event for event in remote}
    planned_ids = {block.id for block in plan}
    actions: list[Action] = []
    for block in plan:
        assert block.id is not None
        event = by_id.get(block.id)
        if block.reason == "new":
            content = contents[block.id]
            if event is None or not (event.start == content.start and event.end == content.end):
                actions.append(Create(content))
        elif block.reason == "moved" and event is not None:
            # (A block whose absence is not confirmed is never moved: it is not in ``remote``.)
            actions.append(Update(event.remote_id, contents[block.id]))
    for row in rows:
        event = by_id.get(row.id)
        if event is None or row.id in planned_ids:
            continue
        if row.status in ("active", "deleting"):
            actions.append(Delete(row.id, event.remote_id, "no longer planned"))
    for orphan in orphans:
        if orphan.suggestion_id not in planned_ids:
            actions.append(Delete(orphan.suggestion_id, orphan.remote_id, "unknown to calsync"))
    return actions
