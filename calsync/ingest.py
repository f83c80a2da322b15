"""Ingestion: poll a source, mirror its events, learn from what passed.

One poll of one source is one store transaction: the event mirror, the
completions learned, the feedback notes and the source's new cursor are saved
together, so a crash never keeps a cursor whose events were lost, and never
learns an event twice (completions carry the occurrence's key).

A source that fails keeps its last good state (mirror and cursor) and records
the error; the other sources go on. ``AuthError`` marks the source as needing
re-authorization.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from calsync.errors import AuthError, CalsyncError, InputError, SourceCancelledError
from calsync.inference import InferredCompletion, infer_completions
from calsync.model import Event
from calsync.service import ADDED, CORRECTED, Calsync
from calsync.sources.base import FetchResult, Source
from calsync.store.store import StoreTx, SyncStateRow
from calsync.text import quote

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceReport:
    """The outcome of one poll of one source."""

    source: str
    ok: bool
    full: bool = False
    received: int = 0
    deleted: int = 0
    learned: int = 0
    corrected: int = 0
    insights: int = 0
    error: str | None = None
    needs_reauth: bool = False
    #: The source's type (``ics``, ``caldav``, ``google``): ``sync --json``'s "type", and
    #: named in a failure.
    kind: str = ""

    def summary(self) -> str:
        """One line for people: what was learned, or what failed, where, and the fix."""
        if not self.ok:
            kind = f" ({self.kind})" if self.kind else ""
            return f"{self.source}{kind}: FAILED: {self.error}{failure_hint(self)}"
        kind = "full" if self.full else "incremental"
        return (
            f"{self.source}: {kind}, {self.received} event(s) received, {self.deleted} deleted, "
            f"{self.learned} completion(s) learned, {self.corrected} corrected, "
            f"{self.insights} note(s)"
        )


def failure_hint(report: SourceReport) -> str:
    """The fix for a failed source, for its type; empty when its message already says it.

    Only a Google source is fixed by ``calsync auth google``; a CalDAV
    source refused access needs its username and password, which its
    message names.
    """
    error = report.error or ""
    if report.needs_reauth and report.kind == "google" and "calsync auth google" not in error:
        return f" (run `calsync auth google --source {report.source}`)"
    return ""


def _apply_to_mirror(tx: StoreTx, source: str, result: FetchResult, cs: Calsync) -> int:
    """Bring the mirror up to date; return how many occurrences were deleted."""
    if result.full:
        current = {e.occurrence_key for e in result.events}
        gone: Iterable[str] = tx.event_keys(source) - current
    else:
        gone = result.deleted
    deleted = tx.delete_events(source, gone)
    tx.upsert_events(source, result.events, cs.clock.now())
    return deleted


def learn(
    cs: Calsync, tx: StoreTx, completions: Iterable[InferredCompletion], origin: str
) -> tuple[int, int, int]:
    """Record inferred completions and their notes; return (learned, corrected, notes).

    Completions of a task type no longer configured are skipped, and so is an
    occurrence another source has already taught (the same iCalendar UID and
    RECURRENCE-ID, or Google ``iCalUID``): one event, one piece of evidence,
    however many sources read its calendar.
    """
    learned = corrected = insights = 0
    now = cs.clock.now()
    others = sorted((tx.known_sources() | {s.name for s in cs.config.sources}) - {origin})
    for completion in completions:
        if cs.config.task_type(completion.task_type) is None:
            logger.info("%s: skipping a completion of the unconfigured task type", origin)
            continue
        key = completion.key
        if completion.legacy_key and tx.find_update(completion.legacy_key) is not None:
            key = completion.legacy_key  # learned by an older calsync under its old key
        elif tx.find_update(key) is None and _taught_elsewhere(tx, completion, others):
            logger.debug("%s: an occurrence another source already taught", origin)
            continue
        outcome = cs.record_completion_in(
            tx,
            completion.task_type,
            completion.start,
            completion.success,
            completion.energy_after,
            key=key,
        )
        learned += outcome.status == ADDED
        corrected += outcome.status == CORRECTED
        for note in completion.notes:
            insights += tx.add_insight(
                cs.config.user.id,
                "feedback",
                note,
                now,
                meta={"source": origin, "task_type": completion.task_type},
            )
    return learned, corrected, insights


def _taught_elsewhere(tx: StoreTx, completion: InferredCompletion, others: Iterable[str]) -> bool:
    """Whether another source's completion of the same occurrence is in the log."""
    if completion.identity is None:
        return False
    return any(tx.find_update(f"event:{name}:{completion.identity}") for name in others)


@dataclass(frozen=True)
class ForgetReport:
    """What :func:`forget_source` removed and re-learned."""

    source: str
    events: int
    completions: int
    notes: int
    relearned: int
    #: Memory-store ids of the forgotten notes (the caller removes them there too).
    memory_ids: tuple[str, ...] = ()
    #: False: a configured source the database holds nothing of (forgotten, or never synced).
    found: bool = True

    def summary(self) -> str:
        """One line for people."""
        if not self.found:
            return f"{self.source}: nothing to forget (the database holds nothing from it)"
        return (
            f"{self.source}: forgot {self.events} event(s), {self.completions} completion(s) "
            f"and {self.notes} note(s); {self.relearned} completion(s) other sources share "
            "re-learned from them; arrays recomputed from what remains"
        )


