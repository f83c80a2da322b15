"""Generate ``calsync/data/sample.ics``, the template of the bundled sample calendar.

The sample is a made-up person in Europe/Berlin with seven weeks of history
before a Monday anchor (``X-CALSYNC-SAMPLE-ANCHOR``) and meetings that go on
after it. :func:`calsync.sample.sample_calendar` shifts the template by whole
weeks around "now" when it is loaded; this script only writes the template.

The hidden pattern calsync should learn:

* **Deep work** ("Deep work: <topic>") on Tuesday and Thursday 10:00–12:00,
  straight after the 09:30 standup, rated 4–5/5 with high energy; coding
  sessions on Monday and Friday afternoons (14:00–16:00) rated 2/5 or
  "(skipped)"; now and then a Wednesday afternoon "Focus" rated 3/5.
* **Email** ("Inbox zero", "Email ✓") most weekday mornings at 08:30, a few
  Friday afternoon catch-ups rated 3/5.
* **Exercise**: gym or a run at 06:30 on Monday, Wednesday and Friday rated
  4–5/5, a long run on Saturday morning, a few evening gym sessions rated 2/5.
* Two ``note:`` lines: "Tuesday mornings are my sweet spot" and
  "I crash after lunch on Fridays".

Meetings: a weekday standup at 09:30 (RRULE, one EXDATE on the offsite day,
one instance moved), a weekly 1:1 on Wednesday 14:00 with one cancelled
instance, a fortnightly sprint planning, one-off meetings before and after the
anchor; all-day events (a busy offsite, a transparent birthday, a two-day
trip).

Run: ``python benchmarks/make_sample_calendar.py [--seed N] [--out PATH]``;
``--check`` exits 1 when the file on disk differs from what the script
generates (the test suite checks the same).
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar

from calsync.sample import (
    ANCHOR_PROPERTY,
    PAST_ONLY_PROPERTY,
    SAMPLE_TIMEZONE,
    template_path,
)

TZ = ZoneInfo(SAMPLE_TIMEZONE)
#: A Monday; the history is the seven weeks before it.
ANCHOR = date(2026, 6, 1)
HISTORY_WEEKS = 7
SEED = 20260601
DTSTAMP = datetime(2026, 6, 1, tzinfo=UTC)

#: Europe/Berlin with its rules (valid for every year since 1996), so any
#: consumer reads the right offsets whatever weeks the template is shifted to.
VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
X-LIC-LOCATION:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
"""

DEEP_TOPICS = [
    "payment retries",
    "query planner",
    "search indexing",
    "API pagination",
    "sync engine",
    "test harness",
    "migration tooling",
    "cache invalidation",
    "rate limiter",
    "import pipeline",
]
CODING_TOPICS = ["flaky tests", "dependency bumps", "bug triage", "CI cleanup", "small fixes"]

TUESDAY_NOTE = "Tuesday mornings are my sweet spot"
FRIDAY_NOTE = "I crash after lunch on Fridays"


class _Builder:
    """Collects VEVENTs with stable UIDs."""

    def __init__(self) -> None:
        self.events: list[icalendar.Event] = []
        self._counter = 0

    def _uid(self, kind: str) -> str:
        self._counter += 1
        return f"{kind}-{self._counter:03d}@sample.calsync"

    def timed(
        self,
        kind: str,
        summary: str,
        day: date,
        start: time,
        minutes: int,
        *,
        description: str | None = None,
        past_only: bool = False,
        uid: str | None = None,
    ) -> icalendar.Event:
        event = icalendar.Event()
        event.add("UID", uid or self._uid(kind))
        event.add("DTSTAMP", DTSTAMP)
        begin = datetime.combine(day, start, tzinfo=TZ)
        event.add("DTSTART", begin)
        # Wall-clock arithmetic (naive, then the zone): no event crosses midnight or DST.
        end = datetime.combine(day, start) + timedelta(minutes=minutes)
        event.add("DTEND", end.replace(tzinfo=TZ))
        event.add("SUMMARY", summary)
        if description:
            event.add("DESCRIPTION", description)
        if past_only:
            event.add(PAST_ONLY_PROPERTY, "TRUE")
        self.events.append(event)
        return event

    def all_day(self, summary: str, day: date, days: int, *, busy: bool) -> icalendar.Event:
        event = icalendar.Event()
        event.add("UID", self._uid("allday"))
        event.add("DTSTAMP", DTSTAMP)
        event.add("DTSTART", day)
        event.add("DTEND", day + timedelta(days=days))
        event.add("SUMMARY", summary)
        event.add("TRANSP", "OPAQUE" if busy else "TRANSPARENT")
        self.events.append(event)
        return event


