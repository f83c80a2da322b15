"""CalDAV calendars (Nextcloud, Fastmail, Radicale…) through the ``caldav`` library.

Reading: the principal's calendars — all of them, or those whose display name
or URL is listed in ``calendars`` — are searched with a time-range REPORT for
the window (``days_back`` days before today to ``days_ahead`` days after, in
whole days of the user's zone). Recurrences are expanded on the client
(RRULE, RDATE, EXDATE, RECURRENCE-ID overrides, across DST changes),
cancelled instances are dropped, and every occurrence is converted by
:func:`calsync.sources.ical.component_to_event`, as for ICS feeds; the
calendar's display name becomes ``Event.calendar``. A UID found in two
calendars of one source is kept once (the first calendar listed wins), so
occurrence keys stay unique.

Change detection uses sync-collection tokens (RFC 6578). Because occurrences
are expanded and the window moves, a poll answers either "nothing changed" or
the whole window — never a partial, possibly wrong, diff:

* The cursor (JSON) records the window it was listed for and, per calendar
  URL, its display name and sync token. Each token is taken *before* that
  calendar is searched, so a change racing the search is reported by the next
  poll rather than lost.
* A poll lists the calendars and sends each stored token in a
  sync-collection REPORT that carries no calendar data. When no calendar
  changed, the calendar set and names are the same and the window has not
  moved (same day), the result is an empty *incremental* one with the cursor:
  no event data crosses the wire.
* Otherwise — first poll, any change, a new day, another calendar set or
  name, an unreadable cursor, an expired or invalid token, a server without
  sync support — the window is searched again and a *full* result returned
  with fresh tokens; the caller reconciles deletions against its mirror.
  None of these is an error.

Errors are translated at this boundary: connection failures, timeouts, 429
and 5xx raise :class:`~calsync.errors.TransientSourceError`; 401/403 raise
:class:`~calsync.errors.AuthError`; other DAV errors and unparsable data raise
:class:`~calsync.errors.SourceError`.

The password comes from ``password`` or from ``password_file``, which must be
the user's own and closed to group and others (mode 0600); a file others can
read is refused before anything is read from it. ``auth_type`` is pinned to
basic when a user name is given (no extra round trip to negotiate it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from caldav.davclient import DAVClient
from caldav.elements import dav
from caldav.lib import error as dav_error
from caldav.lib.http_sync import requests as http
from lxml import etree

from calsync.clock import Clock
from calsync.config import CaldavSourceConfig
from calsync.errors import (
    AuthError,
    CalsyncError,
    ConfigError,
    ConfigProblem,
    SourceError,
    TransientSourceError,
    network_reason,
)
from calsync.model import Event
from calsync.secrets import UnsafeSecretError, read_private_file
from calsync.sources.base import FetchResult
from calsync.sources.ical import component_to_event
from calsync.text import quote

logger = logging.getLogger(__name__)

_CURSOR_VERSION = 1
_MAX_PASSWORD_BYTES = 64 * 1024


def make_client(
    url: str, username: str | None, password: str | None, timeout: float
) -> DAVClient:
    """A CalDAV client (shared with the target); it makes no request yet."""
    return DAVClient(
        url=url,
        username=username,
        password=password,
        # Pinned: negotiating the scheme cost an extra round trip (~1 s) per session.
        auth_type="basic" if username else None,
        timeout=timeout,  # type: ignore[arg-type]  # a float works; the hint says int
        enable_rfc6764=False,  # the URL is given: no DNS service discovery
    )


def checked_password(config: CaldavSourceConfig) -> str | None:
    """The password of a CalDAV source, after checking its URL (shared with the target).

    Raises:
        ConfigError: the URL is not http(s), or ``password_file`` cannot be used.

    """
    parts = urlsplit(config.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            "<config>",
            [
                ConfigProblem(
                    f"sources.{config.name}.url",
                    f"must be an http:// or https:// URL, got {parts.scheme or 'none'!r}",
                )
            ],
        )
    if config.password_file is not None:
        return read_password_file(config.password_file, config.name)
    if config.password_command is not None:
        return run_password_command(config.password_command, config.name)
    if config.password_keyring is not None:
        assert config.username is not None  # the configuration checks it
        return keyring_password(config.password_keyring, config.username, config.name)
    return config.password


def keyring_password(service: str, username: str, source: str) -> str:
    """The password stored in the system keyring (``calsync[keyring]``), never logged.

    Raises:
        ConfigError: keyring is not installed, fails, or holds no such password.

    """
    key = f"sources.{source}.password_keyring"
    try:
        import keyring
    except ImportError as err:
        raise ConfigError(
            "<config>", [ConfigProblem(key, "needs keyring: pip install 'calsync[keyring]'")]
        ) from err
    try:
        password = keyring.get_password(service, username)
    except Exception as err:  # any backend failure (locked, no backend) is this source's problem
        raise ConfigError(
            "<config>", [ConfigProblem(key, f"the keyring failed: {quote(err, 200)}")]
        ) from err
    if not password:
        raise ConfigError(
            "<config>",
            [
                ConfigProblem(
                    key,
                    f"no password for {quote(username, 100)} in keyring service "
                    f"{quote(service, 100)} (`keyring set {quote(service, 100)} "
                    f"{quote(username, 100)}` stores it)",
                )
            ],
        )
    return str(password)


#: How long a ``password_command`` may take (a keyring prompt, ``pass`` with gpg-agent).
PASSWORD_COMMAND_SECONDS = 60.0


def run_password_command(argv: list[str], source: str) -> str:
    """The first line a source's ``password_command`` prints (no shell; never logged).

    Raises:
        ConfigError: the command cannot be run, fails, times out or prints nothing
            (its error output quoted, bounded, never its standard output).

    """
    import subprocess

    key = f"sources.{source}.password_command"
    try:
        done = subprocess.run(  # noqa: S603 - the user's own command, as argv, no shell
            argv,
            capture_output=True,
            timeout=PASSWORD_COMMAND_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as err:
        raise ConfigError(
            "<config>", [ConfigProblem(key, f"command not found: {quote(argv[0], 200)}")]
        ) from err
    except subprocess.TimeoutExpired as err:
        raise ConfigError(
            "<config>",
            [ConfigProblem(key, f"gave no password within {PASSWORD_COMMAND_SECONDS:g} s")],
        ) from err
    except OSError as err:
        raise ConfigError(
            "<config>", [ConfigProblem(key, f"cannot run {quote(argv[0], 200)}: {err.strerror}")]
        ) from err
    if done.returncode != 0:
        said = quote(done.stderr.decode("utf-8", "replace").strip(), 200)
        raise ConfigError(
            "<config>",
            [ConfigProblem(key, f"exited with {done.returncode}" + (f": {said}" if said else ""))],
        )
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    if not lines or not lines[0]:
        raise ConfigError("<config>", [ConfigProblem(key, "printed no password")])
    return lines[0]


def read_password_file(path: Path, source: str) -> str:
    """Read the password of source ``source`` from ``path``.

    The file must be private (see :func:`calsync.secrets.read_private_file`).
    One trailing line break is not part of the password.

    Raises:
        ConfigError: the file is missing, unreadable, not the user's own,
            open to others, empty or not UTF-8 (key
            ``sources.<source>.password_file``).

    """
    key = f"sources.{source}.password_file"

    def problem(reason: str) -> ConfigError:
        return ConfigError("<config>", [ConfigProblem(key, reason)])

    try:
        data = read_private_file(path, _MAX_PASSWORD_BYTES)
    except UnsafeSecretError as err:
        raise problem(str(err)) from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise problem(f"{path} is not UTF-8 text") from err
    password = text.removesuffix("\n").removesuffix("\r")
    if not password:
        raise problem(f"{path} is empty")
    return password


@dataclass(frozen=True)
class _Window:
    """The searched time range: whole days in the user's zone."""

    start: datetime
    end: datetime
    key: str


