"""The Google target against the loopback Calendar v3 server, through the real client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calsync.clock import FixedClock
from calsync.config import parse_config
from calsync.errors import TargetError, TargetOwnershipError
from calsync.service import Calsync
from calsync.service import open as open_calsync
from calsync.targets.base import BlockContent
from calsync.targets.factory import build_target
from calsync.targets.google import GoogleTarget
from calsync.writeback import purge, run_cycle

from .fake_google import FakeGoogle
from .test_sources_google import credentials
from .test_writeback import make_config, only_moves_of_others

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 23, 7, tzinfo=BERLIN)
WRITES = ("POST", "PATCH", "PUT", "DELETE")


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle()
    yield fake
    fake.close()


def make_target(fake: FakeGoogle, clock: FixedClock | None = None) -> GoogleTarget:
    return GoogleTarget(
        "google",
        credentials(fake),
        "primary",
        clock or FixedClock(MONDAY),
        api_endpoint=fake.api_endpoint,
        sleep=lambda _s: None,
    )


def content(sid: str = "cs0001", hour: int = 9) -> BlockContent:
    start = MONDAY.replace(hour=hour)
    return BlockContent(
        sid,
        "Deep Coding",
        start,
        start + timedelta(hours=1),
        "⧗ Deep Coding",
        "why here",
        color="9",
        transparent=True,
    )


def writes(fake: FakeGoogle) -> list[tuple[str, str]]:
    return [
        (r["method"], r["path"].rsplit("/", 1)[-1])
        for r in fake.api_requests()
        if r["method"] in WRITES
    ]


def foreign(fake: FakeGoogle, event_id: str = "dentist") -> dict:
    return fake.put(
        "primary",
        {
            "id": event_id,
            "summary": "Dentist",
            "start": {"dateTime": MONDAY.replace(hour=11).isoformat()},
            "end": {"dateTime": MONDAY.replace(hour=12).isoformat()},
        },
    )


def test_create_list_update_delete(google: FakeGoogle) -> None:
    target = make_target(google)
    assert target.create(content()) == "cs0001"
    body = json.loads(google.api_requests("POST")[0]["body"])
    assert body["status"] == "tentative"
    assert body["transparency"] == "transparent"
    assert body["colorId"] == "9"
    assert body["reminders"] == {"useDefault": False, "overrides": []}
    assert body["extendedProperties"] == {"private": {"calsync": "1", "calsync_id": "cs0001"}}
    assert "attendees" not in body
    assert google.api_requests("POST")[0]["query"]["sendUpdates"] == "none"
    (owned,) = target.list_owned()
    assert (owned.suggestion_id, owned.start) == ("cs0001", MONDAY.replace(hour=9))
    target.update("cs0001", content(hour=14))
    assert target.list_owned()[0].start == MONDAY.replace(hour=14)
    target.delete("cs0001")
    target.delete("cs0001")  # already gone: fine
    assert target.list_owned() == []


def test_create_adopts_instead_of_duplicating(google: FakeGoogle) -> None:
    target = make_target(google)
    target.create(content())
    target.create(content(hour=10))
    assert [e.start for e in target.list_owned()] == [MONDAY.replace(hour=10)]
    assert writes(google) == [("POST", "events"), ("PATCH", "cs0001")]


def test_foreign_events_are_refused_and_left_unchanged(google: FakeGoogle) -> None:
    before = foreign(google)
    target = make_target(google)
    assert target.list_owned() == []
    for attempt in (
        lambda: target.update("dentist", content("dentist")),
        lambda: target.delete("dentist"),
        lambda: target.create(content("dentist")),
    ):
        with pytest.raises(TargetOwnershipError):
            attempt()
    assert google.calendars["primary"]["dentist"] == before
    assert writes(google) == []


@pytest.fixture
def cs(tmp_path: Path) -> Iterator[Calsync]:
    instance = open_calsync(
        make_config(), store_url=f"sqlite:///{tmp_path / 'c.db'}", clock=FixedClock(MONDAY)
    )
    yield instance
    instance.close()


def test_a_cycle_then_a_second_one_without_any_write(google: FakeGoogle, cs: Calsync) -> None:
    foreign(google)
    target = make_target(google)
    first = run_cycle(cs, target)
    assert first.error is None
    assert len(writes(google)) == len(first.plan) == 5
    count = len(writes(google))
    second = run_cycle(cs, target)
    assert second.actions == []
    assert len(writes(google)) == count


def test_a_block_the_user_deletes_in_google_is_not_recreated(
    google: FakeGoogle, cs: Calsync
) -> None:
    target = make_target(google)
    first = run_cycle(cs, target)
    google.remove("primary", first.plan[-1].id)  # type: ignore[arg-type]
    second = run_cycle(cs, target)
    assert second.observed == {"declined": 1}
    only_moves_of_others(second.actions, first.plan[-1].id)  # type: ignore[arg-type]
    assert len(target.list_owned()) == 4
    assert first.plan[-1].id not in {e.suggestion_id for e in target.list_owned()}
    assert run_cycle(cs, target).actions == []


class CrashAfterInsert(GoogleTarget):
    crashed = False

    def create(self, content: BlockContent) -> str:
        remote_id = super().create(content)
        if not CrashAfterInsert.crashed:
            CrashAfterInsert.crashed = True
            raise KeyboardInterrupt("power cut after the insert")
        return remote_id


def test_a_crash_between_insert_and_commit_leaves_no_duplicate(
    google: FakeGoogle, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    target = CrashAfterInsert(
        "google",
        credentials(google),
        "primary",
        FixedClock(MONDAY),
        api_endpoint=google.api_endpoint,
    )
    with (
        open_calsync(make_config(), store_url=url, clock=FixedClock(MONDAY)) as cs,
        pytest.raises(KeyboardInterrupt),
    ):
        run_cycle(cs, target)
    with open_calsync(make_config(), store_url=url, clock=FixedClock(MONDAY)) as cs:
        report = run_cycle(cs, target)
        owned = target.list_owned()
        assert len(owned) == len({e.suggestion_id for e in owned}) == len(report.plan) == 5
        assert run_cycle(cs, target).actions == []


def test_purge_leaves_the_users_events(google: FakeGoogle, cs: Calsync) -> None:
    before = foreign(google)
    target = make_target(google)
    run_cycle(cs, target)
    assert len(purge(cs, [target])["google"]) == 5
    assert target.list_owned() == []
    assert google.calendars["primary"]["dentist"] == before


def test_build_target_uses_the_google_sources_token(google: FakeGoogle, tmp_path: Path) -> None:
    token = tmp_path / "google-g.json"
    token.write_text(credentials(google).to_json(), encoding="utf-8")
    token.chmod(0o600)
    config = parse_config(
        {
            "state_dir": str(tmp_path),
            "sources": [{"type": "google", "name": "g", "api_endpoint": google.api_endpoint}],
            "targets": [{"type": "google", "name": "blocks", "source": "g"}],
        }
    )
    target = build_target(config, config.targets[0], FixedClock(MONDAY))
    assert target.create(content()) == "cs0001"
    assert google.api_requests("POST")[0]["auth"] == "Bearer valid-token"


@pytest.mark.parametrize(
    ("kind", "operation", "call"),
    [
        ("404", "insert", "create"),  # crashed the run with NotFound before
        ("410", "insert", "create"),
        ("truncated", "list", "list"),  # crashed the run with a JSONDecodeError before
        ("garbage", "list", "list"),
        ("wrong_types", "insert", "create"),
        ("truncated", "get", "get"),
    ],
)
def test_every_google_failure_is_a_target_error(
    google: FakeGoogle, kind: str, operation: str, call: str
) -> None:
    target = make_target(google)
    google.inject(kind, operation)
    calls = {
        "create": lambda: target.create(content()),
        "list": target.list_owned,
        "get": lambda: target.get_owned("cs0001"),
    }
    with pytest.raises(TargetError) as caught:
        calls[call]()
    assert caught.value.__cause__ is not None  # translated at the boundary, `raise … from`


def test_a_404_on_insert_stops_the_cycle_cleanly_and_the_next_converges(
    google: FakeGoogle, cs: Calsync
) -> None:
    target = make_target(google)
    google.inject("404", "insert", nth=3)
    failed = run_cycle(cs, target)
    assert failed.error is not None
    assert "404" in failed.error
    google.clear_faults()
    healed = run_cycle(cs, target)
    assert healed.error is None
    owned = target.list_owned()
    assert len(owned) == len({(e.start, e.summary) for e in owned}) == len(healed.plan) == 5
    assert run_cycle(cs, target).actions == []


def test_truncated_json_on_the_listing_stops_the_cycle_before_anything_is_learned(
    google: FakeGoogle, cs: Calsync
) -> None:
    target = make_target(google)
    run_cycle(cs, target)
    google.remove("primary", target.list_owned()[0].remote_id)  # the user deletes one
    google.inject("truncated", "list")
    failed = run_cycle(cs, target)
    assert failed.error is not None
    assert (failed.learned, failed.observed, failed.actions) == (0, {}, [])
    google.clear_faults()
    assert run_cycle(cs, target).observed == {"declined": 1}
