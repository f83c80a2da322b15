"""Inference from calendar events (pure, no I/O).

* :func:`match_task_type` — which configured task type an event is.
* :func:`parse_outcome` — success, energy and notes written on the event.
* :func:`infer_completions` — finished events of a task type become completions.
* :func:`infer_suggestion_outcomes` — what the user did with calsync's own blocks.
* :func:`free_periods` — allowed windows minus busy time and buffers.

Markers (case-insensitive) in the title: ``✓``, ``[x]`` or the word ``done``
mean success 1.0; ``✗`` or ``skipped`` mean 0.0. Description lines
``rating: 4/5`` (→ 0.8) or ``success: 0.9`` set success, ``energy: 3/5`` or
``energy: 0.6`` the energy afterwards, and every ``note: …`` line becomes a
user-feedback insight. A description value wins over a title marker, which
wins over ``learning.default_success``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from calsync.config import TaskTypeConfig
from calsync.learning.planner import Period
from calsync.learning.windows import merge_periods
from calsync.model import Event, EventStatus, Transparency

_DONE = re.compile(r"✓|✔|\[x\]|\bdone\b", re.IGNORECASE)
_SKIPPED = re.compile(r"✗|✘|\bskipped\b", re.IGNORECASE)
_NUMBER = r"(\d+(?:\.\d+)?)"
_FRACTION = re.compile(rf"^{_NUMBER}\s*/\s*{_NUMBER}$")
_PERCENT = re.compile(rf"^{_NUMBER}\s*%$")
_LINE = re.compile(r"^\s*(rating|success|energy|note)\s*:\s*(.*?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Outcome:
    """What an event says about how it went (``None``: it does not say)."""

    success: float | None = None
    energy: float | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class InferredCompletion:
    """A completion inferred from a calendar event.

    ``key`` names the occurrence, so the same one is never learned twice and a
    later edit of its rating replaces the earlier update. For a calendar
    event it is ``event:<source>:<identity>``; ``identity`` is the
    occurrence's name in any source (iCalendar UID and RECURRENCE-ID, see
    :attr:`calsync.model.Event.occurrence_identity`), so ingestion learns an
    occurrence once however many sources carry it; ``legacy_key`` is the key
    an older calsync used for it, when different.
    """

    key: str
    task_type: str
    start: datetime
    success: float
    energy_after: float | None = None
    notes: tuple[str, ...] = ()
    identity: str | None = None
    legacy_key: str | None = None


@dataclass(frozen=True)
class KnownSuggestion:
    """A block calsync wrote earlier, as its database remembers it."""

    id: str
    task_type: str
    start: datetime
    end: datetime


def _unit_value(text: str) -> float | None:
    """Parse ``4/5``, ``0.8`` or ``80%`` into [0, 1]; ``None`` when it is none of those."""
    text = text.strip()
    if match := _FRACTION.match(text):
        numerator, denominator = float(match.group(1)), float(match.group(2))
        value = numerator / denominator if denominator else None
    elif match := _PERCENT.match(text):
        value = float(match.group(1)) / 100
    else:
        try:
            value = float(text)
        except ValueError:
            return None
    if value is None or not 0.0 <= value <= 1.0:
        return None
    return value


def parse_outcome(summary: str, description: str) -> Outcome:
    """Read markers from a title and rating lines from a description."""
    success: float | None = None
    if _SKIPPED.search(summary):
        success = 0.0
    elif _DONE.search(summary):
        success = 1.0
    energy: float | None = None
    notes: list[str] = []
    for line in description.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        label, value = match.group(1).lower(), match.group(2)
        if label == "note":
            if value:
                notes.append(value)
        elif label == "energy":
            parsed = _unit_value(value)
            energy = parsed if parsed is not None else energy
        elif (parsed := _unit_value(value)) is not None:
            success = parsed
    return Outcome(success=success, energy=energy, notes=tuple(notes))


def _contains_any(haystack: Iterable[str], wanted: Sequence[str]) -> bool:
    folded = {h.casefold() for h in haystack}
    return any(w.casefold() in folded for w in wanted)


@functools.lru_cache(maxsize=512)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    """A keyword or phrase as a whole word: "run" matches "Morning run", not "Brunch"."""
    return re.compile(rf"(?<!\w){re.escape(keyword)}(?!\w)", re.IGNORECASE)


def match_task_type(event: Event, task_types: Sequence[TaskTypeConfig]) -> TaskTypeConfig | None:
    """The first task type (in config order) whose rules match the event.

    The title must contain a keyword as a whole word (case-insensitive) or
    match the regex (when the task type has either), and the calendar, colour
    and categories must match where the task type restricts them.
    """
    for task in task_types:
        if task.keywords or task.regex:
            by_keyword = any(_keyword_pattern(k).search(event.summary) for k in task.keywords)
            by_regex = bool(task.regex and re.search(task.regex, event.summary, re.IGNORECASE))
            if not (by_keyword or by_regex):
                continue
        if task.calendars and not _contains_any([event.calendar], task.calendars):
            continue
        if task.colors and not _contains_any([event.color or ""], task.colors):
            continue
        if task.categories and not _contains_any(event.categories, task.categories):
            continue
        return task
    return None


def is_own_session(event: Event) -> bool:
    """Whether an event is one of the user's own timed sessions.

    Not calsync's block, not all-day, neither cancelled nor declined, with
    timed start and end: what may count as the user doing a task type.
    """
    return not (
        event.owned
        or event.all_day
        or event.status is EventStatus.CANCELLED
        or event.declined
        or not isinstance(event.start, datetime)
        or not isinstance(event.end, datetime)
    )


def infer_completions(
    events: Iterable[Event],
    task_types: Sequence[TaskTypeConfig],
    now: datetime,
    default_success: float,
) -> list[InferredCompletion]:
    """Completions from the user's own finished events.

    An event counts when it matches a task type, has ended by ``now``, is
    timed (not all-day), and was neither cancelled nor declined. calsync's own
    blocks are left to :func:`infer_suggestion_outcomes`.
    """
    completions = []
    for event in events:
        if not is_own_session(event) or event.end > now:
            continue
        task = match_task_type(event, task_types)
        if task is None:
            continue
        identity = event.occurrence_identity
        key = f"event:{event.source}:{identity}"
        legacy = f"event:{event.occurrence_key}"
        completions.append(
            replace(
                _completion(event, key, task.name, default_success),
                identity=identity,
                legacy_key=legacy if legacy != key else None,
            )
        )
    return completions


def _completion(
    event: Event, key: str, task_type: str, default_success: float
) -> InferredCompletion:
    """A completion at the event's start, rated by what is written on the event."""
    assert isinstance(event.start, datetime)
    outcome = parse_outcome(event.summary, event.description)
    return InferredCompletion(
        key=key,
        task_type=task_type,
        start=event.start,
        success=default_success if outcome.success is None else outcome.success,
        energy_after=outcome.energy,
        notes=outcome.notes,
    )


