"""One contract, every target: like vdirsyncer's ``StorageTests``, run against each adapter.

:class:`TargetContract` holds the tests; each subclass supplies a
:class:`Harness` for one target over a real component: the memory target,
an ICS file on disk, a real Radicale server on 127.0.0.1 (CalDAV) and the
loopback Calendar v3 server driven by the real google-api-python-client
(Google). The cycle tests run :func:`calsync.writeback.run_cycle` with a
real SQLite store. A harness only does what the user, the server or the
disk would: add a foreign event, edit or delete a block, make the service
fail or answer short.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import icalendar
import pytest

from calsync.clock import FixedClock
from calsync.errors import TargetOwnershipError
from calsync.service import Calsync
from calsync.service import open as open_calsync
from calsync.targets import ics_file
from calsync.targets.base import ANY_INSTALLATION, BlockContent, OwnedEvent, Target
from calsync.targets.caldav import CaldavTarget
from calsync.targets.google import GoogleTarget
from calsync.targets.ical import block_uid
from calsync.targets.ics_file import IcsFileTarget
from calsync.targets.memory import MemoryTarget, StoredEvent
from calsync.writeback import purge, run_cycle

from .fake_google import FakeGoogle
from .radicale_server import RadicaleServer, Reply, Request
from .test_sources_google import credentials
from .test_targets_caldav import vevent
from .test_writeback import make_config

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 23, 7, tzinfo=BERLIN)
OTHER = "0ther1nstallat10"
START = datetime(2026, 11, 24, 9, tzinfo=UTC)


def block(sid: str, hours: int = 0, installation: str | None = None, **kw: Any) -> BlockContent:
    start = START + timedelta(hours=hours)
    values: dict[str, Any] = {
        "suggestion_id": sid,
        "task_type": "Deep Coding",
        "start": start,
        "end": start + timedelta(hours=1),
        "summary": "⧗ Deep Coding",
        "description": "why here",
        "color": "9",
        "transparent": True,
        "installation": installation,
    }
    return BlockContent(**(values | kw))


class Harness:
    """One target over its real component, and what a user or a fault does to it."""

    target: Target
    #: True when listing and fetching by id read the same thing (a file): an
    #: "empty listing" is then an emptied storage, not a short answer.
    listing_is_storage = False

    def remote_id(self, sid: str) -> str:
        """The remote id calsync gives the block ``sid``."""
        return sid

    def writes(self) -> int:
        """Write requests that reached the calendar so far."""
        raise NotImplementedError

    def add_foreign(self) -> None:
        """Add two events of the user's (no calsync marker), one under an id calsync could pick."""
        raise NotImplementedError

    def add_malformed(self) -> str:
        """Add an event whose calsync marker has an empty id; return its remote id."""
        raise NotImplementedError

    def state(self) -> dict[str, bytes]:
        """Every event as stored (bytes), by remote id: to prove untouched ones identical."""
        raise NotImplementedError

    def user_delete(self, remote_id: str) -> None:
        """The user deletes an event in their calendar app."""
        raise NotImplementedError

    def fail_writes(self, failing: bool) -> None:
        """Make every write fail (or work again)."""
        raise NotImplementedError

    def empty_listing(self, empty: bool) -> None:
        """Make listings answer nothing — or, where listing and reading are one, the storage."""
        raise NotImplementedError

    def vanish(self, remote_ids: list[str]) -> None:
        """The storage loses these events for a while (listing and fetch by id alike)."""
        raise NotImplementedError

    def reappear(self) -> None:
        """What :meth:`vanish` took comes back."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the server."""


# --------------------------------------------------------------------------- harnesses


