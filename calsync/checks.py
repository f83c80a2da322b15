"""``calsync config check``: every problem loading, ``sync`` and ``apply`` would meet, at once.

Loading validates the schema; some checks only ran later, one round at a
time: cross-references between sections (a target's ``source``) only once
every field was valid, and the checks of ``sync`` and ``apply`` — a password
or token file others can read, an ICS URL on a private network, a block the
daily cap can never hold — only when a command met them. :func:`check_file`
runs all of them in one pass, each problem with its key (``sources[1].url``,
never ``<file>`` for a cross-reference), and adds "did you mean" to an
unknown key or time zone (:mod:`difflib`).
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
import zoneinfo
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from calsync.config import (
    MAX_CONFIG_BYTES,
    CaldavSourceConfig,
    Config,
    GoogleSourceConfig,
    IcsSourceConfig,
    PlanningConfig,
    SourceConfig,
    load_config,
    resolve_state_dir,
)
from calsync.errors import (
    CalsyncError,
    ConfigError,
    ConfigProblem,
    SourceError,
    TransientSourceError,
)
from calsync.text import quote

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_UNKNOWN_KEY = "unknown key (check its spelling and section)"
_UNKNOWN_ZONE = re.compile(r"unknown IANA time zone '([^']*)'")


def check_file(path: Path) -> Config:
    """Load ``path`` and run every check a command would; return the configuration.

    Raises:
        ConfigError: listing every problem found, each with its key.

    """
    try:
        config: Config | None = load_config(path)
        problems: list[ConfigProblem] = []
    except ConfigError as err:
        if any(p.key == "<file>" for p in err.problems):
            raise  # not TOML, unreadable: nothing more to look at
        config, problems = None, list(err.problems)
    data = _raw(path)  # load_config's problems carry "did you mean" already
    if config is not None:
        sources = list(enumerate(config.sources))
        planning: PlanningConfig | None = config.planning
        state_dir = config.resolved_state_dir()
    else:
        sources = list(_valid_sources(data))
        planning = _valid(PlanningConfig, data.get("planning", {}))
        state = data.get("state_dir")
        state_dir = resolve_state_dir(Path(state) if isinstance(state, str) else None)
    problems += source_problems(sources, state_dir)
    if planning is not None:
        problems += cap_problems(data, planning)
    problems = list(dict.fromkeys(problems))
    if problems:
        raise ConfigError(str(path), problems)
    assert config is not None
    return config


def _raw(path: Path) -> dict[str, Any]:
    from calsync.files import read_regular_file

    data = tomllib.loads(read_regular_file(path, MAX_CONFIG_BYTES).decode("utf-8"))
    return data if isinstance(data, dict) else {}


def _valid(model: type[BaseModel], value: object) -> Any:
    try:
        return model.model_validate(value)
    except (ValidationError, ValueError, TypeError):
        return None


def _valid_sources(data: Mapping[str, Any]) -> Iterable[tuple[int, SourceConfig]]:
    """The sources whose own keys are valid, when the file as a whole is not."""
    entries = data.get("sources")
    adapter: TypeAdapter[SourceConfig] = TypeAdapter(SourceConfig)
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        try:
            yield index, adapter.validate_python(entry)
        except (ValidationError, ValueError, TypeError):
            continue


# ------------------------------------------------------------------ did you mean


def suggest(problem: ConfigProblem, data: Mapping[str, Any]) -> ConfigProblem:
    """The problem with "did you mean …" for an unknown key or time zone, when one is close."""
    if problem.message == _UNKNOWN_KEY:
        parts = _parts(problem.key)
        known = _fields_at(parts[:-1], data)
        guess = _closest(str(parts[-1]), known) if parts and known else None
        if guess is not None:
            return ConfigProblem(problem.key, f"unknown key; did you mean {guess!r}?")
    elif match := _UNKNOWN_ZONE.search(problem.message):
        guess = _closest(match.group(1), _zones())
        if guess is not None:
            return ConfigProblem(problem.key, f"{problem.message}; did you mean {guess!r}?")
    return problem


@cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def _closest(word: str, candidates: Iterable[str]) -> str | None:
    options = list(candidates)
    folded = {c.casefold(): c for c in options}
    if word.casefold() in folded:
        return folded[word.casefold()]
    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return found[0] if found else None


def _parts(key: str) -> list[str | int]:
    return [name if name else int(index) for name, index in _PART.findall(key)]


def _fields_at(parts: list[str | int], data: Any) -> list[str]:
    """The keys the schema allows at a path of the raw data (``task_types[0]`` …)."""
    model: Any = Config
    for part in parts:
        data = _child(data, part)
        if isinstance(part, int):
            args = typing.get_args(model) if typing.get_origin(model) in (list, tuple) else ()
            model = _pick(args[0], data) if args else None
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _pick(field.annotation, data)
    model = _pick(model, data)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _child(data: Any, part: str | int) -> Any:
    """The raw value at one step of a path (a key of a table, an index of a list), or ``{}``."""
    if isinstance(data, dict) and part in data:
        return data[part]
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return data[part]
    return {}


def _pick(annotation: Any, data: Any) -> Any:
    """A model in an annotation; in a union of models, the one whose ``type`` matches."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _pick(typing.get_args(annotation)[0], data)
    if origin in (list, tuple):
        return annotation  # resolved by the next index part
    if origin in (typing.Union, types.UnionType):
        models = [_pick(a, data) for a in typing.get_args(annotation)]
        models = [m for m in models if isinstance(m, type) and issubclass(m, BaseModel)]
        kind = data.get("type") if isinstance(data, dict) else None
        for model in models:
            field = model.model_fields.get("type")
            if field is not None and kind in typing.get_args(field.annotation):
                return model
        return models[0] if len(models) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return annotation


