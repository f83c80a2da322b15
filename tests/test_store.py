"""The store against real SQLite files: migrations, idempotency, corrections and concurrency.

Every test opens a real database file in ``tmp_path``; nothing is mocked. The
multi-process test starts worker processes with the ``spawn`` method, so its
worker function lives at module level.
"""

from __future__ import annotations

import logging
import multiprocessing
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from calsync.clock import FixedClock
from calsync.config import EXAMPLE_TASK_TYPES, Config, embedded_default, parse_config
from calsync.errors import InputError, SchemaTooNewError, StoreError
from calsync.learning.evidence import (
    SlotEvidence,
    energy_array,
    evidence_from,
    posterior_arrays,
)
from calsync.learning.habits import behavioural_update, neutral_array
from calsync.service import Calsync
from calsync.service import open as open_calsync
from calsync.store import Store, SyncStateRow, current_revision, head_revision
from calsync.store.tables import UTCDateTime, metadata

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)  # a Tuesday
TUESDAY_9 = datetime(2026, 11, 24, 9, tzinfo=UTC)  # slot 2 * 24 + 9 = 57
WEDNESDAY_10 = datetime(2026, 11, 25, 10, tzinfo=UTC)  # slot 3 * 24 + 10 = 82
DEEP = "Deep Coding"
USER = "me"


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _config(learner: str | None = None) -> Config:
    """The embedded default config, optionally with another ``learning.learner``."""
    config = embedded_default()
    if learner is None:
        return config
    learning = config.learning.model_copy(update={"learner": learner})
    return config.model_copy(update={"learning": learning})


@contextmanager
def _calsync(path: Path, learner: str | None = None) -> Iterator[Calsync]:
    """A Calsync with the embedded default config (or another learner) on the file ``path``."""
    with open_calsync(_config(learner), store_url=_url(path), clock=FixedClock(NOW)) as cs:
        yield cs


def _habit(cs: Calsync, task: str = DEEP) -> tuple[np.ndarray, int]:
    view = cs.habit(task)
    return view.values.copy(), view.count


def _count_updates(cs: Calsync, **kwargs: Any) -> int:
    with cs.store.read() as tx:
        return tx.count_updates(**kwargs)


# --------------------------------------------------------------------------- schema


def test_fresh_file_is_migrated_to_head_with_the_configured_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "c.db"  # the directory is created too
    config = parse_config({"task_types": EXAMPLE_TASK_TYPES, "store": {"busy_timeout_ms": 1234}})
    with open_calsync(config, store_url=_url(path), clock=FixedClock(NOW)) as cs:
        engine = cs.store.engine
        assert path.is_file()
        assert current_revision(engine) == head_revision() == "0007_update_log_indexes"
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234

    # WAL is a property of the file: a plain sqlite3 connection sees it too.
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_store_open_uses_the_busy_timeout_it_is_given(tmp_path: Path) -> None:
    store = Store.open(_url(tmp_path / "c.db"), busy_timeout_ms=777)
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 777
    finally:
        store.close()


def test_migrated_schema_matches_the_table_metadata(tmp_path: Path) -> None:
    store = Store.open(_url(tmp_path / "c.db"))
    try:
        inspector = inspect(store.engine)
        tables = set(inspector.get_table_names())
        assert tables == set(metadata.tables) | {"alembic_version"}
        for name, table in metadata.tables.items():
            migrated = [column["name"] for column in inspector.get_columns(name)]
            assert migrated == [column.name for column in table.columns], name
        # Alembic's own comparison (types, nullability, keys, indexes) finds no drift either.
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        store.close()


def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    with _calsync(tmp_path / "c.db") as cs:
        with pytest.raises(StoreError, match="FOREIGN KEY"), cs.store.write() as tx:
            tx.add_insight("nobody", "behavioural", "text", NOW)
        with cs.store.read() as tx:
            assert tx.insights("nobody") == []