@dataclass(frozen=True)
class _CalendarState:
    name: str
    token: str | None


@dataclass(frozen=True)
class _Cursor:
    """What the last full listing saw: its window and each calendar's name and token."""

    window: str
    calendars: dict[str, _CalendarState]

    @classmethod
    def load(cls, text: str | None) -> _Cursor | None:
        """Parse a cursor; ``None`` when absent or unusable (a full listing follows)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            if data.get("version") != _CURSOR_VERSION:
                return None
            window, raw = data["window"], data["calendars"]
            if not isinstance(window, str) or not isinstance(raw, dict):
                return None
            calendars = {}
            for url, item in raw.items():
                name, token = item["name"], item.get("token")
                if not isinstance(name, str) or not isinstance(token, str | None):
                    return None
                calendars[url] = _CalendarState(name, token)
        except (ValueError, AttributeError, KeyError, TypeError):
            return None
        return cls(window, calendars)

    def dump(self) -> str:
        """The cursor as JSON text (stable: equal cursors give equal text)."""
        calendars = {
            url: {"name": state.name, "token": state.token} for url, state in self.calendars.items()
        }
        return json.dumps(
            {"version": _CURSOR_VERSION, "window": self.window, "calendars": calendars},
            sort_keys=True,
        )


@dataclass(frozen=True)
class _Calendar:
    """One calendar collection on the server."""

    url: str
    name: str
    handle: Any  # caldav.Calendar


def _matches(calendar: _Calendar, wanted: str) -> bool:
    """True when ``wanted`` is the calendar's display name, URL or URL path."""
    if wanted == calendar.name:
        return True
    target = wanted.rstrip("/")
    return target in (calendar.url.rstrip("/"), urlsplit(calendar.url).path.rstrip("/"))


