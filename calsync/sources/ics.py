"""ICS feeds, from a URL or a file.

* URLs: ``http`` and ``https`` only, fetched by
  :func:`calsync.sources.http_fetch.fetch_url`. Before every request — the
  first and each redirect hop — the host name is resolved *once* and every
  address checked: loopback, private (RFC 1918, ULA), link-local, CGNAT,
  multicast, reserved, documentation, Teredo, and the IPv4-mapped, 6to4 and
  NAT64 forms of private addresses are refused unless the source sets
  ``allow_private_network``; the connection then goes to the checked address
  (DNS rebinding cannot move it), with the host name in ``Host``, SNI and the
  certificate check. Conditional GET (``ETag`` / ``Last-Modified``); a 304
  or a body whose SHA-256 did not change costs no parse. The body is capped
  (default 20 MB), and ``timeout`` is one deadline for the whole fetch.
* Files: regular files only (a device, FIFO or directory is refused), read
  up to the same cap.
* Parsing is bounded and isolated (:mod:`calsync.sources.ics_parse`): the
  body is split into components at byte level, each series (a UID's master
  and overrides) is parsed and expanded on its own with
  recurring-ical-events (RRULE, RDATE, EXDATE, RECURRENCE-ID overrides) under
  a per-series occurrence cap and time budget, in a child process with a
  memory cap and a wall deadline that a shutdown cancels; cancelled
  instances are dropped; a broken series or component is skipped (logged
  with its UID) and the rest of the feed is learned; X-WR-TIMEZONE feeds are
  normalized.
* A changed feed yields a *full* result for the configured window; an
  unchanged one an empty incremental result with the same cursor. A malformed
  feed raises :class:`~calsync.errors.SourceError`, and the caller keeps the
  last good state.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from pathlib import Path
from urllib.parse import urlsplit

from calsync.clock import Clock
from calsync.errors import SourceError, TransientSourceError
from calsync.files import read_regular_file
from calsync.model import Event
from calsync.sources.base import FetchResult
from calsync.sources.http_fetch import Resolver as Resolver
from calsync.sources.http_fetch import UrlPolicy as UrlPolicy
from calsync.sources.http_fetch import fetch_url
from calsync.sources.http_fetch import is_public_address as is_public_address
from calsync.sources.http_fetch import resolve_host as resolve_host
from calsync.sources.ics_parse import (
    FeedRequest,
    ParseLimits,
    ParseStats,
    parse_feed,
    parse_isolated,
)

logger = logging.getLogger(__name__)

#: Longest ETag / Last-Modified kept for the next conditional GET.
_MAX_VALIDATOR = 1024


@dataclass(frozen=True)
class _Cursor:
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None
    #: The local day the window was last expanded on; a new day moves the window.
    day: str | None = None

    @classmethod
    def load(cls, text: str | None) -> _Cursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            return cls(
                data.get("etag"), data.get("last_modified"), data.get("sha256"), data.get("day")
            )
        except (ValueError, AttributeError):
            return cls()

    def dump(self) -> str:
        return json.dumps(
            {
                "etag": self.etag,
                "last_modified": self.last_modified,
                "sha256": self.sha256,
                "day": self.day,
            }
        )


class IcsSource:
    """An ICS feed read from ``url`` or ``path``.

    Args:
        name: The source's name (part of every occurrence key).
        tz: The user's zone, for floating times.
        clock: Time source for the expansion window.
        url: An http(s) URL, or ``None``.
        path: A local file, or ``None`` (exactly one of ``url`` and ``path``).
        days_back: Expand occurrences from this many days ago…
        days_ahead: …to this many days ahead.
        max_bytes: Largest body accepted.
        timeout: Request timeout in seconds.
        policy: URL policy (private networks, resolver).
        calendar: Calendar label put on every event (default: ``name``).
        limits: Bounds of the parse (default: the configuration's defaults).
        isolate: Parse in a child process (memory cap, killable); ``False``
            parses in this process (tests), with the same results.

    """

    def __init__(
        self,
        name: str,
        tz: tzinfo,
        clock: Clock,
        *,
        url: str | None = None,
        path: Path | None = None,
        days_back: int = 60,
        days_ahead: int = 14,
        max_bytes: int = 20_000_000,
        timeout: float = 30.0,
        policy: UrlPolicy | None = None,
        calendar: str | None = None,
        limits: ParseLimits | None = None,
        isolate: bool = True,
    ):
        if (url is None) == (path is None):
            raise SourceError(f"source {name!r}: give exactly one of url and path")
        self.name = name
        self._tz = tz
        self._clock = clock
        self._url = url
        self._path = path
        self._days_back = days_back
        self._days_ahead = days_ahead
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._policy = policy or UrlPolicy()
        self._calendar = calendar or name
        self._limits = limits or ParseLimits.defaults()
        self._isolate = isolate
        #: How the last parse went (``None`` before the first).
        self.last_parse: ParseStats | None = None
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            # Refuse file:, ftp: … at once; addresses are checked on every fetch.
            self._policy.check(url)

    def close(self) -> None:
        """Nothing to release: every fetch opens and closes its own connection."""

    # ------------------------------------------------------------------ reading

    def _read_path(self) -> bytes:
        assert self._path is not None
        try:
            return read_regular_file(self._path, self._max_bytes)
        except SourceError as err:
            raise SourceError(f"{self.name}: {err}") from err

    def _read_url(self, cursor: _Cursor) -> tuple[bytes | None, _Cursor]:
        assert self._url is not None
        headers = {"User-Agent": "calsync"}
        if cursor.etag:
            headers["If-None-Match"] = cursor.etag
        if cursor.last_modified:
            headers["If-Modified-Since"] = cursor.last_modified
        try:
            response = fetch_url(
                self._url,
                self._policy,
                headers=headers,
                max_bytes=self._max_bytes,
                deadline_seconds=self._timeout,
            )
        except SourceError as err:  # TransientSourceError stays transient
            raise type(err)(f"{self.name}: {err}") from err
        status = response.status
        if status == 304:
            return None, cursor
        if not 200 <= status < 300:
            if status == 429 or status >= 500:
                raise TransientSourceError(f"{self.name}: HTTP {status} from the feed")
            raise SourceError(f"{self.name}: HTTP {status} from the feed")
        etag = response.headers.get("ETag")
        modified = response.headers.get("Last-Modified")
        return response.body, _Cursor(
            etag if etag and len(etag) <= _MAX_VALIDATOR else None,
            modified if modified and len(modified) <= _MAX_VALIDATOR else None,
            cursor.sha256,
        )

    def fetch(self, cursor: str | None) -> FetchResult:
        """Read the feed; parse and expand it only when it or the window's day changed.

        The window moves with the day, so on a new day the feed is fetched
        without validators and expanded again: occurrences that came into
        the window appear even when the feed itself did not change.
        """
        today = self._clock.now().astimezone(self._tz).date().isoformat()
        previous = _Cursor.load(cursor)
        if previous.day != today:
            previous = _Cursor()
        if self._url is not None:
            body, fresh = self._read_url(previous)
        else:
            body, fresh = self._read_path(), previous
        if body is None:
            logger.debug("%s: not modified", self.name)
            return FetchResult(events=[], cursor=previous.dump())
        digest = hashlib.sha256(body).hexdigest()
        fresh = _Cursor(fresh.etag, fresh.last_modified, digest, today)
        if digest == previous.sha256:
            logger.debug("%s: body unchanged", self.name)
            return FetchResult(events=[], cursor=fresh.dump())
        events = self.parse(body)
        logger.info("%s: %d occurrence(s) in the window", self.name, len(events))
        return FetchResult(events=events, cursor=fresh.dump(), full=True)

    # ------------------------------------------------------------------ parsing

    def parse(self, body: bytes) -> list[Event]:
        """Parse an ICS body and expand it over the window into events.

        Bounded by the source's limits; in a child process unless the source
        was built with ``isolate=False``. A broken component or series is
        skipped with a warning naming its UID.

        Raises:
            SourceError: the body is not a usable iCalendar container, or a
                feed-wide limit (components, time, memory) was exceeded.

        """
        now = self._clock.now()
        request = FeedRequest(
            body=body,
            source=self.name,
            calendar=self._calendar,
            tz=self._tz,
            start=(now - timedelta(days=self._days_back)).astimezone(self._tz),
            end=(now + timedelta(days=self._days_ahead)).astimezone(self._tz),
            limits=self._limits,
        )
        result = parse_isolated(request) if self._isolate else parse_feed(request)
        self.last_parse = result.stats
        return result.events
