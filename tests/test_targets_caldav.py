"""The CalDAV target against a real Radicale server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import caldav
import icalendar
import pytest

from calsync.clock import FixedClock
from calsync.errors import TargetError, TargetOwnershipError
from calsync.reconcile import Create
from calsync.service import Calsync
from calsync.service import open as open_calsync
from calsync.targets.base import BlockContent, Target
from calsync.targets.caldav import CaldavTarget
from calsync.targets.factory import build_target
from calsync.writeback import purge, run_cycle
from tests.radicale_server import RadicaleServer, Reply, Request
from tests.test_writeback import make_config, only_moves_of_others

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 23, 7, tzinfo=BERLIN)
START = datetime(2026, 11, 24, 9, tzinfo=UTC)


def block(sid: str = "cs1", hours: int = 0, **kw: Any) -> BlockContent:
    start = START + timedelta(hours=hours)
    values: dict[str, Any] = {
        "suggestion_id": sid,
        "task_type": "Deep Coding",
        "start": start,
        "end": start + timedelta(hours=1),
        "summary": "⧗ Deep Coding",
        "description": "calsync suggests Deep Coding here.\nMove or delete it freely.",
        "color": "9",
        "transparent": True,
    }
    return BlockContent(**(values | kw))


def vevent(uid: str, summary: str, *extra: str) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//a calendar app//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20261101T000000Z",
        "DTSTART:20261124T100000Z",
        "DTEND:20261124T110000Z",
        f"SUMMARY:{summary}",
        *extra,
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RadicaleServer]:
    radicale = RadicaleServer(tmp_path / "radicale", {"alice": "secret"})
    yield radicale
    radicale.close()


@pytest.fixture
def user(server: RadicaleServer) -> Iterator[Any]:
    """The user's own caldav client (what their calendar app does)."""
    client = server.client("alice", "secret")
    yield client.get_principal()
    client.close()


MakeTarget = Callable[..., CaldavTarget]


@pytest.fixture
def make(server: RadicaleServer) -> Iterator[MakeTarget]:
    made: list[CaldavTarget] = []

    def factory(**kw: Any) -> CaldavTarget:
        kw.setdefault("url", server.url)
        kw.setdefault("calendar", "calsync")
        kw.setdefault("clock", FixedClock(MONDAY))
        kw.setdefault("tz", BERLIN)
        kw.setdefault("username", "alice")
        kw.setdefault("password", "secret")
        kw.setdefault("source", "dav")
        kw.setdefault("timeout", 5)
        target = CaldavTarget("dav-blocks", **kw)
        made.append(target)
        return target

    yield factory
    for target in made:
        target.close()


def calendar_named(principal: Any, name: str) -> Any:
    (calendar,) = [c for c in principal.get_calendars() if c.get_display_name() == name]
    return calendar


def components(calendar: Any) -> dict[str, icalendar.Event]:
    """Every VEVENT in the calendar, by UID, as the server stores it."""
    found = {}
    for item in calendar.search(event=True):
        for component in icalendar.Calendar.from_ical(item.data).walk("VEVENT"):
            found[str(component["UID"])] = component
    return found


def stored_file(server_root: Path, event: Any) -> Path:
    """The file Radicale keeps an event in."""
    path = server_root / "collections" / "collection-root" / unquote(event.url.path).lstrip("/")
    assert path.is_file()
    return path


# --------------------------------------------------------------------------- basics


