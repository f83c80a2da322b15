"""Issue 15: what a new user trips over in their first hour, typed as they would type it.

Real files, a real HTTP server on 127.0.0.1 and a real Radicale; every test
asserts the message and the exit code.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from calsync.cli import main
from tests.radicale_server import RadicaleServer

GOOD = """
[user]
id = "alice"
timezone = "Europe/Berlin"

[[task_types]]
name = "Exercise"
keywords = ["gym"]
block_minutes = 60

[[task_types]]
name = "Deep Coding"
keywords = ["coding"]
block_minutes = 120
"""


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _monday_weeks_ago(weeks: int) -> datetime:
    today = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    return today - timedelta(days=today.weekday() + 7 * weeks)


def vevents() -> list[str]:
    """A weekly gym series (three past occurrences) and one coding session, as VEVENTs."""
    first = _monday_weeks_ago(3)
    coding = first + timedelta(days=1, hours=1)
    return [
        "BEGIN:VEVENT\r\nUID:gym-series\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{_stamp(first)}\r\nDTEND:{_stamp(first + timedelta(hours=1))}\r\n"
        "RRULE:FREQ=WEEKLY;COUNT=3\r\nSUMMARY:Gym\r\nEND:VEVENT\r\n",
        "BEGIN:VEVENT\r\nUID:coding-1\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{_stamp(coding)}\r\nDTEND:{_stamp(coding + timedelta(hours=2))}\r\n"
        "SUMMARY:Coding\r\nDESCRIPTION:note: mornings rock\r\nEND:VEVENT\r\n",
    ]


def calendar(events: list[str]) -> str:
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + "".join(events) + (
        "END:VCALENDAR\r\n"
    )


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    path = tmp_path / "me.ics"
    path.write_text(calendar(vevents()), encoding="utf-8")
    return path


@pytest.fixture
def http_url(feed: Path) -> Iterator[str]:
    """The feed served over HTTP on 127.0.0.1."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(Quiet, directory=str(feed.parent))
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{feed.name}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[RadicaleServer]:
    server = RadicaleServer(tmp_path / "radicale", {"alice": "secret"})
    client = server.client("alice", "secret")
    work = client.principal().make_calendar(name="Work", cal_id="work")
    for event in vevents():
        work.add_event(calendar([event]))
    client.close()
    yield server
    server.close()


def password_file(tmp_path: Path, text: str = "secret\n", mode: int = 0o600) -> Path:
    path = tmp_path / f"password-{mode:o}"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def write_config(path: Path, body: str, state: Path | None = None) -> Path:
    head = f'state_dir = "{state}"\n' if state is not None else ""
    path.write_text(head + GOOD + body, encoding="utf-8")
    return path


def ics_file(name: str, feed: Path) -> str:
    return f'\n[[sources]]\ntype = "ics"\nname = "{name}"\npath = "{feed}"\n'


