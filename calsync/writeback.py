"""Write-back: make a target calendar match the plan of calsync's suggested blocks.

One cycle for one target:

1. read the owned events in the target and calsync's own records; keep
   only this installation's (:func:`~calsync.reconcile.partition_owned`;
   the others' are reported once and never touched), and fetch by id every
   block calsync believes live that the listing did not return — an
   absence is believed only when that fetch confirms it, and a mass absence
   (:func:`~calsync.reconcile.is_mass_absence`) never as the user's decision;
2. :func:`~calsync.reconcile.observe` what happened since the last cycle and
   learn from it (a block deleted before its start is a skip for its slot, a
   moved block a skip for the old slot and a completion at the new one once it
   passes, a kept block a completion);
3. plan (:func:`~calsync.planning.plan_target`) from the learned arrays, the
   busy time in every source's mirror and the existing blocks;
4. compute the actions (:func:`~calsync.reconcile.compute_actions`) — values;
5. execute them, each as *intent in the database → remote write → commit*,
   so a crash at any point is resolved by the next cycle without a duplicate
   and without mistaking calsync's own half-done move for the user's.

``dry_run`` stops after step 4 and writes nothing anywhere. The adapters
are built by :mod:`calsync.targets.factory`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from calsync.approval import UNWRITTEN, hold_for_approval, is_manual
from calsync.errors import CalsyncError, TargetError
from calsync.inference import KnownSuggestion, infer_suggestion_outcomes
from calsync.ingest import learn
from calsync.learning.schedule import WEEK, PlannedBlock, Shortfall
from calsync.model import Event
from calsync.planning import plan_target
from calsync.reconcile import (
    COUNTED,
    LIVE,
    Action,
    Create,
    Delete,
    Update,
    absences_to_confirm,
    block_row,
    compute_actions,
    is_mass_absence,
    observe,
    partition_owned,
)
from calsync.service import Calsync
from calsync.store.store import SuggestionRow
from calsync.targets.base import (
    ANY_INSTALLATION,
    BlockContent,
    OwnedEvent,
    Target,
    suggestion_id,
)

logger = logging.getLogger(__name__)

# Foreign blocks (another installation's, malformed markers) already reported,
# by (this installation, target, remote id): each is logged once per process,
# not every cycle.
_reported: set[tuple[str, str, str]] = set()
_reported_lock = threading.Lock()


@dataclass
class CycleReport:
    """What one write-back cycle planned, learned and wrote."""

    target: str
    dry_run: bool
    plan: list[PlannedBlock] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    observed: dict[str, int] = field(default_factory=dict)
    learned: int = 0
    written: int = 0
    error: str | None = None
    #: Blocks with calsync's marker that are not this installation's (left alone).
    foreign: int = 0
    #: Absences a fetch by id could not confirm (nothing concluded from them).
    unconfirmed: int = 0
    #: New blocks held for approval (``planning.approval = "manual"``), not written.
    proposed: list[PlannedBlock] = field(default_factory=list)
    #: Task types and weeks with fewer blocks than wanted, and why.
    shortfalls: list[Shortfall] = field(default_factory=list)
    #: ``calsync purge`` paused the target: nothing planned or written until ``calsync resume``.
    paused: bool = False

    def summary(self) -> str:
        """One line for people."""
        if self.paused:
            return (
                f"{self.target}: paused since `calsync purge`: nothing planned or written "
                f"(`calsync resume --target {self.target}` writes blocks again)"
            )
        counts = {"create": 0, "update": 0, "delete": 0}
        for action in self.actions:
            counts[type(action).__name__.lower()] += 1
        seen = ", ".join(f"{n} {k}" for k, n in sorted(self.observed.items()) if n) or "nothing"
        verb = "would write" if self.dry_run else "wrote"
        line = (
            f"{self.target}: {len(self.plan)} block(s) planned; {verb} {counts['create']} new, "
            f"{counts['update']} moved, {counts['delete']} removed; observed {seen}; "
            f"learned {self.learned}"
        )
        if self.unconfirmed:
            line += f"; {self.unconfirmed} absence(s) not confirmed, nothing concluded"
        if self.foreign:
            line += f"; {self.foreign} block(s) of other installations left alone"
        if self.proposed:
            line += f"; {len(self.proposed)} proposed, waiting for approval"
        return line + (f"; FAILED: {self.error}" if self.error else "")


# ---------------------------------------------------------------------- content


def block_content(
    cs: Calsync,
    block: PlannedBlock,
    block_id: str,
    completions: int,
    installation: str | None = None,
) -> BlockContent:
    """The title and explanation calsync writes for a block (marked with ``installation``)."""
    task = cs.task_type(block.task_type)
    local = block.start.astimezone(cs.timezone())
    description = (
        f"calsync suggests {task.name} here: score {block.score:.2f} "
        f"(habit {block.habit:.2f}, energy {block.energy:.2f} on {local:%A} "
        f"around {local:%H:00}).\nLearned from {completions} completion(s). "
        "Move or delete it freely: calsync learns from it."
    )
    return BlockContent(
        suggestion_id=block_id,
        task_type=task.name,
        start=block.start,
        end=block.end,
        summary=f"{cs.config.writeback.summary_prefix}{task.name}",
        description=description,
        color=task.color,
        transparent=cs.config.writeback.transparency == "transparent",
        installation=installation,
    )


def _as_event(target: str, owned: OwnedEvent) -> Event:
    return Event(
        source=target,
        uid=owned.remote_id,
        start=owned.start,
        end=owned.end,
        summary=owned.summary,
        description=owned.description,
        suggestion_id=owned.suggestion_id,
    )


# ---------------------------------------------------------------------- the cycle


def run_cycle(cs: Calsync, target: Target, dry_run: bool = False) -> CycleReport:
    """Plan and write one target's suggestions (see the module docstring).

    What the user did with earlier blocks is learned *before* planning, so the
    plan already reflects it and the next cycle, with nothing new, writes
    nothing. A dry run records nothing and plans on the arrays as they are.
    """
    config = cs.config
    user = config.user.id
    now = cs.clock.now()
    report = CycleReport(target=target.name, dry_run=dry_run)
    manual = is_manual(cs)

    with cs.store.read() as tx:
        if target.name in tx.paused_targets():
            report.paused = True
            return report
        installation = tx.installation_id()
        rows = tx.suggestions(user, target.name, LIVE)
        # Proposals never written (approval mode) do not take their ids: a stable
        # plan proposes the same block under the same id again.
        known_ids = {r.id for r in tx.suggestions(user, target.name) if r.status not in UNWRITTEN}
        declined_before = [
            r for r in tx.suggestions(user, target.name, ["declined", "lost"]) if r.end > now
        ]
        # What this and last week's suggestions became, and since when each task
        # type has been suggested (for the weekly targets).
        history = {r.id: r for r in tx.suggestions(user, target.name, COUNTED, now - 2 * WEEK)}
        began = tx.first_suggested(user, target.name) or now
        known = tx.task_types_known_since()
    # A task type is suggested from the first cycle that wrote to this target,
    # or from when it was configured, if later.
    since = {name: max(began, at) for name, at in known.items()}
    # The user may drag a block anywhere: look well back, and forward without limit.
    earliest = min([now, *(r.start for r in rows)]) - timedelta(days=30)
    try:
        listed = target.list_owned(earliest, None)
    except CalsyncError as err:
        report.error = str(err)
        logger.warning(
            "%s: write-back stopped: %s", target.name, err, extra={"calsync_reported": True}
        )
        return report
    ownership = partition_owned(listed, installation, known_ids)
    report.foreign = len(ownership.foreign)
    _report_foreign(installation, target.name, ownership.foreign)
    remote, confirmed, unconfirmed = _confirm_absences(
        target, rows, ownership.ours, installation, known_ids
    )
    mass = is_mass_absence(rows, confirmed)
    report.unconfirmed = len(unconfirmed)
    if mass:
        logger.warning(
            "%s: %d of calsync's blocks are missing at once; taken for a calendar that lost "
            "them, not for the user's decision: nothing is learned from them",
            target.name,
            len(confirmed),
        )

    # 1. What happened since the last cycle, and what it teaches.
    observation = observe(rows, remote, now, known_ids, confirmed, mass)
    report.observed = _count_changes(rows, observation.rows)
    present = {e.suggestion_id for e in remote}
    decided = present | (set() if mass else set(confirmed))
    watched = [
        KnownSuggestion(r.id, r.task_type, r.planned_start or r.start, r.end)
        for r in rows
        if r.status in ("active", "user_moved", "moving", "missing")
        and r.id in decided
        and (r.status != "missing" or r.id in present)
    ]
    outcomes = infer_suggestion_outcomes(
        watched, [_as_event(target.name, e) for e in remote], now, config.learning.default_success
    )
    if not dry_run:
        with cs.store.write() as tx:
            for row in observation.rows:
                tx.save_suggestion(row, now)
            report.learned = learn(cs, tx, outcomes, f"target {target.name}")[0]

    # 2. The plan, from what calsync knows now. Blocks calsync cannot see right
    # now stay where they are: not moved, not replaced (nor those only a fetch
    # by id found: a CalDAV block in a renamed calendar).
    listed_ids = {e.suggestion_id for e in ownership.ours}
    held = {
        r.id
        for r in observation.rows
        if r.id in unconfirmed
        or r.status == "missing"
        or (r.status in ("active", "user_moved") and r.id not in listed_ids)
    }
    history.update({r.id: r for r in observation.rows})
    planned = plan_target(
        cs,
        now,
        observation.rows,
        held=held,
        declined=[*declined_before, *observation.rows],
        earlier=history.values(),
        since={t.name: since.get(t.name, began) for t in config.task_types},
        manual=manual,
    )
    # Ids are unique across targets (the table is keyed by id alone): the same plan
    # written to a second target must not take over the first target's rows.
    with cs.store.read() as tx:
        everywhere = {r.id for r in tx.suggestions(user) if r.target != target.name}
    taken = known_ids | everywhere | {e.suggestion_id for e in ownership.foreign}
    plan = _with_ids(planned.blocks, user, taken, installation)
    contents = {
        b.id: block_content(cs, b, b.id, planned.completions[b.task_type], installation)
        for b in plan
        if b.id is not None and b.reason in ("new", "moved")
    }

    # 3. The actions, as values.
    actions = compute_actions(plan, contents, observation.rows, remote, observation.orphans)
    if manual:  # nothing new is written until the user approves it
        actions, report.proposed = hold_for_approval(cs, target.name, plan, actions, dry_run)
    report.plan, report.actions = plan, actions
    report.shortfalls = planned.shortfalls
    if dry_run:
        return report

    # 4. Execute: intent, remote write, commit — one action at a time.
    remote_by_id = {e.suggestion_id: e for e in remote}
    creating = {a.content.suggestion_id for a in actions if isinstance(a, Create)}
    with cs.store.write() as tx:
        for block in plan:  # an orphan at the planned place: adopt it, nothing to write
            if block.reason == "new" and block.id not in creating and block.id in remote_by_id:
                remote_id = remote_by_id[block.id].remote_id
                adopted = block_row(user, target.name, block, remote_id, "active")
                tx.save_suggestion(adopted, now)
    try:
        for action in actions:
            _execute(cs, target, action, plan, user, installation)
            report.written += 1
    except CalsyncError as err:
        report.error = str(err)
        logger.warning(
            "%s: write-back stopped: %s", target.name, err, extra={"calsync_reported": True}
        )
    logger.debug("%s", report.summary())  # the cycle logs one line at INFO
    return report


def _report_foreign(installation: str, target: str, foreign: Sequence[OwnedEvent]) -> None:
    """Log each block that is not this installation's, once per process."""
    with _reported_lock:
        new = [e for e in foreign if (installation, target, e.remote_id) not in _reported]
        _reported.update((installation, target, e.remote_id) for e in new)
    for event in new:
        why = (
            "has a malformed calsync marker"
            if event.malformed
            else f"belongs to another calsync installation ({event.installation or 'unknown'})"
        )
        logger.warning(
            "%s: block %s at %s %s; calsync leaves it alone "
            "(`calsync purge --all-installations` removes such blocks)",
            target,
            event.remote_id,
            event.start.isoformat(),
            why,
        )