def forget_source(cs: Calsync, name: str) -> ForgetReport:
    """Remove a source's events and everything learned from them; replay the rest.

    One transaction: the source's mirror, sync state, completions (keys
    ``event:<name>:…``) and the notes read from its events go; occurrences
    another source also carries — learned once, from whichever came first —
    are learned again from that source; every array of the user is
    recomputed from the update log that remains.

    A configured source the database knows nothing of (forgotten already,
    or never synced) is nothing to forget: a report with ``found`` False.

    Raises:
        InputError: neither the database nor the configuration knows a source of that name.

    """
    user = cs.config.user.id
    now = cs.clock.now()
    with cs.store.write() as tx:
        known = tx.known_sources()
        if name not in known and name in {s.name for s in cs.config.sources}:
            return ForgetReport(name, 0, 0, 0, 0, found=False)
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise InputError(f"no source called {name!r} in the database (known: {listed})")
        events, completions = tx.forget_source(name)
        notes = 0
        memory_ids: list[str] = []
        for insight in tx.insights(user):
            meta = insight.meta or {}
            if meta.get("source") == name and insight.kind == "feedback":
                tx.delete_insight(user, insight.id)
                notes += 1
                if isinstance(meta.get("memory_id"), str):
                    memory_ids.append(meta["memory_id"])
        relearned = 0
        for other in sorted(tx.known_sources()):
            ended = tx.events(source=other, ended_by=now)
            inferred = infer_completions(
                ended, cs.config.task_types, now, cs.config.learning.default_success
            )
            relearned += learn(cs, tx, inferred, other)[0]
        cs.learner.rebuild(tx, user, now)
    logger.info("forgot source %s", name)
    return ForgetReport(name, events, completions, notes, relearned, tuple(memory_ids))


def sync_source(cs: Calsync, source: Source) -> SourceReport:
    """Poll one source and learn from it. Never raises for a source's failure."""
    now = cs.clock.now()
    kind = next((s.type for s in cs.config.sources if s.name == source.name), "")
    with cs.store.read() as tx:
        state = tx.sync_state(source.name)
    try:
        result = source.fetch(state.cursor if state else None)
    except SourceCancelledError as err:
        # Stopped by a shutdown: nothing is recorded, the source is polled again at start.
        logger.info("%s: %s", source.name, err)
        return SourceReport(source=source.name, ok=False, error=str(err), kind=kind)
    except CalsyncError as err:
        return _record_failure(cs, source.name, state, err, kind)
    except Exception as err:  # a bug in one adapter must not stop the others
        logger.exception("%s: unexpected failure", source.name)
        return _record_failure(cs, source.name, state, err, kind)

    with cs.store.write() as tx:
        deleted = _apply_to_mirror(tx, source.name, result, cs)
        # Changed events, and mirrored ones that have ended since the last
        # successful poll: an incremental source does not resend an event
        # just because its end has passed.
        candidates: dict[str, Event] = {e.occurrence_key: e for e in result.events}
        since = state.last_success_at if state else None
        for event in tx.events(source=source.name, ended_after=since, ended_by=now):
            candidates.setdefault(event.occurrence_key, event)
        completions = infer_completions(
            candidates.values(), cs.config.task_types, now, cs.config.learning.default_success
        )
        learned, corrected, insights = learn(cs, tx, completions, source.name)
        tx.save_sync_state(
            SyncStateRow(
                source=source.name,
                cursor=result.cursor,
                last_success_at=now,
                last_attempt_at=now,
                last_error=None,
                consecutive_failures=0,
                needs_reauth=False,
            )
        )
    report = SourceReport(
        source=source.name,
        ok=True,
        full=result.full,
        received=len(result.events),
        deleted=deleted,
        learned=learned,
        corrected=corrected,
        insights=insights,
        kind=kind,
    )
    logger.debug("%s", report.summary())  # the cycle logs one line at INFO
    return report


def _record_failure(
    cs: Calsync, name: str, state: SyncStateRow | None, err: Exception, kind: str
) -> SourceReport:
    now = cs.clock.now()
    needs_reauth = isinstance(err, AuthError)
    text = str(err) if isinstance(err, CalsyncError) else f"unexpected {type(err).__name__}: {err}"
    # The report names the source once; adapters' messages often start with it too.
    text = text.removeprefix(f"{name}: ")
    if kind == "google":  # the fix names this source (there may be several Google sources)
        text = text.replace("`calsync auth google`", f"`calsync auth google --source {name}`")
    # The message may quote the feed or the server: bounded and printable before
    # it reaches the database, status and the log.
    message = quote(text or type(err).__name__)
    with cs.store.write() as tx:
        tx.save_sync_state(
            SyncStateRow(
                source=name,
                cursor=state.cursor if state else None,
                last_success_at=state.last_success_at if state else None,
                last_attempt_at=now,
                last_error=message,
                consecutive_failures=(state.consecutive_failures if state else 0) + 1,
                needs_reauth=needs_reauth,
            )
        )
    report = SourceReport(
        source=name, ok=False, error=message, needs_reauth=needs_reauth, kind=kind
    )
    # One line per failure: a command prints the report itself and drops this one
    # (the ``calsync_reported`` mark); the service's log keeps it.
    logger.warning("%s", report.summary(), extra={"calsync_reported": True})
    return report


def sync_all(cs: Calsync, sources: Iterable[Source]) -> list[SourceReport]:
    """Poll every source in turn; one failing source never stops the others."""
    return [sync_source(cs, source) for source in sources]
