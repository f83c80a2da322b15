"""The command line: commands, messages and exit codes (in-process and as a real process)."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from calsync.cli import main

#: The heatmap's shades without colour, lightest first.
SHADES = " .:-=+*#%@"

GOOD = """
[user]
id = "alice"
timezone = "Europe/Berlin"

[[task_types]]
name = "Deep Coding"
keywords = ["coding"]
block_minutes = 120
"""


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calsync", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.fixture
def good_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\n' + GOOD, encoding="utf-8")
    return path


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("init", "config", "status", "heatmap", "record", "demo"):
        assert command in result.stdout


def test_bad_config_lists_every_problem_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[user]\ntimezone = "Nowhere/Land"\n[learning]\nbase_learning_rate = 0\n', encoding="utf-8"
    )
    result = run_cli("config", "check", str(path))
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert "user.timezone: unknown IANA time zone 'Nowhere/Land'" in result.stderr
    assert "learning.base_learning_rate:" in result.stderr
    assert "2 problem(s)" in result.stderr


def test_config_check_accepts_a_good_file(
    good_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", str(good_config)]) == 0
    assert "OK" in capsys.readouterr().out


def test_config_check_without_a_file_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out
    assert "no configuration file at" in out
    assert "embedded default" in out


def test_init_writes_a_private_valid_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "conf" / "config.toml"
    assert main(["init", str(target), "--timezone", "America/New_York"]) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert 'timezone = "America/New_York"' in target.read_text(encoding="utf-8")
    assert main(["config", "check", str(target)]) == 0
    assert main(["init", str(target)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["init", str(target), "--force"]) == 0


def test_init_defaults_to_the_xdg_path(tmp_path: Path) -> None:
    assert main(["init"]) == 0
    assert (tmp_path / "xdg-config" / "calsync" / "config.toml").exists()


def test_record_status_and_heatmap(good_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--config", str(good_config)]
    assert (
        main(
            [
                *base,
                "record",
                "Deep Coding",
                "2026-11-24T09:30",
                "--success",
                "0.9",
                "--energy",
                "0.8",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("added: Deep Coding at 2026-11-24T09:30:00+01:00 (slot 57)")
    assert (
        main(
            [
                *base,
                "record",
                "deep coding",
                "2026-11-24T09:30",
                "--success",
                "0.9",
                "--energy",
                "0.8",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("duplicate:")

    assert main([*base, "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["user"] == "alice"
    assert status["total_completions"] == 1
    assert status["maturity"] == "bootstrap"
    # The completed slot is the only peak: the evidence learner's smoothing lifts
    # the hours around it too, but nothing happened there (issue 15 item 5).
    assert status["tasks"][0]["peak_slots"] == ["Tuesday 09:00"]
    assert status["tasks"][0]["best_day"] == "Tuesday"

    assert main([*base, "status"]) == 0
    assert "Deep Coding: 1 completion(s); best day Tuesday" in capsys.readouterr().out

    assert main([*base, "heatmap", "Deep Coding", "--color", "never"]) == 0
    grid = capsys.readouterr().out.splitlines()
    assert grid[0] == "Deep Coding: 1 update(s), hours in Europe/Berlin"
    rows = [line for line in grid if line[:3] in {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}]
    assert len(rows) == 7
    assert [row[:3] for row in rows] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    tuesday = rows[1][6:]
    assert len(tuesday) == 48
    darkest = max((c for row in rows for c in row[6:]), key=SHADES.index)
    assert tuesday[18:20] == darkest * 2  # 09:00, the learned slot, is the darkest cell
    # Sunday learned (almost) nothing: lighter than Tuesday 09:00 everywhere, and
    # the same as Saturday (the population prior, the same curve every day).
    assert all(SHADES.index(c) < SHADES.index(darkest) for c in rows[6][6:])
    assert rows[6][6:] == rows[5][6:]

    assert main([*base, "heatmap", "energy", "--color", "always"]) == 0
    assert "\x1b[48;5;" in capsys.readouterr().out


def test_status_and_heatmap_under_the_ema_learner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[learning]\nlearner = "ema"\n' + GOOD,
        encoding="utf-8",
    )
    base = ["--config", str(config)]
    assert main([*base, "record", "Deep Coding", "2026-11-24T09:30", "--success", "0.9"]) == 0
    capsys.readouterr()
    assert main([*base, "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["tasks"][0]["peak_slots"] == ["Tuesday 09:00"]  # the EMA moves one slot
    assert status["tasks"][0]["peak_values"] == [0.58]  # 0.5 * 0.8 + 0.9 * 0.2

    assert main([*base, "heatmap", "Deep Coding", "--color", "never"]) == 0
    grid = capsys.readouterr().out.splitlines()
    rows = [line for line in grid if line[:3] in {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}]
    tuesday = rows[1][6:]  # the week starts on Monday, as the targets
    assert tuesday[18:20] == "@@"  # 09:00 is the only learned slot, the darkest cell
    assert set(rows[0][6:]) == {"="}  # untouched slots: neutral, the middle shade


def test_init_refuses_an_unknown_zone_and_unwritable_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "config.toml"
    assert main(["init", str(target), "--timezone", "Nowhere/Land"]) == 2
    assert "unknown IANA time zone 'Nowhere/Land'" in capsys.readouterr().err
    assert not target.exists()
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    assert main(["init", str(blocker / "config.toml")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_demo_never_touches_a_configured_database(tmp_path: Path) -> None:
    real = tmp_path / "real.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{real}"\n'
        '[[task_types]]\nname = "Focus"\nkeywords = ["focus"]\n',
        encoding="utf-8",
    )
    result = run_cli("--config", str(config), "--state-dir", str(tmp_path / "state"), "demo")
    assert result.returncode == 0, result.stderr
    assert "scratch database" in result.stdout
    assert not real.exists()
    assert not (tmp_path / "state").exists()
    bad = run_cli("demo", "--weeks", "0")
    assert bad.returncode == 2
    assert "between 1 and 52" in bad.stderr


def test_unknown_task_and_bad_input(good_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--config", str(good_config)]
    assert main([*base, "heatmap", "Knitting"]) == 2
    assert "unknown task type 'Knitting' (known: Deep Coding)" in capsys.readouterr().err
    assert main([*base, "record", "Deep Coding", "yesterday"]) == 2
    assert "ISO date-time" in capsys.readouterr().err
    assert main([*base, "record", "Deep Coding", "2026-11-24T09:00", "--success", "7"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err
    assert main([*base, "record", "Deep Coding", "2026-11-24"]) == 2
    assert "needs a time of day" in capsys.readouterr().err
    assert main([*base, "record", "Deep Coding", "2999-01-01T09:00"]) == 2
    assert "in the future" in capsys.readouterr().err
    assert main([*base, "status", "--user", "bob"]) == 2
    assert "unknown user 'bob' (known: alice)" in capsys.readouterr().err


def test_a_database_from_a_newer_calsync_is_refused(good_config: Path, tmp_path: Path) -> None:
    assert main(["--config", str(good_config), "status"]) == 0
    db = tmp_path / "state" / "calsync.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    result = run_cli("--config", str(good_config), "status")
    assert result.returncode == 4
    assert "Traceback" not in result.stderr
    assert "9999_from_the_future" in result.stderr
    assert "newer calsync" in result.stderr


def test_demo_runs_on_the_embedded_default(tmp_path: Path) -> None:
    result = run_cli("demo", "--weeks", "3", "--color", "never", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "completion(s) learned" in result.stdout
    assert "Deep Coding habit" in result.stdout
    assert "best block in the next 7 days:" in result.stdout
    for task in ("Deep Coding", "Email", "Exercise"):
        assert f"  {task}: " in result.stdout
    # The demo works in a scratch directory and leaves the user's state alone.
    assert not (tmp_path / "xdg-state").exists()


def test_sync_reads_an_ics_file_and_learns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = tmp_path / "cal.ics"
    feed.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\n"
        "BEGIN:VEVENT\r\nUID:1\r\nDTSTART:20260105T080000Z\r\nDTEND:20260105T100000Z\r\n"
        "SUMMARY:Coding ✓\r\nDESCRIPTION:energy: 4/5\\nnote: mornings rock\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n",
        encoding="utf-8",
    )
    config = tmp_path / "config.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        + GOOD
        + f'\n[[sources]]\ntype = "ics"\nname = "file"\npath = "{feed}"\ndays_back = 3650\n',
        encoding="utf-8",
    )
    base = ["--config", str(config)]
    assert main([*base, "sync"]) == 0
    out = capsys.readouterr().out
    assert "file: full, 1 event(s) received, 0 deleted, 1 completion(s) learned" in out
    assert main([*base, "sync"]) == 0
    assert "file: incremental, 0 event(s) received" in capsys.readouterr().out
    assert main([*base, "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["total_completions"] == 1
    assert status["tasks"][0]["peak_slots"][0] == "Monday 09:00"  # 08:00 UTC = 09:00 Berlin
    assert status["tasks"][0]["best_day"] == "Monday"
    assert status["sources"][0]["name"] == "file"
    assert status["sources"][0]["last_error"] is None

    feed.write_text("garbage", encoding="utf-8")
    assert main([*base, "sync"]) == 5
    assert "file (ics): FAILED: malformed ICS feed" in capsys.readouterr().out
    assert main([*base, "status"]) == 0
    assert "last error:" in capsys.readouterr().out


def test_sync_json_names_the_type_of_every_source(tmp_path: Path) -> None:
    good = tmp_path / "cal.ics"
    good.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nEND:VCALENDAR\r\n", encoding="utf-8"
    )
    bad = tmp_path / "bad.ics"
    bad.write_text("garbage", encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        + GOOD
        + f'\n[[sources]]\ntype = "ics"\nname = "good"\npath = "{good}"\n'
        + f'\n[[sources]]\ntype = "ics"\nname = "bad"\npath = "{bad}"\n',
        encoding="utf-8",
    )
    done = run_cli("--config", str(config), "sync", "--json")
    assert done.returncode == 5, done.stderr
    rows = {row["source"]: row for row in json.loads(done.stdout)}
    assert rows["good"]["ok"] is True
    assert rows["bad"]["ok"] is False
    assert {name: row["type"] for name, row in rows.items()} == {"good": "ics", "bad": "ics"}


@pytest.mark.parametrize("command", ["sync", "status", "config check"])
def test_every_command_gives_did_you_mean_for_a_misspelt_key_or_zone(
    tmp_path: Path, command: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[user]\ntimezone = "Europe/Berlln"\n'
        '[[task_types]]\nname = "Gym"\nkeywords = ["gym"]\nblok_minutes = 60\n',
        encoding="utf-8",
    )
    done = run_cli("--config", str(config), *command.split())
    assert done.returncode == 3, done.stderr
    for line in (
        "  - user.timezone: unknown IANA time zone 'Europe/Berlln'; did you mean 'Europe/Berlin'?",
        "  - task_types[0].blok_minutes: unknown key; did you mean 'block_minutes'?",
    ):
        assert line + "\n" in done.stderr
    assert done.stderr.count("did you mean") == 2


def test_run_once_apply_and_status_say_where_suggestions_ics_is(good_config: Path) -> None:
    path = good_config.parent / "state" / "suggestions.ics"
    where = f"suggestions: the blocks are in {path} (subscribe to it in your calendar app)"
    for command in (["run", "--once"], ["apply"]):
        done = run_cli("--config", str(good_config), *command)
        assert done.returncode == 0, done.stderr
        assert where + "\n" in done.stdout, command
    assert path.exists()
    done = run_cli("--config", str(good_config), "status")
    assert done.returncode == 0, done.stderr
    assert f"block(s) ahead in {path} (subscribe to it in your calendar app)\n" in done.stdout
    done = run_cli("--config", str(good_config), "status", "--json")
    assert json.loads(done.stdout)["targets"][0]["path"] == str(path)


def test_plan_apply_and_purge(
    good_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--config", str(good_config)]
    assert main([*base, "plan", "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["target"] == "suggestions"
    assert report["blocks"]
    assert {a["action"] for a in report["actions"]} == {"create"}
    planned = len(report["blocks"])  # the week's targets: depends on today's weekday
    ics = tmp_path / "state" / "suggestions.ics"
    assert not ics.exists()  # plan writes nothing

    assert main([*base, "apply"]) == 0
    assert f"wrote {planned} new" in capsys.readouterr().out
    assert ics.read_text(encoding="utf-8").count("BEGIN:VEVENT") == planned
    assert main([*base, "apply"]) == 0
    assert "wrote 0 new, 0 moved, 0 removed" in capsys.readouterr().out

    assert main([*base, "plan"]) == 0
    out = capsys.readouterr().out
    assert "Deep Coding" in out
    assert "would create" not in out

    assert main([*base, "purge"]) == 2  # no terminal to confirm in
    assert "--yes" in capsys.readouterr().err
    assert main([*base, "purge", "--yes"]) == 0
    assert f"removed {planned} block(s)" in capsys.readouterr().out
    assert ics.read_text(encoding="utf-8").count("BEGIN:VEVENT") == 0


def test_heatmap_png(good_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "deep.png"
    assert main(["--config", str(good_config), "heatmap", "Deep Coding", "--png", str(target)]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {target}" in capsys.readouterr().out


def test_the_main_job_on_the_embedded_default(tmp_path: Path) -> None:
    """README's first command: one cycle on the bundled sample calendar."""
    result = run_cli("run", "--once", "--color", "never", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "running the embedded default on the bundled sample calendar" in out
    assert "sample: full," in out
    assert "maturity mature" in out
    assert "Deep Coding: what calsync learned" in out
    assert "block(s) planned; wrote" in out
    state = tmp_path / "xdg-state" / "calsync" / "demo"  # apart from a configuration's state
    assert (state / "suggestions.ics").read_text(encoding="utf-8").count("BEGIN:VEVENT") >= 5
    again = run_cli("run", "--once", "--color", "never", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "wrote 0 new, 0 moved, 0 removed" in again.stdout


def test_without_a_config_file_every_command_sees_what_run_once_did(tmp_path: Path) -> None:
    """The embedded default (Berlin, the bundled sample calendar) is the same for all."""
    once = run_cli("run", "--once", "--color", "never", cwd=tmp_path)
    assert once.returncode == 0, once.stderr
    plan = run_cli("plan", "--json", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    (report,) = json.loads(plan.stdout)
    assert report["blocks"]
    assert report["actions"] == []  # nothing to move: the same zone, the same busy time
    status = run_cli("status", "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert [s["name"] for s in data["sources"]] == ["sample"]
    heatmap = run_cli("heatmap", "Email", cwd=tmp_path)
    assert "hours in Europe/Berlin" in heatmap.stdout
    assert not (tmp_path / "xdg-config").exists()  # no file was written to make this so
