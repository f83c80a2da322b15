"""The configuration schema: defaults, every problem at once, the example, locations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from calsync.config import (
    Config,
    default_config_path,
    embedded_default,
    load_config,
    parse_config,
    parse_config_text,
    render_example,
    resolve_state_dir,
)
from calsync.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "calsync.example.toml"


def test_defaults_are_the_specified_constants() -> None:
    config = Config()
    assert config.learning.neutral_value == 0.5
    assert config.learning.base_learning_rate == 0.2
    assert config.learning.learning_rate_decay == 0.05
    assert config.learning.default_success == 0.75
    assert config.scoring.habit_weight == 0.6
    assert config.scoring.energy_weight == 0.4
    assert config.scoring.alignment_minutes == 15
    assert config.merge.behavioural_weight == 0.7
    assert config.merge.llm_weight == 0.3
    assert (config.merge.modifier_min, config.merge.modifier_max) == (0.5, 1.5)
    assert config.store.busy_timeout_ms == 5000


def test_the_shipped_example_is_generated_from_the_schema() -> None:
    assert EXAMPLE.read_text(encoding="utf-8") == render_example(), (
        "config/calsync.example.toml is stale: "
        "run `calsync config example > config/calsync.example.toml`"
    )


def test_the_example_loads_and_equals_the_embedded_default() -> None:
    assert load_config(EXAMPLE) == embedded_default()
    names = [t.name for t in embedded_default().task_types]
    assert names == ["Deep Coding", "Email", "Exercise"]


def test_every_key_of_the_schema_is_documented_in_the_example() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for section in ("user", "store", "learning", "scoring", "merge", "planning"):
        model = type(getattr(Config(), section))
        for key in model.model_fields:
            assert f"\n{key} =" in text or f"\n# {key} =" in text, f"{section}.{key} undocumented"


def test_every_problem_is_reported_at_once_with_its_key() -> None:
    text = """
[user]
timezone = "Mars/Olympus"
favourite_colour = "blue"

[learning]
default_success = 1.5

[scoring]
alignment_minutes = 7

[[task_types]]
name = "Deep Coding"
keywords = ["code"]
block_minutes = 5
regex = "(unclosed"

[[task_types.windows]]
days = ["funday"]
start = "25:00"

