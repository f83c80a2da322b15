"""Reading a file the user named, boundedly: regular files only.

A path in the configuration may point anywhere: at ``/dev/zero``,
``/dev/urandom``, a FIFO nobody writes to, a directory. Read naively, the
first two never end and the third blocks forever. :func:`read_regular_file`
opens the path without blocking (``O_NONBLOCK``, so a FIFO never stalls the
open), checks the *open descriptor* with ``fstat`` (no window between the
check and the read for the path to be swapped), refuses anything but a
regular file, and reads at most ``max_bytes + 1`` bytes whatever the file
claims its size is. :func:`special_file_problem` is the same rule for
``calsync config check``, which looks at the path without opening it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from calsync.errors import SourceError

__all__ = ["read_regular_file", "special_file_problem"]

_CHUNK = 1 << 20


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; ``None`` for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def special_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a file source, or ``None``.

    A path that does not exist (yet) is no problem here: it is reported when
    it is read. A symbolic link is judged by what it points to.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as err:
        return f"cannot inspect {path}: {err.strerror or err}"
    kind = _kind(mode)
    return None if kind is None else f"{path} is {kind}, not a regular file"


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``max_bytes`` of them.

    Raises:
        SourceError: ``path`` cannot be opened, is not a regular file (a
            device, FIFO, directory, socket), or holds more than ``max_bytes``.

    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise SourceError(f"cannot read {path}: {err.strerror or err}") from err
    try:
        info = os.fstat(fd)
        kind = _kind(info.st_mode)
        if kind is not None:
            raise SourceError(f"{path} is {kind}, not a regular file")
        if info.st_size > max_bytes:
            raise SourceError(f"{path} is {info.st_size} bytes, over the {max_bytes}-byte cap")
        chunks: list[bytes] = []
        total = 0
        while total <= max_bytes:
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as err:
        raise SourceError(f"cannot read {path}: {err.strerror or err}") from err
    finally:
        os.close(fd)
    if total > max_bytes:
        raise SourceError(f"{path} grew over the {max_bytes}-byte cap while being read")
    return b"".join(chunks)
