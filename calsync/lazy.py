"""Public names of a package imported on first use (:pep:`562`).

``calsync`` and ``calsync.learning`` list their public names with the module
each comes from; :func:`exports` gives the package its ``__getattr__`` and
``__dir__``, so ``import calsync`` loads no schema, store or SDK and importing
one module of the core costs only that module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def exports(
    package: str, names: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose ``names`` map to their modules.

    A name is imported on first access and then kept in ``namespace`` (the
    package's globals), so later accesses are plain attribute reads.
    """

    def getattr_(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(names))

    return getattr_, dir_
