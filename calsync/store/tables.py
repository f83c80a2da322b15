"""SQLAlchemy table definitions of calsync's database.

The Alembic migrations under ``migrations/versions`` create exactly these
tables; ``tests/test_store.py`` checks that the migrated schema and this
metadata agree. Datetimes are stored in UTC (:class:`UTCDateTime`) and come
back timezone-aware; 168-slot arrays are stored as 1,344-byte little-endian
float64 blobs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from calsync.errors import StoreError
from calsync.learning.slots import SLOTS_PER_WEEK

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored as naive UTC and returned timezone-aware (UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to naive UTC; refuse naive ones."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise StoreError(f"refusing to store naive datetime {value.isoformat()}")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Attach UTC to the stored naive value."""
        if value is None:
            return None
        stored: datetime = value  # the DateTime column gives naive datetimes
        return stored.replace(tzinfo=UTC)


def array_to_blob(array: np.ndarray) -> bytes:
    """Serialise a 168-slot array (little-endian float64)."""
    if array.shape != (SLOTS_PER_WEEK,):
        raise StoreError(f"weekly arrays have {SLOTS_PER_WEEK} slots, got {array.shape}")
    return np.asarray(array, dtype="<f8").tobytes()


def blob_to_array(blob: bytes) -> np.ndarray:
    """Deserialise a 168-slot array, checking its size."""
    if len(blob) != SLOTS_PER_WEEK * 8:
        raise StoreError(f"corrupt weekly array: {len(blob)} bytes instead of {SLOTS_PER_WEEK * 8}")
    return np.frombuffer(blob, dtype="<f8").astype(np.float64)


