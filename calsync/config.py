"""The one configuration schema: defaults, validation, documentation.

Every key calsync reads is a field of a pydantic model below, with its default
and its description. The same models

* load and validate a TOML file (:func:`load_config`), reporting every problem
  at once with its dotted key (:class:`calsync.errors.ConfigError`);
* render the fully commented example (:func:`render_example`), which is what
  ``config/calsync.example.toml`` holds and what ``calsync init`` writes;
* provide the embedded default used when no configuration file exists.

File location: ``--config PATH``, else ``$CONFIGURATION_DIRECTORY/config.toml``
(set by systemd), else ``$XDG_CONFIG_HOME/calsync/config.toml``. State lives in
``state_dir``, else ``$STATE_DIRECTORY`` (systemd), else
``$XDG_STATE_HOME/calsync/``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from calsync.errors import ConfigError, ConfigProblem, SourceError
from calsync.files import read_regular_file, special_file_problem
from calsync.learning.adaptive import AdaptiveParams
from calsync.learning.evidence import EvidenceParams
from calsync.learning.habits import DAY_GROUPS, LearningParams, MergeParams
from calsync.learning.planner import ScoringParams
from calsync.learning.schedule import PlanParams
from calsync.learning.slots import DAY_NAMES
from calsync.learning.windows import Window
from calsync.text import quote

logger = logging.getLogger(__name__)

APP_NAME = "calsync"
#: Largest configuration file read (a real one is a few kilobytes).
MAX_CONFIG_BYTES = 1_000_000
CONFIG_FILE_NAME = "config.toml"
DATABASE_FILE_NAME = "calsync.db"

_DAY_WORDS = {name.lower(): i for i, name in enumerate(DAY_NAMES)}
_TIME_RE = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class _Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are frozen."""

    # Every number has finite bounds below; inf and nan are refused outright as well.
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )


class UserConfig(_Section):
    """The person whose calendars calsync learns from."""

    id: str = Field(
        "me",
        min_length=1,
        max_length=200,
        description="Identifier of the user in calsync's database.",
    )
    timezone: str = Field(
        "UTC",
        description=(
            'IANA time zone of the user (e.g. "Europe/Berlin"). Weekly slots are read '
            "on this wall clock, so learning follows daylight-saving changes."
        ),
    )
    week_start: Literal["monday", "sunday"] = Field(
        "monday",
        description="First day of the week in heatmaps (weekly targets always run Monday to "
        "Sunday).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown IANA time zone {value!r}") from err
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The user's time zone as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)


class StoreConfig(_Section):
    """Where calsync keeps what it learns."""

    url: str | None = Field(
        None,
        description=(
            "SQLAlchemy database URL. Empty: a SQLite file calsync.db in the state "
            'directory. PostgreSQL works too: "postgresql+psycopg://user@host/calsync".'
        ),
        json_schema_extra={"example": "sqlite:////var/lib/calsync/calsync.db"},
    )

    @field_validator("url")
    @classmethod
    def _parsable_url(cls, value: str | None) -> str | None:
        if value:
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                make_url(value)
            except ArgumentError as err:
                raise ValueError(
                    f'not a database URL: {value!r} (e.g. "sqlite:////path/calsync.db")'
                ) from err
        return value

    busy_timeout_ms: int = Field(
        5000,
        ge=0,
        le=600_000,
        description="SQLite: how long a writer waits for another one's lock, in milliseconds.",
    )


