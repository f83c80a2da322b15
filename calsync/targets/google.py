"""Suggestions written to a Google calendar.

Each block is an event with a client-chosen id (the suggestion id: base32hex),
``status: tentative``, the configured transparency, the task type's colour,
no attendees and no reminders, ``sendUpdates=none``, and the marker
``extendedProperties.private`` = ``{"calsync": "1", "calsync_id": <id>}``.
Owned events are listed with ``privateExtendedProperty=calsync=1``. Before
an update or delete the event is fetched and its marker checked; an insert
whose id exists already adopts the event (after the same check) instead of
failing or duplicating it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from google.oauth2.credentials import Credentials

from calsync.clock import Clock
from calsync.config import Config, GoogleSourceConfig, GoogleTargetConfig
from calsync.errors import SourceError, TargetError, TargetOwnershipError
from calsync.google_api import FullSyncRequired, GoogleApi, NotFound
from calsync.targets.base import BlockContent, OwnedEvent

logger = logging.getLogger(__name__)

_PAGE_SIZE = 2500


def _owner_id(item: dict[str, Any]) -> str | None:
    private = (item.get("extendedProperties") or {}).get("private") or {}
    return private.get("calsync_id") if private.get("calsync") == "1" else None


class GoogleTarget:
    """A Google calendar calsync writes its blocks into.

    Args:
        name: The target's name.
        credentials: OAuth credentials, or ``None`` to load ``token_file``.
        calendar_id: The calendar (``primary`` by default).
        clock: Time source.
        token_file: The token of the Google source this target uses.
        api_endpoint: Replacement API base URL, for tests.
        timeout: Socket timeout per request.
        retries: Retries of transient failures.
        sleep: How to wait between retries.

    """

    def __init__(
        self,
        name: str,
        credentials: Credentials | None,
        calendar_id: str,
        clock: Clock,
        *,
        token_file: Path | None = None,
        api_endpoint: str | None = None,
        timeout: float = 30.0,
        retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.name = name
        self._calendar_id = calendar_id
        self._clock = clock
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
        cls, target: GoogleTargetConfig, source: GoogleSourceConfig, config: Config, clock: Clock
    ) -> GoogleTarget:
        """Build from a ``[[targets]]`` entry and the Google source whose token it uses."""
        token_file = source.token_path(config.resolved_state_dir())
        return cls(
            target.name,
            None,
            target.calendar_id,
            clock,
            token_file=token_file,
            api_endpoint=source.api_endpoint,
            timeout=source.timeout_seconds,
            retries=source.retries,
        )

    @contextmanager
    def _session(self) -> Iterator[Any]:
        """A service whose failures surface as target errors."""
        try:
            with self._api.session() as service:
                yield service.events()
        except SourceError as err:
            raise TargetError(f"{self.name}: {err}") from err

    def _get(self, events: Any, remote_id: str) -> dict[str, Any] | None:
        """The event, or ``None`` when it does not exist or was deleted."""
        try:
            item = self._api.execute(events.get(calendarId=self._calendar_id, eventId=remote_id))
        except (NotFound, FullSyncRequired):
            return None
        return None if item.get("status") == "cancelled" else item

    def _owned_or_refuse(self, item: dict[str, Any], remote_id: str) -> None:
        if _owner_id(item) is None:
            raise TargetOwnershipError(
                f"{self.name}: event {remote_id} does not carry calsync's marker; not touching it"
            )

    def _body(self, content: BlockContent) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": content.suggestion_id,
            "summary": content.summary,
            "description": content.description,
            "start": {"dateTime": content.start.astimezone(UTC).isoformat()},
            "end": {"dateTime": content.end.astimezone(UTC).isoformat()},
            "status": "tentative",
            "transparency": "transparent" if content.transparent else "opaque",
            "reminders": {"useDefault": False, "overrides": []},
            "extendedProperties": {
                "private": {"calsync": "1", "calsync_id": content.suggestion_id}
            },
        }
        if content.color:
            body["colorId"] = content.color
        return body

    def list_owned(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[OwnedEvent]:
        """Owned events overlapping the range (a wide window when unbounded)."""
        now = self._clock.now()
        params = {
            "calendarId": self._calendar_id,
            "privateExtendedProperty": "calsync=1",
            "singleEvents": True,
            "showDeleted": False,
            "maxResults": _PAGE_SIZE,
            "timeMin": (start or now - timedelta(days=3660)).astimezone(UTC).isoformat(),
            "timeMax": (end or now + timedelta(days=3660)).astimezone(UTC).isoformat(),
        }
        owned = []
        try:
            with self._api.session() as service:
                for page in self._api.pages(service, params):
                    for item in page.get("items", []):
                        suggestion = _owner_id(item)
                        if suggestion is None or item.get("status") == "cancelled":
                            continue
                        owned.append(
                            OwnedEvent(
                                suggestion_id=suggestion,
                                remote_id=item["id"],
                                start=datetime.fromisoformat(item["start"]["dateTime"]),
                                end=datetime.fromisoformat(item["end"]["dateTime"]),
                                summary=item.get("summary", ""),
                                description=item.get("description", ""),
                            )
                        )
        except (SourceError, NotFound) as err:
            raise TargetError(f"{self.name}: cannot list calsync's events: {err}") from err
        return owned

    def create(self, content: BlockContent) -> str:
        """Insert the block under its id, or adopt the owned event already there."""
        with self._session() as events:
            existing = self._get(events, content.suggestion_id)
            if existing is not None:
                self._owned_or_refuse(existing, content.suggestion_id)
                self._api.execute(
                    events.patch(
                        calendarId=self._calendar_id,
                        eventId=content.suggestion_id,
                        body=self._body(content),
                        sendUpdates="none",
                    )
                )
                return content.suggestion_id
            created = self._api.execute(
                events.insert(
                    calendarId=self._calendar_id, body=self._body(content), sendUpdates="none"
                )
            )
            return str(created.get("id", content.suggestion_id))

    def update(self, remote_id: str, content: BlockContent) -> None:
        """Move or rewrite an owned event."""
        with self._session() as events:
            existing = self._get(events, remote_id)
            if existing is None:
                raise TargetError(f"{self.name}: event {remote_id} is gone")
            self._owned_or_refuse(existing, remote_id)
            body = {k: v for k, v in self._body(content).items() if k != "id"}
            self._api.execute(
                events.patch(
                    calendarId=self._calendar_id, eventId=remote_id, body=body, sendUpdates="none"
                )
            )

    def delete(self, remote_id: str) -> None:
        """Delete an owned event (an already deleted one is fine)."""
        with self._session() as events:
            existing = self._get(events, remote_id)
            if existing is None:
                return
            self._owned_or_refuse(existing, remote_id)
            try:
                self._api.execute(
                    events.delete(
                        calendarId=self._calendar_id, eventId=remote_id, sendUpdates="none"
                    )
                )
            except (NotFound, FullSyncRequired):
                logger.debug("%s: %s was already deleted", self.name, remote_id)
