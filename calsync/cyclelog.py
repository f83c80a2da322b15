"""What the service's cycles did, kept in the state directory for the web view and /metrics.

The daemon (``calsync run``) and the web view (``calsync web``) may be two
processes; both read one small JSON file, ``cycles.json``, which the daemon
replaces atomically (mode 0600) after every cycle. It holds cumulative totals
(cycles, their duration histogram, per-source polls and failures, blocks
written per kind — by the service's cycles and by ``calsync apply``) and the
last :data:`KEEP` cycles for the Health page. Writers take an exclusive
``flock`` on the state directory around their read-modify-write, so a
``calsync apply`` beside the service loses no count.
Nothing from a calendar is stored in it but source and target names and
bounded, printable error messages.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calsync.secrets import write_atomically
from calsync.text import quote

if TYPE_CHECKING:
    from calsync.ingest import SourceReport
    from calsync.writeback import CycleReport

logger = logging.getLogger(__name__)

CYCLES_FILE = "cycles.json"
#: How many recent cycles are kept for the Health page.
KEEP = 20
#: Upper bounds (seconds) of the cycle duration histogram's buckets.
BUCKETS: tuple[float, ...] = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

_lock = threading.Lock()


def empty() -> dict[str, Any]:
    """The content of a state directory where no cycle ran yet."""
    return {
        "cycles": 0,
        "failed_cycles": 0,
        "duration_sum": 0.0,
        "buckets": [0] * len(BUCKETS),
        "sources": {},
        "targets": {},
        "blocks": {"created": 0, "moved": 0, "deleted": 0},
        "recent": [],
    }


def read(state_dir: Path) -> dict[str, Any]:
    """The recorded cycles (an empty record when the file is missing or unreadable)."""
    try:
        data = json.loads((state_dir / CYCLES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return empty()
    if not isinstance(data, dict):
        return empty()
    base = empty()
    base.update(data)
    if len(base["buckets"]) != len(BUCKETS):
        base["buckets"] = [0] * len(BUCKETS)
    return base


def _written(report: CycleReport) -> dict[str, int]:
    """Blocks created, moved and deleted by one write-back (only actions carried out)."""
    from calsync.reconcile import Create, Update

    counts = {"created": 0, "moved": 0, "deleted": 0}
    for action in report.actions[: report.written]:
        kind = "created" if isinstance(action, Create) else "moved"
        counts[kind if isinstance(action, Create | Update) else "deleted"] += 1
    return counts


@contextmanager
def _exclusive(state_dir: Path) -> Iterator[None]:
    """Serialise the writers: this process's threads and other processes (best effort)."""
    with _lock:
        try:
            fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock


def record_writes(state_dir: Path, writeback: Sequence[CycleReport]) -> None:
    """Add the blocks a write-back outside the service wrote (``calsync apply``).

    Counted in the totals of blocks written, not as a cycle. Best effort: a
    failure is logged, never raised.
    """
    with _exclusive(state_dir):
        data = read(state_dir)
        for report in writeback:
            for kind, count in _written(report).items():
                data["blocks"][kind] += count
        _write(state_dir, data)


def record(
    state_dir: Path,
    at: datetime,
    duration: float,
    sources: Sequence[SourceReport],
    writeback: Sequence[CycleReport],
) -> None:
    """Add one cycle to ``cycles.json`` (best effort: a failure is logged, never raised)."""
    with _exclusive(state_dir):
        data = read(state_dir)
        failed = any(not s.ok for s in sources) or any(r.error for r in writeback)
        data["cycles"] += 1
        data["failed_cycles"] += int(failed)
        data["duration_sum"] += duration
        for index, bound in enumerate(BUCKETS):
            if duration <= bound:
                data["buckets"][index] += 1
        for polled in sources:
            entry = data["sources"].setdefault(polled.source, {"polls": 0, "failures": 0})
            entry["polls"] += 1
            entry["failures"] += int(not polled.ok)
        targets = []
        for report in writeback:
            written = _written(report)
            for kind, count in written.items():
                data["blocks"][kind] += count
            error = quote(report.error) if report.error else None
            entry = data["targets"].setdefault(report.target, {})
            entry["last_cycle_at"] = at.isoformat()
            if error:
                entry["last_error"], entry["last_error_at"] = error, at.isoformat()
            else:
                entry["last_success_at"] = at.isoformat()
            targets.append({"target": report.target, **written, "error": error})
        data["recent"] = [
            {
                "at": at.isoformat(),
                "duration": round(duration, 4),
                "ok": not failed,
                "sources": [
                    {"source": s.source, "ok": s.ok, "learned": s.learned} for s in sources
                ],
                "targets": targets,
            },
            *data["recent"],
        ][:KEEP]
        _write(state_dir, data)


def _write(state_dir: Path, data: dict[str, Any]) -> None:
    try:
        write_atomically(state_dir / CYCLES_FILE, json.dumps(data))
    except OSError as err:
        logger.warning("cannot write %s: %s", CYCLES_FILE, err)