# ------------------------------------------------------------------ what sync and apply check


def source_problems(
    sources: Iterable[tuple[int, SourceConfig]], state_dir: Path
) -> list[ConfigProblem]:
    """What polling would refuse: password and token files, private-network URLs."""
    problems = []
    for index, source in sources:
        key = f"sources[{index}]"
        if isinstance(source, CaldavSourceConfig):
            from calsync.sources.caldav import checked_password

            try:
                checked_password(source)
            except ConfigError as err:
                prefix = f"sources.{source.name}."
                problems += [
                    ConfigProblem(f"{key}.{p.key.removeprefix(prefix)}", p.message)
                    for p in err.problems
                ]
            except CalsyncError as err:
                problems.append(ConfigProblem(f"{key}.password_command", quote(err)))
        elif isinstance(source, IcsSourceConfig) and source.url is not None:
            from calsync.sources.http_fetch import UrlPolicy

            try:
                UrlPolicy(allow_private_network=source.allow_private_network).check(source.url)
            except TransientSourceError:
                pass  # a name that does not resolve now is the network's state, not the file's
            except SourceError as err:
                problems.append(ConfigProblem(f"{key}.url", quote(err)))
        elif isinstance(source, GoogleSourceConfig):
            token = source.token_path(state_dir)
            try:
                mode = token.stat().st_mode & 0o777
            except OSError:
                continue  # not authorized yet: `calsync auth google` writes it
            if mode & 0o077:
                problems.append(
                    ConfigProblem(
                        f"{key}.token_file",
                        f"{token} is readable by others (mode {mode:04o}); chmod 600 {token}",
                    )
                )
    return problems


def cap_problems(data: Mapping[str, Any], planning: PlanningConfig) -> list[ConfigProblem]:
    """A block longer than the daily cap of suggestions is never placed."""
    cap = planning.max_suggested_minutes_per_day
    tasks = data.get("task_types")
    problems = []
    for index, task in enumerate(tasks if isinstance(tasks, list) else []):
        minutes = task.get("block_minutes", 60) if isinstance(task, dict) else None
        if isinstance(minutes, int) and minutes > cap:
            problems.append(
                ConfigProblem(
                    f"task_types[{index}].block_minutes",
                    f"{minutes} minutes is more than planning.max_suggested_minutes_per_day "
                    f"({cap:g}): no block of it is ever suggested",
                )
            )
    return problems
