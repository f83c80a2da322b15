"""The CalDAV source against a real Radicale server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import caldav
import pytest

from calsync.clock import FixedClock
from calsync.config import CaldavSourceConfig, parse_config
from calsync.errors import AuthError, ConfigError, SourceError, TransientSourceError
from calsync.model import Event
from calsync.sources.base import FetchResult, Source
from calsync.sources.caldav import CaldavSource
from calsync.sources.factory import build_source
from tests.radicale_server import RadicaleServer, Reply, Request

BERLIN = ZoneInfo("Europe/Berlin")
#: Wednesday after the end of summer time (Sunday 2026-10-25, 03:00 CEST → 02:00 CET).
NOW = datetime(2026, 10, 28, 12, tzinfo=UTC)


def ics(*events: str) -> str:
    stamp = "DTSTAMP:20261001T000000Z"
    body = "".join(f"BEGIN:VEVENT\r\n{stamp}\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events)
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\n"
    return f"{head}{body}END:VCALENDAR\r\n"


def lines(text: str) -> str:
    return "\r\n".join(line.strip() for line in text.strip().splitlines())


SERIES = ics(
    lines("""
        UID:series1
        DTSTART;TZID=Europe/Berlin:20261022T090000
        DTEND;TZID=Europe/Berlin:20261022T100000
        RRULE:FREQ=DAILY;COUNT=7
        EXDATE;TZID=Europe/Berlin:20261023T090000
        SUMMARY:coding
    """),
    lines("""
        UID:series1
        RECURRENCE-ID;TZID=Europe/Berlin:20261024T090000
        DTSTART;TZID=Europe/Berlin:20261024T140000
        DTEND;TZID=Europe/Berlin:20261024T150000
        SUMMARY:coding moved
        DESCRIPTION:rating: 4/5
    """),
    lines("""
        UID:series1
        RECURRENCE-ID;TZID=Europe/Berlin:20261026T090000
        DTSTART;TZID=Europe/Berlin:20261026T090000
        DTEND;TZID=Europe/Berlin:20261026T100000
        STATUS:CANCELLED
        SUMMARY:coding
    """),
)
REVIEW = ics(
    lines("""
        UID:review
        DTSTART:20261027T130000Z
        DTEND:20261027T140000Z
        SUMMARY:Code review
        DESCRIPTION:private notes
        COLOR:teal
        CATEGORIES:Work,Deep
    """)
)
HOLIDAY = ics(
    lines("""
        UID:holiday
        DTSTART;VALUE=DATE:20261029
        DTEND;VALUE=DATE:20261030
        SUMMARY:Holiday
        TRANSP:OPAQUE
        CATEGORIES:Personal,Off
    """)
)
MINE = ics(
    lines("""
        UID:mine
        DTSTART:20261030T080000Z
        DTEND:20261030T090000Z
        SUMMARY:Deep Coding
        X-CALSYNC-ID:s-42
        STATUS:TENTATIVE
        TRANSP:TRANSPARENT
    """)
)
FLOATING = ics(
    lines("""
        UID:floating
        DTSTART:20261029T090000
        DURATION:PT30M
        SUMMARY:email
    """)
)
NIGHT = ics(
    lines("""
        UID:night
        DTSTART;TZID=Europe/Berlin:20261025T010000
        DTEND;TZID=Europe/Berlin:20261025T040000
        SUMMARY:night shift
    """)
)
LATER = ics(
    lines("""
        UID:later
        DTSTART:20261201T080000Z
        DTEND:20261201T090000Z
        SUMMARY:far away
    """)
)
DENTIST = ics(
    lines("""
        UID:dentist
        DTSTART;TZID=Europe/Berlin:20261102T100000
        DTEND;TZID=Europe/Berlin:20261102T110000
        SUMMARY:Dentist
    """)
)


@dataclass
class Account:
    client: caldav.DAVClient
    work: Any  # caldav.Calendar
    private: Any


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RadicaleServer]:
    radicale = RadicaleServer(tmp_path / "radicale", {"alice": "secret"})
    yield radicale
    radicale.close()


@pytest.fixture
def account(server: RadicaleServer) -> Iterator[Account]:
    client = server.client("alice", "secret")
    principal = client.get_principal()
    work = principal.make_calendar(name="Work", cal_id="work")
    for text in (SERIES, REVIEW, HOLIDAY, MINE, FLOATING, NIGHT, LATER):
        work.add_event(text)
    private = principal.make_calendar(name="Private", cal_id="private")
    private.add_event(DENTIST)
    server.requests.clear()
    yield Account(client, work, private)
    client.close()


MakeSource = Callable[..., CaldavSource]


@pytest.fixture
def make(server: RadicaleServer) -> Iterator[MakeSource]:
    made: list[CaldavSource] = []

    def factory(**kw: Any) -> CaldavSource:
        kw.setdefault("url", server.url)
        kw.setdefault("username", "alice")
        kw.setdefault("password", "secret")
        kw.setdefault("days_back", 7)
        kw.setdefault("days_ahead", 7)
        clock = kw.pop("clock", FixedClock(NOW))
        source = CaldavSource("dav", BERLIN, clock, **kw)
        made.append(source)
        return source

    yield factory
    for source in made:
        source.close()


def by_uid(result: FetchResult) -> dict[str, list[Event]]:
    found: dict[str, list[Event]] = {}
    for event in sorted(result.events, key=lambda e: (e.uid, str(e.start))):
        found.setdefault(event.uid, []).append(event)
    return found


def local(when: date | datetime) -> tuple[int, int, int]:
    assert isinstance(when, datetime)
    moment = when.astimezone(BERLIN)
    return moment.day, moment.hour, moment.minute


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --------------------------------------------------------------------------- reading


def test_first_fetch_is_full_and_converts_like_ics(account: Account, make: MakeSource) -> None:
    source = make()
    assert isinstance(source, Source)
    result = source.fetch(None)
    assert result.full
    assert result.deleted == []
    events = by_uid(result)
    assert sorted(events) == [
        "dentist",
        "floating",
        "holiday",
        "mine",
        "night",
        "review",
        "series1",
    ]  # "later" (December) is outside the window
    assert {e.source for e in result.events} == {"dav"}
    assert {e.uid: e.calendar for e in result.events}["dentist"] == "Private"
    assert {e.calendar for e in result.events if e.uid != "dentist"} == {"Work"}

    # 22nd, (23rd EXDATE), 24th moved to 14:00, 25th, (26th cancelled), 27th, 28th.
    coding = events["series1"]
    assert [local(e.start)[:2] for e in coding] == [(22, 9), (24, 14), (25, 9), (27, 9), (28, 9)]
    moved = coding[1]
    assert (moved.summary, moved.description) == ("coding moved", "rating: 4/5")
    assert moved.recurrence_id == "2026-10-24T07:00:00+00:00"  # original start (CEST), UTC
    assert coding[3].recurrence_id == "2026-10-27T08:00:00+00:00"  # after the change: CET
    assert len({e.occurrence_key for e in result.events}) == len(result.events)

    (review,) = events["review"]
    assert review.recurrence_id is None
    assert (review.summary, review.description) == ("Code review", "private notes")
    assert review.color == "teal"
    assert review.categories == ("Work", "Deep")
    assert (review.start, review.end) == (
        datetime(2026, 10, 27, 13, tzinfo=UTC),
        datetime(2026, 10, 27, 14, tzinfo=UTC),
    )

    (holiday,) = events["holiday"]
    assert holiday.all_day
    assert (holiday.start, holiday.end) == (date(2026, 10, 29), date(2026, 10, 30))
    assert holiday.transparency == "opaque"
    assert holiday.categories == ("Personal", "Off")

    (mine,) = events["mine"]
    assert mine.owned
    assert mine.suggestion_id == "s-42"
    assert mine.status == "tentative"
    assert mine.transparency == "transparent"
    assert not review.owned

    (floating,) = events["floating"]  # floating times are read in the user's zone
    assert floating.start == datetime(2026, 10, 29, 9, tzinfo=BERLIN)
    assert floating.end == datetime(2026, 10, 29, 9, 30, tzinfo=BERLIN)

    cursor = json.loads(result.cursor or "")
    assert set(cursor["calendars"]) == {account.work.url, account.private.url}
    assert all(c["token"] for c in cursor["calendars"].values())


def test_dst_week_keeps_the_wall_clock(account: Account, make: MakeSource) -> None:
    events = by_uid(make().fetch(None))
    coding = events["series1"]
    utc_hours = [e.start.astimezone(UTC).hour for e in coding]  # type: ignore[union-attr]
    # 09:00 Berlin every day: 07:00 UTC in summer time, 08:00 UTC after the 25th.
    assert [local(e.start)[1] for e in coding if e.summary == "coding"] == [9, 9, 9, 9]
    assert utc_hours == [7, 12, 8, 8, 8]
    assert all(e.end - e.start == timedelta(hours=1) for e in coding)  # type: ignore[operator]
    (night,) = events["night"]  # 01:00–04:00 on the night the clocks go back: four real hours
    assert night.end.astimezone(UTC) - night.start.astimezone(UTC) == timedelta(hours=4)  # type: ignore[union-attr]
    assert str(night.start.tzinfo) == "Europe/Berlin"  # type: ignore[union-attr]


def test_calendars_are_chosen_by_name_url_or_path(account: Account, make: MakeSource) -> None:
    only_private = make(calendars=["Private"]).fetch(None)
    assert [e.uid for e in only_private.events] == ["dentist"]
    by_url = make(calendars=[str(account.work.url)]).fetch(None)
    assert {e.calendar for e in by_url.events} == {"Work"}
    assert "dentist" not in {e.uid for e in by_url.events}
    by_path = make(calendars=["/alice/private"]).fetch(None)
    assert [e.uid for e in by_path.events] == ["dentist"]
    assert list(json.loads(by_path.cursor or "")["calendars"]) == [str(account.private.url)]


def test_an_unknown_calendar_name_is_a_source_error(account: Account, make: MakeSource) -> None:
    with pytest.raises(SourceError, match="'Holidays'") as caught:
        make(calendars=["Work", "Holidays"]).fetch(None)
    assert "'Private'" in str(caught.value)  # the message lists what exists


def test_a_uid_in_two_calendars_is_kept_once(account: Account, make: MakeSource) -> None:
    account.private.add_event(REVIEW.replace("Code review", "Code review (copy)"))
    result = make().fetch(None)
    reviews = [e for e in result.events if e.uid == "review"]
    assert len(reviews) == 1
    assert len({e.occurrence_key for e in result.events}) == len(result.events)


# --------------------------------------------------------------------------- errors


def test_a_wrong_password_is_an_auth_error(account: Account, make: MakeSource) -> None:
    with pytest.raises(AuthError, match="check the username and password") as caught:
        make(password="wrong").fetch(None)
    assert "wrong" not in str(caught.value)
    assert isinstance(caught.value.__cause__, caldav.lib.error.AuthorizationError)


def test_a_server_that_is_not_running_is_transient(make: MakeSource) -> None:
    source = make(url=f"http://127.0.0.1:{free_port()}/", timeout=2)
    with pytest.raises(TransientSourceError, match="cannot be reached") as caught:
        source.fetch(None)
    assert caught.value.__cause__ is not None


def test_a_server_that_does_not_answer_times_out_as_transient(make: MakeSource) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        source = make(url=f"http://127.0.0.1:{silent.getsockname()[1]}/", timeout=0.3)
        with pytest.raises(TransientSourceError, match="timed out"):
            source.fetch(None)


def test_a_server_error_is_transient(
    server: RadicaleServer, account: Account, make: MakeSource
) -> None:
    def fail_searches(request: Request) -> Reply | None:
        if request.report == "calendar-query":
            return "500 Internal Server Error", [("Content-Type", "text/plain")], b"boom"
        return None

    server.intercept = fail_searches
    with pytest.raises(TransientSourceError, match="500"):
        make().fetch(None)


def test_unparsable_calendar_data_is_a_source_error(
    server: RadicaleServer, account: Account, make: MakeSource
) -> None:
    def garbage(request: Request) -> Reply | None:
        if request.report == "calendar-query":
            body = b"<not-xml"
            return "207 Multi-Status", [("Content-Type", "application/xml")], body
        return None

    server.intercept = garbage
    with pytest.raises(SourceError) as caught:
        make().fetch(None)
    assert not isinstance(caught.value, TransientSourceError | AuthError)


# --------------------------------------------------------------------------- password file


def config_for(server: RadicaleServer, **kw: Any) -> CaldavSourceConfig:
    values: dict[str, Any] = {
        "type": "caldav",
        "name": "dav",
        "url": server.url,
        "username": "alice",
        "days_back": 7,
        "days_ahead": 7,
    }
    return CaldavSourceConfig.model_validate(values | kw)


def test_a_password_file_others_can_read_is_refused(server: RadicaleServer, tmp_path: Path) -> None:
    secret = tmp_path / "caldav-password"
    secret.write_text("secret\n")
    secret.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        CaldavSource.from_config(config_for(server, password_file=secret), BERLIN, FixedClock(NOW))
    (problem,) = caught.value.problems
    assert problem.key == "sources.dav.password_file"
    assert "0644" in problem.message
    assert "chmod 600" in problem.message
    assert "secret\n" not in str(caught.value)
    assert server.requests == []


def test_a_private_password_file_works(
    server: RadicaleServer, account: Account, tmp_path: Path
) -> None:
    secret = tmp_path / "caldav-password"
    secret.write_text("secret\n")  # the trailing line break is not part of the password
    secret.chmod(0o600)
    assert secret.stat().st_uid == os.getuid()
    source = CaldavSource.from_config(
        config_for(server, password_file=secret, calendars=["Private"]), BERLIN, FixedClock(NOW)
    )
    try:
        assert [e.uid for e in source.fetch(None).events] == ["dentist"]
    finally:
        source.close()


def test_a_missing_password_file_is_a_config_error(server: RadicaleServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sources\.dav\.password_file"):
        CaldavSource.from_config(
            config_for(server, password_file=tmp_path / "nope"), BERLIN, FixedClock(NOW)
        )


# --------------------------------------------------------------------------- sync


def test_an_unchanged_calendar_costs_no_search(
    server: RadicaleServer, account: Account, make: MakeSource
) -> None:
    first = make().fetch(None)
    assert "calendar-query" in server.reports()
    server.requests.clear()
    second = make().fetch(first.cursor)  # a new instance: as after a restart
    assert (second.full, second.events, second.deleted) == (False, [], [])
    assert second.cursor == first.cursor
    # Only sync-collection REPORTs (one per calendar), no calendar data at all.
    assert server.reports() == ["sync-collection", "sync-collection"]
    assert not any(b"calendar-data" in r.body for r in server.requests)
    assert not any(r.method == "GET" for r in server.requests)


def test_added_changed_and_deleted_events_give_full_results(
    server: RadicaleServer, account: Account, make: MakeSource
) -> None:
    source = make()
    cursor = source.fetch(None).cursor

    account.private.add_event(
        ics(
            lines("""
                UID:yoga
                DTSTART;TZID=Europe/Berlin:20261031T180000
                DTEND;TZID=Europe/Berlin:20261031T190000
                SUMMARY:Yoga
            """)
        )
    )
    added = source.fetch(cursor)
    assert added.full
    assert "yoga" in by_uid(added)
    assert "series1" in by_uid(added)  # full: everything in the window, not only the change

    review = account.work.get_event_by_uid("review")
    review.data = REVIEW.replace("Code review", "Pair review")
    review.save()
    changed = source.fetch(added.cursor)
    assert changed.full
    assert [e.summary for e in by_uid(changed)["review"]] == ["Pair review"]

    account.work.get_event_by_uid("holiday").delete()
    deleted = source.fetch(changed.cursor)
    assert deleted.full
    assert "holiday" not in by_uid(deleted)
    assert json.loads(deleted.cursor or "") != json.loads(changed.cursor or "")

    server.requests.clear()
    quiet = source.fetch(deleted.cursor)
    assert (quiet.full, quiet.events, quiet.cursor) == (False, [], deleted.cursor)
    assert "calendar-query" not in server.reports()


def test_a_new_day_lists_the_moved_window(
    server: RadicaleServer, account: Account, make: MakeSource
) -> None:
    clock = FixedClock(NOW)
    source = make(clock=clock)
    first = source.fetch(None)
    clock.advance(timedelta(hours=6))  # 19:00 Berlin: still the same day
    assert not source.fetch(first.cursor).full
    clock.advance(timedelta(days=2))
    server.requests.clear()
    moved = source.fetch(first.cursor)
    assert moved.full
    assert "calendar-query" in server.reports()
    # Today is the 30th: the window starts on the 23rd, and the 22nd's occurrence left it.
    assert [local(e.start)[0] for e in by_uid(moved)["series1"]] == [24, 25, 27, 28]


@pytest.mark.parametrize(
    "cursor",
    ["not json", "[]", '{"version": 99}', '{"version": 1, "window": 3, "calendars": {}}', ""],
)
def test_an_unusable_cursor_gives_a_full_result(
    account: Account, make: MakeSource, cursor: str
) -> None:
    result = make().fetch(cursor)
    assert result.full
    assert "series1" in by_uid(result)
    assert json.loads(result.cursor or "")["version"] == 1


def test_an_expired_sync_token_gives_a_full_result(
    server: RadicaleServer, account: Account, make: MakeSource
) -> None:
    source = make()
    first = source.fetch(None)
    data = json.loads(first.cursor or "")
    for state in data["calendars"].values():
        state["token"] = "http://radicale.org/ns/sync/" + "0" * 64  # well-formed, unknown
    server.requests.clear()
    result = source.fetch(json.dumps(data))
    assert result.full
    assert sorted(by_uid(result)) == sorted(by_uid(first))
    assert result.cursor == first.cursor  # fresh, valid tokens again
    assert "calendar-query" in server.reports()


def test_a_server_without_sync_support_always_lists(
    server: RadicaleServer, account: Account, make: MakeSource
) -> None:
    def no_sync(request: Request) -> Reply | None:
        if request.report == "sync-collection":
            return "501 Not Implemented", [("Content-Type", "text/plain")], b"no"
        if request.method == "PROPFIND" and b"sync-token" in request.body:
            body = (
                b'<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response>'
                b"<D:href>" + request.path.encode() + b"</D:href><D:propstat>"
                b"<D:prop><D:sync-token/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status>"
                b"</D:propstat></D:response></D:multistatus>"
            )
            return "207 Multi-Status", [("Content-Type", "application/xml")], body
        return None

    server.intercept = no_sync
    source = make()
    first = source.fetch(None)
    assert first.full
    assert all(c["token"] is None for c in json.loads(first.cursor or "")["calendars"].values())
    second = source.fetch(first.cursor)
    assert second.full
    assert sorted(e.occurrence_key for e in second.events) == sorted(
        e.occurrence_key for e in first.events
    )


# --------------------------------------------------------------------------- factory


def test_the_factory_builds_a_working_caldav_source(
    server: RadicaleServer, account: Account
) -> None:
    config = parse_config(
        {
            "user": {"timezone": "Europe/Berlin"},
            "sources": [
                {
                    "type": "caldav",
                    "name": "nextcloud",
                    "url": server.url,
                    "username": "alice",
                    "password": "secret",
                    "calendars": ["Work"],
                    "days_back": 7,
                    "days_ahead": 7,
                    "timeout_seconds": 5,
                }
            ],
        }
    )
    source = build_source(config, config.sources[0], FixedClock(NOW))
    assert isinstance(source, CaldavSource)
    try:
        result = source.fetch(None)
        assert source.name == "nextcloud"
        assert result.full
        assert {e.source for e in result.events} == {"nextcloud"}
        assert {e.calendar for e in result.events} == {"Work"}
        (floating,) = by_uid(result)["floating"]
        assert floating.start == datetime(2026, 10, 29, 9, tzinfo=BERLIN)
    finally:
        source.close()
