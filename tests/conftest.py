"""Shared fixtures: an isolated environment for every test and a ready Calsync."""

from __future__ import annotations

import os

# mem0 phones home on import unless told not to; nothing in the tests may reach the network.
os.environ["MEM0_TELEMETRY"] = "false"

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from calsync.clock import FixedClock
from calsync.config import Config, embedded_default
from calsync.service import Calsync
from calsync.service import open as open_calsync


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the real XDG and systemd directories."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.delenv("CONFIGURATION_DIRECTORY", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def clock() -> FixedClock:
    """A clock frozen at Tuesday 2026-11-24 12:00 UTC."""
    return FixedClock(datetime(2026, 11, 24, 12, tzinfo=UTC))


@pytest.fixture
def config() -> Config:
    """The embedded default configuration (user "me" in UTC, three task types)."""
    return embedded_default()


def berlin_config() -> Config:
    """The embedded default with the user in Europe/Berlin."""
    base = embedded_default()
    return base.model_copy(
        update={"user": base.user.model_copy(update={"timezone": "Europe/Berlin"})}
    )


@pytest.fixture
def cs(tmp_path: Path, config: Config, clock: FixedClock) -> Iterator[Calsync]:
    """A Calsync on a real SQLite file in the test's directory."""
    instance = open_calsync(config, store_url=f"sqlite:///{tmp_path / 'calsync.db'}", clock=clock)
    yield instance
    instance.close()
