"""Approval mode (``planning.approval = "manual"``): propose blocks, write only what is approved.

In approval mode a write-back cycle plans as usual, but instead of creating
the new blocks it keeps them as *proposals* — suggestion rows with status
``proposed`` that exist only in calsync's database — and it never moves a
block already in the calendar (every existing block counts as placed by the
user). The user then, on the web view's Plan page:

* **approves** a proposal (or all): it is written to the target at once,
  through the same intent → remote write → commit path as any block, and is
  from then on an ordinary ``active`` block;
* **declines** one: it becomes ``declined`` — exactly what a block the user
  deleted before its start becomes — so it teaches a skip in its slot (key
  ``suggestion:<id>:skip``), counts toward its week's target and its slot is
  not offered to that task type again.

A proposal that the next cycle no longer plans is ``withdrawn``. Proposals
keep their deterministic id from cycle to cycle while the plan stays the
same (their ids are not "taken", see :data:`UNWRITTEN`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from calsync.errors import InputError
from calsync.learning.planner import ScoringParams
from calsync.learning.schedule import PlannedBlock
from calsync.learning.slots import slot_of
from calsync.reconcile import Action, Create, block_row
from calsync.service import Calsync
from calsync.store.store import SuggestionRow
from calsync.targets.base import Target

logger = logging.getLogger(__name__)

MANUAL = "manual"
PROPOSED = "proposed"
WITHDRAWN = "withdrawn"
#: Statuses of suggestions that were never written anywhere (their ids may be planned again).
UNWRITTEN = (PROPOSED, WITHDRAWN)


def is_manual(cs: Calsync) -> bool:
    """Whether the configuration asks for approval before anything new is written."""
    return cs.config.planning.approval == MANUAL


def hold_for_approval(
    cs: Calsync,
    target: str,
    plan: Sequence[PlannedBlock],
    actions: Sequence[Action],
    dry_run: bool,
) -> tuple[list[Action], list[PlannedBlock]]:
    """Take the creations out of a cycle's actions and keep them as proposals.

    Returns the actions still to carry out (removals of blocks nobody planned)
    and the proposed blocks. Unless ``dry_run``, the proposals are saved and
    earlier proposals no longer planned are withdrawn.
    """
    held = {a.content.suggestion_id for a in actions if isinstance(a, Create)}
    proposed = [b for b in plan if b.id in held]
    remaining: list[Action] = [a for a in actions if not isinstance(a, Create)]
    if dry_run:
        return remaining, proposed
    user = cs.config.user.id
    now = cs.clock.now()
    with cs.store.write() as tx:
        # Read again inside the write: a proposal approved (or declined) since this
        # cycle began keeps what the user made of it.
        status = {r.id: r.status for r in tx.suggestions(user, target)}
        for row in tx.suggestions(user, target, [PROPOSED]):
            if row.id not in held:
                tx.save_suggestion(replace(row, status=WITHDRAWN), now)
        for block in proposed:
            assert block.id is not None
            if status.get(block.id, WITHDRAWN) in UNWRITTEN:
                tx.save_suggestion(block_row(user, target, block, None, PROPOSED), now)
    if proposed:
        logger.info("%s: %d block(s) proposed, waiting for approval", target, len(proposed))
    return remaining, proposed


def proposals(cs: Calsync, target: str | None = None) -> list[SuggestionRow]:
    """The open proposals (not yet ended), by start."""
    now = cs.clock.now()
    with cs.store.read() as tx:
        rows = tx.suggestions(cs.config.user.id, target, [PROPOSED])
    return [r for r in rows if r.end > now]


def _pick(cs: Calsync, target: str, ids: Iterable[str] | None) -> list[SuggestionRow]:
    open_rows = proposals(cs, target)
    if ids is None:
        return open_rows
    wanted = set(ids)
    picked = [r for r in open_rows if r.id in wanted]
    if len(picked) != len(wanted):
        raise InputError("no such open proposal (it may have been withdrawn by a newer plan)")
    return picked


def approve(cs: Calsync, target: Target, ids: Iterable[str] | None = None) -> int:
    """Write approved proposals (``None``: all open ones) to ``target``; return how many.

    Raises:
        InputError: an id is not an open proposal of this target.
        TargetError: the target refused a write (the ones before it are written).

    """
    from calsync.writeback import _execute, block_content

    rows = _pick(cs, target.name, ids)
    user = cs.config.user.id
    with cs.store.read() as tx:
        installation = tx.installation_id()
        counts = {t.name: cs.habit_in(tx, t.name, user)[1] for t in cs.config.task_types}
    written = 0
    for row in rows:
        block = _planned(cs, row)
        content = block_content(cs, block, row.id, counts.get(row.task_type, 0), installation)
        _execute(cs, target, Create(content), [block], user, installation)
        written += 1
    logger.info("%s: %d proposal(s) approved and written", target.name, written)
    return written


def decline(cs: Calsync, target: str, ids: Iterable[str] | None = None) -> int:
    """Decline proposals (``None``: all open ones): learned as deleted blocks; return how many.

    Raises:
        InputError: an id is not an open proposal of this target.

    """
    rows = _pick(cs, target, ids)
    now = cs.clock.now()
    with cs.store.write() as tx:
        for row in rows:
            tx.save_suggestion(replace(row, status="declined"), now)
            if cs.config.task_type(row.task_type) is not None:
                cs.record_completion_in(
                    tx, row.task_type, row.start, 0.0, key=f"suggestion:{row.id}:skip"
                )
    logger.info("%s: %d proposal(s) declined", target, len(rows))
    return len(rows)


def block_values(
    habit: np.ndarray,
    energy: np.ndarray,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    scoring: ScoringParams,
) -> tuple[float, float, float]:
    """Score, habit and energy of a block: means over its quarter hours, as the planner does."""
    quarter = timedelta(minutes=15)
    slots: list[int] = []
    moment = start
    while moment < end and len(slots) < 4 * 24 * 7:
        slots.append(slot_of(moment, tz))
        moment += quarter
    if not slots:
        slots = [slot_of(start, tz)]
    h = float(np.mean(habit[slots]))
    e = float(np.mean(energy[slots]))
    return scoring.habit_weight * h + scoring.energy_weight * e, h, e


def _planned(cs: Calsync, row: SuggestionRow) -> PlannedBlock:
    user = cs.config.user.id
    with cs.store.read() as tx:
        habit, _ = cs.habit_in(tx, row.task_type, user)
        energy, _ = tx.load_energy(user, cs.config.learning.neutral_value)
    tz = ZoneInfo(cs.config.user.timezone)
    _score, h, e = block_values(habit, energy, row.start, row.end, tz, cs.config.scoring.params())
    return PlannedBlock(row.id, row.task_type, row.start, row.end, row.score, h, e, "new")
