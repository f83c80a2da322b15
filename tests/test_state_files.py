"""The state directory: private files whatever the umask; reading without the write lock."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from calsync.config import embedded_default
from calsync.service import open as open_calsync


def run_cli(*args: str, cwd: Path, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calsync", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
        umask=umask,
    )


def modes(root: Path) -> dict[str, int]:
    """Every path under ``root`` (and root itself) with its permission bits."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    yield
    os.umask(old)


def test_every_state_file_is_private_under_umask_000(tmp_path: Path) -> None:
    state = tmp_path / "xdg-state" / "calsync" / "demo"  # the embedded default: the demo
    once = run_cli("run", "--once", "--color", "never", cwd=tmp_path, umask=0)
    assert once.returncode == 0, once.stderr
    status = run_cli("status", "--json", cwd=tmp_path, umask=0)
    assert status.returncode == 0, status.stderr
    found = modes(state)
    for name in ("calsync.db", "calsync.lock", "status.json", "suggestions.ics"):
        assert name in found, sorted(found)
    files = {name: mode for name, mode in found.items() if name != "."}
    assert files
    assert all(mode == 0o600 for mode in files.values()), files
    assert found["."] == 0o700


def test_the_database_and_its_wal_and_shm_are_private_while_open(
    tmp_path: Path, open_umask: None
) -> None:
    db = tmp_path / "new" / "calsync.db"
    with open_calsync(embedded_default(), store_url=f"sqlite:///{db}") as cs:
        cs.record_completion("Email", cs.clock.now().replace(hour=9), 0.8)
        with cs.store.read() as tx:
            assert tx.users()
        present = {p.name: stat.S_IMODE(p.stat().st_mode) for p in db.parent.iterdir()}
    assert {"calsync.db", "calsync.db-wal", "calsync.db-shm"} <= set(present)
    assert set(present.values()) == {0o600}, present
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700


def test_an_older_database_open_to_others_is_made_private(tmp_path: Path) -> None:
    db = tmp_path / "calsync.db"
    sqlite3.connect(db).close()
    db.chmod(0o644)
    with open_calsync(embedded_default(), store_url=f"sqlite:///{db}"):
        pass
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_read_only_commands_work_while_another_process_writes(tmp_path: Path) -> None:
    once = run_cli("run", "--once", "--color", "never", cwd=tmp_path)
    assert once.returncode == 0, once.stderr
    db = tmp_path / "xdg-state" / "calsync" / "demo" / "calsync.db"
    # Another writer: a write transaction holding SQLite's write lock, with a change pending.
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys\n"  # noqa: S608 - a fixed statement, no input
            f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE')\n"
            "c.execute('UPDATE users SET timezone = timezone')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.readline()\n"
            "c.execute('ROLLBACK')\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "locked"
        probe = sqlite3.connect(db, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            probe.execute("BEGIN IMMEDIATE")  # the lock is really held
        probe.close()
        status = run_cli("status", "--json", cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        assert [s["name"] for s in json.loads(status.stdout)["sources"]] == ["sample"]
        heatmap = run_cli("heatmap", "Email", "--color", "never", cwd=tmp_path)
        assert heatmap.returncode == 0, heatmap.stderr
        assert "hours in Europe/Berlin" in heatmap.stdout
        plan = run_cli("plan", "--json", cwd=tmp_path)
        assert plan.returncode == 0, plan.stderr
        assert json.loads(plan.stdout)[0]["blocks"]
    finally:
        assert writer.stdin is not None
        writer.stdin.write("\n")
        writer.stdin.close()
        writer.wait(timeout=30)
    assert writer.returncode == 0
