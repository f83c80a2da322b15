"""Write-back: plan → actions → execution, against the memory target and an ICS file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from calsync.clock import FixedClock
from calsync.config import EXAMPLE_TASK_TYPES, Config, parse_config
from calsync.errors import TargetOwnershipError
from calsync.ingest import sync_source
from calsync.model import Event, EventStatus
from calsync.reconcile import Create, Delete, Update
from calsync.service import Calsync
from calsync.service import open as open_calsync
from calsync.sources.memory import MemorySource
from calsync.targets.base import BlockContent
from calsync.targets.factory import build_targets
from calsync.targets.ics_file import IcsFileTarget
from calsync.targets.memory import MemoryTarget
from calsync.writeback import purge, run_cycle

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 23, 7, tzinfo=BERLIN)


def make_config(**extra: object) -> Config:
    data = {
        "user": {"timezone": "Europe/Berlin"},
        "task_types": [
            {
                "name": "Deep Coding",
                "keywords": ["coding"],
                "block_minutes": 60,
                "weekly_target": {"sessions": 3},
                "max_per_day": 1,
                "color": "9",
            },
            {
                "name": "Email",
                "keywords": ["email"],
                "block_minutes": 30,
                "weekly_target": {"sessions": 2},
                "max_per_day": 1,
            },
        ],
    }
    data.update(extra)
    return parse_config(data)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY)


@pytest.fixture
def cs(tmp_path: Path, clock: FixedClock) -> Iterator[Calsync]:
    instance = open_calsync(make_config(), store_url=f"sqlite:///{tmp_path / 'c.db'}", clock=clock)
    yield instance
    instance.close()


def owned_times(
    target: MemoryTarget, after: datetime | None = None
) -> dict[str, tuple[datetime, datetime]]:
    """Owned blocks (ending after ``after``: past ones stay in the calendar as history)."""
    return {
        e.suggestion_id: (e.start, e.end)
        for e in target.list_owned()
        if after is None or e.end > after
    }


def plan_times(report: object) -> dict[str, tuple[datetime, datetime]]:
    return {b.id: (b.start, b.end) for b in report.plan}  # type: ignore[attr-defined]


def only_moves_of_others(actions: list[object], skipped: str) -> list[Update]:
    """After a user's skip, a cycle may move other blocks, but creates and deletes nothing.

    A skip is a failure in the evidence learner, which also lowers the same hour on
    similar days, so blocks planned at that hour elsewhere may move away from it.
    """
    assert all(isinstance(a, Update) for a in actions), actions
    moves = [a for a in actions if isinstance(a, Update)]
    assert skipped not in {a.content.suggestion_id for a in moves}
    return moves


def test_first_cycle_writes_the_plan_and_a_second_writes_nothing(cs: Calsync) -> None:
    target = MemoryTarget()
    first = run_cycle(cs, target)
    assert len(first.plan) == 5
    assert all(isinstance(a, Create) for a in first.actions)
    assert target.writes == 5
    assert owned_times(target) == plan_times(first)
    event = target.events[first.plan[0].id]  # type: ignore[index]
    assert event.summary in ("⧗ Deep Coding", "⧗ Email")
    assert "score" in event.description
    assert "completion(s)" in event.description

    second = run_cycle(cs, target)
    assert second.actions == []
    assert target.writes == 5
    assert plan_times(second) == plan_times(first)
    assert {b.reason for b in second.plan} <= {"kept", "locked"}


def test_dry_run_writes_nothing_anywhere(cs: Calsync) -> None:
    target = MemoryTarget()
    report = run_cycle(cs, target, dry_run=True)
    assert len(report.actions) == 5
    assert target.writes == 0
    with cs.store.read() as tx:
        assert tx.suggestions("me") == []


def test_busy_time_from_every_source_is_avoided(cs: Calsync, clock: FixedClock) -> None:
    meetings = MemorySource("work")
    for day in range(23, 28):
        start = datetime(2026, 11, day, 8, tzinfo=BERLIN)
        meetings.put(
            Event("work", f"m{day}", start, start + timedelta(hours=10), summary="Meetings")
        )
    sync_source(cs, meetings)
    report = run_cycle(cs, MemoryTarget())
    for block in report.plan:
        assert block.start.astimezone(BERLIN).weekday() >= 5 or block.start.hour >= 18
    assert report.plan == []  # weekday windows are all busy: nothing can be placed


def test_a_block_deleted_by_the_user_is_not_recreated_and_teaches_a_skip(cs: Calsync) -> None:
    target = MemoryTarget()
    first = run_cycle(cs, target)
    victim = next(b for b in first.plan if b.task_type == "Deep Coding")
    target.user_delete(victim.id)  # type: ignore[arg-type]
    before = cs.habit("Deep Coding").count
    second = run_cycle(cs, target)
    assert second.observed == {"declined": 1}
    assert victim.id not in owned_times(target)
    only_moves_of_others(second.actions, victim.id)  # no replacement: the user decided
    deep = [b for b in second.plan if b.task_type == "Deep Coding"]
    assert len(deep) == len([b for b in first.plan if b.task_type == "Deep Coding"]) - 1
    # The skip taught that the hour goes badly: no Deep Coding block is left at it.
    hour = victim.start.astimezone(BERLIN).hour
    assert all(b.start.astimezone(BERLIN).hour != hour for b in deep)
    assert cs.habit("Deep Coding").count == before + 1
    with cs.store.read() as tx:
        update = tx.find_update(f"suggestion:{victim.id}:skip")
    assert update is not None
    assert update.success == 0.0
    third = run_cycle(cs, target)
    assert third.actions == []
    assert cs.habit("Deep Coding").count == before + 1


def test_a_block_moved_by_the_user_stays_where_they_put_it(cs: Calsync, clock: FixedClock) -> None:
    target = MemoryTarget()
    first = run_cycle(cs, target)
    block = next(b for b in first.plan if b.task_type == "Deep Coding")
    new_start = datetime(2026, 11, 28, 20, tzinfo=BERLIN)  # Saturday evening, outside its windows
    target.user_move(block.id, new_start, new_start + timedelta(hours=1))  # type: ignore[arg-type]
    second = run_cycle(cs, target)
    assert second.observed == {"user_moved": 1}
    only_moves_of_others(second.actions, block.id)  # type: ignore[arg-type]
    assert run_cycle(cs, target).actions == []
    assert owned_times(target)[block.id] == (new_start, new_start + timedelta(hours=1))  # type: ignore[index]
    with cs.store.read() as tx:
        skip = tx.find_update(f"suggestion:{block.id}:skip")
    assert skip is not None
    assert skip.occurred_at == block.start
    # Once the moved block has passed, it counts where the user did it.
    clock.set(new_start + timedelta(hours=2))
    run_cycle(cs, target)
    with cs.store.read() as tx:
        done = tx.find_update(f"suggestion:{block.id}:done")
    assert done is not None
    assert done.occurred_at == new_start
    assert done.success == 0.75


def test_foreign_events_are_never_touched(cs: Calsync) -> None:
    target = MemoryTarget()
    target.add_foreign("dentist", MONDAY.replace(hour=9), MONDAY.replace(hour=10), "Dentist")
    first = run_cycle(cs, target)
    with pytest.raises(TargetOwnershipError):
        target.update("dentist", BlockContent("x", "Email", MONDAY, MONDAY, "x", "x"))
    with pytest.raises(TargetOwnershipError):
        target.delete("dentist")
    purge(cs, [target])
    assert list(target.events) == ["dentist"]
    assert first.plan


def test_purge_removes_every_owned_event_and_records_it(cs: Calsync) -> None:
    target = MemoryTarget()
    run_cycle(cs, target)
    assert len(purge(cs, [target])["memory"]) == 5
    assert target.list_owned() == []
    with cs.store.read() as tx:
        assert {r.status for r in tx.suggestions("me")} == {"retracted"}


class CrashAfterRemoteWrite(MemoryTarget):
    """Writes to the calendar, then dies before calsync can commit."""

    def __init__(self) -> None:
        super().__init__()
        self.crash = True

    def create(self, content: BlockContent) -> str:
        remote_id = super().create(content)
        if self.crash:
            self.crash = False
            raise KeyboardInterrupt("power cut")
        return remote_id


def test_a_crash_between_remote_write_and_commit_leaves_no_duplicate(
    tmp_path: Path, clock: FixedClock
) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    target = CrashAfterRemoteWrite()
    with (
        open_calsync(make_config(), store_url=url, clock=clock) as cs,
        pytest.raises(KeyboardInterrupt),
    ):
        run_cycle(cs, target)
    assert len(target.list_owned()) == 1
    with open_calsync(make_config(), store_url=url, clock=clock) as cs:  # a restart
        report = run_cycle(cs, target)
        assert len(target.list_owned()) == 5
        assert owned_times(target) == plan_times(report)
        with cs.store.read() as tx:
            assert sorted(r.status for r in tx.suggestions("me")) == ["active"] * 5
        assert run_cycle(cs, target).actions == []


def test_a_crash_before_the_remote_write_is_resolved(tmp_path: Path, clock: FixedClock) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    target = MemoryTarget()
    target.fail_after = 2
    with open_calsync(make_config(), store_url=url, clock=clock) as cs:
        report = run_cycle(cs, target)
        assert report.error is not None
        with cs.store.read() as tx:
            assert sorted(r.status for r in tx.suggestions("me")) == [
                "active",
                "active",
                "creating",
            ]
        target.fail_after = None
        run_cycle(cs, target)
        assert len(target.list_owned()) == 5
        with cs.store.read() as tx:
            statuses = sorted(r.status for r in tx.suggestions("me"))
        assert statuses.count("active") == 5


def test_an_ics_file_target(tmp_path: Path, cs: Calsync, clock: FixedClock) -> None:
    target = IcsFileTarget("file", tmp_path / "out" / "suggestions.ics", clock)
    first = run_cycle(cs, target)
    text = (tmp_path / "out" / "suggestions.ics").read_text(encoding="utf-8")
    assert text.count("BEGIN:VEVENT") == 5
    assert "STATUS:TENTATIVE" in text
    assert "TRANSP:TRANSPARENT" in text
    assert "X-CALSYNC-ID:cs" in text
    assert "COLOR:9" in text
    assert "ATTENDEE" not in text
    assert "VALARM" not in text
    assert {e.suggestion_id: (e.start, e.end) for e in target.list_owned()} == plan_times(first)
    writes = target.writes
    assert run_cycle(cs, target).actions == []
    assert target.writes == writes
    assert (tmp_path / "out" / "suggestions.ics").stat().st_mode & 0o077 == 0


def test_without_targets_suggestions_go_to_an_ics_file_in_the_state_dir(tmp_path: Path) -> None:
    config = make_config(state_dir=str(tmp_path))
    (target,) = build_targets(config, FixedClock(MONDAY))
    assert isinstance(target, IcsFileTarget)
    assert target.path == tmp_path / "suggestions.ics"


# ---------------------------------------------------------------- random user behaviour

operation = st.one_of(
    st.tuples(st.just("cycle")),
    st.tuples(st.just("delete"), st.integers(0, 10)),
    st.tuples(st.just("move"), st.integers(0, 10), st.integers(-48, 48)),
    st.tuples(st.just("foreign"), st.integers(0, 7 * 24 - 1), st.integers(1, 4)),
    st.tuples(st.just("wait"), st.integers(1, 30)),
)


def live_owned(
    cs: Calsync, target: MemoryTarget, now: datetime
) -> dict[str, tuple[datetime, datetime]]:
    """Owned blocks still ahead, except finished ones the user dragged around afterwards."""
    with cs.store.read() as tx:
        finished = {r.id for r in tx.suggestions("me", target.name, ["done", "gone"])}
    return {k: v for k, v in owned_times(target, now).items() if k not in finished}


def planned_visible(cs: Calsync, report: object) -> dict[str, tuple[datetime, datetime]]:
    """The plan's blocks but those held as missing (a mass absence: kept, not in the calendar)."""
    with cs.store.read() as tx:
        held = {r.id for r in tx.suggestions("me", None, ["missing"])}
    return {k: v for k, v in plan_times(report).items() if k not in held}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(operation, min_size=1, max_size=12))