class MemoryHarness(Harness):
    def __init__(self, tmp_path: Path) -> None:
        self.memory = MemoryTarget()
        self.target = self.memory
        self._gone: dict[str, StoredEvent] = {}

    def writes(self) -> int:
        return self.memory.writes

    def add_foreign(self) -> None:
        self.memory.add_foreign("dentist", START, START + timedelta(hours=1), "Dentist")
        self.memory.add_foreign("csforeign", START, START + timedelta(hours=2), "Lunch")

    def add_malformed(self) -> str:
        self.memory.events["broken"] = StoredEvent(
            "broken", START, START + timedelta(hours=1), "⧗ Email", owner_id=""
        )
        return "broken"

    def state(self) -> dict[str, bytes]:
        return {k: repr(v).encode() for k, v in self.memory.events.items()}

    def user_delete(self, remote_id: str) -> None:
        self.memory.user_delete(remote_id)

    def fail_writes(self, failing: bool) -> None:
        self.memory.fail_after = self.memory.writes if failing else None

    def empty_listing(self, empty: bool) -> None:
        self.memory.listing_limit = 0 if empty else None

    def vanish(self, remote_ids: list[str]) -> None:
        self._gone = {i: self.memory.events.pop(i) for i in remote_ids}

    def reappear(self) -> None:
        self.memory.events.update(self._gone)


class IcsHarness(Harness):
    """The file is calsync's own; its listing and its reading are one: faults are the disk's."""

    listing_is_storage = True

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "out" / "suggestions.ics"
        self.ics = IcsFileTarget("file", self.path, FixedClock(MONDAY))
        self.target = self.ics
        self._saved: bytes | None = None
        self._disk = pytest.MonkeyPatch()

    def remote_id(self, sid: str) -> str:
        return block_uid(sid)

    def writes(self) -> int:
        return self.ics.writes

    def _calendar(self) -> icalendar.Calendar:
        if not self.path.exists():
            self.ics.create(block("csinit", installation=OTHER))
            self.ics.delete(block_uid("csinit"), ANY_INSTALLATION)
        return icalendar.Calendar.from_ical(self.path.read_bytes())

    def _add(self, *lines: str) -> None:
        calendar = self._calendar()
        text = "\r\n".join(["BEGIN:VEVENT", *lines, "END:VEVENT", ""])
        calendar.add_component(icalendar.Event.from_ical(text))
        self.path.write_bytes(calendar.to_ical())

    def add_foreign(self) -> None:
        common = ["DTSTAMP:20261101T000000Z", "DTSTART:20261124T100000Z", "DTEND:20261124T110000Z"]
        self._add("UID:dentist", "SUMMARY:Dentist", *common)
        self._add("UID:csforeign@calsync", "SUMMARY:Lunch", "DESCRIPTION:bring cash", *common)

    def add_malformed(self) -> str:
        self._add(
            "UID:broken",
            "DTSTAMP:20261101T000000Z",
            "DTSTART:20261124T130000Z",
            "DTEND:20261124T140000Z",
            "SUMMARY:⧗ Email",
            "X-CALSYNC-ID:",
        )
        return "broken"

    def state(self) -> dict[str, bytes]:
        if not self.path.exists():
            return {}
        calendar = icalendar.Calendar.from_ical(self.path.read_bytes())
        return {str(c["UID"]): c.to_ical() for c in calendar.walk("VEVENT")}

    def user_delete(self, remote_id: str) -> None:
        calendar = self._calendar()
        calendar.subcomponents = [
            c for c in calendar.subcomponents if str(c.get("UID")) != remote_id
        ]
        self.path.write_bytes(calendar.to_ical())

    def fail_writes(self, failing: bool) -> None:
        # The disk refuses every atomic rewrite (full; tests run as root, so no chmod).
        def refuse(path: Path, data: bytes | str) -> Path:
            raise OSError(28, "No space left on device", str(path))

        if failing:
            self._disk.setattr(ics_file, "write_atomically", refuse)
        else:
            self._disk.undo()

    def close(self) -> None:
        self._disk.undo()

    def empty_listing(self, empty: bool) -> None:
        if empty:
            self._saved = self.path.read_bytes()
            calendar = self._calendar()
            calendar.subcomponents = [c for c in calendar.subcomponents if c.name != "VEVENT"]
            self.path.write_bytes(calendar.to_ical())
        else:
            assert self._saved is not None
            self.path.write_bytes(self._saved)

    def vanish(self, remote_ids: list[str]) -> None:
        self._saved = self.path.read_bytes()
        calendar = self._calendar()
        calendar.subcomponents = [
            c for c in calendar.subcomponents if str(c.get("UID")) not in remote_ids
        ]
        self.path.write_bytes(calendar.to_ical())

    def reappear(self) -> None:
        assert self._saved is not None
        self.path.write_bytes(self._saved)


