"""The bundled sample calendar (rendered around any day) and the PNG heatmap."""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import numpy as np
import pytest
import recurring_ical_events

from calsync.clock import FixedClock
from calsync.config import Config, embedded_default
from calsync.errors import InputError
from calsync.inference import free_periods, match_task_type
from calsync.ingest import sync_source
from calsync.learning.windows import allowed_periods
from calsync.model import Event
from calsync.plot import heatmap_png
from calsync.sample import (
    ANCHOR_PROPERTY,
    PAST_ONLY_PROPERTY,
    sample_calendar,
    template_path,
    template_text,
    write_sample_calendar,
)
from calsync.service import open as open_calsync
from calsync.sources.ics import IcsSource

BERLIN = ZoneInfo("Europe/Berlin")
REPO = Path(__file__).resolve().parent.parent
TUESDAY_NOTE = "Tuesday mornings are my sweet spot"
FRIDAY_NOTE = "I crash after lunch on Fridays"

#: Moments the sample is rendered for: two weeks with a DST change in their
#: history (Oct 25 and Mar 29, 2026), a Monday just after midnight (nothing of
#: the last template week is dropped), a Sunday night (six days are) and a
#: date years away.
NOWS = [
    datetime(2026, 10, 27, 12, 0, tzinfo=BERLIN),
    datetime(2026, 3, 31, 8, 0, tzinfo=BERLIN),
    datetime(2026, 11, 30, 0, 30, tzinfo=BERLIN),
    datetime(2026, 11, 29, 23, 30, tzinfo=BERLIN),
    datetime(2031, 7, 16, 18, 45, tzinfo=BERLIN),
]
DST_NOWS = NOWS[:2]