def test_create_list_update_delete_round_trip(
    server: RadicaleServer, user: Any, make: MakeTarget
) -> None:
    target = make()
    assert isinstance(target, Target)
    content = block()
    assert target.create(content) == "cs1@calsync"

    (owned,) = target.list_owned()
    assert (owned.suggestion_id, owned.remote_id) == ("cs1", "cs1@calsync")
    assert (owned.start, owned.end) == (content.start, content.end)
    assert (owned.summary, owned.description) == (content.summary, content.description)
    assert target.list_owned(START - timedelta(days=1), START + timedelta(days=1)) == [owned]
    assert target.list_owned(START + timedelta(hours=1), START + timedelta(days=1)) == []
    assert target.list_owned(START - timedelta(days=1), START) == []

    stored = components(calendar_named(user, "calsync"))["cs1@calsync"]
    assert str(stored["X-CALSYNC-ID"]) == "cs1"
    assert stored.decoded("DTSTART") == START
    assert stored["DTSTART"].to_ical() == b"20261124T090000Z"  # UTC
    assert stored.decoded("DTSTAMP") == MONDAY  # from the injected clock
    assert str(stored["STATUS"]) == "TENTATIVE"
    assert str(stored["TRANSP"]) == "TRANSPARENT"
    assert str(stored["COLOR"]) == "9"
    assert "ATTENDEE" not in stored
    assert stored.walk("VALARM") == []

    later = block(hours=5, color=None, transparent=False)
    target.update("cs1@calsync", later)
    (moved,) = target.list_owned()
    assert (moved.start, moved.end) == (later.start, later.end)
    stored = components(calendar_named(user, "calsync"))["cs1@calsync"]
    assert str(stored["TRANSP"]) == "OPAQUE"
    assert "COLOR" not in stored

    target.delete("cs1@calsync")
    assert target.list_owned() == []
    assert components(calendar_named(user, "calsync")) == {}
    server.requests.clear()
    target.delete("cs1@calsync")  # already gone: fine, and nothing is sent to delete
    assert server.writes() == []
    with pytest.raises(TargetError, match="cs1@calsync is not in calendar 'calsync'"):
        target.update("cs1@calsync", later)
    assert server.writes() == []


def test_writes_are_conditional_on_what_was_just_read(
    server: RadicaleServer, make: MakeTarget
) -> None:
    target = make()
    target.create(block())
    (put,) = [r for r in server.writes() if r.method == "PUT"]
    assert put.headers.get("if-none-match") == "*"  # never over an object created meanwhile
    server.requests.clear()
    target.update("cs1@calsync", block(hours=2))
    (put,) = server.writes()
    assert put.headers.get("if-match", "").startswith('"')  # the ETag of the checked version
    server.requests.clear()
    target.delete("cs1@calsync")
    (delete,) = server.writes()
    assert delete.headers.get("if-match", "").startswith('"')


def test_a_change_on_the_server_during_a_write_is_a_target_error(
    server: RadicaleServer, make: MakeTarget
) -> None:
    target = make()
    target.create(block())

    def stale(request: Request) -> Reply | None:
        if request.method == "PUT":
            return "412 Precondition Failed", [("Content-Type", "text/plain")], b"changed"
        return None

    server.intercept = stale
    with pytest.raises(TargetError, match="changed on the server meanwhile"):
        target.update("cs1@calsync", block(hours=2))
    server.intercept = None
    (owned,) = target.list_owned()
    assert owned.start == START  # nothing was written; the next cycle looks again


def test_the_calendar_is_created_on_first_use_and_then_reused(
    server: RadicaleServer, user: Any, make: MakeTarget
) -> None:
    server.requests.clear()
    target = make()
    assert server.requests == []  # the constructor sends nothing
    assert target.list_owned() == []
    assert [r.method for r in server.requests].count("MKCALENDAR") == 1
    assert [c.get_display_name() for c in user.get_calendars()] == ["calsync"]

    server.requests.clear()
    again = make()  # another instance (a restart) finds it by name
    again.create(block())
    assert "MKCALENDAR" not in [r.method for r in server.requests]
    assert [c.get_display_name() for c in user.get_calendars()] == ["calsync"]
    assert [e.remote_id for e in target.list_owned()] == ["cs1@calsync"]


def test_an_existing_calendar_of_that_name_is_used(
    server: RadicaleServer, user: Any, make: MakeTarget
) -> None:
    user.make_calendar(name="Work", cal_id="work")
    blocks = user.make_calendar(name="Focus blocks", cal_id="focus")
    server.requests.clear()
    target = make(calendar="Focus blocks")
    target.create(block())
    assert "MKCALENDAR" not in [r.method for r in server.requests]
    assert sorted(c.get_display_name() for c in user.get_calendars()) == ["Focus blocks", "Work"]
    assert list(components(blocks)) == ["cs1@calsync"]
    assert components(calendar_named(user, "Work")) == {}


# --------------------------------------------------------------------------- ownership