class CaldavHarness(Harness):
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "radicale"
        self.server = RadicaleServer(self.root, {"alice": "secret"})
        self.dav = CaldavTarget(
            "dav",
            url=self.server.url,
            calendar="calsync",
            clock=FixedClock(MONDAY),
            tz=BERLIN,
            username="alice",
            password="secret",
            timeout=5,
        )
        self.target = self.dav
        self.client = self.server.client("alice", "secret")
        self._hidden: list[tuple[Path, bytes]] = []

    def remote_id(self, sid: str) -> str:
        return block_uid(sid)

    def calendar(self) -> Any:
        self.dav.list_owned()  # the target creates its calendar on first use
        (found,) = [
            c
            for c in self.client.get_principal().get_calendars()
            if c.get_display_name() == "calsync"
        ]
        return found

    def _files(self) -> dict[str, Path]:
        folder = self.root / "collections" / "collection-root" / "alice"
        found = {}
        for path in folder.rglob("*.ics"):
            if any(part.startswith(".Radicale") for part in path.parts):
                continue  # Radicale's own caches
            for component in icalendar.Calendar.from_ical(path.read_bytes()).walk("VEVENT"):
                found[str(component["UID"])] = path
        return found

    def writes(self) -> int:
        return len(self.server.writes())

    def add_foreign(self) -> None:
        calendar = self.calendar()
        calendar.add_event(vevent("dentist", "Dentist"))
        calendar.add_event(vevent("csforeign@calsync", "Lunch", "DESCRIPTION:bring cash"))

    def add_malformed(self) -> str:
        self.calendar().add_event(vevent("broken", "⧗ Email", "X-CALSYNC-ID:"))
        return "broken"

    def state(self) -> dict[str, bytes]:
        return {uid: path.read_bytes() for uid, path in self._files().items()}

    def user_delete(self, remote_id: str) -> None:
        self.calendar().get_event_by_uid(remote_id).delete()

    def fail_writes(self, failing: bool) -> None:
        def refuse(request: Request) -> Reply | None:
            if request.method in ("PUT", "DELETE"):
                return "503 Service Unavailable", [("Content-Type", "text/plain")], b"down"
            return None

        self.server.intercept = refuse if failing else None

    def empty_listing(self, empty: bool) -> None:
        # Only the listing (a time-range calendar-query) answers nothing; fetches by UID work.
        def nothing(request: Request) -> Reply | None:
            if request.method == "REPORT" and b"time-range" in request.body:
                body = b'<?xml version="1.0" encoding="utf-8"?><multistatus xmlns="DAV:"/>'
                return "207 Multi-Status", [("Content-Type", "text/xml; charset=utf-8")], body
            return None

        self.server.intercept = nothing if empty else None

    def partial_listing(self, keep: int) -> None:
        """Listings return only ``keep`` of the calendar's objects (fetches by UID work)."""
        objects = self.calendar().search(event=True)[:keep]
        responses = "".join(
            f"<response><href>{escape(o.url.path)}</href><propstat><prop>"
            f"<getetag>{escape(o.etag or '')}</getetag>"
            f"<C:calendar-data>{escape(o.data)}</C:calendar-data>"
            "</prop><status>HTTP/1.1 200 OK</status></propstat></response>"
            for o in objects
        )
        body = (
            '<?xml version="1.0" encoding="utf-8"?><multistatus xmlns="DAV:" '
            f'xmlns:C="urn:ietf:params:xml:ns:caldav">{responses}</multistatus>'
        ).encode()

        def short(request: Request) -> Reply | None:
            if request.method == "REPORT" and b"time-range" in request.body:
                return "207 Multi-Status", [("Content-Type", "text/xml; charset=utf-8")], body
            return None

        self.server.intercept = short

    def vanish(self, remote_ids: list[str]) -> None:
        files = self._files()
        self._hidden = [(files[i], files[i].read_bytes()) for i in remote_ids]
        for path, _ in self._hidden:
            path.unlink()

    def reappear(self) -> None:
        for path, data in self._hidden:
            path.write_bytes(data)

    def close(self) -> None:
        self.dav.close()
        self.client.close()
        self.server.close()


