"""README's map of modules ("How it is built") names every module of the package."""

from __future__ import annotations

from pathlib import Path

import calsync

PACKAGE = Path(calsync.__file__).parent
README = PACKAGE.parent / "README.md"


def _map() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## How it is built")
    block = text.index("```\ncalsync/\n", start)
    return text[block : text.index("```\n", block + 4)]


def test_every_module_is_on_the_map() -> None:
    shown = _map()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if "migrations" in relative.parts:
            continue  # Alembic's revisions: "store/ … Alembic migrations"
        if len(relative.parts) == 1:
            found = f"  {relative.name} " in shown
        elif relative.name == "__init__.py":
            found = f"  {relative.parts[0]}/ " in shown
        else:
            # A subpackage's modules are listed by file name or named in its line.
            found = f"{relative.name} " in shown or (
                f"  {relative.parts[0]}/ " in shown and relative.stem in shown
            )
        if not found:
            missing.append(str(relative))
    assert missing == []


def test_the_map_names_no_module_that_is_gone() -> None:
    package = PACKAGE
    for line in _map().splitlines()[2:]:
        name = line.split()[0] if line.strip() else ""
        nested = line.startswith("    ")
        if name.endswith("/") and not nested:
            package = PACKAGE / name
            assert package.is_dir(), name
        elif name.endswith(".py"):
            assert ((package if nested else PACKAGE) / name).exists(), line
