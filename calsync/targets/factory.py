"""Build the configured targets (adapters are imported only when configured).

The twin of :mod:`calsync.sources.factory`.
"""

from __future__ import annotations

from calsync.clock import Clock
from calsync.config import (
    CaldavSourceConfig,
    CaldavTargetConfig,
    Config,
    GoogleSourceConfig,
    GoogleTargetConfig,
    IcsTargetConfig,
    TargetConfig,
)
from calsync.targets.base import Target

__all__ = ["DEFAULT_TARGET", "build_target", "build_targets"]

#: The target written when none is configured: ``suggestions.ics`` in the state directory.
DEFAULT_TARGET = "suggestions"


def build_target(config: Config, target: TargetConfig, clock: Clock) -> Target:
    """Create the adapter for one ``[[targets]]`` entry."""
    if isinstance(target, IcsTargetConfig):
        from calsync.targets.ics_file import IcsFileTarget

        path = target.path or config.resolved_state_dir() / "suggestions.ics"
        return IcsFileTarget(target.name, path, clock)
    sources = {s.name: s for s in config.sources}
    if isinstance(target, GoogleTargetConfig):
        from calsync.targets.google import GoogleTarget

        google = sources[target.source]
        assert isinstance(google, GoogleSourceConfig)  # the configuration checks it
        return GoogleTarget.from_config(target, google, config, clock)
    if isinstance(target, CaldavTargetConfig):
        from calsync.targets.caldav import CaldavTarget

        caldav = sources[target.source]
        assert isinstance(caldav, CaldavSourceConfig)  # the configuration checks it
        return CaldavTarget.from_config(target, caldav, config, clock)
    raise AssertionError(f"unhandled target type {type(target).__name__}")


def build_targets(config: Config, clock: Clock) -> list[Target]:
    """Every configured target; without any, ``suggestions.ics`` in the state directory."""
    if not config.targets:
        default = IcsTargetConfig(type="ics", name=DEFAULT_TARGET)
        return [build_target(config, default, clock)]
    return [build_target(config, t, clock) for t in config.targets]
