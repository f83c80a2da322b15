"""The adaptive learner's pure core (calsync.learning.adaptive): memories, change, borrowing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from calsync.config import embedded_default, parse_config
from calsync.errors import InputError
from calsync.learning.adaptive import (
    AdaptiveParams,
    AdaptiveState,
    TwoMemories,
    adaptive_arrays,
    add,
    agreement,
    observe,
)
from calsync.learning.slots import get_weekly_index

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a Monday
PARAMS = AdaptiveParams()
TUE_9 = get_weekly_index(2, 9)
TUE_16 = get_weekly_index(2, 16)
THU_9 = get_weekly_index(4, 9)
THU_16 = get_weekly_index(4, 16)


def routine(
    state: AdaptiveState,
    task: str,
    good: tuple[int, ...],
    bad: tuple[int, ...],
    weeks: range,
    params: AdaptiveParams = PARAMS,
) -> AdaptiveState:
    """Every week of ``weeks``: a success in each ``good`` slot, a failure in each ``bad`` one."""
    for week in weeks:
        for slot in (*good, *bad):
            at = T0 + timedelta(weeks=week, hours=slot - get_weekly_index(1, 9))
            state = observe(state, task, slot, 1.0 if slot in good else 0.0, at, params)
    return state


def test_an_outcome_goes_into_both_memories_and_the_input_is_unchanged() -> None:
    state = AdaptiveState()
    after = observe(state, "a", TUE_9, 0.75, T0)
    assert state.streams == {}
    memories = after.streams["a"]
    for memory in (memories.long, memories.short):
        assert memory.positive[TUE_9] == pytest.approx(0.75)
        assert memory.negative[TUE_9] == pytest.approx(0.25)
    later = add(memories, TUE_9, 1.0, T0 + timedelta(days=7))
    # A week later the recent memory has faded more than the long one.
    assert later.short.positive[TUE_9] < later.long.positive[TUE_9]


def test_the_state_is_a_deterministic_function_of_the_outcomes() -> None:
    one = routine(AdaptiveState(), "a", (TUE_9,), (TUE_16,), range(4))
    two = routine(AdaptiveState(), "a", (TUE_9,), (TUE_16,), range(4))
    assert one.change == two.change
    assert one.gains == two.gains
    np.testing.assert_array_equal(one.streams["a"].long.positive, two.streams["a"].long.positive)


def test_a_steady_routine_is_never_taken_for_a_change() -> None:
    state = routine(AdaptiveState(), "a", (TUE_9, THU_9), (TUE_16, THU_16), range(16))
    assert state.changes == 0
    arrays = adaptive_arrays(state, ["a"])
    assert arrays["a"][TUE_9] > 0.8 > 0.2 > arrays["a"][TUE_16]


def test_a_change_of_routine_is_detected_and_followed_within_two_weeks() -> None:
    before = routine(AdaptiveState(), "a", (TUE_9, THU_9), (TUE_16, THU_16), range(10))
    after = routine(before, "a", (TUE_16, THU_16), (TUE_9, THU_9), range(10, 12))
    assert after.changes >= 1
    arrays = adaptive_arrays(after, ["a"])
    assert arrays["a"][TUE_16] > arrays["a"][TUE_9]
    # Without change detection (an unreachable threshold) ten weeks outweigh two.
    blind = dataclasses.replace(PARAMS, change_threshold=1e9)
    slow = routine(AdaptiveState(), "a", (TUE_9, THU_9), (TUE_16, THU_16), range(10), blind)
    slow = routine(slow, "a", (TUE_16, THU_16), (TUE_9, THU_9), range(10, 12), blind)
    assert slow.changes == 0
    assert (
        adaptive_arrays(slow, ["a"], blind)["a"][TUE_9]
        > adaptive_arrays(slow, ["a"], blind)["a"][TUE_16]
    )


def test_task_types_that_agree_borrow_more_than_opposed_ones() -> None:
    agreeing = AdaptiveState()
    opposed = AdaptiveState()
    for week in range(8):
        weeks = range(week, week + 1)
        agreeing = routine(agreeing, "a", (TUE_9, THU_9), (TUE_16, THU_16), weeks)
        agreeing = routine(agreeing, "b", (TUE_9, THU_9), (TUE_16, THU_16), weeks)
        opposed = routine(opposed, "a", (TUE_9, THU_9), (TUE_16, THU_16), weeks)
        opposed = routine(opposed, "b", (TUE_16, THU_16), (TUE_9, THU_9), weeks)
    assert agreement(agreeing, "a", "b", PARAMS) > PARAMS.agreement_prior
    assert agreement(opposed, "a", "b", PARAMS) < PARAMS.agreement_prior


def test_borrowing_fades_as_a_task_types_own_evidence_grows() -> None:
    # "b" is known well at Tuesday 09:00 (all failures); "a" has a little, then a lot.
    base = routine(AdaptiveState(), "b", (), (TUE_9,), range(8))
    little = routine(base, "a", (TUE_9,), (), range(1))
    lots = routine(base, "a", (TUE_9,), (), range(8))
    alone_little = adaptive_arrays(routine(AdaptiveState(), "a", (TUE_9,), (), range(1)), ["a"])
    alone_lots = adaptive_arrays(routine(AdaptiveState(), "a", (TUE_9,), (), range(8)), ["a"])
    pull_little = alone_little["a"][TUE_9] - adaptive_arrays(little, ["a", "b"])["a"][TUE_9]
    pull_lots = alone_lots["a"][TUE_9] - adaptive_arrays(lots, ["a", "b"])["a"][TUE_9]
    assert pull_little > 0
    assert 0 <= pull_lots < pull_little / 2


def test_arrays_without_evidence_are_the_prior_and_stay_in_range() -> None:
    arrays = adaptive_arrays(AdaptiveState(), ["a", "b"])
    np.testing.assert_allclose(arrays["a"], arrays["b"])
    state = routine(AdaptiveState(), "a", (TUE_9,), (TUE_16,), range(3))
    for values in adaptive_arrays(state, ["a", "b"]).values():
        assert values.shape == (168,)
        assert np.all((values >= 0) & (values <= 1))


def test_bad_input_and_parameters_are_refused() -> None:
    with pytest.raises(InputError):
        observe(AdaptiveState(), "a", 168, 0.5, T0)
    with pytest.raises(InputError):
        observe(AdaptiveState(), "a", 0, 1.5, T0)
    with pytest.raises(InputError):
        observe(AdaptiveState(), "a", 0, 0.5, T0.replace(tzinfo=None))
    with pytest.raises(InputError):
        AdaptiveParams(short_half_life_days=90.0, long_half_life_days=30.0)
    with pytest.raises(InputError):
        AdaptiveParams(agreement_prior=1.5)


def test_the_configuration_states_the_cores_defaults_once() -> None:
    assert embedded_default().learning.adaptive_params() == AdaptiveParams()
    task = {"name": "t", "keywords": ["t"]}
    learning = parse_config(
        {"task_types": [task], "learning": {"adaptive_pool_strength": 5}}
    ).learning
    assert learning.adaptive_params().pool_strength == 5.0
    assert TwoMemories().long.total == 0.0
