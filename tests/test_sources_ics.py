"""ICS feeds over a real HTTP server on 127.0.0.1, and from files."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calsync.clock import FixedClock
from calsync.errors import SourceError
from calsync.sources.http_fetch import address_problem
from calsync.sources.ics import IcsSource, UrlPolicy, is_public_address

BERLIN = ZoneInfo("Europe/Berlin")
CLOCK = FixedClock(datetime(2026, 11, 27, 12, tzinfo=UTC))

FEED = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//calsync tests//EN
BEGIN:VEVENT
UID:series1
DTSTART;TZID=Europe/Berlin:20261123T090000
DTEND;TZID=Europe/Berlin:20261123T100000
RRULE:FREQ=DAILY;COUNT=4
EXDATE;TZID=Europe/Berlin:20261124T090000
SUMMARY:coding
END:VEVENT
BEGIN:VEVENT
UID:series1
RECURRENCE-ID;TZID=Europe/Berlin:20261125T090000
DTSTART;TZID=Europe/Berlin:20261125T140000
DTEND;TZID=Europe/Berlin:20261125T150000
SUMMARY:coding moved
DESCRIPTION:rating: 4/5
END:VEVENT
BEGIN:VEVENT
UID:series1
RECURRENCE-ID;TZID=Europe/Berlin:20261126T090000
DTSTART;TZID=Europe/Berlin:20261126T090000
DTEND;TZID=Europe/Berlin:20261126T100000
STATUS:CANCELLED
SUMMARY:coding
END:VEVENT
BEGIN:VEVENT
UID:holiday
DTSTART;VALUE=DATE:20261126
SUMMARY:Holiday
TRANSP:OPAQUE
CATEGORIES:Personal,Off
END:VEVENT
BEGIN:VEVENT
UID:mine
DTSTART:20261127T080000Z
DTEND:20261127T090000Z
SUMMARY:Deep Coding
X-CALSYNC-ID:s-42
STATUS:TENTATIVE
TRANSP:TRANSPARENT
END:VEVENT
END:VCALENDAR
"""


class FeedServer:
    """A tiny ICS server: ETag support, counters, redirects."""

    def __init__(self) -> None:
        self.body = FEED
        self.etag = '"v1"'
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.redirect_to: str | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append((self.path, dict(self.headers)))
                if self.path == "/redirect" and outer.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", outer.redirect_to)
                    self.end_headers()
                    return
                if self.headers.get("If-None-Match") == outer.etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/calendar")
                self.send_header("ETag", outer.etag)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    feed = FeedServer()
    yield feed
    feed.close()


def policy_allowing_127_0_0_1() -> UrlPolicy:
    """The real rules, except that 127.0.0.1 (the test server) passes as public."""

    def check(address: str) -> str | None:
        return None if address == "127.0.0.1" else address_problem(address)

    return UrlPolicy(allow_private_network=False, address_check=check)


def source(url: str, **kw: object) -> IcsSource:
    kw.setdefault("policy", UrlPolicy(allow_private_network=True))
    return IcsSource("team", BERLIN, CLOCK, url=url, **kw)  # type: ignore[arg-type]


def test_expansion_overrides_exdates_and_cancellations(server: FeedServer) -> None:
    result = source(server.url + "/feed.ics").fetch(None)
    assert result.full
    by_start = sorted(result.events, key=lambda e: str(e.start))
    coding = [e for e in by_start if e.uid == "series1"]
    # 23rd, (24th EXDATE), 25th moved to 14:00, (26th cancelled) → two instances
    assert [(e.start.astimezone(BERLIN).day, e.start.astimezone(BERLIN).hour) for e in coding] == [  # type: ignore[union-attr]
        (23, 9),
        (25, 14),
    ]
    assert coding[1].summary == "coding moved"
    assert coding[1].description == "rating: 4/5"
    assert coding[1].recurrence_id == "2026-11-25T08:00:00+00:00"  # original start, UTC
    assert len({e.occurrence_key for e in coding}) == 2
    (holiday,) = [e for e in result.events if e.uid == "holiday"]
    assert holiday.all_day
    assert (holiday.start, holiday.end) == (date(2026, 11, 26), date(2026, 11, 27))
    assert holiday.transparency == "opaque"
    assert holiday.categories == ("Personal", "Off")
    assert holiday.recurrence_id is None
    (mine,) = [e for e in result.events if e.uid == "mine"]
    assert mine.owned
    assert mine.suggestion_id == "s-42"
    assert mine.status == "tentative"
    assert mine.transparency == "transparent"


