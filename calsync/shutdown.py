"""The process-wide shutdown request that long source work watches.

``calsync run`` answers SIGTERM within seconds whatever a source is doing:
:meth:`calsync.daemon.Daemon.request_stop` calls :func:`request`, and the
work that can take long — an ICS parse in its child process
(:mod:`calsync.sources.ics_parse`), an HTTP fetch waiting for a slow server
(:mod:`calsync.sources.http_fetch`) — looks at :data:`EVENT` while it waits
and stops with :class:`~calsync.errors.SourceCancelledError`, which records
no failure for the source.
"""

from __future__ import annotations

import threading

__all__ = ["EVENT", "POLL_SECONDS", "clear", "request", "requested"]

#: Set while calsync is stopping.
EVENT = threading.Event()
#: How often waiting work looks at :data:`EVENT`.
POLL_SECONDS = 0.05


def request() -> None:
    """Make every running and future cancellable piece of work stop at once."""
    EVENT.set()


def clear() -> None:
    """Allow that work again (a service starting)."""
    EVENT.clear()


def requested() -> bool:
    """True once :func:`request` was called (and not cleared since)."""
    return EVENT.is_set()
