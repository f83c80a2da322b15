"""Private files: secrets read only when private, and every file calsync writes.

A secret file (OAuth token, password) must be a regular file owned by the
current user with no permission bits for group or others (``mode & 0o077 ==
0``). The check is made on the opened file, before anything is read, so a
file others can read is never used.

:func:`write_atomically` writes every file calsync writes — secrets
(:func:`write_private_file`, which checks the file it replaces first), the
ICS target, ``status.json`` and ``cycles.json``, the sample calendar, the
configuration ``calsync init`` writes, PNG heatmaps: a temporary file in the
same directory, mode 0600 whatever the umask, the data flushed to disk, then
``os.replace``-d into place and the directory synced — so a reader never
sees half a file and a crash leaves the old one or the new one. A symlink is
followed to its target (the link stays a link).

:func:`private_directory` and :func:`private_file` make the state directory's
other files (database, lock) 0600 in a 0700 directory whatever the umask.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)


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


def write_atomically(path: Path, data: bytes | str) -> Path:
    """Replace the file at ``path`` with ``data`` (text as UTF-8) atomically; mode 0600.

    A symlinked ``path`` stays a symlink: the file it points at (followed to
    the end of the chain) is replaced by a temporary file written in *its*
    directory (so the rename is atomic) with mode 0600 whatever the umask,
    flushed to disk, then ``os.replace``-d onto it, and the directory is
    synced so the rename survives a crash. A missing directory is created with
    mode 0700. The temporary file is removed when anything fails.

    Returns:
        The file written (``path`` with its symlinks resolved).

    Raises:
        OSError: the file or its directory cannot be written.

    """
    target = Path(os.path.realpath(path.expanduser()))
    payload = data.encode("utf-8") if isinstance(data, str) else data
    private_directory(target.parent)
    # mkstemp creates the file 0600 whatever the umask, with a name no other writer has.
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fchmod(handle.fileno(), 0o600)
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(target.parent)
    return target


def write_private_file(path: Path, text: str) -> None:
    """Write a secret with :func:`write_atomically`, refusing to replace an unsafe file.

    An existing target (symlinks followed) that is not a regular file, is
    another user's, or is open to group or others is refused, as it is for
    reading.

    Raises:
        UnsafeSecretError: the target is unsafe, or it cannot be written.

    """
    path = path.expanduser()
    target = Path(os.path.realpath(path))
    try:
        info = target.stat()
    except FileNotFoundError:
        info = None
    except OSError as err:
        raise UnsafeSecretError(f"cannot write {path}: {err.strerror or err}") from err
    if info is not None:
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeSecretError(f"{target} is not a regular file; refusing to write it")
        if info.st_uid != os.getuid():
            raise UnsafeSecretError(f"{target} belongs to another user; refusing to write it")
        if info.st_mode & 0o077:
            raise UnsafeSecretError(
                f"{target} is open to group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
                f"run `chmod 600 {target}`"
            )
    try:
        write_atomically(target, text)
    except OSError as err:
        raise UnsafeSecretError(f"cannot write {path}: {err.strerror or err}") from err


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def private_directory(path: Path) -> None:
    """Create ``path`` and any missing parent with mode 0700, whatever the umask.

    An existing directory is left as it is (it may be shared on purpose).
    """
    path = path.expanduser()
    missing: list[Path] = []
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made by another process meanwhile
        os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask


def private_file(path: Path, *, create: bool = True) -> None:
    """Make ``path`` a file only its owner can read: created 0600, tightened if open to others.

    With ``create=False`` a missing file stays missing. A file of another
    user, or one that is not a regular file, is left alone.
    """
    # Read-only is enough for fstat/fchmod (and works on a read-only database);
    # O_NONBLOCK keeps a FIFO in its place from blocking the open.
    flags = os.O_RDONLY | os.O_NONBLOCK | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        if create:
            raise
        return
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and info.st_mode & 0o077:
            logger.warning(
                "%s was open to group or others (mode %04o); making it private",
                path,
                stat.S_IMODE(info.st_mode),
            )
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