def test_reopening_is_a_no_op_migration_and_keeps_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.db"
    caplog.set_level(logging.INFO, logger="calsync.store.engine")
    with _calsync(path) as cs:
        cs.record_completion(DEEP, TUESDAY_9, success=0.9, energy_after=0.7)
        first_habit, first_energy = _habit(cs), cs.energy().values.copy()
        with cs.store.write() as tx:
            assert tx.add_insight(USER, "behavioural", "Mornings work", NOW)
    migrating = [r for r in caplog.records if "migrating database schema" in r.getMessage()]
    assert len(migrating) == 1
    caplog.clear()

    with _calsync(path) as cs:
        assert current_revision(cs.store.engine) == head_revision()
        array, count = _habit(cs)
        assert count == 1
        np.testing.assert_array_equal(array, first_habit[0])
        assert first_habit[1] == 1
        np.testing.assert_array_equal(cs.energy().values, first_energy)
        assert _count_updates(cs) == 1
        with cs.store.read() as tx:
            assert [i.text for i in tx.insights(USER)] == ["Mornings work"]
            assert set(tx.task_type_names().values()) == {"Deep Coding", "Email", "Exercise"}
        # the data is still usable: the same completion is recognised as known
        assert cs.record_completion(DEEP, TUESDAY_9, success=0.9, energy_after=0.7).status == (
            "duplicate"
        )
    assert not [r for r in caplog.records if "migrating database schema" in r.getMessage()]


def test_database_from_a_newer_calsync_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    Store.open(_url(path)).close()
    raw = sqlite3.connect(path)
    try:
        with raw:
            raw.execute("UPDATE alembic_version SET version_num='9999_future'")
    finally:
        raw.close()

    with pytest.raises(SchemaTooNewError) as caught:
        Store.open(_url(path))
    message = str(caught.value)
    assert "9999_future" in message
    assert "Upgrade calsync" in message
    assert isinstance(caught.value, StoreError)
    assert caught.value.exit_code == 4

    with pytest.raises(SchemaTooNewError, match="9999_future"):
        open_calsync(embedded_default(), store_url=_url(path), clock=FixedClock(NOW))

    # Refusing touched nothing.
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("9999_future",)
        ]
    finally:
        raw.close()


# --------------------------------------------------------------------------- idempotency


def test_recording_the_same_completion_twice_is_a_duplicate(tmp_path: Path) -> None:
    with _calsync(tmp_path / "c.db") as cs:
        first = cs.record_completion(DEEP, TUESDAY_9, success=0.9)
        assert first.status == "added"
        assert first.slot == 57
        after_one = _habit(cs)
        assert after_one[1] == 1
        assert after_one[0][57] != 0.5

        second = cs.record_completion(DEEP, TUESDAY_9, success=0.9)
        assert second.status == "duplicate"
        assert second.key == first.key
        # The same instant written in another zone is the same completion.
        berlin = TUESDAY_9.astimezone(ZoneInfo("Europe/Berlin"))
        assert cs.record_completion(DEEP, berlin, success=0.9).status == "duplicate"

        array, count = _habit(cs)
        assert count == 1
        np.testing.assert_array_equal(array, after_one[0])
        assert _count_updates(cs) == 1
        assert _count_updates(cs, user_id=USER, kind="completion") == 1
        with cs.store.read() as tx:
            assert tx.update_history(first.key) == []


def test_explicit_key_is_ingested_once(tmp_path: Path) -> None:
    with _calsync(tmp_path / "c.db") as cs:
        assert cs.record_completion(DEEP, TUESDAY_9, success=0.8, key="evt-1").status == "added"
        after_one = _habit(cs)
        result = cs.record_completion(DEEP, TUESDAY_9, success=0.8, key="evt-1")
        assert result.status == "duplicate"
        assert result.key == "evt-1"
        array, count = _habit(cs)
        assert count == 1
        np.testing.assert_array_equal(array, after_one[0])
        assert _count_updates(cs) == 1
        with cs.store.read() as tx:
            row = tx.find_update("evt-1")
        assert row is not None
        assert row.revision == 1
        assert row.success == 0.8


