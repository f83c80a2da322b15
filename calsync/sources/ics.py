"""ICS feeds, from a URL or a file.

* URLs: ``http`` and ``https`` only. Before every request — the first and
  each redirect hop — the host's addresses are resolved and checked: loopback,
  private (RFC 1918, ULA), link-local, CGNAT, multicast, reserved and
  IPv4-mapped forms of those are refused unless the source sets
  ``allow_private_network``. Conditional GET (``ETag`` / ``Last-Modified``);
  a 304 or a body whose SHA-256 did not change costs no parse. The body is
  capped (default 20 MB) and the request has a timeout.
* Recurrences are expanded with recurring-ical-events (RRULE, RDATE, EXDATE,
  RECURRENCE-ID overrides); cancelled instances are dropped; a broken series
  is skipped (logged with its UID); X-WR-TIMEZONE feeds are normalized.
* A changed feed yields a *full* result for the configured window; an
  unchanged one an empty incremental result with the same cursor. A malformed
  feed raises :class:`~calsync.errors.SourceError`, and the caller keeps the
  last good state.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from email.message import Message
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import icalendar
import recurring_ical_events
import x_wr_timezone

from calsync.clock import Clock
from calsync.errors import SourceError, TransientSourceError
from calsync.model import Event
from calsync.sources.base import FetchResult
from calsync.sources.ical import component_to_event

logger = logging.getLogger(__name__)

_CGNAT = ipaddress.ip_network("100.64.0.0/10")

#: Answers the addresses a host name resolves to (injectable for tests).
Resolver = Callable[[str], list[str]]


def resolve_host(host: str) -> list[str]:
    """Every address ``host`` resolves to."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise TransientSourceError(f"cannot resolve {host}: {err}") from err
    return sorted({str(info[4][0]) for info in infos})


def is_public_address(address: str) -> bool:
    """True when ``address`` is a public unicast address."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


@dataclass(frozen=True)
class UrlPolicy:
    """Which URLs an ICS source may fetch."""

    allow_private_network: bool = False
    resolver: Resolver = resolve_host

    def check(self, url: str) -> None:
        """Raise :class:`SourceError` when ``url`` may not be fetched."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise SourceError(
                f"only http and https URLs are allowed, not {parts.scheme or 'none'!r}"
            )
        if not parts.hostname:
            raise SourceError(f"URL has no host: {url!r}")
        if self.allow_private_network:
            return
        for address in self.resolver(parts.hostname):
            if not is_public_address(address):
                raise SourceError(
                    f"{parts.hostname} resolves to the non-public address {address}; "
                    "set allow_private_network = true for this source to allow it"
                )


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Checks every redirect hop against the policy before following it."""

    def __init__(self, policy: UrlPolicy):
        self._policy = policy

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        self._policy.check(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


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
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            # Refuse file:, ftp: … at once; addresses are checked on every fetch.
            self._policy.check(url)

    # ------------------------------------------------------------------ reading

    def _read_path(self) -> bytes:
        assert self._path is not None
        try:
            size = self._path.stat().st_size
            if size > self._max_bytes:
                raise SourceError(f"{self._path} is {size} bytes, over the {self._max_bytes} cap")
            return self._path.read_bytes()
        except OSError as err:
            raise SourceError(f"cannot read {self._path}: {err}") from err

    def _read_url(self, cursor: _Cursor) -> tuple[bytes | None, _Cursor]:
        assert self._url is not None
        self._policy.check(self._url)
        request = urllib.request.Request(self._url, headers={"User-Agent": "calsync"})  # noqa: S310 - scheme checked
        if cursor.etag:
            request.add_header("If-None-Match", cursor.etag)
        if cursor.last_modified:
            request.add_header("If-Modified-Since", cursor.last_modified)
        opener = urllib.request.build_opener(_CheckedRedirects(self._policy))
        try:
            with opener.open(request, timeout=self._timeout) as response:
                body = response.read(self._max_bytes + 1)
                headers = response.headers
        except urllib.error.HTTPError as err:
            if err.code == 304:
                return None, cursor
            if 300 <= err.code < 400:
                # urllib refuses redirects to schemes other than http(s)/ftp itself.
                location = err.headers.get("Location") if err.headers else None
                raise SourceError(
                    f"{self.name}: refused a redirect to {location!r}: "
                    "only http and https URLs are allowed"
                ) from err
            if err.code == 429 or err.code >= 500:
                raise TransientSourceError(f"{self.name}: HTTP {err.code} from the feed") from err
            raise SourceError(f"{self.name}: HTTP {err.code} from the feed") from err
        except urllib.error.URLError as err:
            if isinstance(err.reason, SourceError):
                raise err.reason from err
            raise TransientSourceError(f"{self.name}: cannot fetch the feed: {err.reason}") from err
        except TimeoutError as err:
            raise TransientSourceError(f"{self.name}: the feed timed out") from err
        if len(body) > self._max_bytes:
            raise SourceError(f"{self.name}: the feed is over the {self._max_bytes}-byte cap")
        return body, _Cursor(headers.get("ETag"), headers.get("Last-Modified"), cursor.sha256)

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
        """Parse an ICS body and expand it over the window into events."""
        try:
            calendar = icalendar.Calendar.from_ical(body)
            calendar = x_wr_timezone.to_standard(calendar)
        except (ValueError, KeyError, IndexError) as err:
            raise SourceError(f"{self.name}: malformed ICS feed: {err}") from err
        if calendar.name != "VCALENDAR":
            raise SourceError(f"{self.name}: malformed ICS feed: no VCALENDAR")
        recurring = {
            str(c.get("UID"))
            for c in calendar.walk("VEVENT")
            if any(k in c for k in ("RRULE", "RDATE", "RECURRENCE-ID"))
        }
        now = self._clock.now()
        start = (now - timedelta(days=self._days_back)).astimezone(self._tz)
        end = (now + timedelta(days=self._days_ahead)).astimezone(self._tz)
        try:
            query = recurring_ical_events.of(calendar, skip_bad_series=True)
        except Exception as err:  # the library raises many types for broken input
            raise SourceError(f"{self.name}: cannot expand the ICS feed: {err}") from err
        # Series the library dropped while reading (skip_bad_series) are named here…
        kept = {str(series.uid) for series in query.series}
        for uid in sorted({str(c.get("UID")) for c in calendar.walk("VEVENT")} - kept):
            logger.warning("%s: skipping the broken series %s", self.name, uid)
        # …and those that fail while expanding, one by one, so one never hides the rest.
        occurrences = []
        for series in query.series:
            try:
                occurrences += [o.as_component(False) for o in series.between(start, end)]
            except tuple(query.suppressed_errors) as err:
                logger.warning("%s: skipping the broken series %s: %s", self.name, series.uid, err)
        events = []
        for component in occurrences:
            event = component_to_event(
                component,
                source=self.name,
                calendar=self._calendar,
                tz=self._tz,
                recurring=recurring,
            )
            if event is not None:
                events.append(event)
        return events
