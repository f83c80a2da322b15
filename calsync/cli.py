"""The ``calsync`` command line.

This is the one place where errors become messages and exit codes: every
command raises :class:`~calsync.errors.CalsyncError` subclasses, and
:func:`main` prints ``calsync: error: …`` and returns the error's
``exit_code`` — never a traceback for an expected failure.

Exit codes: 0 success, 1 other calsync error, 2 bad input or usage, 3 bad
configuration, 4 database problem, 5 calendar source problem, 6 write-back
target problem, 7 interpreter (LLM) problem, 8 memory store problem,
9 web view problem, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calsync import __version__
from calsync.errors import (
    CalsyncError,
    ConfigError,
    ConfigProblem,
    InputError,
    InterpreterError,
    SourceError,
    TargetError,
)
from calsync.text import FOREIGN_LIMIT, MESSAGE_LIMIT, bounded, printable, quote, terminal

if TYPE_CHECKING:
    from calsync.config import Config
    from calsync.daemon import CycleSummary
    from calsync.reconcile import Action
    from calsync.service import Calsync
    from calsync.store.store import SuggestionRow
    from calsync.targets.base import Target
    from calsync.writeback import CycleReport

logger = logging.getLogger(__name__)


class _Reported(logging.Filter):
    """Drops log records a command prints itself (one line per failure, not two)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record not marked ``calsync_reported``."""
        return not getattr(record, "calsync_reported", False)


def _configure_logging(verbosity: int, quiet: bool = False, service: bool = False) -> None:
    """Logging on stderr: calsync's own events; libraries only at WARNING unless ``-v``.

    The service logs calsync's INFO lines (a cycle, a failure, a reload);
    ``-v`` adds every library's INFO (APScheduler, Alembic, urllib3 …),
    ``-vv`` everything at DEBUG, ``-q`` only errors. A command prints its
    failures itself, so the log line of the same failure is dropped there.
    """
    if quiet:
        level = logging.ERROR
    else:
        level = (logging.WARNING, logging.INFO)[verbosity] if verbosity < 2 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if not service:
        handler.addFilter(_Reported())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    own = logging.INFO if service and not quiet and verbosity == 0 else logging.NOTSET
    logging.getLogger("calsync").setLevel(own)


def _embedded(args: argparse.Namespace) -> bool:
    """Whether no configuration file is in use (the embedded default applies)."""
    from calsync.config import default_config_path

    return args.config is None and not default_config_path().exists()


def demo_state_dir() -> Path:
    """Where the embedded default (the demo on the sample calendar) keeps its state.

    A directory of its own (``demo/`` in the default state directory), so
    nothing the made-up sample teaches reaches a real configuration's
    database; ``calsync forget --demo`` removes it.
    """
    from calsync.config import resolve_state_dir

    return resolve_state_dir(None) / "demo"


def _load(args: argparse.Namespace) -> Config:
    """The configuration every command uses.

    Without a file, the embedded default — the example task types in
    Europe/Berlin, reading the bundled sample calendar — for every command
    alike, so ``plan``, ``status`` or ``heatmap`` see what ``run --once`` did;
    its state lives apart, in :func:`demo_state_dir` (unless ``--state-dir``).
    """
    from calsync.config import load_config

    config = load_config(args.config)
    if args.state_dir is not None:
        config = config.model_copy(update={"state_dir": args.state_dir})
    if _embedded(args):
        from calsync.config import IcsSourceConfig

        update: dict[str, Any] = {
            "user": config.user.model_copy(update={"timezone": "Europe/Berlin"})
        }
        if args.state_dir is None:
            update["state_dir"] = demo_state_dir()
        config = config.model_copy(update=update)
        sample = IcsSourceConfig(
            type="ics",
            name="sample",
            path=config.resolved_state_dir() / "sample.ics",
            days_back=60,
            days_ahead=14,
        )
        config = config.model_copy(update={"sources": [sample]})
    return config


def _render_sample(args: argparse.Namespace, config: Config, now: datetime) -> None:
    """Before reading calendars on the embedded default: render its sample around today."""
    from calsync.sample import write_sample_calendar

    if _embedded(args):
        write_sample_calendar(
            config.resolved_state_dir() / "sample.ics", now, ZoneInfo(config.user.timezone)
        )


def _say(args: argparse.Namespace, text: str) -> None:
    """An informational line for people (not the result itself): silent under ``-q``."""
    if not getattr(args, "quiet", False):
        print(terminal(text))


def _open(args: argparse.Namespace) -> Calsync:
    from calsync.service import open as open_calsync

    return open_calsync(_load(args))


def _use_color(choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


# ---------------------------------------------------------------------- commands


def cmd_init(args: argparse.Namespace) -> int:
    """Write a commented starter configuration."""
    from calsync.config import default_config_path, render_example
    from calsync.secrets import write_atomically

    path: Path = args.path or args.config or default_config_path()
    if path.exists() and not args.force:
        raise InputError(f"{path} already exists; use --force to overwrite it")
    zone = args.timezone or _local_zone()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InputError(f"unknown IANA time zone {zone!r} (e.g. Europe/Berlin)") from err
    text = render_example(timezone=zone)
    try:
        # The file may later hold credentials: only its owner may read it (0600).
        write_atomically(path, text)
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror or err}") from err
    print(f"wrote {path} (time zone {zone}); edit it, then run: calsync config check {path}")
    return 0


def _local_zone() -> str:
    try:
        import tzlocal  # installed with APScheduler

        name = tzlocal.get_localzone_name()
    except Exception:  # any failure just means "not detectable here"
        logger.debug("could not detect the local time zone", exc_info=True)
        return "UTC"
    return "UTC" if name in (None, "Etc/UTC", "Etc/Universal") else name


def cmd_config_check(args: argparse.Namespace) -> int:
    """Validate a configuration file."""
    from calsync.config import default_config_path

    path: Path | None = args.path or args.config
    if path is None:
        path = default_config_path()
        if not path.exists():
            print(
                f"no configuration file at {path}: calsync uses the embedded default "
                "(`calsync config example` shows it; `calsync init` writes a file to edit)"
            )
            return 0
    from calsync.checks import check_file

    try:
        config = check_file(path)
    except ConfigError as err:
        if not args.json:
            raise
        problems = [{"key": p.key, "message": p.message} for p in err.problems]
        print(json.dumps({"file": str(path), "ok": False, "problems": problems}, indent=2))
        return err.exit_code
    if args.json:
        print(json.dumps({"file": str(path), "ok": True, "problems": []}, indent=2))
        return 0
    names = ", ".join(t.name for t in config.task_types) or "none"
    print(
        terminal(f"{path}: OK (user {config.user.id}, {config.user.timezone}; task types: {names})")
    )
    return 0


def cmd_config_example(args: argparse.Namespace) -> int:
    """Print the documented example configuration."""
    from calsync.config import render_example

    sys.stdout.write(render_example())
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print whether the service runs, each source's and target's health, and learning progress."""
    from calsync.reconcile import LIVE
    from calsync.render import human_time, progress_text

    with _open(args) as cs:
        progress = cs.progress(args.user)
        user = args.user or cs.config.user.id
        now = cs.clock.now()
        tz = cs.timezone(args.user)
        with cs.store.read() as tx:
            states = {s.name: tx.sync_state(s.name) for s in cs.config.sources}
            paused = tx.paused_targets()
            ahead = tx.suggestions(cs.config.user.id, statuses=LIVE, start_after=now)
        notes = _stale_notes(cs)
    kinds = {s.name: s.type for s in cs.config.sources}
    sources: list[dict[str, Any]] = [
        {
            "name": name,
            "type": kinds[name],
            "last_success": state.last_success_at.isoformat()
            if state and state.last_success_at
            else None,
            "last_attempt": state.last_attempt_at.isoformat()
            if state and state.last_attempt_at
            else None,
            # Stored errors quote servers and feeds: bounded and printable (older
            # databases may hold a long one; one stored bounded is shown whole).
            "last_error": quote(state.last_error, 2 * FOREIGN_LIMIT)
            if state and state.last_error
            else None,
            "consecutive_failures": state.consecutive_failures if state else 0,
            "needs_reauth": bool(state and state.needs_reauth),
        }
        for name, state in states.items()
    ]
    service = _service_status(cs.config)
    daemon = _daemon_state(cs.config, service, now)
    target_errors = (service or {}).get("targets") or {}
    files = _ics_files(cs.config)
    targets = [
        {
            "name": name,
            "type": kind,
            "path": str(files[name]) if name in files else None,
            "blocks_ahead": sum(1 for r in ahead if r.target == name),
            "paused": name in paused,
            "last_error": quote(target_errors[name]) if target_errors.get(name) else None,
        }
        for name, kind in _target_kinds(cs.config).items()
    ]
    if args.json:
        print(
            json.dumps(
                {
                    "user": user,
                    **progress.to_dict(),
                    "daemon": daemon,
                    "sources": sources,
                    "targets": targets,
                    "service": service,
                },
                indent=2,
            )
        )
        return 0

    def when(text: str | None) -> str:
        return human_time(datetime.fromisoformat(text), now, tz) if text else "never"

    if daemon["running"]:
        line = f"service: running (pid {daemon['pid']}, since {when(daemon['since'])}"
        line += f", last heartbeat {when(daemon['heartbeat'])})" if daemon["heartbeat"] else ")"
    elif daemon["pid"] is None:
        line = "service: not running (never ran with this state directory; `calsync run`)"
    elif daemon["since"] is None and daemon["stopped"] is None:
        line = f"service: not running (last `calsync run --once` {when(daemon['heartbeat'])})"
    else:
        line = f"service: not running (last seen {when(daemon['stopped'] or daemon['heartbeat'])})"
    print(terminal(line))
    if service and service.get("last_cycle"):
        print(terminal(f"  last cycle: {service['last_cycle']}"))
    if daemon["running"]:
        for job, at in (service or {}).get("next", {}).items():
            print(terminal(f"  next {job}: {when(at)}"))
    for source in sources:
        name = f"source {source['name']} ({source['type']})"
        if source["last_error"]:
            line = (
                f"{name}: FAILING ({source['consecutive_failures']} time(s) in a row), "
                f"last sync {when(source['last_success'])}; last error: {source['last_error']}"
            )
        else:
            line = f"{name}: ok, last sync {when(source['last_success'])}"
        error = source["last_error"] or ""
        if (
            source["needs_reauth"]
            and source["type"] == "google"
            and "calsync auth google" not in error
        ):
            line += f" (run `calsync auth google --source {source['name']}`)"
        print(terminal(line))
    for target in targets:
        line = f"target {target['name']} ({target['type']}): "
        line += f"{target['blocks_ahead']} block(s) ahead"
        if target["path"]:
            line += f" in {target['path']} (subscribe to it in your calendar app)"
        if target["paused"]:
            line += f"; paused since a purge (`calsync resume --target {target['name']}`)"
        if target["last_error"]:
            line += f"; FAILED in the last cycle: {target['last_error']}"
        print(terminal(line))
    for note in notes:
        print(terminal(f"note: {note}"))
    print(progress_text(progress, user))
    return 0