class GoogleHarness(Harness):
    WRITES = ("POST", "PATCH", "PUT", "DELETE")

    def __init__(self, tmp_path: Path) -> None:
        self.fake = FakeGoogle()
        self.target = GoogleTarget(
            "google",
            credentials(self.fake),
            "primary",
            FixedClock(MONDAY),
            api_endpoint=self.fake.api_endpoint,
            retries=1,
            sleep=lambda _s: None,
        )
        self._gone: dict[str, Any] = {}

    def writes(self) -> int:
        return len([r for r in self.fake.api_requests() if r["method"] in self.WRITES])

    def _event(self, event_id: str, summary: str, **extra: Any) -> None:
        self.fake.put(
            "primary",
            {
                "id": event_id,
                "summary": summary,
                "start": {"dateTime": START.isoformat()},
                "end": {"dateTime": (START + timedelta(hours=1)).isoformat()},
                **extra,
            },
        )

    def add_foreign(self) -> None:
        self._event("dentist", "Dentist")
        self._event("csforeign", "Lunch", description="bring cash")

    def add_malformed(self) -> str:
        self._event("broken", "⧗ Email", extendedProperties={"private": {"calsync": "1"}})
        return "broken"

    def state(self) -> dict[str, bytes]:
        return {
            k: json.dumps(v, sort_keys=True).encode()
            for k, v in self.fake.calendars["primary"].items()
            if v.get("status") != "cancelled"
        }

    def user_delete(self, remote_id: str) -> None:
        self.fake.remove("primary", remote_id)

    def fail_writes(self, failing: bool) -> None:
        if failing:
            for operation in ("insert", "patch", "delete"):
                self.fake.inject("503", operation)
        else:
            self.fake.clear_faults()

    def empty_listing(self, empty: bool) -> None:
        if empty:
            self.fake.inject("empty_list", "list")
        else:
            self.fake.clear_faults()

    def partial_listing(self, keep: int) -> None:
        """Listings return only some of the events (``partial_list``: half of them)."""
        self.fake.inject("partial_list", "list")

    def vanish(self, remote_ids: list[str]) -> None:
        self._gone = {i: dict(self.fake.calendars["primary"][i]) for i in remote_ids}
        for remote_id in remote_ids:
            self.fake.remove("primary", remote_id)

    def reappear(self) -> None:
        for event in self._gone.values():
            self.fake.put("primary", event)

    def close(self) -> None:
        self.fake.close()