# --------------------------------------------------------------------------- corrections


def test_corrected_rating_equals_recording_the_corrected_value_alone(tmp_path: Path) -> None:
    with _calsync(tmp_path / "fresh.db") as fresh:
        fresh.record_completion(DEEP, TUESDAY_9, success=0.2)
        expected = _habit(fresh)

    with _calsync(tmp_path / "c.db") as cs:
        key = cs.record_completion(DEEP, TUESDAY_9, success=0.9).key
        before = _habit(cs)
        result = cs.record_completion(DEEP, TUESDAY_9, success=0.2)
        assert result.status == "corrected"
        assert result.key == key
        array, count = _habit(cs)
        assert count == 1
        assert not np.array_equal(array, before[0])
        np.testing.assert_array_equal(array, expected[0])
        assert _count_updates(cs) == 1
        with cs.store.read() as tx:
            history = tx.update_history(key)
            row = tx.find_update(key)
        assert len(history) == 1
        assert history[0]["success"] == 0.9
        assert history[0]["revision"] == 1
        assert history[0]["slot"] == 57
        assert history[0]["replaced_at"] == NOW
        assert row is not None
        assert row.success == 0.2
        assert row.revision == 2
        # Sending the corrected value again is now a duplicate.
        assert cs.record_completion(DEEP, TUESDAY_9, success=0.2).status == "duplicate"
        np.testing.assert_array_equal(_habit(cs)[0], expected[0])


@pytest.mark.parametrize("learner", ["ema", "evidence"])
def test_correction_replays_later_completions_in_order(tmp_path: Path, learner: str) -> None:
    # The second completion lands in another slot, but (EMA) its learning rate depends
    # on the count, or (evidence) the smoothing carries the first into its slot, so the
    # replay must run corrected-first, then second.
    with _calsync(tmp_path / "fresh.db", learner) as fresh:
        fresh.record_completion(DEEP, TUESDAY_9, success=0.1)
        fresh.record_completion(DEEP, WEDNESDAY_10, success=0.7)
        expected = _habit(fresh)
        expected_email = _habit(fresh, "Email")

    with _calsync(tmp_path / "c.db", learner) as cs:
        key = cs.record_completion(DEEP, TUESDAY_9, success=0.95).key
        cs.record_completion(DEEP, WEDNESDAY_10, success=0.7)
        assert cs.record_completion(DEEP, TUESDAY_9, success=0.1).status == "corrected"
        array, count = _habit(cs)
        assert count == 2
        np.testing.assert_array_equal(array, expected[0])
        assert _count_updates(cs) == 2
        with cs.store.read() as tx:
            assert [h["success"] for h in tx.update_history(key)] == [0.95]
        # The other task types learned nothing themselves: neutral under the EMA, and
        # under the evidence learner what they pool from the corrected history.
        email, email_count = _habit(cs, "Email")
        assert email_count == 0
        np.testing.assert_array_equal(email, expected_email[0])
        if learner == "ema":
            np.testing.assert_array_equal(email, neutral_array())


def test_corrected_energy_after_equals_recording_it_alone(tmp_path: Path) -> None:
    with _calsync(tmp_path / "fresh.db") as fresh:
        fresh.record_completion(DEEP, TUESDAY_9, success=0.9, energy_after=0.2)
        expected_energy = fresh.energy()
        expected_habit = _habit(fresh)

    with _calsync(tmp_path / "c.db") as cs:
        key = cs.record_completion(DEEP, TUESDAY_9, success=0.9, energy_after=0.8).key
        before = cs.energy().values.copy()
        result = cs.record_completion(DEEP, TUESDAY_9, success=0.9, energy_after=0.2)
        assert result.status == "corrected"
        energy = cs.energy()
        assert energy.count == 1
        assert expected_energy.count == 1
        assert not np.array_equal(energy.values, before)
        np.testing.assert_array_equal(energy.values, expected_energy.values)
        array, count = _habit(cs)
        assert count == 1
        np.testing.assert_array_equal(array, expected_habit[0])
        with cs.store.read() as tx:
            history = tx.update_history(key)
            assert tx.count_updates() == 1
        assert [(h["success"], h["energy_after"]) for h in history] == [(0.9, 0.8)]