# Found by this test: a block moved a day earlier fell outside the listing window.
@example([("delete", 0), ("wait", 27), ("cycle",), ("move", 4, -26)])
# Found by this test: a new block reused the id of one the user had moved away.
@example([("move", 7, 16), ("wait", 10), ("cycle",)])
# The user deletes every block at once: a mass absence, held, then lost.
@example([("delete", 0)] * 5 + [("cycle",), ("cycle",)])
# Found by this test: a held block that ended did not count for its week (one re-planned).
@example([("delete", 0)] * 5 + [("wait", 5)])
def test_random_edits_never_touch_foreign_events_and_owned_ones_match_the_plan(
    operations: list[tuple],
) -> None:
    clock = FixedClock(MONDAY)
    target = MemoryTarget()
    source = MemorySource("cal")
    with open_calsync(make_config(), store_url="sqlite://", clock=clock) as cs:
        foreign_before: dict[str, object] = {}
        report = run_cycle(cs, target)
        for op in operations:
            owned = sorted(owned_times(target))
            if op[0] == "cycle":
                sync_source(cs, source)
                report = run_cycle(cs, target)
                assert report.error is None
                assert live_owned(cs, target, clock.now()) == planned_visible(cs, report)
                for block in report.plan:
                    for other in report.plan:
                        if block is not other and block.reason != "user" and other.reason != "user":
                            assert block.end <= other.start or other.end <= block.start
            elif op[0] == "delete" and owned:
                target.user_delete(owned[op[1] % len(owned)])
            elif op[0] == "move" and owned:
                sid = owned[op[1] % len(owned)]
                start, end = owned_times(target)[sid]
                shift = timedelta(hours=op[2])
                target.user_move(sid, start + shift, end + shift)
            elif op[0] == "foreign":
                start = MONDAY + timedelta(hours=op[1])
                rid = f"f{len(foreign_before)}"
                target.add_foreign(rid, start, start + timedelta(hours=op[2]), "Meeting")
                source.put(
                    Event("cal", rid, start, start + timedelta(hours=op[2]), summary="Meeting")
                )
            elif op[0] == "wait":
                clock.advance(timedelta(hours=op[1]))
            foreign_before.update({k: v for k, v in target.events.items() if v.owner_id is None})
        for key, value in foreign_before.items():
            assert target.events[key] == value
        final = run_cycle(cs, target)
        assert live_owned(cs, target, clock.now()) == planned_visible(cs, final)
        assert run_cycle(cs, target).actions == []


