"""The service: a whole cycle against real servers, the lock, signals, notifications, kill -9.

The whole cycle runs against the loopback Google server, a real Radicale and
an ICS feed over HTTP; the service runs as a real process for systemd
notifications, SIGTERM, a second instance and a ``kill -9`` mid-cycle.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calsync.clock import FixedClock
from calsync.config import load_config
from calsync.daemon import AlreadyRunningError, Daemon

from .fake_google import FakeGoogle
from .radicale_server import RadicaleServer
from .test_sources_google import credentials
from .test_sources_ics import FEED, FeedServer

TASKS = """
[user]
timezone = "Europe/Berlin"

[[task_types]]
name = "Deep Coding"
keywords = ["coding"]
block_minutes = 60
weekly_target = { sessions = 3 }
max_per_day = 1

[[task_types]]
name = "Email"
keywords = ["email"]
block_minutes = 30
weekly_target = { sessions = 2 }
"""


class Recorder:
    """A notifier double that records what the daemon tells systemd."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def ready(self, status: str | None = None) -> None:
        self.messages.append("READY=1")

    def status(self, text: str) -> None:
        self.messages.append(f"STATUS={text}")

    def watchdog(self) -> None:
        self.messages.append("WATCHDOG=1")

    def stopping(self) -> None:
        self.messages.append("STOPPING=1")

    def reloading(self) -> None:
        self.messages.append("RELOADING=1")

    def watchdog_interval(self) -> float | None:
        return None


def write_token(state: Path, google: FakeGoogle, name: str = "g") -> None:
    state.mkdir(parents=True, exist_ok=True)
    token = state / f"google-{name}.json"
    token.write_text(credentials(google).to_json(), encoding="utf-8")
    token.chmod(0o600)


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle()
    yield fake
    fake.close()


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[RadicaleServer]:
    server = RadicaleServer(tmp_path / "radicale", {"alice": "secret"})
    yield server
    server.close()


def test_a_whole_cycle_against_google_radicale_and_an_ics_feed(
    tmp_path: Path, google: FakeGoogle, feed: FeedServer, radicale: RadicaleServer
) -> None:
    clock = FixedClock(datetime(2026, 11, 27, 12, tzinfo=UTC))
    state = tmp_path / "state"
    write_token(state, google)
    google.put(
        "primary",
        {
            "id": "g1",
            "summary": "coding with Ana",
            "start": {"dateTime": "2026-11-25T09:00:00+01:00"},
            "end": {"dateTime": "2026-11-25T10:00:00+01:00"},
            "description": "rating: 5/5",
        },
    )
    client = radicale.client("alice", "secret")
    calendar = client.get_principal().make_calendar(name="Work", cal_id="work")
    calendar.add_event(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:dav1\r\n"
        "DTSTART:20261126T080000Z\r\nDTEND:20261126T083000Z\r\nSUMMARY:email triage\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        f'state_dir = "{state}"\n'
        + TASKS
        + f"""
[[sources]]
type = "ics"
name = "feed"
url = "{feed.url}/feed.ics"
allow_private_network = true

[[sources]]
type = "google"
name = "g"
api_endpoint = "{google.api_endpoint}"

[[sources]]
type = "caldav"
name = "dav"
url = "{radicale.url}"
username = "alice"
password = "secret"

[[targets]]
type = "google"
name = "blocks"
source = "g"
""",
        encoding="utf-8",
    )
    recorder = Recorder()
    with Daemon(load_config(config_file), config_file, clock=clock, notifier=recorder) as daemon:
        first = daemon.run_once()
        assert [(r.source, r.ok) for r in first.sources] == [
            ("feed", True),
            ("g", True),
            ("dav", True),
        ]
        assert {r.source: r.learned for r in first.sources} == {"feed": 2, "g": 1, "dav": 1}
        (written,) = first.writeback
        assert written.error is None
        assert written.written == len(written.plan) > 0
        posts = len(google.api_requests("POST"))
        second = daemon.cycle(force=True)
        assert all(r.ok for r in second.sources)
        assert second.writeback[0].actions == []
        assert len(google.api_requests("POST")) == posts
        assert daemon.cs is not None
        assert daemon.cs.progress().total_completions == 4
    status = json.loads((state / "status.json").read_text(encoding="utf-8"))
    assert status["last_cycle"].startswith("polled 3 source(s)")
    assert any(m.startswith("STATUS=polled 3 source(s)") for m in recorder.messages)