users = Table(
    "users",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("timezone", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

task_types = Table(
    "task_types",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

habit_arrays = Table(
    "habit_arrays",
    metadata,
    Column("user_id", String(200), ForeignKey("users.id"), primary_key=True),
    Column("task_type_id", Integer, ForeignKey("task_types.id"), primary_key=True),
    Column("slots", LargeBinary, nullable=False),
    Column("completion_count", Integer, nullable=False, default=0),
    Column("updated_at", UTCDateTime(), nullable=False),
)

energy_arrays = Table(
    "energy_arrays",
    metadata,
    Column("user_id", String(200), ForeignKey("users.id"), primary_key=True),
    Column("slots", LargeBinary, nullable=False),
    Column("update_count", Integer, nullable=False, default=0),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Append-only log of everything that changed an array. The arrays are a cache
# of replaying this log in ``seq`` order; a corrected rating rewrites its row
# (keeping the old values in ``behaviour_update_history``) and the affected
# arrays are replayed.
behaviour_updates = Table(
    "behaviour_updates",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(500), nullable=False, unique=True),
    Column("user_id", String(200), ForeignKey("users.id"), nullable=False),
    # NULL for an adjustment of the energy array.
    Column("task_type_id", Integer, ForeignKey("task_types.id"), nullable=True),
    Column("kind", String(20), nullable=False),  # "completion" | "adjustment"
    Column("occurred_at", UTCDateTime(), nullable=True),
    Column("slot", Integer, nullable=True),
    Column("success", Float, nullable=True),
    Column("energy_after", Float, nullable=True),
    Column("adjustments", JSON, nullable=True),
    Column("revision", Integer, nullable=False, default=1),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Index("ix_behaviour_updates_user_task", "user_id", "task_type_id", "seq"),
    # Migration 0007: the newest adjustments of a user (every update) and the
    # newest completion's time are index seeks, not scans of the user's log.
    Index("ix_behaviour_updates_user_kind", "user_id", "kind", "task_type_id", "seq"),
    Index("ix_behaviour_updates_user_kind_recorded", "user_id", "kind", "recorded_at"),
)

behaviour_update_history = Table(
    "behaviour_update_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("update_seq", Integer, ForeignKey("behaviour_updates.seq"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("task_type_id", Integer, nullable=True),
    Column("slot", Integer, nullable=True),
    Column("success", Float, nullable=True),
    Column("energy_after", Float, nullable=True),
    Column("replaced_at", UTCDateTime(), nullable=False),
)

insights = Table(
    "insights",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(200), ForeignKey("users.id"), nullable=False),
    Column("kind", String(40), nullable=False),  # behavioural | feedback | weekly | user
    Column("text", Text, nullable=False),
    Column("confidence", String(20), nullable=False, default="medium"),
    Column("fingerprint", String(64), nullable=False),
    Column("meta", JSON, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("user_id", "fingerprint", name="uq_insights_user_fingerprint"),
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("cursor", Text, nullable=True),
    Column("last_success_at", UTCDateTime(), nullable=True),
    Column("last_attempt_at", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("needs_reauth", Boolean, nullable=False, default=False),
)

# The local mirror of every source's events (one row per occurrence): what
# deletions are reconciled against after a full resync, what free time is
# computed from, and where passed events are found for inference.
events = Table(
    "events",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("key", String(1200), primary_key=True),
    Column("start_at", UTCDateTime(), nullable=False),
    Column("end_at", UTCDateTime(), nullable=False),
    Column("suggestion_id", String(100), nullable=True),
    Column("payload", JSON, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_events_end_at", "end_at"),
    Index("ix_events_suggestion_id", "suggestion_id"),
)

# When each user's interpreter sync last ran, and a record of every run.
llm_sync_state = Table(
    "llm_sync_state",
    metadata,
    Column("user_id", String(200), ForeignKey("users.id"), primary_key=True),
    Column("last_sync_at", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
)

llm_sync_runs = Table(
    "llm_sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("users_synced", Integer, nullable=False),
    Column("adjustments_applied", Integer, nullable=False),
    Column("llm_calls", Integer, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("cost", Float, nullable=False),
    Column("errors", Text, nullable=True),
)

suggestions = Table(
    "suggestions",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("user_id", String(200), ForeignKey("users.id"), nullable=False),
    Column("task_type_id", Integer, ForeignKey("task_types.id"), nullable=False),
    Column("target", String(200), nullable=False),
    Column("remote_id", String(1024), nullable=True),
    Column("start", UTCDateTime(), nullable=False),
    Column("end", UTCDateTime(), nullable=False),
    Column("score", Float, nullable=False),
    # creating | active | moving | deleting | user_moved | declined | done | retracted | gone
    # | missing (absent in a mass absence, held) | lost (confirmed so twice; nothing learned)
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # The slot calsync chose (evidence for a skip when the user moves or deletes it).
    Column("planned_start", UTCDateTime(), nullable=True),
    # Where a calsync move in flight is taking the block (write-ahead intent).
    Column("pending_start", UTCDateTime(), nullable=True),
    Column("pending_end", UTCDateTime(), nullable=True),
    Index("ix_suggestions_user_target", "user_id", "target"),
)

# The evidence learner's sufficient statistics (calsync.learning.evidence): per
# user and stream — ``task:<task type id>`` or ``energy`` — the decayed
# successes and failures of every weekly slot and the time they are decayed
# to. Like the arrays, a cache of the update log: rebuilt from it whenever the
# learner configuration changes.
learner_evidence = Table(
    "learner_evidence",
    metadata,
    Column("user_id", String(200), ForeignKey("users.id"), primary_key=True),
    Column("stream", String(40), primary_key=True),
    Column("positive", LargeBinary, nullable=False),
    Column("negative", LargeBinary, nullable=False),
    Column("reference_at", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Which learner configuration shaped each user's arrays (kind and parameters,
# as canonical JSON); a different one at start-up rebuilds them from the log.
learner_state = Table(
    "learner_state",
    metadata,
    Column("user_id", String(200), ForeignKey("users.id"), primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Facts about this database itself, one row per key: ``installation_id``, the
# random id (generated once, by migration 0006) that every block calsync
# writes carries in its marker, so blocks of other installations sharing a
# calendar are recognised and never touched.
meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
