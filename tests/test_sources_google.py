"""Google Calendar through the real google-api-python-client against a loopback fake."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from google.oauth2.credentials import Credentials

from calsync.clock import FixedClock
from calsync.config import parse_config
from calsync.errors import AuthError, SourceError, TransientSourceError
from calsync.ingest import sync_all, sync_source
from calsync.service import Calsync
from calsync.service import open as open_calsync
from calsync.sources.factory import build_source
from calsync.sources.google import SCOPE, GoogleSource
from calsync.sources.memory import MemorySource

from .fake_google import FakeGoogle

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 24, 18, tzinfo=UTC)


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle(page_size=2)
    yield fake
    fake.close()


def credentials(fake: FakeGoogle, expired: bool = False) -> Credentials:
    # google-auth compares expiry with the real clock, in naive UTC.
    expiry = datetime(2000, 1, 1) if expired else datetime(2100, 1, 1)  # noqa: DTZ001
    return Credentials(
        token="valid-token",
        refresh_token="refresh-1",
        token_uri=fake.token_uri,
        client_id="client",
        client_secret="secret",
        scopes=[SCOPE],
        expiry=expiry.replace(tzinfo=None),
    )


def make_source(fake: FakeGoogle, clock: FixedClock | None = None, **kw: object) -> GoogleSource:
    sleeps: list[float] = []
    kw.setdefault("credentials", credentials(fake))
    source = GoogleSource(
        "google",
        calendar_ids=kw.pop("calendar_ids", ["primary"]),  # type: ignore[arg-type]
        tz=BERLIN,
        clock=clock or FixedClock(NOW),
        api_endpoint=fake.api_endpoint,
        sleep=sleeps.append,
        **kw,  # type: ignore[arg-type]
    )
    source.sleeps = sleeps  # type: ignore[attr-defined]
    return source


def timed(event_id: str, summary: str, start: datetime, hours: float = 1, **extra: object) -> dict:
    return {
        "id": event_id,
        "summary": summary,
        "start": {"dateTime": start.isoformat(), "timeZone": "Europe/Berlin"},
        "end": {"dateTime": (start + timedelta(hours=hours)).isoformat()},
        **extra,
    }


def day(n: int, hour: int) -> datetime:
    return datetime(2026, 11, n, hour, tzinfo=BERLIN)


def test_full_listing_follows_every_page(google: FakeGoogle) -> None:
    for i in range(5):
        google.put("primary", timed(f"ev{i}", f"coding {i}", day(20 + i, 9)))
    result = make_source(google).fetch(None)
    assert result.full
    assert sorted(e.summary for e in result.events) == [f"coding {i}" for i in range(5)]
    lists = google.api_requests("GET")
    assert [r["query"].get("pageToken") for r in lists] == [None, "2", "4"]
    assert all(r["auth"] == "Bearer valid-token" for r in lists)
    assert lists[0]["query"]["singleEvents"] == "true"
    assert lists[0]["query"]["timeMin"].startswith("2026-09-25")  # 60 days back
    assert json.loads(result.cursor or "") == {"primary": f"sync-{google.seq}"}


def test_incremental_sync_reports_changes_and_deletions(google: FakeGoogle) -> None:
    google.put("primary", timed("a", "coding", day(23, 9)))
    google.put("primary", timed("b", "email", day(23, 11)))
    source = make_source(google)
    first = source.fetch(None)
    google.put("primary", timed("a", "coding ✓", day(23, 9)))
    google.put("primary", timed("c", "gym", day(24, 7)))
    google.remove("primary", "b")
    second = source.fetch(first.cursor)
    assert not second.full
    assert sorted(e.summary for e in second.events) == ["coding ✓", "gym"]
    assert second.deleted == ["google:primary/b:"]
    last = google.api_requests("GET")[-1]["query"]
    assert "timeMin" not in last
    assert last["syncToken"] == json.loads(first.cursor or "")["primary"]
    third = source.fetch(second.cursor)
    assert (third.events, third.deleted, third.full) == ([], [], False)


def test_an_expired_token_means_a_full_listing(google: FakeGoogle) -> None:
    google.put("primary", timed("a", "coding", day(23, 9)))
    source = make_source(google)
    first = source.fetch(None)
    google.expire_tokens()
    again = source.fetch(first.cursor)
    assert again.full
    assert [e.summary for e in again.events] == ["coding"]
    statuses = [r["query"].get("syncToken") is not None for r in google.api_requests("GET")]
    assert statuses == [False, True, False]


def test_transient_errors_are_retried_with_backoff(google: FakeGoogle) -> None:
    google.put("primary", timed("a", "coding", day(23, 9)))
    google.failures = [
        (429, "rateLimitExceeded"),
        (503, "backendError"),
        (403, "rateLimitExceeded"),
    ]
    source = make_source(google)
    result = source.fetch(None)
    assert [e.summary for e in result.events] == ["coding"]
    assert source.sleeps == [1.0, 2.0, 4.0]  # type: ignore[attr-defined]


def test_retries_run_out(google: FakeGoogle) -> None:
    google.failures = [(500, "backendError")] * 3
    source = make_source(google, retries=2)
    with pytest.raises(TransientSourceError, match="HTTP 500 after 2 retries"):
        source.fetch(None)
    assert source.sleeps == [1.0, 2.0]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "reason", "error"),
    [
        (403, "quotaExceeded", TransientSourceError),
        (403, "forbidden", AuthError),
        # google-auth refreshes the token twice on 401 before giving up.
        (401, "authError", AuthError),
        (404, "notFound", SourceError),
    ],
)
def test_other_errors_are_translated(
    google: FakeGoogle, status: int, reason: str, error: type
) -> None:
    google.failures = [(status, reason)] * 3
    source = make_source(google)
    with pytest.raises(error):
        source.fetch(None)
    assert source.sleeps == []  # type: ignore[attr-defined]


def test_invalid_grant_asks_for_reauthorization(google: FakeGoogle) -> None:
    google.token_error = "invalid_grant"
    source = make_source(google, credentials=credentials(google, expired=True))
    with pytest.raises(AuthError, match="calsync auth google"):
        source.fetch(None)
    assert google.api_requests() == []


def test_events_are_normalized(google: FakeGoogle) -> None:
    google.put(
        "primary", timed("t", "Deep work", day(23, 9), colorId="5", description="rating: 4/5")
    )
    google.put(
        "primary",
        {
            "id": "allday",
            "summary": "Holiday",
            "start": {"date": "2026-11-26"},
            "end": {"date": "2026-11-27"},
            "transparency": "transparent",
        },
    )
    google.put(
        "primary",
        timed(
            "dec",
            "Team sync",
            day(24, 10),
            attendees=[{"email": "me@x", "self": True, "responseStatus": "declined"}],
        ),
    )
    google.put(
        "primary",
        timed(
            "mine",
            "⧗ Deep Coding",
            day(25, 9),
            status="tentative",
            extendedProperties={"private": {"calsync": "1", "calsync_id": "s-1"}},
        ),
    )
    events = {e.uid: e for e in make_source(google).fetch(None).events}
    t = events["primary/t"]
    assert t.start == day(23, 9)
    assert (t.color, t.description, t.calendar, t.transparency) == (
        "5",
        "rating: 4/5",
        "primary",
        "opaque",
    )
    assert events["primary/allday"].all_day
    assert events["primary/allday"].transparency == "transparent"
    assert events["primary/dec"].declined
    assert events["primary/mine"].suggestion_id == "s-1"
    assert events["primary/mine"].status == "tentative"


# ---------------------------------------------------------------- through ingestion


@pytest.fixture
def cs(tmp_path: Path) -> Iterator[Calsync]:
    config = parse_config(
        {
            "user": {"timezone": "Europe/Berlin"},
            "task_types": [{"name": "Deep Coding", "keywords": ["coding"]}],
        }
    )
    instance = open_calsync(
        config, store_url=f"sqlite:///{tmp_path / 'c.db'}", clock=FixedClock(NOW)
    )
    yield instance
    instance.close()


def test_each_occurrence_counts_once_across_polls_and_resyncs(
    google: FakeGoogle, cs: Calsync
) -> None:
    google.put("primary", timed("a", "coding", day(23, 9)))
    google.put("primary", timed("b", "coding", day(24, 9)))
    google.put("primary", timed("later", "coding", day(26, 9)))  # not ended yet
    source = make_source(google)
    first = sync_source(cs, source)
    assert (first.ok, first.full, first.learned) == (True, True, 2)
    assert cs.habit("Deep Coding").count == 2

    assert sync_source(cs, source).learned == 0  # nothing changed
    google.expire_tokens()
    resync = sync_source(cs, source)
    assert (resync.full, resync.learned) == (True, 0)
    assert cs.habit("Deep Coding").count == 2

    # A rating added afterwards replaces the earlier update.
    google.put(
        "primary", timed("a", "coding", day(23, 9), description="rating: 5/5\nnote: quiet office")
    )
    edited = sync_source(cs, source)
    assert (edited.learned, edited.corrected, edited.insights) == (0, 1, 1)
    assert cs.habit("Deep Coding").count == 2

    # The future event passes: learned without Google resending it.
    cs.clock.set(day(26, 11))  # type: ignore[attr-defined]
    passed = sync_source(cs, source)
    assert (passed.received, passed.learned) == (0, 1)
    assert cs.habit("Deep Coding").count == 3


def test_a_full_resync_reconciles_deletions_against_the_mirror(
    google: FakeGoogle, cs: Calsync
) -> None:
    google.put("primary", timed("a", "meeting", day(27, 9)))
    google.put("primary", timed("b", "meeting", day(27, 11)))
    source = make_source(google)
    sync_source(cs, source)
    google.remove("primary", "b")
    google.expire_tokens()
    report = sync_source(cs, source)
    assert (report.full, report.deleted) == (True, 1)
    with cs.store.read() as tx:
        assert [e.uid for e in tx.events(source="google")] == ["primary/a"]


def test_a_source_needing_reauthorization_does_not_stop_the_others(
    google: FakeGoogle, cs: Calsync
) -> None:
    google.token_error = "invalid_grant"
    broken = make_source(google, credentials=credentials(google, expired=True))
    other = MemorySource("memory")
    reports = sync_all(cs, [broken, other])
    assert [(r.source, r.ok, r.needs_reauth) for r in reports] == [
        ("google", False, True),
        ("memory", True, False),
    ]
    assert "calsync auth google" in reports[0].summary()
    with cs.store.read() as tx:
        state = tx.sync_state("google")
        assert state is not None
        assert state.needs_reauth
        assert state.consecutive_failures == 1


# ---------------------------------------------------------------- token files


def write_token(path: Path, fake: FakeGoogle, mode: int, expired: bool) -> None:
    info = json.loads(credentials(fake, expired=expired).to_json())
    path.write_text(json.dumps(info), encoding="utf-8")
    os.chmod(path, mode)


def google_config(tmp_path: Path, fake: FakeGoogle) -> object:
    return parse_config(
        {
            "state_dir": str(tmp_path),
            "sources": [{"type": "google", "name": "g", "api_endpoint": fake.api_endpoint}],
        }
    )


def test_a_token_file_others_can_read_is_refused(google: FakeGoogle, tmp_path: Path) -> None:
    write_token(tmp_path / "google-g.json", google, 0o644, expired=False)
    config = google_config(tmp_path, google)
    source = build_source(config, config.sources[0], FixedClock(NOW))  # type: ignore[attr-defined]
    with pytest.raises(AuthError, match="chmod 600"):
        source.fetch(None)
    assert google.requests == []


def test_a_refreshed_token_is_saved_back_privately(google: FakeGoogle, tmp_path: Path) -> None:
    token = tmp_path / "google-g.json"
    write_token(token, google, 0o600, expired=True)
    config = google_config(tmp_path, google)
    source = build_source(config, config.sources[0], FixedClock(NOW))  # type: ignore[attr-defined]
    assert source.fetch(None).full
    assert google.api_requests()[0]["auth"] == "Bearer access-1"
    assert json.loads(token.read_text(encoding="utf-8"))["token"] == "access-1"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600


def test_the_fake_speaks_insert_get_patch_delete_to_the_real_client(google: FakeGoogle) -> None:
    """The write half of the wire format, which write-back builds on."""
    import google_auth_httplib2
    import httplib2
    from googleapiclient.discovery import build
    from googleapiclient.errors import HttpError

    http = google_auth_httplib2.AuthorizedHttp(credentials(google), http=httplib2.Http(timeout=5))
    service = build(
        "calendar",
        "v3",
        http=http,
        static_discovery=True,
        client_options={"api_endpoint": google.api_endpoint},
    )
    events = service.events()
    body = timed(
        "calsync0abc",
        "⧗ Deep Coding",
        day(25, 9),
        status="tentative",
        extendedProperties={"private": {"calsync": "1", "calsync_id": "s-9"}},
    )
    created = events.insert(calendarId="primary", body=body).execute()
    assert created["id"] == "calsync0abc"
    with pytest.raises(HttpError) as duplicate:
        events.insert(calendarId="primary", body=body).execute()
    assert duplicate.value.status_code == 409
    patched = events.patch(
        calendarId="primary", eventId="calsync0abc", body={"summary": "moved"}
    ).execute()
    assert patched["summary"] == "moved"
    assert events.get(calendarId="primary", eventId="calsync0abc").execute()["summary"] == "moved"
    owned = events.list(calendarId="primary", privateExtendedProperty="calsync=1").execute()
    assert [e["id"] for e in owned["items"]] == ["calsync0abc"]
    events.delete(calendarId="primary", eventId="calsync0abc").execute()
    assert (
        events.get(calendarId="primary", eventId="calsync0abc").execute()["status"] == "cancelled"
    )
    methods = [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in google.api_requests()]
    assert methods[:3] == [("POST", "events"), ("POST", "events"), ("PATCH", "calsync0abc")]
    assert methods[-1] == ("GET", "calsync0abc")
