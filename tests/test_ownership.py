"""Installation ids and the absence rule: the pure decisions, the store, and ``calsync purge``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command

from calsync.cli import main
from calsync.clock import SystemClock
from calsync.reconcile import (
    absences_to_confirm,
    is_mass_absence,
    observe,
    partition_owned,
)
from calsync.store.engine import _alembic_config, create_store_engine, current_revision
from calsync.store.store import Store, SuggestionRow
from calsync.targets.base import (
    ANY_INSTALLATION,
    BlockContent,
    OwnedEvent,
    may_write,
    suggestion_id,
)
from calsync.targets.ics_file import IcsFileTarget

NOW = datetime(2026, 11, 23, 8, tzinfo=UTC)
MINE = "aaaaaaaaaaaaaaaa"
OTHER = "bbbbbbbbbbbbbbbb"


def row(sid: str, status: str = "active", hours: int = 24) -> SuggestionRow:
    start = NOW + timedelta(hours=hours)
    return SuggestionRow(
        id=sid,
        user_id="me",
        task_type="Email",
        target="t",
        remote_id=sid,
        start=start,
        end=start + timedelta(hours=1),
        score=0.5,
        status=status,
        planned_start=start,
    )


def event(sid: str, installation: str | None = MINE, hours: int = 24) -> OwnedEvent:
    start = NOW + timedelta(hours=hours)
    return OwnedEvent(sid, sid, start, start + timedelta(hours=1), installation=installation)


# --------------------------------------------------------------------------- pure rules


def test_partition_keeps_only_this_installations_blocks() -> None:
    remote = [
        event("mine"),
        event("theirs", OTHER),
        event("", MINE),  # malformed marker
        event("old-known", None),
        event("old-unknown", None),
        event("cut-short"),  # ours, unknown: a write cut short
    ]
    split = partition_owned(remote, MINE, {"mine", "old-known"})
    assert [e.suggestion_id for e in split.ours] == ["mine", "old-known", "cut-short"]
    assert [e.suggestion_id for e in split.foreign] == ["theirs", "", "old-unknown"]


def test_only_confirmed_absences_change_anything() -> None:
    rows = [row("a"), row("b"), row("c", "creating"), row("d")]
    remote = [event("d")]
    assert [r.id for r in absences_to_confirm(rows, remote)] == ["a", "b", "c"]
    seen = observe(rows, remote, NOW, confirmed_absent={"a"})
    assert [r.status for r in seen.rows] == ["declined", "active", "creating", "active"]
    # Without a confirmation set every absence counts (the decision the caller vouches for).
    assert [r.status for r in observe(rows, remote, NOW).rows] == [
        "declined",
        "declined",
        "retracted",
        "active",
    ]


def test_a_mass_absence_is_held_then_lost_never_declined() -> None:
    rows = [row(s) for s in "abcde"]
    assert not is_mass_absence(rows, {"a", "b", "c", "d"})  # one of five left: the user's
    assert is_mass_absence(rows, set("abcde"))  # none left
    assert not is_mass_absence(rows[:2], {"a", "b"})  # fewer than three: the user's
    many = [row(f"r{i}") for i in range(46)]
    assert is_mass_absence(many, {f"r{i}" for i in range(37)})  # 9 of 46 left: far fewer
    assert not is_mass_absence(many, {f"r{i}" for i in range(36)})
    assert not is_mass_absence([*rows, row("x", "declined")], set("abcd"))  # only visible count
    held = observe(rows, [event("e")], NOW, {"a", "b", "c", "d"}, mass=True)
    assert [r.status for r in held.rows] == ["missing"] * 4 + ["active"]
    back = observe(held.rows, [event(s) for s in "bcde"], NOW, {"a"}, mass=False)
    assert [r.status for r in back.rows] == ["lost", "active", "active", "active", "active"]


def test_may_write_follows_the_marker() -> None:
    assert may_write("cs1", MINE, MINE)
    assert may_write("cs1", None, MINE)  # written before installation ids
    assert not may_write("cs1", OTHER, MINE)
    assert not may_write("", MINE, MINE)
    assert may_write("", OTHER, ANY_INSTALLATION)


def test_two_installations_choose_different_ids_for_the_same_slot() -> None:
    ids = {suggestion_id("me", "Email", NOW, 0, i) for i in (MINE, OTHER)}
    assert len(ids) == 2
    assert suggestion_id("me", "Email", NOW) == suggestion_id("me", "Email", NOW, 0, "")
    assert all(len(i) == 32 and set(i) <= set("0123456789abcdefghijklmnopqrstuv") for i in ids)


# --------------------------------------------------------------------------- the store


def test_each_database_has_one_installation_id_for_good(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    engine = create_store_engine(url)
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005_learner_evidence")  # a database from before the change
    engine.dispose()
    store = Store.open(url)
    with store.read() as tx:
        first = tx.installation_id()
    assert current_revision(store.engine) == "0007_update_log_indexes"
    store.close()
    again = Store.open(url)
    other = Store.open(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        with again.read() as tx, other.read() as tx2:
            assert tx.installation_id() == first
            assert tx2.installation_id() != first
        assert len(first) == 16
    finally:
        again.close()
        other.close()


# --------------------------------------------------------------------------- calsync purge


CONFIG = """
state_dir = "{state}"

[user]
timezone = "Europe/Berlin"

[[task_types]]
name = "Deep Coding"
keywords = ["coding"]
block_minutes = 60
weekly_target = {{ sessions = 3 }}
windows = [{{ days = ["all"], start = "07:00", end = "22:00" }}]

[[targets]]
type = "ics"
name = "file"
path = "{ics}"
"""


def test_purge_keeps_other_installations_blocks_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ics = tmp_path / "blocks.ics"
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(state=tmp_path / "state", ics=ics), encoding="utf-8")
    base = ["--config", str(config)]
    assert main([*base, "apply"]) == 0
    capsys.readouterr()
    file = IcsFileTarget("file", ics, SystemClock())
    planned = len(file.list_owned())
    assert planned > 0
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    file.create(
        BlockContent(
            "csfromanothermachine",
            "Email",
            start,
            start + timedelta(hours=1),
            "⧗ Email",
            "",
            installation=OTHER,
        )
    )
    assert main([*base, "purge", "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"file: removed {planned} block(s) calsync wrote" in out
    assert out.count("Deep Coding") == planned  # each removed block, by time and task type
    assert "kept 1 block(s) of other calsync installations" in out
    (left,) = file.list_owned()
    assert left.installation == OTHER
    assert main([*base, "purge", "--yes", "--all-installations"]) == 0
    out = capsys.readouterr().out
    assert "file: removed 1 block(s)" in out
    assert "Email" in out
    assert file.list_owned() == []