class CrashAfterCreate:
    """A target whose process dies right after its first remote create succeeded."""

    def __init__(self, inner: Target) -> None:
        self.inner = inner
        self.name = inner.name
        self.crashed = False

    def list_owned(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[OwnedEvent]:
        return self.inner.list_owned(start, end)

    def get_owned(self, suggestion_id: str) -> OwnedEvent | None:
        return self.inner.get_owned(suggestion_id)

    def create(self, content: BlockContent) -> str:
        remote_id = self.inner.create(content)
        if not self.crashed:
            self.crashed = True
            raise KeyboardInterrupt("power cut after the remote write")
        return remote_id

    def update(self, remote_id: str, content: BlockContent) -> None:
        self.inner.update(remote_id, content)

    def delete(self, remote_id: str, installation: str | None = None) -> None:
        self.inner.delete(remote_id, installation)

    def close(self) -> None:
        self.inner.close()


# --------------------------------------------------------------------------- the contract


def skips(cs: Calsync) -> set[str]:
    """Ids of the suggestions a skip was learned for."""
    with cs.store.read() as tx:
        return {
            r.id
            for r in tx.suggestions("me")
            if tx.find_update(f"suggestion:{r.id}:skip") is not None
        }


def installation_of(cs: Calsync) -> str:
    with cs.store.read() as tx:
        return tx.installation_id()


class TargetContract:
    """The tests every target passes; subclasses set :attr:`harness_class`."""

    harness_class: type[Harness]

    @pytest.fixture
    def harness(self, tmp_path: Path) -> Iterator[Harness]:
        made = self.harness_class(tmp_path)
        yield made
        made.close()

    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'c.db'}"

    @pytest.fixture
    def cs(self, url: str) -> Iterator[Calsync]:
        instance = open_calsync(make_config(), store_url=url, clock=FixedClock(MONDAY))
        yield instance
        instance.close()

    def owned(self, harness: Harness) -> dict[str, OwnedEvent]:
        return {e.suggestion_id: e for e in harness.target.list_owned()}

    # ----------------------------------------------------------------- the adapter

    def test_round_trip(self, harness: Harness) -> None:
        target = harness.target
        assert isinstance(target, Target)
        remote_id = target.create(block("cs1", installation="mine"))
        assert remote_id == harness.remote_id("cs1")
        (listed,) = target.list_owned()
        assert (listed.suggestion_id, listed.installation) == ("cs1", "mine")
        assert (listed.start, listed.end) == (START, START + timedelta(hours=1))
        assert target.get_owned("cs1") == listed
        assert target.get_owned("csnothere") is None
        target.update(remote_id, block("cs1", hours=3, installation="mine"))
        fetched = target.get_owned("cs1")
        assert fetched is not None
        assert fetched.start == START + timedelta(hours=3)
        with pytest.raises(TargetOwnershipError):
            target.delete(remote_id, "someone-else")
        target.delete(remote_id, "mine")
        target.delete(remote_id, "mine")  # already gone: fine
        assert target.list_owned() == []
        assert target.get_owned("cs1") is None

    def test_create_adopts_the_same_id_instead_of_duplicating(self, harness: Harness) -> None:
        target = harness.target
        target.create(block("cs1", installation="mine"))
        target.create(block("cs1", hours=2, installation="mine"))  # a retry after a crash
        (listed,) = target.list_owned()
        assert listed.start == START + timedelta(hours=2)

    def test_foreign_events_are_refused_and_stay_byte_identical(self, harness: Harness) -> None:
        harness.add_foreign()
        before = harness.state()
        target = harness.target
        assert target.list_owned() == []
        assert target.get_owned("csforeign") is None
        writes = harness.writes()
        for attempt in (
            lambda: target.update(harness.remote_id("csforeign"), block("csforeign")),
            lambda: target.delete(harness.remote_id("csforeign"), ANY_INSTALLATION),
            lambda: target.create(block("csforeign", installation="mine")),
        ):
            with pytest.raises(TargetOwnershipError):
                attempt()
        assert harness.writes() == writes
        assert harness.state() == before

    def test_another_installations_block_and_a_malformed_one_are_refused(
        self, harness: Harness
    ) -> None:
        target = harness.target
        theirs = target.create(block("cstheirs", installation=OTHER))
        broken = harness.add_malformed()
        before = harness.state()
        listed = {e.remote_id: e for e in target.list_owned()}
        assert listed[theirs].installation == OTHER
        assert listed[broken].malformed
        for attempt in (
            lambda: target.update(theirs, block("cstheirs", installation="mine")),
            lambda: target.create(block("cstheirs", installation="mine")),
            lambda: target.delete(theirs, "mine"),
            lambda: target.delete(broken, "mine"),
        ):
            with pytest.raises(TargetOwnershipError):
                attempt()
        assert harness.state() == before
        target.delete(theirs, ANY_INSTALLATION)
        target.delete(broken, ANY_INSTALLATION)
        assert target.list_owned() == []

    # ----------------------------------------------------------------- the cycle

    def test_a_cycle_then_a_second_that_writes_nothing(self, harness: Harness, cs: Calsync) -> None:
        first = run_cycle(cs, harness.target)
        assert first.error is None
        assert len(first.plan) == 5
        owned = self.owned(harness)
        assert set(owned) == {b.id for b in first.plan}
        assert {e.installation for e in owned.values()} == {installation_of(cs)}
        writes = harness.writes()
        second = run_cycle(cs, harness.target)
        assert (second.actions, second.error) == ([], None)
        assert harness.writes() == writes

    def test_adoption_after_a_crash_between_the_write_and_the_commit(
        self, harness: Harness, url: str
    ) -> None:
        crashing = CrashAfterCreate(harness.target)
        with (
            open_calsync(make_config(), store_url=url, clock=FixedClock(MONDAY)) as cs,
            pytest.raises(KeyboardInterrupt),
        ):
            run_cycle(cs, crashing)
        (written,) = self.owned(harness)
        with open_calsync(make_config(), store_url=url, clock=FixedClock(MONDAY)) as cs:
            report = run_cycle(cs, harness.target)
            owned = self.owned(harness)
            assert len(owned) == len(report.plan) == 5
            assert written in owned  # adopted, not replaced
            with cs.store.read() as tx:
                assert sorted(r.status for r in tx.suggestions("me")) == ["active"] * 5
            assert run_cycle(cs, harness.target).actions == []

    def test_a_write_cut_short_of_our_installation_is_removed(
        self, harness: Harness, cs: Calsync
    ) -> None:
        run_cycle(cs, harness.target)
        harness.target.create(block("csunknown", installation=installation_of(cs)))
        report = run_cycle(cs, harness.target)
        assert [a.reason for a in report.actions] == ["unknown to calsync"]  # type: ignore[union-attr]
        assert "csunknown" not in self.owned(harness)

    def test_foreign_events_and_other_installations_blocks_survive_cycles_and_purge(
        self, harness: Harness, cs: Calsync, caplog: pytest.LogCaptureFixture
    ) -> None:
        harness.add_foreign()
        theirs = harness.target.create(block("cstheirs", hours=30, installation=OTHER))
        legacy_unknown = harness.target.create(block("csoldunknown", hours=50))
        broken = harness.add_malformed()
        untouchable = [theirs, legacy_unknown, broken, "dentist", harness.remote_id("csforeign")]
        before = {k: v for k, v in harness.state().items() if k in untouchable}
        assert len(before) == 5
        with caplog.at_level("WARNING", logger="calsync.writeback"):
            first = run_cycle(cs, harness.target)
            second = run_cycle(cs, harness.target)
        assert first.error is None
        assert first.foreign == second.foreign == 3
        assert second.actions == []
        reported = [r.getMessage() for r in caplog.records if "leaves it alone" in r.getMessage()]
        assert len(reported) == 3  # once per block, not once per cycle
        assert skips(cs) == set()
        removed = purge(cs, [harness.target])[harness.target.name]
        assert len(removed) == 5
        assert removed.kept == 3
        assert {b.task_type for b in removed.removed} == {"Deep Coding", "Email"}
        assert {k: v for k, v in harness.state().items() if k in untouchable} == before
        everything = purge(cs, [harness.target], all_installations=True)[harness.target.name]
        assert len(everything) == 3
        assert harness.target.list_owned() == []
        state = harness.state()
        assert {k: state[k] for k in ("dentist", harness.remote_id("csforeign"))} == {
            k: before[k] for k in ("dentist", harness.remote_id("csforeign"))
        }

    def test_blocks_written_before_installation_ids_stay_owned(
        self, harness: Harness, cs: Calsync
    ) -> None:
        first = run_cycle(cs, harness.target)
        mine = installation_of(cs)
        # Rewrite every block in the old form: a marker without the installation id.
        for event in harness.target.list_owned():
            content = block(event.suggestion_id, start=event.start, end=event.end)
            harness.target.delete(event.remote_id, mine)
            harness.target.create(content)
        assert {e.installation for e in harness.target.list_owned()} == {None}
        second = run_cycle(cs, harness.target)
        assert second.foreign == 0
        assert not [a for a in second.actions if type(a).__name__ == "Delete"]
        assert set(self.owned(harness)) == {b.id for b in first.plan}
        assert skips(cs) == set()
        assert len(purge(cs, [harness.target])[harness.target.name]) == 5
        assert harness.target.list_owned() == []

    def test_purge_removes_every_block_and_says_which(self, harness: Harness, cs: Calsync) -> None:
        harness.add_foreign()
        foreign = harness.state()
        first = run_cycle(cs, harness.target)
        report = purge(cs, [harness.target])[harness.target.name]
        assert sorted((b.start, b.task_type) for b in report.removed) == sorted(
            (b.start, b.task_type) for b in first.plan
        )
        assert harness.target.list_owned() == []
        assert harness.state() == foreign
        with cs.store.read() as tx:
            assert {r.status for r in tx.suggestions("me")} == {"retracted"}

    def test_every_write_failing_then_a_healthy_cycle_converges(
        self, harness: Harness, cs: Calsync
    ) -> None:
        harness.target.list_owned()  # (a CalDAV calendar exists before writes fail)
        harness.fail_writes(True)
        failed = run_cycle(cs, harness.target)
        assert failed.error is not None
        assert failed.written == 0
        assert self.owned(harness) == {}
        harness.fail_writes(False)
        healed = run_cycle(cs, harness.target)
        assert healed.error is None
        owned = harness.target.list_owned()
        assert len(owned) == len({e.suggestion_id for e in owned}) == 5
        assert len({(e.start, e.summary) for e in owned}) == 5  # no duplicate
        assert {e.suggestion_id for e in owned} == {b.id for b in healed.plan}
        assert run_cycle(cs, harness.target).actions == []
        assert skips(cs) == set()

    def test_an_empty_listing_changes_nothing(self, harness: Harness, cs: Calsync) -> None:
        first = run_cycle(cs, harness.target)
        before = self.owned(harness)
        writes = harness.writes()
        harness.empty_listing(True)
        blind = run_cycle(cs, harness.target)
        harness.empty_listing(False)
        assert blind.actions == []
        assert harness.writes() == writes
        assert skips(cs) == set()
        # A short answer is corrected by fetching each block by id; an emptied
        # storage is a mass absence, held for a second look.
        assert blind.observed == ({"missing": 5} if harness.listing_is_storage else {})
        again = run_cycle(cs, harness.target)
        assert (again.actions, again.error) == ([], None)
        assert self.owned(harness) == before
        assert {b.id for b in again.plan} == {b.id for b in first.plan}
        with cs.store.read() as tx:
            assert {r.status for r in tx.suggestions("me")} == {"active"}
        assert skips(cs) == set()

    def test_a_storage_that_loses_most_blocks_for_a_while_teaches_nothing(
        self, harness: Harness, cs: Calsync
    ) -> None:
        first = run_cycle(cs, harness.target)
        ids = sorted(b.id for b in first.plan)  # type: ignore[type-var]
        writes = harness.writes()
        harness.vanish([harness.remote_id(i) for i in ids])  # all gone, fetches too
        held = run_cycle(cs, harness.target)
        assert held.observed == {"missing": 5}
        assert held.actions == []
        assert harness.writes() == writes
        harness.reappear()
        back = run_cycle(cs, harness.target)
        assert (back.actions, back.error) == ([], None)
        assert set(self.owned(harness)) == set(ids)
        with cs.store.read() as tx:
            assert {r.status for r in tx.suggestions("me")} == {"active"}
        assert skips(cs) == set()

    def test_a_mass_absence_seen_twice_is_lost_not_declined(
        self, harness: Harness, cs: Calsync
    ) -> None:
        first = run_cycle(cs, harness.target)
        ids = sorted(b.id for b in first.plan)  # type: ignore[type-var]
        harness.vanish([harness.remote_id(i) for i in ids])  # everything, for good
        assert run_cycle(cs, harness.target).observed == {"missing": 5}
        lost = run_cycle(cs, harness.target)
        assert lost.observed == {"lost": 5}
        assert lost.actions == []  # they count for their week: nothing is re-planned
        assert skips(cs) == set()
        assert run_cycle(cs, harness.target).actions == []

    def test_a_block_the_user_deletes_is_confirmed_and_learned(
        self, harness: Harness, cs: Calsync
    ) -> None:
        first = run_cycle(cs, harness.target)
        victim = first.plan[-1].id
        assert victim is not None
        harness.user_delete(harness.remote_id(victim))
        second = run_cycle(cs, harness.target)
        assert second.observed == {"declined": 1}
        assert skips(cs) == {victim}
        assert victim not in self.owned(harness)