def test_etag_304_and_unchanged_body_cost_no_parse(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = source(server.url + "/feed.ics")
    first = feed.fetch(None)
    parses: list[bytes] = []
    monkeypatch.setattr(feed, "parse", lambda body: parses.append(body) or [])
    second = feed.fetch(first.cursor)
    assert server.requests[-1][1].get("If-None-Match") == '"v1"'
    assert (second.full, second.events) == (False, [])
    assert parses == []
    # A new ETag but the same bytes: fetched, hashed, not parsed.
    server.etag = '"v2"'
    third = feed.fetch(second.cursor)
    assert (third.full, third.events, parses) == (False, [], [])
    # Changed bytes are parsed.
    server.etag = '"v3"'
    server.body = FEED.replace(b"SUMMARY:Holiday", b"SUMMARY:Vacation")
    feed.fetch(third.cursor)
    assert len(parses) == 1


def test_size_cap(server: FeedServer) -> None:
    with pytest.raises(SourceError, match="cap"):
        source(server.url + "/feed.ics", max_bytes=100).fetch(None)


def test_loopback_is_refused_by_default(server: FeedServer) -> None:
    with pytest.raises(SourceError, match="allow_private_network"):
        IcsSource("team", BERLIN, CLOCK, url=server.url + "/feed.ics").fetch(None)
    assert server.requests == []


def test_every_redirect_hop_is_checked(server: FeedServer) -> None:
    # 127.0.0.1 passes as "public" through the test resolver; the redirect
    # target 127.0.0.2 is judged by the real rules and refused before any request.
    port = server.server.server_address[1]
    server.redirect_to = f"http://127.0.0.2:{port}/feed.ics"
    feed = IcsSource(
        "team", BERLIN, CLOCK, url=server.url + "/redirect", policy=policy_allowing_127_0_0_1()
    )
    with pytest.raises(SourceError, match=r"127\.0\.0\.2"):
        feed.fetch(None)
    assert [path for path, _ in server.requests] == ["/redirect"]
    server.redirect_to = "file:///etc/passwd"
    with pytest.raises(SourceError, match="only http and https"):
        feed.fetch(None)


def test_only_http_urls() -> None:
    with pytest.raises(SourceError, match="only http and https"):
        IcsSource("team", BERLIN, CLOCK, url="file:///etc/passwd")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address under test, not a bind
    ],
)
def test_address_classification(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_malformed_feed_is_a_source_error(server: FeedServer, tmp_path: Path) -> None:
    server.body = b"this is not a calendar"
    with pytest.raises(SourceError, match="malformed"):
        source(server.url + "/feed.ics").fetch(None)
    bad = tmp_path / "bad.ics"
    bad.write_bytes(b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VCALENDAR\n")
    with pytest.raises(SourceError):
        IcsSource("file", BERLIN, CLOCK, path=bad).fetch(None)


def test_file_feed_with_x_wr_timezone_and_floating_times(tmp_path: Path) -> None:
    path = tmp_path / "cal.ics"
    path.write_bytes(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nX-WR-TIMEZONE:America/New_York\r\n"
        b"BEGIN:VEVENT\r\nUID:utc\r\nDTSTART:20261124T140000Z\r\nDTEND:20261124T150000Z\r\n"
        b"SUMMARY:gym\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:floating\r\nDTSTART:20261125T090000\r\nDURATION:PT30M\r\n"
        b"SUMMARY:email\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    feed = IcsSource("file", BERLIN, CLOCK, path=path)
    result = feed.fetch(None)
    by_uid = {e.uid: e for e in result.events}
    # X-WR-TIMEZONE turns UTC times into the calendar's zone; the instant is the same.
    assert by_uid["utc"].start == datetime(2026, 11, 24, 14, tzinfo=UTC)
    assert str(by_uid["utc"].start.tzinfo) == "America/New_York"  # type: ignore[union-attr]
    # A floating time in such a feed is read in the calendar's zone…
    new_york = ZoneInfo("America/New_York")
    assert by_uid["floating"].start == datetime(2026, 11, 25, 9, tzinfo=new_york)
    assert by_uid["floating"].end == datetime(2026, 11, 25, 9, 30, tzinfo=new_york)
    again = feed.fetch(result.cursor)
    assert (again.full, again.events) == (False, [])
    # …and, without X-WR-TIMEZONE, in the user's zone.
    path.write_bytes(path.read_bytes().replace(b"X-WR-TIMEZONE:America/New_York\r\n", b""))
    (floating,) = [e for e in feed.fetch(again.cursor).events if e.uid == "floating"]
    assert floating.start == datetime(2026, 11, 25, 9, tzinfo=BERLIN)


def test_a_broken_series_is_skipped_with_a_warning_naming_its_uid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cal.ics"
    path.write_bytes(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
        b"BEGIN:VEVENT\r\nUID:broken-series\r\nDTSTART:20261124T090000Z\r\n"
        b"DTEND:20261124T100000Z\r\nRRULE:FREQ=SOMETIMES\r\nSUMMARY:bad\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:fine\r\nDTSTART:20261124T110000Z\r\nDTEND:20261124T120000Z\r\n"
        b"SUMMARY:good\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    with caplog.at_level("WARNING", logger="calsync.sources.ics"):
        result = IcsSource("file", BERLIN, CLOCK, path=path).fetch(None)
    assert [e.uid for e in result.events] == ["fine"]
    warnings = " ".join(r.getMessage() for r in caplog.records)
    assert "skipping the broken series broken-series" in warnings


def test_a_weekly_series_across_fall_back_lands_in_the_same_local_slot(tmp_path: Path) -> None:
    from calsync.config import parse_config
    from calsync.ingest import sync_source
    from calsync.learning.slots import get_weekly_index
    from calsync.service import open as open_calsync

    path = tmp_path / "dst.ics"
    path.write_bytes(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
        b"BEGIN:VEVENT\r\nUID:weekly\r\nDTSTART;TZID=Europe/Berlin:20261019T090000\r\n"
        b"DTEND;TZID=Europe/Berlin:20261019T100000\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\n"
        b"SUMMARY:Coding\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    config = parse_config(
        {
            "user": {"timezone": "Europe/Berlin"},
            "task_types": [{"name": "Deep Coding", "keywords": ["coding"]}],
        }
    )
    clock = FixedClock(datetime(2026, 11, 10, tzinfo=UTC))
    with open_calsync(config, store_url=f"sqlite:///{tmp_path / 'c.db'}", clock=clock) as cs:
        source = IcsSource("file", BERLIN, clock, path=path)
        report = sync_source(cs, source)
        assert report.learned == 3
        with cs.store.read() as tx:
            slots = [u.slot for u in tx.updates_for_habit("me", tx.task_type_id("Deep Coding"))]
            offsets = sorted({e.start.utcoffset() for e in tx.events()})  # type: ignore[union-attr]
    # Before and after the change to winter time: Monday 09:00 local, every week.
    assert slots == [get_weekly_index(1, 9)] * 3
    assert [o.total_seconds() / 3600 for o in offsets] == [1.0, 2.0]


def test_the_window_moves_with_the_day_even_when_the_feed_does_not_change(
    server: FeedServer,
) -> None:
    clock = FixedClock(datetime(2026, 11, 27, 6, tzinfo=UTC))
    feed = IcsSource(
        "team",
        BERLIN,
        clock,
        url=server.url + "/feed.ics",
        days_back=0,
        days_ahead=1,
        policy=UrlPolicy(allow_private_network=True),
    )
    first = feed.fetch(None)
    assert [e.uid for e in first.events] == ["mine"]  # only the 27th is in the window
    clock.advance(timedelta(hours=3))
    same_day = feed.fetch(first.cursor)
    assert (same_day.full, same_day.events) == (False, [])
    assert server.requests[-1][1].get("If-None-Match") == '"v1"'
    clock.set(datetime(2026, 11, 23, 6, tzinfo=UTC))  # another day: the window holds other events
    other_day = feed.fetch(same_day.cursor)
    assert "If-None-Match" not in server.requests[-1][1]
    assert other_day.full
    assert sorted(e.uid for e in other_day.events) == ["series1"]
