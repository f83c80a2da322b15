"""The service: ``calsync run`` (APScheduler 3.11, jobs defined in code).

Jobs, all run one at a time by a single worker thread (so they never race):

* ``cycle`` every ``daemon.poll_minutes`` (10): poll every source that is due
  (its own ``poll_minutes``, doubled after each failure up to
  ``daemon.max_backoff_minutes``), learn, then plan and write back when
  anything changed (and at least every ``daemon.writeback_minutes``);
* ``llm-sync`` every ``insights.sync_hours`` (6): the interpreter sync;
* ``insights`` every ``daemon.insights_hours`` (24): insights from behaviour.

One instance per state directory (an exclusive ``flock`` on
``calsync.lock``). SIGTERM/SIGINT let the running job finish, then exit 0
(a running ICS parse is killed at once and the cycle polls no further
source, so the answer comes within seconds whatever a feed does);
SIGHUP reloads the configuration — an invalid one is refused, the old one
kept and the reason logged. Under systemd (``Type=notify``) calsync sends
``READY=1``, ``STATUS=`` lines and ``WATCHDOG=1`` pings. A ``status.json`` in
the state directory tells ``calsync status`` what ran and what runs next.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from calsync import heap
from calsync.clock import Clock, SystemClock
from calsync.config import Config, load_config
from calsync.errors import CalsyncError
from calsync.ingest import SourceReport, sync_source
from calsync.secrets import private_directory, write_atomically
from calsync.service import Calsync
from calsync.service import open as open_calsync
from calsync.sources.base import Source
from calsync.sources.factory import build_sources
from calsync.sources.ics_parse import cancel_parsing, reset_cancel
from calsync.targets.base import Target
from calsync.targets.factory import build_targets
from calsync.writeback import CycleReport, run_cycle

if TYPE_CHECKING:  # imported when the first insight job runs
    from calsync.insights.sync import InsightService

logger = logging.getLogger(__name__)

LOCK_FILE = "calsync.lock"
STATUS_FILE = "status.json"
#: The service rewrites :data:`STATUS_FILE` this often (its heartbeat).
HEARTBEAT_SECONDS = 60.0


class AlreadyRunningError(CalsyncError):
    """Another calsync already runs with this state directory."""

    exit_code = 10


@dataclass
class CycleSummary:
    """What one poll-and-write cycle did."""

    sources: list[SourceReport] = field(default_factory=list)
    writeback: list[CycleReport] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when any source brought something new."""
        return any(
            r.ok and (r.received or r.deleted or r.learned or r.corrected) for r in self.sources
        )

    def status_line(self) -> str:
        """A short line for systemd's STATUS=."""
        failed = [r.source for r in self.sources if not r.ok]
        written = sum(r.written for r in self.writeback)
        line = f"polled {len(self.sources)} source(s), wrote {written} change(s)"
        return line + (f"; failing: {', '.join(failed)}" if failed else "")


class InstanceLock:
    """An exclusive lock on the state directory, held while the daemon runs."""

    def __init__(self, state_dir: Path):
        self.path = state_dir / LOCK_FILE
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`AlreadyRunningError`."""
        private_directory(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)  # created 0600 whatever the umask
        handle = os.fdopen(fd, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            handle.seek(0)
            other = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunningError(
                f"another calsync (pid {other}) is running with state directory "
                f"{self.path.parent}; stop it first, or use another --state-dir"
            ) from err
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Give the lock back."""
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