def test_actions_are_plain_values() -> None:
    content = BlockContent("cs1", "Email", MONDAY, MONDAY + timedelta(minutes=30), "⧗ Email", "why")
    assert Create(content) == Create(content)
    assert Update("r", content) != Delete("cs1", "r", "x")


def test_re_planning_all_week_never_exceeds_the_weekly_targets(tmp_path: Path) -> None:
    """Each calendar week gets exactly its targets, however often calsync re-plans.

    Every 6 hours for three weeks, with a user who deletes some blocks and
    moves others: blocks that took place, were moved or were deleted still
    count toward their week.
    """
    config = parse_config({"user": {"timezone": "Europe/Berlin"}, "task_types": EXAMPLE_TASK_TYPES})
    targets = {t.name: t.weekly_target.sessions or 3 for t in config.task_types}  # Exercise: 3 h
    clock = FixedClock(datetime(2026, 11, 23, 0, tzinfo=BERLIN))  # a Monday
    target = MemoryTarget()
    with open_calsync(config, store_url=f"sqlite:///{tmp_path / 'c.db'}", clock=clock) as cs:
        seen = 0
        for _ in range(4 * 21):
            run_cycle(cs, target)
            for event in sorted(target.list_owned(), key=lambda e: e.start):
                if event.start <= clock.now() + timedelta(
                    hours=6
                ) or event.start > clock.now() + timedelta(hours=30):
                    continue  # the user acts on tomorrow's blocks, once
                seen += 1
                if seen % 3 == 0:
                    target.user_delete(event.remote_id)
                elif seen % 5 == 0:
                    target.user_move(
                        event.remote_id,
                        event.start + timedelta(hours=1),
                        event.end + timedelta(hours=1),
                    )
            clock.set(clock.now() + timedelta(hours=6))
        with cs.store.read() as tx:
            rows = [r for r in tx.suggestions(cs.config.user.id) if r.status != "retracted"]
    weeks: dict[tuple[int, str], int] = {}
    for row in rows:
        week = row.start.astimezone(BERLIN).isocalendar()[1]
        weeks[(week, row.task_type)] = weeks.get((week, row.task_type), 0) + 1
    assert seen > 20  # the user did act
    assert any(r.status == "declined" for r in rows)
    for (week, task), count in weeks.items():
        if week in (48, 49, 50):  # the three full weeks
            assert count == targets[task], (week, task, count)
        else:
            assert count <= targets[task], (week, task, count)


