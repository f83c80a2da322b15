"""What a start-up imports (issue 14 item 4), in fresh interpreters.

The pure core and ``calsync --help`` load no configuration schema, store or
SDK; a command that reads a current database loads SQLAlchemy but not
Alembic; the rules interpreter never loads ``openai``; the schema revisions
calsync reads from its migration files are the ones Alembic sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from calsync.store.engine import _alembic_config, head_revision, known_revisions

HEAVY = ("sqlalchemy", "pydantic", "alembic", "openai", "googleapiclient", "caldav", "mem0")


def loaded(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages imported after running ``code`` in a fresh interpreter."""
    probe = (
        f"{code}\nimport json, sys\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_learning_core_loads_no_store_schema_or_sdk() -> None:
    assert loaded("import calsync.learning").isdisjoint(HEAVY)
    assert loaded("import calsync.learning.slots").isdisjoint((*HEAVY, "numpy"))
    assert loaded("import calsync").isdisjoint((*HEAVY, "numpy"))


def test_the_public_api_is_still_there() -> None:
    assert "sqlalchemy" in loaded("import calsync; calsync.open")
    assert loaded("from calsync import Adjustment, get_weekly_index").isdisjoint(HEAVY)


def test_help_loads_nothing_heavy() -> None:
    modules = loaded(
        "from calsync.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert modules.isdisjoint((*HEAVY, "numpy"))


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment with no configuration file (the embedded default) in ``tmp_path``."""
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "CALSYNC_CONFIG": "",
    }


def test_status_on_a_current_database_loads_no_alembic(home: dict[str, str]) -> None:
    status = "from calsync.cli import main\nmain(['status'])"
    first = loaded(status, home)  # creates and migrates the database
    assert "alembic" in first
    again = loaded(status, home)
    assert "sqlalchemy" in again
    assert again.isdisjoint(("alembic", "openai", "googleapiclient", "caldav", "icalendar"))


def test_the_rules_interpreter_loads_no_openai() -> None:
    code = (
        "from calsync.insights.interpret import RulesInterpreter\nfrom calsync.insights import sync"
    )
    assert "openai" not in loaded(code)


def test_the_migration_files_name_alembics_revisions() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    assert head_revision() == script.get_current_head()
    assert set(known_revisions()) == {rev.revision for rev in script.walk_revisions()}