def _rated(rating: int, energy: int | None = None, note: str | None = None) -> str:
    lines = [f"rating: {rating}/5"]
    if energy is not None:
        lines.append(f"energy: {energy}/5")
    if note:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _history(b: _Builder, rng: random.Random, first: date, offsite: date) -> None:
    """Seven weeks of what the person did, every event marked past-only."""
    deep = iter(rng.sample(DEEP_TOPICS, len(DEEP_TOPICS)) * 3)
    tuesday_note_week = 2
    friday_note_week = 3
    evening_gym_weeks = set(rng.sample(range(HISTORY_WEEKS), 3))
    for week in range(HISTORY_WEEKS):
        monday = first + timedelta(weeks=week)
        for weekday in range(7):
            day = monday + timedelta(days=weekday)
            if day == offsite:
                continue

            def task(
                summary: str, start: time, minutes: int, text: str | None = None, day: date = day
            ) -> None:
                b.timed("task", summary, day, start, minutes, description=text, past_only=True)

            # Exercise: early and good; evenings now and then, and poor.
            if weekday in (0, 2, 4) and rng.random() < 0.85:
                name = rng.choice(["Gym", "Morning run", "Gym"])
                task(name, time(6, 30), 60, _rated(rng.choice([4, 5, 5]), rng.choice([4, 5])))
            if weekday == 5 and rng.random() < 0.7:
                task("Long run", time(9), 75, _rated(5, 5))
            if weekday == 6 and rng.random() < 0.3:
                task("Yoga", time(10), 60, _rated(4, 4))
            if weekday in (1, 3) and week in evening_gym_weeks:
                task("Gym (evening)", time(19), 60, _rated(2, 2))

            if weekday >= 5:
                continue
            # Email: most mornings before the standup; Friday catch-ups in the afternoon.
            if weekday == 4 and rng.random() < 0.5:
                task("Email catch-up", time(16, 30), 30, _rated(3))
            elif rng.random() < 0.85:
                task(rng.choice(["Inbox zero", "Email", "Email ✓"]), time(8, 30), 30)
            # Deep work: Tuesday and Thursday mornings, after the standup.
            if weekday in (1, 3) and rng.random() < 0.9:
                note = TUESDAY_NOTE if (weekday, week) == (1, tuesday_note_week) else None
                text = _rated(rng.choice([4, 5, 5]), rng.choice([4, 4, 5]), note)
                task(f"Deep work: {next(deep)}", time(10), 120, text)
            # Coding on Monday and Friday afternoons: it rarely goes well.
            if weekday in (0, 4) and rng.random() < 0.85:
                topic = rng.choice(CODING_TOPICS)
                note = FRIDAY_NOTE if (weekday, week) == (4, friday_note_week) else None
                if note is None and rng.random() < 0.3:
                    task(f"Coding: {topic} (skipped)", time(14), 120)
                else:
                    task(f"Coding: {topic}", time(14), 120, _rated(2, 2, note))
            # Some Wednesday afternoons: a middling focus block.
            if weekday == 2 and rng.random() < 0.4:
                task("Focus: code review", time(15), 90, _rated(3, 3))