class TestMemoryTarget(TargetContract):
    harness_class = MemoryHarness

    def test_a_partial_listing_changes_nothing(self, harness: Harness, cs: Calsync) -> None:
        run_cycle(cs, harness.target)
        assert isinstance(harness, MemoryHarness)
        harness.memory.listing_limit = 2
        report = run_cycle(cs, harness.target)
        assert (report.actions, report.observed) == ([], {})
        harness.memory.listing_limit = None
        assert len(self.owned(harness)) == 5
        assert skips(cs) == set()

    def test_a_failing_fetch_leaves_an_absence_unconfirmed(
        self, harness: Harness, cs: Calsync
    ) -> None:
        first = run_cycle(cs, harness.target)
        assert isinstance(harness, MemoryHarness)
        victim = first.plan[0].id
        assert victim is not None
        harness.user_delete(victim)
        harness.memory.fail_gets = True
        report = run_cycle(cs, harness.target)
        harness.memory.fail_gets = False
        assert report.unconfirmed == 1
        assert report.observed == {}
        assert skips(cs) == set()
        assert run_cycle(cs, harness.target).observed == {"declined": 1}
        assert skips(cs) == {victim}


class TestIcsFileTarget(TargetContract):
    harness_class = IcsHarness

    def test_the_file_stays_private(self, harness: Harness, cs: Calsync) -> None:
        run_cycle(cs, harness.target)
        assert isinstance(harness, IcsHarness)
        assert os.stat(harness.path).st_mode & 0o077 == 0


