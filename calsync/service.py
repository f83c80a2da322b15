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
from calsync.learning.habits import Adjustment, apply_adjustments, behavioural_update, neutral_array
from calsync.learning.planner import Period, SlotChoice, find_optimal_slot
from calsync.learning.progress import LearningProgress, learning_progress
from calsync.learning.slots import slot_of
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

    Args:
        config: The validated configuration.
        store: An open store.
        clock: Time source (inject a :class:`~calsync.clock.FixedClock` in tests).

    """

    def __init__(self, config: Config, store: Store, clock: Clock | None = None):
        self.config = config
        self.store = store
        self.clock = clock or SystemClock()
        self._params = config.learning.params()
        self._merge = config.merge.params()
        self._scoring = config.scoring.params()
        self._neutral = config.learning.neutral_value
        self._sync_config()

    # ------------------------------------------------------------------ life cycle

    def _sync_config(self) -> None:
        now = self.clock.now()
        with self.store.write() as tx:
            tx.ensure_user(self.config.user.id, self.config.user.timezone, now)
            for task in self.config.task_types:
                tx.ensure_task_type(task.name, now)

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
        """The database id of a configured task type, inside a transaction."""
        task_id = tx.task_type_id(name)
        assert task_id is not None, "configured task types are created at start-up"
        return task_id

    def add_user(self, user_id: str, timezone: str) -> None:
        """Create a user (or change its time zone)."""
        try:
            ZoneInfo(timezone)
        except (KeyError, ValueError) as err:
            raise InputError(f"unknown IANA time zone {timezone!r}") from err
        with self.store.write() as tx:
            tx.ensure_user(user_id, timezone, self.clock.now())

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
        source's new cursor in one transaction.
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
        habit, count = tx.load_habit(user_id, task_id, self._neutral)
        habit, count = behavioural_update(habit, slot, value, count, self._params)
        tx.save_habit(user_id, task_id, habit, count, now)
        if energy_after is not None:
            energy, energy_count = tx.load_energy(user_id, self._neutral)
            energy, energy_count = behavioural_update(
                energy, slot, energy_after, energy_count, self._params
            )
            tx.save_energy(user_id, energy, energy_count, now)
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
        for affected in {old.task_type_id, task_id}:
            if affected is not None:
                self._replay_habit(tx, old.user_id, affected, now)
        if old.energy_after is not None or energy_after is not None:
            self._replay_energy(tx, old.user_id, now)
        logger.info("corrected an earlier update (slot %d)", slot)
        return RecordResult(CORRECTED, old.idempotency_key, slot)

    def _replay(self, rows: Iterable[UpdateRow], energy: bool) -> tuple[np.ndarray, int]:
        array, count = neutral_array(self._neutral), 0
        for row in rows:
            if row.kind == "completion":
                value = row.energy_after if energy else row.success
                assert row.slot is not None
                assert value is not None
                array, count = behavioural_update(array, row.slot, value, count, self._params)
            else:
                array = apply_adjustments(array, row.adjustments or [], self._merge)
        return array, count

    def _replay_habit(self, tx: StoreTx, user_id: str, task_id: int, now: datetime) -> None:
        array, count = self._replay(tx.updates_for_habit(user_id, task_id), energy=False)
        tx.save_habit(user_id, task_id, array, count, now)

    def _replay_energy(self, tx: StoreTx, user_id: str, now: datetime) -> None:
        array, count = self._replay(tx.updates_for_energy(user_id), energy=True)
        tx.save_energy(user_id, array, count, now)

    def rebuild(self, user: str | None = None) -> None:
        """Recompute every array of a user from the update log with the current config."""
        user_id = self._user(user)
        now = self.clock.now()
        with self.store.write() as tx:
            self._zone(tx, user_id)
            for task_id in tx.task_type_names():
                self._replay_habit(tx, user_id, task_id, now)
            self._replay_energy(tx, user_id, now)

    def apply_adjustments(
        self,
        adjustments: Sequence[Adjustment | Mapping[str, Any]],
        task_type: str | None = None,
        *,
        user: str | None = None,
        key: str | None = None,
    ) -> bool:
        """Merge interpreter adjustments into a habit array (or the energy array).

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
            if name is None:
                energy, count = tx.load_energy(user_id, self._neutral)
                tx.save_energy(user_id, apply_adjustments(energy, parsed, self._merge), count, now)
                task_id = None
            else:
                task_id = self.task_type_id_in(tx, name)
                habit, count = tx.load_habit(user_id, task_id, self._neutral)
                tx.save_habit(
                    user_id, task_id, apply_adjustments(habit, parsed, self._merge), count, now
                )
            tx.insert_update(
                key=key,
                user_id=user_id,
                task_type_id=task_id,
                kind="adjustment",
                now=now,
                adjustments=payload,
            )
        return True

    # ------------------------------------------------------------------ reading

    def habit(self, task_type: str, user: str | None = None) -> WeeklyArrayView:
        """The habit array of a task type (neutral until something is learned)."""
        name = self.task_type(task_type).name
        user_id = self._user(user)
        with self.store.read() as tx:
            self._zone(tx, user_id)
            array, count = tx.load_habit(user_id, self.task_type_id_in(tx, name), self._neutral)
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
            habit, _ = tx.load_habit(user_id, self.task_type_id_in(tx, task.name), self._neutral)
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
            task.name: by_name.get(task.name, (neutral_array(self._neutral), 0))
            for task in self.config.task_types
        }
        return learning_progress(
            habits,
            self.config.learning.developing_after,
            self.config.learning.mature_after,
            neutral=self._neutral,
            peaks=self.config.learning.peak_slots,
        )


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