class LearningConfig(_Section):
    """How behaviour updates the 168-slot habit and energy arrays."""

    learner: Literal["evidence", "ema"] = Field(
        "evidence",
        description=(
            'Which learner shapes the arrays: "evidence" (smoothed Beta-Bernoulli evidence, '
            'skips count as failures, fades with a half-life) or "ema" (the original EMA of '
            "completions). Changing it recomputes the arrays from the update log."
        ),
    )
    neutral_value: float = Field(
        0.5, ge=0.0, le=1.0, description="Value every slot starts at before anything is learned."
    )
    base_learning_rate: float = Field(
        LearningParams.base_rate,
        ge=0.001,
        le=1.0,
        description="Learning rate of the first completion: lr = base / (1 + count * decay).",
    )
    learning_rate_decay: float = Field(
        LearningParams.rate_decay,
        ge=0.0,
        le=10.0,
        description="How fast the learning rate shrinks with each completion.",
    )
    default_success: float = Field(
        0.75,
        ge=0.0,
        le=1.0,
        description="Success of a completion whose event carries no rating or marker.",
    )
    developing_after: int = Field(
        10, ge=0, le=100_000, description='Total completions from which maturity is "developing".'
    )
    mature_after: int = Field(
        50, ge=0, le=100_000, description='Total completions from which maturity is "mature".'
    )
    peak_slots: int = Field(
        3, ge=1, le=168, description="How many peak slots status and heatmap show per task type."
    )

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> LearningConfig:
        if self.mature_after < self.developing_after:
            raise ValueError(
                f"mature_after ({self.mature_after}) must not be below "
                f"developing_after ({self.developing_after})"
            )
        return self

    prior_weight: float = Field(
        EvidenceParams.prior_weight,
        ge=0.01,
        le=1_000.0,
        description="Evidence learner: how many outcomes the prior is worth in each slot.",
    )
    hour_width: float = Field(
        EvidenceParams.hour_width,
        ge=0.1,
        le=6.0,
        description="Evidence learner: width (hours) of the smoothing across neighbouring hours.",
    )
    similar_day_weight: float = Field(
        EvidenceParams.similar_day_weight,
        ge=0.0,
        le=1.0,
        description=(
            "Evidence learner: weight of the same hour on a similar day "
            "(weekday for a weekday, weekend for a weekend)."
        ),
    )
    other_day_weight: float = Field(
        EvidenceParams.other_day_weight,
        ge=0.0,
        le=1.0,
        description="Evidence learner: weight of the same hour on the other kind of day.",
    )
    pool_weight: float = Field(
        EvidenceParams.pool_weight,
        ge=0.0,
        le=1.0,
        description="Evidence learner: weight of the user's other task types' evidence.",
    )
    half_life_days: float = Field(
        EvidenceParams.half_life_days,
        ge=1.0,
        le=3_650.0,
        description="Evidence learner: evidence loses half its weight in this many days.",
    )
    energy_prior_weight: float = Field(
        EvidenceParams.energy_prior_weight,
        ge=0.01,
        le=1_000.0,
        description="Evidence learner: how many ratings the energy prior is worth in each slot.",
    )
    adaptive_neighbour_strength: float = Field(
        AdaptiveParams.neighbour_strength,
        ge=0.0,
        le=10_000.0,
        description=(
            "Adaptive learner: most outcomes the neighbouring hours' and similar days' rate "
            "is worth in a slot."
        ),
    )
    adaptive_pool_strength: float = Field(
        AdaptiveParams.pool_strength,
        ge=0.0,
        le=100.0,
        description="Adaptive learner: most outcomes another task type's rate is worth in a slot.",
    )
    adaptive_agreement_prior: float = Field(
        AdaptiveParams.agreement_prior,
        ge=0.0,
        le=1.0,
        description=(
            "Adaptive learner: how much a task type borrows from another before their "
            "outcomes show whether they agree."
        ),
    )
    adaptive_agreement_scale: float = Field(
        AdaptiveParams.agreement_scale,
        ge=0.001,
        le=100.0,
        description=(
            "Adaptive learner: nats of predictive gain that move a pair's borrowing by one "
            "logit unit."
        ),
    )
    adaptive_long_half_life_days: float = Field(
        AdaptiveParams.long_half_life_days,
        ge=30.0,
        le=3_650.0,
        description="Adaptive learner: half-life of the long memory (days).",
    )
    adaptive_short_half_life_days: float = Field(
        AdaptiveParams.short_half_life_days,
        ge=1.0,
        le=30.0,
        description="Adaptive learner: half-life of the recent memory (days).",
    )
    adaptive_score_half_life_days: float = Field(
        AdaptiveParams.score_half_life_days,
        ge=1.0,
        le=365.0,
        description="Adaptive learner: half-life of the change and agreement scores (days).",
    )
    adaptive_change_threshold: float = Field(
        AdaptiveParams.change_threshold,
        ge=0.0,
        le=1_000.0,
        description=(
            "Adaptive learner: nats by which the recent memory must out-predict the long one "
            "before a change of routine is taken as detected."
        ),
    )
    adaptive_change_keep: float = Field(
        AdaptiveParams.change_keep,
        ge=0.0,
        le=1.0,
        description=(
            "Adaptive learner: share of the older evidence kept when a change of routine is "
            "detected."
        ),
    )

    def params(self) -> LearningParams:
        """The pure core's view of the EMA parameters."""
        return LearningParams(
            base_rate=self.base_learning_rate, rate_decay=self.learning_rate_decay
        )

    def evidence_params(self) -> EvidenceParams:
        """The pure core's view of the evidence learner's parameters."""
        return EvidenceParams(
            prior_weight=self.prior_weight,
            hour_width=self.hour_width,
            similar_day_weight=self.similar_day_weight,
            other_day_weight=self.other_day_weight,
            pool_weight=self.pool_weight,
            half_life_days=self.half_life_days,
            energy_prior_weight=self.energy_prior_weight,
        )

    def adaptive_params(self) -> AdaptiveParams:
        """The pure core's view of the adaptive learner's parameters.

        The prior weight and the neighbourhood (hour width, similar and other
        day weights) are the evidence learner's keys.
        """
        return AdaptiveParams(
            prior_weight=self.prior_weight,
            hour_width=self.hour_width,
            similar_day_weight=self.similar_day_weight,
            other_day_weight=self.other_day_weight,
            neighbour_strength=self.adaptive_neighbour_strength,
            pool_strength=self.adaptive_pool_strength,
            agreement_prior=self.adaptive_agreement_prior,
            agreement_scale=self.adaptive_agreement_scale,
            long_half_life_days=self.adaptive_long_half_life_days,
            short_half_life_days=self.adaptive_short_half_life_days,
            score_half_life_days=self.adaptive_score_half_life_days,
            change_threshold=self.adaptive_change_threshold,
            change_keep=self.adaptive_change_keep,
        )


class ScoringConfig(_Section):
    """How candidate blocks are scored and aligned."""

    habit_weight: float = Field(
        ScoringParams.habit_weight,
        ge=0.0,
        le=100.0,
        description="Weight of the task type's habit array.",
    )
    energy_weight: float = Field(
        ScoringParams.energy_weight,
        ge=0.0,
        le=100.0,
        description="Weight of the user's energy array.",
    )
    alignment_minutes: int = Field(
        ScoringParams.alignment_minutes,
        ge=1,
        le=60,
        description="Blocks start on multiples of this many minutes (local time).",
    )

    @model_validator(mode="after")
    def _some_weight(self) -> ScoringConfig:
        if self.habit_weight + self.energy_weight <= 0:
            raise ValueError("habit_weight and energy_weight cannot both be 0")
        if 60 % self.alignment_minutes:
            raise ValueError(f"alignment_minutes must divide 60, got {self.alignment_minutes}")
        return self

    def params(self) -> ScoringParams:
        """The pure core's view of this section."""
        return ScoringParams(
            habit_weight=self.habit_weight,
            energy_weight=self.energy_weight,
            alignment_minutes=self.alignment_minutes,
        )


