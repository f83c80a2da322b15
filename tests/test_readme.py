"""The README's Python API example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_python_api_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, "README has no Python example"
    config = tmp_path / "config.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[user]\ntimezone = "Europe/Berlin"\n'
        '[[task_types]]\nname = "Deep Coding"\nkeywords = ["coding"]\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - our own docs
    assert (tmp_path / "state" / "calsync.db").exists()


def _readme_exit_codes() -> dict[int, str]:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| exit code | meaning") :]
    table = table[: table.index("\n\n")]
    return {int(m[1]): m[2] for m in re.finditer(r"^\| (\d+) \| (.*) \|$", table, re.MULTILINE)}


def test_every_exit_code_calsync_uses_is_in_the_readme_table_and_the_man_page() -> None:
    import calsync.daemon
    import calsync.errors
    import calsync.web.security
    from calsync.shell import EXIT_CODES

    table = _readme_exit_codes()
    assert sorted(table) == sorted(int(code) for code, _text in EXIT_CODES)
    used = {
        cls.exit_code
        for module in (calsync.errors, calsync.daemon, calsync.web.security)
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, calsync.errors.CalsyncError)
    }
    assert used - {1} <= set(table) - {0, 1, 130}
    assert calsync.daemon.AlreadyRunningError.exit_code not in {1}  # not "other (a bug)"
