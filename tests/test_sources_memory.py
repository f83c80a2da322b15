"""The in-memory source honours the Source protocol's cursor contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from calsync.model import Event
from calsync.sources import MemorySource, Source


def make(uid: str, hour: int = 9, summary: str = "coding") -> Event:
    start = datetime(2026, 11, 24, hour, tzinfo=UTC)
    return Event("mem", uid, start, start + timedelta(hours=1), summary=summary)


def test_full_then_incremental_then_unknown_cursor() -> None:
    source = MemorySource("mem", [make("a"), make("b")])
    assert isinstance(source, Source)
    first = source.fetch(None)
    assert first.full
    assert {e.uid for e in first.events} == {"a", "b"}

    nothing = source.fetch(first.cursor)
    assert not nothing.full
    assert nothing.events == []
    assert nothing.deleted == []

    source.put(make("a", summary="coding ✓"))
    source.put(make("c", 11))
    source.remove("mem:b:")
    source.remove("mem:does-not-exist:")
    changes = source.fetch(first.cursor)
    assert not changes.full
    assert sorted((e.uid, e.summary) for e in changes.events) == [
        ("a", "coding ✓"),
        ("c", "coding"),
    ]
    assert changes.deleted == ["mem:b:"]

    stale = source.fetch("999999")
    assert stale.full
    assert {e.uid for e in stale.events} == {"a", "c"}


def test_a_put_then_remove_reports_only_the_deletion() -> None:
    source = MemorySource("mem")
    cursor = source.fetch(None).cursor
    source.put(make("x"))
    source.remove("mem:x:")
    result = source.fetch(cursor)
    assert result.events == []
    assert result.deleted == ["mem:x:"]