class MergeConfig(_Section):
    """How interpreter (LLM or rules) adjustments merge into the arrays."""

    behavioural_weight: float = Field(
        MergeParams.behavioural_weight,
        ge=0.0,
        le=1.0,
        description="Share of the learned (behavioural) value.",
    )
    llm_weight: float = Field(
        MergeParams.llm_weight,
        ge=0.0,
        le=1.0,
        description="Share of the value times the interpreter's modifier.",
    )
    modifier_min: float = Field(
        MergeParams.modifier_min,
        ge=0.0,
        le=10.0,
        description="Modifiers below this are clamped up to it.",
    )
    modifier_max: float = Field(
        MergeParams.modifier_max,
        ge=0.0,
        le=10.0,
        description="Modifiers above this are clamped down to it.",
    )
    max_sync_change: float = Field(
        MergeParams.max_sync_change,
        ge=0.0,
        le=1.0,
        description=(
            "Largest combined change one interpreter sync makes to any slot, as a share of "
            "its value (0.5: at most ±50 %), whatever the number of adjustments."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> MergeConfig:
        if abs(self.behavioural_weight + self.llm_weight - 1.0) > 1e-9:
            raise ValueError(
                f"behavioural_weight + llm_weight must be 1, got "
                f"{self.behavioural_weight} + {self.llm_weight}"
            )
        if self.modifier_min > self.modifier_max:
            raise ValueError(
                f"modifier_min ({self.modifier_min}) is above modifier_max ({self.modifier_max})"
            )
        return self

    def params(self) -> MergeParams:
        """The pure core's view of this section."""
        return MergeParams(
            behavioural_weight=self.behavioural_weight,
            llm_weight=self.llm_weight,
            modifier_min=self.modifier_min,
            modifier_max=self.modifier_max,
            max_sync_change=self.max_sync_change,
        )


class PlanningConfig(_Section):
    """How free time is found and suggested blocks are placed."""

    buffer_minutes: int = Field(
        PlanParams.buffer // timedelta(minutes=1),
        ge=0,
        le=240,
        description="Free time kept before and after every busy event.",
    )
    horizon_days: int = Field(
        PlanParams.horizon.days, ge=1, le=28, description="Plan this many days ahead."
    )
    lead_minutes: int = Field(
        PlanParams.lead // timedelta(minutes=1),
        ge=0,
        le=10_080,
        description="Never suggest a block starting sooner than this.",
    )
    lock_horizon_hours: float = Field(
        PlanParams.lock_horizon / timedelta(hours=1),
        ge=0,
        le=336,
        description="A suggestion starting within this is never moved.",
    )
    move_margin: float = Field(
        PlanParams.move_margin,
        ge=0,
        le=1,
        description="Move a suggestion only when the new slot scores this much higher.",
    )
    max_suggested_minutes_per_day: int = Field(
        PlanParams.day_cap_minutes,
        ge=15,
        le=1440,
        description="At most this much suggested time on one day.",
    )
    approval: Literal["automatic", "manual"] = Field(
        "automatic",
        description=(
            '"automatic" writes new blocks as it plans them; "manual" only proposes them '
            "(the web view's Plan page) until you approve one or all."
        ),
    )


class DaemonConfig(_Section):
    """The long-running service (`calsync run`)."""

    poll_minutes: float = Field(10.0, ge=0.1, le=1440, description="Poll every source this often.")
    max_backoff_minutes: float = Field(
        360.0, ge=0.1, le=10_080, description="Longest wait before retrying a failing source."
    )
    writeback_minutes: float = Field(
        60.0,
        ge=0.1,
        le=1440,
        description="Plan and write at least this often, even when no calendar changed.",
    )
    insights_hours: float = Field(
        24.0, ge=0.01, le=720, description="Look for new insights this often."
    )


class WritebackConfig(_Section):
    """How suggested blocks look in the calendar."""

    summary_prefix: str = Field(
        "⧗ ", max_length=20, description="Put before the task type in a block's title."
    )
    transparency: Literal["transparent", "opaque"] = Field(
        "transparent", description='"transparent" shows blocks as free, "opaque" as busy.'
    )


class OpenAIConfig(_Section):
    """The OpenAI-compatible interpreter (OpenAI, Ollama, vLLM, llama.cpp…)."""

    base_url: str = Field(
        "https://api.openai.com/v1",
        description="API base URL, e.g. http://localhost:11434/v1 for Ollama.",
    )
    model: str = Field("gpt-4o-mini", min_length=1, description="Model name.")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="Environment variable holding the API key (never the key)."
    )
    timeout_seconds: float = Field(30.0, ge=0.1, le=600, description="Timeout of one request.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries of a failed request.")
    price_per_1k_prompt: float = Field(
        0.0, ge=0, le=1_000, description="Cost of 1,000 prompt tokens, for the recorded cost."
    )
    price_per_1k_completion: float = Field(
        0.0, ge=0, le=1_000, description="Cost of 1,000 completion tokens, for the recorded cost."
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://", value, re.IGNORECASE):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value


class InsightsConfig(_Section):
    """Qualitative insights and the periodic interpreter ("LLM") sync."""

    memory: Literal["sqlite", "mem0"] = Field(
        "sqlite", description='Memory store: "sqlite" (built in) or "mem0" (calsync[mem0]).'
    )
    mem0: dict[str, Any] = Field(
        {}, description='Configuration handed to mem0\'s Memory.from_config (memory = "mem0").'
    )
    interpreter: Literal["rules", "openai"] = Field(
        "rules", description='"rules" (offline, deterministic) or "openai" (any compatible API).'
    )
    sync_hours: float = Field(6.0, ge=0.01, le=168, description="Hours between interpreter syncs.")
    search_limit: int = Field(
        20, ge=1, le=200, description="Insights read from the memory store per sync."
    )
    openai: OpenAIConfig = Field(OpenAIConfig(), description="The OpenAI-compatible interpreter.")


class IcsTargetConfig(_Section):
    """Suggestions written to an ICS file a calendar app can subscribe to."""

    type: Literal["ics"] = Field(..., description='"ics".')
    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$", description="Unique target name.")
    path: Path | None = Field(
        None, description="The file. Empty: suggestions.ics in the state directory."
    )


class GoogleTargetConfig(_Section):
    """Suggestions written to a Google calendar (credentials of a Google source)."""

    type: Literal["google"] = Field(..., description='"google".')
    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$", description="Unique target name.")
    source: str = Field(..., description="The Google source whose token calsync uses.")
    calendar_id: str = Field("primary", description="The calendar to write to.")


class CaldavTargetConfig(_Section):
    """Suggestions written to a CalDAV calendar (created if missing)."""

    type: Literal["caldav"] = Field(..., description='"caldav".')
    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$", description="Unique target name.")
    source: str = Field(..., description="The CalDAV source whose server and login calsync uses.")
    calendar: str = Field("calsync", description="Name of the calendar to write to.")


TargetConfig = Annotated[
    IcsTargetConfig | GoogleTargetConfig | CaldavTargetConfig, Field(discriminator="type")
]


def _parse_clock(value: str) -> time | None:
    """Parse ``HH:MM``; ``24:00`` (end of day) is returned as ``None``."""
    match = _TIME_RE.match(value)
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise ValueError(f"time must be HH:MM between 00:00 and 24:00, got {value!r}")
    if match.group(1) == "24":
        return None
    return time(int(match.group(1)), int(match.group(2)))


class WindowConfig(_Section):
    """A weekly window in which a task type may be scheduled."""

    days: list[str] = Field(
        ["weekdays"],
        min_length=1,
        description='Day names or groups: "all", "weekdays", "weekends", "monday"…',
    )
    start: str = Field("08:00", description="Local start time, HH:MM.")
    end: str = Field(
        "18:00",
        description="Local end time, HH:MM (24:00 for midnight; before start: the next "
        'day, a window across midnight such as "22:00" to "02:00").',
    )

    @field_validator("days")
    @classmethod
    def _known_days(cls, value: list[str]) -> list[str]:
        normalized = [d.strip().lower() for d in value]
        unknown = [d for d in normalized if d not in DAY_GROUPS and d not in _DAY_WORDS]
        if unknown:
            raise ValueError(f"unknown day(s) {unknown}; use all, weekdays, weekends or a day name")
        return normalized

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        _parse_clock(value)
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> WindowConfig:
        start, end = _parse_clock(self.start), _parse_clock(self.end)
        if start is None or start == end:
            raise ValueError(
                f"window start {self.start} must differ from end {self.end} "
                "(an end before the start crosses midnight)"
            )
        return self

    def day_numbers(self) -> list[int]:
        """Calsync day numbers (0 = Sunday) the window covers."""
        days: set[int] = set()
        for word in self.days:
            days.update(DAY_GROUPS.get(word, (_DAY_WORDS.get(word, -1),)))
        return sorted(days)

    def window(self) -> Window:
        """The pure core's view of this window."""
        start = _parse_clock(self.start)
        assert start is not None  # checked by the validator
        return Window(days=tuple(self.day_numbers()), start=start, end=_parse_clock(self.end))


class WeeklyTarget(_Section):
    """How much of a task type the user wants per week: sessions or hours."""

    sessions: int | None = Field(None, ge=0, le=100, description="Blocks per week.")
    hours: float | None = Field(None, ge=0, le=168, description="Hours per week.")

    @model_validator(mode="after")
    def _exactly_one(self) -> WeeklyTarget:
        if (self.sessions is None) == (self.hours is None):
            raise ValueError("give exactly one of sessions or hours")
        return self


class TaskTypeConfig(_Section):
    """A kind of work calsync learns about and schedules."""

    name: str = Field(..., min_length=1, max_length=100, description="Name shown everywhere.")
    keywords: list[Annotated[str, Field(min_length=1)]] = Field(
        [],
        description=(
            "Case-insensitive words or phrases; an event matches when one stands in its title "
            'as a whole word ("run" matches "Morning run", not "Brunch").'
        ),
    )
    regex: str | None = Field(
        None,
        description="Case-insensitive regular expression searched in the event title.",
        json_schema_extra={"example": "\\b(code|coding|dev)\\b"},
    )
    calendars: list[str] = Field(
        [], description="If set, only events from these calendars (names or ids) match."
    )
    colors: list[str] = Field(
        [], description="If set, only events with one of these colours match."
    )
    categories: list[str] = Field(
        [], description="If set, only events carrying one of these categories match."
    )
    block_minutes: int = Field(
        60, ge=15, le=720, description="Default length of a suggested block, in minutes."
    )
    weekly_target: WeeklyTarget = Field(
        WeeklyTarget(sessions=3),
        description="Sessions or hours wanted per calendar week (Monday to Sunday, your time "
        "zone); suggestions that took place, moved or were deleted count toward their week, "
        "and so do your own events that match the task type.",
    )
    windows: list[WindowConfig] = Field(
        [WindowConfig()], description="When blocks of this type may be placed."
    )
    max_per_day: int | None = Field(
        None, ge=1, le=24, description="At most this many blocks of this type on one day."
    )
    color: str | None = Field(
        None,
        description='Colour of its suggested blocks (Google colorId "1"-"11", or a CSS name).',
    )

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as err:
                raise ValueError(f"invalid regular expression: {err}") from err
        return value

    @model_validator(mode="after")
    def _has_a_rule(self) -> TaskTypeConfig:
        if not (self.keywords or self.regex or self.calendars or self.colors or self.categories):
            raise ValueError(
                "give at least one matching rule (keywords, regex, calendars, colors or categories)"
            )
        return self

    @model_validator(mode="after")
    def _can_be_placed(self) -> TaskTypeConfig:
        """A target its windows can never hold is an error, not a silent shortfall."""
        fits: dict[int, int] = {}  # day → blocks its windows hold (buffers aside)
        longest = 0
        for window in self.windows:
            start, end = _parse_clock(window.start), _parse_clock(window.end)
            assert start is not None  # checked by the window
            minutes = (24 * 60 if end is None else end.hour * 60 + end.minute) - (
                start.hour * 60 + start.minute
            )
            minutes += 24 * 60 if minutes <= 0 else 0  # across midnight
            longest = max(longest, minutes)
            for day in window.day_numbers():
                fits[day] = fits.get(day, 0) + minutes // self.block_minutes
        if self.block_minutes > longest:
            raise ValueError(
                f"block_minutes {self.block_minutes} does not fit in any window "
                f"(the longest is {longest} minutes)"
            )
        target = self.weekly_target
        wanted = (
            target.sessions
            if target.sessions is not None
            else math.ceil(round((target.hours or 0.0) * 60 / self.block_minutes, 6))
        )
        cap = self.max_per_day
        room = sum(n if cap is None else min(n, cap) for n in fits.values())
        if wanted > room:
            per_day = "" if cap is None else f" with max_per_day {cap}"
            raise ValueError(
                f"weekly_target needs {wanted} block(s) of {self.block_minutes} minutes a week, "
                f"but its windows{per_day} hold at most {room}"
            )
        return self


class _SourceBase(_Section):
    """Keys every calendar source has."""

    name: str = Field(
        ...,
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Unique name of the source (letters, digits, '_', '.', '-').",
    )
    poll_minutes: float | None = Field(
        None,
        ge=0.1,
        le=1440,
        description="Poll this source this often (default: daemon.poll_minutes).",
    )
    days_back: int = Field(60, ge=0, le=3660, description="Read events from this many days ago…")
    days_ahead: int = Field(14, ge=0, le=366, description="…to this many days ahead.")
    timeout_seconds: float = Field(30.0, ge=0.1, le=600, description="Network timeout per request.")


class IcsSourceConfig(_SourceBase):
    """An ICS feed, from a URL or a file."""

    type: Literal["ics"] = Field(..., description='"ics".')
    url: str | None = Field(
        None,
        description="http(s) URL of the feed.",
        json_schema_extra={"example": "https://calendar.example.com/basic.ics"},
    )
    path: Path | None = Field(
        None,
        description="Or a local .ics file.",
        json_schema_extra={"example": "/home/me/calendar.ics"},
    )
    allow_private_network: bool = Field(
        False, description="Allow URLs on loopback, private and link-local addresses."
    )
    max_bytes: int = Field(
        20_000_000, ge=1_000, le=500_000_000, description="Largest feed accepted, in bytes."
    )
    max_components: int = Field(
        50_000,
        ge=1,
        le=1_000_000,
        description="Most components (events, time zones…) a feed may hold; more fails the source.",
    )
    max_occurrences_per_series: int = Field(
        1_000,
        ge=1,
        le=100_000,
        description="Most occurrences of one recurring series inside the window; "
        "the rest are cut with a warning naming its UID.",
    )
    max_event_days: int = Field(
        366,
        ge=1,
        le=3660,
        description="Longest span one occurrence may cover, in days; "
        "a longer one skips its series with a warning.",
    )
    max_series_seconds: float = Field(
        2.0,
        ge=0.1,
        le=60,
        description="Time one series may take to parse and expand; "
        "a slower one is skipped with a warning naming its UID.",
    )
    max_parse_seconds: float = Field(
        60.0, ge=1, le=600, description="Time the whole feed may take to parse; more fails it."
    )
    max_parse_memory_mb: int = Field(
        1024,
        ge=256,
        le=16_384,
        description="Memory cap of the process that parses the feed, in MB; more fails it.",
    )

    @field_validator("path")
    @classmethod
    def _regular_file(cls, value: Path | None) -> Path | None:
        # A device (/dev/zero), FIFO or directory would be read without bound or block.
        problem = None if value is None else special_file_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _url_or_path(self) -> IcsSourceConfig:
        if (self.url is None) == (self.path is None):
            raise ValueError("give exactly one of url and path")
        if self.url is not None and not re.match(r"^https?://", self.url, re.IGNORECASE):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        return self


class CaldavSourceConfig(_SourceBase):
    """A CalDAV server (Nextcloud, Fastmail, Radicale…)."""

    type: Literal["caldav"] = Field(..., description='"caldav".')
    url: str = Field(..., description="CalDAV URL of the server or the principal.")
    username: str | None = Field(None, description="User name.")
    password: str | None = Field(None, description="Password (prefer password_file).")
    password_file: Path | None = Field(
        None, description="File holding the password; only its owner may read it."
    )
    password_command: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None,
        min_length=1,
        description="A command (argv, no shell) printing the password on its first line, "
        'e.g. ["pass", "show", "caldav"] (vdirsyncer\'s password.fetch).',
    )
    password_keyring: str | None = Field(
        None,
        min_length=1,
        description="Keyring service holding the password of username "
        "(pip install 'calsync[keyring]'; `keyring set SERVICE USERNAME` stores it).",
    )
    calendars: list[str] = Field(
        [], description="Calendar names or URLs to read; empty: every calendar."
    )

    @model_validator(mode="after")
    def _one_password(self) -> CaldavSourceConfig:
        given = [
            name
            for name in ("password", "password_file", "password_command", "password_keyring")
            if getattr(self, name) is not None
        ]
        if len(given) > 1:
            raise ValueError(
                "give one of password, password_file, password_command, password_keyring, "
                f"not {given}"
            )
        if self.username and not given:
            raise ValueError(
                "username is set: give password, password_file, password_command or "
                "password_keyring"
            )
        if self.password_keyring is not None and not self.username:
            raise ValueError("password_keyring needs the username it is stored under")
        return self


class GoogleSourceConfig(_SourceBase):
    """Google Calendar through its API (incremental sync tokens)."""

    type: Literal["google"] = Field(..., description='"google".')
    calendar_ids: list[str] = Field(["primary"], min_length=1, description="Calendars to read.")
    token_file: Path | None = Field(
        None, description="OAuth token (JSON, mode 0600). Empty: google-<name>.json in state_dir."
    )
    client_secrets_file: Path | None = Field(
        None, description="OAuth client secrets of a Desktop app, for `calsync auth google`."
    )
    api_endpoint: str | None = Field(
        None, description="Replace the API base URL (ends in /calendar/v3/); for tests."
    )
    retries: int = Field(
        5,
        ge=0,
        le=20,
        description="Retries of 429, 5xx and rate-limit errors (exponential backoff).",
    )

    def token_path(self, state_dir: Path) -> Path:
        """Where this source's OAuth token lives: ``token_file``, else google-<name>.json."""
        return self.token_file or state_dir / f"google-{self.name}.json"


SourceConfig = Annotated[
    IcsSourceConfig | CaldavSourceConfig | GoogleSourceConfig, Field(discriminator="type")
]

_STATE_DIR_EXAMPLE = "/var/lib/calsync"


class WebConfig(_Section):
    """The local web view and /metrics (`calsync web`, or with `calsync run`)."""

    enabled: bool = Field(False, description="Also serve the web view from `calsync run`.")
    host: str = Field(
        "127.0.0.1",
        min_length=1,
        max_length=255,
        description=(
            "Address to bind. Any other than 127.0.0.1/::1/localhost needs the access token "
            "(web-token in the state directory)."
        ),
    )
    port: int = Field(8765, ge=1, le=65535, description="TCP port.")


class Config(_Section):
    """The whole calsync configuration."""

    state_dir: Path | None = Field(
        None,
        description=(
            "Where calsync keeps its database and tokens. Empty: $STATE_DIRECTORY "
            "(systemd), else $XDG_STATE_HOME/calsync."
        ),
        json_schema_extra={"example": _STATE_DIR_EXAMPLE},
    )
    user: UserConfig = Field(UserConfig(), description="The person whose calendars calsync reads.")
    store: StoreConfig = Field(StoreConfig(), description="Database.")
    learning: LearningConfig = Field(LearningConfig(), description="Behavioural learning.")
    scoring: ScoringConfig = Field(ScoringConfig(), description="Slot scoring.")
    merge: MergeConfig = Field(MergeConfig(), description="Interpreter adjustment merge.")
    planning: PlanningConfig = Field(PlanningConfig(), description="Free time and planning.")
    task_types: list[TaskTypeConfig] = Field([], description="The kinds of work to learn and plan.")
    sources: list[SourceConfig] = Field([], description="The calendars to read.")
    writeback: WritebackConfig = Field(WritebackConfig(), description="Suggested blocks.")
    insights: InsightsConfig = Field(InsightsConfig(), description="Insights and the LLM sync.")
    daemon: DaemonConfig = Field(DaemonConfig(), description="The service.")
    web: WebConfig = Field(WebConfig(), description="The local web view and metrics.")
    targets: list[TargetConfig] = Field(
        [], description="Where suggestions go; none: an ICS file in the state directory."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        for kind, names in (
            ("task type", [t.name for t in self.task_types]),
            ("source", [s.name for s in self.sources]),
            ("target", [t.name for t in self.targets]),
        ):
            seen: set[str] = set()
            for name in names:
                if name.casefold() in seen:
                    raise ValueError(f"{kind} {name!r} is defined twice")
                seen.add(name.casefold())
        return self

    @model_validator(mode="after")
    def _targets_name_their_sources(self) -> Config:
        kinds = {s.name: s.type for s in self.sources}
        for target in self.targets:
            wanted = getattr(target, "source", None)
            if wanted is not None and kinds.get(wanted) != target.type:
                raise ValueError(
                    f"target {target.name!r} needs a {target.type} source called {wanted!r}"
                )
        return self

    def task_type(self, name: str) -> TaskTypeConfig | None:
        """Return the task type called ``name`` (case-insensitive), if any."""
        for task in self.task_types:
            if task.name.casefold() == name.casefold():
                return task
        return None

    def resolved_state_dir(self) -> Path:
        """The state directory this configuration points at (not created here)."""
        return resolve_state_dir(self.state_dir)

    def database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the state directory."""
        if self.store.url:
            return self.store.url
        return f"sqlite:///{self.resolved_state_dir() / DATABASE_FILE_NAME}"


# --------------------------------------------------------------------------- locations


def default_config_path() -> Path:
    """``$CONFIGURATION_DIRECTORY/config.toml`` under systemd, else the XDG path."""
    systemd_dir = os.environ.get("CONFIGURATION_DIRECTORY")
    if systemd_dir:
        # systemd may list several directories separated by ':'; the first is ours.
        return Path(systemd_dir.split(":")[0]) / CONFIG_FILE_NAME
    return Path(platformdirs.user_config_dir(APP_NAME)) / CONFIG_FILE_NAME


def resolve_state_dir(configured: Path | None = None) -> Path:
    """The state directory: configured, else ``$STATE_DIRECTORY``, else XDG state."""
    if configured is not None:
        return configured.expanduser()
    systemd_dir = os.environ.get("STATE_DIRECTORY")
    if systemd_dir:
        return Path(systemd_dir.split(":")[0])
    return Path(platformdirs.user_state_dir(APP_NAME))


# --------------------------------------------------------------------------- loading


def _key_of(loc: tuple[int | str, ...]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += f".{part}" if key else str(part)
    return key or "<file>"


_SOURCE_TYPES = ("ics", "caldav", "google")


def _problems(err: ValidationError) -> list[ConfigProblem]:
    problems = []
    for item in err.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if not str(part).startswith("function-"))
        # A tagged union puts the tag into the path (sources[0].ics.url): drop it.
        if len(loc) >= 3 and loc[0] in ("sources", "targets") and loc[2] in _SOURCE_TYPES:
            loc = loc[:2] + loc[3:]
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (check its spelling and section)"
        elif item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "type")
            found = (item.get("ctx") or {}).get("tag")
            kind = "target" if loc[0] == "targets" else "source"
            message = f"unknown {kind} type {found!r}" if found else "required key is missing"
            message += " (use " + ", ".join(f'"{t}"' for t in _SOURCE_TYPES) + ")"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        elif item["type"] == "missing":
            message = "required key is missing"
        # Keys and values may be the file's own (a 15 MB key): bounded and printable.
        problems.append(ConfigProblem(quote(_key_of(loc)), quote(message)))
    return problems


#: The message of the schema's own cross-reference check (key ``<file>``).
_CROSS_REFERENCE = re.compile(r"^target '.*' needs a \w+ source called '.*'$")


def _duplicate_names(data: Mapping[str, Any]) -> list[ConfigProblem]:
    """Names defined twice, found in the raw data so they show beside every other problem."""
    problems = []
    for section, kind in (
        ("task_types", "task type"),
        ("sources", "source"),
        ("targets", "target"),
    ):
        entries = data.get(section)
        if not isinstance(entries, list):
            continue
        seen: dict[str, int] = {}
        for index, entry in enumerate(entries):
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str):
                continue
            if name.casefold() in seen:
                problems.append(
                    ConfigProblem(
                        f"{section}[{index}].name",
                        f"{kind} {name!r} is already defined by {section}[{seen[name.casefold()]}]",
                    )
                )
            else:
                seen[name.casefold()] = index
    return problems


def _cross_references(data: Mapping[str, Any]) -> list[ConfigProblem]:
    """A target's ``source`` must name a source of its type; found in the raw data."""
    sources = data.get("sources")
    kinds = {
        s.get("name"): s.get("type")
        for s in (sources if isinstance(sources, list) else [])
        if isinstance(s, dict)
    }
    targets = data.get("targets")
    problems = []
    for index, target in enumerate(targets if isinstance(targets, list) else []):
        if not isinstance(target, dict) or not isinstance(target.get("source"), str):
            continue
        wanted, kind = target["source"], target.get("type")
        if kinds.get(wanted) == kind:
            continue
        same = [str(n) for n, k in kinds.items() if k == kind]
        if wanted in kinds:
            message = f"source '{quote(wanted)}' is of type {kinds[wanted]}, not {kind}"
        else:
            message = f"no source called '{quote(wanted)}'"
        listed = ", ".join(same)
        message += f" (the {kind} sources: {listed})" if same else f" (add a {kind} source)"
        problems.append(ConfigProblem(f"targets[{index}].source", message))
    return problems


def parse_config(data: Mapping[str, Any], source: str = "<config>") -> Config:
    """Validate an already-parsed TOML mapping.

    Raises:
        ConfigError: listing every problem with its key.

    """
    # Found in the raw data, so they show beside every other problem, with their keys.
    duplicates = _duplicate_names(data) + _cross_references(data)
    try:
        config = Config.model_validate(dict(data))
    except ValidationError as err:
        found = [
            p
            for p in _problems(err)
            if "is defined twice" not in p.message and not _CROSS_REFERENCE.match(p.message)
        ]
        raise ConfigError(source, _with_hints(duplicates + found, data)) from err
    except RecursionError as err:
        raise ConfigError(source, [ConfigProblem("<file>", "values nested too deeply")]) from err
    if duplicates:
        raise ConfigError(source, duplicates)
    return config


def _with_hints(problems: list[ConfigProblem], data: Mapping[str, Any]) -> list[ConfigProblem]:
    """The problems with "did you mean …" for a misspelt key or time zone.

    Here, so every command that loads a file (``sync``, ``status``, ``config
    check``…) gives the same hints.
    """
    from calsync.checks import suggest

    return [suggest(p, data) for p in problems]


def parse_config_text(text: str, source: str = "<config>") -> Config:
    """Parse and validate TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(
            source, [ConfigProblem("<file>", f"not valid TOML: {quote(err)}")]
        ) from err
    except RecursionError as err:
        # tomllib parses nested arrays and inline tables recursively.
        raise ConfigError(
            source, [ConfigProblem("<file>", "not valid TOML: nested too deeply")]
        ) from err
    except ValueError as err:
        # tomllib lets some errors through as plain ValueError (an integer of
        # more than 4,300 digits, an invalid date).
        raise ConfigError(
            source, [ConfigProblem("<file>", f"not valid TOML: {quote(err)}")]
        ) from err
    return parse_config(data, source)


def load_config(path: Path | None = None) -> Config:
    """Load the configuration.

    Args:
        path: An explicit file (``--config``); it must exist. ``None`` looks at
            :func:`default_config_path` and falls back to the embedded default
            when nothing is there.

    Raises:
        ConfigError: for a missing explicit file, unreadable file, bad TOML or
            invalid values (all listed at once).

    """
    if path is None:
        candidate = default_config_path()
        if not candidate.exists():
            logger.info(
                "no configuration at %s: using the embedded default (`calsync init` writes one)",
                candidate,
            )
            return embedded_default()
        path = candidate
    try:
        # A regular file of at most MAX_CONFIG_BYTES: `--config /dev/zero` or a FIFO
        # is a problem, not a read without end.
        text = read_regular_file(path, MAX_CONFIG_BYTES).decode("utf-8")
    except SourceError as err:
        problem = "file not found" if isinstance(err.__cause__, FileNotFoundError) else quote(err)
        raise ConfigError(str(path), [ConfigProblem("<file>", problem)]) from err
    except UnicodeDecodeError as err:
        raise ConfigError(str(path), [ConfigProblem("<file>", f"cannot read: {err}")]) from err
    return parse_config_text(text, str(path))


# --------------------------------------------------------------------------- the example

#: Task types of the documented example and of the embedded default.
EXAMPLE_TASK_TYPES: list[dict[str, Any]] = [
    {
        "name": "Deep Coding",
        "keywords": ["deep work", "coding", "focus"],
        "regex": "\\b(dev|hack)\\b",
        "block_minutes": 120,
        "weekly_target": {"sessions": 4},
        "windows": [{"days": ["weekdays"], "start": "08:00", "end": "18:00"}],
        "max_per_day": 1,
    },
    {
        "name": "Email",
        "keywords": ["email", "inbox"],
        "block_minutes": 30,
        "weekly_target": {"sessions": 5},
        "windows": [{"days": ["weekdays"], "start": "08:00", "end": "18:00"}],
        "max_per_day": 2,
    },
    {
        "name": "Exercise",
        "keywords": ["gym", "run", "exercise", "yoga"],
        "categories": [],
        "block_minutes": 60,
        "weekly_target": {"hours": 3},
        "windows": [
            {"days": ["weekdays"], "start": "06:00", "end": "09:00"},
            {"days": ["weekdays"], "start": "17:00", "end": "21:00"},
            {"days": ["weekends"], "start": "08:00", "end": "18:00"},
        ],
        "max_per_day": 1,
    },
]


_EXAMPLE_SOURCES: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (
        IcsSourceConfig,
        {"type": "ics", "name": "team", "url": "https://calendar.example.com/team.ics"},
    ),
    (
        CaldavSourceConfig,
        {
            "type": "caldav",
            "name": "nextcloud",
            "url": "https://cloud.example.com/remote.php/dav",
            "username": "me",
            "password_file": "/home/me/.config/calsync/caldav-password",
        },
    ),
    (GoogleSourceConfig, {"type": "google", "name": "google"}),
]


_EXAMPLE_TARGETS: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (IcsTargetConfig, {"type": "ics", "name": "file"}),
    (GoogleTargetConfig, {"type": "google", "name": "google-primary", "source": "google"}),
    (CaldavTargetConfig, {"type": "caldav", "name": "nextcloud-blocks", "source": "nextcloud"}),
]


def embedded_default() -> Config:
    """The configuration used when no file exists: defaults plus the example task types."""
    return parse_config({"task_types": EXAMPLE_TASK_TYPES}, "<embedded default>")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        # JSON string escapes are valid TOML basic-string escapes.
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _comment(text: str, indent: str = "") -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + len(word) + 1 > 78:
            lines.append(f"{indent}# {line}")
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(f"{indent}# {line}")
    return lines


def _field_lines(
    model: type[BaseModel], values: Mapping[str, Any], examples: bool = True
) -> list[str]:
    lines: list[str] = []
    for name, info in model.model_fields.items():
        if name not in values:
            continue
        lines += _comment(info.description or "")
        value = values[name]
        if value is None:
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            example = extra.get("example")
            if examples and example:
                lines.append(f"# {name} = {_toml_value(example)}")
            else:
                lines.append(f"#   ({name}: not set)")
        else:
            lines.append(f"{name} = {_toml_value(value)}")
    return lines


def render_example(timezone: str | None = None) -> str:
    """Render the fully commented example configuration from the schema.

    Args:
        timezone: Put this IANA zone in ``[user]`` instead of the default
            (``calsync init`` passes the machine's zone).

    """
    defaults = Config().model_dump(mode="json")
    if timezone:
        defaults["user"]["timezone"] = timezone
    out = [
        "# calsync configuration.",
        "#",
        "# Every key of the [sections] is optional and shows its default. Task types and",
        "# sources exist only as listed: a file without [[task_types]] defines none.",
        "# `calsync config check FILE` validates a file. Generated from calsync's schema.",
        "",
    ]
    out += _comment(Config.model_fields["state_dir"].description or "")
    out.append(f"# state_dir = {_toml_value(_STATE_DIR_EXAMPLE)}")
    section_models: dict[str, type[BaseModel]] = {
        "user": UserConfig,
        "store": StoreConfig,
        "learning": LearningConfig,
        "scoring": ScoringConfig,
        "merge": MergeConfig,
        "planning": PlanningConfig,
        "writeback": WritebackConfig,
        "insights": InsightsConfig,
        "daemon": DaemonConfig,
        "web": WebConfig,
    }
    for section, model in section_models.items():
        out += ["", f"[{section}]"]
        out += _comment(model.__doc__ or "")
        values = {k: v for k, v in defaults[section].items() if not isinstance(v, dict) or not v}
        nested = {k: v for k, v in defaults[section].items() if isinstance(v, dict) and v}
        out += _field_lines(model, values)
        for key, sub_values in nested.items():
            sub_model = model.model_fields[key].annotation
            assert isinstance(sub_model, type)
            out += ["", f"[{section}.{key}]"]
            out += _comment(sub_model.__doc__ or "")
            out += _field_lines(sub_model, sub_values)
    out += [""]
    out += _comment(
        "Task types: one [[task_types]] table each. An event matches a task type when its "
        "title contains a keyword or matches the regex, and (where given) its calendar, colour "
        "and category match too. Windows say when blocks may be placed; weekly_target takes "
        "either sessions or hours."
    )
    for raw in EXAMPLE_TASK_TYPES:
        task = TaskTypeConfig.model_validate(raw).model_dump(mode="json")
        out += ["", "[[task_types]]"]
        fields = {k: v for k, v in task.items() if k != "windows"}
        out += _field_lines(TaskTypeConfig, fields, examples=False)
        for window in task["windows"]:
            out += ["", "[[task_types.windows]]"]
            out += _field_lines(WindowConfig, window)
    out += [""]
    out += _comment(
        'Sources: one [[sources]] table each, with type = "ics", "caldav" or "google". '
        "To use an example below, remove the '#' from its lines that start with '#[' or '#' "
        "followed directly by a key; the others are explanations."
    )
    out += _commented_tables("sources", _EXAMPLE_SOURCES)
    out += [""]
    out += _comment(
        'Targets: where suggested blocks are written, one [[targets]] table each, type = "ics", '
        '"google" or "caldav" (a Google or CalDAV target names the source whose login it uses). '
        "Without any, suggestions go to suggestions.ics in the state directory."
    )
    out += _commented_tables("targets", _EXAMPLE_TARGETS)
    return "\n".join(out) + "\n"


def _commented_tables(
    section: str, examples: list[tuple[type[BaseModel], dict[str, Any]]]
) -> list[str]:
    out: list[str] = []
    for model, raw in examples:
        out += ["", *_comment(model.__doc__ or ""), f"#[[{section}]]"]
        values = model.model_validate(raw).model_dump(mode="json")
        keys = ["type", *[k for k in model.model_fields if k != "type"]]
        for key in keys:
            info = model.model_fields[key]
            out += _comment(info.description or "", indent="")
            if values[key] is None:
                extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
                hint = f", e.g. {_toml_value(extra['example'])}" if "example" in extra else ""
                out.append(f"#   ({key}: optional{hint})")
            else:
                out.append(f"#{key} = {_toml_value(values[key])}")
    return out
