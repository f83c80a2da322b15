"""Build the configured sources (adapters are imported only when configured)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from calsync.clock import Clock
from calsync.config import (
    CaldavSourceConfig,
    Config,
    GoogleSourceConfig,
    IcsSourceConfig,
    SourceConfig,
)
from calsync.errors import ConfigError, ConfigProblem
from calsync.sources.base import Source


def build_source(config: Config, source: SourceConfig, clock: Clock) -> Source:
    """Create the adapter for one ``[[sources]]`` entry."""
    tz = ZoneInfo(config.user.timezone)
    if isinstance(source, IcsSourceConfig):
        from calsync.sources.ics import IcsSource, UrlPolicy
        from calsync.sources.ics_parse import ParseLimits

        return IcsSource(
            source.name,
            tz,
            clock,
            url=source.url,
            path=source.path,
            days_back=source.days_back,
            days_ahead=source.days_ahead,
            max_bytes=source.max_bytes,
            timeout=source.timeout_seconds,
            policy=UrlPolicy(allow_private_network=source.allow_private_network),
            limits=ParseLimits.from_config(source),
        )
    if isinstance(source, CaldavSourceConfig):
        from calsync.sources.caldav import CaldavSource

        return CaldavSource.from_config(source, tz, clock)
    if isinstance(source, GoogleSourceConfig):
        from calsync.sources.google import GoogleSource

        return GoogleSource.from_config(source, config.resolved_state_dir(), tz, clock)
    raise AssertionError(f"unhandled source type {type(source).__name__}")


def build_sources(config: Config, clock: Clock, only: str | None = None) -> list[Source]:
    """Every configured source (or only the one called ``only``)."""
    chosen = [s for s in config.sources if only is None or s.name == only]
    if only is not None and not chosen:
        known = ", ".join(s.name for s in config.sources) or "none configured"
        raise ConfigError("<config>", [ConfigProblem("sources", f"no source {only!r} ({known})")])
    return [build_source(config, s, clock) for s in chosen]