def test_foreign_events_are_never_listed_or_touched(
    server: RadicaleServer, user: Any, make: MakeTarget, tmp_path: Path
) -> None:
    target = make()
    target.create(block("cs1"))
    calendar = calendar_named(user, "calsync")
    # The user's own event, under an id calsync could pick, and an ordinary one.
    foreign = [
        calendar.add_event(vevent("csforeign@calsync", "Dentist", "DESCRIPTION:bring the card")),
        calendar.add_event(vevent("lunch-123", "Lunch")),
    ]
    files = [stored_file(tmp_path / "radicale", event) for event in foreign]
    before = [path.read_bytes() for path in files]
    assert b"SUMMARY:Dentist" in before[0]
    server.requests.clear()

    assert [e.remote_id for e in target.list_owned()] == ["cs1@calsync"]
    assert [e.remote_id for e in target.list_owned(START - timedelta(days=1), START)] == []
    with pytest.raises(TargetOwnershipError, match="csforeign@calsync"):
        target.update("csforeign@calsync", block("csforeign"))
    with pytest.raises(TargetOwnershipError):
        target.delete("csforeign@calsync")
    with pytest.raises(TargetOwnershipError):
        target.create(block("csforeign", summary="⧗ Email"))
    with pytest.raises(TargetOwnershipError):
        target.delete("lunch-123")

    assert server.writes() == []
    assert [path.read_bytes() for path in files] == before
    assert str(components(calendar)["csforeign@calsync"]["SUMMARY"]) == "Dentist"


def test_create_is_idempotent_and_adopts_an_owned_event(
    server: RadicaleServer, user: Any, make: MakeTarget
) -> None:
    target = make()
    content = block()
    assert target.create(content) == "cs1@calsync"
    writes = len(server.writes())
    assert target.create(content) == "cs1@calsync"
    assert len(server.writes()) == writes  # already there as wanted: nothing written
    assert list(components(calendar_named(user, "calsync"))) == ["cs1@calsync"]

    # A crash after the write left the event behind; the retry brings it up to date.
    moved = block(hours=3)
    assert target.create(moved) == "cs1@calsync"
    (owned,) = target.list_owned()
    assert (owned.start, owned.end) == (moved.start, moved.end)
    assert list(components(calendar_named(user, "calsync"))) == ["cs1@calsync"]


def test_a_copy_of_a_block_made_by_the_user_does_not_hide_the_block(
    user: Any, make: MakeTarget
) -> None:
    target = make()
    target.create(block())
    copy = vevent("copy-1", "⧗ Deep Coding (copy)", "X-CALSYNC-ID:cs1")
    calendar_named(user, "calsync").add_event(copy.replace("T100000Z", "T090000Z"))
    owned = target.list_owned()
    assert [(e.suggestion_id, e.remote_id) for e in owned] == [("cs1", "cs1@calsync")]


# --------------------------------------------------------------------------- errors


def test_a_wrong_password_is_a_target_error_without_the_password(make: MakeTarget) -> None:
    target = make(password="hunter2-wrong")
    with pytest.raises(TargetError, match="access refused") as caught:
        target.list_owned()
    assert "hunter2-wrong" not in str(caught.value)
    assert "source 'dav'" in str(caught.value)
    assert isinstance(caught.value.__cause__, caldav.lib.error.AuthorizationError)


def test_an_unreachable_server_is_a_target_error(make: MakeTarget) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = make(
        url=f"http://alice:s3cr3t@127.0.0.1:{port}/", username=None, password=None, timeout=2
    )
    with pytest.raises(TargetError, match="cannot be reached") as caught:
        target.create(block())
    assert "s3cr3t" not in str(caught.value)
    assert caught.value.__cause__ is not None


def test_a_server_error_is_a_target_error(server: RadicaleServer, make: MakeTarget) -> None:
    target = make()
    target.list_owned()

    def fail(request: Request) -> Reply | None:
        if request.method == "REPORT":
            return "503 Service Unavailable", [("Content-Type", "text/plain")], b"down"
        return None

    server.intercept = fail
    with pytest.raises(TargetError, match="HTTP 503"):
        target.delete("cs1@calsync")
    server.intercept = None
    target.delete("cs1@calsync")  # the next call works again


