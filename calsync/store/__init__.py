"""Persistence: SQLAlchemy tables, Alembic migrations and the :class:`Store`."""

from calsync.store.engine import create_store_engine, current_revision, head_revision, migrate
from calsync.store.store import (
    InsightRow,
    Store,
    StoreTx,
    SuggestionRow,
    SyncStateRow,
    UpdateRow,
)

__all__ = [
    "InsightRow",
    "Store",
    "StoreTx",
    "SuggestionRow",
    "SyncStateRow",
    "UpdateRow",
    "create_store_engine",
    "current_revision",
    "head_revision",
    "migrate",
]