class TestCaldavTarget(TargetContract):
    harness_class = CaldavHarness

    def test_a_partial_listing_changes_nothing(self, harness: Harness, cs: Calsync) -> None:
        run_cycle(cs, harness.target)
        assert isinstance(harness, CaldavHarness)
        harness.partial_listing(keep=2)
        report = run_cycle(cs, harness.target)
        harness.server.intercept = None
        assert (report.actions, report.observed, report.error) == ([], {}, None)
        assert len(self.owned(harness)) == 5
        assert skips(cs) == set()

    def test_a_renamed_calendar_does_not_poison_learning(
        self, harness: Harness, cs: Calsync
    ) -> None:
        import caldav.elements.dav as dav

        first = run_cycle(cs, harness.target)
        assert isinstance(harness, CaldavHarness)
        harness.calendar().set_properties([dav.DisplayName("Focus")])
        harness.dav.close()  # a restart: the calendar is looked up by name again
        report = run_cycle(cs, harness.target)  # "calsync" is created anew, empty
        assert report.observed == {}
        assert skips(cs) == set()
        names = sorted(c.get_display_name() for c in harness.client.get_principal().get_calendars())
        assert names == ["Focus", "calsync"]
        with cs.store.read() as tx:
            statuses = {r.id: r.status for r in tx.suggestions("me")}
        assert {statuses[b.id] for b in first.plan} == {"active"}  # type: ignore[index]


class TestGoogleTarget(TargetContract):
    harness_class = GoogleHarness

    def test_a_partial_listing_changes_nothing(self, harness: Harness, cs: Calsync) -> None:
        run_cycle(cs, harness.target)
        assert isinstance(harness, GoogleHarness)
        harness.partial_listing(keep=2)
        report = run_cycle(cs, harness.target)
        harness.fake.clear_faults()
        assert (report.actions, report.observed, report.error) == ([], {}, None)
        assert len(self.owned(harness)) == 5
        assert skips(cs) == set()
