"""Suggested blocks in a CalDAV calendar (Nextcloud, Fastmail, Radicale…).

The target logs in with the server, user name and password (or
``password_file``) of the CalDAV *source* it names, and writes into the
calendar whose display name is ``calendar`` (default ``calsync``). That
calendar is looked up on first use — never in the constructor — and created
(``MKCALENDAR``) when the account has none of that name.

Each block is one calendar object holding one ``VEVENT``:

* ``UID`` ``<suggestion id>@calsync`` (also the remote id) and
  ``X-CALSYNC-ID:<suggestion id>``, calsync's marker;
* ``DTSTART`` / ``DTEND`` in UTC, ``SUMMARY``, ``DESCRIPTION``,
  ``STATUS:TENTATIVE``, ``TRANSP`` (free or busy), ``COLOR`` when the task
  type has one, and a ``DTSTAMP`` from the injected clock;
* no ``ATTENDEE`` (nobody is invited) and no ``VALARM`` (nothing rings).

Ownership (see :mod:`calsync.targets.base`): only objects whose every
``VEVENT`` carries ``X-CALSYNC-ID`` are listed, and only those whose marker
names this installation (``X-CALSYNC-INSTALLATION``; or none, for blocks
written before installation ids) are rewritten or deleted. Before a
write the object is fetched by UID and its marker checked, and the write is
made conditional on the (strong) ETag just read (``If-Match``); a new object is
put with ``If-None-Match: *``. An event the user changes in between therefore makes the
write fail (:class:`~calsync.errors.TargetError`, the next cycle looks again)
instead of being overwritten unseen. A write whose content is already on the
server is skipped, so adopting an unchanged block costs no ``PUT``.

:meth:`CaldavTarget.get_owned` confirms an absence: it fetches the block by
UID in the calendar and, when it is not there, in the account's other
calendars — a calendar the user renamed (calsync then creates a new one of
the configured name) still holds its blocks, and they are not mistaken for
blocks the user deleted.

Errors of the ``caldav`` library and the network are translated at this
boundary into :class:`~calsync.errors.TargetError` (``raise ... from``);
messages name the server (``scheme://host:port``) but never the password.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
from caldav.lib import error as dav_error
from caldav.lib.http_sync import requests as http
from lxml import etree

from calsync.clock import Clock
from calsync.config import CaldavSourceConfig, CaldavTargetConfig, Config
from calsync.errors import (
    CalsyncError,
    TargetError,
    TargetOwnershipError,
    network_reason,
)
from calsync.sources.caldav import checked_password, make_client
from calsync.sources.ical import localize
from calsync.targets.base import BlockContent, OwnedEvent, refuse_foreign
from calsync.targets.ical import INSTALLATION, MARKER, block_uid, block_vevent, marker_of

logger = logging.getLogger(__name__)

_PRODID = "-//calsync//suggestions//EN"
_MARKER = MARKER
#: The properties calsync writes; an object equal on all of them needs no write.
_WRITTEN = ("SUMMARY", "DESCRIPTION", "STATUS", "TRANSP", "COLOR", _MARKER, INSTALLATION)


def _server_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, without any user name or password."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _instant(value: Any, tz: tzinfo) -> datetime:
    """A decoded DATE or DATE-TIME as an aware UTC instant (dates and floating times in ``tz``)."""
    local = localize(value, tz)
    if not isinstance(local, datetime):
        local = datetime.combine(local, time(), tzinfo=tz)
    return local.astimezone(UTC)


def _events_of(resource: Any) -> list[Any]:
    """The ``VEVENT`` components of a calendar object fetched from the server."""
    return list(icalendar.Calendar.from_ical(resource.data).walk("VEVENT"))


def _is_owned(components: list[Any]) -> bool:
    """True when there is a ``VEVENT`` and every one carries calsync's marker."""
    return bool(components) and all(_MARKER in c for c in components)