[[task_types]]
name = "deep coding"
keywords = ["again", ""]
"""
    with pytest.raises(ConfigError) as caught:
        parse_config_text(text, "test.toml")
    problems = {p.key: p.message for p in caught.value.problems}
    assert "unknown IANA time zone" in problems["user.timezone"]
    assert "unknown key" in problems["user.favourite_colour"]
    assert "less than or equal to 1" in problems["learning.default_success"]
    assert "must divide 60" in problems["scoring"]
    assert "greater than or equal to 15" in problems["task_types[0].block_minutes"]
    assert "invalid regular expression" in problems["task_types[0].regex"]
    assert "funday" in problems["task_types[0].windows[0].days"]
    assert "HH:MM" in problems["task_types[0].windows[0].start"]
    assert "already defined by task_types[0]" in problems["task_types[1].name"]
    assert "at least 1 character" in problems["task_types[1].keywords[1]"]
    assert len(caught.value.problems) >= 10
    message = str(caught.value)
    assert message.startswith("invalid configuration in test.toml")
    assert "user.timezone:" in message


@pytest.mark.parametrize(
    ("data", "key", "fragment"),
    [
        ({"task_types": [{"name": "X"}]}, "task_types[0]", "at least one matching rule"),
        ({"task_types": [{"keywords": ["x"]}]}, "task_types[0].name", "required"),
        (
            {
                "task_types": [
                    {"name": "X", "keywords": ["x"], "weekly_target": {"sessions": 2, "hours": 3}}
                ]
            },
            "task_types[0].weekly_target",
            "exactly one",
        ),
        (
            {"task_types": [{"name": "X", "keywords": ["x"]}, {"name": "x", "keywords": ["y"]}]},
            "task_types[1].name",
            "already defined by task_types[0]",
        ),
        ({"merge": {"behavioural_weight": 0.5}}, "merge", "must be 1"),
        ({"merge": {"modifier_min": 2.0}}, "merge", "above modifier_max"),
        ({"learning": {"mature_after": 3}}, "learning", "must not be below"),
        (
            {
                "task_types": [
                    {
                        "name": "X",
                        "keywords": ["x"],
                        "windows": [{"start": "08:00", "end": "08:00"}],
                    }
                ]
            },
            "task_types[0].windows[0]",
            "must differ from end",
        ),
    ],
)
def test_cross_field_rules(data: dict, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert any(p.key == key and fragment in p.message for p in caught.value.problems), caught.value


def test_windows_accept_groups_day_names_and_midnight() -> None:
    config = parse_config(
        {
            "task_types": [
                {
                    "name": "Reading",
                    "keywords": ["read"],
                    "windows": [
                        {"days": ["Saturday", "weekdays"], "start": "20:00", "end": "24:00"}
                    ],
                }
            ]
        }
    )
    window = config.task_types[0].windows[0].window()
    assert window.days == (1, 2, 3, 4, 5, 6)
    assert window.end is None


def test_bad_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[user\nid = 3", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_missing_explicit_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_default_location_and_embedded_fallback(tmp_path: Path) -> None:
    expected = tmp_path / "xdg-config" / "calsync" / "config.toml"
    assert default_config_path() == expected
    assert load_config() == embedded_default()
    expected.parent.mkdir(parents=True)
    expected.write_text('[user]\nid = "alice"\n', encoding="utf-8")
    assert load_config().user.id == "alice"


def test_systemd_directories_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFIGURATION_DIRECTORY", str(tmp_path / "etc"))
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path / 'state'}:{tmp_path / 'other'}")
    assert default_config_path() == tmp_path / "etc" / "config.toml"
    assert resolve_state_dir() == tmp_path / "state"
    assert resolve_state_dir(Path("/srv/calsync")) == Path("/srv/calsync")


def test_state_dir_and_database_url(tmp_path: Path) -> None:
    assert resolve_state_dir() == tmp_path / "xdg-state" / "calsync"
    config = parse_config({"state_dir": str(tmp_path / "s")})
    assert config.database_url() == f"sqlite:///{tmp_path / 's' / 'calsync.db'}"
    config = parse_config({"store": {"url": "sqlite:////elsewhere.db"}})
    assert config.database_url() == "sqlite:////elsewhere.db"
    assert not os.path.exists(tmp_path / "s")  # resolving creates nothing


def test_the_commented_source_examples_are_valid_when_uncommented() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    uncommented = "\n".join(
        line[1:] if line.startswith("#[") or (line[:1] == "#" and line[1:2].isalpha()) else line
        for line in text.splitlines()
    )
    config = parse_config_text(uncommented)
    assert [(s.type, s.name) for s in config.sources] == [
        ("ics", "team"),
        ("caldav", "nextcloud"),
        ("google", "google"),
    ]


def test_source_problems_carry_their_keys() -> None:
    data = {
        "sources": [
            {"type": "ics", "name": "a", "url": "ftp://x/y.ics"},
            {"type": "ics", "name": "b"},
            {
                "type": "caldav",
                "name": "c",
                "url": "https://x",
                "password": "p",
                "password_file": "f",
            },
            {"type": "exchange", "name": "d"},
            {"type": "google", "name": "bad name!"},
            {"type": "google", "name": "A"},
            {"type": "google", "name": "a"},
        ]
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    problems = [str(p) for p in caught.value.problems]
    joined = "\n".join(problems)
    assert "sources[0]: url must start with http:// or https://" in joined
    assert "sources[1]: give exactly one of url and path" in joined
    assert (
        "sources[2]: give one of password, password_file, password_command, password_keyring, "
        "not ['password', 'password_file']" in joined
    )
    assert "sources[3].type: unknown source type 'exchange'" in joined
    assert "sources[4].name:" in joined
    assert "sources[5].name: source 'A' is already defined by sources[0]" in joined
    assert "sources[6].name: source 'a' is already defined by sources[0]" in joined


def test_store_url_is_checked() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"store": {"url": "notaurl"}})
    assert caught.value.problems[0].key == "store.url"


def test_a_task_type_its_windows_can_never_hold_is_an_error() -> None:
    text = """
[[task_types]]
name = "Long"
keywords = ["long"]
block_minutes = 180
windows = [{ days = ["monday"], start = "09:00", end = "10:00" }]

[[task_types]]
name = "Daily"
keywords = ["daily"]
weekly_target = { sessions = 10 }
max_per_day = 1

[[task_types]]
name = "Hours"
keywords = ["hours"]
block_minutes = 60
weekly_target = { hours = 6 }
windows = [{ days = ["saturday"], start = "09:00", end = "14:00" }]

[[task_types]]
name = "Fine"
keywords = ["fine"]
weekly_target = { sessions = 5 }
max_per_day = 1
"""
    with pytest.raises(ConfigError) as caught:
        parse_config_text(text, "test.toml")
    problems = {p.key: p.message for p in caught.value.problems}
    assert (
        "block_minutes 180 does not fit in any window (the longest is 60"
        in (problems["task_types[0]"])
    )
    assert "needs 10 block(s)" in problems["task_types[1]"]
    assert "max_per_day 1 hold at most 5" in problems["task_types[1]"]
    assert (
        "needs 6 block(s) of 60 minutes a week, but its windows hold at most 5"
        in (problems["task_types[2]"])
    )
    assert set(problems) == {"task_types[0]", "task_types[1]", "task_types[2]"}