def test_removing_energy_after_in_a_correction_resets_the_energy_array(tmp_path: Path) -> None:
    with _calsync(tmp_path / "c.db") as cs:
        cs.record_completion(DEEP, TUESDAY_9, success=0.9, energy_after=0.8)
        assert cs.energy().count == 1
        assert cs.record_completion(DEEP, TUESDAY_9, success=0.9).status == "corrected"
        energy = cs.energy()
        assert energy.count == 0
        np.testing.assert_array_equal(energy.values, neutral_array())


# --------------------------------------------------------------------------- insights, sync state


def test_insights_are_deduplicated_by_normalised_text(tmp_path: Path) -> None:
    with _calsync(tmp_path / "c.db") as cs:
        with cs.store.write() as tx:
            assert tx.add_insight(USER, "behavioural", "You focus best on Tuesday mornings.", NOW)
            assert not tx.add_insight(
                USER, "behavioural", "  you FOCUS best\non  tuesday   mornings. ", NOW
            )
        with cs.store.write() as tx:  # also across transactions
            assert not tx.add_insight(
                USER, "behavioural", "YOU FOCUS BEST ON TUESDAY MORNINGS.", NOW
            )
        with cs.store.read() as tx:
            rows = tx.insights(USER)
        assert len(rows) == 1
        assert rows[0].text == "You focus best on Tuesday mornings."
        assert rows[0].kind == "behavioural"
        assert rows[0].confidence == "medium"
        assert rows[0].created_at == NOW
        assert rows[0].created_at.tzinfo is UTC


def test_sync_state_round_trips_with_utc_timestamps(tmp_path: Path) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    state = SyncStateRow(
        source="work-calendar",
        cursor="sync-token-1",
        last_success_at=datetime(2026, 11, 24, 13, 30, tzinfo=berlin),
        last_attempt_at=NOW,
        last_error=None,
        consecutive_failures=0,
        needs_reauth=False,
    )
    with _calsync(tmp_path / "c.db") as cs:
        with cs.store.read() as tx:
            assert tx.sync_state("work-calendar") is None
        with cs.store.write() as tx:
            tx.save_sync_state(state)
        with cs.store.read() as tx:
            loaded = tx.sync_state("work-calendar")
        assert loaded == state
        assert loaded.last_success_at is not None
        assert loaded.last_success_at.tzinfo is UTC
        assert loaded.last_success_at.hour == 12  # 13:30 in Berlin (CET) is 12:30 UTC
        assert loaded.last_attempt_at is not None
        assert loaded.last_attempt_at.tzinfo is UTC

        failed = SyncStateRow(
            source="work-calendar",
            cursor="sync-token-1",
            last_success_at=state.last_success_at,
            last_attempt_at=NOW + timedelta(minutes=5),
            last_error="401 Unauthorized",
            consecutive_failures=1,
            needs_reauth=True,
        )
        with cs.store.write() as tx:
            tx.save_sync_state(failed)
        with cs.store.read() as tx:
            assert tx.sync_state("work-calendar") == failed
            assert tx.sync_state("other") is None


# --------------------------------------------------------------------------- datetimes


