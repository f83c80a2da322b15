"""Secret files: written atomically, 0600, through a symlink onto its target."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.oauth2.credentials import Credentials

from calsync.clock import FixedClock
from calsync.config import parse_config
from calsync.secrets import UnsafeSecretError, read_private_file, write_private_file
from calsync.sources.factory import build_source
from calsync.sources.google import SCOPE

from .fake_google import FakeGoogle

NOW = datetime(2026, 11, 24, 18, tzinfo=UTC)


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle(page_size=2)
    yield fake
    fake.close()


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Run with umask 000: modes must not depend on the umask."""
    old = os.umask(0)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_secret_is_0600_in_a_0700_directory(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "new" / "token.json"
    write_private_file(path, "secret")
    assert path.read_text(encoding="utf-8") == "secret"
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["token.json"]  # no temp left


def test_a_symlinked_secret_stays_a_link_and_its_target_gets_the_new_text(
    tmp_path: Path, open_umask: None
) -> None:
    real_dir = tmp_path / "vault"
    real_dir.mkdir(mode=0o700)
    target = real_dir / "real-token.json"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o600)
    link = tmp_path / "state" / "google-g.json"
    link.parent.mkdir()
    link.symlink_to(target)
    chain = tmp_path / "state" / "chain.json"  # a link to the link
    chain.symlink_to(link)

    write_private_file(chain, "new")

    assert link.is_symlink()
    assert chain.is_symlink()
    assert os.readlink(link) == str(target)
    assert target.read_text(encoding="utf-8") == "new"
    assert read_private_file(link) == b"new"
    assert mode(target) == 0o600
    # The temporary file was made beside the target and is gone.
    assert sorted(p.name for p in real_dir.iterdir()) == ["real-token.json"]
    assert sorted(p.name for p in link.parent.iterdir()) == ["chain.json", "google-g.json"]


def test_a_dangling_link_creates_its_target(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "token.json"
    link = tmp_path / "token.json"
    link.symlink_to(target)
    write_private_file(link, "fresh")
    assert link.is_symlink()
    assert target.read_text(encoding="utf-8") == "fresh"
    assert mode(target) == 0o600


@pytest.mark.parametrize("bits", [0o644, 0o640, 0o604])
def test_a_target_open_to_others_is_refused_and_left_alone(tmp_path: Path, bits: int) -> None:
    target = tmp_path / "shared.json"
    target.write_text("old", encoding="utf-8")
    target.chmod(bits)
    link = tmp_path / "token.json"
    link.symlink_to(target)
    with pytest.raises(UnsafeSecretError, match="open to group or others"):
        write_private_file(link, "new")
    with pytest.raises(UnsafeSecretError, match="open to group or others"):
        read_private_file(link)
    assert target.read_text(encoding="utf-8") == "old"
    assert mode(target) == bits
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.json", "token.json"]


def test_a_link_to_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    link = tmp_path / "token.json"
    link.symlink_to(tmp_path / "dir")
    with pytest.raises(UnsafeSecretError, match="not a regular file"):
        write_private_file(link, "new")


def _token(fake: FakeGoogle) -> str:
    expired = datetime(2000, 1, 1)  # noqa: DTZ001 - google-auth compares naive UTC
    return Credentials(
        token="stale-token",
        refresh_token="refresh-1",
        token_uri=fake.token_uri,
        client_id="client",
        client_secret="secret",
        scopes=[SCOPE],
        expiry=expired,
    ).to_json()


def test_a_google_refresh_writes_through_a_symlinked_token_file(
    google: FakeGoogle, tmp_path: Path, open_umask: None
) -> None:
    vault = tmp_path / "vault"
    vault.mkdir(mode=0o700)
    target = vault / "google.json"
    target.write_text(_token(google), encoding="utf-8")
    target.chmod(0o600)
    link = tmp_path / "token-link.json"
    link.symlink_to(target)
    config = parse_config(
        {
            "state_dir": str(tmp_path / "state"),
            "sources": [
                {
                    "type": "google",
                    "name": "g",
                    "api_endpoint": google.api_endpoint,
                    "token_file": str(link),
                }
            ],
        }
    )
    source = build_source(config, config.sources[0], FixedClock(NOW))  # type: ignore[arg-type]
    assert source.fetch(None).full
    assert google.api_requests()[0]["auth"] == "Bearer access-1"  # refreshed
    assert link.is_symlink()
    assert json.loads(target.read_text(encoding="utf-8"))["token"] == "access-1"
    assert mode(target) == 0o600
    assert sorted(p.name for p in vault.iterdir()) == ["google.json"]