class Daemon:
    """calsync as a service: sources, learning, write-back and the interpreter sync.

    Args:
        config: The validated configuration.
        config_path: Where it came from (reloaded on SIGHUP); ``None`` for the default.
        clock: Time source.
        notifier: systemd notifications (``None``: from the environment).
        progress: Called with a line for people while a long first sync runs.
        reload: Builds the configuration again on SIGHUP, with every override the
            service was started with (the command line's ``--state-dir``, the
            demo's directory); ``None``: ``load_config(config_path)``.

    """

    def __init__(
        self,
        config: Config,
        config_path: Path | None = None,
        clock: Clock | None = None,
        notifier: Any = None,
        progress: Callable[[str], None] | None = None,
        reload: Callable[[], Config] | None = None,
    ):
        if notifier is None:
            from calsync.notify import Notifier

            notifier = Notifier.from_env()
        self.config = config
        self.config_path = config_path
        self.clock = clock or SystemClock()
        self.notifier = notifier
        self.progress = progress
        self._reloaded = reload or (lambda: load_config(self.config_path))
        self.cs: Calsync | None = None
        self.sources: list[Source] = []
        self.targets: list[Target] = []
        #: The memory store and interpreter, opened by the first insight job.
        self._insights: InsightService | None = None
        self._lock = InstanceLock(config.resolved_state_dir())
        self._last_writeback: datetime | None = None
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._next: dict[str, str | None] = {}
        self.last_cycle: CycleSummary | None = None
        self._job_started: float | None = None
        #: When :meth:`run_forever` started (``None``: not running as the service).
        self._service_since: datetime | None = None
        self._stopped_at: datetime | None = None

    # ------------------------------------------------------------------ life cycle

    def open(self) -> None:
        """Take the instance lock and open the store, sources and targets."""
        reset_cancel()
        self._lock.acquire()
        try:
            self._build(self.config)
        except BaseException:
            self._lock.release()
            raise

    def _build(self, config: Config) -> None:
        """Open the store and adapters of ``config``, then close the ones they replace."""
        cs = open_calsync(config, clock=self.clock)
        sources: list[Source] = []
        try:
            sources = build_sources(config, self.clock)
            targets = build_targets(config, self.clock)
        except BaseException:
            _close_quietly(sources)
            cs.close()
            raise
        self._close_adapters()
        if self.cs is not None:
            self.cs.close()
        self.config, self.cs, self.sources, self.targets = config, cs, sources, targets

    def _close_adapters(self) -> None:
        """Close the sources, the targets and the insight service (on reload and shutdown)."""
        closing: list[Source | Target | InsightService] = [*self.sources, *self.targets]
        if self._insights is not None:
            closing.append(self._insights)
        self.sources, self.targets, self._insights = [], [], None
        _close_quietly(closing)

    def close(self) -> None:
        """Close everything and release the lock (and allow ICS parses again)."""
        self._close_adapters()
        if self.cs is not None:
            self.cs.close()
            self.cs = None
        self._lock.release()
        reset_cancel()

    def __enter__(self) -> Daemon:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ jobs

    def _due(self, source: Source, force: bool) -> bool:
        if force:
            return True
        assert self.cs is not None
        with self.cs.store.read() as tx:
            state = tx.sync_state(source.name)
        if state is None or state.last_attempt_at is None:
            return True
        configured = next((s for s in self.config.sources if s.name == source.name), None)
        minutes = (
            configured.poll_minutes if configured else None
        ) or self.config.daemon.poll_minutes
        backoff = min(
            minutes * 2**state.consecutive_failures, self.config.daemon.max_backoff_minutes
        )
        # A little slack, so a job that fires a moment early does not skip a round.
        return self.clock.now() >= state.last_attempt_at + timedelta(minutes=backoff * 0.95)

    def cycle(self, force: bool = False) -> CycleSummary:
        """Poll the due sources, learn, and write back when something changed."""
        assert self.cs is not None
        started = time.monotonic()
        summary = CycleSummary()
        due = [s for s in self.sources if self._due(s, force)]
        for number, source in enumerate(due, 1):
            if self.progress:
                self.progress(f"[{number}/{len(due)}] reading {source.name}…")
            summary.sources.append(sync_source(self.cs, source))
            if self._stop.is_set():
                break  # stopping: the other sources and the write-back wait for the next start
        now = self.clock.now()
        stale = self._last_writeback is None or now - self._last_writeback >= timedelta(
            minutes=self.config.daemon.writeback_minutes
        )
        if not self._stop.is_set() and (force or summary.changed or stale):
            for target in self.targets:
                if self.progress:
                    self.progress(f"planning and writing to {target.name}…")
                summary.writeback.append(run_cycle(self.cs, target))
            self._last_writeback = now
        self.last_cycle = summary
        self.notifier.status(summary.status_line())
        logger.info("cycle: %s", summary.status_line())  # one line per cycle
        self._write_status()
        self._log_cycle(summary, started)
        heap.release()  # a large feed's parse and write leave freed pages behind
        return summary

    def _log_cycle(self, summary: CycleSummary, started: float) -> None:
        """Keep the cycle in ``cycles.json`` for the web view and /metrics."""
        from calsync import cyclelog

        cyclelog.record(
            self.config.resolved_state_dir(),
            self.clock.now(),
            time.monotonic() - started,
            summary.sources,
            summary.writeback,
        )

    def insight_service(self) -> InsightService:
        """The memory store and interpreter: opened once, kept until reload or shutdown."""
        if self._insights is None:
            from calsync.insights.sync import InsightService

            assert self.cs is not None
            self._insights = InsightService.from_config(self.cs)
        return self._insights

    def llm_sync(self, force: bool = False) -> Any:
        """The interpreter sync, when due (or forced)."""
        service = self.insight_service()
        if not force and not service.due():
            return None
        return service.sync()

    def generate_insights(self) -> int:
        """Insights from behaviour (daily)."""
        return self.insight_service().generate()

    def run_once(self) -> CycleSummary:
        """One full cycle: every source, insights, the interpreter sync, then write-back."""
        started = time.monotonic()
        summary = CycleSummary()
        assert self.cs is not None
        for number, source in enumerate(self.sources, 1):
            if self.progress:
                self.progress(f"[{number}/{len(self.sources)}] reading {source.name}…")
            summary.sources.append(sync_source(self.cs, source))
        self.generate_insights()
        self.llm_sync(force=True)
        for target in self.targets:
            summary.writeback.append(run_cycle(self.cs, target))
        self._last_writeback = self.clock.now()
        self.last_cycle = summary
        self._write_status()
        self._log_cycle(summary, started)
        return summary

    # ------------------------------------------------------------------ status

    def _write_status(self) -> None:
        state_dir = self.config.resolved_state_dir()
        data = {
            "pid": os.getpid(),
            "updated_at": self.clock.now().isoformat(),
            # `calsync status` tells the service (pid, since, heartbeat) from a `run --once`.
            "service": self._service_since is not None,
            "started_at": self._service_since.isoformat() if self._service_since else None,
            "stopped_at": self._stopped_at.isoformat() if self._stopped_at else None,
            "last_cycle": self.last_cycle.status_line() if self.last_cycle else None,
            # Each target's error in the last cycle (``None``: it went well).
            "targets": {r.target: r.error for r in self.last_cycle.writeback}
            if self.last_cycle
            else {},
            "next": self._next,
        }
        try:
            write_atomically(state_dir / STATUS_FILE, json.dumps(data, indent=2))
        except OSError as err:
            logger.debug("cannot write %s: %s", STATUS_FILE, err)

    # ------------------------------------------------------------------ the service

    def _guarded(self, name: str, job: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            self._job_started = time.monotonic()
            try:
                if self._reload.is_set():
                    self._apply_reload()
                job()
            except Exception:  # one failing job must not stop the service
                logger.exception("job %s failed; it runs again at its next time", name)
            finally:
                self._job_started = None

        return run

    def healthy(self) -> bool:
        """False when a job has run for so long that it is probably hung.

        The watchdog is pinged only while healthy, so systemd restarts a
        service whose worker is stuck instead of keeping it alive forever.
        """
        started = self._job_started
        limit = max(1800.0, 3 * 60 * self.config.daemon.poll_minutes)
        return started is None or time.monotonic() - started < limit

    def _apply_reload(self) -> None:
        self._reload.clear()
        try:
            config = self._reloaded()
            if config.resolved_state_dir() != self.config.resolved_state_dir():
                raise CalsyncError("state_dir cannot change while running; restart instead")
            self._build(config)
        except CalsyncError as err:
            logger.error("configuration not reloaded, keeping the old one: %s", err)
            self.notifier.ready(f"reload refused: {str(err).splitlines()[0]}")
            return
        logger.info("configuration reloaded")
        self.notifier.ready("configuration reloaded")

    def request_stop(self, *_args: object) -> None:
        """Ask the service to stop (SIGTERM, SIGINT).

        A running ICS parse is stopped at once (its child process killed), the
        running cycle polls no further source and writes nothing, and
        :meth:`run_forever` returns 0.
        """
        self._stop.set()
        cancel_parsing()

    def request_reload(self, *_args: object) -> None:
        """Ask for the configuration to be reloaded before the next job (SIGHUP)."""
        self._reload.set()

    def run_forever(self) -> int:
        """Run until SIGTERM; return the exit code."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        heap.single_arena()  # before the scheduler's threads: what a cycle frees can be trimmed
        settings = self.config
        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 600},
            timezone=UTC,
        )
        # The scheduler runs on the real wall clock, whatever clock the jobs use.
        now = datetime.now(UTC)
        jobs: dict[str, tuple[Callable[[], object], timedelta, datetime]] = {
            "cycle": (self.cycle, timedelta(minutes=settings.daemon.poll_minutes), now),
            "llm-sync": (
                self.llm_sync,
                timedelta(hours=settings.insights.sync_hours),
                now + timedelta(minutes=1),
            ),
            "insights": (
                self.generate_insights,
                timedelta(hours=settings.daemon.insights_hours),
                now + timedelta(minutes=2),
            ),
        }
        for name, (job, every, first) in jobs.items():
            scheduler.add_job(
                self._guarded(name, job),
                IntervalTrigger(seconds=every.total_seconds(), timezone=UTC),
                id=name,
                next_run_time=first,
            )
        previous = {
            sig: signal.signal(sig, handler)
            for sig, handler in (
                (signal.SIGTERM, self.request_stop),
                (signal.SIGINT, self.request_stop),
                (signal.SIGHUP, self.request_reload),
            )
        }
        scheduler.start()
        self._service_since, self._stopped_at = self.clock.now(), None
        self._next = {
            job.id: job.next_run_time.isoformat() if job.next_run_time else None
            for job in scheduler.get_jobs()
        }
        self._write_status()
        self.notifier.ready("started; first poll running")
        logger.info(
            "calsync running with %d source(s), %d target(s)", len(self.sources), len(self.targets)
        )
        interval = self.notifier.watchdog_interval() or 30.0
        last_ping = last_beat = time.monotonic()
        try:
            # Wake every second: cheap, and a SIGHUP or SIGTERM is acted on promptly.
            while not self._stop.wait(timeout=min(1.0, interval)):
                if time.monotonic() - last_ping >= interval and self.healthy():
                    self.notifier.watchdog()
                    last_ping = time.monotonic()
                if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                    self._write_status()  # the heartbeat `calsync status` reads
                    last_beat = time.monotonic()
                self._next = {
                    job.id: job.next_run_time.isoformat() if job.next_run_time else None
                    for job in scheduler.get_jobs()
                }
                if self._reload.is_set() and scheduler.get_job("reload") is None:
                    # Reloading happens in the worker thread, between jobs.
                    self.notifier.reloading()
                    scheduler.add_job(self._guarded("reload", lambda: None), id="reload")
        finally:
            self.notifier.stopping()
            logger.info("stopping: letting the running job finish")
            scheduler.shutdown(wait=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._service_since, self._stopped_at = None, self.clock.now()
            self._write_status()
        return 0


def _close_quietly(adapters: Sequence[Source | Target | InsightService]) -> None:
    """Close each adapter; one that fails to close is logged, the others closed all the same."""
    for adapter in adapters:
        try:
            adapter.close()
        except Exception:  # closing must not stop a reload or a shutdown
            name = getattr(adapter, "name", type(adapter).__name__)
            logger.warning("could not close %s", name, exc_info=True)


def terminal_progress(line: str) -> None:
    """Progress for people: on stderr, only when it is a terminal."""
    if sys.stderr.isatty():
        print(line, file=sys.stderr)
