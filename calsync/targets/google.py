"""Suggestions written to a Google calendar.

Each block is an event with a client-chosen id (the suggestion id: base32hex),
``status: tentative``, the configured transparency, the task type's colour,
no attendees and no reminders, ``sendUpdates=none``, and the marker
``extendedProperties.private`` = ``{"calsync": "1", "calsync_id": <id>,
"calsyncInstallation": <installation id>}``. Owned events are listed with
``privateExtendedProperty=calsync=1``. Before an update or delete the event
is fetched and its marker checked (calsync's, and this installation's or
none); an insert whose id exists already adopts the event (after the same
check) instead of failing or duplicating it.

Every failure — an HTTP error (404 and 410 included), a refused token, the
network, an answer that is not the JSON expected (truncated, wrong types) —
leaves this module as a :class:`~calsync.errors.TargetError`.
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
from calsync.targets.base import BlockContent, OwnedEvent, refuse_foreign

logger = logging.getLogger(__name__)

_PAGE_SIZE = 2500
#: The private extended property naming the installation that wrote a block.
INSTALLATION_KEY = "calsyncInstallation"


def _marker(item: Any) -> tuple[str, str | None] | None:
    """``(suggestion id, installation)`` of calsync's marker; ``None`` without one.

    The id is empty for a malformed marker (``calsync`` set, no usable id).
    """
    if not isinstance(item, dict):
        return None
    properties = item.get("extendedProperties")
    private = properties.get("private") if isinstance(properties, dict) else None
    if not isinstance(private, dict) or private.get("calsync") != "1":
        return None
    suggestion = private.get("calsync_id")
    installation = private.get(INSTALLATION_KEY)
    return (
        suggestion.strip() if isinstance(suggestion, str) else "",
        installation.strip() or None if isinstance(installation, str) else None,
    )


def _owned_event(item: dict[str, Any], marker: tuple[str, str | None]) -> OwnedEvent:
    """The owned event an API item describes.

    Raises:
        KeyError, TypeError, ValueError: the item is not shaped as expected.

    """
    start = datetime.fromisoformat(item["start"]["dateTime"])
    end = datetime.fromisoformat(item["end"]["dateTime"])
    summary, description = item.get("summary", ""), item.get("description", "")
    return OwnedEvent(
        suggestion_id=marker[0],
        remote_id=str(item["id"]),
        start=start,
        end=end,
        summary=summary if isinstance(summary, str) else "",
        description=description if isinstance(description, str) else "",
        installation=marker[1],
    )


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

    def close(self) -> None:
        """Nothing to release: each call's API session closes its connections."""

    @contextmanager
    def _session(self, doing: str) -> Iterator[Any]:
        """The events resource of a service whose every failure surfaces as a target error."""
        with self._translated(doing), self._api.session() as service:
            yield service.events()

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """Turn every failure raised in the block into a :class:`TargetError`."""
        try:
            yield
        except TargetError:
            raise
        except SourceError as err:
            raise TargetError(f"{self.name}: cannot {doing}: {err}") from err
        except NotFound as err:
            raise TargetError(f"{self.name}: cannot {doing}: Google answered 404 ({err})") from err
        except FullSyncRequired as err:
            raise TargetError(f"{self.name}: cannot {doing}: Google answered 410") from err
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            # Truncated JSON (json.JSONDecodeError is a ValueError) or wrong types.
            raise TargetError(
                f"{self.name}: cannot {doing}: Google sent an answer that cannot be read "
                f"({type(err).__name__})"
            ) from err

    def _get(self, events: Any, remote_id: str) -> dict[str, Any] | None:
        """The event, or ``None`` when it does not exist or was deleted."""
        try:
            item = self._api.execute(events.get(calendarId=self._calendar_id, eventId=remote_id))
        except (NotFound, FullSyncRequired):
            return None
        if not isinstance(item, dict):
            raise TypeError("an event is not a JSON object")
        return None if item.get("status") == "cancelled" else item

    def _owned_or_refuse(
        self, item: dict[str, Any], remote_id: str, installation: str | None
    ) -> None:
        marker = _marker(item)
        if marker is None:
            raise TargetOwnershipError(
                f"{self.name}: event {remote_id} does not carry calsync's marker; not touching it"
            )
        refuse_foreign(self.name, remote_id, marker[0], marker[1], installation)

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
        if content.installation:
            body["extendedProperties"]["private"][INSTALLATION_KEY] = content.installation
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
        with self._translated("list calsync's events"), self._api.session() as service:
            for page in self._api.pages(service, params):
                items = page.get("items", [])
                if not isinstance(items, list):
                    raise TypeError("items is not a list")
                for item in items:
                    marker = _marker(item)
                    if marker is None or item.get("status") == "cancelled":
                        continue
                    try:
                        owned.append(_owned_event(item, marker))
                    except (KeyError, TypeError, ValueError, AttributeError):
                        # Not believed absent either: calsync confirms an absence by id.
                        logger.warning(
                            "%s: skipping an unreadable calsync event in the listing", self.name
                        )
        return owned

    def get_owned(self, suggestion_id: str) -> OwnedEvent | None:
        """The event under that id, fetched by id (``None``: missing, deleted, not calsync's)."""
        with self._session("read an event") as events:
            item = self._get(events, suggestion_id)
            marker = None if item is None else _marker(item)
            if item is None or marker is None:
                return None
            return _owned_event(item, marker)

    def create(self, content: BlockContent) -> str:
        """Insert the block under its id, or adopt the owned event already there."""
        with self._session("write an event") as events:
            existing = self._get(events, content.suggestion_id)
            if existing is not None:
                self._owned_or_refuse(existing, content.suggestion_id, content.installation)
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
            if created.get("id", content.suggestion_id) != content.suggestion_id:
                raise TargetError(f"{self.name}: Google stored the event under another id")
            return content.suggestion_id

    def update(self, remote_id: str, content: BlockContent) -> None:
        """Move or rewrite an owned event."""
        with self._session("write an event") as events:
            existing = self._get(events, remote_id)
            if existing is None:
                raise TargetError(f"{self.name}: event {remote_id} is gone")
            self._owned_or_refuse(existing, remote_id, content.installation)
            body = {k: v for k, v in self._body(content).items() if k != "id"}
            self._api.execute(
                events.patch(
                    calendarId=self._calendar_id, eventId=remote_id, body=body, sendUpdates="none"
                )
            )

    def delete(self, remote_id: str, installation: str | None = None) -> None:
        """Delete an owned event (an already deleted one is fine).

        ``installation``: whose block it must be (see
        :func:`~calsync.targets.base.may_write`).
        """
        with self._session("delete an event") as events:
            existing = self._get(events, remote_id)
            if existing is None:
                return
            self._owned_or_refuse(existing, remote_id, installation)
            try:
                self._api.execute(
                    events.delete(
                        calendarId=self._calendar_id, eventId=remote_id, sendUpdates="none"
                    )
                )
            except (NotFound, FullSyncRequired):
                logger.debug("%s: %s was already deleted", self.name, remote_id)
