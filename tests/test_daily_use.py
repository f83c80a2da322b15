"""Issue 15: what a new user trips over in their first hour, typed as they would type it.

Real files, a real HTTP server on 127.0.0.1 and a real Radicale; every test
asserts the message and the exit code.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

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
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        + "".join(events)
        + ("END:VCALENDAR\r\n")
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

    assert main(["-q", "forget", "--demo"]) == 0
    assert capsys.readouterr().out == ""  # -q: results and errors only
    assert not demo.exists()
    assert main(["forget", "--demo"]) == 0
    assert capsys.readouterr().out == f"no demo state at {demo}: nothing to forget\n"


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
    assert data["tasks"][1]["peak_slots"] == []  # type: ignore[index]
    assert main([*base, "insights"]) == 0
    assert "mornings rock" not in capsys.readouterr().out
    assert main([*base, "heatmap", "Deep Coding"]) == 0
    assert "Deep Coding: 0 update(s)" in capsys.readouterr().out

    assert main([*base, "forget", "--source", "nope"]) == 2
    assert "no source called 'nope' in the database (known: gym)" in capsys.readouterr().err


def test_forgetting_a_configured_source_twice_is_nothing_to_forget(tmp_path: Path) -> None:
    gym = tmp_path / "gym.ics"
    gym.write_text(calendar(vevents()[:1]), encoding="utf-8")
    config = write_config(tmp_path / "config.toml", ics_file("mine", gym), tmp_path / "s")
    base = [sys.executable, "-m", "calsync", "--config", str(config)]

    def calsync(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], capture_output=True, text=True, timeout=120, check=False
        )

    assert calsync("sync").returncode == 0
    first = calsync("forget", "--source", "mine")
    assert first.returncode == 0, first.stderr
    assert "mine: forgot 3 event(s)" in first.stdout  # a weekly series of three
    again = calsync("forget", "--source", "mine")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "mine: nothing to forget (the database holds nothing from it)\n"
    assert json.loads(calsync("forget", "--json", "--source", "mine").stdout)["events"] == 0
    assert calsync("forget", "--source", "nope").returncode == 2  # neither configured nor known


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
        ics_file("file", feed) + f'\n[[sources]]\ntype = "ics"\nname = "url"\nurl = "{http_url}"\n'
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


# ------------------------------------------------------------------ 3. messages and exit codes


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(config: Path, capsys: pytest.CaptureFixture[str], *command: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *command])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def dav_source(server: str, secret: Path) -> str:
    return (
        f'\n[[sources]]\ntype = "caldav"\nname = "dav"\nurl = "{server}"\n'
        f'username = "alice"\npassword_file = "{secret}"\n'
    )


def test_a_wrong_caldav_password_says_so_in_every_command(
    tmp_path: Path, radicale: RadicaleServer, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = password_file(tmp_path, "wrong\n")
    body = dav_source(radicale.url, secret) + (
        '\n[[targets]]\ntype = "caldav"\nname = "blocks"\nsource = "dav"\n'
    )
    config = write_config(tmp_path / "config.toml", body, tmp_path / "s")
    fix = "check the username and password (or password_file) of"
    for command, code in ((["sync"], 5), (["run", "--once"], 5)):
        got, out, err = run(config, capsys, *command)
        assert got == code, (command, out, err)
        (line,) = [x for x in out.splitlines() if x.startswith("dav")]
        assert line.startswith("dav (caldav): FAILED: CalDAV server ")
        assert "refused access (HTTP 401)" in line
        assert fix in line
        assert "calsync auth google" not in out + err
        assert "WARNING calsync" not in err  # one line per failure, not a log line besides
    for command in (["plan"], ["apply"]):
        got, out, err = run(config, capsys, *command)
        assert got == 6, (command, out, err)
        (line,) = out.splitlines()[:1]
        assert line.startswith("blocks (caldav): FAILED: cannot list the events of calendar")
        assert "access refused (HTTP 401)" in line
        assert fix in line
        assert "calsync auth google" not in out + err
        assert "WARNING calsync" not in err
    got, out, err = run(config, capsys, "purge", "--yes")
    assert got == 6
    err = "".join(x for x in err.splitlines(True) if not x.startswith("WARNING radicale"))
    assert err.startswith("calsync: error: blocks (caldav): cannot list the events of calendar")
    assert fix in err
    assert err.count("\n") == 1
    got, out, err = run(config, capsys, "status")
    assert re.search(
        r"(?m)^source dav \(caldav\): FAILING \(\d time\(s\) in a row\), last sync never; "
        "last error: CalDAV server ",
        out,
    ), out
    assert "calsync auth google" not in out


def test_an_unreachable_server_is_one_line_without_library_reprs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    body = dav_source(f"http://127.0.0.1:{port}/", password_file(tmp_path)) + (
        f'\n[[sources]]\ntype = "ics"\nname = "feed"\nurl = "http://127.0.0.1:{port}/x.ics"\n'
        "allow_private_network = true\n"
    )
    config = write_config(tmp_path / "config.toml", body, tmp_path / "s")
    for command in (["sync"], ["run", "--once"]):
        got, out, err = run(config, capsys, *command)
        assert got == 5, (command, out, err)
        assert (
            f"dav (caldav): FAILED: CalDAV server http://127.0.0.1:{port} cannot be reached: "
            "Connection refused\n"
        ) in out
        assert "feed (ics): FAILED: cannot connect to 127.0.0.1: Connection refused\n" in out
        assert "object at 0x" not in out + err
        assert "HTTPConnectionPool" not in out + err
        assert err == ""


def test_a_missing_google_token_names_the_fix_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path / "config.toml", '\n[[sources]]\ntype = "google"\nname = "g"\n', tmp_path / "s"
    )
    for command in (["sync"], ["run", "--once"]):
        got, out, err = run(config, capsys, *command)
        assert got == 5, (command, out, err)
        (line,) = [x for x in out.splitlines() if x.startswith("g ")]
        assert line.startswith("g (google): FAILED: cannot use the Google token")
        assert line.count("calsync auth google") == 1
        assert "`calsync auth google --source g`" in line
        assert err == ""
    got, out, _ = run(config, capsys, "status")
    assert out.count("calsync auth google") == 1


def test_an_unknown_name_is_bad_input_for_every_command(
    tmp_path: Path, feed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "config.toml", ics_file("mine", feed), tmp_path / "s")
    got, _, err = run(config, capsys, "sync", "--source", "nope")
    assert (got, err) == (2, "calsync: error: no source called 'nope' (known: mine)\n")
    for command in (["plan"], ["apply"], ["purge", "--yes"]):
        got, _, err = run(config, capsys, *command, "--target", "nope")
        assert (got, err) == (2, "calsync: error: no target called 'nope' (known: suggestions)\n")
    google = write_config(
        tmp_path / "google.toml", '\n[[sources]]\ntype = "google"\nname = "g"\n', tmp_path / "g"
    )
    got, _, err = run(google, capsys, "auth", "google", "--source", "nope")
    assert (got, err) == (2, "calsync: error: no Google source called 'nope' (known: g)\n")
    got, _, err = run(config, capsys, "resume", "--target", "nope")
    assert (got, err) == (2, "calsync: error: no target called 'nope' (known: suggestions)\n")
    got, _, err = run(config, capsys, "forget", "--source", "nope")
    assert got == 2
    assert "no source called 'nope'" in err


def test_auth_google_headless_at_the_end_of_input(tmp_path: Path) -> None:
    secrets = tmp_path / "client_secret.json"
    secrets.write_text(
        json.dumps(
            {
                "installed": {
                    "client_id": "id.apps.googleusercontent.com",
                    "client_secret": "s",
                    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                    "token_uri": "https://oauth2.googleapis.com/token",
                    "redirect_uris": ["http://localhost"],
                }
            }
        ),
        encoding="utf-8",
    )
    config = write_config(
        tmp_path / "config.toml",
        f'\n[[sources]]\ntype = "google"\nname = "g"\nclient_secrets_file = "{secrets}"\n',
        tmp_path / "s",
    )
    result = subprocess.run(
        [sys.executable, "-m", "calsync", "--config", str(config), "auth", "google", "--headless"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "calsync: error: the input ended before an answer was given" in result.stderr


# ------------------------------------------------------------ 4. config check is the whole truth


def test_config_check_reports_what_sync_and_apply_would_refuse_in_one_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    open_secret = password_file(tmp_path, mode=0o644)
    config = tmp_path / "config.toml"
    config.write_text(
        '[user]\ntimezone = "Europe/Berlln"\n'
        '[[task_types]]\nname = "Gym"\nkeywords = ["gym"]\nblok_minutes = 60\n'
        'windows = [{ days = ["weekdays"], start = "10:00", end = "10:00" }]\n'
        f'[[sources]]\ntype = "caldav"\nname = "dav"\nurl = "http://127.0.0.1:1/"\n'
        f'username = "me"\npassword_file = "{open_secret}"\n'
        '[[sources]]\ntype = "ics"\nname = "feed"\nurl = "http://127.0.0.1:1/x.ics"\n'
        '[[targets]]\ntype = "caldav"\nname = "blocks"\nsource = "nosuch"\n',
        encoding="utf-8",
    )
    assert main(["config", "check", str(config)]) == 3
    err = capsys.readouterr().err
    assert f"invalid configuration in {config} (6 problem(s)):" in err
    for line in (
        "  - user.timezone: unknown IANA time zone 'Europe/Berlln'; did you mean 'Europe/Berlin'?",
        "  - task_types[0].blok_minutes: unknown key; did you mean 'block_minutes'?",
        "  - task_types[0].windows[0]: window start 10:00 must differ from end 10:00 "
        "(an end before the start crosses midnight)",
        "  - targets[0].source: no source called 'nosuch' (the caldav sources: dav)",
        f"  - sources[0].password_file: {open_secret} is open to group or others (mode 0644); "
        f"run `chmod 600 {open_secret}`",
        "  - sources[1].url: 127.0.0.1 resolves to the non-public address 127.0.0.1 (loopback); "
        "set allow_private_network = true for this source to allow it",
    ):
        assert line + "\n" in err
    assert "<file>" not in err

    assert main(["config", "check", "--json", str(config)]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert {p["key"] for p in report["problems"]} >= {"targets[0].source", "sources[1].url"}


def test_what_config_check_accepts_sync_accepts(
    tmp_path: Path, feed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file valid on its own but refused at sync (a readable password file) is not OK."""
    open_secret = password_file(tmp_path, mode=0o644)
    body = dav_source("http://127.0.0.1:1/", open_secret)
    config = write_config(tmp_path / "config.toml", body, tmp_path / "s")
    assert main(["config", "check", str(config)]) == 3
    assert "sources[0].password_file:" in capsys.readouterr().err
    open_secret.chmod(0o600)
    assert main(["config", "check", str(config)]) == 0
    assert f"{config}: OK" in capsys.readouterr().out
    # A cross-reference found at load time has its key too.
    broken = write_config(
        tmp_path / "broken.toml",
        ics_file("mine", feed) + '\n[[targets]]\ntype = "caldav"\nname = "b"\nsource = "mine"\n',
        tmp_path / "s",
    )
    assert main(["--config", str(broken), "sync"]) == 3
    assert (
        "  - targets[0].source: source 'mine' is of type ics, not caldav (add a caldav source)"
        in capsys.readouterr().err
    )