def _daemon_state(config: Config, service: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    """Whether the service runs: its pid alive and the state directory's lock held."""
    from calsync.daemon import LOCK_FILE

    data = service or {}
    pid = data.get("pid") if isinstance(data.get("pid"), int) else None
    running = bool(data.get("service")) and pid is not None and _alive(pid)
    if running:
        running = _locked(config.resolved_state_dir() / LOCK_FILE)
    return {
        "running": running,
        "pid": pid,
        "since": data.get("started_at"),
        "heartbeat": data.get("updated_at"),
        "stopped": data.get("stopped_at"),
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    return True


def _locked(path: Path) -> bool:
    """Whether another process holds the state directory's instance lock."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _service_status(config: Config) -> dict[str, Any] | None:
    """What the running (or last) service wrote about itself, if anything."""
    from calsync.daemon import STATUS_FILE

    path = config.resolved_state_dir() / STATUS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def cmd_heatmap(args: argparse.Namespace) -> int:
    """Print a task type's habit array (or the energy array) as a week grid."""
    from calsync.render import heatmap

    with _open(args) as cs:
        if args.task.lower() == "energy":
            view, title = cs.energy(args.user), "energy"
        else:
            name = cs.task_type(args.task).name
            view, title = cs.habit(name, args.user), name
        zone = cs.timezone(args.user).key
        neutral = cs.config.learning.neutral_value
        week_start = args.week_start or cs.config.user.week_start
    if args.json:
        from calsync.learning.slots import DAY_NAMES, week_rows

        grid = view.values.reshape(7, 24)
        days = week_rows(week_start)
        print(
            json.dumps(
                {
                    "array": title,
                    "timezone": zone,
                    "updates": view.count,
                    "neutral": neutral,
                    # Rows in the heatmap's order; "slot" is the array index (Sunday = 0).
                    "days": [
                        {
                            "day": DAY_NAMES[d],
                            "hours": [round(float(v), 4) for v in grid[d]],
                            "first_slot": d * 24,
                        }
                        for d in days
                    ],
                },
                indent=2,
            )
        )
        return 0
    if args.png is not None:
        from calsync.plot import heatmap_png

        heatmap_png(
            view.values, args.png, f"{title} ({zone})", neutral=neutral, week_start=week_start
        )
        print(f"wrote {args.png}")
        return 0
    print(
        heatmap(
            view.values,
            f"{title}: {view.count} update(s), hours in {zone}",
            _use_color(args.color),
            neutral=cs.config.learning.neutral_value,
            week_start=week_start,
        )
    )
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    """Record one completion by hand."""
    try:
        start = datetime.fromisoformat(args.start)
    except ValueError as err:
        raise InputError(f"START must be an ISO date-time, got {args.start!r}") from err
    if "T" not in args.start and " " not in args.start:
        raise InputError(f"START needs a time of day, e.g. {args.start}T09:00")
    with _open(args) as cs:
        if start.tzinfo is None:
            # A wall-clock time typed by a person means the user's own zone.
            start = start.replace(tzinfo=cs.timezone(args.user))
        if start > cs.clock.now():
            raise InputError(f"{start.isoformat()} is in the future: record what has happened")
        name = cs.task_type(args.task).name
        result = cs.record_completion(
            name, start, args.success, args.energy, user=args.user, key=args.key
        )
    print(terminal(f"{result.status}: {name} at {start.isoformat()} (slot {result.slot})"))
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    """Poll the configured sources once and learn from them."""
    from calsync.ingest import sync_all
    from calsync.service import open as open_calsync
    from calsync.sources.factory import build_sources

    config = _load(args)
    _check_source_name(config, args.source)
    with open_calsync(config) as cs:
        _render_sample(args, config, cs.clock.now())
        sources = build_sources(config, cs.clock, only=args.source)
        if not sources:
            if args.json:
                print("[]")
            else:
                print(
                    "no sources configured: add a [[sources]] table (see `calsync config example`)"
                )
            return 0
        reports = sync_all(cs, sources)
    if args.json:
        rows = [
            {
                "source": r.source,
                "type": r.kind,
                "ok": r.ok,
                "full": r.full,
                "received": r.received,
                "deleted": r.deleted,
                "learned": r.learned,
                "corrected": r.corrected,
                "notes": r.insights,
                "error": r.error,
                "needs_reauth": r.needs_reauth,
            }
            for r in reports
        ]
        print(json.dumps(rows, indent=2))
    else:
        for report in reports:
            print(terminal(report.summary()))
    failed = [r for r in reports if not r.ok]
    return SourceError.exit_code if failed else 0


def cmd_auth_google(args: argparse.Namespace) -> int:
    """Authorize calsync to read and write one Google source's events."""
    from calsync.auth import authorize_desktop, authorize_headless
    from calsync.config import GoogleSourceConfig, default_config_path

    config = _load(args)
    candidates = [
        s
        for s in config.sources
        if isinstance(s, GoogleSourceConfig) and (args.source is None or s.name == args.source)
    ]
    names = ", ".join(s.name for s in config.sources if isinstance(s, GoogleSourceConfig))
    if args.source is not None and not candidates and names:  # bad input, as for sync
        raise InputError(f"no Google source called {args.source!r} (known: {names})")
    if len(candidates) != 1:
        problem = (
            "no Google source is configured"
            if not names
            else (f"name the Google source with --source ({names})")
        )
        raise ConfigError(
            str(args.config or default_config_path()), [ConfigProblem("sources", problem)]
        )
    source = candidates[0]
    if source.client_secrets_file is None:
        raise ConfigError(
            str(args.config or default_config_path()),
            [
                ConfigProblem(
                    f"sources.{source.name}.client_secrets_file", "required for authorization"
                )
            ],
        )
    token_file = source.token_path(config.resolved_state_dir())
    if args.headless:
        authorize_headless(source.client_secrets_file, token_file)
    else:
        authorize_desktop(source.client_secrets_file, token_file, open_browser=not args.no_browser)
    print(f"saved the token for {source.name} to {token_file} (mode 0600)")
    return 0


def _targets(cs: Calsync, only: str | None) -> list[Target]:
    from calsync.targets.factory import build_targets

    built = build_targets(cs.config, cs.clock)
    targets = [t for t in built if only is None or t.name == only]
    if only is not None and not targets:
        known = ", ".join(t.name for t in built) or "none"
        raise InputError(f"no target called {only!r} (known: {known})")
    return targets


def _target_kinds(config: Config) -> dict[str, str]:
    """Target name → type; the default target (no ``[[targets]]``) is an ICS file."""
    return {t.name: t.type for t in config.targets} or {"suggestions": "ics"}


def _ics_files(config: Config) -> dict[str, Path]:
    """Target name → the ICS file it writes (``suggestions.ics`` without ``[[targets]]``)."""
    from calsync.config import IcsTargetConfig

    if not config.targets:
        return {"suggestions": config.resolved_state_dir() / "suggestions.ics"}
    return {
        t.name: t.path or config.resolved_state_dir() / "suggestions.ics"
        for t in config.targets
        if isinstance(t, IcsTargetConfig)
    }


def _subscribe_line(name: str, path: Path) -> str:
    """Where an ICS target's blocks are: the file a user subscribes to in a calendar app."""
    return terminal(f"{name}: the blocks are in {path} (subscribe to it in your calendar app)")


def _target_line(report: CycleReport, kinds: dict[str, str]) -> str:
    """A target's report: its summary, or one line naming the target, its type and the error."""
    if not report.error:
        return terminal(report.summary())
    kind = kinds.get(report.target)
    named = f"{report.target} ({kind})" if kind else report.target
    error = report.error.removeprefix(f"{report.target}: ")
    return terminal(f"{named}: FAILED: {error}")


def _check_source_name(config: Config, name: str | None) -> None:
    """``--source NAME`` must name a configured source (bad input, exit 2)."""
    names = [s.name for s in config.sources]
    if name is not None and name not in names:
        raise InputError(f"no source called {name!r} (known: {', '.join(names) or 'none'})")


def cmd_plan(args: argparse.Namespace) -> int:
    """Show the blocks calsync would write, and why, writing nothing."""
    from calsync.writeback import run_cycle

    with _open(args) as cs:
        reports = [run_cycle(cs, t, dry_run=True) for t in _targets(cs, args.target)]
        tz = cs.timezone()
        known = _known_blocks(cs)
        notes = _stale_notes(cs)
    if args.json:
        print(json.dumps([_report_json(r, tz, known) for r in reports], indent=2))
    else:
        kinds = _target_kinds(cs.config)
        for report in reports:
            print(_target_line(report, kinds))
            for block in report.plan:
                start = block.start.astimezone(tz)
                print(
                    terminal(
                        f"  {start:%a %d %b %H:%M}-{block.end.astimezone(tz):%H:%M}  "
                        f"{block.task_type:<20} score {block.score:.2f} "
                        f"(habit {block.habit:.2f}, energy {block.energy:.2f})  "
                        f"{_block_reason(block.reason, cs.config)}"
                    )
                )
            for action in report.actions:
                print(terminal(f"  would {_describe(action, tz, known)}"))
            for shortfall in report.shortfalls:
                print(terminal(f"  why not: {shortfall.text()}"))
        for note in notes:
            print(terminal(f"note: {note}"))
    failed = [r for r in reports if r.error]
    return TargetError.exit_code if failed else 0


def _block_reason(reason: str, config: Config) -> str:
    """Why a planned block is where it is, in words (``locked``: the lock horizon)."""
    hours = config.planning.lock_horizon_hours
    return {
        "locked": f"locked: starts within planning.lock_horizon_hours ({hours:g} h), never moved",
        "user": "yours: you moved it there",
        "moved": f"moved: a free slot beats it by planning.move_margin "
        f"({config.planning.move_margin:g})",
    }.get(reason, reason)


def _known_blocks(cs: Calsync) -> dict[str, SuggestionRow]:
    """Every block this database remembers, by id (for removals by title and time)."""
    with cs.store.read() as tx:
        return {r.id: r for r in tx.suggestions(cs.config.user.id)}


def _when(moment: datetime, tz: ZoneInfo) -> str:
    return f"{moment.astimezone(tz):%a %d %b %H:%M}"


def _describe(action: Action, tz: ZoneInfo, known: dict[str, SuggestionRow]) -> str:
    """An action in words: the block's title and local time, never only its id."""
    from calsync.reconcile import Create, Update

    if isinstance(action, Create):
        return f"create {action.content.summary} at {_when(action.content.start, tz)}"
    if isinstance(action, Update):
        row = known.get(action.content.suggestion_id)
        was = f" from {_when(row.start, tz)}" if row is not None else ""
        return f"move {action.content.summary}{was} to {_when(action.content.start, tz)}"
    row = known.get(action.suggestion_id)
    if row is None:
        return f"remove a calsync block this database does not know ({action.reason})"
    return f"remove the {row.task_type} block at {_when(row.start, tz)} ({action.reason})"


def _stale_notes(cs: Calsync) -> list[str]:
    """Targets no longer configured that still hold calsync's blocks, and what to do."""
    from calsync.reconcile import LIVE
    from calsync.targets.factory import DEFAULT_TARGET

    current = set(_target_kinds(cs.config))
    with cs.store.read() as tx:
        rows = tx.suggestions(cs.config.user.id, statuses=LIVE)
    stale: dict[str, int] = {}
    for row in rows:
        if row.target not in current:
            stale[row.target] = stale.get(row.target, 0) + 1
    notes = []
    for name, count in sorted(stale.items()):
        if name == DEFAULT_TARGET:
            path = cs.config.resolved_state_dir() / "suggestions.ics"
            notes.append(
                f"{path} (the default target, unused since [[targets]] is configured) still "
                f"holds {count} block(s): `calsync purge --target {DEFAULT_TARGET}` empties it"
            )
        else:
            notes.append(
                f"target {name} is no longer configured but holds {count} block(s) calsync "
                f"wrote: configure it again and run `calsync purge --target {name}`, or delete "
                "them in that calendar"
            )
    return notes


def _report_json(
    report: CycleReport, tz: ZoneInfo, known: dict[str, SuggestionRow]
) -> dict[str, object]:
    from calsync.reconcile import Create, Update

    actions: list[dict[str, str | None]] = []
    for action in report.actions:
        kind = type(action).__name__.lower()
        if isinstance(action, Create | Update):
            actions.append(
                {
                    "action": kind,
                    "suggestion_id": action.content.suggestion_id,
                    "task_type": action.content.task_type,
                    "start": action.content.start.isoformat(),
                    "end": action.content.end.isoformat(),
                    "description": action.content.description,
                }
            )
        else:
            row = known.get(action.suggestion_id)
            actions.append(
                {
                    "action": kind,
                    "suggestion_id": action.suggestion_id,
                    "task_type": row.task_type if row else None,
                    "start": row.start.astimezone(tz).isoformat() if row else None,
                    "reason": action.reason,
                    "description": _describe(action, tz, known),
                }
            )
    return {
        "target": report.target,
        "error": quote(report.error) if report.error else report.error,
        "blocks": [
            {
                "id": b.id,
                "task_type": b.task_type,
                "start": b.start.isoformat(),
                "end": b.end.isoformat(),
                "score": round(b.score, 4),
                "habit": round(b.habit, 4),
                "energy": round(b.energy, 4),
                "reason": b.reason,
            }
            for b in report.plan
        ],
        "actions": actions,
        "paused": report.paused,
        "shortfalls": [
            {
                "task_type": f.task_type,
                "week": f.week.isoformat(),
                "wanted": f.wanted,
                "weekly": f.weekly,
                "counted": f.counted,
                "planned": f.planned,
                "reason": f.reason,
                "detail": f.detail,
            }
            for f in report.shortfalls
        ],
    }


def cmd_apply(args: argparse.Namespace) -> int:
    """Plan and write the suggested blocks to every target."""
    from calsync import cyclelog
    from calsync.writeback import run_cycle

    with _open(args) as cs:
        reports = [run_cycle(cs, t) for t in _targets(cs, args.target)]
        cyclelog.record_writes(cs.config.resolved_state_dir(), reports)  # for /metrics
        kinds = _target_kinds(cs.config)
        tz = cs.timezone()
        known = _known_blocks(cs)
        notes = _stale_notes(cs)
    if args.json:
        print(json.dumps([_report_json(r, tz, known) for r in reports], indent=2))
    else:
        files = _ics_files(cs.config)
        for report in reports:
            print(_target_line(report, kinds))
            if report.target in files and not report.error:
                print(_subscribe_line(report.target, files[report.target]))
        for note in notes:
            print(terminal(f"note: {note}"))
    return TargetError.exit_code if any(r.error for r in reports) else 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Remove every event calsync wrote, from every target, and nothing else.

    It lists what it will remove before asking, and pauses the targets: the
    next cycle (`apply`, the service) writes nothing there until
    ``calsync resume``.
    """
    with _open(args) as cs:
        try:
            return _purge(args, cs)
        except TargetError as err:  # one line naming the target and its type, as apply says
            kinds = {**_target_kinds(cs.config), "suggestions": "ics"}
            text = str(err)
            for name, kind in kinds.items():
                if text.startswith(f"{name}: "):
                    text = f"{name} ({kind}): {text.removeprefix(f'{name}: ')}"
            raise TargetError(text) from err


def _purge(args: argparse.Namespace, cs: Calsync) -> int:
    """:func:`cmd_purge` inside an open store: list, ask, purge, pause."""
    from calsync.reconcile import partition_owned
    from calsync.writeback import purge

    targets = _purge_targets(cs, args.target)
    tz = cs.timezone()
    if not args.yes:
        if not sys.stdin.isatty():
            raise InputError("purge asks for confirmation: run it in a terminal or add --yes")
        with cs.store.read() as tx:
            installation = tx.installation_id()
            known = {r.id for r in tx.suggestions(cs.config.user.id)}
        total = 0
        for target in targets:
            listed = target.list_owned()
            doomed = (
                listed
                if args.all_installations
                else partition_owned(listed, installation, known).ours
            )
            total += len(doomed)
            print(terminal(f"{target.name}: would remove {len(doomed)} block(s):"))
            for event in sorted(doomed, key=lambda e: e.start):
                print(terminal(f"  {_when(event.start, tz)}  {quote(event.summary, 80)}"))
        if not total:
            print("nothing to remove")
            return 0
        answer = input(f"Remove these {total} block(s) and pause these targets? Type yes: ")
        if answer.strip().lower() != "yes":
            print("nothing removed")
            return 0
    removed = purge(cs, targets, all_installations=args.all_installations)
    if args.json:
        print(
            json.dumps(
                {
                    name: {
                        "removed": [
                            {
                                "task_type": b.task_type,
                                "start": b.start.isoformat(),
                                "end": b.end.isoformat(),
                            }
                            for b in sorted(report.removed, key=lambda b: b.start)
                        ],
                        "kept": report.kept,
                        "paused": True,
                    }
                    for name, report in removed.items()
                },
                indent=2,
            )
        )
        return 0
    for name, report in removed.items():
        print(terminal(f"{name}: removed {len(report)} block(s) calsync wrote"))
        for block in sorted(report.removed, key=lambda b: b.start):
            start = block.start.astimezone(tz)
            print(
                f"  {start:%a %d %b %Y %H:%M}-{block.end.astimezone(tz):%H:%M}  "
                f"{printable(bounded(block.task_type, 80))}"
            )
        if report.kept:
            print(
                f"{name}: kept {report.kept} block(s) of other calsync installations or with a "
                "malformed marker (--all-installations removes them)"
            )
        print(
            terminal(
                f"{name}: paused: calsync writes no new blocks there until "
                f"`calsync resume --target {name}`"
            )
        )
    return 0


def _purge_targets(cs: Calsync, only: str | None) -> list[Target]:
    """The targets to purge; the default ``suggestions.ics`` too once it is no longer used."""
    from calsync.config import IcsTargetConfig
    from calsync.targets.factory import DEFAULT_TARGET, build_target

    configured = {t.name for t in cs.config.targets}
    if only == DEFAULT_TARGET and cs.config.targets and DEFAULT_TARGET not in configured:
        default = IcsTargetConfig(type="ics", name=DEFAULT_TARGET)
        return [build_target(cs.config, default, cs.clock)]
    return _targets(cs, only)


def cmd_resume(args: argparse.Namespace) -> int:
    """Let calsync write blocks again to targets a purge paused."""
    with _open(args) as cs:
        names = [t.name for t in _targets(cs, args.target)]
        now = cs.clock.now()
        with cs.store.write() as tx:
            paused = tx.paused_targets()
            for name in names:
                tx.set_target_paused(name, False, now)
    for name in names:
        if name in paused:
            print(terminal(f"{name}: resumed: the next cycle writes blocks there again"))
        else:
            _say(args, f"{name}: was not paused")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the service (or one full cycle with --once)."""
    from calsync.clock import SystemClock
    from calsync.config import default_config_path
    from calsync.daemon import Daemon, terminal_progress
    from calsync.service import open as open_calsync

    config = _load(args)
    clock = SystemClock()
    _render_sample(args, config, clock.now())
    embedded = _embedded(args)
    if embedded:
        _say(
            args,
            "no configuration file: running the embedded default on the bundled sample "
            f"calendar, a made-up person's six weeks (demo state in {config.resolved_state_dir()}, "
            "apart from any configuration's)",
        )
    if config.web.enabled and not args.once:
        from calsync.web import require_extra

        require_extra()  # before the lock and the store: nothing to undo
    daemon = Daemon(
        config,
        args.config,
        clock=clock,
        progress=terminal_progress,
        reload=lambda: _load(args),  # SIGHUP: the same --state-dir (or demo directory)
    )
    with daemon:
        if not args.once:
            if config.web.enabled:  # its own store connection, beside the service's
                from calsync.web import start_in_thread

                with open_calsync(config, clock=clock) as web_cs:
                    web = start_in_thread(web_cs, config.web.host, config.web.port)
                    try:
                        return daemon.run_forever()
                    finally:
                        web.stop()
            return daemon.run_forever()
        summary = daemon.run_once()
        assert daemon.cs is not None
        _print_once(daemon.cs, summary, _use_color(args.color))
    if embedded:
        _say(
            args,
            "\nThat was the demo. Next: `calsync init` writes your own configuration "
            f"({default_config_path()}) to add your calendars to; what the demo learned stays in "
            f"{config.resolved_state_dir()} (`calsync forget --demo` removes it).",
        )
    # The same failure, the same exit code as `sync` (5) and `apply` (6).
    if any(not r.ok for r in summary.sources):
        return SourceError.exit_code
    return TargetError.exit_code if any(r.error for r in summary.writeback) else 0


def _print_once(cs: Calsync, summary: CycleSummary, color: bool) -> None:
    """What one cycle learned and suggests, for people."""
    from calsync.render import heatmap, progress_text

    tz = cs.timezone()
    for report in summary.sources:
        print(terminal(report.summary()))
    print()
    print(progress_text(cs.progress(), cs.config.user.id))
    if cs.config.task_types:
        first = cs.config.task_types[0].name
        view = cs.habit(first)
        print()
        print(
            heatmap(
                view.values,
                f"{first}: what calsync learned (hours in {tz.key})",
                color,
                neutral=cs.config.learning.neutral_value,
            )
        )
    kinds = _target_kinds(cs.config)
    files = _ics_files(cs.config)
    for cycle in summary.writeback:
        print()
        print(_target_line(cycle, kinds))
        if cycle.target in files and not cycle.error:
            print(_subscribe_line(cycle.target, files[cycle.target]))
        for block in cycle.plan:
            start = block.start.astimezone(tz)
            print(
                terminal(
                    f"  {start:%a %d %b %H:%M}-{block.end.astimezone(tz):%H:%M}  "
                    f"{block.task_type:<14} score {block.score:.2f}  ({block.reason})"
                )
            )


def cmd_web(args: argparse.Namespace) -> int:
    """Serve the web view and /metrics (calsync[web])."""
    from calsync.service import open as open_calsync

    config = _load(args)
    host = args.host or config.web.host
    port = args.port or config.web.port
    from calsync.web import require_extra, serve
    from calsync.web.security import TOKEN_FILE, is_loopback

    require_extra()
    with open_calsync(config) as cs:
        if not is_loopback(host):
            print(
                f"{host} is not loopback: open the view once with ?token=… "
                f"(the token is in {config.resolved_state_dir() / TOKEN_FILE})"
            )
        serve(  # the line once the port is open, not before
            cs,
            host,
            port,
            on_listening=lambda url: print(f"calsync web view on {url}/ (Ctrl-C stops it)"),
        )
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    """Forget a source (its events and what they taught), or the demo's whole state."""
    if args.demo:
        import shutil

        demo = demo_state_dir()
        if not demo.exists():
            _say(args, f"no demo state at {demo}: nothing to forget")
            return 0
        try:
            shutil.rmtree(demo)
        except OSError as err:
            raise InputError(f"cannot remove {demo}: {err.strerror or err}") from err
        _say(args, f"removed the demo's state ({demo})")
        return 0
    from calsync.ingest import forget_source
    from calsync.insights.sync import InsightService

    with _open(args) as cs:
        report = forget_source(cs, args.source)
        if report.memory_ids:
            memory = InsightService.from_config(cs).memory
            for memory_id in report.memory_ids:
                memory.delete(memory_id, cs.config.user.id)
    if args.json:
        print(
            json.dumps(
                {
                    "source": report.source,
                    "events": report.events,
                    "completions": report.completions,
                    "notes": report.notes,
                    "relearned": report.relearned,
                }
            )
        )
    else:
        print(terminal(report.summary()))
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    """Store the user's own words as an insight."""
    from calsync.insights.sync import InsightService

    with _open(args) as cs:
        added = InsightService.from_config(cs).add_note(" ".join(args.text), args.user)
    print("noted" if added else "already noted")
    return 0


def cmd_insights(args: argparse.Namespace) -> int:
    """List the stored insights (optionally generating new ones from behaviour first)."""
    from calsync.insights.sync import InsightService

    with _open(args) as cs:
        user = args.user or cs.config.user.id
        if args.generate:
            new = InsightService.from_config(cs).generate(user)
            print(f"{new} new insight(s) from behaviour", file=sys.stderr)
        with cs.store.read() as tx:
            insights = tx.insights(user)
    if args.json:
        rows = [
            {
                "kind": i.kind,
                "text": i.text,
                "confidence": i.confidence,
                "created_at": i.created_at.isoformat(),
            }
            for i in insights
        ]
        print(json.dumps(rows, indent=2))
    else:
        for insight in insights:
            # A note or an event's text: control characters shown, never obeyed.
            text = printable(bounded(insight.text, MESSAGE_LIMIT))
            print(f"[{printable(insight.kind)}, {printable(insight.confidence)}] {text}")
        if not insights:
            print('no insights yet: `calsync note "Tuesday mornings are my sweet spot"` adds one')
    return 0


def cmd_sync_llm(args: argparse.Namespace) -> int:
    """Run the interpreter sync (when due, or now)."""
    from calsync.insights.sync import InsightService

    with _open(args) as cs:
        service = InsightService.from_config(cs)
        if not args.now and not service.due():
            print(
                f"not due: the last sync is less than {cs.config.insights.sync_hours:g} h old "
                "(--now runs it anyway)"
            )
            return 0
        report = service.sync()
    print(terminal(report.summary()))
    return InterpreterError.exit_code if report.errors else 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Simulate a few weeks of history and show what calsync learns from it."""
    from calsync.config import StoreConfig
    from calsync.demo import describe_choice, run_demo
    from calsync.render import heatmap, progress_text
    from calsync.service import open as open_calsync

    config = _load(args)
    if not config.task_types:
        raise InputError("the configuration defines no [[task_types]]: nothing to simulate")
    # Simulated history must never reach a real database: always a scratch one.
    with tempfile.TemporaryDirectory(prefix="calsync-demo-") as scratch:
        config = config.model_copy(update={"state_dir": Path(scratch), "store": StoreConfig()})
        with open_calsync(config) as cs:
            print(
                f"calsync demo: {args.weeks} simulated week(s) for user {config.user.id} "
                f"({config.user.timezone}), in a scratch database that is removed afterwards"
            )
            result = run_demo(cs, weeks=args.weeks, seed=args.seed)
            print(f"recorded {result.completions} completion(s)\n")
            print(progress_text(cs.progress(), config.user.id))
            first = config.task_types[0].name
            print()
            print(
                heatmap(
                    cs.habit(first).values,
                    f"{first} habit",
                    _use_color(args.color),
                    neutral=config.learning.neutral_value,
                )
            )
            print("\nbest block in the next 7 days:")
            for name, choice in result.best_slots.items():
                print(f"  {name}: {describe_choice(choice)}")
    return 0


# ---------------------------------------------------------------------- parser


def _port(text: str) -> int:
    """A TCP port for ``--port``: 1-65535 (argparse turns the error into exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number (1-65535), got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (1-65535), got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 52:
        raise argparse.ArgumentTypeError(f"must be between 1 and 52, got {value}")
    return value


#: Every command's description and an example (``--help``, the man page).
COMMAND_DOCS: dict[str, tuple[str, str]] = {
    "init": (
        "Write a fully commented starter configuration (mode 0600) with this machine's time "
        "zone, to the XDG path unless PATH or --config says otherwise.",
        "calsync init --timezone Europe/Berlin",
    ),
    "config": ("Check a configuration or print the documented example.", "calsync config check"),
    "config check": (
        "Validate a configuration and list every problem at once with its key: the schema and "
        "everything sync and apply would refuse (file modes, private-network URLs, "
        "cross-references, the daily cap), with did-you-mean for keys and time zones.",
        "calsync config check ~/.config/calsync/config.toml",
    ),
    "config example": (
        "Print the documented example configuration, generated from the schema.",
        "calsync config example > config.toml",
    ),
    "status": (
        "Whether the service runs (pid, since, heartbeat), each source's and target's health, "
        "the last cycle and next jobs, and the learning progress.",
        "calsync status --json",
    ),
    "heatmap": (
        "A task type's 168-slot habit array (or the energy array) as a week grid, hours on "
        "your wall clock.",
        "calsync heatmap 'Deep Coding' --week-start sunday",
    ),
    "record": (
        "Record one completed task by hand (idempotent: the same key twice changes nothing).",
        "calsync record 'Deep Coding' 2026-11-24T09:30 --success 0.9",
    ),
    "sync": (
        "Poll every configured calendar source once and learn from what passed.",
        "calsync sync --source team",
    ),
    "auth": ("Authorize calsync for a calendar service.", "calsync auth google"),
    "auth google": (
        "OAuth for a Google source, scope calendar.events; the token is stored with mode 0600.",
        "calsync auth google --source google --headless",
    ),
    "plan": (
        "Show the blocks calsync would write, every move and removal by title and time, and "
        "why a task type gets no (or too few) blocks; writes nothing.",
        "calsync plan --target blocks",
    ),
    "apply": ("Plan and write the suggested blocks to the targets.", "calsync apply"),
    "purge": (
        "Remove every block this installation wrote (and nothing else), listing them, and "
        "pause the targets until `calsync resume`.",
        "calsync purge --target blocks --yes",
    ),
    "resume": (
        "Let calsync write blocks again to targets a purge paused.",
        "calsync resume --target blocks",
    ),
    "run": (
        "The service: polls the sources, learns, plans and writes back on a schedule "
        "(systemd Type=notify); --once runs one full cycle and shows what it learned.",
        "calsync run --once",
    ),
    "web": (
        "Serve the local web view (heatmaps, plan, notes, health) and /metrics.",
        "calsync web --port 8765",
    ),
    "forget": (
        "Forget a source: its events, sync state, completions and notes; the arrays are "
        "recomputed from what remains. --demo removes the demo's state directory.",
        "calsync forget --source sample",
    ),
    "note": (
        "Store your own words as an insight (the interpreter reads them).",
        'calsync note "Tuesday mornings are my sweet spot"',
    ),
    "insights": (
        "List the stored insights, optionally finding new ones in your own outcomes first.",
        "calsync insights --generate",
    ),
    "sync-llm": (
        "Turn insights into slot adjustments with the interpreter (every 6 h, or --now).",
        "calsync sync-llm --now",
    ),
    "demo": (
        "Simulate weeks of a made-up person's history in a scratch database and show what "
        "calsync learns; nothing reaches your state.",
        "calsync demo --weeks 6",
    ),
    "completion": (
        "Print the shell completion script, generated from this parser.",
        "calsync completion bash > ~/.local/share/bash-completion/completions/calsync",
    ),
    "man": (
        "Print the man page (roff), generated from this parser.",
        "calsync man | man -l -",
    ),
}

#: The environment variables calsync reads (the man page's ENVIRONMENT).
ENVIRONMENT: dict[str, str] = {
    "CALSYNC_CONFIG": "The configuration file when --config is not given.",
    "CONFIGURATION_DIRECTORY": "systemd's configuration directory (config.toml in it).",
    "STATE_DIRECTORY": "systemd's state directory (the database and status files).",
    "XDG_CONFIG_HOME": "Where calsync/config.toml is looked for (default ~/.config).",
    "XDG_STATE_HOME": "Where calsync/ keeps its state (default ~/.local/state).",
    "NO_COLOR": "Set: no colour in heatmaps (--color auto).",
}


def cmd_completion(args: argparse.Namespace) -> int:
    """Print the shell completion script."""
    from calsync.shell import completion

    sys.stdout.write(completion(build_parser(), args.shell))
    return 0


def cmd_man(args: argparse.Namespace) -> int:
    """Print the man page."""
    from calsync.shell import man_page

    sys.stdout.write(man_page(build_parser(), __version__, ENVIRONMENT))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="calsync",
        description=(
            "Learns when you do each kind of work best and suggests blocks in your calendar."
        ),
    )
    parser.add_argument("--version", action="version", version=f"calsync {__version__}")
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        help="configuration file (default: $XDG_CONFIG_HOME/calsync/config.toml, "
        "else the embedded default)",
    )
    parser.add_argument("--state-dir", type=Path, help="override state_dir from the configuration")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only results and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("init", help="write a commented starter configuration")
    p.add_argument("path", nargs="?", type=Path, help="where (default: --config or the XDG path)")
    p.add_argument("--timezone", help="IANA time zone to put in [user] (default: this machine's)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_init)

    config = sub.add_parser("config", help="check or show configuration")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    p = config_sub.add_parser("check", help="validate a configuration file")
    p.add_argument(
        "path", nargs="?", type=Path, help="file to check (default: --config or XDG path)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_config_check)
    p = config_sub.add_parser("example", help="print the documented example configuration")
    p.set_defaults(func=cmd_config_example)

    p = sub.add_parser(
        "status", help="show whether the service runs, each source's and target's health, progress"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--user", help="user id (default: [user] id)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("heatmap", help="show a task type's week as a coloured grid")
    p.add_argument("task", metavar="TASK", help="task type name, or 'energy'")
    p.add_argument("--png", type=Path, metavar="FILE", help="draw it as a PNG (calsync[plot])")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--week-start",
        choices=["monday", "sunday"],
        help="first row of the grid (default: user.week_start, Monday)",
    )
    p.add_argument("--user", help="user id (default: [user] id)")
    p.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the grid (auto: when writing to a terminal and NO_COLOR is unset)",
    )
    p.set_defaults(func=cmd_heatmap)

    p = sub.add_parser("record", help="record a completed task by hand")
    p.add_argument("task", metavar="TASK", help="task type name")
    p.add_argument(
        "start",
        metavar="START",
        help="ISO start, e.g. 2026-11-24T09:00 (in user.timezone unless an offset is given)",
    )
    p.add_argument("--success", type=float, help="0-1 (default: learning.default_success)")
    p.add_argument("--energy", type=float, help="energy afterwards, 0-1")
    p.add_argument("--key", help="idempotency key (default: task type and start)")
    p.add_argument("--user", help="user id (default: [user] id)")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("sync", help="poll the calendar sources once and learn from them")
    p.add_argument("--source", help="only this source")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_sync)

    auth = sub.add_parser("auth", help="authorize calsync for a calendar service")
    auth_sub = auth.add_subparsers(dest="service", metavar="SERVICE", required=True)
    p = auth_sub.add_parser("google", help="OAuth for a Google source (scope calendar.events)")
    p.add_argument("--source", help="which Google source (needed when there are several)")
    p.add_argument(
        "--headless", action="store_true", help="copy-paste flow for a machine without a browser"
    )
    p.add_argument("--no-browser", action="store_true", help="print the URL instead of opening it")
    p.set_defaults(func=cmd_auth_google)

    p = sub.add_parser("plan", help="show the blocks calsync would write, and why (writes nothing)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--target", help="only this target")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("apply", help="plan and write the suggested blocks to the targets")
    p.add_argument("--target", help="only this target")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_apply)

    p = sub.add_parser("purge", help="remove every block calsync wrote (and nothing else)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--target", help="only this target")
    p.add_argument(
        "--all-installations",
        action="store_true",
        help="also remove blocks other calsync installations wrote (and malformed ones)",
    )
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("resume", help="write blocks again to targets `calsync purge` paused")
    p.add_argument("--target", help="only this target")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser(
        "run", help="run the service (systemd Type=notify), or one cycle with --once"
    )
    p.add_argument("--once", action="store_true", help="one full cycle, then exit")
    p.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the heatmap of --once (auto: on a terminal without NO_COLOR)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("web", help="serve the web view and /metrics (default 127.0.0.1:8765)")
    p.add_argument("--host", help="address to bind (default: [web] host, 127.0.0.1)")
    p.add_argument("--port", type=_port, help="port, 1-65535 (default: [web] port, 8765)")
    p.set_defaults(func=cmd_web)

    p = sub.add_parser(
        "forget", help="forget a source: its events and everything learned from them"
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--source", metavar="NAME", help="the source to forget")
    which.add_argument("--demo", action="store_true", help="remove the demo's state directory")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_forget)

    p = sub.add_parser("note", help='store your own words: calsync note "I crash after lunch"')
    p.add_argument("text", nargs="+", metavar="TEXT")
    p.add_argument("--user", help="user id (default: [user] id)")
    p.set_defaults(func=cmd_note)

    p = sub.add_parser("insights", help="list stored insights")
    p.add_argument("--generate", action="store_true", help="find new ones in behaviour first")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--user", help="user id (default: [user] id)")
    p.set_defaults(func=cmd_insights)

    p = sub.add_parser("sync-llm", help="turn insights into slot adjustments (every 6 h)")
    p.add_argument("--now", action="store_true", help="run even if the last sync is recent")
    p.set_defaults(func=cmd_sync_llm)

    p = sub.add_parser("demo", help="simulate weeks of history and show what calsync learns")
    p.add_argument(
        "--weeks", type=_positive, default=4, help="weeks of history, 1-52 (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=7, help="random seed (default: %(default)s)")
    p.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the grid (auto: when writing to a terminal and NO_COLOR is unset)",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("completion", help="print the shell completion script (bash, zsh, fish)")
    p.add_argument(
        "shell", choices=["bash", "zsh", "fish"], metavar="SHELL", help="bash, zsh or fish"
    )
    p.set_defaults(func=cmd_completion)

    p = sub.add_parser("man", help="print the man page (roff)")
    p.set_defaults(func=cmd_man)

    from calsync.shell import document

    document(parser, COMMAND_DOCS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config is None and os.environ.get("CALSYNC_CONFIG"):
        args.config = Path(os.environ["CALSYNC_CONFIG"]).expanduser()
    # The service logs its cycles (journald keeps them); commands stay quiet.
    service = args.command == "run" and not getattr(args, "once", False)
    _configure_logging(args.verbose, args.quiet, service)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except BrokenPipeError:
        # The reader went away (`calsync status | head`): not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except CalsyncError as err:
        # The last line of defence: whatever a message quotes, it is bounded and printable.
        print(f"calsync: error: {terminal(str(err))}", file=sys.stderr)
        return err.exit_code
    except EOFError:
        # input() at the end of stdin (`calsync auth google --headless < /dev/null`).
        print(
            "calsync: error: the input ended before an answer was given "
            "(run it in a terminal, or pipe the answer in)",
            file=sys.stderr,
        )
        return InputError.exit_code
    except KeyboardInterrupt:
        print("calsync: interrupted", file=sys.stderr)
        return 130
