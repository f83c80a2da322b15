"""Google Calendar through google-api-python-client (static discovery, no network at build).

Sync: the first poll lists each calendar's window (``timeMin``/``timeMax``,
``singleEvents=true``), following ``pageToken`` to the last page, whose
``nextSyncToken`` becomes the cursor. Later polls send only ``syncToken``
and get what changed, deletions as ``status: cancelled``. The cursor is
returned to the caller, which saves it with the events in one transaction, so
a token is never saved without all of its pages. An expired token (HTTP 410)
triggers a full listing of every calendar, and the caller reconciles
deletions against its mirror (a full list does not report them).

Occurrences are keyed by calendar and Google event id (an expanded instance
has its own id), which a deletion notice always carries.

429, 5xx and 403 ``rateLimitExceeded``/``userRateLimitExceeded`` are retried
with exponential backoff (``retries`` times); an ``invalid_grant`` on token
refresh raises :class:`~calsync.errors.AuthError` naming ``calsync auth google``.

Only the ``calendar.events`` scope is used: free/busy is computed from the
listed events, so calsync never needs to read or change calendar settings.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from google.oauth2.credentials import Credentials

from calsync.clock import Clock
from calsync.config import GoogleSourceConfig
from calsync.errors import SourceError
from calsync.google_api import SCOPE, FullSyncRequired, GoogleApi, NotFound, load_credentials
from calsync.model import Event, EventStatus, Transparency
from calsync.sources.base import FetchResult

__all__ = ["SCOPE", "GoogleSource", "load_credentials"]

logger = logging.getLogger(__name__)

_PAGE_SIZE = 2500


def _parse_time(value: dict[str, Any], tz: tzinfo) -> datetime | date:
    if "dateTime" in value:
        moment = datetime.fromisoformat(value["dateTime"])
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)
    return date.fromisoformat(value["date"])


def _identity(item: dict[str, Any], tz: tzinfo) -> str | None:
    """An occurrence's iCalendar name: ``iCalUID`` and, for an instance, its original start.

    The same form as an ICS or CalDAV occurrence's UID and RECURRENCE-ID
    (the original start in UTC), so one calendar read twice is learned once.
    """
    ical_uid = item.get("iCalUID")
    if not isinstance(ical_uid, str) or not ical_uid:
        return None
    original = item.get("originalStartTime") if item.get("recurringEventId") else None
    if not isinstance(original, dict):
        return f"{ical_uid}:"
    moment = _parse_time(original, tz)
    if isinstance(moment, datetime):
        return f"{ical_uid}:{moment.astimezone(UTC).isoformat()}"
    return f"{ical_uid}:{moment.isoformat()}"


class GoogleSource:
    """One Google account's calendars.

    Args:
        name: The source's name.
        credentials: OAuth credentials (``calendar.events`` scope); ``None`` loads
            them from ``token_file`` at the first fetch.
        calendar_ids: Calendars to read (``primary`` is the user's own).
        tz: The user's zone (for the rare floating time).
        clock: Time source for the listing window.
        days_back: Window start, in days before now.
        days_ahead: Window end, in days after now.
        api_endpoint: Replacement API base URL (``…/calendar/v3/``), for tests.
        timeout: Socket timeout per request, in seconds.
        retries: Retries of transient failures.
        sleep: How to wait between retries (injected in tests).
        token_file: Where refreshed credentials are saved back (mode 0600).

    """

    def __init__(
        self,
        name: str,
        credentials: Credentials | None,
        calendar_ids: list[str],
        tz: tzinfo,
        clock: Clock,
        *,
        days_back: int = 60,
        days_ahead: int = 14,
        api_endpoint: str | None = None,
        timeout: float = 30.0,
        retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        token_file: Path | None = None,
    ):
        self.name = name
        self._calendar_ids = list(calendar_ids)
        self._tz = tz
        self._clock = clock
        self._days_back = days_back
        self._days_ahead = days_ahead
        self._api = GoogleApi(
            name,
            credentials,
            token_file=token_file,
            api_endpoint=api_endpoint,
            timeout=timeout,
            retries=retries,
            sleep=sleep,
        )

    @classmethod
    def from_config(
        cls, config: GoogleSourceConfig, state_dir: Path, tz: tzinfo, clock: Clock
    ) -> GoogleSource:
        """Build from a ``[[sources]]`` entry; the token is loaded on every fetch."""
        token_file = config.token_path(state_dir)
        source = cls(
            config.name,
            credentials=None,
            calendar_ids=config.calendar_ids,
            tz=tz,
            clock=clock,
            days_back=config.days_back,
            days_ahead=config.days_ahead,
            api_endpoint=config.api_endpoint,
            timeout=config.timeout_seconds,
            retries=config.retries,
            token_file=token_file,
        )
        return source

    def close(self) -> None:
        """Nothing to release: each fetch's API session closes its connections."""

    # ------------------------------------------------------------------ fetching

    def fetch(self, cursor: str | None) -> FetchResult:
        """Changes since ``cursor`` (per-calendar sync tokens), or a full listing."""
        tokens = self._load_cursor(cursor)
        with self._api.session() as service:
            try:
                if tokens and set(tokens) == set(self._calendar_ids):
                    try:
                        return self._incremental(service, tokens)
                    except FullSyncRequired:
                        logger.info("%s: sync token expired (410): listing again", self.name)
                return self._full(service)
            except NotFound as err:
                raise SourceError(
                    f"{self.name}: Google knows no calendar among {self._calendar_ids} ({err})"
                ) from err

    def _load_cursor(self, cursor: str | None) -> dict[str, str]:
        if not cursor:
            return {}
        try:
            data = json.loads(cursor)
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}

    def _full(self, service: Any) -> FetchResult:
        now = self._clock.now()
        window = {
            "timeMin": (now - timedelta(days=self._days_back)).astimezone(UTC).isoformat(),
            "timeMax": (now + timedelta(days=self._days_ahead)).astimezone(UTC).isoformat(),
            "singleEvents": True,
            "showDeleted": False,
            "maxResults": _PAGE_SIZE,
        }
        events: list[Event] = []
        tokens: dict[str, str] = {}
        for calendar_id in self._calendar_ids:
            for page in self._api.pages(service, {"calendarId": calendar_id, **window}):
                events += [e for e in self._convert_page(calendar_id, page) if e is not None]
                if page.get("nextSyncToken"):
                    tokens[calendar_id] = page["nextSyncToken"]
        cursor = json.dumps(tokens) if set(tokens) == set(self._calendar_ids) else None
        return FetchResult(events=events, cursor=cursor, full=True)

    def _incremental(self, service: Any, tokens: dict[str, str]) -> FetchResult:
        changed: list[Event] = []
        deleted: list[str] = []
        fresh: dict[str, str] = {}
        for calendar_id in self._calendar_ids:
            params = {
                "calendarId": calendar_id,
                "syncToken": tokens[calendar_id],
                "singleEvents": True,
                "maxResults": _PAGE_SIZE,
            }
            for page in self._api.pages(service, params):
                for item in page.get("items", []):
                    if item.get("status") == "cancelled":
                        deleted.append(f"{self.name}:{calendar_id}/{item['id']}:")
                        continue
                    event = self._convert(calendar_id, item)
                    if event is not None:
                        changed.append(event)
                if page.get("nextSyncToken"):
                    fresh[calendar_id] = page["nextSyncToken"]
            if calendar_id not in fresh:
                raise SourceError(f"{self.name}: Google sent no nextSyncToken for {calendar_id}")
        return FetchResult(events=changed, deleted=deleted, cursor=json.dumps(fresh))

    def _convert_page(self, calendar_id: str, page: dict[str, Any]) -> Iterator[Event | None]:
        for item in page.get("items", []):
            if item.get("status") != "cancelled":
                yield self._convert(calendar_id, item)

    def _convert(self, calendar_id: str, item: dict[str, Any]) -> Event | None:
        """One API event → :class:`Event` (``None``, with a warning, when unusable)."""
        try:
            private = (item.get("extendedProperties") or {}).get("private") or {}
            declined = any(
                a.get("self") and a.get("responseStatus") == "declined"
                for a in item.get("attendees", [])
            )
            return Event(
                source=self.name,
                # Instance ids are unique and are what deletion notices carry.
                uid=f"{calendar_id}/{item['id']}",
                start=_parse_time(item["start"], self._tz),
                end=_parse_time(item["end"], self._tz),
                summary=item.get("summary", ""),
                recurrence_id=None,
                description=item.get("description", ""),
                status=EventStatus(item.get("status", "confirmed")),
                transparency=Transparency(item.get("transparency", "opaque")),
                declined=declined,
                calendar=calendar_id,
                color=item.get("colorId"),
                suggestion_id=private.get("calsync_id") if private.get("calsync") == "1" else None,
                identity=_identity(item, self._tz),
            )
        except (KeyError, ValueError, TypeError) as err:
            logger.warning("%s: skipping event %s: %s", self.name, item.get("id", "?"), err)
            return None
