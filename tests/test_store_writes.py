"""What a poll and an update write (issue 14 items 2 and 3), counted with SQLAlchemy events.

* The event mirror is kept as a diff: a re-poll of a year's feed (10,000
  occurrences) with one edited event writes at most 20 rows, in bulk.
* A behavioural update runs a number of statements that does not grow with
  the number of task types, and the queries it runs use an index (no scan of
  the update log).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from calsync.clock import FixedClock
from calsync.config import Config, TaskTypeConfig, embedded_default
from calsync.ingest import sync_source
from calsync.model import Event
from calsync.service import Calsync
from calsync.service import open as open_calsync
from calsync.sources.base import FetchResult

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


@dataclass
class Writes:
    """Statements executed and rows they wrote (INSERT, UPDATE, DELETE)."""

    statements: int = 0
    write_statements: int = 0
    rows: int = 0
    sql: list[str] = field(default_factory=list)


@contextmanager
def counting(engine: Engine) -> Iterator[Writes]:
    """Count what ``engine`` executes inside the block."""
    writes = Writes()

    def after(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
    ) -> None:
        writes.statements += 1
        writes.sql.append(statement)
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.write_statements += 1
            writes.rows += max(cursor.rowcount, 0)

    event.listen(engine, "after_cursor_execute", after)
    try:
        yield writes
    finally:
        event.remove(engine, "after_cursor_execute", after)


def year_of_events(count: int) -> list[Event]:
    """``count`` one-hour meetings spread over the year before ``NOW``."""
    step = timedelta(days=365) / count
    return [
        Event(
            source="feed",
            uid=f"ev-{i}",
            start=NOW - timedelta(days=365) + i * step,
            end=NOW - timedelta(days=365) + i * step + timedelta(hours=1),
            summary=f"Meeting {i}",
        )
        for i in range(count)
    ]


@dataclass
class Feed:
    """A source that always answers in full, as an ICS feed does."""

    events: list[Event]
    name: str = "feed"

    def fetch(self, cursor: str | None) -> FetchResult:
        """Every occurrence."""
        return FetchResult(events=list(self.events), cursor="feed", full=True)

    def close(self) -> None:
        """Nothing to release."""


@pytest.fixture
def cs(tmp_path: Path) -> Iterator[Calsync]:
    service = open_calsync(
        embedded_default(), store_url=f"sqlite:///{tmp_path / 'db.sqlite'}", clock=FixedClock(NOW)
    )
    yield service
    service.close()


def test_a_repoll_with_one_edited_event_writes_one_event_row(cs: Calsync) -> None:
    events = year_of_events(10_000)
    sync_source(cs, Feed(events))
    with cs.store.read() as tx:
        assert len(tx.event_keys("feed")) == 10_000

    edited = replace(events[5000], summary="Meeting 5000 (moved room)")
    with counting(cs.store.engine) as writes:
        report = sync_source(cs, Feed([*events[:5000], edited, *events[5001:]]))
    assert report.ok
    assert writes.rows <= 20, writes.sql
    event_writes = [s for s in writes.sql if "events" in s.split("WHERE")[0] and "INSERT" in s]
    assert not event_writes
    with cs.store.read() as tx:
        (stored,) = [e for e in tx.events(source="feed") if e.uid == "ev-5000"]
    assert stored.summary == "Meeting 5000 (moved room)"


def test_a_first_poll_and_deletions_are_written_in_bulk(cs: Calsync) -> None:
    events = year_of_events(2_000)
    with counting(cs.store.engine) as writes:
        sync_source(cs, Feed(events))
    assert writes.rows >= 2_000
    assert writes.write_statements <= 10
    with counting(cs.store.engine) as writes:
        report = sync_source(cs, Feed(events[:500]))
    assert report.deleted == 1_500
    assert writes.write_statements <= 10
    with cs.store.read() as tx:
        assert tx.event_keys("feed") == {e.occurrence_key for e in events[:500]}


def test_an_unchanged_repoll_writes_no_event_row(cs: Calsync) -> None:
    events = year_of_events(300)
    sync_source(cs, Feed(events))
    with counting(cs.store.engine) as writes:
        sync_source(cs, Feed(events))
    assert not [s for s in writes.sql if s.startswith(("INSERT INTO events", "UPDATE events"))]


# ---------------------------------------------------------------- updates


def config_with(task_types: int) -> Config:
    """The embedded default with ``task_types`` task types."""
    base = embedded_default()
    template = base.task_types[0]
    tasks: list[TaskTypeConfig] = [
        template.model_copy(update={"name": f"Task {i}", "keywords": [f"task{i}"]})
        for i in range(task_types)
    ]
    return base.model_copy(update={"task_types": tasks})


def statements_per_update(tmp_path: Path, task_types: int) -> int:
    config = config_with(task_types)
    service = open_calsync(
        config, store_url=f"sqlite:///{tmp_path / f'{task_types}.db'}", clock=FixedClock(NOW)
    )
    try:
        for i in range(5):
            service.record_completion("Task 0", NOW - timedelta(hours=i + 1), 0.8, 0.6)
        with counting(service.store.engine) as writes:
            service.record_completion("Task 1", NOW - timedelta(hours=30), 0.7, 0.5)
        return writes.statements
    finally:
        service.close()


def test_an_update_runs_as_many_statements_for_20_task_types_as_for_3(tmp_path: Path) -> None:
    assert statements_per_update(tmp_path, 20) == statements_per_update(tmp_path, 3)


def test_the_update_queries_use_an_index(cs: Calsync) -> None:
    with cs.store.engine.connect() as conn:
        plans = {
            "adjustments": conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT task_type_id, max(seq) FROM behaviour_updates "
                    "WHERE user_id = 'u' AND kind = 'adjustment' GROUP BY task_type_id"
                )
            ).all(),
            "last update": conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT max(recorded_at) FROM behaviour_updates "
                    "WHERE user_id = 'u' AND kind = 'completion'"
                )
            ).all(),
        }
    for name, plan in plans.items():
        detail = " ".join(str(row[-1]) for row in plan)
        assert "ix_behaviour_updates_user_kind" in detail, (name, detail)