# ------------------------------------------------------------------ 5. insights and peaks


def test_insights_and_peaks_only_where_the_user_did_something(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _monday_weeks_ago(6)
    gym = tmp_path / "gym.ics"
    gym.write_text(  # floating times: 09:00 on the user's clock, whatever DST does
        calendar(
            [
                "BEGIN:VEVENT\r\nUID:gym\r\nDTSTAMP:20260101T000000Z\r\n"
                f"DTSTART:{first:%Y%m%dT090000}\r\nDTEND:{first:%Y%m%dT100000}\r\n"
                "RRULE:FREQ=WEEKLY;COUNT=6\r\nSUMMARY:Gym ✓\r\nEND:VEVENT\r\n"
            ]
        ),
        encoding="utf-8",
    )
    config = write_config(tmp_path / "config.toml", ics_file("gym", gym), tmp_path / "s")
    base = ["--config", str(config)]
    assert main([*base, "sync"]) == 0
    slot = "Monday 09:00"

    # The premise: smoothing and pooling lift slots where nothing happened above 0.8.
    from calsync.service import open as open_calsync

    with open_calsync(config) as cs:
        exercise = cs.habit("Exercise").values
        coding = cs.habit("Deep Coding").values
    assert (exercise > 0.8).sum() > 1
    assert coding.max() > coding.min()  # pooled from Exercise: Deep Coding has a shape

    data = status(config, capsys)
    tasks = {t["task_type"]: t for t in data["tasks"]}  # type: ignore[attr-defined]
    assert tasks["Exercise"]["peak_slots"] == [slot]
    assert tasks["Deep Coding"]["peak_slots"] == []  # nothing was ever done
    assert tasks["Deep Coding"]["best_day"] is None

    assert main([*base, "insights", "--generate", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "1 new insight(s) from behaviour\n"
    (insight,) = json.loads(captured.out)
    assert insight["text"] == "User consistently excels at Exercise on Monday at 9:00"


# ------------------------------------------------------------------ 6. explain the plan


PLAN = """
[user]
id = "alice"
timezone = "Europe/Berlin"

[planning]
horizon_days = 14
lead_minutes = 0

[[task_types]]
name = "Deep Coding"
keywords = ["coding"]
block_minutes = 60
weekly_target = { sessions = 2 }
windows = [{ days = ["all"], start = "09:00", end = "12:00" }]

[[task_types]]
name = "Reading"
keywords = ["reading"]
block_minutes = 60
weekly_target = { sessions = 2 }
windows = [{ days = ["all"], start = "20:00", end = "21:00" }]
"""


def busy_mornings(path: Path) -> Path:
    """A conference every morning 08:00–13:00 for three weeks: Deep Coding's windows are busy."""
    start = datetime.now(UTC).date() - timedelta(days=1)
    path.write_text(
        calendar(
            [
                "BEGIN:VEVENT\r\nUID:conference\r\nDTSTAMP:20260101T000000Z\r\n"
                f"DTSTART:{start:%Y%m%d}T080000\r\nDTEND:{start:%Y%m%d}T130000\r\n"
                "RRULE:FREQ=DAILY;COUNT=24\r\nSUMMARY:Conference\r\nEND:VEVENT\r\n"
            ]
        ),
        encoding="utf-8",
    )
    return path


def test_plan_says_why_a_task_type_gets_no_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = busy_mornings(tmp_path / "work.ics")
    config = tmp_path / "config.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "s"}"\n' + PLAN + ics_file("work", feed), encoding="utf-8"
    )
    base = ["--config", str(config)]
    assert main([*base, "sync"]) == 0
    got, out, _ = run(config, capsys, "plan")
    assert got == 0
    assert "Deep Coding" not in out.split("why not:")[0]  # not one block of it
    whys = [line for line in out.splitlines() if line.startswith("  why not: Deep Coding")]
    assert whys  # every week the horizon reaches says why
    assert any(
        line.endswith("your events (with planning.buffer_minutes around them) fill its window time")
        for line in whys
    )
    got, out, _ = run(config, capsys, "plan", "--json")
    (report,) = json.loads(out)
    reasons = {(s["task_type"], s["reason"]) for s in report["shortfalls"]}
    assert ("Deep Coding", "busy") in reasons
    assert {r for t, r in reasons if t == "Deep Coding"} <= {"busy", "no_share"}
    # Reading has its two blocks a week: nothing to explain for a week it reached.
    for shortfall in report["shortfalls"]:
        if shortfall["task_type"] == "Reading":
            assert shortfall["reason"] in ("no_share", "target_reached")


def test_removals_are_named_purge_pauses_and_resume_writes_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'state_dir = "{tmp_path / "s"}"\n' + PLAN, encoding="utf-8")
    ics = tmp_path / "s" / "suggestions.ics"
    got, out, _ = run(config, capsys, "apply")
    assert got == 0
    written = ics.read_text(encoding="utf-8").count("BEGIN:VEVENT")
    assert written >= 2

    # A lower target: the blocks that go are named by title and local time, not by id.
    config.write_text(
        config.read_text(encoding="utf-8").replace("sessions = 2", "sessions = 0"),
        encoding="utf-8",
    )
    got, out, _ = run(config, capsys, "plan")
    removals = [line for line in out.splitlines() if line.startswith("  would remove")]
    assert 0 < len(removals) < written  # blocks within the lock horizon stay, and say so
    assert "locked: starts within planning.lock_horizon_hours (24 h), never moved" in out
    assert all(
        re.fullmatch(
            r"  would remove the (Deep Coding|Reading) block at \w{3} \d\d \w{3} \d\d:\d\d \(.+\)",
            line,
        )
        for line in removals
    ), removals
    got, out, _ = run(config, capsys, "plan", "--json")
    (report,) = json.loads(out)
    assert all(a["task_type"] in ("Deep Coding", "Reading") for a in report["actions"])

    # purge lists what it removed and pauses the target: apply writes nothing.
    config.write_text(
        config.read_text(encoding="utf-8").replace("sessions = 0", "sessions = 2"),
        encoding="utf-8",
    )
    got, out, _ = run(config, capsys, "purge", "--yes")
    assert got == 0
    assert f"suggestions: removed {written} block(s) calsync wrote" in out
    assert len(re.findall(r"(?m)^  \w{3} \d\d \w{3} \d{4} \d\d:\d\d-\d\d:\d\d  ", out)) == written
    assert (
        "suggestions: paused: calsync writes no new blocks there until "
        "`calsync resume --target suggestions`"
    ) in out
    got, out, _ = run(config, capsys, "apply")
    assert got == 0
    assert out.startswith("suggestions: paused since `calsync purge`: nothing planned or written")
    assert ics.read_text(encoding="utf-8").count("BEGIN:VEVENT") == 0
    got, out, _ = run(config, capsys, "resume")
    assert out == "suggestions: resumed: the next cycle writes blocks there again\n"
    got, out, _ = run(config, capsys, "apply", "--json")
    (report,) = json.loads(out)
    assert report["paused"] is False
    assert ics.read_text(encoding="utf-8").count("BEGIN:VEVENT") == written


def test_a_target_that_replaced_the_default_says_the_old_file_is_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'state_dir = "{tmp_path / "s"}"\n' + PLAN, encoding="utf-8")
    old = tmp_path / "s" / "suggestions.ics"
    assert main(["--config", str(config), "apply"]) == 0
    written = old.read_text(encoding="utf-8").count("BEGIN:VEVENT")
    config.write_text(
        config.read_text(encoding="utf-8")
        + f'\n[[targets]]\ntype = "ics"\nname = "blocks"\npath = "{tmp_path / "blocks.ics"}"\n',
        encoding="utf-8",
    )
    for command in ("plan", "apply"):
        got, out, _ = run(config, capsys, command)
        assert got == 0
        assert (
            f"note: {old} (the default target, unused since [[targets]] is configured) still "
            f"holds {written} block(s): `calsync purge --target suggestions` empties it"
        ) in out
    got, out, _ = run(config, capsys, "purge", "--yes", "--target", "suggestions")
    assert got == 0
    assert old.read_text(encoding="utf-8").count("BEGIN:VEVENT") == 0
    got, out, _ = run(config, capsys, "plan")
    assert "note:" not in out


