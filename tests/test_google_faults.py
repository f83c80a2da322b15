"""The Google fault matrix: every fault kind at several points of a real write-back cycle.

A cycle writes 40 blocks into the loopback Calendar v3 server (driven by the
real google-api-python-client, a real SQLite file); then the user deletes
three and moves two, and a block of calsync's own installation that the
database does not know (a write cut short) waits to be removed. Each case
arms one fault (:data:`tests.fake_google.FAULT_KINDS`) at one point of one
of those two cycles, lets the cycle end however it ends — never with
anything but a :class:`~calsync.errors.CalsyncError`, caught by the cycle —
and then runs healthy cycles. After recovery, in every case:

* 0 duplicates: no suggestion id and no (title, start) twice in the calendar;
* 0 lost: every block calsync counts as live is in the calendar, at its
  time; every block of this installation in the calendar is one calsync
  counts; the user's moved blocks stay where the user put them; the plan
  holds as many blocks as the same scenario without a fault;
* 0 foreign writes: no write request to the user's event, another
  installation's block or a malformed one, all three byte-identical;
* 0 false skips: the skips learned are exactly the user's deletions and moves;
* in sync within 2 healthy cycles (the third writes nothing).

The case count and the results are printed (``pytest -s``) and asserted.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from calsync.clock import FixedClock
from calsync.config import Config, parse_config
from calsync.service import Calsync
from calsync.service import open as open_calsync
from calsync.targets.google import GoogleTarget
from calsync.writeback import CycleReport, run_cycle

from .fake_google import FAULT_KINDS, FakeGoogle
from .test_sources_google import credentials

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 23, 7, tzinfo=BERLIN)
OTHER_INSTALLATION = "0ther1nstallat10"
FOREIGN_IDS = ("dentist", "csotherinstallation0001", "csmalformed0001")
WRITES = ("POST", "PATCH", "PUT", "DELETE")
LIST_ONLY = ("empty_list", "partial_list")
#: (phase, operation, nth): where a fault is armed. ``create``: the first
#: cycle, writing 40 blocks into an empty calendar; ``edit``: the cycle after
#: the user's deletions and moves.
POSITIONS = (
    ("create", "list", 1),
    ("create", "insert", 1),
    ("create", "insert", 20),
    ("edit", "list", 1),
    ("edit", "get", 1),  # confirming that a block missing from the listing is gone
    ("edit", "delete", 1),  # removing the cut-short write
)
CASES = [
    (kind, position)
    for kind in FAULT_KINDS
    for position in POSITIONS
    if kind not in LIST_ONLY or position[1] == "list"
]


def task(name: str, minutes: int) -> dict[str, Any]:
    return {
        "name": name,
        "keywords": [name.lower()],
        "block_minutes": minutes,
        "weekly_target": {"sessions": 10},
        "max_per_day": 2,
        "windows": [{"days": ["all"], "start": "07:00", "end": "22:00"}],
    }


def config() -> Config:
    return parse_config(
        {
            "user": {"timezone": "Europe/Berlin"},
            "planning": {"max_suggested_minutes_per_day": 600},
            "task_types": [
                task("Coding", 60),
                task("Email", 30),
                task("Reading", 45),
                task("Sport", 30),
            ],
        }
    )


def make_target(fake: FakeGoogle, clock: FixedClock) -> GoogleTarget:
    return GoogleTarget(
        "google",
        credentials(fake),
        "primary",
        clock,
        api_endpoint=fake.api_endpoint,
        timeout=1.0,
        retries=1,
        sleep=lambda _s: None,
    )


def add_foreign(fake: FakeGoogle) -> None:
    """The user's event, another installation's block, a block with a malformed marker."""

    def at(hour: int) -> dict[str, Any]:
        return {
            "start": {"dateTime": MONDAY.replace(hour=hour).isoformat()},
            "end": {"dateTime": MONDAY.replace(hour=hour + 1).isoformat()},
        }

    fake.put("primary", {"id": "dentist", "summary": "Dentist", **at(11)})
    private = {
        "calsync": "1",
        "calsync_id": FOREIGN_IDS[1],
        "calsyncInstallation": OTHER_INSTALLATION,
    }
    fake.put(
        "primary",
        {
            "id": FOREIGN_IDS[1],
            "summary": "⧗ Coding",
            "extendedProperties": {"private": private},
            **at(15),
        },
    )
    fake.put(
        "primary",
        {
            "id": FOREIGN_IDS[2],
            "summary": "⧗ Email",
            "extendedProperties": {"private": {"calsync": "1", "calsync_id": ""}},
            **at(17),
        },
    )


@dataclass
class Baseline:
    """The state after a healthy first cycle, copied into every ``edit`` case."""

    db: Path
    calendars: dict[str, Any]
    installation: str
    foreign: dict[str, Any]


def ours(fake: FakeGoogle, installation: str) -> list[dict[str, Any]]:
    return [
        e
        for e in fake.calendars["primary"].values()
        if e.get("status") != "cancelled"
        and (e.get("extendedProperties") or {}).get("private", {}).get("calsyncInstallation")
        == installation
    ]


def user_edits(fake: FakeGoogle, installation: str, now: datetime) -> tuple[set[str], dict]:
    """Three deletions and two moves of blocks ahead, and one cut-short write of ours."""
    ahead = sorted(
        (
            e
            for e in ours(fake, installation)
            if datetime.fromisoformat(e["start"]["dateTime"]) > now + timedelta(days=1)
        ),
        key=lambda e: e["id"],
    )
    deleted = {e["id"] for e in ahead[:3]}
    for event_id in deleted:
        fake.remove("primary", event_id)
    moved = {}
    for event in ahead[3:5]:
        start = datetime.fromisoformat(event["start"]["dateTime"]) + timedelta(hours=1)
        end = datetime.fromisoformat(event["end"]["dateTime"]) + timedelta(hours=1)
        fake.put(
            "primary",
            {
                **event,
                "start": {"dateTime": start.isoformat()},
                "end": {"dateTime": end.isoformat()},
            },
        )
        moved[event["id"]] = (start, end)
    orphan = dict(ahead[5], id="cs0rphan0f0urs00000000000000000", summary="⧗ Coding (cut short)")
    orphan["extendedProperties"] = {
        "private": {"calsync": "1", "calsync_id": orphan["id"], "calsyncInstallation": installation}
    }
    orphan["start"] = {"dateTime": (now + timedelta(days=3, hours=2)).isoformat()}
    orphan["end"] = {"dateTime": (now + timedelta(days=3, hours=3)).isoformat()}
    fake.put("primary", orphan)
    return deleted, moved


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Baseline]:
    root = tmp_path_factory.mktemp("baseline")
    fake = FakeGoogle()
    clock = FixedClock(MONDAY)
    add_foreign(fake)
    foreign = {i: json.dumps(fake.calendars["primary"][i], sort_keys=True) for i in FOREIGN_IDS}
    with open_calsync(config(), store_url=f"sqlite:///{root / 'c.db'}", clock=clock) as cs:
        report = run_cycle(cs, make_target(fake, clock))
        assert report.error is None
        assert len(report.plan) == 40
        with cs.store.read() as tx:
            installation = tx.installation_id()
    yield Baseline(root / "c.db", fake.snapshot(), installation, foreign)
    fake.close()


@dataclass
class Outcome:
    """What one case found after recovery."""

    fired: int
    duplicates: int
    lost: int
    foreign_writes: int
    false_skips: int
    cycles_to_converge: int
    plan_size: int
    #: The exception that escaped the faulted cycle (must be none).
    crashed: str | None = None
    #: The faulted cycle's error (a CalsyncError it stopped on), if any.
    stopped: str | None = None


def run_case(
    kind: str | None, position: tuple[str, str, int], baseline: Baseline, root: Path
) -> Outcome:
    phase, operation, nth = position
    fake = FakeGoogle()
    clock = FixedClock(MONDAY)
    db = root / "c.db"
    deleted: set[str] = set()
    moved: dict[str, tuple[datetime, datetime]] = {}
    if phase == "create":
        add_foreign(fake)
    else:
        shutil.copyfile(baseline.db, db)
        fake.restore(baseline.calendars)
        clock.advance(timedelta(hours=2))
        deleted, moved = user_edits(fake, baseline.installation, clock.now())
    try:
        with open_calsync(config(), store_url=f"sqlite:///{db}", clock=clock) as cs:
            target = make_target(fake, clock)
            fault = fake.inject(kind, operation, nth) if kind else None
            crashed = stopped = None
            try:
                # The faulted cycle: it may stop (report.error), but never crash.
                stopped = run_cycle(cs, target).error
            except Exception as err:
                crashed = f"{type(err).__name__}: {err}"
            fake.clear_faults()
            reports: list[CycleReport] = []
            for _ in range(3):
                reports.append(run_cycle(cs, target))
            converged = next(
                (i for i, r in enumerate(reports) if not r.actions and r.error is None), 99
            )
            outcome = check(cs, fake, baseline, deleted, moved, reports[-1], fault, converged)
            outcome.crashed, outcome.stopped = crashed, stopped
            return outcome
    finally:
        fake.close()


def check(
    cs: Calsync,
    fake: FakeGoogle,
    baseline: Baseline,
    deleted: set[str],
    moved: dict[str, tuple[datetime, datetime]],
    final: CycleReport,
    fault: Any,
    converged: int,
) -> Outcome:
    with cs.store.read() as tx:
        installation = tx.installation_id()
        rows = tx.suggestions("me", "google")
        skips = {
            r.id
            for r in rows
            if (u := tx.find_update(f"suggestion:{r.id}:skip")) is not None and u.success == 0.0
        }
    events = ours(fake, installation)
    by_id = {e["id"]: e for e in events}
    slots = Counter((e["summary"], e["start"]["dateTime"]) for e in events)
    duplicates = sum(n - 1 for n in slots.values()) + len(events) - len(by_id)
    lost = 0
    live = {r.id: r for r in rows if r.status in ("active", "user_moved")}
    for row in live.values():
        event = by_id.get(row.id)
        if event is None or datetime.fromisoformat(event["start"]["dateTime"]) != row.start:
            lost += 1
    counted = {r.id for r in rows if r.status in ("active", "user_moved", "done")}
    lost += len(set(by_id) - counted)  # blocks of ours calsync no longer accounts for
    for event_id, (start, _end) in moved.items():
        event = by_id.get(event_id)
        lost += event is None or datetime.fromisoformat(event["start"]["dateTime"]) != start
    foreign_writes = sum(
        1
        for r in fake.api_requests()
        if r["method"] in WRITES and r["path"].rsplit("/", 1)[-1] in FOREIGN_IDS
    )
    foreign_writes += sum(
        json.dumps(fake.calendars["primary"].get(i), sort_keys=True) != baseline.foreign[i]
        for i in FOREIGN_IDS
    )
    false_skips = len(skips ^ (deleted | set(moved)))
    return Outcome(
        fired=fault.fired if fault is not None else 0,
        duplicates=duplicates,
        lost=lost,
        foreign_writes=foreign_writes,
        false_skips=false_skips,
        cycles_to_converge=converged,
        plan_size=len(final.plan),
    )


@pytest.fixture(scope="module")
def reference(baseline: Baseline, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """The final plan size of each phase without any fault."""
    sizes = {}
    for phase in ("create", "edit"):
        outcome = run_case(None, (phase, "list", 1), baseline, tmp_path_factory.mktemp(phase))
        assert outcome.crashed is None
        sizes[phase] = outcome.plan_size
    return sizes


def test_the_fault_matrix(
    baseline: Baseline,
    reference: dict[str, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert len(FAULT_KINDS) >= 15
    results: list[tuple[str, tuple[str, str, int], Outcome]] = []
    for index, (kind, position) in enumerate(CASES):
        root = tmp_path / f"case{index}"
        root.mkdir()
        results.append((kind, position, run_case(kind, position, baseline, root)))
    failures = [
        (kind, position, o)
        for kind, position, o in results
        if o.crashed
        or o.fired == 0
        or o.duplicates
        or o.lost
        or o.foreign_writes
        or o.false_skips
        or o.cycles_to_converge > 2
        or o.plan_size != reference[position[0]]
    ]
    worst = max(o.cycles_to_converge for _, _, o in results)
    with capsys.disabled():
        print(
            f"\nGoogle fault matrix: {len(results)} cases ({len(FAULT_KINDS)} fault kinds at up to "
            f"{len(POSITIONS)} positions); duplicates {sum(o.duplicates for *_, o in results)}, "
            f"lost {sum(o.lost for *_, o in results)}, "
            f"foreign writes {sum(o.foreign_writes for *_, o in results)}, "
            f"false skips {sum(o.false_skips for *_, o in results)}, crashes "
            f"{sum(bool(o.crashed) for *_, o in results)}; faulted cycles that stopped on a "
            f"CalsyncError {sum(bool(o.stopped) for *_, o in results)}, that absorbed the fault "
            f"{sum(not o.stopped for *_, o in results)}; healthy cycles that still wrote "
            f"after a fault: at most {worst}; failures {len(failures)}"
        )
        for failure in failures:
            print("  FAILED", failure)
    assert failures == []
    assert len(results) >= 15 * 4
