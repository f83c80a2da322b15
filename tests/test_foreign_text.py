"""Foreign text is bounded in messages, stored errors and status, and never drives the terminal."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from calsync.cli import main
from calsync.errors import SourceError
from calsync.ingest import sync_all
from calsync.render import heatmap, progress_text
from calsync.service import open as open_calsync
from calsync.sources.base import FetchResult
from calsync.store.store import SyncStateRow
from calsync.text import FOREIGN_LIMIT

#: A terminal attack: clear the screen, set the window title, ring, hide with a bidi override.
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\u202e\r"
#: Characters that must never reach the terminal raw.
RAW = ("\x1b", "\x07", "\u202e", "\r")

GARBAGE = "BEGIN:VCALENDAR " + HOSTILE + "x" * 15_000_000


class FailingSource:
    """A calendar source whose server answers with a 15 MB garbage line."""

    name = "hostile"

    def fetch(self, cursor: str | None) -> FetchResult:
        raise SourceError(f"hostile: cannot parse the feed: {GARBAGE}")


def config_file(tmp_path: Path, task: str = "Deep Coding") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        '[user]\nid = "alice"\ntimezone = "Europe/Berlin"\n'
        f'[[task_types]]\nname = {json.dumps(task)}\nkeywords = ["coding"]\n'
        '[[sources]]\ntype = "ics"\nname = "hostile"\npath = "/nonexistent/cal.ics"\n',
        encoding="utf-8",
    )
    return path


def assert_safe(text: str, limit: int = 2_000) -> None:
    assert len(text) < limit, len(text)
    for char in RAW:
        assert char not in text


def test_a_15_mb_garbage_error_is_bounded_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path)
    from calsync.config import load_config

    with open_calsync(load_config(config)) as cs:
        (report,) = sync_all(cs, [FailingSource()])  # type: ignore[list-item]
        with cs.store.read() as tx:
            state = tx.sync_state("hostile")
    assert not report.ok
    assert state is not None
    assert state.last_error is not None
    assert len(state.last_error) <= FOREIGN_LIMIT + 80  # the cut note and escapes
    assert "more characters" in state.last_error
    assert_safe(state.last_error)
    assert "\\x1b[2J" in state.last_error  # shown, not obeyed
    assert_safe(report.summary())

    assert main(["--config", str(config), "status", "--json"]) == 0
    out = capsys.readouterr().out
    assert_safe(out, 10_000)
    (source,) = json.loads(out)["sources"]
    assert source["last_error"] == state.last_error
    assert main(["--config", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert "last error: cannot parse the feed: BEGIN:VCALENDAR \\x1b[2J" in out
    assert_safe(out, 10_000)


def test_a_long_error_stored_by_an_older_calsync_is_shown_briefly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path)
    from calsync.config import load_config

    with open_calsync(load_config(config)) as cs, cs.store.write() as tx:
        tx.save_sync_state(
            SyncStateRow(
                source="hostile",
                cursor=None,
                last_success_at=None,
                last_attempt_at=datetime(2026, 11, 24, tzinfo=UTC),
                last_error=GARBAGE,
                consecutive_failures=1,
                needs_reauth=False,
            )
        )
    for command in (["status"], ["status", "--json"]):
        assert main(["--config", str(config), *command]) == 0
        assert_safe(capsys.readouterr().out, 10_000)


def test_insights_from_notes_and_events_cannot_drive_the_terminal(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    base = [sys.executable, "-m", "calsync", "--config", str(config)]
    note = subprocess.run(
        [*base, "note", f"mornings{HOSTILE}are great"], capture_output=True, text=True, check=False
    )
    assert note.returncode == 0, note.stderr
    listed = subprocess.run([*base, "insights"], capture_output=True, text=True, check=False)
    assert listed.returncode == 0, listed.stderr
    assert_safe(listed.stdout)
    assert "\\x1b[2J\\x1b]0;pwned\\x07\\u202e" in listed.stdout
    as_json = subprocess.run(
        [*base, "insights", "--json"], capture_output=True, text=True, check=False
    )
    assert_safe(as_json.stdout)
    assert "\x1b]0;pwned" in json.loads(as_json.stdout)[0]["text"]  # the data itself is kept


def test_a_task_name_with_escapes_is_neutralised_in_status_heatmap_and_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"Code{HOSTILE}"
    config = config_file(tmp_path, name)
    base = ["--config", str(config)]
    assert main([*base, "record", name, "2026-11-23T09:00", "--success", "0.9"]) == 0
    for command in (["status"], ["heatmap", name, "--color", "never"], ["plan"]):
        code = main([*base, *command])
        out = capsys.readouterr()
        assert code == 0, out.err
        assert "Code\\x1b[2J" in out.out
        assert_safe(out.out, 20_000)


def test_render_neutralises_titles_and_names() -> None:
    grid = heatmap(np.full(168, 0.5), f"title{HOSTILE}", color=False)
    assert_safe(grid)
    assert grid.startswith("title\\x1b[2J")
    from calsync.learning.progress import LearningProgress, TaskProgress

    progress = LearningProgress(
        total_completions=1,
        maturity="new",
        tasks=[TaskProgress(task_type=f"t{HOSTILE}", completion_count=1)],
    )
    assert_safe(progress_text(progress, f"u{HOSTILE}"))


def test_every_cli_error_is_bounded_and_printable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / f"conf{HOSTILE}{'y' * 200}" / ("z" * 200 + ".toml")
    assert main(["--config", str(missing), "status"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("calsync: error: invalid configuration in ")
    assert "conf\\x1b[2J" in err
    assert_safe(err)