class CaldavTarget:
    """A calendar on a CalDAV server that calsync writes its blocks into.

    Args:
        name: The target's configured name.
        url: http(s) URL of the server or of the principal.
        calendar: Display name of the calendar to write to (created if missing).
        clock: Time source for ``DTSTAMP``.
        tz: The user's zone, for floating or all-day times a user may leave
            on a block.
        username: User name (``None``: no authentication).
        password: Password.
        source: Name of the source whose login this is (for messages).
        timeout: Network timeout per request, in seconds.

    Nothing is sent to the server before the first call of a method.

    """

    def __init__(
        self,
        name: str,
        *,
        url: str,
        calendar: str,
        clock: Clock,
        tz: tzinfo = UTC,
        username: str | None = None,
        password: str | None = None,
        source: str | None = None,
        timeout: float = 30.0,
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetError(f"target {name!r}: the CalDAV url must be an http(s) URL")
        self.name = name
        self.calendar_name = calendar
        self._clock = clock
        self._tz = tz
        self._server = _server_of(url)
        self._source = source
        # Never in a message: the password, whether given or in the URL.
        self._secrets = [s for s in (password, parts.password) if s]
        self._client = make_client(url, username, password, timeout)
        self._principal: Any = None
        self._calendar: Any = None  # caldav.Calendar, found (or made) on first use

    @classmethod
    def from_config(
        cls,
        target: CaldavTargetConfig,
        source: CaldavSourceConfig,
        config: Config,
        clock: Clock,
    ) -> CaldavTarget:
        """Build the target of a ``[[targets]]`` entry of type ``caldav``.

        The server, login and timeout are those of the CalDAV source the
        target names; no request is made here.

        Raises:
            ConfigError: the source's URL is not http(s), or its
                ``password_file`` cannot be used.

        """
        password = checked_password(source)
        return cls(
            target.name,
            url=source.url,
            calendar=target.calendar,
            clock=clock,
            tz=ZoneInfo(config.user.timezone),
            username=source.username,
            password=password,
            source=source.name,
            timeout=source.timeout_seconds,
        )

    def close(self) -> None:
        """Close the HTTP session (the target reconnects if used again)."""
        self._forget()
        self._client.close()

    # ------------------------------------------------------------------ protocol

    def list_owned(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[OwnedEvent]:
        """Every event with ``X-CALSYNC-ID`` overlapping ``[start, end)`` (all when ``None``).

        A bounded listing is a time-range search on the server. When a user
        copied a block (same marker, another UID), the block under calsync's
        own UID is the one listed.
        """
        with self._talking("list the events of"):
            calendar = self._get_calendar()
            if start is None and end is None:
                found = calendar.search(event=True)
            else:
                found = calendar.search(start=start, end=end, event=True)
            candidates: list[OwnedEvent] = []
            for resource in found:
                components = _events_of(resource)
                if not _is_owned(components):
                    continue
                candidates += [e for c in components if (e := self._owned(c)) is not None]
        by_id: dict[str, OwnedEvent] = {}
        for event in sorted(candidates, key=lambda e: e.remote_id != block_uid(e.suggestion_id)):
            if (start is None or event.end > start) and (end is None or event.start < end):
                # Malformed markers (no id) are listed one by one, by UID.
                by_id.setdefault(event.suggestion_id or f"\0{event.remote_id}", event)
        logger.debug("%s: %d owned event(s) listed", self.name, len(by_id))
        return list(by_id.values())

    def get_owned(self, suggestion_id: str) -> OwnedEvent | None:
        """The block ``<suggestion id>@calsync``, fetched by UID (``None``: nowhere).

        Looked for in the calendar, then in the account's other calendars (a
        renamed one); a block found elsewhere is logged.

        Raises:
            TargetError: the server failed or refused.

        """
        uid = block_uid(suggestion_id)
        with self._talking("read from"):
            calendar = self._get_calendar()
            for handle in [calendar, *self._other_calendars(calendar)]:
                try:
                    resource = handle.get_event_by_uid(uid)
                except dav_error.NotFoundError:
                    continue
                components = _events_of(resource)
                if not _is_owned(components):
                    return None
                if handle is not calendar:
                    logger.warning(
                        "%s: block %s is in another calendar of the account, not %r "
                        "(renamed?); it is not taken for one the user deleted",
                        self.name,
                        uid,
                        self.calendar_name,
                    )
                return next((e for c in components if (e := self._owned(c)) is not None), None)
        return None

    def create(self, content: BlockContent) -> str:
        """Write the block under ``<suggestion id>@calsync``; return that UID.

        An event already holding the UID is adopted when its marker allows:
        brought up to date, or left alone when it already is.

        Raises:
            TargetOwnershipError: an event without the marker, or with another
                installation's, holds the UID.
            TargetError: the server failed or refused.

        """
        uid = block_uid(content.suggestion_id)
        with self._talking("write to"):
            existing = self._lookup(uid, content.installation)
            if existing is None:
                self._get_calendar().add_event(
                    self._ics(content).decode("utf-8"), no_overwrite=True, increase_seqno=False
                )
                logger.debug("%s: created %s", self.name, uid)
            else:
                self._overwrite(existing, content, "adopted")
        return uid

    def update(self, remote_id: str, content: BlockContent) -> None:
        """Move or rewrite the owned block ``remote_id``.

        Raises:
            TargetOwnershipError: the event does not carry calsync's marker.
            TargetError: the event is not in the calendar, or the server failed.

        """
        with self._talking("write to"):
            existing = self._lookup(remote_id, content.installation)
            if existing is None:
                raise TargetError(
                    f"{self.name}: {remote_id} is not in calendar {self.calendar_name!r}"
                )
            self._overwrite(existing, content, "updated")

    def delete(self, remote_id: str, installation: str | None = None) -> None:
        """Remove the owned block ``remote_id`` (one already gone is fine).

        Raises:
            TargetOwnershipError: the event does not carry calsync's marker,
                or the marker does not allow it (``installation``, see
                :func:`~calsync.targets.base.may_write`).
            TargetError: the server failed.

        """
        with self._talking("delete from"):
            existing = self._lookup(remote_id, installation)
            if existing is None:
                logger.debug("%s: %s is already gone", self.name, remote_id)
                return
            etag = existing.etag
            try:
                if etag and not etag.startswith("W/"):
                    existing.delete(if_match=True, precondition="etag")
                else:
                    existing.delete()
            except dav_error.NotFoundError:
                logger.debug("%s: %s went away meanwhile", self.name, remote_id)
                return
            logger.debug("%s: deleted %s", self.name, remote_id)

    # ------------------------------------------------------------------ internals

    def _get_calendar(self) -> Any:
        """The calendar called :attr:`calendar_name`, created when the account has none."""
        if self._calendar is not None:
            return self._calendar
        if self._principal is None:
            self._principal = self._client.get_principal()
        for handle in self._principal.get_calendars():
            if handle.get_display_name() == self.calendar_name:
                self._calendar = handle
                return handle
        self._calendar = self._principal.make_calendar(name=self.calendar_name)
        logger.info("%s: created calendar %r on %s", self.name, self.calendar_name, self._server)
        return self._calendar

    def _other_calendars(self, calendar: Any) -> list[Any]:
        """The account's calendars other than ``calendar``."""
        return [c for c in self._principal.get_calendars() if c.url != calendar.url]

    def _lookup(self, uid: str, installation: str | None) -> Any | None:
        """The object holding ``uid``, or ``None``; refuse one this installation does not own."""
        try:
            resource = self._get_calendar().get_event_by_uid(uid)
        except dav_error.NotFoundError:
            return None
        components = _events_of(resource)
        if not _is_owned(components):
            raise TargetOwnershipError(
                f"{self.name}: event {uid} in calendar {self.calendar_name!r} has no "
                f"{_MARKER}; calsync does not touch it"
            )
        for component in components:
            marker = marker_of(component)
            assert marker is not None
            refuse_foreign(self.name, uid, marker[0], marker[1], installation)
        return resource

    def _overwrite(self, resource: Any, content: BlockContent, verb: str) -> None:
        """Put ``content`` over an owned object, unless it already says exactly that."""
        if self._matches(_events_of(resource), content):
            logger.debug("%s: %s is up to date", self.name, resource.id)
            return
        resource.save(raw_data=self._ics(content), increase_seqno=False, precondition="etag")
        logger.debug("%s: %s %s", self.name, verb, resource.id)

    def _ics(self, content: BlockContent) -> bytes:
        """The calendar object calsync writes for one block."""
        event = block_vevent(content, self._clock.now().astimezone(UTC))
        calendar = icalendar.Calendar()
        calendar.add("prodid", _PRODID)
        calendar.add("version", "2.0")
        calendar.add_component(event)
        data: bytes = calendar.to_ical()
        return data

    def _matches(self, components: list[Any], content: BlockContent) -> bool:
        """True when the one ``VEVENT`` already holds what calsync would write."""
        if len(components) != 1:
            return False
        (component,) = components
        wanted = icalendar.Calendar.from_ical(self._ics(content)).walk("VEVENT")[0]
        if any(
            str(component.get(key)) != str(wanted.get(key))
            for key in _WRITTEN
            if key in component or key in wanted
        ):
            return False
        try:
            return (
                _instant(component.decoded("DTSTART"), self._tz) == content.start
                and "DTEND" in component
                and _instant(component.decoded("DTEND"), self._tz) == content.end
            )
        except (KeyError, ValueError, TypeError):
            return False

    def _owned(self, component: Any) -> OwnedEvent | None:
        """The owned event one marked ``VEVENT`` describes (``None``: unreadable, logged)."""
        uid = str(component.get("UID", ""))
        try:
            start = _instant(component.decoded("DTSTART"), self._tz)
            if "DTEND" in component:
                end = _instant(component.decoded("DTEND"), self._tz)
            elif "DURATION" in component:
                end = start + component.decoded("DURATION")
            elif isinstance(component.decoded("DTSTART"), datetime):
                end = start
            else:
                end = start + timedelta(days=1)
        except (KeyError, ValueError, TypeError) as err:
            logger.warning("%s: skipping owned event %s: %s", self.name, uid or "?", err)
            return None
        marker = marker_of(component)
        assert marker is not None, "only marked components are read"
        return OwnedEvent(
            suggestion_id=marker[0],
            remote_id=uid,
            start=start,
            end=end,
            summary=str(component.get("SUMMARY", "")),
            description=str(component.get("DESCRIPTION", "")),
            installation=marker[1],
        )

    def _forget(self) -> None:
        """Look the principal and the calendar up again next time."""
        self._principal = None
        self._calendar = None

    @contextmanager
    def _talking(self, doing: str) -> Iterator[None]:
        """Translate library and network errors raised in the block into TargetError."""
        try:
            yield
        except CalsyncError:
            raise
        except Exception as err:
            self._forget()
            translated = self._translate(err, doing)
            if translated is None:
                raise
            raise translated from err

    def _translate(self, err: Exception, doing: str) -> TargetError | None:
        """The calsync error for a library error; ``None`` for an unexpected one."""
        where = (
            f"{self.name}: cannot {doing} calendar {self.calendar_name!r} "
            f"on CalDAV server {self._server}"
        )
        message: str | None = None
        if isinstance(err, dav_error.AuthorizationError):
            login = f"source {self._source!r}" if self._source else "this target"
            message = (
                f"{where}: access refused (HTTP {err.status or '401/403'}); check the username "
                f"and password (or password_file) of {login}, and its url"
            )
        elif isinstance(err, dav_error.ETagMismatchError | dav_error.ScheduleTagMismatchError):
            message = f"{where}: the event changed on the server meanwhile; the next cycle retries"
        elif isinstance(err, dav_error.UidConflictError | dav_error.ConsistencyError):
            message = f"{where}: another event holds that UID already ({err.reason})"
        elif isinstance(err, dav_error.RateLimitError):
            message = f"{where}: asked to slow down (HTTP {err.status or 429})"
        elif isinstance(err, dav_error.DAVError):
            status = f"HTTP {err.status}" if err.status is not None else type(err).__name__
            message = f"{where}: {status}: {err.reason}"
        elif isinstance(err, http.exceptions.Timeout):
            message = f"{where}: timed out"
        elif isinstance(err, http.exceptions.ConnectionError | OSError):
            message = f"{where}: cannot be reached: {network_reason(err)}"
        elif isinstance(err, http.exceptions.RequestException):
            message = f"{where}: {network_reason(err)}"
        elif isinstance(err, ValueError | KeyError | IndexError | TypeError | etree.LxmlError):
            message = f"{where}: the server sent data that cannot be read: {err}"
        if message is None:
            return None
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return TargetError(message)