def test_naive_datetimes_are_refused(tmp_path: Path) -> None:
    naive = datetime(2026, 11, 24, 9)  # noqa: DTZ001 - deliberately naive
    with _calsync(tmp_path / "c.db") as cs:
        with cs.store.read() as tx:
            task_id = tx.task_type_id(DEEP)
        with pytest.raises(StoreError, match="naive"), cs.store.write() as tx:
            tx.insert_update(
                key="naive-1",
                user_id=USER,
                task_type_id=task_id,
                kind="completion",
                now=NOW,
                occurred_at=naive,
                slot=57,
                success=0.5,
            )
        with pytest.raises(StoreError, match="naive"), cs.store.write() as tx:
            tx.add_insight(USER, "behavioural", "never stored", naive)
        with cs.store.read() as tx:
            assert tx.count_updates() == 0
            assert tx.find_update("naive-1") is None
            assert tx.insights(USER) == []
        with pytest.raises(InputError, match="timezone-aware"):
            cs.record_completion(DEEP, naive, success=0.5)
        assert _count_updates(cs) == 0

    with pytest.raises(StoreError, match="naive"):
        UTCDateTime().process_bind_param(naive, cs.store.engine.dialect)


def test_datetimes_come_back_timezone_aware_utc(tmp_path: Path) -> None:
    berlin_start = datetime(2026, 11, 24, 10, tzinfo=ZoneInfo("Europe/Berlin"))
    with _calsync(tmp_path / "c.db") as cs:
        key = cs.record_completion(DEEP, berlin_start, success=0.6).key
        with cs.store.read() as tx:
            row = tx.find_update(key)
        assert row is not None
        assert row.occurred_at == berlin_start
        assert row.occurred_at.tzinfo is UTC
        assert row.occurred_at.hour == 9
        assert row.slot == 57  # read on the user's (UTC) clock
    stored = datetime(2026, 1, 1)  # noqa: DTZ001 - how SQLite hands the value back
    loaded = UTCDateTime().process_result_value(stored, cs.store.engine.dialect)
    assert loaded == datetime(2026, 1, 1, tzinfo=UTC)
    assert loaded.tzinfo is UTC


# --------------------------------------------------------------------------- adjustments

_ADJUSTMENT = {"day_pattern": "tuesday", "hour_range": [9, 10], "modifier": 1.4, "reason": "test"}


def test_adjustments_are_applied_once_and_replayed_by_rebuild(tmp_path: Path) -> None:
    with _calsync(tmp_path / "c.db") as cs:
        cs.record_completion(DEEP, TUESDAY_9, success=0.6)
        before, count_before = _habit(cs)

        assert cs.apply_adjustments([_ADJUSTMENT], DEEP, key="k1") is True
        adjusted, count = _habit(cs)
        assert count == count_before == 1  # adjustments are not completions
        changed = np.flatnonzero(adjusted != before).tolist()
        assert changed == [57, 58]
        assert adjusted[57] > before[57]

        assert cs.apply_adjustments([_ADJUSTMENT], DEEP, key="k1") is False
        np.testing.assert_array_equal(_habit(cs)[0], adjusted)
        assert _count_updates(cs, kind="adjustment") == 1

        # A key that names an adjustment cannot be re-used for a completion.
        with pytest.raises(InputError, match="adjustment"):
            cs.record_completion(DEEP, TUESDAY_9, success=0.6, key="k1")

        # Energy adjustments (no task type) are idempotent and replayed too.
        assert cs.apply_adjustments([_ADJUSTMENT], None, key="k2") is True
        assert cs.apply_adjustments([_ADJUSTMENT], None, key="k2") is False
        energy = cs.energy().values.copy()
        assert np.flatnonzero(energy != neutral_array()).tolist() == [57, 58]

        cs.record_completion(DEEP, WEDNESDAY_10, success=0.3)
        final, final_count = _habit(cs)
        cs.rebuild()
        rebuilt, rebuilt_count = _habit(cs)
        np.testing.assert_array_equal(rebuilt, final)
        assert rebuilt_count == final_count == 2
        np.testing.assert_array_equal(cs.energy().values, energy)


