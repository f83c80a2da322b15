"""The evidence learner: its pure core, and the service with it on real SQLite files.

The pure tests state the learner's properties (order independence, fading,
smoothing, pooling, the population prior, adjustments in the prior, bounds).
The service tests check that what the store holds is exactly what the core
computes from the update log — after recording, skipping, correcting,
adjusting, rebuilding, switching learners and upgrading an old database.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.clock import FixedClock
from calsync.config import Config, embedded_default
from calsync.learning.evidence import (
    EvidenceParams,
    SlotEvidence,
    add_outcome,
    energy_array,
    evidence_from,
    population_prior,
    posterior_arrays,
)
from calsync.learning.habits import (
    Adjustment,
    apply_adjustments,
    behavioural_update,
    neutral_array,
)
from calsync.learning.planner import Period, find_optimal_slot
from calsync.learning.slots import get_weekly_index
from calsync.service import Calsync
from calsync.service import open as open_calsync
from calsync.store import Store, current_revision, head_revision

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)  # a Tuesday
T0 = datetime(2026, 11, 3, 10, tzinfo=UTC)  # a Tuesday, three weeks earlier
PARAMS = EvidenceParams()
TASKS = ("Deep Coding", "Email", "Exercise")
DEEP = "Deep Coding"
USER = "me"
TUE_10 = get_weekly_index(2, 10)

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
outcome = st.tuples(
    st.integers(0, 167), unit, st.integers(0, 60 * 24 * 90).map(lambda m: timedelta(minutes=m))
)


def _empty() -> dict[str, SlotEvidence]:
    return {name: SlotEvidence() for name in TASKS}


def _one(slot: int, success: float, at: datetime = T0, task: str = DEEP) -> dict[str, np.ndarray]:
    habits = _empty()
    habits[task] = add_outcome(SlotEvidence(), slot, success, at, PARAMS)
    return posterior_arrays(habits, PARAMS)


# --------------------------------------------------------------------------- the pure core


@settings(max_examples=60, deadline=None)
@given(st.lists(outcome, min_size=1, max_size=25), st.randoms(use_true_random=False))
def test_the_order_outcomes_arrive_in_does_not_matter_even_with_fading(
    outcomes: list[tuple[int, float, timedelta]], rng: random.Random
) -> None:
    items = [(slot, value, T0 + offset) for slot, value, offset in outcomes]
    shuffled = items[:]
    rng.shuffle(shuffled)
    a, b = evidence_from(items, PARAMS), evidence_from(shuffled, PARAMS)
    assert a.reference == b.reference == max(at for *_, at in items).timestamp()
    np.testing.assert_allclose(a.positive, b.positive, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.negative, b.negative, rtol=1e-9, atol=1e-12)


def test_evidence_of_one_half_life_ago_weighs_half() -> None:
    old = add_outcome(SlotEvidence(), 10, 1.0, T0, PARAMS)
    both = add_outcome(old, 20, 1.0, T0 + timedelta(days=PARAMS.half_life_days), PARAMS)
    assert both.positive[10] == pytest.approx(0.5)
    assert both.positive[20] == pytest.approx(1.0)
    # The same, arriving late: an outcome 14 days older than the newest counts half.
    late = add_outcome(
        add_outcome(SlotEvidence(), 20, 1.0, T0 + timedelta(days=14), PARAMS), 10, 1.0, T0, PARAMS
    )
    assert late.positive[10] == pytest.approx(0.5)
    quarter = add_outcome(old, 20, 1.0, T0 + timedelta(days=28), PARAMS)
    assert quarter.positive[10] == pytest.approx(0.25)


def test_a_skip_lowers_its_slot_and_its_neighbours_more_than_far_slots() -> None:
    prior = posterior_arrays(_empty(), PARAMS)[DEEP]
    skipped = _one(TUE_10, 0.0)[DEEP]
    drop = prior - skipped
    assert np.all(drop >= -1e-12)  # a failure raises nothing
    own, next_hour, two_hours, far = (drop[TUE_10 + d] for d in (0, 1, 2, 6))
    assert own > next_hour > two_hours > far >= 0
    assert far < 1e-6
    # As much evidence an hour before as an hour after (the values differ by the prior's).
    ratio = skipped / prior
    assert ratio[TUE_10 - 1] == pytest.approx(ratio[TUE_10 + 1])
    assert skipped[TUE_10] < prior[TUE_10] / 2 + 1e-9  # one skip outweighs the prior


def test_the_same_hour_on_a_similar_day_moves_more_than_on_a_weekend_day() -> None:
    prior = posterior_arrays(_empty(), PARAMS)[DEEP]
    skipped = _one(TUE_10, 0.0)[DEEP]
    drop = prior - skipped
    wednesday, friday = drop[get_weekly_index(3, 10)], drop[get_weekly_index(5, 10)]
    saturday, sunday = drop[get_weekly_index(6, 10)], drop[get_weekly_index(0, 10)]
    assert wednesday == pytest.approx(friday)  # every weekday is as similar
    assert drop[TUE_10] > wednesday > saturday > 0
    assert saturday == pytest.approx(sunday)
    # And a success raises them in the same order.
    kept = _one(TUE_10, 1.0)[DEEP] - prior
    assert kept[TUE_10] > kept[get_weekly_index(3, 10)] > kept[get_weekly_index(6, 10)] > 0


def test_task_types_pool_each_others_evidence() -> None:
    prior = posterior_arrays(_empty(), PARAMS)
    arrays = _one(TUE_10, 1.0, task="Email")
    email_gain = arrays["Email"][TUE_10] - prior["Email"][TUE_10]
    deep_gain = arrays[DEEP][TUE_10] - prior[DEEP][TUE_10]
    assert email_gain > deep_gain > 0  # the others learn from it, less
    np.testing.assert_array_equal(arrays[DEEP], arrays["Exercise"])
    alone = posterior_arrays(_empty(), EvidenceParams(pool_weight=0.0))
    unpooled = _empty()
    unpooled["Email"] = add_outcome(SlotEvidence(), TUE_10, 1.0, T0, PARAMS)
    np.testing.assert_array_equal(
        posterior_arrays(unpooled, EvidenceParams(pool_weight=0.0))[DEEP], alone[DEEP]
    )


def test_with_nothing_learned_the_arrays_follow_the_population_prior() -> None:
    arrays = posterior_arrays(_empty(), PARAMS)
    prior = population_prior()
    for array in arrays.values():
        np.testing.assert_allclose(array, prior, atol=1e-12)
    grid = prior.reshape(7, 24)
    assert np.all(grid == grid[0])  # the prior prefers no day
    assert grid[0].max() - grid[0].min() > 0.2  # …but it is not flat within a day
    best_hour = int(np.argmax(grid[2]))
    assert 10 <= best_hour <= 12
    assert grid[2, 3] < grid[2, 8] < grid[2, best_hour]
    # So the planner does not fall back to "the earliest free slot".
    day = Period(datetime(2026, 11, 25, 7, tzinfo=UTC), datetime(2026, 11, 25, 19, tzinfo=UTC))
    choice = find_optimal_slot(arrays[DEEP], neutral_array(), timedelta(hours=1), [day], UTC)
    assert choice is not None
    assert 10 <= choice.start.hour <= 12
    flat = find_optimal_slot(neutral_array(), neutral_array(), timedelta(hours=1), [day], UTC)
    assert flat is not None
    assert flat.start.hour == 7  # what a flat array does


def test_adjustments_shift_the_prior_and_yield_to_evidence() -> None:
    favour = {DEEP: [Adjustment("tuesday", (10,), 1.5)]}
    plain = posterior_arrays(_empty(), PARAMS)[DEEP]
    adjusted = posterior_arrays(_empty(), PARAMS, adjustments=favour)[DEEP]
    expected_prior = apply_adjustments(population_prior(), favour[DEEP])
    np.testing.assert_allclose(adjusted, expected_prior, atol=1e-12)
    assert adjusted[TUE_10] > plain[TUE_10]
    assert np.flatnonzero(~np.isclose(adjusted, plain)).tolist() == [TUE_10]

    gaps = []
    for n in (0, 1, 5, 25):
        habits = _empty()
        for week in range(n):
            habits[DEEP] = add_outcome(
                habits[DEEP], TUE_10, 0.2, T0 + timedelta(weeks=week, minutes=n), PARAMS
            )
        with_adjustment = posterior_arrays(habits, PARAMS, adjustments=favour)[DEEP]
        without = posterior_arrays(habits, PARAMS)[DEEP]
        gaps.append(with_adjustment[TUE_10] - without[TUE_10])
    assert gaps[0] > gaps[1] > gaps[2] > gaps[3] > 0  # a stated preference yields to behaviour
    assert gaps[3] < gaps[0] / 4


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(TASKS), outcome), max_size=40),
    st.lists(st.tuples(st.integers(0, 167), unit, outcome.map(lambda o: o[2])), max_size=20),
    st.floats(min_value=-100, max_value=100, allow_nan=False),
    unit,
)
def test_arrays_stay_within_the_unit_interval(
    outcomes: list[tuple[str, tuple[int, float, timedelta]]],
    ratings: list[tuple[int, float, timedelta]],
    modifier: float,
    neutral: float,
) -> None:
    habits = _empty()
    for task, (slot, value, offset) in outcomes:
        habits[task] = add_outcome(habits[task], slot, value, T0 + offset, PARAMS)
    adjustment = [Adjustment("all", tuple(range(24)), modifier)]
    arrays = posterior_arrays(
        habits, PARAMS, prior=population_prior(neutral), adjustments={DEEP: adjustment}
    )
    energy = evidence_from([(s, v, T0 + o) for s, v, o in ratings], PARAMS)
    arrays["energy"] = energy_array(energy, PARAMS, neutral=neutral, adjustments=adjustment)
    for array in arrays.values():
        assert array.shape == (168,)
        assert np.all((array >= 0.0) & (array <= 1.0))


# --------------------------------------------------------------------------- the service


def _config(learner: str = "evidence", **learning: Any) -> Config:
    config = embedded_default()
    update = config.learning.model_copy(update={"learner": learner, **learning})
    return config.model_copy(update={"learning": update})


@contextmanager
def _open(path: Path, config: Config | None = None, now: datetime = NOW) -> Iterator[Calsync]:
    with open_calsync(
        config or _config(), store_url=f"sqlite:///{path}", clock=FixedClock(now)
    ) as cs:
        yield cs


def _arrays(cs: Calsync) -> tuple[dict[str, tuple[np.ndarray, int]], tuple[np.ndarray, int]]:
    habits = {}
    for name in TASKS:
        view = cs.habit(name)
        habits[name] = (view.values.copy(), view.count)
    energy = cs.energy()
    return habits, (energy.values.copy(), energy.count)


def _assert_same(a: Any, b: Any) -> None:
    (habits_a, energy_a), (habits_b, energy_b) = a, b
    assert habits_a.keys() == habits_b.keys()
    for name in habits_a:
        np.testing.assert_array_equal(habits_a[name][0], habits_b[name][0], err_msg=name)
        assert habits_a[name][1] == habits_b[name][1], name
    np.testing.assert_array_equal(energy_a[0], energy_b[0])
    assert energy_a[1] == energy_b[1]


#: A small history: (task, start, success, energy_after).
HISTORY = [
    (DEEP, T0, 0.9, 0.8),
    ("Email", T0 + timedelta(days=1, hours=-2), 0.6, None),
    (DEEP, T0 + timedelta(days=2, hours=4), 0.0, 0.3),
    ("Exercise", T0 + timedelta(days=5, hours=-3), 1.0, 0.9),
    (DEEP, T0 + timedelta(weeks=1), 0.8, None),
    (DEEP, T0 + timedelta(days=3), 0.2, 0.4),  # arrives late: older than the one before
]


def _slot(start: datetime) -> int:
    """The weekly slot of a UTC start (calsync's days start on Sunday)."""
    return get_weekly_index((start.weekday() + 1) % 7, start.hour)


def _record(cs: Calsync, history: list[tuple[str, datetime, float, float | None]]) -> None:
    for task, start, success, energy in history:
        assert cs.record_completion(task, start, success, energy).status == "added"


def _expected(
    history: list[tuple[str, datetime, float, float | None]],
    adjustments: dict[str, list[Adjustment]] | None = None,
    energy_adjustments: list[Adjustment] | None = None,
) -> Any:
    """The arrays the pure core computes from a history, independently of the store."""
    streams = _empty()
    ratings = SlotEvidence()
    for task, start, success, energy in history:
        slot = _slot(start)
        streams[task] = add_outcome(streams[task], slot, success, start, PARAMS)
        if energy is not None:
            ratings = add_outcome(ratings, slot, energy, start, PARAMS)
    arrays = posterior_arrays(streams, PARAMS, adjustments=adjustments or {})
    counts = {name: sum(1 for h in history if h[0] == name) for name in TASKS}
    energy_count = sum(1 for h in history if h[3] is not None)
    habits = {name: (arrays[name], counts[name]) for name in TASKS}
    values = energy_array(ratings, PARAMS, adjustments=energy_adjustments or [])
    return habits, (values, energy_count)


def test_nothing_learned_shows_the_prior_and_no_peaks(tmp_path: Path) -> None:
    with _open(tmp_path / "c.db") as cs:
        habit = cs.habit(DEEP)
        assert habit.count == 0
        np.testing.assert_allclose(habit.values, population_prior(), atol=1e-12)
        np.testing.assert_array_equal(cs.energy().values, neutral_array())
        progress = cs.progress()
        assert progress.total_completions == 0
        assert all(t.peak_slots == [] and t.best_day is None for t in progress.tasks)
        day = Period(datetime(2026, 11, 25, 7, tzinfo=UTC), datetime(2026, 11, 25, 19, tzinfo=UTC))
        choice = cs.find_optimal_slot(DEEP, timedelta(hours=1), [day])
        assert choice is not None
        assert 10 <= choice.start.hour <= 12


def test_recording_computes_every_array_as_the_core_says(tmp_path: Path) -> None:
    with _open(tmp_path / "c.db") as cs:
        before = _arrays(cs)
        for n in range(1, len(HISTORY) + 1):
            _record(cs, HISTORY[n - 1 : n])
            _assert_same(_arrays(cs), _expected(HISTORY[:n]))
        after = _arrays(cs)
        # Recording Deep Coding changed the other task types' arrays too (pooling).
        assert not np.array_equal(after[0]["Email"][0], before[0]["Email"][0])
        with cs.store.read() as tx:
            evidence = tx.evidence(USER)
            names = {name: tx.task_type_id(name) for name in TASKS}
            assert tx.count_updates(USER, "completion") == len(HISTORY)
        assert set(evidence) == {*names.values(), None}
        # The stored evidence is the core's, outcome by outcome (the late one faded in).
        deep = [(_slot(s), v, s) for t, s, v, _ in HISTORY if t == DEEP]
        expected = evidence_from(deep, PARAMS)
        np.testing.assert_array_equal(evidence[names[DEEP]].positive, expected.positive)
        np.testing.assert_array_equal(evidence[names[DEEP]].negative, expected.negative)
        assert evidence[names[DEEP]].reference == (T0 + timedelta(weeks=1)).timestamp()


def test_a_skip_lowers_the_slot(tmp_path: Path) -> None:
    with _open(tmp_path / "c.db") as cs:
        prior = cs.habit(DEEP).values.copy()
        cs.record_completion(DEEP, T0, success=0.0)
        skipped = cs.habit(DEEP)
        assert skipped.count == 1
        assert skipped.values[TUE_10] < prior[TUE_10] - 0.2
        assert np.all(skipped.values <= prior + 1e-12)
        cs.record_completion(DEEP, T0 + timedelta(weeks=1), success=1.0)
        assert cs.habit(DEEP).values[TUE_10] > skipped.values[TUE_10]


def test_a_correction_equals_recording_the_corrected_value_from_scratch(tmp_path: Path) -> None:
    corrected = [*HISTORY]
    corrected[2] = (DEEP, corrected[2][1], 0.7, None)  # rating changed, energy removed
    with _open(tmp_path / "fresh.db") as fresh:
        _record(fresh, corrected)
        expected = _arrays(fresh)
    _assert_same(expected, _expected(corrected))

    with _open(tmp_path / "c.db") as cs:
        _record(cs, HISTORY)
        task, start, _success, _energy = HISTORY[2]
        assert cs.record_completion(task, start, 0.7).status == "corrected"
        _assert_same(_arrays(cs), expected)
        assert cs.record_completion(task, start, 0.7).status == "duplicate"
        # A correction that moves a completion to another task type replays both.
        key = cs.record_completion("Email", T0 + timedelta(hours=3), 0.5).key
        assert cs.record_completion("Exercise", T0 + timedelta(hours=3), 0.5, key=key).status == (
            "corrected"
        )
    moved = [*corrected, ("Exercise", T0 + timedelta(hours=3), 0.5, None)]
    with _open(tmp_path / "c.db") as cs:
        _assert_same(_arrays(cs), _expected(moved))


def test_rebuild_equals_the_incremental_arrays(tmp_path: Path) -> None:
    with _open(tmp_path / "c.db") as cs:
        _record(cs, HISTORY)
        cs.apply_adjustments([Adjustment("weekdays", (9, 10), 1.3)], DEEP, key="a1")
        cs.apply_adjustments([Adjustment("friday", (15, 16), 0.6)], None, key="a2")
        incremental = _arrays(cs)
        with cs.store.read() as tx:
            evidence = tx.evidence(USER)
        cs.rebuild()
        _assert_same(_arrays(cs), incremental)
        with cs.store.read() as tx:
            rebuilt = tx.evidence(USER)
        assert rebuilt.keys() == evidence.keys()
        for stream, ev in evidence.items():
            np.testing.assert_array_equal(rebuilt[stream].positive, ev.positive)
            np.testing.assert_array_equal(rebuilt[stream].negative, ev.negative)
            assert rebuilt[stream].reference == ev.reference
    expected = _expected(
        HISTORY,
        {DEEP: [Adjustment("weekdays", (9, 10), 1.3)]},
        [Adjustment("friday", (15, 16), 0.6)],
    )
    _assert_same(incremental, expected)


def _ema_replay(history: list[tuple[str, datetime, float, float | None]]) -> Any:
    """The EMA's arrays of a history, computed with the pure core alone."""
    params = _config("ema").learning.params()
    habits = {name: (neutral_array(), 0) for name in TASKS}
    energy = (neutral_array(), 0)
    for task, start, success, rating in history:
        array, count = habits[task]
        habits[task] = behavioural_update(array, _slot(start), success, count, params)
        if rating is not None:
            energy = behavioural_update(energy[0], _slot(start), rating, energy[1], params)
    return habits, energy


def test_switching_the_learner_rebuilds_the_arrays_on_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.db"
    caplog.set_level(logging.INFO, logger="calsync.service")

    def rebuilt() -> list[str]:
        lines = [r.getMessage() for r in caplog.records if "rebuilt the arrays" in r.getMessage()]
        caplog.clear()
        return lines

    with _open(path, _config("ema")) as cs:  # a fresh store only records the fingerprint
        _record(cs, HISTORY)
        ema = _arrays(cs)
    assert rebuilt() == []
    _assert_same(ema, _ema_replay(HISTORY))

    with _open(path) as cs:  # evidence, the default
        _assert_same(_arrays(cs), _expected(HISTORY))
    assert len(lines := rebuilt()) == 1
    assert "'evidence'" in lines[0]
    assert "1 user(s)" in lines[0]

    with _open(path) as cs:  # the same configuration again: nothing to do
        _assert_same(_arrays(cs), _expected(HISTORY))
    assert rebuilt() == []

    with _open(path, _config("evidence", half_life_days=7.0)) as cs:  # a parameter changed
        changed = _arrays(cs)
    assert len(rebuilt()) == 1
    assert not np.array_equal(changed[0][DEEP][0], _expected(HISTORY)[0][DEEP][0])

    with _open(path, _config("ema")) as cs:  # and back: exactly a pure EMA replay
        _assert_same(_arrays(cs), ema)
        extra = (DEEP, T0 + timedelta(weeks=2), 0.4, 0.6)
        _record(cs, [extra])
        _assert_same(_arrays(cs), _ema_replay([*HISTORY, extra]))
    assert len(rebuilt()) == 1


def test_a_user_added_later_gets_the_fingerprint_without_a_rebuild(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="calsync.service")
    with _open(tmp_path / "c.db") as cs:
        cs.add_user("bob", "Europe/Berlin")
        cs.record_completion(DEEP, T0, 0.9, user="bob")
        with cs.store.read() as tx:
            assert tx.learner_fingerprint("bob") == tx.learner_fingerprint(USER)
            assert tx.learner_fingerprint("bob") == cs.learner.fingerprint()
        assert cs.habit(DEEP).count == 0
    with _open(tmp_path / "c.db") as cs:
        assert cs.habit(DEEP, user="bob").count == 1
    assert not [r for r in caplog.records if "rebuilt" in r.getMessage()]


def test_the_latest_adjustment_of_a_target_replaces_the_earlier_ones(tmp_path: Path) -> None:
    mornings = [Adjustment("tuesday", (9, 10), 1.4, "quiet office")]
    fridays = [Adjustment("friday", (14, 15, 16), 0.6, "tired on Friday afternoons")]
    with _open(tmp_path / "c.db") as cs:
        _record(cs, HISTORY)
        plain = _arrays(cs)

        assert cs.apply_adjustments(mornings, None, key="sync-1")
        once = _arrays(cs)
        _assert_same(once, _expected(HISTORY, energy_adjustments=mornings))
        # The same view again (the next six-hourly sync): no compounding.
        assert cs.apply_adjustments(mornings, None, key="sync-2")
        _assert_same(_arrays(cs), once)
        assert not cs.apply_adjustments(mornings, None, key="sync-2")  # idempotent

        # A new view replaces the old one: the mornings are back to what behaviour says.
        assert cs.apply_adjustments(fridays, None, key="sync-3")
        replaced = _arrays(cs)
        _assert_same(replaced, _expected(HISTORY, energy_adjustments=fridays))
        tue_9 = get_weekly_index(2, 9)
        assert replaced[1][0][tue_9] == plain[1][0][tue_9]
        assert once[1][0][tue_9] > plain[1][0][tue_9]
        for name in TASKS:  # energy adjustments leave the habit arrays alone
            np.testing.assert_array_equal(replaced[0][name][0], plain[0][name][0])

        # Per target: a Deep Coding adjustment does not replace the energy one.
        assert cs.apply_adjustments(mornings, DEEP, key="deep-1")
        both = _arrays(cs)
        _assert_same(both, _expected(HISTORY, {DEEP: mornings}, fridays))
        with cs.store.read() as tx:
            assert tx.count_updates(USER, "adjustment") == 4  # every row is kept in the log

        # Later behaviour still counts, and the adjustments stay in the prior.
        extra = (DEEP, T0 + timedelta(weeks=2), 0.3, 0.2)
        _record(cs, [extra])
        _assert_same(_arrays(cs), _expected([*HISTORY, extra], {DEEP: mornings}, fridays))


def test_an_old_database_is_upgraded_to_0005_and_its_arrays_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from alembic import command

    from calsync.store.engine import _alembic_config, create_store_engine

    # A 0004 database written by the EMA-only calsync, with completions in its log.
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    with _open(tmp_path / "ema.db", _config("ema")) as ema:
        _record(ema, HISTORY)
        ema_arrays = _arrays(ema)
    engine = create_store_engine(url)
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004_llm_sync")
    assert current_revision(engine) == "0004_llm_sync"
    source = Store.open(f"sqlite:///{tmp_path / 'ema.db'}")
    try:
        with source.engine.connect() as src, engine.begin() as dst:
            for table in ("users", "task_types", "habit_arrays", "energy_arrays"):
                rows = [dict(r._mapping) for r in src.exec_driver_sql(f"SELECT * FROM {table}")]  # noqa: S608
                columns = ", ".join(rows[0])
                marks = ", ".join(f":{c}" for c in rows[0])
                for row in rows:
                    dst.exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", row)  # noqa: S608
            for row in src.exec_driver_sql("SELECT * FROM behaviour_updates"):
                values = dict(row._mapping)
                dst.exec_driver_sql(
                    "INSERT INTO behaviour_updates (seq, idempotency_key, user_id, task_type_id, "
                    "kind, occurred_at, slot, success, energy_after, adjustments, revision, "
                    "recorded_at) VALUES (:seq, :idempotency_key, :user_id, :task_type_id, :kind, "
                    ":occurred_at, :slot, :success, :energy_after, :adjustments, :revision, "
                    ":recorded_at)",
                    values,
                )
    finally:
        source.close()
    engine.dispose()

    caplog.set_level(logging.INFO)
    with _open(path) as cs:
        assert current_revision(cs.store.engine) == head_revision()
        _assert_same(_arrays(cs), _expected(HISTORY))
        with cs.store.read() as tx:
            assert tx.learner_fingerprint(USER) == cs.learner.fingerprint()
            assert len(tx.evidence(USER)) == len(TASKS) + 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("migrating database schema from 0004_llm_sync" in m for m in messages)
    assert sum("rebuilt the arrays of 1 user(s)" in m for m in messages) == 1

    with _open(path, _config("ema")) as cs:  # the EMA arrays are the same as before
        _assert_same(_arrays(cs), ema_arrays)