def infer_suggestion_outcomes(
    suggestions: Iterable[KnownSuggestion],
    owned_events: Iterable[Event],
    now: datetime,
    default_success: float,
) -> list[InferredCompletion]:
    """What the user's handling of calsync's blocks teaches.

    * deleted (or cancelled) before it started → a skip (success 0.0) in its slot;
    * moved → a skip in the old slot, and once the new time has passed a
      completion there;
    * kept until it ended → a completion with the default success (or what
      the user wrote on it).

    Keys are ``suggestion:<id>:skip`` and ``suggestion:<id>:done``, so each
    outcome is learned once however often this runs.
    """
    current = {
        e.suggestion_id: e
        for e in owned_events
        if e.suggestion_id is not None and e.status is not EventStatus.CANCELLED
    }
    results = []
    for suggestion in suggestions:
        event = current.get(suggestion.id)
        skip = InferredCompletion(
            key=f"suggestion:{suggestion.id}:skip",
            task_type=suggestion.task_type,
            start=suggestion.start,
            success=0.0,
        )
        if event is None:
            if now < suggestion.start:
                results.append(skip)
            continue
        if not isinstance(event.start, datetime) or not isinstance(event.end, datetime):
            continue
        moved = event.start != suggestion.start
        if moved:
            results.append(skip)
        if event.end <= now:
            key = f"suggestion:{suggestion.id}:done"
            results.append(_completion(event, key, suggestion.task_type, default_success))
    return results


def _day_start(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def busy_periods(events: Iterable[Event], buffer: timedelta, tz: tzinfo) -> list[Period]:
    """The time the user's events block, widened by ``buffer`` on each side.

    Busy means: not cancelled, not declined, not transparent; all-day events
    only when explicitly marked busy (opaque). calsync's own blocks are not
    busy time for planning (they are what is being planned).
    """
    busy = []
    for event in events:
        if event.owned or event.status is EventStatus.CANCELLED or event.declined:
            continue
        if event.all_day:
            if event.transparency is not Transparency.OPAQUE:
                continue
            start = _day_start(event.start, tz)
            end = _day_start(event.end, tz)
        else:
            if event.transparency is Transparency.TRANSPARENT:
                continue
            start, end = event.start, event.end  # type: ignore[assignment]
        busy.append(Period(start - buffer, end + buffer))
    return merge_periods(busy)


def subtract_periods(allowed: Iterable[Period], busy: Sequence[Period]) -> list[Period]:
    """``allowed`` minus every ``busy`` period (both merged first)."""
    busy = merge_periods(busy)
    free: list[Period] = []
    for period in merge_periods(allowed):
        cursor = period.start
        for block in busy:
            if block.end <= cursor or block.start >= period.end:
                continue
            if block.start > cursor:
                free.append(Period(cursor, block.start))
            cursor = max(cursor, block.end)
            if cursor >= period.end:
                break
        if cursor < period.end:
            free.append(Period(cursor, period.end))
    return free


def free_periods(
    allowed: Iterable[Period], events: Iterable[Event], buffer: timedelta, tz: tzinfo
) -> list[Period]:
    """Allowed windows minus busy events (from every source) and their buffers."""
    return subtract_periods(allowed, busy_periods(events, buffer, tz))