# ------------------------------------------------------------------ 7, 8. status; quiet by default


def start_service(config: Path, *options: str) -> subprocess.Popen[str]:
    """`calsync run` as a real process, returned once it says it is running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "calsync", *options, "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # blocks until the service logs, no sleeping
        seen.append(line)
        if "cycle: polled" in line:
            break
    else:
        raise AssertionError("".join(seen))
    process.log = seen  # type: ignore[attr-defined]
    return process


def stop_service(process: subprocess.Popen[str]) -> str:
    process.terminate()
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return "".join(process.log) + err  # type: ignore[attr-defined]


HUMAN = r"(just now|\d+ min ago) \(\w{3} \d\d \w{3} \d\d:\d\d\)"


def test_status_says_whether_the_service_runs_with_human_times(
    tmp_path: Path, feed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "config.toml", ics_file("mine", feed), tmp_path / "s")
    got, out, _ = run(config, capsys, "status")
    assert out.startswith(
        "service: not running (never ran with this state directory; `calsync run`)\n"
    )
    service = start_service(config)
    try:
        got, out, _ = run(config, capsys, "status")
        assert got == 0
        assert re.search(
            rf"(?m)^service: running \(pid {service.pid}, since {HUMAN}, last heartbeat {HUMAN}\)$",
            out,
        ), out
        assert re.search(rf"(?m)^source mine \(ics\): ok, last sync {HUMAN}$", out), out
        assert "target suggestions (ics): " in out
        assert re.search(r"(?m)^  next \w+: in \d+ (min|h) ", out), out
        assert not re.search(r"\d\d:\d\d:\d\d\.\d{6}", out)  # no raw ISO with microseconds
        got, out, _ = run(config, capsys, "status", "--json")
        data = json.loads(out)
        assert data["daemon"]["running"] is True
        assert data["daemon"]["pid"] == service.pid
        datetime.fromisoformat(data["daemon"]["since"])  # ISO kept for scripts
        assert data["sources"][0]["type"] == "ics"
    finally:
        log = stop_service(service)
    got, out, _ = run(config, capsys, "status")
    assert re.search(rf"(?m)^service: not running \(last seen {HUMAN}\)$", out), out

    # 8. The service's log is calsync's own: one line per cycle, no library chatter.
    assert "INFO calsync.daemon: cycle: polled 1 source(s)" in log
    for library in ("apscheduler", "alembic", "urllib3", "googleapiclient"):
        assert library not in log, log
    assert "mine: full" not in log  # per-source lines are DEBUG; the cycle line says it


def test_libraries_log_only_with_verbose(tmp_path: Path, feed: Path) -> None:
    config = write_config(tmp_path / "config.toml", ics_file("mine", feed), tmp_path / "s")
    log = stop_service(start_service(config, "-v"))
    assert "INFO apscheduler" in log


# ------------------------------------------------------------------ 9. conventions

DOCS = Path(__file__).resolve().parent.parent / "docs" / "calsync.1"


def test_every_command_has_a_description_and_an_example(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from calsync.cli import build_parser
    from calsync.shell import subcommands

    paths = [path for path, _ in subcommands(build_parser())]
    assert ("forget",) in paths
    assert ("completion",) in paths
    for path in paths:
        with pytest.raises(SystemExit) as done:
            main([*path, "--help"])
        assert done.value.code == 0
        out = capsys.readouterr().out
        _, _, rest = out.partition("\n\n")
        # A description between the usage and the options.
        assert rest.strip(), (path, out)
        assert not rest.startswith(("positional", "options")), (path, out)
        assert "\nexample:\n  calsync " in out, (path, out)


@pytest.mark.parametrize("command", ["purge", "forget", "plan", "config check"])
def test_help_descriptions_wrap_to_the_terminal_and_keep_the_example(command: str) -> None:
    from calsync.cli import COMMAND_DOCS

    done = subprocess.run(
        [sys.executable, "-m", "calsync", *command.split(), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "72"},
    )
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) <= 72, done.stdout
    description, example = COMMAND_DOCS[command]
    _usage, _, rest = done.stdout.partition("\n\n")
    shown, _, _options = rest.partition("\n\n")
    assert " ".join(shown.split()) == description  # every word, in order
    assert f"\nexample:\n  {example}\n" in done.stdout  # not re-flowed


def test_the_committed_man_page_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["man"]) == 0
    page = capsys.readouterr().out
    assert page == DOCS.read_text(encoding="utf-8"), (
        "docs/calsync.1 is stale: run `calsync man > docs/calsync.1`"
    )
    assert '.SS "forget"' in page
    assert "CALSYNC_CONFIG" in page
    assert ".SH EXIT STATUS" in page


def test_bash_completion_completes_commands_options_and_values(tmp_path: Path) -> None:
    script = tmp_path / "calsync.bash"
    assert (
        subprocess.run(
            [sys.executable, "-m", "calsync", "completion", "bash"],
            stdout=script.open("w"),
            check=False,
            timeout=60,
        ).returncode
        == 0
    )

    def complete(*words: str) -> list[str]:
        line = " ".join(f"'{w}'" for w in words)
        result = subprocess.run(
            [
                "bash",
                "-c",
                f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
                '_calsync; printf "%s\\n" "${COMPREPLY[@]}"',
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return result.stdout.split()

    assert complete("calsync", "pl") == ["plan"]
    assert complete("calsync", "config", "") == ["check", "example"]
    assert "--json" in complete("calsync", "plan", "--")
    assert complete("calsync", "heatmap", "x", "--week-start", "") == ["monday", "sunday"]
    assert complete("calsync", "-v", "forget", "--d") == ["--demo"]
    zsh = subprocess.run(
        [sys.executable, "-m", "calsync", "completion", "zsh"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert zsh.startswith("autoload -U +X bashcompinit && bashcompinit\n")
    fish = subprocess.run(
        [sys.executable, "-m", "calsync", "completion", "fish"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "complete -c calsync -n '__fish_use_subcommand' -a forget" in fish
    assert "complete -c calsync -n '__fish_seen_subcommand_from plan' -l json" in fish


def test_password_command_for_caldav(
    tmp_path: Path, radicale: RadicaleServer, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (
        f'\n[[sources]]\ntype = "caldav"\nname = "dav"\nurl = "{radicale.url}"\n'
        'username = "alice"\npassword_command = ["printf", "secret\\\\nignored"]\n'
    )
    config = write_config(tmp_path / "config.toml", body, tmp_path / "s")
    assert main(["--config", str(config), "config", "check"]) == 0
    got, out, _ = run(config, capsys, "sync")
    assert got == 0, out
    assert "dav: full, 4 event(s) received" in out
    broken = write_config(
        tmp_path / "broken.toml",
        body.replace('["printf", "secret\\\\nignored"]', '["false"]'),
        tmp_path / "s2",
    )
    assert main(["config", "check", str(broken)]) == 3
    assert "  - sources[0].password_command: exited with 1" in capsys.readouterr().err
    got, _, err = run(broken, capsys, "sync")
    assert got == 3
    assert "sources.dav.password_command: exited with 1" in err


def test_a_window_across_midnight(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "s"}"\n'
        '[user]\ntimezone = "Europe/Berlin"\n[planning]\nlead_minutes = 0\n'
        '[[task_types]]\nname = "Night Owl"\nkeywords = ["owl"]\nblock_minutes = 60\n'
        "weekly_target = { sessions = 7 }\n"
        'windows = [{ days = ["all"], start = "23:30", end = "00:30" }]\n',
        encoding="utf-8",
    )
    assert main(["config", "check", str(config)]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "plan", "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["blocks"]
    for block in report["blocks"]:
        start, end = datetime.fromisoformat(block["start"]), datetime.fromisoformat(block["end"])
        assert (start.hour, start.minute, end.hour, end.minute) == (23, 30, 0, 30)
        assert end.date() == start.date() + timedelta(days=1)


def test_heatmap_starts_on_monday_unless_told_and_reports_json(
    good_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--config", str(good_config)]
    assert main([*base, "heatmap", "Exercise", "--color", "never"]) == 0
    rows = [line[:3] for line in capsys.readouterr().out.splitlines()[2:9]]
    assert rows == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert main([*base, "heatmap", "Exercise", "--color", "never", "--week-start", "sunday"]) == 0
    rows = [line[:3] for line in capsys.readouterr().out.splitlines()[2:9]]
    assert rows == ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    good_config.write_text(
        good_config.read_text(encoding="utf-8").replace(
            'timezone = "Europe/Berlin"', 'timezone = "Europe/Berlin"\nweek_start = "sunday"'
        ),
        encoding="utf-8",
    )
    assert main([*base, "heatmap", "Exercise", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["day"] for d in data["days"]][:2] == ["Sunday", "Monday"]
    assert len(data["days"][0]["hours"]) == 24
    assert main([*base, "sync", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.fixture
def good_config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "config.toml", "", tmp_path / "s")


def test_the_same_session_in_two_sources_counts_once_toward_its_target() -> None:
    from calsync.config import parse_config
    from calsync.model import Event
    from calsync.planning import own_sessions

    config = parse_config({"task_types": [{"name": "Gym", "keywords": ["gym"]}]})
    start = datetime(2026, 11, 30, 8, tzinfo=UTC)
    events = [
        Event(source=name, uid="gym-1", start=start, end=start + timedelta(hours=1), summary="Gym")
        for name in ("file", "url", "dav")
    ]
    google = Event(
        source="g",
        uid="primary/abc123",
        start=start,
        end=start + timedelta(hours=1),
        summary="Gym",
        identity="gym-1:",
    )
    assert len(own_sessions([*events, google], config)) == 1


def test_a_google_instance_is_named_like_the_same_ics_occurrence(
    tmp_path: Path, feed: Path
) -> None:
    """Google's iCalUID and original start give the identity an ICS feed gives."""
    from calsync.service import open as open_calsync
    from calsync.sources.google import _identity

    config = write_config(tmp_path / "config.toml", ics_file("file", feed), tmp_path / "s")
    assert main(["--config", str(config), "sync"]) == 0
    with open_calsync(config) as cs, cs.store.read() as tx:
        series = sorted(
            (e for e in tx.events(source="file") if e.uid == "gym-series"), key=lambda e: e.start
        )
    second = series[1]
    assert isinstance(second.start, datetime)
    berlin = second.start.astimezone(ZoneInfo("Europe/Berlin"))
    item = {
        "id": "abc_20261116T080000Z",
        "iCalUID": "gym-series",
        "recurringEventId": "abc",
        "originalStartTime": {"dateTime": berlin.isoformat(), "timeZone": "Europe/Berlin"},
    }
    assert _identity(item, ZoneInfo("Europe/Berlin")) == second.occurrence_identity
    single = {"id": "x", "iCalUID": "coding-1"}
    assert _identity(single, ZoneInfo("UTC")) == "coding-1:"


def test_password_keyring_for_caldav(
    tmp_path: Path,
    radicale: RadicaleServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The keyring extra: the password comes from the system keyring (here a stand-in)."""
    stored = {("calsync-dav", "alice"): "secret"}
    fake = types.ModuleType("keyring")
    fake.get_password = lambda service, user: stored.get((service, user))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", fake)
    body = (
        f'\n[[sources]]\ntype = "caldav"\nname = "dav"\nurl = "{radicale.url}"\n'
        'username = "alice"\npassword_keyring = "calsync-dav"\n'
    )
    config = write_config(tmp_path / "config.toml", body, tmp_path / "s")
    assert main(["config", "check", str(config)]) == 0
    got, out, _ = run(config, capsys, "sync")
    assert got == 0, out
    assert "dav: full, 4 event(s) received" in out
    stored.clear()
    assert main(["config", "check", str(config)]) == 3
    assert (
        "  - sources[0].password_keyring: no password for alice in keyring service calsync-dav "
        "(`keyring set calsync-dav alice` stores it)"
    ) in capsys.readouterr().err
