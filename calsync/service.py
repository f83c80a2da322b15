"""The Python API: what the command line, the daemon, tests and benchmarks drive.

>>> from datetime import datetime, timedelta
>>> from zoneinfo import ZoneInfo
>>> import calsync
>>> cs = calsync.open(store_url="sqlite://")          # embedded default config, in memory
>>> tz = ZoneInfo("UTC")
>>> cs.record_completion("Deep Coding", datetime(2026, 11, 24, 9, tzinfo=tz), success=0.9).status
'added'
>>> cs.close()

:class:`Calsync` glues the pure core (:mod:`calsync.learning`) to the store:
each public method runs in one store transaction, reads what it needs,
computes with the core and writes the result.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from calsync.clock import Clock, SystemClock
from calsync.config import Config, TaskTypeConfig, load_config
from calsync.errors import InputError, UnknownTaskTypeError, UnknownUserError
from calsync.learner import Learner, build_learner
from calsync.learning.habits import Adjustment
from calsync.learning.planner import Period, SlotChoice, find_optimal_slot
from calsync.learning.progress import LearningProgress, learning_progress
from calsync.learning.slots import SLOTS_PER_WEEK, slot_of
from calsync.store.store import Store, StoreTx, UpdateRow

logger = logging.getLogger(__name__)

ADDED = "added"
DUPLICATE = "duplicate"
CORRECTED = "corrected"


@dataclass(frozen=True)
class RecordResult:
    """What recording a completion did.

    Attributes:
        status: ``added`` (learned from), ``duplicate`` (already known, nothing
            changed) or ``corrected`` (replaced an earlier update with the same key).
        key: The idempotency key used.
        slot: The weekly slot of the completion's local start.

    """

    status: str
    key: str
    slot: int


@dataclass(frozen=True)
class WeeklyArrayView:
    """A copy of a stored 168-slot array and how many updates shaped it."""

    values: np.ndarray
    count: int

    def grid(self) -> np.ndarray:
        """The array as 7 rows (Sunday first) × 24 hours."""
        return self.values.reshape(7, 24)


def completion_key(user_id: str, task_type: str, start: datetime) -> str:
    """The default idempotency key: one completion per user, task type and start."""
    return f"completion:{user_id}:{task_type}:{start.astimezone(UTC).isoformat()}"


class Calsync:
    """calsync's learning API over one store and one configuration.

    How completions and adjustments become arrays is the configured learner's
    business (``learning.learner``, see :mod:`calsync.learner`); this class
    keeps the update log they are computed from. Opening it checks that the
    stored arrays were computed with the configured learner and parameters,
    and rebuilds them from the log when they were not.

    Args:
        config: The validated configuration.
        store: An open store.
        clock: Time source (inject a :class:`~calsync.clock.FixedClock` in tests).

    """

    def __init__(self, config: Config, store: Store, clock: Clock | None = None):
        self.config = config
        self.store = store
        self.clock = clock or SystemClock()
        self._scoring = config.scoring.params()
        self._neutral = config.learning.neutral_value
        self.learner: Learner = build_learner(config)
        self._fingerprint = self.learner.fingerprint()
        self._habit_default = self.learner.habit_default()
        self._task_ids: dict[str, int] = {}
        self._sync_config()

    # ------------------------------------------------------------------ life cycle

    def _config_in_store(self) -> bool:
        """Whether the database already holds the configuration (no write needed).

        Checked in a read transaction first, so that read-only commands
        (``status``, ``heatmap``, ``plan``) never take the write lock when
        nothing changed, and work while another process writes.
        """
        with self.store.read() as tx:
            users = tx.users()
            if users.get(self.config.user.id) != self.config.user.timezone:
                return False
            if any(tx.task_type_id(task.name) is None for task in self.config.task_types):
                return False
            return all(tx.learner_fingerprint(user) == self._fingerprint for user in users)

    def _sync_config(self) -> None:
        if self._config_in_store():
            return
        now = self.clock.now()
        with self.store.write() as tx:
            tx.ensure_user(self.config.user.id, self.config.user.timezone, now)
            for task in self.config.task_types:
                tx.ensure_task_type(task.name, now)
            rebuilt = [user for user in sorted(tx.users()) if self._check_learner(tx, user, now)]
        if rebuilt:
            logger.info(
                "learner configuration changed (now %r): rebuilt the arrays of %d user(s) "
                "from the update log",
                self.config.learning.learner,
                len(rebuilt),
            )

    def _check_learner(self, tx: StoreTx, user_id: str, now: datetime) -> bool:
        """Make the user's arrays the configured learner's; ``True`` when they were rebuilt.

        A user whose arrays were computed with another learner or other
        parameters (or before fingerprints were kept, but with something in
        the log) is rebuilt from the update log; a user with nothing learned
        just gets the fingerprint.
        """
        stored = tx.learner_fingerprint(user_id)
        if stored == self._fingerprint:
            return False
        rebuild = stored is not None or tx.count_updates(user_id=user_id) > 0
        if rebuild:
            self.learner.rebuild(tx, user_id, now)
        tx.save_learner_fingerprint(user_id, self._fingerprint, now)
        return rebuild

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> Calsync:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ lookups

    def task_type(self, name: str) -> TaskTypeConfig:
        """The configured task type ``name`` (case-insensitive).

        Raises:
            UnknownTaskTypeError: when the configuration does not define it.

        """
        task = self.config.task_type(name)
        if task is None:
            known = ", ".join(t.name for t in self.config.task_types) or "none configured"
            raise UnknownTaskTypeError(f"unknown task type {name!r} (known: {known})")
        return task

    def _user(self, user: str | None) -> str:
        return user or self.config.user.id

    def _zone(self, tx: StoreTx, user: str) -> ZoneInfo:
        zone = tx.user_timezone(user)
        if zone is None:
            known = ", ".join(sorted(tx.users())) or "none"
            raise UnknownUserError(
                f"unknown user {user!r} (known: {known}); [user] id in the configuration "
                "names the default one"
            )
        return ZoneInfo(zone)

    def task_type_id_in(self, tx: StoreTx, name: str) -> int:
        """The database id of a configured task type, inside a transaction.

        Remembered after the first look-up: configured task types are created
        at start-up and never renumbered (the learner relies on it too).
        """
        task_id = self._task_ids.get(name)
        if task_id is None:
            task_id = tx.task_type_id(name)
            assert task_id is not None, "configured task types are created at start-up"
            self._task_ids[name] = task_id
        return task_id

    def add_user(self, user_id: str, timezone: str) -> None:
        """Create a user (or change its time zone)."""
        try:
            ZoneInfo(timezone)
        except (KeyError, ValueError) as err:
            raise InputError(f"unknown IANA time zone {timezone!r}") from err
        now = self.clock.now()
        with self.store.write() as tx:
            tx.ensure_user(user_id, timezone, now)
            self._check_learner(tx, user_id, now)

    def timezone(self, user: str | None = None) -> ZoneInfo:
        """The time zone of ``user`` (default: the configured user)."""
        with self.store.read() as tx:
            return self._zone(tx, self._user(user))

    # ------------------------------------------------------------------ learning

    def record_completion(
        self,
        task_type: str,
        start: datetime,
        success: float | None = None,
        energy_after: float | None = None,
        *,
        user: str | None = None,
        key: str | None = None,
    ) -> RecordResult:
        """Learn from one completed task.

        Args:
            task_type: A configured task type name.
            start: When the task started (timezone-aware; read on the user's clock).
            success: How well it went, 0–1 (default ``learning.default_success``).
            energy_after: The user's energy afterwards, 0–1, if known.
            user: The user (default: the configured one).
            key: Idempotency key; the same key is never learned twice, and a
                different rating under the same key replaces the earlier one.
                Default: user, task type and start.

        Raises:
            InputError: naive datetime, value outside 0–1, unknown task type or user.

        """
        with self.store.write() as tx:
            return self.record_completion_in(
                tx, task_type, start, success, energy_after, user=user, key=key
            )

    def record_completion_in(
        self,
        tx: StoreTx,
        task_type: str,
        start: datetime,
        success: float | None = None,
        energy_after: float | None = None,
        *,
        user: str | None = None,
        key: str | None = None,
    ) -> RecordResult:
        """:meth:`record_completion` inside an open write transaction.

        Ingestion uses it to save completions, the event mirror and the
        source's new cursor in one transaction. The learner updates the arrays
        (the evidence learner: the outcome is added to the task type's
        evidence, the energy rating to the energy stream, and every habit
        array and the energy array are recomputed); the completion counts go
        up by one; the completion is appended to the update log.
        """
        name = self.task_type(task_type).name
        user_id = self._user(user)
        value = self.config.learning.default_success if success is None else success
        if start.tzinfo is None or start.utcoffset() is None:
            raise InputError(f"start must be timezone-aware, got {start.isoformat()}")
        for label, number in (("success", value), ("energy_after", energy_after)):
            if number is not None and not 0.0 <= float(number) <= 1.0:
                raise InputError(f"{label} must be between 0 and 1, got {number!r}")
        key = key or completion_key(user_id, name, start)
        now = self.clock.now()
        slot = slot_of(start, self._zone(tx, user_id))
        task_id = self.task_type_id_in(tx, name)
        existing = tx.find_update(key)
        if existing is not None:
            return self._correct(
                tx, existing, user_id, task_id, start, slot, float(value), energy_after, now
            )
        energy = None if energy_after is None else float(energy_after)
        self.learner.record(tx, user_id, task_id, slot, float(value), energy, start, now)
        tx.insert_update(
            key=key,
            user_id=user_id,
            task_type_id=task_id,
            kind="completion",
            now=now,
            occurred_at=start,
            slot=slot,
            success=float(value),
            energy_after=None if energy_after is None else float(energy_after),
        )
        logger.debug("learned %s at slot %d (key %s)", name, slot, key)
        return RecordResult(ADDED, key, slot)

    def _correct(
        self,
        tx: StoreTx,
        old: UpdateRow,
        user_id: str,
        task_id: int,
        start: datetime,
        slot: int,
        success: float,
        energy_after: float | None,
        now: datetime,
    ) -> RecordResult:
        if old.kind != "completion":
            raise InputError(f"key {old.idempotency_key!r} belongs to an adjustment")
        if old.user_id != user_id:
            raise InputError(f"key {old.idempotency_key!r} belongs to another user")
        unchanged = (
            old.task_type_id == task_id
            and old.occurred_at == start
            and old.slot == slot
            and old.success == success
            and old.energy_after == energy_after
        )
        if unchanged:
            return RecordResult(DUPLICATE, old.idempotency_key, slot)
        tx.revise_update(
            old,
            task_type_id=task_id,
            occurred_at=start,
            slot=slot,
            success=success,
            energy_after=energy_after,
            now=now,
        )
        affected = [t for t in {old.task_type_id, task_id} if t is not None]
        energy = old.energy_after is not None or energy_after is not None
        self.learner.replay(tx, old.user_id, affected, energy, now)
        logger.info("corrected an earlier update (slot %d)", slot)
        return RecordResult(CORRECTED, old.idempotency_key, slot)

    def rebuild(self, user: str | None = None) -> None:
        """Recompute every array of a user from the update log with the current config.

        The EMA learner replays the log in order; the evidence learner
        recomputes the evidence of every stream from the user's completions
        (task types from slot, success and start; energy from the ratings)
        and the arrays from it. The configuration's learner fingerprint is
        recorded for the user.
        """
        user_id = self._user(user)
        now = self.clock.now()
        with self.store.write() as tx:
            self._zone(tx, user_id)
            self.learner.rebuild(tx, user_id, now)
            tx.save_learner_fingerprint(user_id, self._fingerprint, now)

    def apply_adjustments(
        self,
        adjustments: Sequence[Adjustment | Mapping[str, Any]],
        task_type: str | None = None,
        *,
        user: str | None = None,
        key: str | None = None,
    ) -> bool:
        """Merge interpreter adjustments into a habit array (or the energy array).

        With the EMA learner they are merged into the current array (70/30),
        on top of every earlier adjustment. With the evidence learner they are
        merged into the *prior* of their target, and the newest adjustment row
        of a target replaces the earlier ones: every interpreter sync re-reads
        all insights, so its answer is the current view, and repeated syncs do
        not compound. This is deliberate: a stated preference decides while
        evidence is thin and yields to behaviour as evidence accumulates.
        Either way the row is kept in the update log, and completion counts
        do not change.

        Args:
            adjustments: ``{day_pattern, hour_range, modifier, reason}`` items.
            task_type: The task type whose habit array to adjust; ``None`` adjusts
                the user's energy array.
            user: The user (default: the configured one).
            key: Idempotency key (default: derived from the content and the time).

        Returns:
            ``False`` when an adjustment with the same key was already applied.

        Raises:
            AdjustmentError: an unknown day pattern or an hour outside 0–23; nothing is applied.

        """
        parsed = [
            a if isinstance(a, Adjustment) else Adjustment.from_mapping(a) for a in adjustments
        ]
        payload = [a.to_mapping() for a in parsed]
        user_id = self._user(user)
        name = self.task_type(task_type).name if task_type is not None else None
        now = self.clock.now()
        if key is None:
            digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
            key = f"adjustment:{user_id}:{name or 'energy'}:{now.isoformat()}:{digest}"
        with self.store.write() as tx:
            self._zone(tx, user_id)
            if tx.find_update(key) is not None:
                return False
            task_id = None if name is None else self.task_type_id_in(tx, name)
            tx.insert_update(
                key=key,
                user_id=user_id,
                task_type_id=task_id,
                kind="adjustment",
                now=now,
                adjustments=payload,
            )
            self.learner.adjust(tx, user_id, task_id, parsed, now)
        return True

    # ------------------------------------------------------------------ reading

    def habit_in(self, tx: StoreTx, task_type: str, user_id: str) -> tuple[np.ndarray, int]:
        """A habit array and its completion count, inside a transaction.

        Before anything is stored: the learner's default (neutral for the EMA,
        the population prior for the evidence learner) and 0.
        """
        task_id = self.task_type_id_in(tx, self.task_type(task_type).name)
        return tx.load_habit(user_id, task_id, self._habit_default)

    def habit(self, task_type: str, user: str | None = None) -> WeeklyArrayView:
        """The habit array of a task type (the learner's default until something is learned)."""
        user_id = self._user(user)
        with self.store.read() as tx:
            self._zone(tx, user_id)
            array, count = self.habit_in(tx, task_type, user_id)
        return WeeklyArrayView(array, count)

    def energy(self, user: str | None = None) -> WeeklyArrayView:
        """The user's energy array."""
        user_id = self._user(user)
        with self.store.read() as tx:
            self._zone(tx, user_id)
            array, count = tx.load_energy(user_id, self._neutral)
        return WeeklyArrayView(array, count)

    def find_optimal_slot(
        self,
        task_type: str,
        duration: timedelta | None,
        available_periods: Iterable[Period | tuple[datetime, datetime]],
        *,
        user: str | None = None,
    ) -> SlotChoice | None:
        """The best 15-minute-aligned block for a task type inside the free periods.

        Args:
            task_type: A configured task type.
            duration: Block length; ``None`` uses the task type's ``block_minutes``.
            available_periods: Free periods as :class:`Period` or ``(start, end)`` pairs.
            user: The user (default: the configured one).

        """
        task = self.task_type(task_type)
        duration = duration or timedelta(minutes=task.block_minutes)
        periods = [p if isinstance(p, Period) else Period(*p) for p in available_periods]
        user_id = self._user(user)
        with self.store.read() as tx:
            tz = self._zone(tx, user_id)
            habit, _ = self.habit_in(tx, task.name, user_id)
            energy, _ = tx.load_energy(user_id, self._neutral)
        return find_optimal_slot(habit, energy, duration, periods, tz, self._scoring)

    def progress(self, user: str | None = None) -> LearningProgress:
        """Learning progress of a user: maturity and, per task type, peaks and best day."""
        user_id = self._user(user)
        with self.store.read() as tx:
            self._zone(tx, user_id)
            stored = tx.habits(user_id)
            names = tx.task_type_names()
        by_name = {names[task_id]: value for task_id, value in stored.items()}
        habits = {
            task.name: by_name.get(task.name, (self._habit_default.copy(), 0))
            for task in self.config.task_types
        }
        return learning_progress(
            habits,
            self.config.learning.developing_after,
            self.config.learning.mature_after,
            neutral=self._neutral,
            peaks=self.config.learning.peak_slots,
            baseline=self._habit_default,
            outcomes={name: counts for name, (counts, _) in self.outcomes(user_id).items()},
        )

    def outcomes(self, user: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The user's own outcomes per task type and slot: (count, sum of success), 168 each.

        Straight from the update log (completions, kept and skipped blocks),
        neither smoothed nor pooled: what a reported peak or a generated
        insight must rest on.
        """
        user_id = self._user(user)
        with self.store.read() as tx:
            rows = tx.outcome_counts(user_id)  # summed by the database
            names = tx.task_type_names()
        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for task_id, slot, count, total in rows:
            name = names.get(task_id)
            if name is None:
                continue
            empty = (np.zeros(SLOTS_PER_WEEK), np.zeros(SLOTS_PER_WEEK))
            counts, sums = found.setdefault(name, empty)
            counts[slot] += count
            sums[slot] += total
        return found


def open(
    config: Config | Path | str | None = None,
    *,
    store_url: str | None = None,
    clock: Clock | None = None,
) -> Calsync:
    """Open calsync from a configuration.

    Args:
        config: A :class:`Config`, a path to a TOML file, or ``None`` for the
            default location (falling back to the embedded default).
        store_url: Override the database URL (``"sqlite://"`` is in memory).
        clock: Time source (default: the system clock).

    """
    if not isinstance(config, Config):
        config = load_config(Path(config) if config is not None else None)
    url = store_url or config.database_url()
    store = Store.open(url, config.store.busy_timeout_ms)
    try:
        return Calsync(config, store, clock)
    except BaseException:
        store.close()
        raise
