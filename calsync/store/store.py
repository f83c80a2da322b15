"""The store: calsync's data access, one transaction at a time.

:class:`Store` owns an engine; :meth:`Store.write` and :meth:`Store.read`
hand out a :class:`StoreTx`, whose methods read and write rows inside that one
transaction. The store holds no learning logic: :mod:`calsync.service`
computes new arrays with the pure core and saves them through a ``StoreTx``.
SQLAlchemy errors are translated into :class:`~calsync.errors.StoreError`
here, at the adapter boundary.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import numpy as np
from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from calsync.errors import CalsyncError, StoreError
from calsync.learning.evidence import SlotEvidence
from calsync.learning.habits import neutral_array
from calsync.model import Event, event_from_dict, event_to_dict
from calsync.store import tables as t
from calsync.store.engine import READ_ONLY, create_store_engine, migrate


@dataclass(frozen=True)
class UpdateRow:
    """One row of the behavioural update log."""

    seq: int
    idempotency_key: str
    user_id: str
    task_type_id: int | None
    kind: str
    occurred_at: datetime | None
    slot: int | None
    success: float | None
    energy_after: float | None
    adjustments: list[dict[str, Any]] | None
    revision: int


@dataclass(frozen=True)
class InsightRow:
    """A stored qualitative insight."""

    id: int
    user_id: str
    kind: str
    text: str
    confidence: str
    meta: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class SyncStateRow:
    """What calsync remembers about one calendar source between polls."""

    source: str
    cursor: str | None
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    needs_reauth: bool


@dataclass(frozen=True)
class SuggestionRow:
    """A suggestion calsync wrote (or is writing) to a target.

    ``start``/``end`` are where calsync last knew the block to be;
    ``planned_start`` is the slot calsync chose; ``pending_*`` the destination
    of a calsync move in flight.
    """

    id: str
    user_id: str
    task_type: str
    target: str
    remote_id: str | None
    start: datetime
    end: datetime
    score: float
    status: str
    planned_start: datetime | None = None
    pending_start: datetime | None = None
    pending_end: datetime | None = None


def insight_fingerprint(kind: str, text: str) -> str:
    """A stable fingerprint of an insight; the same words are never stored twice."""
    normalized = " ".join(text.casefold().split())
    return hashlib.sha256(f"{kind}\0{normalized}".encode()).hexdigest()


# Statements on the learning hot path (every completion runs a dozen), built
# once with bind parameters: constructing one costs several times more than
# executing it on SQLite.
_h = t.habit_arrays.c
_e = t.energy_arrays.c
_ev = t.learner_evidence.c
_bu = t.behaviour_updates.c
_USER_TIMEZONE = select(t.users.c.timezone).where(t.users.c.id == bindparam("user_id"))
_TASK_TYPE_ID = select(t.task_types.c.id).where(t.task_types.c.name == bindparam("name"))
_LOAD_HABIT = (
    select(_h.slots, _h.completion_count)
    .where(_h.user_id == bindparam("user_id"), _h.task_type_id == bindparam("task_type_id"))
    .with_for_update()
)
_UPDATE_HABIT = (
    update(t.habit_arrays)
    .where(_h.user_id == bindparam("p_user_id"), _h.task_type_id == bindparam("p_task_type_id"))
    .values(
        slots=bindparam("p_slots"),
        completion_count=bindparam("p_completion_count"),
        updated_at=bindparam("p_updated_at"),
    )
)
_HABIT_COUNTS = (
    select(_h.task_type_id, _h.completion_count)
    .where(_h.user_id == bindparam("user_id"))
    .with_for_update()
)
_LOAD_ENERGY = (
    select(_e.slots, _e.update_count).where(_e.user_id == bindparam("user_id")).with_for_update()
)
_UPDATE_ENERGY = (
    update(t.energy_arrays)
    .where(_e.user_id == bindparam("p_user_id"))
    .values(
        slots=bindparam("p_slots"),
        update_count=bindparam("p_update_count"),
        updated_at=bindparam("p_updated_at"),
    )
)
_LOAD_EVIDENCE = (
    select(_ev.stream, _ev.positive, _ev.negative, _ev.reference_at)
    .where(_ev.user_id == bindparam("user_id"))
    .with_for_update()
)
_UPDATE_EVIDENCE = (
    update(t.learner_evidence)
    .where(_ev.user_id == bindparam("p_user_id"), _ev.stream == bindparam("p_stream"))
    .values(
        positive=bindparam("p_positive"),
        negative=bindparam("p_negative"),
        reference_at=bindparam("p_reference_at"),
        updated_at=bindparam("p_updated_at"),
    )
)
_FIND_UPDATE = select(t.behaviour_updates).where(_bu.idempotency_key == bindparam("key"))
_INSERT_UPDATE = insert(t.behaviour_updates)
_LATEST_ADJUSTMENTS = select(_bu.task_type_id, _bu.adjustments).where(
    _bu.seq.in_(
        select(func.max(_bu.seq))
        .where(_bu.user_id == bindparam("user_id"), _bu.kind == "adjustment")
        .group_by(_bu.task_type_id)
        .scalar_subquery()
    )
)


#: Keys per ``IN (…)`` list (well under SQLite's bound-parameter limit).
_IN_CHUNK = 500
# The event mirror's bulk statements (executemany); bind names cannot be column names.
_INSERT_EVENT = insert(t.events).values(
    source=bindparam("b_source"),
    key=bindparam("b_key"),
    start_at=bindparam("b_start_at"),
    end_at=bindparam("b_end_at"),
    suggestion_id=bindparam("b_suggestion_id"),
    payload=bindparam("b_payload"),
    updated_at=bindparam("b_updated_at"),
)
_UPDATE_EVENT = (
    update(t.events)
    .where(t.events.c.source == bindparam("b_source"), t.events.c.key == bindparam("b_key"))
    .values(
        start_at=bindparam("b_start_at"),
        end_at=bindparam("b_end_at"),
        suggestion_id=bindparam("b_suggestion_id"),
        payload=bindparam("b_payload"),
        updated_at=bindparam("b_updated_at"),
    )
)


_UPSERTS: dict[tuple[str, str], Any] = {}


def _upsert(table: Any, dialect: str) -> Any:
    """An upsert of whole rows of ``table`` (built once per dialect; bind names ``p_<column>``).

    ``None`` on databases without ``INSERT … ON CONFLICT DO UPDATE``.
    """
    if dialect not in ("sqlite", "postgresql"):
        return None
    if (table.name, dialect) not in _UPSERTS:
        # Each dialect's own INSERT (the two share ON CONFLICT DO UPDATE and ``excluded``).
        insert_of: Any
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as insert_of
        else:
            from sqlalchemy.dialects.postgresql import insert as insert_of
        statement = insert_of(table).values(
            {column.name: bindparam(f"p_{column.name}") for column in table.columns}
        )
        keys = [column for column in table.columns if column.primary_key]
        _UPSERTS[(table.name, dialect)] = statement.on_conflict_do_update(
            index_elements=keys,
            set_={
                column.name: statement.excluded[column.name]
                for column in table.columns
                if not column.primary_key
            },
        )
    return _UPSERTS[(table.name, dialect)]


def _upsert_habits(dialect: str) -> Any:
    """The habit-array upsert of a dialect, or ``None`` where there is none."""
    return _upsert(t.habit_arrays, dialect)


def _inserted_id(result: CursorResult[Any]) -> int:
    """The primary key a single-row INSERT gave its row."""
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - a single-row INSERT always reports it
        raise StoreError("the database reported no id for the new row")
    return int(key[0])


def _prefixed(**values: Any) -> dict[str, Any]:
    """Parameters of an ``_UPDATE_*`` statement (whose bind names cannot be column names)."""
    return {f"p_{name}": value for name, value in values.items()}


class StoreTx:
    """Data access inside one open transaction (see :meth:`Store.write`)."""

    def __init__(self, conn: Connection):
        self._conn = conn

    # ------------------------------------------------------------------ users and task types

    def ensure_user(self, user_id: str, timezone: str, now: datetime) -> None:
        """Create the user, or update its time zone when it changed."""
        row = self._conn.execute(select(t.users.c.timezone).where(t.users.c.id == user_id)).first()
        if row is None:
            self._conn.execute(
                insert(t.users).values(id=user_id, timezone=timezone, created_at=now)
            )
        elif row.timezone != timezone:
            self._conn.execute(
                update(t.users).where(t.users.c.id == user_id).values(timezone=timezone)
            )

    def user_timezone(self, user_id: str) -> str | None:
        """The user's IANA time zone, or ``None`` for an unknown user."""
        return self._conn.execute(_USER_TIMEZONE, {"user_id": user_id}).scalar_one_or_none()

    def users(self) -> dict[str, str]:
        """Every user id with its time zone."""
        return {r.id: r.timezone for r in self._conn.execute(select(t.users))}

    def ensure_task_type(self, name: str, now: datetime) -> int:
        """Return the id of task type ``name``, creating it when new."""
        found = self.task_type_id(name)
        if found is not None:
            return found
        result = self._conn.execute(insert(t.task_types).values(name=name, created_at=now))
        return _inserted_id(result)

    def task_type_id(self, name: str) -> int | None:
        """The id of task type ``name``, or ``None``."""
        return self._conn.execute(_TASK_TYPE_ID, {"name": name}).scalar_one_or_none()

    def task_type_names(self) -> dict[int, str]:
        """Every task type id with its name."""
        return {r.id: r.name for r in self._conn.execute(select(t.task_types))}

    # ------------------------------------------------------------------ arrays

    def load_habit(
        self, user_id: str, task_type_id: int, neutral: float | np.ndarray
    ) -> tuple[np.ndarray, int]:
        """The habit array and completion count.

        When none is stored: ``neutral`` (a value for every slot, or a whole
        default array, which is copied) and 0. On databases with row locks the
        row is locked for the rest of the transaction.
        """
        row = self._conn.execute(
            _LOAD_HABIT, {"user_id": user_id, "task_type_id": task_type_id}
        ).first()
        if row is None:
            return _default_array(neutral), 0
        return t.blob_to_array(row.slots), int(row.completion_count)

    def save_habit(
        self, user_id: str, task_type_id: int, array: np.ndarray, count: int, now: datetime
    ) -> None:
        """Insert or replace a habit array."""
        values = {"slots": t.array_to_blob(array), "completion_count": count, "updated_at": now}
        result = self._conn.execute(
            _UPDATE_HABIT, _prefixed(user_id=user_id, task_type_id=task_type_id, **values)
        )
        if result.rowcount == 0:
            self._conn.execute(
                insert(t.habit_arrays).values(user_id=user_id, task_type_id=task_type_id, **values)
            )

    def save_habits(
        self, user_id: str, arrays: Mapping[int, tuple[np.ndarray, int]], now: datetime
    ) -> None:
        """Insert or replace several habit arrays (by task type id: array and count) at once.

        One statement whatever the number of task types (an upsert, executed
        for every array), on SQLite and PostgreSQL; other databases get one
        :meth:`save_habit` each.
        """
        if not arrays:
            return
        statement = _upsert_habits(self._conn.dialect.name)
        if statement is None:
            for task_type_id, (array, count) in arrays.items():
                self.save_habit(user_id, task_type_id, array, count, now)
            return
        self._conn.execute(
            statement,
            [
                _prefixed(
                    user_id=user_id,
                    task_type_id=task_type_id,
                    slots=t.array_to_blob(array),
                    completion_count=count,
                    updated_at=now,
                )
                for task_type_id, (array, count) in arrays.items()
            ],
        )

    def load_energy(self, user_id: str, neutral: float) -> tuple[np.ndarray, int]:
        """The user's energy array and update count (neutral and 0 when none is stored)."""
        row = self._conn.execute(_LOAD_ENERGY, {"user_id": user_id}).first()
        if row is None:
            return neutral_array(neutral), 0
        return t.blob_to_array(row.slots), int(row.update_count)

    def save_energy(self, user_id: str, array: np.ndarray, count: int, now: datetime) -> None:
        """Insert or replace the user's energy array."""
        values = {"slots": t.array_to_blob(array), "update_count": count, "updated_at": now}
        result = self._conn.execute(_UPDATE_ENERGY, _prefixed(user_id=user_id, **values))
        if result.rowcount == 0:
            self._conn.execute(insert(t.energy_arrays).values(user_id=user_id, **values))

    def habits(self, user_id: str) -> dict[int, tuple[np.ndarray, int]]:
        """Every stored habit array of a user, by task type id."""
        rows = self._conn.execute(select(t.habit_arrays).where(t.habit_arrays.c.user_id == user_id))
        return {r.task_type_id: (t.blob_to_array(r.slots), int(r.completion_count)) for r in rows}

    def habit_counts(self, user_id: str) -> dict[int, int]:
        """The completion count of every stored habit array of a user, by task type id.

        On databases with row locks the rows are locked for the rest of the transaction.
        """
        rows = self._conn.execute(_HABIT_COUNTS, {"user_id": user_id})
        return {r.task_type_id: int(r.completion_count) for r in rows}

    # ------------------------------------------------------------------ learner evidence

    def evidence(self, user_id: str) -> dict[int | None, SlotEvidence]:
        """Every stored evidence stream of a user: by task type id, ``None`` for energy.

        On databases with row locks the rows are locked for the rest of the transaction.
        """
        rows = self._conn.execute(_LOAD_EVIDENCE, {"user_id": user_id})
        return {
            _stream_target(r.stream): SlotEvidence(
                t.blob_to_array(r.positive),
                t.blob_to_array(r.negative),
                None if r.reference_at is None else r.reference_at.timestamp(),
            )
            for r in rows
        }

    def save_evidence(
        self, user_id: str, task_type_id: int | None, evidence: SlotEvidence, now: datetime
    ) -> None:
        """Insert or replace one evidence stream (``task_type_id`` ``None``: energy)."""
        reference = (
            None if evidence.reference is None else datetime.fromtimestamp(evidence.reference, UTC)
        )
        values = {
            "positive": t.array_to_blob(evidence.positive),
            "negative": t.array_to_blob(evidence.negative),
            "reference_at": reference,
            "updated_at": now,
        }
        stream = _stream_name(task_type_id)
        result = self._conn.execute(
            _UPDATE_EVIDENCE, _prefixed(user_id=user_id, stream=stream, **values)
        )
        if result.rowcount == 0:
            self._conn.execute(
                insert(t.learner_evidence).values(user_id=user_id, stream=stream, **values)
            )

    def save_evidence_streams(
        self, user_id: str, streams: Mapping[int | None, SlotEvidence], now: datetime
    ) -> None:
        """Insert or replace several evidence streams at once (``None``: energy).

        One upsert statement on SQLite and PostgreSQL, whatever the number of
        streams; other databases get one :meth:`save_evidence` each.
        """
        statement = _upsert(t.learner_evidence, self._conn.dialect.name)
        if statement is None or len(streams) < 2:
            for task_type_id, evidence in streams.items():
                self.save_evidence(user_id, task_type_id, evidence, now)
            return
        self._conn.execute(
            statement,
            [
                _prefixed(
                    user_id=user_id,
                    stream=_stream_name(task_type_id),
                    positive=t.array_to_blob(evidence.positive),
                    negative=t.array_to_blob(evidence.negative),
                    reference_at=None
                    if evidence.reference is None
                    else datetime.fromtimestamp(evidence.reference, UTC),
                    updated_at=now,
                )
                for task_type_id, evidence in streams.items()
            ],
        )

    def delete_evidence(self, user_id: str) -> None:
        """Forget every evidence stream of a user (before a rebuild)."""
        self._conn.execute(
            delete(t.learner_evidence).where(t.learner_evidence.c.user_id == user_id)
        )

    def learner_fingerprint(self, user_id: str) -> str | None:
        """The learner configuration that shaped the user's arrays, if recorded."""
        return self._conn.execute(
            select(t.learner_state.c.fingerprint).where(t.learner_state.c.user_id == user_id)
        ).scalar_one_or_none()

    def save_learner_fingerprint(self, user_id: str, fingerprint: str, now: datetime) -> None:
        """Record the learner configuration that shaped the user's arrays."""
        values = {"fingerprint": fingerprint, "updated_at": now}
        result = self._conn.execute(
            update(t.learner_state).where(t.learner_state.c.user_id == user_id).values(**values)
        )
        if result.rowcount == 0:
            self._conn.execute(insert(t.learner_state).values(user_id=user_id, **values))

    # ------------------------------------------------------------------ the update log

    def find_update(self, key: str) -> UpdateRow | None:
        """The log row with this idempotency key, if any."""
        row = self._conn.execute(_FIND_UPDATE, {"key": key}).first()
        return _update_row(row) if row is not None else None

    def insert_update(
        self,
        *,
        key: str,
        user_id: str,
        task_type_id: int | None,
        kind: str,
        now: datetime,
        occurred_at: datetime | None = None,
        slot: int | None = None,
        success: float | None = None,
        energy_after: float | None = None,
        adjustments: list[dict[str, Any]] | None = None,
    ) -> int:
        """Append a row to the update log; return its sequence number."""
        result = self._conn.execute(
            _INSERT_UPDATE,
            {
                "idempotency_key": key,
                "user_id": user_id,
                "task_type_id": task_type_id,
                "kind": kind,
                "occurred_at": occurred_at,
                "slot": slot,
                "success": success,
                "energy_after": energy_after,
                "adjustments": adjustments,
                "revision": 1,
                "recorded_at": now,
            },
        )
        return _inserted_id(result)

    def revise_update(
        self,
        old: UpdateRow,
        *,
        task_type_id: int,
        occurred_at: datetime,
        slot: int,
        success: float,
        energy_after: float | None,
        now: datetime,
    ) -> None:
        """Replace a completion's values, keeping the old ones in the history table."""
        self._conn.execute(
            insert(t.behaviour_update_history).values(
                update_seq=old.seq,
                revision=old.revision,
                task_type_id=old.task_type_id,
                slot=old.slot,
                success=old.success,
                energy_after=old.energy_after,
                replaced_at=now,
            )
        )
        self._conn.execute(
            update(t.behaviour_updates)
            .where(t.behaviour_updates.c.seq == old.seq)
            .values(
                task_type_id=task_type_id,
                occurred_at=occurred_at,
                slot=slot,
                success=success,
                energy_after=energy_after,
                revision=old.revision + 1,
            )
        )

    def completion_keys(self, user_id: str, prefix: str = "") -> list[str]:
        """The idempotency keys of a user's completions (starting with ``prefix``), in order.

        Only the keys are read (no payload is decoded): cheap enough for every
        page view and metrics scrape.
        """
        c = t.behaviour_updates.c
        query = (
            select(c.idempotency_key)
            .where(c.user_id == user_id, c.kind == "completion")
            .order_by(c.seq)
        )
        if prefix:
            query = query.where(c.idempotency_key.startswith(prefix, autoescape=True))
        return [r.idempotency_key for r in self._conn.execute(query)]

    def outcome_counts(self, user_id: str) -> list[tuple[int, int, int, float]]:
        """``(task type id, slot, count, sum of success)`` of a user's completions.

        The same rows :meth:`calsync.service.Calsync.outcomes` counts (a task
        type, a slot and a success), summed by the database: cheap enough for a
        page view.
        """
        c = t.behaviour_updates.c
        query = (
            select(c.task_type_id, c.slot, func.count(), func.sum(c.success))
            .where(
                c.user_id == user_id,
                c.kind == "completion",
                c.task_type_id.is_not(None),
                c.slot.is_not(None),
                c.success.is_not(None),
            )
            .group_by(c.task_type_id, c.slot)
        )
        return [(int(r[0]), int(r[1]), int(r[2]), float(r[3])) for r in self._conn.execute(query)]

    def updates_for_habit(self, user_id: str, task_type_id: int) -> list[UpdateRow]:
        """Every log row that shaped one habit array, in the order it arrived."""
        rows = self._conn.execute(
            select(t.behaviour_updates)
            .where(
                t.behaviour_updates.c.user_id == user_id,
                t.behaviour_updates.c.task_type_id == task_type_id,
            )
            .order_by(t.behaviour_updates.c.seq)
        )
        return [_update_row(r) for r in rows]

    def updates_for_energy(self, user_id: str) -> list[UpdateRow]:
        """Every log row that shaped the user's energy array, in the order it arrived."""
        c = t.behaviour_updates.c
        rows = self._conn.execute(
            select(t.behaviour_updates)
            .where(
                c.user_id == user_id,
                or_(
                    and_(c.kind == "completion", c.energy_after.is_not(None)),
                    and_(c.kind == "adjustment", c.task_type_id.is_(None)),
                ),
            )
            .order_by(c.seq)
        )
        return [_update_row(r) for r in rows]

    def completions(self, user_id: str) -> list[UpdateRow]:
        """Every completion of a user, in the order it arrived."""
        c = t.behaviour_updates.c
        rows = self._conn.execute(
            select(t.behaviour_updates)
            .where(c.user_id == user_id, c.kind == "completion")
            .order_by(c.seq)
        )
        return [_update_row(r) for r in rows]

    def latest_adjustments(self, user_id: str) -> dict[int | None, list[dict[str, Any]]]:
        """The newest adjustment row of every target of a user.

        Keyed by task type id, ``None`` for the energy array; the value is
        that row's list of adjustments.
        """
        rows = self._conn.execute(_LATEST_ADJUSTMENTS, {"user_id": user_id})
        return {r.task_type_id: list(r.adjustments or []) for r in rows}

    def count_updates(self, user_id: str | None = None, kind: str | None = None) -> int:
        """How many log rows exist (optionally of one user and kind)."""
        query = select(func.count()).select_from(t.behaviour_updates)
        if user_id is not None:
            query = query.where(t.behaviour_updates.c.user_id == user_id)
        if kind is not None:
            query = query.where(t.behaviour_updates.c.kind == kind)
        return int(self._conn.execute(query).scalar_one())

    def update_history(self, key: str) -> list[dict[str, Any]]:
        """Earlier values of a corrected update, oldest first."""
        h = t.behaviour_update_history
        rows = self._conn.execute(
            select(h)
            .join(t.behaviour_updates, t.behaviour_updates.c.seq == h.c.update_seq)
            .where(t.behaviour_updates.c.idempotency_key == key)
            .order_by(h.c.revision)
        )
        return [dict(r._mapping) for r in rows]

    # ------------------------------------------------------------------ insights

    def add_insight(
        self,
        user_id: str,
        kind: str,
        text: str,
        now: datetime,
        confidence: str = "medium",
        meta: dict[str, Any] | None = None,
    ) -> bool:
        """Store an insight; return ``False`` when the same one is already stored."""
        fingerprint = insight_fingerprint(kind, text)
        exists = self._conn.execute(
            select(t.insights.c.id).where(
                t.insights.c.user_id == user_id, t.insights.c.fingerprint == fingerprint
            )
        ).first()
        if exists is not None:
            return False
        self._conn.execute(
            insert(t.insights).values(
                user_id=user_id,
                kind=kind,
                text=text,
                confidence=confidence,
                fingerprint=fingerprint,
                meta=meta,
                created_at=now,
            )
        )
        return True

    def set_insight_meta(self, insight_id: int, meta: dict[str, Any]) -> None:
        """Replace an insight's metadata (e.g. to remember its memory-store id)."""
        self._conn.execute(
            update(t.insights).where(t.insights.c.id == insight_id).values(meta=meta)
        )

    def delete_insight(self, user_id: str, insight_id: int) -> InsightRow | None:
        """Delete one of a user's insights; return it (``None``: no such insight of theirs)."""
        found = [i for i in self.insights(user_id) if i.id == insight_id]
        if not found:
            return None
        self._conn.execute(
            delete(t.insights).where(t.insights.c.id == insight_id, t.insights.c.user_id == user_id)
        )
        return found[0]

    def insights(self, user_id: str) -> list[InsightRow]:
        """A user's insights, oldest first."""
        rows = self._conn.execute(
            select(t.insights).where(t.insights.c.user_id == user_id).order_by(t.insights.c.id)
        )
        return [
            InsightRow(
                id=r.id,
                user_id=r.user_id,
                kind=r.kind,
                text=r.text,
                confidence=r.confidence,
                meta=r.meta,
                created_at=r.created_at,
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ event mirror

    def upsert_events(self, source: str, items: Iterable[Event], now: datetime) -> int:
        """Bring occurrences of a source into the mirror, writing only what changed.

        New occurrences are inserted and changed ones rewritten, each kind in
        one bulk statement; an occurrence stored with the same payload is not
        written at all (its ``updated_at`` stays the time it last changed), so
        a re-poll of a large feed with one edited event writes one row. Of
        several occurrences with the same key the last wins. Returns how many
        rows were written.
        """
        rows: dict[str, dict[str, Any]] = {}
        for event in items:
            rows[event.occurrence_key] = {
                "b_key": event.occurrence_key,
                "b_start_at": _instant(event.start),
                "b_end_at": _instant(event.end),
                "b_suggestion_id": event.suggestion_id,
                "b_payload": event_to_dict(event),
            }
        if not rows:
            return 0
        c = t.events.c
        query = select(c.key, c.suggestion_id, c.payload).where(c.source == source)
        if len(rows) <= _IN_CHUNK:  # an incremental poll: only its own keys
            query = query.where(c.key.in_(list(rows)))
        stored = {r.key: (r.suggestion_id, r.payload) for r in self._conn.execute(query)}
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for key, values in rows.items():
            values.update(b_source=source, b_updated_at=now)
            old = stored.get(key)
            if old is None:
                inserts.append(values)
            elif old != (values["b_suggestion_id"], values["b_payload"]):
                updates.append(values)
        if inserts:
            self._conn.execute(_INSERT_EVENT, inserts)
        if updates:
            self._conn.execute(_UPDATE_EVENT, updates)
        return len(inserts) + len(updates)

    def delete_events(self, source: str, keys: Iterable[str]) -> int:
        """Remove occurrences of a source by key (in bulk); return how many existed."""
        wanted = list(dict.fromkeys(keys))
        removed = 0
        c = t.events.c
        for offset in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[offset : offset + _IN_CHUNK]
            result = self._conn.execute(
                delete(t.events).where(c.source == source, c.key.in_(chunk))
            )
            removed += result.rowcount
        return removed

    def event_keys(self, source: str) -> set[str]:
        """Every mirrored occurrence key of a source."""
        rows = self._conn.execute(select(t.events.c.key).where(t.events.c.source == source))
        return {r.key for r in rows}

    def events(
        self,
        source: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        ended_after: datetime | None = None,
        ended_by: datetime | None = None,
    ) -> list[Event]:
        """Mirrored occurrences, ordered by start.

        Optionally only one source's, only those overlapping ``[start, end)``,
        or only those that ended in ``(ended_after, ended_by]``.
        """
        c = t.events.c
        query = select(c.payload).order_by(c.start_at, c.key)
        if source is not None:
            query = query.where(c.source == source)
        if start is not None:
            query = query.where(c.end_at > start)
        if end is not None:
            query = query.where(c.start_at < end)
        if ended_after is not None:
            query = query.where(c.end_at > ended_after)
        if ended_by is not None:
            query = query.where(c.end_at <= ended_by)
        return [event_from_dict(r.payload) for r in self._conn.execute(query)]

    # ------------------------------------------------------------------ suggestions

    def suggestions(
        self,
        user_id: str,
        target: str | None = None,
        statuses: Iterable[str] | None = None,
        start_after: datetime | None = None,
    ) -> list[SuggestionRow]:
        """A user's suggestions, by start.

        Optionally only those of one ``target``, in some ``statuses``, or
        starting after ``start_after``.
        """
        s = t.suggestions.c
        query = (
            select(t.suggestions, t.task_types.c.name.label("task_name"))
            .join(t.task_types, t.task_types.c.id == s.task_type_id)
            .where(s.user_id == user_id)
            .order_by(s.start, s.id)
        )
        if target is not None:
            query = query.where(s.target == target)
        if statuses is not None:
            query = query.where(s.status.in_(list(statuses)))
        if start_after is not None:
            query = query.where(s.start > start_after)
        return [
            SuggestionRow(
                id=r.id,
                user_id=r.user_id,
                task_type=r.task_name,
                target=r.target,
                remote_id=r.remote_id,
                start=r.start,
                end=r.end,
                score=r.score,
                status=r.status,
                planned_start=r.planned_start,
                pending_start=r.pending_start,
                pending_end=r.pending_end,
            )
            for r in self._conn.execute(query)
        ]

    def first_suggested(self, user_id: str, target: str) -> datetime | None:
        """When calsync first wrote a suggestion to ``target`` (``None``: never)."""
        s = t.suggestions.c
        query = select(func.min(s.created_at)).where(s.user_id == user_id, s.target == target)
        return self._conn.execute(query).scalar()

    def task_types_known_since(self) -> dict[str, datetime]:
        """When each task type (by name) was first configured."""
        c = t.task_types.c
        return {name: at for name, at in self._conn.execute(select(c.name, c.created_at))}

    def save_suggestion(self, row: SuggestionRow, now: datetime) -> None:
        """Insert or replace a suggestion."""
        task_id = self.ensure_task_type(row.task_type, now)
        values = {
            "user_id": row.user_id,
            "task_type_id": task_id,
            "target": row.target,
            "remote_id": row.remote_id,
            "start": row.start,
            "end": row.end,
            "score": row.score,
            "status": row.status,
            "planned_start": row.planned_start,
            "pending_start": row.pending_start,
            "pending_end": row.pending_end,
            "updated_at": now,
        }
        result = self._conn.execute(
            update(t.suggestions).where(t.suggestions.c.id == row.id).values(**values)
        )
        if result.rowcount == 0:
            self._conn.execute(insert(t.suggestions).values(id=row.id, created_at=now, **values))

    # ------------------------------------------------------------------ interpreter sync

    def last_llm_sync(self, user_id: str) -> datetime | None:
        """When the user's interpreter sync last succeeded."""
        return self._conn.execute(
            select(t.llm_sync_state.c.last_sync_at).where(t.llm_sync_state.c.user_id == user_id)
        ).scalar_one_or_none()

    def save_llm_sync(self, user_id: str, at: datetime | None, error: str | None) -> None:
        """Record a user's sync (``at`` ``None`` keeps the previous success time)."""
        values: dict[str, Any] = {"last_error": error}
        if at is not None:
            values["last_sync_at"] = at
        result = self._conn.execute(
            update(t.llm_sync_state).where(t.llm_sync_state.c.user_id == user_id).values(**values)
        )
        if result.rowcount == 0:
            self._conn.execute(insert(t.llm_sync_state).values(user_id=user_id, **values))

    def last_update_at(self, user_id: str) -> datetime | None:
        """When the user's newest behavioural update was recorded."""
        c = t.behaviour_updates.c
        return self._conn.execute(
            select(func.max(c.recorded_at)).where(c.user_id == user_id, c.kind == "completion")
        ).scalar_one_or_none()

    def add_llm_run(self, **values: Any) -> None:
        """Append a record of one interpreter sync run."""
        self._conn.execute(insert(t.llm_sync_runs).values(**values))

    def llm_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        """The most recent interpreter sync runs, newest first."""
        rows = self._conn.execute(
            select(t.llm_sync_runs).order_by(t.llm_sync_runs.c.id.desc()).limit(limit)
        )
        return [dict(r._mapping) for r in rows]

    # ------------------------------------------------------------------ installation

    def installation_id(self) -> str:
        """The installation id of this database (random, made once by migration 0006).

        Raises:
            StoreError: the database has none (it was not migrated by calsync).

        """
        value = self._conn.execute(
            select(t.meta.c.value).where(t.meta.c.key == "installation_id")
        ).scalar_one_or_none()
        if not value:
            raise StoreError("the database has no installation id; was it migrated by calsync?")
        return str(value)

    def paused_targets(self) -> set[str]:
        """Targets ``calsync purge`` paused: nothing is written to them until ``calsync resume``."""
        rows = self._conn.execute(
            select(t.meta.c.key).where(func.substr(t.meta.c.key, 1, len(_PAUSED)) == _PAUSED)
        )
        return {r.key.removeprefix(_PAUSED) for r in rows}

    def set_target_paused(self, target: str, paused: bool, now: datetime) -> None:
        """Pause (after a purge) or resume writing to a target."""
        key = f"{_PAUSED}{target}"
        self._conn.execute(delete(t.meta).where(t.meta.c.key == key))
        if paused:
            self._conn.execute(insert(t.meta).values(key=key, value="purged", created_at=now))

    # ------------------------------------------------------------------ sync state

    def sync_state(self, source: str) -> SyncStateRow | None:
        """What is remembered about a source, or ``None`` before its first poll."""
        row = self._conn.execute(
            select(t.sync_state).where(t.sync_state.c.source == source)
        ).first()
        if row is None:
            return None
        return SyncStateRow(**row._mapping)

    def save_sync_state(self, state: SyncStateRow) -> None:
        """Insert or replace a source's sync state."""
        values = {k: v for k, v in state.__dict__.items() if k != "source"}
        result = self._conn.execute(
            update(t.sync_state).where(t.sync_state.c.source == state.source).values(**values)
        )
        if result.rowcount == 0:
            self._conn.execute(insert(t.sync_state).values(source=state.source, **values))

    def known_sources(self) -> set[str]:
        """Every source name this database remembers (polled, or with mirrored events)."""
        polled = self._conn.execute(select(t.sync_state.c.source))
        mirrored = self._conn.execute(select(t.events.c.source).distinct())
        return {r.source for r in polled} | {r.source for r in mirrored}

    def forget_source(self, source: str) -> tuple[int, int]:
        """Remove a source's mirror, sync state and the completions learned from it.

        Completions learned from a source's events carry its name in their key
        (``event:<source>:…``); their history rows go with them. Returns
        (events removed, completions removed). The caller rebuilds the arrays.
        """
        c = t.behaviour_updates.c
        prefix = f"event:{source}:"
        matching = func.substr(c.idempotency_key, 1, len(prefix)) == prefix
        seqs = select(c.seq).where(matching, c.kind == "completion")
        self._conn.execute(
            delete(t.behaviour_update_history).where(
                t.behaviour_update_history.c.update_seq.in_(seqs)
            )
        )
        updates = self._conn.execute(
            delete(t.behaviour_updates).where(matching, c.kind == "completion")
        ).rowcount
        events = self._conn.execute(delete(t.events).where(t.events.c.source == source)).rowcount
        self._conn.execute(delete(t.sync_state).where(t.sync_state.c.source == source))
        return int(events), int(updates)


#: Meta keys of targets paused by ``calsync purge``.
_PAUSED = "paused_target:"
_ENERGY_STREAM = "energy"
_TASK_STREAM = "task:"


def _stream_name(task_type_id: int | None) -> str:
    return _ENERGY_STREAM if task_type_id is None else f"{_TASK_STREAM}{int(task_type_id)}"


def _stream_target(stream: str) -> int | None:
    if stream == _ENERGY_STREAM:
        return None
    if not stream.startswith(_TASK_STREAM):
        raise StoreError(f"unknown evidence stream {stream!r}")
    return int(stream.removeprefix(_TASK_STREAM))


def _default_array(neutral: float | np.ndarray) -> np.ndarray:
    if isinstance(neutral, np.ndarray):
        return np.array(neutral, dtype=np.float64)
    return neutral_array(neutral)


def _instant(value: datetime | date) -> datetime:
    """A mirror time column: aware datetimes as they are, dates at 00:00 UTC."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), tzinfo=UTC)


def _update_row(row: Any) -> UpdateRow:
    m = row._mapping
    return UpdateRow(
        seq=m["seq"],
        idempotency_key=m["idempotency_key"],
        user_id=m["user_id"],
        task_type_id=m["task_type_id"],
        kind=m["kind"],
        occurred_at=m["occurred_at"],
        slot=m["slot"],
        success=m["success"],
        energy_after=m["energy_after"],
        adjustments=m["adjustments"],
        revision=m["revision"],
    )


class Store:
    """A calsync database: open it, then work inside :meth:`write` or :meth:`read`."""

    def __init__(self, engine: Engine):
        self._engine = engine

    @classmethod
    def open(cls, url: str, busy_timeout_ms: int = 5000) -> Store:
        """Open (creating and migrating as needed) the database at ``url``.

        Raises:
            SchemaTooNewError: the database was written by a newer calsync.
            StoreError: it cannot be opened or migrated.

        """
        engine = create_store_engine(url, busy_timeout_ms)
        try:
            migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tools and tests)."""
        return self._engine

    def close(self) -> None:
        """Release every connection."""
        self._engine.dispose()

    @contextmanager
    def write(self) -> Iterator[StoreTx]:
        """A read-modify-write transaction (``BEGIN IMMEDIATE`` on SQLite).

        Commits when the block ends, rolls back when it raises.
        """
        try:
            with self._engine.begin() as conn:
                yield StoreTx(conn)
        except CalsyncError:
            raise
        except SQLAlchemyError as err:
            raise StoreError(f"database write failed: {err}") from err

    @contextmanager
    def read(self) -> Iterator[StoreTx]:
        """A read-only transaction; it takes no write lock."""
        try:
            conn = self._engine.connect().execution_options(**{READ_ONLY: True})
            with conn, conn.begin():
                yield StoreTx(conn)
        except CalsyncError:
            raise
        except SQLAlchemyError as err:
            raise StoreError(f"database read failed: {err}") from err
