"""Every default is stated once: the configuration's and the code's agree.

The learning, scoring, merge and planning sections take their defaults from
the pure core's dataclasses (:mod:`calsync.config` reads them off the
classes); the checks below prove the round trip. Where an adapter or helper
has a keyword default of its own (kept so it can be used without a
configuration: tests, benchmarks, the web view's constructor), it is tied to
the configuration's default here, so changing one without the other fails.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from calsync.config import (
    CaldavSourceConfig,
    Config,
    GoogleSourceConfig,
    IcsSourceConfig,
    LearningConfig,
    MergeConfig,
    OpenAIConfig,
    ScoringConfig,
    StoreConfig,
    WebConfig,
)
from calsync.google_api import GoogleApi
from calsync.insights.interpret import OpenAIInterpreter
from calsync.learning.adaptive import AdaptiveParams
from calsync.learning.evidence import EvidenceParams
from calsync.learning.habits import LearningParams, MergeParams, neutral_array
from calsync.learning.planner import ScoringParams
from calsync.learning.progress import task_progress
from calsync.learning.schedule import PlanParams
from calsync.planning import plan_params
from calsync.render import heatmap
from calsync.sources.caldav import CaldavSource
from calsync.sources.google import GoogleSource
from calsync.sources.ics import IcsSource
from calsync.sources.ics_parse import ParseLimits
from calsync.store.engine import create_store_engine


def _default(function: Callable[..., Any], parameter: str) -> Any:
    """The keyword default of ``function``'s ``parameter``."""
    value = inspect.signature(function).parameters[parameter].default
    assert value is not inspect.Parameter.empty, f"{function.__qualname__}({parameter}) has none"
    return value


def _field(model: type[BaseModel], name: str) -> Any:
    """The configuration's default of one key."""
    return model.model_fields[name].default


def test_the_core_parameters_are_the_configurations_defaults() -> None:
    config = Config()
    assert plan_params(config) == PlanParams()
    assert config.scoring.params() == ScoringParams()
    assert config.merge.params() == MergeParams()
    assert config.learning.params() == LearningParams()
    assert config.learning.evidence_params() == EvidenceParams()
    assert config.learning.adaptive_params() == AdaptiveParams()
    assert ScoringConfig().params() == ScoringParams()
    assert MergeConfig().params() == MergeParams()
    feed = IcsSourceConfig(type="ics", name="feed", url="https://example.org/cal.ics")
    assert ParseLimits.defaults() == ParseLimits.from_config(feed)


#: (code, its parameter, configuration section, its key)
TIED: list[tuple[Callable[..., Any], str, type[BaseModel], str]] = [
    (IcsSource, "days_back", IcsSourceConfig, "days_back"),
    (IcsSource, "days_ahead", IcsSourceConfig, "days_ahead"),
    (IcsSource, "max_bytes", IcsSourceConfig, "max_bytes"),
    (IcsSource, "timeout", IcsSourceConfig, "timeout_seconds"),
    (CaldavSource, "days_back", CaldavSourceConfig, "days_back"),
    (CaldavSource, "days_ahead", CaldavSourceConfig, "days_ahead"),
    (CaldavSource, "timeout", CaldavSourceConfig, "timeout_seconds"),
    (GoogleSource, "days_back", GoogleSourceConfig, "days_back"),
    (GoogleSource, "days_ahead", GoogleSourceConfig, "days_ahead"),
    (GoogleSource, "timeout", GoogleSourceConfig, "timeout_seconds"),
    (GoogleSource, "retries", GoogleSourceConfig, "retries"),
    (GoogleApi, "timeout", GoogleSourceConfig, "timeout_seconds"),
    (GoogleApi, "retries", GoogleSourceConfig, "retries"),
    (OpenAIInterpreter, "api_key_env", OpenAIConfig, "api_key_env"),
    (OpenAIInterpreter, "timeout", OpenAIConfig, "timeout_seconds"),
    (OpenAIInterpreter, "max_retries", OpenAIConfig, "max_retries"),
    (OpenAIInterpreter, "price_per_1k_prompt", OpenAIConfig, "price_per_1k_prompt"),
    (OpenAIInterpreter, "price_per_1k_completion", OpenAIConfig, "price_per_1k_completion"),
    (create_store_engine, "busy_timeout_ms", StoreConfig, "busy_timeout_ms"),
    (neutral_array, "value", LearningConfig, "neutral_value"),
    (task_progress, "neutral", LearningConfig, "neutral_value"),
    (task_progress, "peaks", LearningConfig, "peak_slots"),
    (heatmap, "neutral", LearningConfig, "neutral_value"),
]


@pytest.mark.parametrize(
    ("code", "parameter", "section", "key"),
    TIED,
    ids=[f"{c.__qualname__}.{p}={s.__name__}.{k}" for c, p, s, k in TIED],
)
def test_keyword_defaults_agree_with_the_configuration(
    code: Callable[..., Any], parameter: str, section: type[BaseModel], key: str
) -> None:
    assert _default(code, parameter) == _field(section, key)


def test_the_web_views_address_defaults_are_the_configurations() -> None:
    pytest.importorskip("starlette")
    from calsync.web.app import WebState

    assert _default(WebState, "host") == _field(WebConfig, "host")
    assert _default(WebState, "port") == _field(WebConfig, "port")


def test_the_openai_merge_range_default_is_the_configurations() -> None:
    merge = MergeConfig()
    assert _default(OpenAIInterpreter, "modifier_range") == (merge.modifier_min, merge.modifier_max)