def test_a_first_run_on_a_friday_suggests_fridays_share_of_the_week(tmp_path: Path) -> None:
    friday = MONDAY + timedelta(days=4)  # 07:00
    clock = FixedClock(friday)
    with open_calsync(make_config(), store_url=f"sqlite:///{tmp_path / 'c.db'}", clock=clock) as cs:
        target = MemoryTarget()
        first = run_cycle(cs, target)
        next_monday = (MONDAY + timedelta(days=7)).date()
        this_week = [b for b in first.plan if b.start.astimezone(BERLIN).date() < next_monday]
        # Weekday windows: Friday is 1/5 of the week's time; Deep Coding 3 * 1/5 rounds
        # to 1, Email 2 * 1/5 to 0 — not the whole week's five squeezed into one day.
        assert [b.task_type for b in this_week] == ["Deep Coding"]
        clock.set(friday + timedelta(hours=2))
        again = run_cycle(cs, target)  # since = the first suggestion, not this cycle
        assert again.actions == []
        with cs.store.read() as tx:
            assert tx.first_suggested("me", target.name) == friday
            assert tx.first_suggested("me", "elsewhere") is None


def test_a_task_type_added_on_thursday_gets_the_share_of_the_week_left(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    clock = FixedClock(MONDAY)
    target = MemoryTarget()
    deep_only = make_config(task_types=[make_config().task_types[0].model_dump(mode="json")])
    with open_calsync(deep_only, store_url=url, clock=clock) as cs:
        run_cycle(cs, target)
    thursday = MONDAY + timedelta(days=3)
    clock.set(thursday)
    emails = {
        "name": "Email",
        "keywords": ["email"],
        "block_minutes": 30,
        "weekly_target": {"sessions": 5},
        "max_per_day": 2,
    }
    both = make_config(task_types=[deep_only.task_types[0].model_dump(mode="json"), emails])
    with open_calsync(both, store_url=url, clock=clock) as cs:
        report = run_cycle(cs, target)
    next_monday = (MONDAY + timedelta(days=7)).date()
    email = [
        b
        for b in report.plan
        if b.task_type == "Email" and b.start.astimezone(BERLIN).date() < next_monday
    ]
    assert len(email) == 2  # Thursday and Friday: 2/5 of the week's windows, 5 * 2/5


def test_the_users_own_sessions_count_toward_the_weekly_target(cs: Calsync) -> None:
    mine = MemorySource("mine")
    for day in (24, 26):  # Tuesday and Thursday: the user's own coding
        start = datetime(2026, 11, day, 14, tzinfo=BERLIN)
        mine.put(Event("mine", f"c{day}", start, start + timedelta(hours=2), summary="Coding"))
    mine.put(
        Event(
            "mine",
            "x",
            MONDAY + timedelta(hours=3),
            MONDAY + timedelta(hours=4),
            summary="Coding",
            status=EventStatus.CANCELLED,
        )
    )
    sync_source(cs, mine)
    report = run_cycle(cs, MemoryTarget())
    deep = [b for b in report.plan if b.task_type == "Deep Coding"]
    assert len(deep) == 1  # a target of 3, two sessions of the user's own (the cancelled one not)
    assert {b.start.astimezone(BERLIN).day for b in deep}.isdisjoint({24, 26})