def test_one_failing_source_never_stops_the_others(tmp_path: Path, feed: FeedServer) -> None:
    feed.body = b"not a calendar"
    config_file = tmp_path / "config.toml"
    good = tmp_path / "good.ics"
    good.write_bytes(FEED)
    config_file.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        + TASKS
        + f'\n[[sources]]\ntype = "ics"\nname = "broken"\nurl = "{feed.url}/x.ics"\n'
        + "allow_private_network = true\n"
        + f'\n[[sources]]\ntype = "ics"\nname = "good"\npath = "{good}"\ndays_back = 3650\n',
        encoding="utf-8",
    )
    clock = FixedClock(datetime(2026, 11, 27, 12, tzinfo=UTC))
    with Daemon(load_config(config_file), config_file, clock=clock, notifier=Recorder()) as daemon:
        summary = daemon.cycle(force=True)
        assert [(r.source, r.ok) for r in summary.sources] == [("broken", False), ("good", True)]
        # The failing source backs off: not due at the next ten-minute tick, due later.
        clock.advance(timedelta(minutes=10))
        assert [r.source for r in daemon.cycle().sources] == ["good"]
        clock.advance(timedelta(minutes=15))
        assert [r.source for r in daemon.cycle().sources] == ["broken", "good"]


def test_one_instance_per_state_directory(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'state_dir = "{tmp_path / "state"}"\n' + TASKS, encoding="utf-8")
    config = load_config(config_file)
    second = Daemon(config, config_file, notifier=Recorder())
    with (
        Daemon(config, config_file, notifier=Recorder()),
        pytest.raises(AlreadyRunningError, match="another calsync"),
    ):
        second.open()
    with Daemon(config, config_file, notifier=Recorder()):
        pass  # released on exit


def test_reload_refuses_an_invalid_configuration_and_keeps_the_old_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'state_dir = "{tmp_path / "state"}"\n' + TASKS, encoding="utf-8")
    recorder = Recorder()
    with Daemon(load_config(config_file), config_file, notifier=recorder) as daemon:
        config_file.write_text('[user]\ntimezone = "Mars/Base"\n', encoding="utf-8")
        daemon.request_reload()
        with caplog.at_level("ERROR", logger="calsync.daemon"):
            daemon._guarded("cycle", lambda: None)()
        assert "keeping the old one" in caplog.text
        assert "Mars/Base" in caplog.text
        assert [t.name for t in daemon.config.task_types] == ["Deep Coding", "Email"]
        assert recorder.messages[-1].startswith("READY=1")
        config_file.write_text(
            f'state_dir = "{tmp_path / "state"}"\n' + TASKS.replace("Email", "Inbox"),
            encoding="utf-8",
        )
        daemon.request_reload()
        daemon._guarded("cycle", lambda: None)()
        assert [t.name for t in daemon.config.task_types] == ["Deep Coding", "Inbox"]
        assert daemon.cs is not None
        assert daemon.cs.config is daemon.config


def test_the_watchdog_stops_when_a_job_hangs(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'state_dir = "{tmp_path / "state"}"\n' + TASKS, encoding="utf-8")
    daemon = Daemon(load_config(config_file), config_file, notifier=Recorder())
    assert daemon.healthy()
    daemon._job_started = time.monotonic() - 3 * 3600  # started three hours ago, still running
    assert not daemon.healthy()


# ---------------------------------------------------------------- as a process


