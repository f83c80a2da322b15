"""Deleting a note: from the database and from the memory store that mirrors it."""

from __future__ import annotations

import logging
from typing import Any

from calsync.errors import MemoryStoreError
from calsync.service import Calsync

logger = logging.getLogger(__name__)


def close_memory(memory: Any) -> None:
    """Close a memory store opened for one request (every store calsync has can be closed)."""
    close = getattr(memory, "close", None)
    if callable(close):
        close()


def delete_insight(cs: Calsync, insight_id: int) -> bool:
    """Delete one of the configured user's insights; ``False`` when there is no such one.

    Its copy in the memory store (``meta.memory_id``) goes too; a memory store
    that refuses is logged and the database row is deleted all the same (the
    next interpreter sync reads the memory store, so the note would linger
    there until deleted by hand — said in the log).
    """
    from calsync.insights.sync import InsightService

    user = cs.config.user.id
    with cs.store.write() as tx:
        row = tx.delete_insight(user, insight_id)
    if row is None:
        return False
    memory_id = (row.meta or {}).get("memory_id")
    if memory_id:
        service = InsightService.from_config(cs)
        try:
            service.memory.delete(str(memory_id), user)
        except MemoryStoreError as err:
            logger.warning("the memory store kept a deleted note (id %s): %s", memory_id, err)
        finally:
            close_memory(service.memory)
    logger.info("deleted insight %d", insight_id)
    return True
