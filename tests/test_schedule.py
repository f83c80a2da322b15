"""The weekly planner (pure): targets, windows, busy time, caps, stability."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.learning.habits import neutral_array
from calsync.learning.planner import Period
from calsync.learning.schedule import (
    ExistingBlock,
    PlannedBlock,
    PlanParams,
    TaskSpec,
    plan_blocks,
    sessions_over,
)
from calsync.learning.slots import get_weekly_index
from calsync.learning.windows import Window

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 23, 7, tzinfo=BERLIN)  # 07:00 on a Monday
WEEKDAYS = Window(days=(1, 2, 3, 4, 5), start=time(8), end=time(18))


def habit(values: dict[tuple[int, int], float]) -> np.ndarray:
    array = neutral_array()
    for (day, hour), value in values.items():
        array[get_weekly_index(day, hour)] = value
    return array


def task(name: str = "Deep", minutes: int = 60, sessions: int = 3, **kw: object) -> TaskSpec:
    kw.setdefault("windows", [WEEKDAYS])
    kw.setdefault("habit", neutral_array())
    return TaskSpec(name=name, block_minutes=minutes, sessions=sessions, **kw)  # type: ignore[arg-type]


def local(block: PlannedBlock) -> tuple[str, str]:
    return block.start.astimezone(BERLIN).strftime("%a %H:%M"), block.end.astimezone(
        BERLIN
    ).strftime("%H:%M")


def test_sessions_over_the_horizon() -> None:
    week = timedelta(days=7)
    assert sessions_over(4, None, 120, week) == 4
    assert sessions_over(None, 3, 60, week) == 3
    assert sessions_over(None, 2.5, 60, week) == 3
    assert sessions_over(7, None, 60, timedelta(days=14)) == 14


def test_best_slots_on_separate_days() -> None:
    likes = habit({(2, 9): 0.9, (4, 10): 0.85, (3, 14): 0.8, (2, 10): 0.9})
    plan = plan_blocks([task(habit=likes, max_per_day=1)], neutral_array(), [], MONDAY, BERLIN)
    assert [local(b) for b in plan] == [
        ("Tue 09:00", "10:00"),
        ("Wed 14:00", "15:00"),
        ("Thu 10:00", "11:00"),
    ]
    assert all(b.reason == "new" and b.id is None for b in plan)
    assert plan[0].habit == 0.9
    assert plan[0].score == 0.6 * 0.9 + 0.4 * 0.5


def test_busy_time_buffers_and_lead_are_respected() -> None:
    likes = habit({(1, 9): 1.0, (1, 8): 1.0})
    meeting = Period(MONDAY.replace(hour=9), MONDAY.replace(hour=10))
    params = PlanParams(buffer=timedelta(minutes=10), lead=timedelta(hours=1, minutes=20))
    busy = [Period(meeting.start - params.buffer, meeting.end + params.buffer)]
    plan = plan_blocks(
        [task(habit=likes, sessions=1)], neutral_array(), busy, MONDAY, BERLIN, params
    )
    # 08:00 is too soon (lead 80 min → 08:20) and 09:00 is the meeting:
    # 10:15 is the first free quarter.
    assert [local(b) for b in plan] == [("Mon 10:15", "11:15")]


def test_no_overlaps_and_a_buffer_between_suggestions() -> None:
    tasks = [task("A", 60, 5), task("B", 30, 5), task("C", 90, 5)]
    params = PlanParams(day_cap_minutes=1440, buffer=timedelta(minutes=15))
    plan = plan_blocks(tasks, neutral_array(), [], MONDAY, BERLIN, params)
    assert len(plan) == 15
    ordered = sorted(plan, key=lambda b: b.start)
    for first, second in pairwise(ordered):
        assert second.start >= first.end + timedelta(minutes=15)


def test_the_daily_cap_holds() -> None:
    params = PlanParams(day_cap_minutes=120)
    plan = plan_blocks([task("A", 60, 20)], neutral_array(), [], MONDAY, BERLIN, params)
    per_day: dict[str, int] = {}
    for block in plan:
        day = block.start.astimezone(BERLIN).strftime("%a")
        per_day[day] = per_day.get(day, 0) + 60
    assert max(per_day.values()) <= 120
    assert len(plan) == 10  # five weekdays × two hours


def test_a_locked_block_stays_even_when_a_better_slot_appears() -> None:
    soon = ExistingBlock("s1", "Deep", MONDAY.replace(hour=14), MONDAY.replace(hour=15))
    likes = habit({(2, 9): 1.0})
    plan = plan_blocks(
        [task(habit=likes, sessions=1)], neutral_array(), [], MONDAY, BERLIN, existing=[soon]
    )
    assert [(b.id, b.reason, local(b)) for b in plan] == [("s1", "locked", ("Mon 14:00", "15:00"))]


def test_a_block_moves_only_when_beaten_by_the_margin() -> None:
    later = ExistingBlock(
        "s1",
        "Deep",
        datetime(2026, 11, 26, 9, tzinfo=BERLIN),
        datetime(2026, 11, 26, 10, tzinfo=BERLIN),
    )
    slightly_better = habit(
        {(4, 9): 0.60, (2, 9): 0.66}
    )  # 0.06 habit → 0.036 score: under the margin
    plan = plan_blocks(
        [task(habit=slightly_better, sessions=1)],
        neutral_array(),
        [],
        MONDAY,
        BERLIN,
        existing=[later],
    )
    assert [(b.id, b.reason) for b in plan] == [("s1", "kept")]
    much_better = habit({(4, 9): 0.60, (2, 9): 0.95})
    plan = plan_blocks(
        [task(habit=much_better, sessions=1)], neutral_array(), [], MONDAY, BERLIN, existing=[later]
    )
    assert [(b.id, b.reason, local(b)) for b in plan] == [("s1", "moved", ("Tue 09:00", "10:00"))]


def test_a_block_now_clashing_with_a_meeting_moves() -> None:
    later = ExistingBlock(
        "s1",
        "Deep",
        datetime(2026, 11, 26, 9, tzinfo=BERLIN),
        datetime(2026, 11, 26, 10, tzinfo=BERLIN),
    )
    clash = [
        Period(
            datetime(2026, 11, 26, 9, 30, tzinfo=BERLIN), datetime(2026, 11, 26, 11, tzinfo=BERLIN)
        )
    ]
    plan = plan_blocks([task(sessions=1)], neutral_array(), clash, MONDAY, BERLIN, existing=[later])
    assert [(b.id, b.reason) for b in plan] == [("s1", "moved")]
    assert plan[0].start != later.start


def test_user_placed_blocks_stay_and_count() -> None:
    moved = ExistingBlock(
        "s1",
        "Deep",
        datetime(2026, 11, 28, 20, tzinfo=BERLIN),
        datetime(2026, 11, 28, 21, tzinfo=BERLIN),
        user_placed=True,
    )
    plan = plan_blocks([task(sessions=2)], neutral_array(), [], MONDAY, BERLIN, existing=[moved])
    assert [b.reason for b in plan] == [
        "new",
        "user",
    ]  # Saturday evening is outside the windows: theirs
    assert plan[1].start == moved.start


def test_a_deleted_block_counts_and_its_slot_is_not_offered_again() -> None:
    likes = habit({(2, 9): 1.0, (3, 9): 0.8})
    gone = ExistingBlock(
        "s1",
        "Deep",
        datetime(2026, 11, 24, 9, tzinfo=BERLIN),
        datetime(2026, 11, 24, 10, tzinfo=BERLIN),
    )
    plan = plan_blocks(
        [task(habit=likes, sessions=2)], neutral_array(), [], MONDAY, BERLIN, declined=[gone]
    )
    assert [local(b) for b in plan] == [("Wed 09:00", "10:00")]


def test_a_lowered_target_drops_the_weakest_movable_blocks() -> None:
    blocks = [
        ExistingBlock(
            f"s{d}",
            "Deep",
            datetime(2026, 11, d, 9, tzinfo=BERLIN),
            datetime(2026, 11, d, 10, tzinfo=BERLIN),
        )
        for d in (25, 26, 27)
    ]
    likes = habit({(3, 9): 0.9, (4, 9): 0.8, (5, 9): 0.3})
    plan = plan_blocks(
        [task(habit=likes, sessions=2)], neutral_array(), [], MONDAY, BERLIN, existing=blocks
    )
    assert sorted(b.id for b in plan) == ["s25", "s26"]


def test_windows_follow_local_time_across_fall_back() -> None:
    before = datetime(2026, 10, 23, 7, tzinfo=BERLIN)  # Friday before the change
    plan = plan_blocks(
        [task(sessions=5, max_per_day=1, habit=habit({(d, 8): 0.9 for d in range(1, 6)}))],
        neutral_array(),
        [],
        before,
        BERLIN,
    )
    # Friday is this week's only weekday left; the horizon reaches next week's
    # windows up to Friday 07:00 (Monday to Thursday, 4/5): 5 * 4/5 = 4 blocks.
    assert [local(b)[0] for b in plan] == [
        "Fri 08:00",
        "Mon 08:00",
        "Tue 08:00",
        "Wed 08:00",
        "Thu 08:00",
    ]
    assert {b.start.utcoffset() for b in plan} == {timedelta(hours=2), timedelta(hours=1)}


def test_the_plan_is_deterministic() -> None:
    tasks = [task("A", 60, 4), task("B", 30, 5), task("C", 120, 2)]
    first = plan_blocks(tasks, neutral_array(), [], MONDAY, BERLIN)
    assert first == plan_blocks(tasks, neutral_array(), [], MONDAY, BERLIN)


busy_strategy = st.lists(st.tuples(st.integers(0, 7 * 24 * 4), st.integers(1, 12)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    busy_strategy,
    st.lists(
        st.tuples(
            st.sampled_from([15, 30, 45, 60, 90, 120]),
            st.integers(0, 6),
            st.one_of(st.none(), st.integers(1, 3)),
        ),
        min_size=1,
        max_size=5,
    ),
    st.integers(60, 600),
    st.integers(0, 2**32 - 1),
)
def test_plans_always_respect_the_rules(
    busy: list[tuple[int, int]], specs: list[tuple[int, int, int | None]], cap: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    tasks = [
        task(f"T{i}", minutes, sessions, max_per_day=limit, habit=rng.random(168))
        for i, (minutes, sessions, limit) in enumerate(specs)
    ]
    periods = [
        Period(MONDAY + q * timedelta(minutes=15), MONDAY + (q + n) * timedelta(minutes=15))
        for q, n in busy
    ]
    params = PlanParams(day_cap_minutes=cap)
    plan = plan_blocks(tasks, rng.random(168), periods, MONDAY, BERLIN, params)
    by_task: dict[str, int] = {}
    per_day: dict[object, int] = {}
    for block in plan:
        by_task[block.task_type] = by_task.get(block.task_type, 0) + 1
        local_start = block.start.astimezone(BERLIN)
        assert block.start >= MONDAY + params.lead
        assert block.end <= MONDAY + params.horizon
        assert local_start.minute % 15 == 0
        assert local_start.isoweekday() <= 5
        assert time(8) <= local_start.time()
        assert block.end.astimezone(BERLIN).time() <= time(18) or block.end.astimezone(
            BERLIN
        ).time() == time(0)
        for period in periods:
            assert block.end <= period.start or block.start >= period.end
        per_day[local_start.date()] = per_day.get(local_start.date(), 0) + (
            block.end - block.start
        ) // timedelta(minutes=1)
    for spec in tasks:
        assert by_task.get(spec.name, 0) <= spec.sessions
    assert all(minutes <= cap for minutes in per_day.values())
    ordered = sorted(plan, key=lambda b: b.start)
    for first, second in pairwise(ordered):
        assert second.start >= first.end + params.buffer


# --------------------------------------------------------------------------- weekly targets


def test_blocks_that_already_took_place_count_toward_their_week() -> None:
    wednesday = MONDAY + timedelta(days=2)  # 07:00
    done = [
        ExistingBlock(
            f"d{n}",
            "Deep",
            MONDAY + timedelta(days=n, hours=2),
            MONDAY + timedelta(days=n, hours=3),
        )
        for n in (0, 1)
    ]
    spec = task(sessions=3, max_per_day=1)
    this_week = MONDAY.date() + timedelta(days=6)  # Sunday

    plan = plan_blocks([spec], neutral_array(), [], wednesday, BERLIN, earlier=done)
    assert len([b for b in plan if b.start.date() <= this_week]) == 1  # 3 − the 2 done

    alone = plan_blocks([spec], neutral_array(), [], wednesday, BERLIN)
    assert len([b for b in alone if b.start.date() <= this_week]) == 3  # without history


def test_a_deleted_block_that_has_passed_still_counts() -> None:
    tuesday = MONDAY + timedelta(days=1)
    deleted = ExistingBlock("x", "Deep", MONDAY + timedelta(hours=3), MONDAY + timedelta(hours=4))
    plan = plan_blocks(
        [task(sessions=2, max_per_day=1)], neutral_array(), [], tuesday, BERLIN, earlier=[deleted]
    )
    assert len([b for b in plan if b.start < MONDAY + timedelta(days=7)]) == 1


def test_earlier_blocks_today_count_toward_the_days_limits() -> None:
    noon = MONDAY.replace(hour=12)
    morning = ExistingBlock("m", "Email", MONDAY.replace(hour=8), MONDAY.replace(hour=9))
    likes_today = habit({(1, h): 0.95 for h in range(12, 18)})
    spec = task("Email", 60, sessions=5, max_per_day=1, habit=likes_today)
    plan = plan_blocks([spec], neutral_array(), [], noon, BERLIN, earlier=[morning])
    assert all(b.start.date() != MONDAY.date() for b in plan)  # today already has its one
    without = plan_blocks([spec], neutral_array(), [], noon, BERLIN)
    assert any(b.start.date() == MONDAY.date() for b in without)


def test_a_week_the_horizon_only_reaches_gets_its_share() -> None:
    thursday = MONDAY.replace(hour=0) + timedelta(days=3)  # horizon: to next Thursday 00:00
    plan = plan_blocks([task(sessions=4, max_per_day=1)], neutral_array(), [], thursday, BERLIN)
    next_monday = (MONDAY + timedelta(days=7)).date()
    this_week = [b for b in plan if b.start.date() < next_monday]
    next_week = [b for b in plan if b.start.date() >= next_monday]
    assert len(this_week) == 2  # Thursday and Friday: the windows leave no more
    assert len(next_week) == 2  # Monday to Wednesday: 3/5 of its windows, 4 * 3/5 = 2.4


def test_blocks_in_weeks_the_plan_does_not_reach_are_ignored() -> None:
    long_ago = ExistingBlock(
        "old", "Deep", MONDAY - timedelta(days=7), MONDAY - timedelta(days=7) + timedelta(hours=1)
    )
    plan = plan_blocks([task(sessions=3)], neutral_array(), [], MONDAY, BERLIN, earlier=[long_ago])
    assert len(plan) == 3


def test_a_block_deleted_while_it_ran_counts_at_once() -> None:
    noon = MONDAY.replace(hour=12)
    running = ExistingBlock("g", "Deep", MONDAY.replace(hour=11), MONDAY.replace(hour=13))
    spec = task(sessions=1, max_per_day=1)
    assert plan_blocks([spec], neutral_array(), [], noon, BERLIN, earlier=[running]) == []
    assert plan_blocks([spec], neutral_array(), [], noon, BERLIN)  # without it: one block


def test_a_short_horizon_still_reaches_the_whole_target_by_the_weeks_last_window() -> None:
    """Planning every 6 h one day ahead: the share grows with the windows reached."""
    spec = task(sessions=4, max_per_day=1)
    params = PlanParams(horizon=timedelta(days=1))
    now = MONDAY.replace(hour=0)
    held: dict[str, ExistingBlock] = {}
    for step in range(4 * 7):
        plan = plan_blocks(
            [spec],
            neutral_array(),
            [],
            now,
            BERLIN,
            params,
            existing=[b for b in held.values() if b.end > now],
            earlier=[b for b in held.values() if b.end <= now],
        )
        held = {k: b for k, b in held.items() if b.end <= now}  # the plan replaces the rest
        for n, block in enumerate(plan):
            key = block.id or f"b{step}-{n}"
            held[key] = ExistingBlock(key, block.task_type, block.start, block.end)
        now += timedelta(hours=6)
    next_monday = (MONDAY + timedelta(days=7)).date()
    this_week = [b for b in held.values() if b.start.date() < next_monday]
    assert len(this_week) == 4
    assert len({b.start.date() for b in this_week}) == 4


def test_a_first_run_mid_week_gets_the_share_of_the_week_that_is_left() -> None:
    friday = MONDAY + timedelta(days=4)  # 07:00
    spec = task(sessions=5, max_per_day=3)
    started = TaskSpec(
        name=spec.name,
        block_minutes=spec.block_minutes,
        sessions=spec.sessions,
        windows=spec.windows,
        habit=spec.habit,
        max_per_day=3,
        since=friday,
    )
    this_week = (MONDAY + timedelta(days=7)).date()
    plan = plan_blocks([started], neutral_array(), [], friday, BERLIN)
    assert len([b for b in plan if b.start.date() < this_week]) == 1  # Friday: 5 * 1/5
    crammed = plan_blocks([spec], neutral_array(), [], friday, BERLIN)
    assert len([b for b in crammed if b.start.date() < this_week]) == 3  # max_per_day


def test_a_declined_block_ahead_counts_toward_its_day() -> None:
    tuesday = MONDAY + timedelta(days=1, hours=3)  # 10:00
    declined = ExistingBlock("d", "Deep", tuesday.replace(hour=14), tuesday.replace(hour=15))
    plan = plan_blocks(
        [task(sessions=3, max_per_day=1)], neutral_array(), [], tuesday, BERLIN, declined=[declined]
    )
    assert all(b.start.date() != tuesday.date() for b in plan)


def test_the_users_own_sessions_count_toward_the_week_and_the_day() -> None:
    own = [
        ExistingBlock(
            "own:a",
            "Deep",
            MONDAY + timedelta(days=1, hours=2),
            MONDAY + timedelta(days=1, hours=3),
        ),
        ExistingBlock(
            "own:b",
            "Deep",
            MONDAY + timedelta(days=3, hours=2),
            MONDAY + timedelta(days=3, hours=3),
        ),
    ]
    spec = task(sessions=3, max_per_day=1)
    plan = plan_blocks([spec], neutral_array(), [], MONDAY, BERLIN, own=own)
    assert len(plan) == 1  # 3 wanted, 2 of the user's own
    assert plan[0].start.date() not in {b.start.date() for b in own}  # max_per_day 1
    assert len(plan_blocks([spec], neutral_array(), [], MONDAY, BERLIN)) == 3