def _confirm_absences(
    target: Target,
    rows: Sequence[SuggestionRow],
    listed: list[OwnedEvent],
    installation: str,
    known_ids: set[str],
) -> tuple[list[OwnedEvent], set[str], set[str]]:
    """Fetch by id every live block the listing did not return.

    Returns the events to observe (the listing plus those found by id), the
    ids confirmed absent, and the ids whose absence could not be confirmed
    (the target failed: the rest is not asked, and nothing is concluded).
    """
    remote = list(listed)
    confirmed: set[str] = set()
    unconfirmed: set[str] = set()
    pending = absences_to_confirm(rows, listed)
    for index, row in enumerate(pending):
        try:
            found = target.get_owned(row.id)
        except CalsyncError as err:
            unconfirmed = {r.id for r in pending[index:]}
            logger.warning(
                "%s: cannot confirm that %d block(s) missing from the listing are gone (%s); "
                "nothing is concluded from their absence",
                target.name,
                len(unconfirmed),
                err,
            )
            break
        if found is None:
            confirmed.add(row.id)
            continue
        ours = partition_owned([found], installation, known_ids).ours
        if ours and ours[0].suggestion_id == row.id:
            remote.append(ours[0])  # the listing was incomplete; the block is there
        else:
            unconfirmed.add(row.id)  # something else holds its id: conclude nothing
    if pending:
        logger.info(
            "%s: %d block(s) missing from the listing: %d confirmed gone, %d found by id, "
            "%d unconfirmed",
            target.name,
            len(pending),
            len(confirmed),
            len(remote) - len(listed),
            len(unconfirmed),
        )
    return remote, confirmed, unconfirmed


