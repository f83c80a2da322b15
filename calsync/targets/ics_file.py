"""Suggestions as an ICS file (``suggestions.ics``) a calendar app can subscribe to.

Every event in the file is calsync's (it writes the file alone); each carries
``X-CALSYNC-ID`` (and ``X-CALSYNC-INSTALLATION``) anyway, and only events
with the marker are ever listed; only those whose marker allows it
(:func:`~calsync.targets.base.may_write`) are ever changed. The file is
rewritten atomically (:func:`calsync.secrets.write_atomically`: temporary
file, fsync, rename, mode 0600; a symlink is followed) on every change, so a
reader never sees half a calendar.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import icalendar

from calsync.clock import Clock
from calsync.errors import TargetError, TargetOwnershipError
from calsync.secrets import write_atomically
from calsync.targets.base import BlockContent, OwnedEvent, refuse_foreign
from calsync.targets.ical import block_uid, block_vevent, marker_of

_PRODID = "-//calsync//suggestions//EN"


class IcsFileTarget:
    """A calendar file owned by calsync."""

    def __init__(self, name: str, path: Path, clock: Clock):
        self.name = name
        self.path = path
        self.writes = 0
        self._clock = clock

    def _load(self) -> icalendar.Calendar:
        if not self.path.exists():
            calendar = icalendar.Calendar()
            calendar.add("prodid", _PRODID)
            calendar.add("version", "2.0")
            calendar.add("x-wr-calname", "calsync suggestions")
            return calendar
        try:
            return icalendar.Calendar.from_ical(self.path.read_bytes())
        except (OSError, ValueError) as err:
            raise TargetError(f"{self.name}: cannot read {self.path}: {err}") from err

    def _save(self, calendar: icalendar.Calendar) -> None:
        try:
            write_atomically(self.path, calendar.to_ical())
        except OSError as err:
            raise TargetError(f"{self.name}: cannot write {self.path}: {err}") from err
        self.writes += 1

    def _owned(self, component: icalendar.Component) -> OwnedEvent | None:
        marker = marker_of(component)
        if marker is None:
            return None
        try:
            start = component.decoded("DTSTART").astimezone(UTC)
            end = component.decoded("DTEND").astimezone(UTC)
        except (KeyError, ValueError, TypeError, AttributeError) as err:
            raise TargetError(f"{self.name}: unreadable block in {self.path}: {err}") from err
        return OwnedEvent(
            suggestion_id=marker[0],
            remote_id=str(component.get("UID", "")),
            start=start,
            end=end,
            summary=str(component.get("SUMMARY", "")),
            description=str(component.get("DESCRIPTION", "")),
            installation=marker[1],
        )

    def list_owned(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[OwnedEvent]:
        """Every block in the file overlapping the range."""
        owned = [self._owned(c) for c in self._load().walk("VEVENT")]
        return [
            e
            for e in owned
            if e is not None and (start is None or e.end > start) and (end is None or e.start < end)
        ]

    def get_owned(self, suggestion_id: str) -> OwnedEvent | None:
        """The block with that id in the file, read afresh (``None``: not there)."""
        uid = block_uid(suggestion_id)
        for component in self._load().walk("VEVENT"):
            if str(component.get("UID")) == uid:
                return self._owned(component)
        return None

    def _replace(
        self,
        remote_id: str | None,
        content: BlockContent | None,
        create: bool,
        installation: str | None,
    ) -> str:
        calendar = self._load()
        uid = remote_id or (block_uid(content.suggestion_id) if content else "")
        kept = []
        found = None
        for component in calendar.subcomponents:
            if component.name == "VEVENT" and str(component.get("UID")) == uid:
                found = component
                continue
            kept.append(component)
        if found is not None:
            marker = marker_of(found)
            if marker is None:
                raise TargetOwnershipError(
                    f"{self.name}: {uid} has no X-CALSYNC-ID; not touching it"
                )
            refuse_foreign(self.name, uid, marker[0], marker[1], installation)
        if found is None and not create:
            if content is None:
                return uid  # deleting what is already gone
            raise TargetError(f"{self.name}: {uid} is not in {self.path}")
        calendar.subcomponents = kept
        if content is not None:
            calendar.add_component(block_vevent(content, self._clock.now()))
        self._save(calendar)
        return uid

    def create(self, content: BlockContent) -> str:
        """Add the block (replacing an owned one with the same id)."""
        return self._replace(None, content, create=True, installation=content.installation)

    def update(self, remote_id: str, content: BlockContent) -> None:
        """Rewrite an owned block."""
        self._replace(remote_id, content, create=False, installation=content.installation)

    def delete(self, remote_id: str, installation: str | None = None) -> None:
        """Remove an owned block."""
        self._replace(remote_id, None, create=False, installation=installation)

    def close(self) -> None:
        """Nothing to release: the file is opened only while it is read or written."""
