"""Behavioural updates and the LLM adjustment merge, exactly as specified."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.errors import AdjustmentError, InputError
from calsync.learning.habits import (
    Adjustment,
    LearningParams,
    MergeParams,
    apply_adjustments,
    behavioural_update,
    learning_rate,
    neutral_array,
)
from calsync.learning.slots import get_weekly_index


def test_arrays_start_neutral() -> None:
    array = neutral_array()
    assert array.shape == (168,)
    assert np.all(array == 0.5)


def test_worked_example_point_six_becomes_point_six_six() -> None:
    array = neutral_array()
    array[33] = 0.6
    updated, count = behavioural_update(array, 33, 0.9, 0)
    assert updated[33] == pytest.approx(0.66)
    assert count == 1
    assert array[33] == 0.6  # the input is not modified
    others = np.delete(updated, 33)
    assert np.all(others == 0.5)


@pytest.mark.parametrize(("count", "rate"), [(0, 0.2), (1, 0.2 / 1.05), (20, 0.1), (100, 0.2 / 6)])
def test_learning_rate_decays_with_completions(count: int, rate: float) -> None:
    assert learning_rate(count) == pytest.approx(rate)


def test_update_uses_the_rate_of_the_current_count() -> None:
    updated, count = behavioural_update(neutral_array(), 58, 1.0, 20)
    # lr = 0.2 / (1 + 20 * 0.05) = 0.1 → 0.5 * 0.9 + 1.0 * 0.1
    assert updated[58] == pytest.approx(0.55)
    assert count == 21


def test_custom_parameters() -> None:
    params = LearningParams(base_rate=0.5, rate_decay=0.0)
    updated, _ = behavioural_update(neutral_array(), 0, 1.0, 99, params)
    assert updated[0] == pytest.approx(0.75)


@pytest.mark.parametrize("success", [-0.1, 1.1, float("nan")])
def test_success_outside_unit_interval_is_rejected(success: float) -> None:
    with pytest.raises(InputError):
        behavioural_update(neutral_array(), 0, success, 0)


def test_bad_slot_is_rejected() -> None:
    with pytest.raises(InputError):
        behavioural_update(neutral_array(), 168, 0.5, 0)


def test_merge_formula_on_every_covered_slot() -> None:
    array = neutral_array()
    array[get_weekly_index(2, 9)] = 0.8
    adjusted = apply_adjustments(
        array, [{"day_pattern": "tuesday", "hour_range": [9, 10], "modifier": 1.2, "reason": "x"}]
    )
    # value * 0.7 + value * 1.2 * 0.3
    assert adjusted[get_weekly_index(2, 9)] == pytest.approx(0.8 * 0.7 + 0.8 * 1.2 * 0.3)
    assert adjusted[get_weekly_index(2, 10)] == pytest.approx(0.5 * 0.7 + 0.5 * 1.2 * 0.3)
    untouched = [
        i for i in range(168) if i not in (get_weekly_index(2, 9), get_weekly_index(2, 10))
    ]
    assert np.all(adjusted[untouched] == array[untouched])


@pytest.mark.parametrize(
    ("pattern", "days"),
    [("all", set(range(7))), ("weekdays", {1, 2, 3, 4, 5}), ("weekends", {0, 6}), ("Friday", {5})],
)
def test_day_patterns(pattern: str, days: set[int]) -> None:
    adjusted = apply_adjustments(
        neutral_array(), [Adjustment(day_pattern=pattern, hour_range=(14,), modifier=1.5)]
    )
    changed = {int(i) // 24 for i in np.flatnonzero(adjusted != 0.5)}
    assert changed == days
    assert {int(i) % 24 for i in np.flatnonzero(adjusted != 0.5)} == {14}


def test_modifier_is_clamped_to_the_configured_range() -> None:
    high = apply_adjustments(neutral_array(), [Adjustment("all", (9,), 10.0)])
    assert high[9] == pytest.approx(0.5 * 0.7 + 0.5 * 1.5 * 0.3)
    low = apply_adjustments(neutral_array(), [Adjustment("all", (9,), -3.0)])
    assert low[9] == pytest.approx(0.5 * 0.7 + 0.5 * 0.5 * 0.3)
    wide = apply_adjustments(
        neutral_array(),
        [Adjustment("all", (9,), 3.0)],
        MergeParams(modifier_max=3.0, max_sync_change=1.0),
    )
    assert wide[9] == pytest.approx(0.5 * 0.7 + 0.5 * 3.0 * 0.3)
    # The combined change of one merge stays within ±max_sync_change of the value.
    capped = apply_adjustments(
        neutral_array(), [Adjustment("all", (9,), 3.0)], MergeParams(modifier_max=3.0)
    )
    assert capped[9] == pytest.approx(0.5 * 1.5)


def test_the_combined_effect_of_one_merge_is_capped() -> None:
    stacked = [Adjustment("all", tuple(range(24)), 1.5)] * 20
    before = np.linspace(0.05, 0.95, 168)
    after = apply_adjustments(before, stacked)
    np.testing.assert_allclose(after, np.minimum(before * 1.5, 1.0))  # not 1.15 ** 20
    lowered = apply_adjustments(before, [Adjustment("all", tuple(range(24)), 0.5)] * 20)
    np.testing.assert_allclose(lowered, before * 0.5)  # not 0.85 ** 20
    untouched = apply_adjustments(before, stacked, MergeParams(max_sync_change=0.0))
    np.testing.assert_array_equal(untouched, before)


def test_result_is_clamped_to_one() -> None:
    array = np.full(168, 0.95)
    adjusted = apply_adjustments(
        array, [Adjustment("all", (9,), 3.0)], MergeParams(modifier_max=3.0)
    )
    assert adjusted[9] == 1.0


@pytest.mark.parametrize(
    "bad",
    [
        {"day_pattern": "someday", "hour_range": [9], "modifier": 1.1},
        {"day_pattern": "all", "hour_range": [24], "modifier": 1.1},
        {"day_pattern": "all", "hour_range": [-1], "modifier": 1.1},
        {"day_pattern": "all", "hour_range": [], "modifier": 1.1},
        {"day_pattern": "all", "hour_range": "9", "modifier": 1.1},
        {"day_pattern": "all", "hour_range": [9], "modifier": "a lot"},
        {"day_pattern": "all", "hour_range": [9], "modifier": float("nan")},
        {"day_pattern": "all", "hour_range": [True], "modifier": 1.1},
        {"day_pattern": "all", "modifier": 1.1},
    ],
)
def test_bad_adjustments_are_rejected_and_nothing_is_applied(bad: dict[str, object]) -> None:
    good = {"day_pattern": "all", "hour_range": [9], "modifier": 1.5}
    array = neutral_array()
    with pytest.raises(AdjustmentError):
        apply_adjustments(array, [good, bad])
    assert np.all(array == 0.5)


unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
operation = st.one_of(
    st.tuples(st.just("update"), st.integers(0, 167), unit),
    st.tuples(
        st.just("adjust"),
        st.sampled_from(["all", "weekdays", "weekends", "monday", "sunday"]),
        st.lists(st.integers(0, 23), min_size=1, max_size=24),
        st.floats(min_value=-100, max_value=100, allow_nan=False),
    ),
)


@given(st.lists(operation, max_size=60), unit)
def test_arrays_stay_within_unit_interval(operations: list[tuple], start: float) -> None:
    array, count = neutral_array(start), 0
    for op in operations:
        if op[0] == "update":
            array, count = behavioural_update(array, op[1], op[2], count)
        else:
            array = apply_adjustments(array, [Adjustment(op[1], tuple(op[2]), op[3])])
        assert np.all(array >= 0.0)
        assert np.all(array <= 1.0)
    assert count == sum(1 for op in operations if op[0] == "update")