# --------------------------------------------------------------------------- the cycle


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY)


@pytest.fixture
def cs(tmp_path: Path, clock: FixedClock) -> Iterator[Calsync]:
    instance = open_calsync(make_config(), store_url=f"sqlite:///{tmp_path / 'c.db'}", clock=clock)
    yield instance
    instance.close()


def test_a_second_cycle_writes_nothing(
    server: RadicaleServer, cs: Calsync, clock: FixedClock, make: MakeTarget
) -> None:
    target = make(clock=clock)
    first = run_cycle(cs, target)
    assert first.error is None
    assert len(first.plan) == 5
    assert all(isinstance(a, Create) for a in first.actions)
    assert [r.method for r in server.writes()] == ["PUT"] * 5
    owned = {e.suggestion_id: (e.start, e.end) for e in target.list_owned()}
    assert owned == {b.id: (b.start, b.end) for b in first.plan}

    server.requests.clear()
    second = run_cycle(cs, target)
    assert second.error is None
    assert second.actions == []
    assert server.writes() == []
    assert {b.id for b in second.plan} == set(owned)


def test_a_block_deleted_by_the_user_is_declined_and_not_recreated(
    server: RadicaleServer, user: Any, cs: Calsync, clock: FixedClock, make: MakeTarget
) -> None:
    target = make(clock=clock)
    first = run_cycle(cs, target)
    victim = next(b for b in first.plan if b.task_type == "Deep Coding")
    calendar_named(user, "calsync").get_event_by_uid(f"{victim.id}@calsync").delete()

    server.requests.clear()
    second = run_cycle(cs, target)
    assert second.observed == {"declined": 1}
    moved = only_moves_of_others(second.actions, victim.id)  # type: ignore[arg-type]
    # Only the moves of other blocks are written; the deleted block never again.
    assert [r.method for r in server.writes()] == ["PUT"] * len(moved)
    assert not [r for r in server.writes() if str(victim.id) in unquote(r.path)]
    assert victim.id not in {e.suggestion_id for e in target.list_owned()}
    with cs.store.read() as tx:
        (row,) = [r for r in tx.suggestions("me") if r.id == victim.id]
    assert row.status == "declined"
    assert run_cycle(cs, target).actions == []


def test_purge_removes_every_owned_event_and_leaves_foreign_ones(
    server: RadicaleServer, user: Any, cs: Calsync, clock: FixedClock, make: MakeTarget
) -> None:
    target = make(clock=clock)
    run_cycle(cs, target)
    calendar = calendar_named(user, "calsync")
    calendar.add_event(vevent("standup", "Standup"))
    assert len(purge(cs, [target])["dav-blocks"]) == 5
    assert target.list_owned() == []
    assert list(components(calendar)) == ["standup"]
    assert [r.method for r in server.writes()].count("DELETE") == 5
    with cs.store.read() as tx:
        assert {r.status for r in tx.suggestions("me")} == {"retracted"}


def test_build_target_makes_a_working_caldav_target(
    server: RadicaleServer, user: Any, tmp_path: Path, clock: FixedClock
) -> None:
    secret = tmp_path / "caldav-password"
    secret.write_text("secret\n")
    secret.chmod(0o600)
    server.requests.clear()
    config = make_config(
        sources=[
            {
                "type": "caldav",
                "name": "radicale",
                "url": server.url,
                "username": "alice",
                "password_file": str(secret),
                "timeout_seconds": 5,
            }
        ],
        targets=[
            {"type": "caldav", "name": "blocks", "source": "radicale", "calendar": "Suggestions"}
        ],
    )
    target = build_target(config, config.targets[0], clock)
    assert isinstance(target, CaldavTarget)
    assert server.requests == []
    try:
        assert target.name == "blocks"
        with open_calsync(config, store_url=f"sqlite:///{tmp_path / 'b.db'}", clock=clock) as cs:
            report = run_cycle(cs, target)
        assert report.error is None
        assert len(report.plan) == 5
        stored = components(calendar_named(user, "Suggestions"))
        assert sorted(stored) == sorted(f"{b.id}@calsync" for b in report.plan)
    finally:
        target.close()
