"""One atomic write serves every file calsync writes (:func:`calsync.secrets.write_atomically`)."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import calsync
from calsync.secrets import write_atomically

PACKAGE = Path(calsync.__file__).parent


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    yield
    os.umask(old)


def test_a_new_file_is_0600_in_a_new_0700_directory_whatever_the_umask(
    tmp_path: Path, open_umask: None
) -> None:
    path = tmp_path / "new" / "deeper" / "status.json"
    assert write_atomically(path, "{}") == path
    assert path.read_text(encoding="utf-8") == "{}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["status.json"]  # no temporary left


def test_an_existing_file_is_replaced_not_rewritten_in_place(tmp_path: Path) -> None:
    path = tmp_path / "suggestions.ics"
    path.write_bytes(b"old")
    path.chmod(0o644)
    before = path.stat().st_ino
    write_atomically(path, b"new")
    assert path.read_bytes() == b"new"
    assert path.stat().st_ino != before  # a reader holding the old file keeps it whole
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_symlink_stays_a_link_and_its_target_is_replaced(tmp_path: Path) -> None:
    real = tmp_path / "served" / "suggestions.ics"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "state" / "suggestions.ics"
    link.parent.mkdir()
    link.symlink_to(real)
    assert write_atomically(link, b"new") == real
    assert link.is_symlink()
    assert real.read_bytes() == b"new"
    assert sorted(p.name for p in real.parent.iterdir()) == ["suggestions.ics"]


def test_the_file_and_then_its_directory_are_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_atomically(tmp_path / "cycles.json", "[]")
    assert synced == ["file", "dir"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "status.json"
    path.write_text("old", encoding="utf-8")

    def refuse(source: str, target: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space"):
        write_atomically(path, "new")
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_no_module_but_secrets_replaces_files_itself() -> None:
    """Every file calsync writes goes through the one helper: no second variant."""
    pattern = re.compile(r"os\.replace\(|os\.rename\(|mkstemp\(|NamedTemporaryFile\(|\.tmp\b")
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "secrets.py" and path.parent == PACKAGE:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []
