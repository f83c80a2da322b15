"""Reconciliation (pure): what the calendar holds vs. what calsync knows and plans.

Two steps, both on plain values:

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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from calsync.learning.schedule import PlannedBlock
from calsync.store.store import SuggestionRow
from calsync.targets.base import BlockContent, OwnedEvent

#: Statuses of suggestions that may still have an event in the target.
LIVE = ("creating", "active", "moving", "deleting", "user_moved")
#: Statuses of suggestions that count toward their week's target once ended:
#: kept (``done``, or not yet observed as such), moved by the user, deleted
#: by the user before (``declined``) or after (``gone``) their start.
COUNTED = ("active", "user_moved", "done", "declined", "gone")


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
class Observation:
    """What :func:`observe` found.

    Attributes:
        rows: Every live suggestion with its status brought up to date.
        orphans: Owned events calsync has no record of (a write cut short).

    """

    rows: list[SuggestionRow]
    orphans: list[OwnedEvent]


def _same_times(row_start: datetime, row_end: datetime, event: OwnedEvent) -> bool:
    return row_start == event.start and row_end == event.end


def observe(
    rows: Sequence[SuggestionRow],
    remote: Iterable[OwnedEvent],
    now: datetime,
    known_ids: Iterable[str] = (),
) -> Observation:
    """Bring recorded suggestions up to date with the owned events in the target.

    ``rows`` are the live suggestions; ``known_ids`` every id calsync has
    recorded for the target (a passed block stays in the calendar as history
    and is not an orphan).

    * ``creating``: the event exists → ``active``; it does not → ``retracted``
      (the write never happened).
    * ``moving``: found at the destination → ``active`` there; at the old place
      → ``active`` (the move never happened).
    * ``deleting``: still there → stays ``deleting`` (delete again); gone → ``retracted``.
    * ``active`` / ``user_moved``: gone before its start → ``declined`` (the user
      deleted it); gone later → ``gone``; at other times → ``user_moved``;
      ended → ``done``.
    """
    by_id = {event.suggestion_id: event for event in remote}
    known = {row.id for row in rows} | set(known_ids)
    updated: list[SuggestionRow] = []
    for row in rows:
        event = by_id.get(row.id)
        status = row.status
        if status == "creating":
            if event is None:
                updated.append(replace(row, status="retracted"))
                continue
            row = replace(row, status="active", remote_id=event.remote_id)
        elif status == "moving":
            pending = (row.pending_start, row.pending_end)
            if event is not None and None not in pending and _same_times(*pending, event):  # type: ignore[arg-type]
                row = replace(row, start=row.pending_start, end=row.pending_end)
            row = replace(row, status="active", pending_start=None, pending_end=None)
        elif status == "deleting":
            updated.append(row if event is not None else replace(row, status="retracted"))
            continue
        if event is None:
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
        elif block.reason == "moved":
            assert event is not None, "a block calsync moves exists in the target"
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