def _server_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, without any user name or password."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


class CaldavSource:
    """The calendars of one CalDAV account.

    Args:
        name: The source's name (part of every occurrence key).
        tz: The user's zone: window days and floating times.
        clock: Time source for the window.
        url: http(s) URL of the server or of the principal.
        username: User name (``None``: no authentication).
        password: Password.
        calendars: Display names or URLs of the calendars to read (empty: all).
        days_back: Read from this many days before today…
        days_ahead: …to this many days after today.
        timeout: Network timeout per request, in seconds.

    """

    def __init__(
        self,
        name: str,
        tz: tzinfo,
        clock: Clock,
        *,
        url: str,
        username: str | None = None,
        password: str | None = None,
        calendars: Sequence[str] = (),
        days_back: int = 60,
        days_ahead: int = 14,
        timeout: float = 30.0,
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SourceError(f"source {name!r}: the CalDAV url must be an http(s) URL")
        self.name = name
        self._tz = tz
        self._clock = clock
        self._server = _server_of(url)
        self._wanted = list(calendars)
        self._days_back = days_back
        self._days_ahead = days_ahead
        self._client = make_client(url, username, password, timeout)
        self._principal: Any = None

    @classmethod
    def from_config(cls, config: CaldavSourceConfig, tz: tzinfo, clock: Clock) -> CaldavSource:
        """Build the source of a ``[[sources]]`` entry of type ``caldav``.

        Raises:
            ConfigError: the URL is not http(s), or ``password_file`` cannot
                be used (see :func:`read_password_file`).

        """
        password = checked_password(config)
        return cls(
            config.name,
            tz,
            clock,
            url=config.url,
            username=config.username,
            password=password,
            calendars=config.calendars,
            days_back=config.days_back,
            days_ahead=config.days_ahead,
            timeout=config.timeout_seconds,
        )

    def close(self) -> None:
        """Close the HTTP session (the source reconnects if used again)."""
        self._principal = None
        self._client.close()

    # ------------------------------------------------------------------ fetching

    def fetch(self, cursor: str | None) -> FetchResult:
        """Nothing (incremental) when no calendar changed, else the whole window (full)."""
        previous = _Cursor.load(cursor)
        if cursor is not None and previous is None:
            logger.info("%s: unreadable cursor; listing the whole window", self.name)
        try:
            return self._fetch(previous, self._window())
        except CalsyncError:
            self._principal = None
            raise
        except Exception as err:
            self._principal = None  # look the principal up again next time
            translated = self._translate(err)
            if translated is None:
                raise
            raise translated from err

    def _window(self) -> _Window:
        today = self._clock.now().astimezone(self._tz).date()
        start = datetime.combine(today - timedelta(days=self._days_back), time(), tzinfo=self._tz)
        end = datetime.combine(
            today + timedelta(days=self._days_ahead + 1), time(), tzinfo=self._tz
        )
        return _Window(start, end, f"{start.isoformat()}/{end.isoformat()}/{self._tz}")

    def _fetch(self, previous: _Cursor | None, window: _Window) -> FetchResult:
        calendars = self._calendars()
        tokens: dict[str, str | None] = {}
        names = {c.url: c.name for c in calendars}
        if (
            previous is not None
            and previous.window == window.key
            and {url: s.name for url, s in previous.calendars.items()} == names
        ):
            changed = []
            for calendar in calendars:
                was_changed, tokens[calendar.url] = self._changes_since(
                    calendar, previous.calendars[calendar.url].token
                )
                if was_changed:
                    changed.append(calendar.name)
            if not changed:
                logger.debug("%s: no change in %d calendar(s)", self.name, len(calendars))
                state = {c.url: _CalendarState(c.name, tokens[c.url]) for c in calendars}
                return FetchResult(events=[], cursor=_Cursor(window.key, state).dump())
            logger.info(
                "%s: %s changed (or had no usable sync token); listing the window",
                self.name,
                ", ".join(changed),
            )
        elif previous is not None:
            logger.info("%s: new day or other calendars; listing the window", self.name)

        events: dict[str, Event] = {}
        state = {}
        for calendar in calendars:
            # The token is taken before the search: a change in between shows next time.
            token = tokens.get(calendar.url) or self._current_token(calendar)
            state[calendar.url] = _CalendarState(calendar.name, token)
            for event in self._search(calendar, window):
                if events.setdefault(event.occurrence_key, event) is not event:
                    logger.debug(
                        "%s: %s also in calendar %s; kept once",
                        self.name,
                        event.occurrence_key,
                        calendar.name,
                    )
        logger.info(
            "%s: %d occurrence(s) in %d calendar(s)", self.name, len(events), len(calendars)
        )
        return FetchResult(
            events=list(events.values()), cursor=_Cursor(window.key, state).dump(), full=True
        )

    def _calendars(self) -> list[_Calendar]:
        """The calendars to read, in the server's order."""
        if self._principal is None:
            self._principal = self._client.get_principal()
        found = []
        for handle in self._principal.get_calendars():
            url = str(handle.url)
            name = handle.get_display_name() or url.rstrip("/").rsplit("/", 1)[-1]
            found.append(_Calendar(url, str(name), handle))
        if not self._wanted:
            return found
        missing = [w for w in self._wanted if not any(_matches(c, w) for c in found)]
        if missing:
            known = ", ".join(repr(c.name) for c in found) or "none"
            raise SourceError(
                f"{self.name}: no calendar {', '.join(map(repr, missing))} on the server "
                f"(its calendars: {known}); fix `calendars` of this source"
            )
        return [c for c in found if any(_matches(c, w) for w in self._wanted)]

    def _changes_since(self, calendar: _Calendar, token: str | None) -> tuple[bool, str | None]:
        """Ask whether ``calendar`` changed since ``token``; also return its current token.

        ``(True, None)`` when the token cannot be used (none stored, expired,
        invalid, or no sync support): the caller lists the window.
        """
        if token is None:
            return True, None
        try:
            result = calendar.handle.get_objects_by_sync_token(
                sync_token=token, load_objects=False, disable_fallback=True
            )
        except dav_error.RateLimitError:
            raise
        except dav_error.DAVError as err:
            if dav.ValidSyncToken.tag in err.preconditions:
                logger.info(
                    "%s: the sync token of calendar %s expired; listing the window",
                    self.name,
                    calendar.name,
                )
            else:
                # No sync support, or a failure the full listing will report if it persists.
                logger.debug("%s: sync-collection of %s failed: %s", self.name, calendar.name, err)
            return True, None
        changed = bool(result.objects or result.deleted_urls)
        return changed, str(result.sync_token) if result.sync_token else None

    def _current_token(self, calendar: _Calendar) -> str | None:
        """The calendar's DAV:sync-token, or ``None`` when the server has none."""
        try:
            token = calendar.handle.get_property(dav.SyncToken())
        except dav_error.RateLimitError:
            raise
        except dav_error.DAVError as err:
            logger.debug("%s: no sync token for %s: %s", self.name, calendar.name, err)
            return None
        return str(token) if token else None

    def _search(self, calendar: _Calendar, window: _Window) -> list[Event]:
        """Every occurrence in ``calendar`` overlapping the window, expanded."""
        found = calendar.handle.search(start=window.start, end=window.end, event=True, expand=True)
        events = []
        for item in found:
            components = list(item.get_icalendar_instance().walk("VEVENT"))
            recurring = {str(c.get("UID", "")) for c in components if "RECURRENCE-ID" in c}
            for component in components:
                event = component_to_event(
                    component,
                    source=self.name,
                    calendar=calendar.name,
                    tz=self._tz,
                    recurring=recurring,
                )
                if event is not None:
                    events.append(event)
        return events

    def _translate(self, err: Exception) -> SourceError | None:
        """The calsync error for a library error; ``None`` for an unexpected one."""
        where = f"{self.name}: CalDAV server {self._server}"
        if isinstance(err, dav_error.AuthorizationError):
            return AuthError(
                f"{where} refused access (HTTP {err.status or '401/403'}); "
                "check the username and password (or password_file) of this source, and its url"
            )
        if isinstance(err, dav_error.RateLimitError):
            return TransientSourceError(f"{where} asks to slow down (HTTP {err.status or 429})")
        if isinstance(err, dav_error.DAVError):
            if err.status is not None and err.status >= 500:
                return TransientSourceError(f"{where} failed (HTTP {err.status}): {err.reason}")
            if isinstance(err, dav_error.NotFoundError):
                return SourceError(f"{where}: not found ({err.reason}); check the url")
            return SourceError(f"{where}: {err}")
        if isinstance(err, http.exceptions.Timeout):
            return TransientSourceError(f"{where} timed out")
        if isinstance(err, http.exceptions.ConnectionError):
            return TransientSourceError(f"{where} cannot be reached: {network_reason(err)}")
        if isinstance(err, http.exceptions.RequestException):
            return SourceError(f"{where}: {network_reason(err)}")
        if isinstance(err, OSError):
            return TransientSourceError(f"{where} cannot be reached: {network_reason(err)}")
        if isinstance(err, ValueError | KeyError | IndexError | TypeError | etree.LxmlError):
            return SourceError(f"{where} sent data that cannot be read: {err}")
        return None
