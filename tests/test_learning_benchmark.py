"""The learning benchmark (benchmarks/learning): deterministic, bounded, on the daemon's planner."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.learning import run, simulate
from benchmarks.learning.metrics import (
    BLOCK_METRICS,
    METRICS,
    RANKING_METRICS,
    aggregate,
    learning_curve,
    mean_ci,
    paired_difference,
    ranking_metrics,
    recovery,
)
from calsync import planning
from calsync.insights.interpret import RulesInterpreter
from calsync.insights.sync import energy_profile
from calsync.learning import schedule
from calsync.learning.habits import behavioural_update, neutral_array
from calsync.learning.windows import allowed_periods

TASKS = [t["name"] for t in simulate.EXAMPLE_TASK_TYPES]


@pytest.fixture(scope="module")
def quick() -> dict:
    return run.run_benchmark(
        run.QUICK_USERS, run.QUICK_WEEKS, 0, list(simulate.LEARNER_NAMES), jobs=1
    )


# --------------------------------------------------------------------------- determinism


def test_quick_mode_same_seed_gives_identical_json(tmp_path: Path, quick: dict) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert run.main(["--quick", "--families", "shared", "--jobs", "1", "--json", str(first)]) == 0
    assert run.main(["--quick", "--families", "shared", "--jobs", "2", "--json", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    report = json.loads(first.read_text())
    assert report["held_out"] == simulate.HELD_OUT
    assert report["families"]["shared"] == json.loads(json.dumps(quick))


def test_every_family_is_deterministic_whatever_the_jobs(tmp_path: Path) -> None:
    args = ["--users", "2", "--weeks", "2", "--learners", "adaptive,seed_ema,oracle"]
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert run.main([*args, "--jobs", "1", "--json", str(first)]) == 0
    assert run.main([*args, "--jobs", "2", "--json", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    report = json.loads(first.read_text())
    assert report["settings"]["families"] == list(simulate.FAMILIES)
    assert set(report["families"]) == set(simulate.FAMILIES)
    assert simulate.HELD_OUT in simulate.FAMILIES
    for part in report["families"].values():
        assert set(part["targets"]) == {"adaptive"}
        assert part["above_oracle"]["adaptive"]["week 1"]["n"] == 2


def test_families_draw_different_users_and_the_shared_family_is_the_original() -> None:
    regimes = {
        family: simulate.make_user(0, 3, TASKS, 4, family).regimes[0].propensity["Email"]
        for family in simulate.FAMILIES
        if not simulate.FAMILIES[family].sparse
    }
    values = list(regimes.values())
    assert all(not np.allclose(values[0], other) for other in values[1:])
    default, shared = (
        simulate.make_user(0, 3, TASKS, 4),
        simulate.make_user(0, 3, TASKS, 4, "shared"),
    )
    assert (default.timezone, default.shift_week) == (shared.timezone, shared.shift_week)
    for name in TASKS:
        np.testing.assert_array_equal(
            default.regimes[0].propensity[name], shared.regimes[0].propensity[name]
        )


def test_sparse_users_have_six_to_eight_task_types_of_one_or_two_sessions() -> None:
    for index in range(6):
        tasks = simulate.family_task_types(0, index, "sparse")
        assert 6 <= len(tasks) <= 8
        assert all(t["weekly_target"]["sessions"] in (1, 2) for t in tasks)
        assert simulate.user_config(simulate.make_user(0, index, [], 2), tasks).task_types


def test_logged_users_history_and_own_sessions_reach_the_learner_once_ended() -> None:
    seen: list[tuple[str, object, object]] = []

    class Spy(simulate.EvidenceLearner):
        def __init__(self, config: Any, clock: Any) -> None:
            super().__init__(config)
            self.clock = clock

        def update(self, task: str, slot: int, success: float, kind: str, **kw: Any) -> None:
            seen.append((kind, kw["start"], self.clock.now()))
            super().update(task, slot, success, kind, **kw)

    simulate.LEARNERS["own_spy"] = lambda user, config, clock: Spy(config, clock)
    try:
        simulate.run_user(0, 2, 2, ["own_spy"], family="logged")
    finally:
        del simulate.LEARNERS["own_spy"]
    own = [(start, now) for kind, start, now in seen if kind == "own"]
    first_sync = simulate.make_user(0, 2, TASKS, 2, "logged").week_start(0)
    history = [start for start, now in own if now == first_sync]
    assert history, "the first sync reads the user's past sessions"
    assert all(first_sync - timedelta(days=simulate.DAYS_BACK) <= s < first_sync for s in history)
    assert any(start >= first_sync for start, _ in own), "and the ones logged while it runs"
    assert all(start < now for start, now in own)


def test_another_seed_gives_other_users() -> None:
    one = run.run_benchmark(2, 2, 0, ["random"])
    other = run.run_benchmark(2, 2, 1, ["random"])
    assert one["results"] != other["results"]


def test_a_user_does_not_depend_on_the_population_size() -> None:
    small = run.run_benchmark(2, 3, 5, ["seed_ema"])["users"]
    large = run.run_benchmark(4, 3, 5, ["seed_ema"])["users"]
    assert large[:2] == small


# --------------------------------------------------------------------------- bounds and ranges


def test_oracle_beats_random_on_regret_and_hit_at_1(quick: dict) -> None:
    oracle, random = quick["results"]["oracle"], quick["results"]["random"]
    assert set(oracle) >= {"week 1", "weeks 2-4", "month 2+"}
    for period in oracle:
        assert oracle[period]["regret"]["mean"] < random[period]["regret"]["mean"]
        assert oracle[period]["hit@1"]["mean"] > random[period]["hit@1"]["mean"]
        assert oracle[period]["hit@1"]["mean"] == 1.0  # it ranks by the truth itself


def test_item_metrics_are_in_range() -> None:
    record = simulate.run_user(0, 1, 4, list(simulate.LEARNER_NAMES))
    for name, items in record["learners"].items():
        assert items["blocks"], name
        assert items["rankings"], name
        for block in items["blocks"]:
            assert block["regret"] >= 0.0
            assert block["regret"] <= 1.0
            for metric in BLOCK_METRICS[1:]:
                assert block[metric] in (0.0, 1.0)
            assert block["acceptance"] <= block["completed"]
        for ranking in items["rankings"]:
            for metric in RANKING_METRICS:
                assert 0.0 <= ranking[metric] <= 1.0 + 1e-12
            assert ranking["recall@3"] >= ranking["hit@1"]


def test_aggregates_are_in_range_with_ordered_intervals(quick: dict) -> None:
    for periods in quick["results"].values():
        for row in periods.values():
            assert set(row) == set(METRICS)
            for metric, stat in row.items():
                assert stat["n"] >= 1
                assert 0.0 <= stat["mean"] <= 1.0, metric
                if stat["low"] is not None:
                    assert stat["low"] <= stat["mean"] <= stat["high"]


# --------------------------------------------------------------------------- the daemon's planner


def test_the_planner_is_the_daemons() -> None:
    assert simulate.plan_blocks is schedule.plan_blocks
    assert simulate.plan_params is planning.plan_params
    assert simulate.task_specs is planning.task_specs


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_blocks_never_overlap_meetings_and_stay_in_windows(index: int) -> None:
    user = simulate.make_user(0, index, TASKS, 3)
    config = simulate.user_config(user)
    params = planning.plan_params(config)
    windows = {t.name: [w.window() for w in t.windows] for t in config.task_types}
    rng = np.random.default_rng(index)
    for week in range(3):
        context = simulate.week_context(user, config, params, week)
        habits = {name: rng.random(168) for name in TASKS}
        specs = simulate.task_specs(config, habits, params)
        plan = simulate.plan_week(specs, rng.random(168), context, user.tz, params)
        assert plan
        for block in plan:
            for meeting in context.events:
                # busy time carries the buffer: a block keeps it from every meeting
                assert block.end + params.buffer <= meeting.start or (
                    meeting.end + params.buffer <= block.start
                ), (block, meeting)
            allowed = allowed_periods(windows[block.task_type], block.start, block.end, user.tz)
            assert len(allowed) == 1
            assert allowed[0].start == block.start
            assert allowed[0].end == block.end
            assert context.now + params.lead <= block.start < context.now + timedelta(days=7)


# --------------------------------------------------------------------------- learners


def test_seed_ema_is_calsyncs_own_store_update() -> None:
    learners = ["seed_ema", "seed_ema_store", "ema_skips", "ema_skips_store"]
    report = run.run_benchmark(2, 3, 7, learners)
    results = report["results"]
    assert results["seed_ema"] == results["seed_ema_store"]
    assert results["ema_skips"] == results["ema_skips_store"]


def test_evidence_learners_are_calsyncs_own_store_path() -> None:
    learners = ["evidence", "evidence_store", "evidence_insights", "evidence_insights_store"]
    results = run.run_benchmark(3, 4, 7, learners)["results"]
    assert results["evidence"] == results["evidence_store"]
    assert results["evidence_insights"] == results["evidence_insights_store"]
    assert results["evidence"] != results["evidence_insights"]


def test_evidence_arrays_equal_the_stores_arrays() -> None:
    user = simulate.make_user(0, 4, TASKS, 2)
    config = simulate.user_config(user)
    clock = simulate.FixedClock(user.week_start(1))
    memory = simulate.EvidenceLearner(config)
    store = simulate.StoreLearner(config, clock, "evidence", learn_skips=True)
    try:
        start = user.week_start(0) + timedelta(days=1, hours=9)
        for n, (task, success, kind, energy) in enumerate(
            [
                ("Email", 0.0, "skip", None),
                ("Deep Coding", 0.75, "completion", 0.6),
                ("Exercise", 0.9, "completion", None),
            ]
        ):
            moment = start + timedelta(hours=3 * n)
            slot = simulate.slot_of(moment, user.tz)
            for learner in (memory, store):
                learner.update(
                    task, slot, success, kind, energy_after=energy, start=moment, key=f"k{n}"
                )
        memory.adjust(simulate.RulesInterpreter().read("I crash on Friday afternoons"))
        store.adjust(simulate.RulesInterpreter().read("I crash on Friday afternoons"))
        habits, energy = memory.arrays()
        stored_habits, stored_energy = store.arrays()
        for name in TASKS:
            assert np.array_equal(habits[name], stored_habits[name]), name
        assert np.array_equal(energy, stored_energy)
    finally:
        store.close()


def test_seed_ema_learns_completions_only() -> None:
    user = simulate.make_user(0, 0, TASKS, 2)
    config = simulate.user_config(user)
    seed, skips = simulate.SeedEMA(config), simulate.SeedEMA(config, learn_skips=True)
    for learner in (seed, skips):
        learner.update("Email", 33, 0.0, "skip")
        learner.update("Email", 34, 0.9, "completion", energy_after=0.2)
    expected, _ = behavioural_update(neutral_array(), 34, 0.9, 0)
    habits, energy = seed.arrays()
    assert np.array_equal(habits["Email"], expected)
    assert energy[34] == pytest.approx(0.5 * 0.8 + 0.2 * 0.2)
    assert np.array_equal(habits["Exercise"], neutral_array())
    learned, _ = skips.arrays()
    assert learned["Email"][33] == pytest.approx(0.4)


def test_oracle_follows_the_regime_shift() -> None:
    shifted = next(
        u
        for u in (simulate.make_user(0, i, TASKS, 10) for i in range(30))
        if u.shift_week is not None
    )
    clock = simulate.FixedClock(shifted.week_start(0))
    oracle = simulate.OracleLearner(shifted, clock)
    before, _ = oracle.arrays()
    clock.set(shifted.week_start(shifted.shift_week))
    after, energy = oracle.arrays()
    for name in TASKS:
        assert np.array_equal(before[name], shifted.regimes[0].propensity[name])
        assert np.array_equal(after[name], shifted.regimes[1].propensity[name])
    assert np.array_equal(energy, neutral_array())
    assert shifted.regimes[0].chronotype != shifted.regimes[1].chronotype


def test_oracles_plan_on_mondays_whatever_the_protocol() -> None:
    """A daily plan would place next week's blocks with this week's truth."""
    for index in range(2):
        daily = simulate.run_user(0, index, 3, ["oracle", "noisy_oracle"], replan="daily")
        weekly = simulate.run_user(0, index, 3, ["oracle", "noisy_oracle"], replan="weekly")
        assert daily == weekly
    learners = simulate.run_user(0, 0, 3, ["evidence"], replan="daily")["learners"]
    assert learners != simulate.run_user(0, 0, 3, ["evidence"], replan="weekly")["learners"]


def test_random_arrays_change_weekly_not_with_every_plan() -> None:
    user = simulate.make_user(0, 4, TASKS, 3)
    clock = simulate.FixedClock(user.week_start(1))
    random = simulate.LEARNERS["random"](user, simulate.user_config(user), clock)
    monday, _ = random.arrays()
    clock.set(user.week_start(1) + timedelta(days=2))
    wednesday, _ = random.arrays()
    clock.set(user.week_start(2))
    later, _ = random.arrays()
    assert all(np.array_equal(monday[n], wednesday[n]) for n in TASKS)
    assert not np.array_equal(monday["Email"], later["Email"])


def test_noisy_oracle_is_the_truth_moved_by_seeded_logit_noise() -> None:
    user = simulate.make_user(0, 3, TASKS, 4)
    clock = simulate.FixedClock(user.week_start(1))
    exact = simulate.NoisyOracleLearner(user, clock, sigma=0.0).arrays()[0]
    first, energy = simulate.NoisyOracleLearner(user, clock).arrays()
    again, _ = simulate.NoisyOracleLearner(user, clock).arrays()
    truth = user.regime(1).propensity
    for name in TASKS:
        assert np.allclose(exact[name], truth[name])
        assert np.array_equal(first[name], again[name])  # seeded by user and week
        logit = np.log(first[name] / (1 - first[name])) - np.log(truth[name] / (1 - truth[name]))
        assert 0.85 < float(logit.std()) < 1.15  # sigma = 1 on the logit scale
    assert np.array_equal(energy, neutral_array())
    clock.set(user.week_start(2))
    later, _ = simulate.NoisyOracleLearner(user, clock).arrays()
    assert not np.array_equal(later["Email"], first["Email"])  # fresh noise every week


def test_full_information_learner_is_told_every_daytime_hour_of_last_week() -> None:
    user = simulate.make_user(0, 1, TASKS, 4)
    config = simulate.user_config(user)
    clock = simulate.FixedClock(user.week_start(0))
    told = simulate.FullInformationLearner(user, config, clock)
    plain = simulate.EvidenceLearner(config)
    assert told.arrays()[0].keys() == plain.arrays()[0].keys()
    assert all(told.habits[name].total == 0 for name in TASKS)  # nothing to tell in week 1
    clock.set(user.week_start(1))
    told.arrays()
    told.arrays()  # asking twice in a week tells nothing new
    for name in TASKS:
        evidence = told.habits[name]
        assert np.count_nonzero(evidence.positive + evidence.negative) == 7 * 14
        assert 7 * 14 * 0.5 ** (7 / 14) < evidence.total < 7 * 14  # faded to the newest
        hours = np.flatnonzero(evidence.positive + evidence.negative) % 24
        assert set(hours.tolist()) == set(range(7, 21))
        truth = user.regime(0).propensity[name]
        daytime = (np.arange(168) % 24 >= 7) & (np.arange(168) % 24 <= 20)
        # Successes land where completion is likely: compare with the truth's mean.
        successes = evidence.positive[daytime] > 0
        assert truth[daytime][successes].mean() > truth[daytime][~successes].mean()


def test_report_has_every_learner_above_the_oracle(quick: dict) -> None:
    above = quick["above_oracle"]
    assert set(above) == set(simulate.LEARNER_NAMES) - {"oracle"}
    for name, periods in above.items():
        for period, stat in periods.items():
            regret = quick["results"][name][period]["regret"]["mean"]
            oracle = quick["results"]["oracle"][period]["regret"]["mean"]
            assert stat["mean"] == pytest.approx(regret - oracle, abs=1e-5)
    assert all(s["mean"] > 0 for s in above["random"].values())
    assert "Regret above the oracle's" in run.format_table(quick)


def test_outcomes_are_learned_only_once_observable() -> None:
    """No evidence reaches a learner before its block could have been seen."""
    seen: list[tuple[object, object, str]] = []

    class Spy(simulate.SeedEMA):
        def update(self, task, slot, success, kind, **kw):  # type: ignore[no-untyped-def]
            seen.append((self.clock.now(), kw["start"], kind))
            super().update(task, slot, success, kind, **kw)

    def factory(user, config, clock):  # type: ignore[no-untyped-def]
        spy = Spy(config)
        spy.clock = clock
        return spy

    simulate.LEARNERS["spy"] = factory
    try:
        simulate.run_user(0, 3, 3, ["spy"])
    finally:
        del simulate.LEARNERS["spy"]
    assert seen
    for now, start, kind in seen:
        if kind == "skip":
            assert now < start  # a deletion is seen before the block starts
        else:
            assert now > start  # a completion once the block has ended
    assert {kind for _, _, kind in seen} == {"skip", "completion"}


# --------------------------------------------------------------------------- metric definitions


def test_ranking_metrics_by_hand() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.3])
    truth = np.array([0.2, 0.4, 1.0, 0.6])
    got = ranking_metrics(scores, truth, ndcg_k=2)
    # learner order: 1, 2, 3, 0 — the best (index 2) is second
    assert got["hit@1"] == 0.0
    assert got["recall@3"] == 1.0
    gains = (truth - 0.2) / 0.8  # 0, .25, 1, .5
    dcg = gains[1] + gains[2] / math.log2(3)
    ideal = gains[2] + gains[3] / math.log2(3)
    assert got["ndcg@2"] == pytest.approx(dcg / ideal)


def test_ranking_ties_go_to_the_earliest_slot_like_the_planner() -> None:
    flat = np.full(4, 0.5)
    assert ranking_metrics(flat, np.array([0.9, 0.1, 0.2, 0.3]))["hit@1"] == 1.0
    assert ranking_metrics(flat, np.array([0.1, 0.9, 0.2, 0.3]))["hit@1"] == 0.0


def test_mean_ci_and_aggregate() -> None:
    stat = mean_ci([0.0, 1.0, 0.5, 0.5])
    half = 1.96 * float(np.std([0.0, 1.0, 0.5, 0.5], ddof=1)) / 2
    assert stat["mean"] == 0.5
    assert stat["high"] - stat["mean"] == pytest.approx(half, abs=1e-6)
    assert mean_ci([0.3]) == {"mean": 0.3, "low": None, "high": None, "n": 1}
    users = [
        {
            "shift_week": None,
            "blocks": [
                {"week": 0, "regret": 0.2, "acceptance": 1.0, "completed": 1.0},
                {"week": 0, "regret": 0.4, "acceptance": 0.0, "completed": 0.0},
                {"week": 5, "regret": 0.1, "acceptance": 1.0, "completed": 1.0},
            ],
            "rankings": [{"week": 0, "hit@1": 1.0, "recall@3": 1.0, "ndcg@5": 1.0}],
        },
        {
            "shift_week": None,
            "blocks": [{"week": 0, "regret": 0.0, "acceptance": 1.0, "completed": 1.0}],
            "rankings": [],
        },
    ]
    result = aggregate(users)
    # users are weighted equally: (mean(0.2, 0.4) + 0.0) / 2
    assert result["week 1"]["regret"]["mean"] == pytest.approx(0.15)
    assert result["week 1"]["hit@1"]["n"] == 1
    assert "weeks 2-4" not in result
    assert result["month 2+"]["regret"]["mean"] == pytest.approx(0.1)


# --------------------------------------------------------------------- the hybrid and recovery


@pytest.mark.parametrize("index", range(12))
def test_stated_truths_are_true_and_read_by_the_rules_interpreter(index: int) -> None:
    from calsync.insights.interpret import PARTS_OF_DAY, RulesInterpreter

    user = simulate.make_user(0, index, TASKS, 12)
    said = simulate.stated_truths(user)
    assert 1 <= len(said) <= 3
    assert said == simulate.stated_truths(user)  # seeded
    grid = np.mean(list(user.regimes[0].propensity.values()), axis=0).reshape(7, 24)

    def part(days: list[int], name: str) -> float:
        return float(grid[np.ix_(days, list(PARTS_OF_DAY[name]))].mean())

    reader = RulesInterpreter()
    for statement in said:
        adjustments = reader.read(statement)
        assert adjustments, statement
        if statement.startswith("I do my best work in the "):
            best = statement.removeprefix("I do my best work in the ").removesuffix("s")
            others = [p for p in simulate.SPOKEN_PARTS if p != best]
            assert all(part([1, 2, 3, 4, 5], best) >= part([1, 2, 3, 4, 5], o) for o in others)
            assert adjustments[0].modifier > 1
        elif statement.startswith("I crash on "):
            assert adjustments[0].modifier < 1
            day = simulate.DAY_NAMES.index(statement.split()[3])
            name = statement.split()[4].removesuffix("s")
            low = part([day], name)
            assert all(low <= part([d], p) for d in range(1, 6) for p in simulate.SPOKEN_PARTS)
        else:
            assert statement.endswith("are my sweet spot")
            assert adjustments[0].modifier > 1


def test_insight_sync_runs_before_the_first_plan_and_then_only_after_new_outcomes() -> None:
    calls: list[tuple[object, int]] = []

    class Spy(simulate.EvidenceLearner):
        updates = 0

        def update(self, *args, **kw):  # type: ignore[no-untyped-def]
            self.updates += 1
            super().update(*args, **kw)

        def adjust(self, adjustments):  # type: ignore[no-untyped-def]
            calls.append((self.clock.now(), self.updates))
            super().adjust(adjustments)

    def factory(user, config, clock):  # type: ignore[no-untyped-def]
        spy = Spy(config)
        spy.clock = clock
        return spy

    simulate.LEARNERS["evidence_insights_spy"] = factory
    simulate.WITH_INSIGHTS = simulate.WITH_INSIGHTS | {"evidence_insights_spy"}
    try:
        user = simulate.make_user(0, 2, TASKS, 3)
        simulate.run_user(0, 2, 3, ["evidence_insights_spy"])
    finally:
        del simulate.LEARNERS["evidence_insights_spy"]
        simulate.WITH_INSIGHTS = simulate.WITH_INSIGHTS - {"evidence_insights_spy"}
    assert calls[0] == (user.week_start(0), 0)
    assert [n for _, n in calls] == sorted(set(n for _, n in calls))  # new outcomes each time
    assert all(now.astimezone(user.tz).hour == 0 for now, _ in calls)  # before a plan
    assert 2 <= len(calls) <= 7 * 3  # at most before every daily plan


def test_insights_change_the_first_plan_and_nothing_without_them() -> None:
    plain = simulate.run_user(0, 1, 1, ["evidence", "evidence_insights"])["learners"]
    with_rank = plain["evidence_insights"]["rankings"]
    assert plain["evidence"]["rankings"] != with_rank


def test_paired_difference_and_recovery_by_hand() -> None:
    def user(shift: int | None, regrets: dict[int, float]) -> dict:
        return {
            "shift_week": shift,
            "blocks": [
                {"week": w, "regret": r, "acceptance": 0.0, "completed": 0.0}
                for w, r in regrets.items()
            ],
            "rankings": [],
        }

    a = [user(None, {0: 0.4, 5: 0.2}), user(4, {1: 0.3, 2: 0.3, 3: 0.3, 4: 0.6, 7: 0.25})]
    b = [user(None, {0: 0.5, 5: 0.3}), user(4, {1: 0.3, 2: 0.3, 3: 0.3, 4: 0.5, 7: 0.35})]
    diff = paired_difference(a, b)
    assert diff["week 1"]["mean"] == pytest.approx(-0.1)
    assert diff["month 2+"]["mean"] == pytest.approx((-0.1 + 0.0) / 2)  # 0.425 vs 0.425
    rec = recovery(a)
    assert rec["pre"]["mean"] == pytest.approx(0.3)
    by_k = {w["k"]: w for w in rec["weeks"]}
    assert by_k[0]["minus_pre"]["mean"] == pytest.approx(0.3)
    assert by_k[3]["regret"]["mean"] == pytest.approx(0.25)
    assert by_k[3]["minus_pre"]["mean"] == pytest.approx(-0.05)
    assert set(by_k) == {0, 3}
    with pytest.raises(ValueError, match="same users"):
        paired_difference(a, b[:1])
    curve = {row["week"]: row for row in learning_curve(a)}
    assert [(w, row["n"]) for w, row in curve.items()] == [(0, 1), (1, 1), (2, 1), (3, 1), (5, 1)]
    assert curve[0]["mean"] == pytest.approx(0.4)
    assert curve[1]["mean"] == pytest.approx(0.3)  # the shifted user before the shift
    assert curve[5]["mean"] == pytest.approx(0.2)
    # Weeks 4 and 7 are the shifted user's second routine only: not on the curve.


def test_target_figures_by_hand() -> None:
    def user(regret: float) -> dict:
        return {
            "blocks": [
                {"week": w, "regret": regret, "acceptance": 1.0, "completed": 1.0} for w in (0, 5)
            ],
            "rankings": [],
            "shift_week": None,
        }

    learner = [user(0.3), user(0.2)]
    seed = [user(0.5), user(0.4)]
    oracle = [user(0.1), user(0.1)]
    figures = run.target_figures(learner, seed, oracle)
    # Above the oracle: learner 0.2 and 0.1, seed 0.4 and 0.3.
    assert figures["month 2+"]["ratio"] == pytest.approx(0.3 / 0.7, abs=1e-6)
    assert figures["month 2+"]["excess"]["mean"] == pytest.approx(0.15 - 0.5 * 0.35)
    assert figures["week 1"]["excess"]["mean"] == pytest.approx(0.15 - 0.7 * 0.35)
    assert figures["week 1"]["factor"] == 0.7


def test_a_saved_report_prints_the_tables_the_run_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "r.json"
    args = [
        "--users",
        "2",
        "--weeks",
        "2",
        "--learners",
        "adaptive,adaptive_insights,seed_ema,oracle",
    ]
    assert run.main([*args, "--families", "shared,weak", "--jobs", "1", "--json", str(saved)]) == 0
    printed = capsys.readouterr().out
    assert run.main(["--report", str(saved)]) == 0
    assert capsys.readouterr().out == printed
    assert run.main(["--report", str(saved), "--readme"]) == 0
    compact = capsys.readouterr().out
    assert "| weak | week 1 |" in compact
    assert "calsync + your notes" in compact


def test_adaptive_learner_drops_notes_written_before_a_detected_change() -> None:
    user = simulate.make_user(0, 1, TASKS, 2)
    config = simulate.user_config(user)
    learner = simulate.AdaptiveLearner(config)
    profile = energy_profile(neutral_array(), 0)
    notes = RulesInterpreter().interpret(["I crash on Friday afternoons"], profile).adjustments
    learner.adjust(notes)
    with_notes = learner.arrays()[1]
    assert not np.allclose(with_notes, 0.5)
    learner.state = dataclasses.replace(learner.state, changes=1)
    learner.adjust(notes)  # the same notes again: still written before the change
    assert np.allclose(learner.arrays()[1], 0.5)
    morning = ["I do my best work in the mornings"]
    fresh = RulesInterpreter().interpret(morning, profile).adjustments
    learner.adjust(fresh)  # new notes count again
    assert not np.allclose(learner.arrays()[1], 0.5)