def status(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["--config", str(config), "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, dict)
    return data


def counts(data: dict[str, object]) -> dict[str, int]:
    tasks = data["tasks"]
    assert isinstance(tasks, list)
    return {t["task_type"]: t["completion_count"] for t in tasks}


# ------------------------------------------------------------------ 1. the demo is a demo


def test_the_demo_stays_out_of_a_real_configurations_state(
    tmp_path: Path, feed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README's first command, then `calsync init` and a real source: only the user's events."""
    assert main(["run", "--once", "--color", "never"]) == 0
    out = capsys.readouterr().out
    demo = tmp_path / "xdg-state" / "calsync" / "demo"
    assert f"demo state in {demo}" in out
    assert "Next: `calsync init`" in out
    assert (demo / "calsync.db").exists()
    assert not (tmp_path / "xdg-state" / "calsync" / "calsync.db").exists()

    assert main(["init", "--timezone", "Europe/Berlin"]) == 0
    config = tmp_path / "xdg-config" / "calsync" / "config.toml"
    write_config(config, ics_file("mine", feed))
    capsys.readouterr()
    assert main(["sync"]) == 0
    assert "mine: full, 4 event(s) received, 0 deleted, 4 completion(s) learned" in (
        capsys.readouterr().out
    )
    data = status(config, capsys)
    assert data["total_completions"] == 4  # not the sample's 89 besides
    assert counts(data) == {"Exercise": 3, "Deep Coding": 1}
    assert [s["name"] for s in data["sources"]] == ["mine"]  # type: ignore[attr-defined]
    assert "service" not in data or data["service"] is None  # not the demo's last cycle

    assert main(["forget", "--demo"]) == 0
    assert f"removed the demo's state ({demo})" in capsys.readouterr().out
    assert not demo.exists()


def test_calsync_config_names_the_file(
    tmp_path: Path, feed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "elsewhere.toml", ics_file("mine", feed), tmp_path / "s")
    monkeypatch.setenv("CALSYNC_CONFIG", str(config))
    assert main(["sync"]) == 0
    assert "mine: full" in capsys.readouterr().out
    assert main(["-q", "config", "check"]) == 0
    assert "elsewhere.toml: OK" in capsys.readouterr().out


def test_forget_a_source_replays_the_arrays_from_what_remains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = vevents()
    gym, coding = tmp_path / "gym.ics", tmp_path / "coding.ics"
    gym.write_text(calendar(events[:1]), encoding="utf-8")
    coding.write_text(calendar(events[1:]), encoding="utf-8")
    config = write_config(
        tmp_path / "config.toml", ics_file("gym", gym) + ics_file("work", coding), tmp_path / "s"
    )
    base = ["--config", str(config)]
    assert main([*base, "sync"]) == 0
    assert counts(status(config, capsys)) == {"Exercise": 3, "Deep Coding": 1}
    assert main([*base, "insights"]) == 0
    assert "mornings rock" in capsys.readouterr().out

    assert main([*base, "forget", "--source", "work"]) == 0
    assert (
        "work: forgot 1 event(s), 1 completion(s) and 1 note(s); 0 completion(s) other sources "
        "share re-learned from them; arrays recomputed from what remains"
    ) in capsys.readouterr().out
    data = status(config, capsys)
    assert counts(data) == {"Exercise": 3, "Deep Coding": 0}
    assert main([*base, "insights"]) == 0
    assert "mornings rock" not in capsys.readouterr().out
    assert main([*base, "heatmap", "Deep Coding"]) == 0
    assert "Deep Coding: 0 update(s)" in capsys.readouterr().out

    assert main([*base, "forget", "--source", "nope"]) == 2
    assert "no source called 'nope' in the database (known: gym)" in capsys.readouterr().err


# ------------------------------------------------------------------ 2. one event, one evidence


def test_one_calendar_by_file_url_and_caldav_is_learned_once(
    tmp_path: Path,
    feed: Path,
    http_url: str,
    radicale: RadicaleServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = password_file(tmp_path)
    sources = (
        ics_file("file", feed)
        + f'\n[[sources]]\ntype = "ics"\nname = "url"\nurl = "{http_url}"\n'
        "allow_private_network = true\n"
        f'\n[[sources]]\ntype = "caldav"\nname = "dav"\nurl = "{radicale.url}"\n'
        f'username = "alice"\npassword_file = "{secret}"\n'
    )
    config = write_config(tmp_path / "config.toml", sources, tmp_path / "s")
    base = ["--config", str(config)]
    assert main([*base, "sync"]) == 0
    out = capsys.readouterr().out
    assert "file: full, 4 event(s) received, 0 deleted, 4 completion(s) learned" in out
    assert "url: full, 4 event(s) received, 0 deleted, 0 completion(s) learned" in out
    assert "dav: full, 4 event(s) received, 0 deleted, 0 completion(s) learned" in out
    assert counts(status(config, capsys)) == {"Exercise": 3, "Deep Coding": 1}

    # Forgetting the source that taught them first: the others still carry them.
    assert main([*base, "forget", "--source", "file"]) == 0
    assert "4 completion(s) other sources share re-learned" in capsys.readouterr().out
    assert counts(status(config, capsys)) == {"Exercise": 3, "Deep Coding": 1}
    assert main([*base, "sync"]) == 0
    assert counts(status(config, capsys)) == {"Exercise": 3, "Deep Coding": 1}