def _ids(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _config(zone: str) -> Config:
    base = embedded_default()
    return base.model_copy(update={"user": base.user.model_copy(update={"timezone": zone})})


def _expand(body: bytes, now: datetime, tz: ZoneInfo) -> list[Event]:
    """What calsync's ICS source sees in its default window (60 days back, 14 ahead)."""
    return IcsSource("sample", tz, FixedClock(now), path=Path("unused.ics")).parse(body)


def _single_starts(body: bytes) -> dict[str, date | datetime]:
    """DTSTART of every non-recurring VEVENT, by UID."""
    calendar = icalendar.Calendar.from_ical(body)
    return {
        str(c["UID"]): c.decoded("DTSTART")
        for c in calendar.walk("VEVENT")
        if "RRULE" not in c and "RECURRENCE-ID" not in c
    }


def _history(events: list[Event]) -> list[Event]:
    """The person's task events (what calsync learns from)."""
    tasks = embedded_default().task_types
    return [e for e in events if match_task_type(e, tasks) is not None]


# --------------------------------------------------------------------------- the template


def test_the_shipped_template_is_what_the_generator_writes() -> None:
    script = REPO / "benchmarks" / "make_sample_calendar.py"
    spec = importlib.util.spec_from_file_location("make_sample_calendar", script)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = template_path().read_bytes()
    assert module.build() == shipped, "run python benchmarks/make_sample_calendar.py"
    assert module.build(seed=1) != shipped  # the seed matters, so the check above means something
    assert ANCHOR_PROPERTY in template_text()


# --------------------------------------------------------------------------- rendering


@pytest.mark.parametrize("now", NOWS, ids=_ids)
def test_the_sample_parses_and_expands_around_now(now: datetime) -> None:
    body = sample_calendar(now, BERLIN)
    calendar = icalendar.Calendar.from_ical(body)
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert PAST_ONLY_PROPERTY.encode() not in body
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    occurrences = recurring_ical_events.of(calendar).between(
        now - timedelta(days=60), now + timedelta(days=14)
    )
    summaries = {str(o["SUMMARY"]) for o in occurrences}
    assert {"Team standup", "Team standup (moved)", "1:1 with Anna", "Sprint planning"} <= summaries
    assert {"Team offsite", "Anna's birthday", "Working from Hamburg"} <= summaries
    assert len(occurrences) >= 140


@pytest.mark.parametrize("now", NOWS, ids=_ids)
def test_history_ends_before_now_and_meetings_go_on(now: datetime) -> None:
    events = _expand(sample_calendar(now, BERLIN), now, BERLIN)
    today = now.astimezone(BERLIN).date()
    history = _history(events)
    assert len(history) >= 75
    assert all(isinstance(e.end, datetime) and e.end <= now for e in history)
    days = sorted({e.start.astimezone(BERLIN).date() for e in history})  # type: ignore[union-attr]
    assert today - timedelta(days=3) <= days[-1] < today  # up to the last full day or so
    assert today - timedelta(days=49) <= days[0] <= today - timedelta(days=42)  # 6–7 weeks

    coming = [
        e
        for e in events
        if isinstance(e.start, datetime) and now < e.start <= now + timedelta(days=7)
    ]
    assert sum(e.summary == "Team standup" for e in coming) >= 4
    assert any(e.uid.startswith("meeting-") for e in coming)  # a one-off meeting, too
    assert not _history(coming)


@pytest.mark.parametrize("now", NOWS, ids=_ids)
def test_weekdays_and_wall_clock_times_are_kept(now: datetime) -> None:
    template = _single_starts(template_path().read_bytes())
    rendered = _single_starts(sample_calendar(now, BERLIN))
    assert len(rendered) >= 80
    assert rendered.keys() <= template.keys()
    for uid, start in rendered.items():
        before = template[uid]
        assert type(start) is type(before)
        if isinstance(start, datetime):
            assert isinstance(before, datetime)
            assert start.time() == before.time()
            # The offset is Berlin's on that day: DST is read, not copied.
            assert start.utcoffset() == start.replace(tzinfo=BERLIN).utcoffset()
            start, before = start.date(), before.date()
        assert start.weekday() == before.weekday()
        assert (start - before).days % 7 == 0


@pytest.mark.parametrize("now", DST_NOWS, ids=_ids)
def test_history_across_a_dst_change_stays_on_the_local_clock(now: datetime) -> None:
    history = _history(_expand(sample_calendar(now, BERLIN), now, BERLIN))
    starts = [e.start.astimezone(BERLIN) for e in history]  # type: ignore[union-attr]
    # The history straddles the change: both offsets occur…
    assert {s.utcoffset() for s in starts} == {timedelta(hours=1), timedelta(hours=2)}
    # …and every kind of task keeps its wall-clock time on both sides of it.
    for prefix, clock_time in (
        ("Deep work", time(10)),
        ("Coding:", time(14)),
        ("Gym (evening)", time(19)),
        ("Inbox zero", time(8, 30)),
    ):
        times = {
            s.time() for e, s in zip(history, starts, strict=True) if e.summary.startswith(prefix)
        }
        assert times == {clock_time}, prefix
    early = [s for e, s in zip(history, starts, strict=True) if e.summary in ("Gym", "Morning run")]
    assert {s.time() for s in early} == {time(6, 30)}
    assert {s.utcoffset() for s in early} == {timedelta(hours=1), timedelta(hours=2)}


def test_the_same_day_renders_the_same_bytes_and_uids_survive_a_week() -> None:
    morning = datetime(2026, 10, 27, 0, 5, tzinfo=BERLIN)
    evening = datetime(2026, 10, 27, 23, 55, tzinfo=BERLIN)
    assert sample_calendar(morning, BERLIN) == sample_calendar(evening, BERLIN)
    assert sample_calendar(morning.astimezone(UTC), BERLIN) == sample_calendar(morning, BERLIN)
    later = sample_calendar(morning + timedelta(weeks=1), BERLIN)
    assert later != sample_calendar(morning, BERLIN)
    assert _single_starts(later).keys() == _single_starts(sample_calendar(morning, BERLIN)).keys()


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_another_zone_relabels_every_time(zone: str) -> None:
    tz = ZoneInfo(zone)
    now = datetime(2026, 10, 27, 12, tzinfo=tz)
    body = sample_calendar(now, tz)
    assert b"Europe/Berlin" not in body
    calendar = icalendar.Calendar.from_ical(body)
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == [zone]
    history = _history(_expand(body, now, tz))
    deep = [e for e in history if e.summary.startswith("Deep work")]
    assert {e.start.astimezone(tz).time() for e in deep} == {time(10)}  # type: ignore[union-attr]


def test_a_fixed_utc_zone_works_and_other_fixed_offsets_are_refused() -> None:
    now = datetime(2026, 10, 27, 12, tzinfo=UTC)
    assert sample_calendar(now, UTC) == sample_calendar(now, ZoneInfo("UTC"))
    with pytest.raises(InputError, match="IANA"):
        sample_calendar(now, timezone(timedelta(hours=2)))
    with pytest.raises(InputError, match="timezone-aware"):
        sample_calendar(datetime(2026, 10, 27, 12), BERLIN)  # noqa: DTZ001 - on purpose


def test_write_sample_calendar_is_atomic_and_idempotent(tmp_path: Path) -> None:
    now = datetime(2026, 10, 27, 12, tzinfo=BERLIN)
    path = tmp_path / "state" / "deeper" / "sample.ics"
    assert write_sample_calendar(path, now, BERLIN) == path
    assert path.read_bytes() == sample_calendar(now, BERLIN)
    assert sorted(p.name for p in path.parent.iterdir()) == ["sample.ics"]
    os.utime(path, ns=(10**18, 10**18))  # marks that a rewrite would not keep
    inode = path.stat().st_ino
    write_sample_calendar(path, now + timedelta(hours=1), BERLIN)
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (inode, 10**18)  # same bytes: kept
    write_sample_calendar(path, now + timedelta(weeks=1), BERLIN)
    assert path.read_bytes() == sample_calendar(now + timedelta(weeks=1), BERLIN)
    assert sorted(p.name for p in path.parent.iterdir()) == ["sample.ics"]


def test_write_sample_calendar_reports_an_unwritable_path(tmp_path: Path) -> None:
    target = tmp_path / "sample.ics"
    target.mkdir()  # a directory where the file should go
    with pytest.raises(InputError, match="cannot write the sample calendar"):
        write_sample_calendar(target, datetime(2026, 10, 27, 12, tzinfo=BERLIN), BERLIN)
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind
    assert list(target.iterdir()) == []


# --------------------------------------------------------------------------- learning


@pytest.mark.parametrize(
    ("now", "zone"),
    [(DST_NOWS[0], "Europe/Berlin"), (DST_NOWS[1], "Europe/Berlin"), (DST_NOWS[0], "UTC")],
    ids=["2026-10-27-berlin", "2026-03-31-berlin", "2026-10-27-utc"],
)
def test_the_real_pipeline_learns_the_hidden_pattern(
    tmp_path: Path, now: datetime, zone: str
) -> None:
    tz = ZoneInfo(zone)
    now = now.replace(tzinfo=tz)
    clock = FixedClock(now)
    path = write_sample_calendar(tmp_path / "sample.ics", now, tz)
    source = IcsSource("sample", tz, clock, path=path)
    store_url = f"sqlite:///{tmp_path / 'calsync.db'}"
    with open_calsync(_config(zone), store_url=store_url, clock=clock) as cs:
        report = sync_source(cs, source)
        assert report.ok
        assert report.learned >= 60
        assert report.insights == 2

        progress = cs.progress()
        assert progress.total_completions == report.learned
        assert progress.maturity == "mature"
        tasks = {t.task_type: t for t in progress.tasks}

        deep = tasks["Deep Coding"]
        assert deep.completion_count >= 20
        assert deep.best_day in ("Tuesday", "Thursday")
        assert deep.peak_slots[0] in ("Tuesday 10:00", "Thursday 10:00")
        assert set(deep.peak_slots[:2]) == {"Tuesday 10:00", "Thursday 10:00"}
        assert deep.peak_values[0] >= 0.7
        habit = cs.habit("Deep Coding").grid()
        assert habit[1, 14] < 0.4  # Monday afternoon coding
        assert habit[5, 14] < 0.45  # Friday afternoon coding

        exercise = tasks["Exercise"]
        assert all(slot.endswith(("06:00", "09:00")) for slot in exercise.peak_slots)
        gym = cs.habit("Exercise").grid()
        assert gym[2, 19] < 0.5  # evening gym went badly
        assert gym[4, 19] < 0.5
        assert tasks["Email"].peak_slots[0].endswith("08:00")
        assert cs.energy().grid()[2, 10] > 0.6  # energised after Tuesday deep work

        with cs.store.read() as tx:
            notes = [i.text for i in tx.insights("me")]
        assert sorted(notes) == sorted([TUESDAY_NOTE, FRIDAY_NOTE])

        # What calsync would suggest next week is where it learned the peak.
        events = source.parse(path.read_bytes())
        start = now + timedelta(hours=1)
        task = cs.task_type("Deep Coding")
        allowed = allowed_periods(
            [w.window() for w in task.windows], start, start + timedelta(days=7), tz
        )
        choice = cs.find_optimal_slot(
            task.name, None, free_periods(allowed, events, timedelta(minutes=10), tz)
        )
        assert choice is not None
        local = choice.start.astimezone(tz)
        assert local.strftime("%A %H:%M") in ("Tuesday 10:00", "Thursday 10:00")

        assert sync_source(cs, source).learned == 0  # the same file teaches nothing twice


# --------------------------------------------------------------------------- the PNG

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_heatmap_png_draws_a_readable_week(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    values = np.full(168, 0.5)
    values[2 * 24 + 10] = 0.8  # Tuesday 10:00
    values[5 * 24 + 14] = 0.3  # Friday 14:00
    path = tmp_path / "plots" / "deep.png"
    assert heatmap_png(values, path, "Deep Coding") == path
    data = path.read_bytes()
    width, height = _png_size(data)
    assert 800 <= width <= 2000
    assert 300 <= height <= 1000
    assert width > height  # a week is wider than tall
    assert len(data) > 10_000
    assert sorted(p.name for p in path.parent.iterdir()) == ["deep.png"]

    # A 7 × 24 grid, a flat (nothing learned) array and another neutral work too.
    flat = heatmap_png(np.full((7, 24), 0.5), tmp_path / "flat.png", "nothing yet")
    _png_size(flat.read_bytes())
    other = heatmap_png(values, tmp_path / "other.png", "Deep Coding", neutral=0.4)
    assert other.read_bytes() != data


@pytest.mark.parametrize(
    ("values", "message"),
    [(np.zeros(167), "168 slots"), (np.full(168, np.nan), "finite")],
    ids=["wrong-size", "nan"],
)
def test_heatmap_png_refuses_bad_arrays(tmp_path: Path, values: np.ndarray, message: str) -> None:
    pytest.importorskip("matplotlib")
    with pytest.raises(InputError, match=message):
        heatmap_png(values, tmp_path / "bad.png", "bad")
    assert not (tmp_path / "bad.png").exists()


def test_heatmap_png_without_matplotlib_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes an import fail; submodules imported by earlier
    # tests are hidden as well, or the import would find them.
    for name in [n for n in sys.modules if n == "matplotlib" or n.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(InputError, match=r"pip install 'calsync\[plot\]'"):
        heatmap_png(np.full(168, 0.5), tmp_path / "x.png", "x")
    assert not (tmp_path / "x.png").exists()


def test_heatmap_png_reports_an_unwritable_path(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(InputError, match="cannot write"):
        heatmap_png(np.full(168, 0.5), blocker / "deep.png", "Deep Coding")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-directory"]


@pytest.mark.parametrize(("week_start", "top"), [("monday", 1), ("sunday", 0)])
def test_heatmap_png_starts_the_week_as_configured(
    tmp_path: Path, week_start: str, top: int
) -> None:
    """Monday first by default (the weekly targets' order), Sunday first on request."""
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    values = np.full(168, 0.5)
    values[top * 24 : top * 24 + 24] = 0.9  # the day that must be the top row: all green
    values[((top + 6) % 7) * 24 : ((top + 6) % 7) * 24 + 24] = 0.1  # the bottom row: all red
    path = heatmap_png(values, tmp_path / "week.png", "x", week_start=week_start)
    pixels = imread(path)[:, :, :3]
    # The grid's cells: rows where most pixels are strongly green or strongly red.
    r, g = pixels[:, :, 0], pixels[:, :, 1]
    green, red = g > r + 0.25, r > g + 0.25
    green_rows = np.nonzero(green.sum(axis=1) > pixels.shape[1] * 0.4)[0]
    red_rows = np.nonzero(red.sum(axis=1) > pixels.shape[1] * 0.4)[0]
    assert green_rows.size
    assert red_rows.size
    assert green_rows.max() < red_rows.min()  # that day on top, the day before it at the bottom