def start(config_file: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "calsync", "--config", str(config_file), *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_once(config_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calsync", "--config", str(config_file), "run", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_the_service_notifies_systemd_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'state_dir = "{tmp_path / "state"}"\n' + TASKS, encoding="utf-8")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    listener.bind(path)
    listener.settimeout(30)
    proc = start(config_file, {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}, "run")
    try:
        received: list[str] = []
        while not any("WATCHDOG=1" in m for m in received):
            received.append(listener.recv(4096).decode())
        assert any("READY=1" in m for m in received)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()


def reload_status(tmp_path: Path, *args: str) -> str:
    """Start ``calsync ARGS run``, send it SIGHUP, and return what it told systemd of the reload."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    listener.bind(path)
    listener.settimeout(60)
    proc = subprocess.Popen(
        [sys.executable, "-m", "calsync", *args, "run"],
        env={**os.environ, "NOTIFY_SOCKET": path},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while "started" not in listener.recv(4096).decode():
            pass
        proc.send_signal(signal.SIGHUP)
        while True:
            message = listener.recv(4096).decode()
            if "STATUS=" in message and "reload" in message:
                return message
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        listener.close()
        assert "state_dir cannot change" not in err


@pytest.mark.parametrize("how", ["--state-dir", "the demo"])
def test_sighup_reloads_with_the_state_dir_the_service_started_with(
    tmp_path: Path, how: str
) -> None:
    if how == "--state-dir":
        config_file = tmp_path / "config.toml"
        config_file.write_text(f'state_dir = "{tmp_path / "file-state"}"\n' + TASKS, "utf-8")
        args = ["--config", str(config_file), "--state-dir", str(tmp_path / "other")]
    else:
        args = []  # no configuration file: the embedded default, its state in the demo directory
    message = reload_status(tmp_path, *args)
    assert "STATUS=configuration reloaded" in message, message


def test_a_second_service_on_the_same_state_is_refused(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'state_dir = "{tmp_path / "state"}"\n' + TASKS, encoding="utf-8")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    listener.bind(path)
    listener.settimeout(30)
    first = start(config_file, {"NOTIFY_SOCKET": path}, "run")
    try:
        while "READY=1" not in listener.recv(4096).decode():
            pass
        second = subprocess.run(
            [sys.executable, "-m", "calsync", "--config", str(config_file), "run"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 10  # README: "another calsync is already running"
        assert "another calsync" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
        listener.close()


def test_kill_9_in_the_middle_of_a_cycle_then_a_restart(tmp_path: Path, google: FakeGoogle) -> None:
    state = tmp_path / "state"
    write_token(state, google)
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        f'state_dir = "{state}"\n'
        + TASKS
        + f'\n[[sources]]\ntype = "google"\nname = "g"\napi_endpoint = "{google.api_endpoint}"\n'
        + '\n[[targets]]\ntype = "google"\nname = "blocks"\nsource = "g"\n',
        encoding="utf-8",
    )
    google.hang_on_insert = 3
    proc = start(config_file, {}, "run", "--once", "--color", "never")
    try:
        assert google.hanging.wait(timeout=60), "the cycle never reached its third insert"
        proc.kill()  # SIGKILL while the third block is being written
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    google.release.set()
    google.hang_on_insert = None
    with sqlite3.connect(state / "calsync.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    again = run_once(config_file)
    assert again.returncode == 0, again.stderr
    owned = [
        e
        for e in google.calendars["primary"].values()
        if e.get("status") != "cancelled" and (e.get("extendedProperties") or {}).get("private")
    ]
    ids = [e["id"] for e in owned]
    # How many blocks the week's targets leave depends on today's weekday (the
    # service runs on the real clock); the first run had reached its third.
    assert len(ids) == len(set(ids)) >= 3
    with sqlite3.connect(state / "calsync.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        live = db.execute("SELECT COUNT(*) FROM suggestions WHERE status = 'active'").fetchone()
    assert live == (len(ids),)
    posts = len(google.api_requests("POST"))
    third = run_once(config_file)
    assert third.returncode == 0, third.stderr
    assert len(google.api_requests("POST")) == posts