def test_correction_keeps_a_later_adjustment(tmp_path: Path) -> None:
    with _calsync(tmp_path / "fresh.db") as fresh:
        fresh.record_completion(DEEP, TUESDAY_9, success=0.3)
        fresh.apply_adjustments([_ADJUSTMENT], DEEP, key="k1")
        expected = _habit(fresh)

    with _calsync(tmp_path / "c.db") as cs:
        cs.record_completion(DEEP, TUESDAY_9, success=0.9)
        cs.apply_adjustments([_ADJUSTMENT], DEEP, key="k1")
        assert cs.record_completion(DEEP, TUESDAY_9, success=0.3).status == "corrected"
        array, count = _habit(cs)
        assert count == 1
        np.testing.assert_array_equal(array, expected[0])


# --------------------------------------------------------------------------- several processes

_WORKERS = 3
_PER_WORKER = 40


def _record_many(url: str, worker: int, count: int, learner: str, barrier: Any) -> None:
    """Worker process: open the shared file, wait for the others, record ``count`` completions.

    Worker ``w`` records in week ``w`` at hours ``0..count-1``, so the starts are
    distinct while the weekly slots are shared by every worker (with different
    ratings), which makes the arrays depend on the order the writes commit in.
    """
    with open_calsync(_config(learner), store_url=url, clock=FixedClock(NOW)) as cs:
        barrier.wait(timeout=60)
        base = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(weeks=worker)
        last_seen = 0
        for j in range(count):
            rating = ((worker * 7 + j) % 11) / 10
            result = cs.record_completion(
                DEEP, base + timedelta(hours=j), success=rating, energy_after=1 - rating
            )
            assert result.status == "added"
            # A lock-free read between writes (WAL) gives the other writers a window to
            # take the lock, so the writes of the processes interleave.
            seen = cs.habit(DEEP).count
            assert seen > last_seen
            last_seen = seen


def _open_then_record(url: str, worker: int, barrier: Any) -> None:
    """Worker process: wait for the others, then open a fresh file and record one completion."""
    barrier.wait(timeout=60)
    with open_calsync(embedded_default(), store_url=url, clock=FixedClock(NOW)) as cs:
        start = TUESDAY_9 + timedelta(weeks=worker)
        assert cs.record_completion(DEEP, start, success=0.9).status == "added"


def _run(target: Any, url: str, workers: int, *args: Any) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    processes = [ctx.Process(target=target, args=(url, w, *args, barrier)) for w in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    for process in processes:
        if process.is_alive():  # pragma: no cover - only on a hang
            process.kill()
            process.join()
    assert [p.exitcode for p in processes] == [0] * workers


@pytest.mark.slow
@pytest.mark.parametrize("learner", ["ema", "evidence"])
def test_concurrent_writers_in_several_processes_lose_no_update(
    tmp_path: Path, learner: str
) -> None:
    path = tmp_path / "shared.db"  # not created beforehand: the workers race to migrate it
    total = _WORKERS * _PER_WORKER
    _run(_record_many, _url(path), _WORKERS, _PER_WORKER, learner)

    with _calsync(path, learner) as cs:
        assert current_revision(cs.store.engine) == head_revision()
        with cs.store.read() as tx:
            assert tx.count_updates() == total
            assert set(tx.task_type_names().values()) == {"Deep Coding", "Email", "Exercise"}
            assert tx.users() == {USER: "UTC"}
            log = tx.updates_for_habit(USER, tx.task_type_id(DEEP))
        habit, count = _habit(cs)
        energy = cs.energy()
        assert count == total
        assert energy.count == total
        assert len({row.occurred_at for row in log}) == total

        # Independent sequential replay of the log in seq order.
        replay, replay_energy = neutral_array(), neutral_array()
        if learner == "ema":
            params = cs.config.learning.params()
            for n, row in enumerate(log):
                assert row.slot is not None
                assert row.success is not None
                assert row.energy_after is not None
                replay, _ = behavioural_update(replay, row.slot, row.success, n, params)
                replay_energy, _ = behavioural_update(
                    replay_energy, row.slot, row.energy_after, n, params
                )
        else:
            # The outcomes arrive out of time order (worker 2's week may commit before
            # worker 0's); the evidence is the same sums however they interleave, and
            # a lost update would be missing from them.
            evidence_params = cs.config.learning.evidence_params()
            outcomes = [(r.slot, r.success, r.occurred_at) for r in log]
            ratings = [(r.slot, r.energy_after, r.occurred_at) for r in log]
            deep = evidence_from(outcomes, evidence_params)  # type: ignore[arg-type]
            empty = SlotEvidence()
            replay = posterior_arrays(
                {DEEP: deep, "Email": empty, "Exercise": empty}, evidence_params
            )[DEEP]
            replay_energy = energy_array(evidence_from(ratings, evidence_params), evidence_params)  # type: ignore[arg-type]
        np.testing.assert_array_equal(habit, replay)
        np.testing.assert_array_equal(energy.values, replay_energy)

        # rebuild() replays the log in seq order: nothing may change.
        cs.rebuild()
        rebuilt, rebuilt_count = _habit(cs)
        assert rebuilt_count == total
        np.testing.assert_array_equal(rebuilt, habit)
        np.testing.assert_array_equal(cs.energy().values, energy.values)


@pytest.mark.slow
def test_processes_opening_a_fresh_file_together_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    _run(_open_then_record, _url(path), _WORKERS)
    with _calsync(path) as cs:
        assert current_revision(cs.store.engine) == head_revision()
        assert _count_updates(cs) == _WORKERS
        assert _habit(cs)[1] == _WORKERS
        with cs.store.read() as tx:
            assert sorted(tx.task_type_names().values()) == ["Deep Coding", "Email", "Exercise"]
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_revision(),)
        ]
    finally:
        raw.close()


