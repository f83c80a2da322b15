"""Secret files (OAuth tokens, passwords): read only when private, written private.

A secret file must be a regular file owned by the current user with no
permission bits for group or others (``mode & 0o077 == 0``). The check is
made on the opened file, before anything is read, so a file others can read
is never used. Written secrets get mode 0600 and are replaced atomically.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class UnsafeSecretError(Exception):
    """A secret file is missing, unreadable or open to others.

    Adapters translate it into the error their caller expects (a
    configuration error for a password file, an authorization error for a
    token), with the message as the reason.
    """


def read_private_file(path: Path, max_bytes: int = 1024 * 1024) -> bytes:
    """Read a secret file, refusing one that others could read or change.

    Raises:
        UnsafeSecretError: missing, not a regular file, another user's, open to
            group or others, unreadable, or over ``max_bytes``.

    """
    path = path.expanduser()
    try:
        # Checked first so that opening a FIFO or device cannot block or read.
        if not stat.S_ISREG(path.stat().st_mode):
            raise UnsafeSecretError(f"{path} is not a regular file")
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())  # the file actually opened
            if info.st_uid != os.getuid():
                raise UnsafeSecretError(f"{path} belongs to another user; refusing to read it")
            if info.st_mode & 0o077:
                raise UnsafeSecretError(
                    f"{path} is open to group or others (mode "
                    f"{stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`"
                )
            data = handle.read(max_bytes + 1)
    except FileNotFoundError as err:
        raise UnsafeSecretError(f"{path} does not exist") from err
    except OSError as err:
        raise UnsafeSecretError(f"cannot read {path}: {err.strerror or err}") from err
    if len(data) > max_bytes:
        raise UnsafeSecretError(f"{path} is larger than {max_bytes} bytes")
    return data


def write_private_file(path: Path, text: str) -> None:
    """Write a secret atomically with mode 0600 (its directory 0700 when created)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
