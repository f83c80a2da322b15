"""Inference from events (pure): matching, markers, completions, suggestions, free time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from calsync.config import embedded_default, parse_config
from calsync.errors import InputError
from calsync.inference import (
    KnownSuggestion,
    busy_periods,
    free_periods,
    infer_completions,
    infer_suggestion_outcomes,
    match_task_type,
    parse_outcome,
    subtract_periods,
)
from calsync.learning.planner import Period
from calsync.model import Event, EventStatus, Transparency

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 24, 18, tzinfo=BERLIN)
TASKS = embedded_default().task_types


def event(summary: str, start_hour: int = 9, hours: float = 1, **kw: object) -> Event:
    start = datetime(2026, 11, 24, start_hour, tzinfo=BERLIN)
    fields = {"source": "work", "uid": f"uid-{summary}-{start_hour}", "summary": summary}
    fields.update(kw)
    return Event(start=start, end=start + timedelta(hours=hours), **fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the model


def test_events_must_be_timezone_aware_and_consistent() -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        Event("s", "u", datetime(2026, 1, 1, 9), datetime(2026, 1, 1, 10, tzinfo=UTC))  # noqa: DTZ001
    with pytest.raises(InputError, match="both be dates"):
        Event("s", "u", date(2026, 1, 1), datetime(2026, 1, 1, 10, tzinfo=UTC))
    with pytest.raises(InputError, match="ends before"):
        Event("s", "u", date(2026, 1, 2), date(2026, 1, 1))
    all_day = Event("s", "u", date(2026, 1, 1), date(2026, 1, 2), recurrence_id="2026-01-01")
    assert all_day.all_day
    assert all_day.occurrence_key == "s:u:2026-01-01"
    assert not all_day.owned


# ---------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("title", "task"),
    [
        ("Deep work: parser", "Deep Coding"),
        ("dev sync", "Deep Coding"),  # regex \b(dev|hack)\b
        ("developer meeting", None),  # "dev" only as a whole word
        ("Inbox zero", "Email"),
        ("Morning RUN", "Exercise"),
        ("Lunch", None),
        ("Brunch with Sam", None),  # "run" only as a whole word
        ("Inboxing", None),
    ],
)
def test_titles_match_by_keyword_or_regex(title: str, task: str | None) -> None:
    found = match_task_type(event(title), TASKS)
    assert (found.name if found else None) == task


def test_calendar_colour_and_category_restrictions() -> None:
    config = parse_config(
        {
            "task_types": [
                {"name": "Gym", "keywords": ["gym"], "calendars": ["Personal"], "colors": ["11"]},
                {"name": "Reading", "categories": ["reading"]},
            ]
        }
    )
    tasks = config.task_types
    assert match_task_type(event("gym", calendar="personal", color="11"), tasks).name == "Gym"  # type: ignore[union-attr]
    assert match_task_type(event("gym", calendar="Work", color="11"), tasks) is None
    assert match_task_type(event("gym", calendar="Personal", color="3"), tasks) is None
    assert match_task_type(event("Dune", categories=("Reading",)), tasks).name == "Reading"  # type: ignore[union-attr]


# ---------------------------------------------------------------- markers


@pytest.mark.parametrize(
    ("summary", "description", "success", "energy", "notes"),
    [
        ("Coding ✓", "", 1.0, None, ()),
        ("[X] coding", "", 1.0, None, ()),
        ("coding done", "", 1.0, None, ()),
        ("coding ✗", "", 0.0, None, ()),
        ("coding (skipped)", "", 0.0, None, ()),
        ("coding", "rating: 4/5\nenergy: 3/5", 0.8, 0.6, ()),
        ("coding ✓", "success: 0.9", 0.9, None, ()),
        ("coding", "Success: 75%\nEnergy: 0.2", 0.75, 0.2, ()),
        (
            "coding",
            "note: Tuesday mornings are my sweet spot\nnote: loud office",
            None,
            None,
            ("Tuesday mornings are my sweet spot", "loud office"),
        ),
        ("coding", "rating: 7/5\nenergy: lots", None, None, ()),  # out of range / unreadable
        ("abandoned", "", None, None, ()),  # "done" only as a word
    ],
)
def test_markers(
    summary: str,
    description: str,
    success: float | None,
    energy: float | None,
    notes: tuple[str, ...],
) -> None:
    outcome = parse_outcome(summary, description)
    assert (
        outcome.success == pytest.approx(success)
        if success is not None
        else outcome.success is None
    )
    assert outcome.energy == pytest.approx(energy) if energy is not None else outcome.energy is None
    assert outcome.notes == notes


# ---------------------------------------------------------------- completions


def test_finished_events_of_a_task_type_are_completions() -> None:
    events = [
        event("Coding session", 9, description="rating: 5/5\nenergy: 4/5\nnote: quiet morning"),
        event("Email triage", 11),
        event("Coding later", 17, hours=2),  # still running at 18:00? ends 19:00
        event("coding cancelled", 12, status=EventStatus.CANCELLED),
        event("coding declined", 13, declined=True),
        event("Lunch", 12),
        event("coding block", 14, suggestion_id="s1"),  # calsync's own: handled elsewhere
        Event("work", "allday", date(2026, 11, 23), date(2026, 11, 24), summary="coding day"),
    ]
    found = infer_completions(events, TASKS, NOW, default_success=0.75)
    assert [(c.task_type, c.start.hour, c.success) for c in found] == [
        ("Deep Coding", 9, 1.0),
        ("Email", 11, 0.75),
    ]
    assert found[0].energy_after == pytest.approx(0.8)
    assert found[0].notes == ("quiet morning",)
    assert found[0].key == "event:work:uid-Coding session-9:"


def test_recurring_instances_have_their_own_keys() -> None:
    a = event("coding", 9, uid="series", recurrence_id="2026-11-24T09:00:00+01:00")
    b = event("coding", 10, uid="series", recurrence_id="2026-11-24T10:00:00+01:00")
    keys = {c.key for c in infer_completions([a, b], TASKS, NOW, 0.75)}
    assert len(keys) == 2


# ---------------------------------------------------------------- calsync's own blocks

SUGGESTED = KnownSuggestion(
    "s1",
    "Deep Coding",
    datetime(2026, 11, 25, 9, tzinfo=BERLIN),
    datetime(2026, 11, 25, 11, tzinfo=BERLIN),
)


def owned(start: datetime, hours: int = 2, **kw: object) -> Event:
    return Event(
        "work",
        "calsync-s1",
        start,
        start + timedelta(hours=hours),
        summary="⧗ Deep Coding",
        suggestion_id="s1",
        **kw,
    )  # type: ignore[arg-type]


def test_deleted_before_start_is_a_skip() -> None:
    outcomes = infer_suggestion_outcomes([SUGGESTED], [], NOW, 0.75)
    assert [(o.key, o.success, o.start) for o in outcomes] == [
        ("suggestion:s1:skip", 0.0, SUGGESTED.start)
    ]
    cancelled = owned(SUGGESTED.start, status=EventStatus.CANCELLED)
    assert infer_suggestion_outcomes([SUGGESTED], [cancelled], NOW, 0.75) == outcomes


def test_deleted_after_it_started_teaches_nothing() -> None:
    later = NOW + timedelta(days=2)
    assert infer_suggestion_outcomes([SUGGESTED], [], later, 0.75) == []


def test_kept_and_passed_is_a_completion() -> None:
    later = SUGGESTED.end + timedelta(minutes=1)
    assert infer_suggestion_outcomes([SUGGESTED], [owned(SUGGESTED.start)], NOW, 0.75) == []
    outcomes = infer_suggestion_outcomes([SUGGESTED], [owned(SUGGESTED.start)], later, 0.75)
    assert [(o.key, o.success) for o in outcomes] == [("suggestion:s1:done", 0.75)]


def test_moved_skips_the_old_slot_and_counts_the_new_one_when_it_passes() -> None:
    moved_to = datetime(2026, 11, 26, 14, tzinfo=BERLIN)
    before = infer_suggestion_outcomes([SUGGESTED], [owned(moved_to)], NOW, 0.75)
    assert [(o.key, o.start) for o in before] == [("suggestion:s1:skip", SUGGESTED.start)]
    after = infer_suggestion_outcomes(
        [SUGGESTED], [owned(moved_to)], moved_to + timedelta(hours=3), 0.75
    )
    assert [(o.key, o.start, o.success) for o in after] == [
        ("suggestion:s1:skip", SUGGESTED.start, 0.0),
        ("suggestion:s1:done", moved_to, 0.75),
    ]


# ---------------------------------------------------------------- free time


def test_free_periods_subtract_busy_events_with_buffers() -> None:
    day = Period(
        datetime(2026, 11, 24, 8, tzinfo=BERLIN), datetime(2026, 11, 24, 18, tzinfo=BERLIN)
    )
    events = [
        event("Standup", 9, hours=0.5),
        event("Focus (free)", 11, transparency=Transparency.TRANSPARENT),
        event("Cancelled", 13, status=EventStatus.CANCELLED),
        event("Declined", 14, declined=True),
        event("Review", 16, hours=3),
        event("calsync block", 12, suggestion_id="s9"),
    ]
    free = free_periods([day], events, timedelta(minutes=10), BERLIN)
    assert [
        (p.start.astimezone(BERLIN).strftime("%H:%M"), p.end.astimezone(BERLIN).strftime("%H:%M"))
        for p in free
    ] == [
        ("08:00", "08:50"),
        ("09:40", "15:50"),
    ]


def test_all_day_events_block_only_when_marked_busy() -> None:
    day = Period(
        datetime(2026, 11, 24, 8, tzinfo=BERLIN), datetime(2026, 11, 24, 18, tzinfo=BERLIN)
    )
    holiday = Event("work", "h", date(2026, 11, 24), date(2026, 11, 25), summary="Holiday")
    assert free_periods([day], [holiday], timedelta(0), BERLIN) == [day]
    busy = Event(
        "work",
        "v",
        date(2026, 11, 24),
        date(2026, 11, 25),
        summary="Vacation",
        transparency=Transparency.OPAQUE,
    )
    assert free_periods([day], [busy], timedelta(0), BERLIN) == []
    # The busy all-day event covers the local day, not the UTC one.
    (block,) = busy_periods([busy], timedelta(0), BERLIN)
    assert block.start == datetime(2026, 11, 23, 23, tzinfo=UTC)


def test_subtract_merges_sources_and_handles_edges() -> None:
    base = datetime(2026, 11, 24, 8, tzinfo=UTC)
    allowed = [
        Period(base, base + timedelta(hours=4)),
        Period(base + timedelta(hours=3), base + timedelta(hours=6)),
    ]
    busy = [
        Period(base - timedelta(hours=1), base + timedelta(hours=1)),
        Period(base + timedelta(hours=5), base + timedelta(hours=7)),
    ]
    assert subtract_periods(allowed, busy) == [
        Period(base + timedelta(hours=1), base + timedelta(hours=5))
    ]
    assert subtract_periods(allowed, []) == [Period(base, base + timedelta(hours=6))]