def test_an_explicit_key_cannot_touch_another_users_completion(tmp_path: Path) -> None:
    config = embedded_default()
    with open_calsync(
        config, store_url=f"sqlite:///{tmp_path / 'k.db'}", clock=FixedClock(NOW)
    ) as cs:
        cs.add_user("bob", "UTC")
        start = datetime(2026, 11, 24, 9, tzinfo=UTC)
        assert cs.record_completion("Deep Coding", start, success=0.9, key="k").status == "added"
        before = cs.habit("Deep Coding").values.copy()
        with pytest.raises(InputError, match="another user"):
            cs.record_completion("Deep Coding", start, success=0.2, key="k", user="bob")
        assert np.array_equal(cs.habit("Deep Coding").values, before)
        assert cs.habit("Deep Coding", user="bob").count == 0


def test_the_same_key_at_another_start_is_a_correction_not_a_duplicate(tmp_path: Path) -> None:
    config = embedded_default()
    with open_calsync(
        config, store_url=f"sqlite:///{tmp_path / 'w.db'}", clock=FixedClock(NOW)
    ) as cs:
        start = datetime(2026, 11, 24, 9, tzinfo=UTC)
        cs.record_completion("Deep Coding", start, success=0.9, key="k")
        # One week later: the same weekly slot, but a different occurrence time.
        result = cs.record_completion(
            "Deep Coding", start + timedelta(weeks=1), success=0.9, key="k"
        )
        assert result.status == "corrected"
        assert cs.habit("Deep Coding").count == 1


def test_an_older_database_is_upgraded_in_place_keeping_its_data(tmp_path: Path) -> None:
    from alembic import command

    from calsync.store.engine import _alembic_config, create_store_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_store_engine(url)
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001_initial")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO users (id, timezone, created_at) "
            "VALUES ('old', 'UTC', '2026-01-01 00:00:00')"
        )
    assert current_revision(engine) == "0001_initial"
    engine.dispose()

    store = Store.open(url)
    try:
        assert current_revision(store.engine) == head_revision()
        with store.read() as tx:
            assert tx.users() == {"old": "UTC"}
            assert tx.events() == []
    finally:
        store.close()
