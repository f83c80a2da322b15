"""Every numeric key of the configuration has finite bounds; no TOML error is a traceback."""

from __future__ import annotations

import math
import os
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from calsync import config as schema
from calsync.cli import main
from calsync.config import load_config, parse_config, parse_config_text
from calsync.errors import ConfigError

_TASK = {"name": "t", "keywords": ["t"]}

#: How to put one value of each section model's key into a whole configuration.
_PLACES: dict[type[BaseModel], Callable[[str, Any], dict[str, Any]]] = {
    schema.StoreConfig: lambda k, v: {"store": {k: v}},
    schema.LearningConfig: lambda k, v: {"learning": {k: v}},
    schema.ScoringConfig: lambda k, v: {"scoring": {k: v}},
    schema.MergeConfig: lambda k, v: {"merge": {k: v}},
    schema.PlanningConfig: lambda k, v: {"planning": {k: v}},
    schema.DaemonConfig: lambda k, v: {"daemon": {k: v}},
    schema.InsightsConfig: lambda k, v: {"insights": {k: v}},
    schema.WebConfig: lambda k, v: {"web": {k: v}},
    schema.OpenAIConfig: lambda k, v: {"insights": {"openai": {k: v}}},
    schema.TaskTypeConfig: lambda k, v: {"task_types": [{**_TASK, k: v}]},
    schema.WeeklyTarget: lambda k, v: {"task_types": [{**_TASK, "weekly_target": {k: v}}]},
    schema.IcsSourceConfig: lambda k, v: {
        "sources": [{"type": "ics", "name": "s", "url": "https://example.com/a.ics", k: v}]
    },
    schema.CaldavSourceConfig: lambda k, v: {
        "sources": [{"type": "caldav", "name": "s", "url": "https://example.com/dav", k: v}]
    },
    schema.GoogleSourceConfig: lambda k, v: {"sources": [{"type": "google", "name": "s", k: v}]},
}


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[type[BaseModel]]:
    if model in seen:
        return
    seen.add(model)
    yield model
    for info in model.model_fields.values():
        for inner in _flatten(info.annotation):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                yield from _models(inner, seen)


def _flatten(annotation: Any) -> list[Any]:
    found = [annotation]
    for arg in typing.get_args(annotation):
        found += _flatten(arg)
    return found


def numeric_fields() -> list[tuple[type[BaseModel], str, FieldInfo]]:
    """Every int or float key of every model reachable from :class:`Config`."""
    seen: set[type[BaseModel]] = set()
    fields = []
    for model in _models(schema.Config, seen):
        for name, info in model.model_fields.items():
            kinds = _flatten(info.annotation)
            if (int in kinds or float in kinds) and bool not in kinds:
                fields.append((model, name, info))
    return fields


def _bounds(info: FieldInfo) -> tuple[float | None, float | None, bool]:
    low = high = None
    exclusive_low = False
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            low = float(item.ge)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Gt):
            low, exclusive_low = float(item.gt), True  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Le):
            high = float(item.le)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Lt):
            high = float(item.lt)  # type: ignore[arg-type]
    return low, high, exclusive_low


FIELDS = numeric_fields()


def test_the_walk_finds_every_numeric_key() -> None:
    names = {f"{model.__name__}.{name}" for model, name, _ in FIELDS}
    assert len(FIELDS) >= 50
    assert {"LearningConfig.half_life_days", "MergeConfig.max_sync_change"} <= names
    assert {"WeeklyTarget.hours", "IcsSourceConfig.max_bytes", "DaemonConfig.poll_minutes"} <= names


@pytest.mark.parametrize(
    ("model", "name", "info"), FIELDS, ids=[f"{m.__name__}.{n}" for m, n, _ in FIELDS]
)
def test_every_numeric_key_has_a_finite_range(
    model: type[BaseModel], name: str, info: FieldInfo
) -> None:
    low, high, exclusive_low = _bounds(info)
    assert low is not None, "no lower bound"
    assert high is not None, "no upper bound"
    assert math.isfinite(low)
    assert math.isfinite(high)
    assert low <= high
    # An exclusive bound (gt=0) lets 1e-300 through: a real minimum is stated instead.
    assert not exclusive_low, "use ge= with a sensible minimum, not gt="
    if info.default is not None and not callable(info.default):
        assert low <= info.default <= high


@pytest.mark.parametrize(
    ("model", "name", "info"), FIELDS, ids=[f"{m.__name__}.{n}" for m, n, _ in FIELDS]
)
def test_every_numeric_key_refuses_out_of_range_and_non_finite_values(
    model: type[BaseModel], name: str, info: FieldInfo
) -> None:
    place = _PLACES[model]  # a new section model needs a place here
    low, high, _ = _bounds(info)
    assert low is not None
    assert high is not None
    is_float = float in _flatten(info.annotation)
    values: list[Any] = [high * 2 + 1, low - 1, 10**400]
    if is_float:
        values += [math.inf, -math.inf, math.nan, 1e308]
    for value in values:
        with pytest.raises(ConfigError) as caught:
            parse_config(place(name, value))
        assert any(p.key.endswith(name) for p in caught.value.problems), caught.value


@pytest.mark.parametrize(
    "text",
    [
        "[learning]\nhalf_life_days = inf",
        "[learning]\nhalf_life_days = nan",
        "[learning]\nhalf_life_days = 1e-300",
        "[learning]\nhalf_life_days = -inf",
    ],
)
def test_half_life_of_inf_or_1e_300_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=r"learning\.half_life_days"):
        parse_config_text(text, "cfg.toml")


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 100_000 + "]" * 100_000,  # tomllib: RecursionError
        "a = " + "{ b = " * 5_000 + "1" + " }" * 5_000,
        "a = " + "9" * 5_000,  # tomllib: ValueError (int-str limit)
        "a = 1979-13-01",
        'a = "\x00"',
        "[[task_types]\n",
        "x" * 100_000 + " = ",
    ],
    ids=["deep-arrays", "deep-tables", "5000-digits", "bad-date", "nul", "bad-header", "huge"],
)
def test_any_toml_error_is_a_config_error_naming_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert [p.key for p in caught.value.problems] == ["<file>"]
    assert len(message) < 1_000


def test_config_check_on_deeply_nested_toml_exits_3_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert main(["config", "check", str(path)]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{path}" in err
    assert "<file>: not valid TOML" in err


def test_a_huge_unknown_key_is_quoted_briefly() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"learning": {"k\x1b[2J" + "y" * 100_000: 1}})
    message = str(caught.value)
    assert len(message) < 1_000
    assert "\x1b" not in message


def test_a_config_path_that_is_not_a_regular_file_is_a_problem(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * schema.MAX_CONFIG_BYTES + "\n", encoding="utf-8")
    for path, message in (
        (Path("/dev/zero"), "character device"),
        (fifo, "FIFO"),
        (tmp_path, "directory"),
        (big, "cap"),
        (tmp_path / "missing.toml", "file not found"),
    ):
        with pytest.raises(ConfigError, match=message) as caught:
            load_config(path)
        assert str(path) in str(caught.value)