def _with_ids(
    plan: list[PlannedBlock], user: str, known: set[str], installation: str = ""
) -> list[PlannedBlock]:
    """Give new blocks their deterministic id, never one calsync has used before."""
    taken = set(known) | {b.id for b in plan if b.id is not None}
    result = []
    for block in plan:
        if block.id is None:
            attempt = 0
            while (
                new_id := suggestion_id(user, block.task_type, block.start, attempt, installation)
            ) in taken:
                attempt += 1
            taken.add(new_id)
            block = replace(block, id=new_id)
        result.append(block)
    return result


def _count_changes(before: list[SuggestionRow], after: list[SuggestionRow]) -> dict[str, int]:
    old = {r.id: r.status for r in before}
    counts: dict[str, int] = {}
    for row in after:
        if old.get(row.id) != row.status and row.status in (
            "declined",
            "user_moved",
            "done",
            "gone",
            "missing",
            "lost",
        ):
            counts[row.status] = counts.get(row.status, 0) + 1
    return counts


def _execute(
    cs: Calsync,
    target: Target,
    action: Action,
    plan: list[PlannedBlock],
    user: str,
    installation: str,
) -> None:
    """Intent → remote write → commit, for one action."""
    now = cs.clock.now()
    if isinstance(action, Create):
        block = next(b for b in plan if b.id == action.content.suggestion_id)
        with cs.store.write() as tx:
            tx.save_suggestion(block_row(user, target.name, block, None, "creating"), now)
        remote_id = target.create(action.content)
        with cs.store.write() as tx:
            tx.save_suggestion(block_row(user, target.name, block, remote_id, "active"), now)
    elif isinstance(action, Update):
        block = next(b for b in plan if b.id == action.content.suggestion_id)
        with cs.store.read() as tx:
            (row,) = [r for r in tx.suggestions(user, target.name) if r.id == block.id]
        with cs.store.write() as tx:
            tx.save_suggestion(
                replace(row, status="moving", pending_start=block.start, pending_end=block.end), now
            )
        target.update(action.remote_id, action.content)
        with cs.store.write() as tx:
            tx.save_suggestion(
                replace(
                    row,
                    status="active",
                    start=block.start,
                    end=block.end,
                    score=block.score,
                    planned_start=block.start,
                    pending_start=None,
                    pending_end=None,
                ),
                now,
            )
    elif isinstance(action, Delete):
        with cs.store.read() as tx:
            rows = [r for r in tx.suggestions(user, target.name) if r.id == action.suggestion_id]
        if rows:
            with cs.store.write() as tx:
                tx.save_suggestion(replace(rows[0], status="deleting"), now)
        target.delete(action.remote_id, installation)
        if rows:
            with cs.store.write() as tx:
                tx.save_suggestion(replace(rows[0], status="retracted"), now)
    else:  # pragma: no cover - the union is closed
        raise TargetError(f"unknown action {action!r}")


