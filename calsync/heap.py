"""Give the heap's free memory back to the operating system after a large job.

CPython frees the objects of a parsed feed, but the C allocator (glibc)
keeps the freed pages in its heap: a service that read a large feed once
stays that large. :func:`release` asks glibc to return what it can
(``malloc_trim``); the service calls it after every cycle. Threads each get
an allocator arena of their own, which trimming frees badly (measured: 124
MB a minute after a 12 MB feed, 92 MB with one arena, idle 84 MB), so the
service first asks for a single arena (:func:`single_arena`; its threads
mostly wait, and the GIL serialises their allocations anyway). Elsewhere
(musl, macOS) both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Any

logger = logging.getLogger(__name__)

_LIBC: Any = None
_LOOKED_UP = False


def _libc() -> Any:
    global _LIBC, _LOOKED_UP
    if not _LOOKED_UP:
        _LOOKED_UP = True
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
        except OSError:
            libc = None
        _LIBC = libc if libc is not None and hasattr(libc, "malloc_trim") else None
    return _LIBC


#: ``mallopt`` parameter: the most arenas glibc may create.
_M_ARENA_MAX = -8


def single_arena() -> bool:
    """Make threads started from now on share the main arena; ``True`` when done."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    try:
        return bool(libc.mallopt(_M_ARENA_MAX, 1))
    except OSError:  # pragma: no cover
        return False


def release() -> bool:
    """Return the allocator's free memory to the system; ``True`` when some was."""
    libc = _libc()
    if libc is None:
        return False
    try:
        return bool(libc.malloc_trim(0))
    except OSError:  # pragma: no cover - a libc without a working malloc_trim
        logger.debug("malloc_trim failed", exc_info=True)
        return False
