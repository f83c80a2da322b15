"""``close()`` is part of the Source and Target protocols; the daemon closes what it opened.

Every adapter has ``close()`` (the memory ones a no-op); the daemon closes
its sources and targets when a reload replaces them and when it stops, and
opens the insight service (memory store, interpreter) once, not per job.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calsync import daemon as daemon_module
from calsync.clock import FixedClock
from calsync.config import Config, load_config
from calsync.daemon import Daemon
from calsync.insights.sync import InsightService
from calsync.service import Calsync
from calsync.sources.base import Source
from calsync.sources.caldav import CaldavSource
from calsync.sources.google import GoogleSource
from calsync.sources.ics import IcsSource
from calsync.sources.memory import MemorySource
from calsync.targets.base import Target
from calsync.targets.caldav import CaldavTarget
from calsync.targets.google import GoogleTarget
from calsync.targets.ics_file import IcsFileTarget
from calsync.targets.memory import MemoryTarget

from .test_daemon import TASKS, Recorder

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize("adapter", [MemorySource, IcsSource, CaldavSource, GoogleSource])
def test_every_source_has_close(adapter: type) -> None:
    assert callable(getattr(adapter, "close", None))
    assert "close" in vars(Source)  # part of the protocol


@pytest.mark.parametrize("adapter", [MemoryTarget, IcsFileTarget, CaldavTarget, GoogleTarget])
def test_every_target_has_close(adapter: type) -> None:
    assert callable(getattr(adapter, "close", None))
    assert "close" in vars(Target)  # part of the protocol


def test_the_memory_and_file_adapters_close_as_a_no_op(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 11, 23, 8, tzinfo=BERLIN))
    source = MemorySource("m")
    target = IcsFileTarget("f", tmp_path / "s.ics", clock)
    for adapter in (source, target, MemoryTarget()):
        adapter.close()
        adapter.close()  # twice is fine
    assert isinstance(source, Source)
    assert isinstance(target, Target)
    assert source.fetch(None).full  # usable after close


class ClosingSource(MemorySource):
    """A memory source that counts its ``close()`` calls."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.closed = 0

    def close(self) -> None:
        """Count."""
        self.closed += 1


class ClosingTarget(MemoryTarget):
    """A memory target that counts its ``close()`` calls."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.closed = 0

    def close(self) -> None:
        """Count."""
        self.closed += 1


class BrokenTarget(ClosingTarget):
    """A target whose ``close()`` fails: the others are closed all the same."""

    def close(self) -> None:
        """Count, then fail."""
        super().close()
        raise OSError("socket already gone")


def closed(adapters: Iterable[object]) -> list[int]:
    """How often each counting adapter was closed."""
    counts = []
    for adapter in adapters:
        assert isinstance(adapter, ClosingSource | ClosingTarget)
        counts.append(adapter.closed)
    return counts


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[object]]:
    """Every adapter the daemon builds, by kind."""
    made: dict[str, list[object]] = {"sources": [], "targets": []}

    def sources(config: Config, clock: object, only: str | None = None) -> list[Source]:
        new = [ClosingSource(f"s{len(made['sources'])}")]
        made["sources"].extend(new)
        return list(new)

    def targets(config: Config, clock: object) -> list[Target]:
        new = [ClosingTarget(f"t{len(made['targets'])}"), BrokenTarget("broken")]
        made["targets"].extend(new)
        return list(new)

    monkeypatch.setattr(daemon_module, "build_sources", sources)
    monkeypatch.setattr(daemon_module, "build_targets", targets)
    return made


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\n' + TASKS, encoding="utf-8")
    return path


def test_the_daemon_closes_its_adapters_on_reload_and_on_shutdown(
    tmp_path: Path, built: dict[str, list[object]], caplog: pytest.LogCaptureFixture
) -> None:
    config_file = _config_file(tmp_path)
    with Daemon(load_config(config_file), config_file, notifier=Recorder()) as daemon:
        (first_source,) = built["sources"]
        first_targets = list(built["targets"])
        assert closed([first_source, *first_targets]) == [0, 0, 0]
        daemon.request_reload()
        with caplog.at_level("WARNING", logger="calsync.daemon"):
            daemon._guarded("cycle", lambda: None)()
        # The old adapters are closed once each, a failing close logged, not raised.
        assert closed([first_source, *first_targets]) == [1, 1, 1]
        assert "could not close broken" in caplog.text
        assert daemon.sources == built["sources"][1:]
        assert closed([*daemon.sources, *daemon.targets]) == [0, 0, 0]
        current = [*daemon.sources, *daemon.targets]
    assert closed(current) == [1, 1, 1]
    assert closed([first_source, *first_targets]) == [1, 1, 1]
    assert daemon.sources == []
    assert daemon.targets == []


def test_a_refused_reload_closes_nothing(tmp_path: Path, built: dict[str, list[object]]) -> None:
    config_file = _config_file(tmp_path)
    with Daemon(load_config(config_file), config_file, notifier=Recorder()) as daemon:
        config_file.write_text('[user]\ntimezone = "Mars/Base"\n', encoding="utf-8")
        daemon.request_reload()
        daemon._guarded("cycle", lambda: None)()
        assert closed([*daemon.sources, *daemon.targets]) == [0, 0, 0]
        assert len(built["sources"]) == 1


def test_the_insight_service_is_opened_once_per_daemon(
    tmp_path: Path, built: dict[str, list[object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[InsightService] = []
    shut: list[InsightService] = []
    real_from_config = InsightService.from_config.__func__  # type: ignore[attr-defined]

    def from_config(cls: type[InsightService], cs: Calsync) -> InsightService:
        service: InsightService = real_from_config(cls, cs)
        opened.append(service)
        real_close = service.close

        def close() -> None:
            shut.append(service)
            real_close()

        service.close = close  # type: ignore[method-assign]
        return service

    monkeypatch.setattr(InsightService, "from_config", classmethod(from_config))
    config_file = _config_file(tmp_path)
    with Daemon(load_config(config_file), config_file, notifier=Recorder()) as daemon:
        assert opened == []  # not before the first insight job
        daemon.generate_insights()
        daemon.llm_sync(force=True)
        daemon.generate_insights()
        daemon.llm_sync()
        assert len(opened) == 1
        assert shut == []
        daemon.request_reload()  # a reload may change the memory store: opened again when needed
        daemon._guarded("insights", daemon.generate_insights)()
        assert len(opened) == 2
        assert shut == opened[:1]
    assert shut == opened