@dataclass(frozen=True)
class PurgedBlock:
    """One block :func:`purge` removed."""

    task_type: str
    start: datetime
    end: datetime
    remote_id: str
    installation: str | None


@dataclass
class PurgeReport:
    """What :func:`purge` removed from one target, and what it left."""

    target: str
    removed: list[PurgedBlock] = field(default_factory=list)
    #: Blocks with calsync's marker left alone (other installations', malformed markers).
    kept: int = 0

    def __len__(self) -> int:
        """How many blocks were removed."""
        return len(self.removed)


def purge(
    cs: Calsync, targets: list[Target], all_installations: bool = False
) -> dict[str, PurgeReport]:
    """Remove every block this installation wrote from every target.

    Blocks written before installation ids count as this installation's when
    the database knows their id. With ``all_installations`` every event with
    calsync's marker goes — other installations' and malformed ones too.
    Nothing without the marker is ever touched.
    """
    reports: dict[str, PurgeReport] = {}
    now = cs.clock.now()
    user = cs.config.user.id
    prefix = cs.config.writeback.summary_prefix
    with cs.store.read() as tx:
        installation = tx.installation_id()
        tasks = {t.name: {r.id: r.task_type for r in tx.suggestions(user, t.name)} for t in targets}
    for target in targets:
        report = PurgeReport(target.name)
        known = tasks[target.name]
        listed = target.list_owned()
        ownership = partition_owned(listed, installation, set(known))
        doomed = listed if all_installations else ownership.ours
        report.kept = len(listed) - len(doomed)
        for event in doomed:
            target.delete(event.remote_id, ANY_INSTALLATION if all_installations else installation)
            task = known.get(event.suggestion_id) or event.summary.removeprefix(prefix)
            report.removed.append(
                PurgedBlock(task, event.start, event.end, event.remote_id, event.installation)
            )
        with cs.store.write() as tx:
            for row in tx.suggestions(user, target.name, LIVE):
                tx.save_suggestion(replace(row, status="retracted"), now)
            # Or the next cycle would write them all again: paused until `calsync resume`.
            tx.set_target_paused(target.name, True, now)
        logger.info(
            "%s: purge removed %d block(s), left %d of other installations",
            target.name,
            len(report.removed),
            report.kept,
        )
        reports[target.name] = report
    return reports
