"""A calsync with history, a real Radicale calendar and the web view, for the web tests.

:func:`make_site` builds it: a CalDAV source (the user's "Personal" calendar
with past coding sessions and one ahead this week, its title full of HTML
and a control character) and a CalDAV target ("calsync") on the same
Radicale server, approval mode on, one sync and one write-back cycle run, so
the week has proposals and an own session and the Plan page has something to
approve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from calsync.clock import FixedClock
from calsync.config import Config, parse_config
from calsync.ingest import sync_all
from calsync.service import Calsync
from calsync.service import open as open_calsync
from calsync.sources.factory import build_sources
from calsync.targets.base import Target
from calsync.targets.factory import build_targets
from calsync.web import RunningServer, start_in_thread
from calsync.writeback import run_cycle
from tests.radicale_server import RadicaleServer

BERLIN = ZoneInfo("Europe/Berlin")
#: Monday 2026-11-23, 07:00 in Berlin: the week shown is 23–29 November.
NOW = datetime(2026, 11, 23, 7, tzinfo=BERLIN)
#: The title of the user's own session ahead: HTML and ESC that must be shown, never obeyed.
HOSTILE = 'coding <img src=x onerror="alert(1)"> <b>bold</b> \x1b[2J'
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def vevent(uid: str, start: datetime, minutes: int, summary: str) -> str:
    """A calendar object with one event (times in UTC)."""
    fmt = "%Y%m%dT%H%M%SZ"
    end = start + timedelta(minutes=minutes)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//a calendar app//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20261101T000000Z",
        f"DTSTART:{start.astimezone(ZoneInfo('UTC')).strftime(fmt)}",
        f"DTEND:{end.astimezone(ZoneInfo('UTC')).strftime(fmt)}",
        f"SUMMARY:{summary}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


def site_config(server: RadicaleServer, state: Path, approval: str = "manual") -> Config:
    """Two task types, the Radicale source and target, approval mode."""
    return parse_config(
        {
            "state_dir": str(state),
            "user": {"id": "alice", "timezone": "Europe/Berlin"},
            "planning": {"approval": approval},
            "task_types": [
                {
                    "name": "Deep Coding",
                    "keywords": ["coding"],
                    "block_minutes": 60,
                    "weekly_target": {"sessions": 3},
                    "max_per_day": 1,
                    "windows": [{"days": ["weekdays"], "start": "08:00", "end": "18:00"}],
                },
                {
                    "name": "Email",
                    "keywords": ["email"],
                    "block_minutes": 30,
                    "weekly_target": {"sessions": 2},
                    "max_per_day": 1,
                },
            ],
            "sources": [
                {
                    "type": "caldav",
                    "name": "dav",
                    "url": server.url,
                    "username": "alice",
                    "password": "secret",
                    "calendars": ["Personal"],
                    "days_back": 30,
                    "days_ahead": 14,
                    "timeout_seconds": 5,
                }
            ],
            "targets": [{"type": "caldav", "name": "blocks", "source": "dav"}],
        }
    )


@dataclass
class Site:
    """Everything a web test touches."""

    cs: Calsync
    server: RadicaleServer
    web: RunningServer
    targets: list[Target]
    principal: Any
    client: Any

    @property
    def url(self) -> str:
        """The web view's base URL."""
        return self.web.url

    def calsync_events(self) -> list[Any]:
        """The events in the Radicale calendar calsync writes to."""
        calendars = [c for c in self.principal.get_calendars() if c.get_display_name() == "calsync"]
        return [e for c in calendars for e in c.search(event=True)]

    def close(self) -> None:
        """Stop the web view and close everything."""
        self.web.stop()
        for target in self.targets:
            close = getattr(target, "close", None)
            if close is not None:
                close()
        self.cs.close()
        self.client.close()


def make_site(tmp_path: Path, server: RadicaleServer, approval: str = "manual") -> Site:
    """Build the calsync, its history, one write-back cycle, and serve the web view."""
    client = server.client("alice", "secret")
    principal = client.get_principal()
    personal = principal.make_calendar(name="Personal")
    for week in range(1, 4):
        for day in (0, 1, 3):  # Monday, Tuesday, Thursday mornings
            start = NOW + timedelta(days=day - 7 * week, hours=2)
            personal.add_event(vevent(f"past-{week}-{day}", start, 60, "coding session"))
    ahead = NOW + timedelta(days=2, hours=7)  # Wednesday 14:00
    personal.add_event(vevent("ahead", ahead, 60, HOSTILE))
    config = site_config(server, tmp_path / "state", approval)
    clock = FixedClock(NOW)
    cs = open_calsync(config, store_url=f"sqlite:///{tmp_path / 'calsync.db'}", clock=clock)
    sources = build_sources(config, clock)
    sync_all(cs, sources)
    for source in sources:
        getattr(source, "close", lambda: None)()
    targets = build_targets(config, clock)
    for target in targets:
        run_cycle(cs, target)
    web = start_in_thread(cs, "127.0.0.1", 0, targets)
    return Site(cs, server, web, targets, principal, client)