def _meetings(b: _Builder, first: date, offsite: date) -> None:
    """Recurring meetings (with an EXDATE, a moved and a cancelled instance) and one-offs."""
    standup = b.timed("standup", "Team standup", first, time(9, 30), 15)
    standup.add("RRULE", {"FREQ": "WEEKLY", "BYDAY": ["MO", "TU", "WE", "TH", "FR"]})
    standup.add("EXDATE", datetime.combine(offsite, time(9, 30), tzinfo=TZ))
    moved_from = first + timedelta(weeks=5, days=2)  # a Wednesday
    moved = b.timed(
        "standup",
        "Team standup (moved)",
        moved_from,
        time(11, 30),
        15,
        uid=str(standup["UID"]),
    )
    moved.add("RECURRENCE-ID", datetime.combine(moved_from, time(9, 30), tzinfo=TZ))

    one_on_one = b.timed("one-on-one", "1:1 with Anna", first + timedelta(days=2), time(14), 30)
    one_on_one.add("RRULE", {"FREQ": "WEEKLY", "BYDAY": ["WE"]})
    cancelled_day = first + timedelta(weeks=3, days=2)
    cancelled = b.timed(
        "one-on-one",
        "1:1 with Anna",
        cancelled_day,
        time(14),
        30,
        uid=str(one_on_one["UID"]),
    )
    cancelled.add("RECURRENCE-ID", datetime.combine(cancelled_day, time(14), tzinfo=TZ))
    cancelled.add("STATUS", "CANCELLED")

    planning = b.timed("planning", "Sprint planning", first, time(11), 60)
    planning.add("RRULE", {"FREQ": "WEEKLY", "INTERVAL": 2, "BYDAY": ["MO"]})

    # One-offs in the last week of history and the weeks after: rendered around
    # any day, some of them always fall into the coming seven days.
    for week, weekday, start, minutes, summary in (
        (-6, 2, time(15), 60, "Customer call: Acme"),
        (-3, 1, time(13), 60, "Architecture review"),
        (-1, 0, time(16), 45, "Hiring interview"),
        (-1, 3, time(15), 45, "Release retro"),
        (-1, 4, time(11), 30, "Budget check-in"),
        (0, 1, time(14), 60, "Design review: sync engine"),
        (0, 3, time(16), 60, "Dentist"),
        (1, 1, time(13), 120, "Quarterly planning"),
    ):
        day = ANCHOR + timedelta(weeks=week, days=weekday)
        b.timed("meeting", summary, day, start, minutes)

    b.all_day("Team offsite", offsite, 1, busy=True)
    b.all_day("Working from Hamburg", first + timedelta(weeks=5, days=3), 2, busy=False)
    b.all_day("Anna's birthday", ANCHOR + timedelta(days=2), 1, busy=False)


def build(seed: int = SEED) -> bytes:
    """The template's bytes for ``seed`` (the same seed gives the same bytes)."""
    rng = random.Random(seed)
    first = ANCHOR - timedelta(weeks=HISTORY_WEEKS)
    offsite = first + timedelta(weeks=3, days=2)  # a Wednesday
    b = _Builder()
    _meetings(b, first, offsite)
    _history(b, rng, first, offsite)

    calendar = icalendar.Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", "-//calsync//sample calendar template//EN")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("X-WR-CALNAME", "calsync sample")
    calendar.add(ANCHOR_PROPERTY, ANCHOR.strftime("%Y%m%d"))
    calendar.add_component(icalendar.Timezone.from_ical(VTIMEZONE))
    for event in b.events:
        calendar.add_component(event)
    return calendar.to_ical()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=template_path())
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the file differs, write nothing"
    )
    args = parser.parse_args()
    body = build(args.seed)
    if args.check:
        same = args.out.exists() and args.out.read_bytes() == body
        print(f"{args.out}: {'up to date' if same else 'OUT OF DATE'}")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(body)
    print(f"wrote {args.out} ({len(body)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
