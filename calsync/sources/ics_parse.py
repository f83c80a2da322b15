"""Bounded, isolated parsing of an ICS body into events.

A feed is foreign input: one hostile or broken component must neither cost
the good ones nor hang or exhaust the process. So a body is never handed to
``icalendar`` whole:

1. **Split at byte level** (:func:`split_feed`): the body is unfolded and cut
   into its top-level components with a small state machine (linear time,
   bounded nesting, over-long property lines dropped). Only a body that is
   not an iCalendar container at all (no ``BEGIN:VCALENDAR``, truncated, over
   the component cap) fails the source.
2. **Validate before expanding**: every RRULE/EXRULE is checked as text
   (``FREQ`` of at least ``HOURLY``, ``INTERVAL`` ≥ 1, numbers in range, rules
   that can never match, an estimate of the work dateutil would do) and every
   VTIMEZONE rule must be yearly; a failing series is skipped with a warning
   naming its UID.
3. **One series at a time**: the components sharing a UID (master and
   overrides) are parsed and expanded on their own, lazily and capped at
   ``max_occurrences_per_series`` occurrences, under a per-series time budget
   (a ``SIGALRM`` timer where the parse runs in a main thread), and the feed
   as a whole under ``max_parse_seconds``.
4. **In a child process** (:func:`parse_isolated`): the daemon and ``sync``
   parse in a process forked from a forkserver, with an address-space cap
   (``RLIMIT_AS``); the parent waits with a wall deadline and a cancel event
   (:func:`cancel_parsing`) and kills the child on either, so neither a
   dateutil loop inside one ``next()`` nor a monolithic C call can hang
   calsync or keep it from answering SIGTERM.

Warnings name a component by its UID (quoted with :func:`calsync.text.quote`),
never by its summary or description.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import pickle
import re
import resource
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from itertools import islice
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import calsync.shutdown as shutdown
from calsync.errors import CalsyncError, SourceCancelledError, SourceError
from calsync.model import Event
from calsync.text import quote

logger = logging.getLogger(__name__)

__all__ = [
    "CHILD_GRACE_SECONDS",
    "MAX_DEPTH",
    "MAX_LINE_BYTES",
    "FeedRequest",
    "ParseLimits",
    "ParseResult",
    "ParseStats",
    "RawComponent",
    "SplitFeed",
    "cancel_parsing",
    "check_rule",
    "parse_feed",
    "parse_isolated",
    "reset_cancel",
    "split_feed",
]

#: Components nested deeper than this (inside a top-level one) make it broken.
MAX_DEPTH = 10
#: A content line longer than this (after unfolding) is dropped from its component.
MAX_LINE_BYTES = 1_000_000
#: At most this many warnings are logged per feed; the rest are counted.
MAX_WARNINGS = 50
#: A rule whose estimated dateutil work exceeds this many steps is refused.
MAX_RULE_STEPS = 1_000_000
#: Grace the parent gives the child beyond ``max_parse_seconds`` (start-up, results).
CHILD_GRACE_SECONDS = 3.0
#: How often the parent looks at the cancel event while a child parses.
POLL_SECONDS = shutdown.POLL_SECONDS

#: The shutdown request (shared with the HTTP fetch, see :mod:`calsync.shutdown`).
_CANCEL = shutdown.EVENT


def cancel_parsing() -> None:
    """Make every running and future isolated parse stop at once (shutdown)."""
    shutdown.request()


def reset_cancel() -> None:
    """Allow isolated parses again (a service starting)."""
    shutdown.clear()


# ---------------------------------------------------------------------- limits


@dataclass(frozen=True)
class ParseLimits:
    """The bounds of one feed's parse (the ICS source's configuration keys)."""

    max_components: int
    max_occurrences_per_series: int
    max_event_days: int
    max_series_seconds: float
    max_parse_seconds: float
    max_parse_memory_mb: int

    @classmethod
    def defaults(cls) -> ParseLimits:
        """The configuration schema's defaults (stated once, in :mod:`calsync.config`)."""
        from calsync.config import IcsSourceConfig

        fields = IcsSourceConfig.model_fields
        return cls(**{name: fields[name].default for name in cls.__dataclass_fields__})

    @classmethod
    def from_config(cls, source: Any) -> ParseLimits:
        """The limits configured on an ``IcsSourceConfig``."""
        return cls(**{name: getattr(source, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class FeedRequest:
    """Everything a parse needs; picklable, so it can cross into the child."""

    body: bytes
    source: str
    calendar: str
    tz: tzinfo
    start: datetime
    end: datetime
    limits: ParseLimits


@dataclass
class ParseStats:
    """What one parse did (for logs and tests)."""

    components: int = 0
    series: int = 0
    occurrences: int = 0
    skipped: int = 0
    cut: int = 0
    #: Series (and one-off events) that cannot reach the window, not parsed.
    outside: int = 0
    seconds: float = 0.0
    #: Peak resident memory of the child in KiB (isolated parses only).
    peak_rss_kib: int | None = None
    #: CPU seconds (user + system) the child used, start-up included (isolated parses only).
    cpu_seconds: float | None = None


@dataclass
class ParseResult:
    """The events of a feed inside the window, and how the parse went."""

    events: list[Event]
    stats: ParseStats = field(default_factory=ParseStats)


# ---------------------------------------------------------------------- splitting

_FOLD = re.compile(rb"\r?\n[ \t]")
_PARAM_TZID = re.compile(rb";TZID=(\"[^\"]*\"|[^;:]*)", re.IGNORECASE)


@dataclass
class RawComponent:
    """One top-level component of a feed, as bytes."""

    name: str
    lines: list[bytes] = field(default_factory=list)
    #: Property lines directly in the component, by upper-case name.
    props: dict[str, list[bytes]] = field(default_factory=dict)
    #: Why the component cannot be used (``None``: fine so far).
    problem: str | None = None
    #: Names of over-long properties that were dropped.
    dropped: list[str] = field(default_factory=list)

    @property
    def uid(self) -> str | None:
        """The UID text, or ``None``."""
        values = self.props.get("UID")
        if not values:
            return None
        return _value(values[0]).decode("utf-8", "replace").strip() or None

    def has(self, *names: str) -> bool:
        """True when the component has any of these properties."""
        return any(name in self.props for name in names)

    def bytes(self) -> bytes:
        """The component as CRLF-terminated content lines."""
        return b"".join(line + b"\r\n" for line in self.lines)


@dataclass
class SplitFeed:
    """A feed cut into its calendar properties and top-level components."""

    header: list[bytes]
    components: list[RawComponent]
    warnings: list[str] = field(default_factory=list)


def _name_of(line: bytes) -> str:
    """The upper-case property name of a content line."""
    match = re.match(rb"[A-Za-z0-9-]{1,100}", line)
    return match.group(0).decode("ascii").upper() if match else ""


def _value(line: bytes) -> bytes:
    """The value of a content line (after the first colon outside quotes)."""
    quoted = False
    for index, byte in enumerate(line):
        if byte == 0x22:  # "
            quoted = not quoted
        elif byte == 0x3A and not quoted:  # :
            return line[index + 1 :]
    return b""


_B_OR_E = frozenset(b"BbEe")
#: The properties the splitter indexes (directly in a top-level component).
_KEPT_PROPS = frozenset(
    {b"UID", b"DTSTART", b"DTEND", b"DURATION", b"RRULE", b"EXRULE", b"RDATE"}
    | {b"RECURRENCE-ID", b"TZID"}
)


def _marker(line: bytes) -> tuple[str, str] | None:
    """``("BEGIN", name)`` or ``("END", name)`` for a component delimiter line."""
    head = line[:6].upper()
    if head.startswith(b"BEGIN:"):
        kind, rest = "BEGIN", line[6:]
    elif head.startswith(b"END:"):
        kind, rest = "END", line[4:]
    else:
        return None
    return kind, rest[:100].strip().decode("ascii", "replace").upper()


def split_feed(body: bytes, max_components: int) -> SplitFeed:
    """Cut ``body`` into its top-level components, in linear time and bounded memory.

    Raises:
        SourceError: the body is not an iCalendar container (no
            ``BEGIN:VCALENDAR``), is truncated (no ``END:VCALENDAR``), or holds
            more than ``max_components`` components.

    """
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    if b"\n" not in body:
        body = body.replace(b"\r", b"\n")  # old Mac line ends
    text = _FOLD.sub(b"", body.replace(b"\r\n", b"\n"))
    header: list[bytes] = []
    components: list[RawComponent] = []
    warnings: list[str] = []
    calendars = 0
    in_calendar = False
    current: RawComponent | None = None
    stack: list[str] = []  # names of the open components inside ``current``
    depth = 0  # nesting inside ``current``; len(stack) == min(depth, MAX_DEPTH)
    for line in text.split(b"\n"):
        if not line or line.isspace():
            continue
        # Only a line starting with B or E (any case) can delimit a component.
        marker = _marker(line) if line[0] in _B_OR_E and len(line) < 200 else None
        if current is None:
            if not in_calendar:
                if marker == ("BEGIN", "VCALENDAR"):
                    in_calendar, calendars = True, calendars + 1
                continue
            if marker is None:
                if len(line) <= MAX_LINE_BYTES and len(header) < 1000:
                    header.append(line)
                continue
            kind, name = marker
            if kind == "END":
                if name == "VCALENDAR":
                    in_calendar = False
                elif len(warnings) < MAX_WARNINGS:
                    warnings.append(f"a stray END:{quote(name, 40)} in the calendar")
                continue
            if len(components) >= max_components:
                raise SourceError(
                    f"the feed has more than {max_components} components "
                    "(the source's max_components)"
                )
            current, stack, depth = RawComponent(name), [name], 1
            current.lines.append(line)
            continue
        if marker is not None:
            kind, name = marker
            if kind == "END" and name == "VCALENDAR" and "VCALENDAR" not in stack:
                # No VCALENDAR opened inside: this closes the calendar, breaking the component.
                current.problem = f"END:VCALENDAR inside an open {quote(current.name, 40)}"
                components.append(current)
                current, in_calendar = None, False
                continue
            if kind == "BEGIN":
                depth += 1
                if depth <= MAX_DEPTH:
                    stack.append(name)
                elif current.problem is None:
                    current.problem = f"components nested over {MAX_DEPTH} deep"
            else:
                if depth <= MAX_DEPTH:
                    if stack[-1] != name and current.problem is None:
                        current.problem = (
                            f"END:{quote(name, 40)} closes BEGIN:{quote(stack[-1], 40)}"
                        )
                    stack.pop()
                depth -= 1
                if depth == 0:
                    current.lines.append(b"END:" + current.name.encode("ascii", "replace"))
                    components.append(current)
                    current = None
                    continue
            if current.problem is None:
                current.lines.append(line)
            continue
        if len(line) > MAX_LINE_BYTES:
            current.dropped.append(_name_of(line) or "?")
            continue
        if depth == 1:
            prop = line[:20].split(b":", 1)[0].split(b";", 1)[0].upper()
            if prop in _KEPT_PROPS:
                current.props.setdefault(prop.decode("ascii"), []).append(line)
        if current.problem is None:
            current.lines.append(line)
    if calendars == 0:
        raise SourceError("malformed ICS feed: not iCalendar (no BEGIN:VCALENDAR)")
    if current is not None or in_calendar:
        raise SourceError("malformed ICS feed: truncated (no END:VCALENDAR)")
    return SplitFeed(header, components, warnings)


# ---------------------------------------------------------------------- rules

_FREQ_SECONDS = {
    "HOURLY": 3600,
    "DAILY": 86400,
    "WEEKLY": 7 * 86400,
    "MONTHLY": 2_629_746,
    "YEARLY": 31_556_952,
}
_ORDER = ["SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"]
_NUMERIC_RANGES = {
    "BYSECOND": (0, 60, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
_BYDAY = re.compile(r"^([+-]?)(\d{0,2})(MO|TU|WE|TH|FR|SA|SU)$")
_MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
#: The coarsest frequency at which a BY-rule expands the period (finer: it only filters).
_EXPANDS_FROM = {
    "BYSECOND": "MINUTELY",
    "BYMINUTE": "HOURLY",
    "BYHOUR": "DAILY",
    "BYDAY": "WEEKLY",
    "BYMONTHDAY": "MONTHLY",
    "BYYEARDAY": "YEARLY",
    "BYWEEKNO": "YEARLY",
    "BYMONTH": "YEARLY",
}


def _per_period(freq: str, values: dict[str, list[int]]) -> float:
    """About how many candidates dateutil builds per period of ``freq``."""
    count = 1.0
    for key, coarsest in _EXPANDS_FROM.items():
        if key not in values or _ORDER.index(freq) < _ORDER.index(coarsest):
            continue
        size = float(len(values[key]))
        if key == "BYDAY":
            if "BYMONTHDAY" in values or "BYYEARDAY" in values:
                continue  # intersected with the days, not multiplied
            if freq == "MONTHLY" or "BYMONTH" in values or "BYWEEKNO" in values:
                size *= 5
            elif freq == "YEARLY":
                size *= 53
        elif key == "BYWEEKNO":
            size *= 7
        count *= max(size, 1.0)
    return count


def check_rule(text: str, dtstart_year: int | None, window_end: datetime) -> str | None:
    """Why a RRULE value must not be expanded, or ``None`` when it may be.

    Refused: no or an unknown ``FREQ``; ``SECONDLY`` and ``MINUTELY``;
    ``INTERVAL`` < 1 or > 1000; ``COUNT`` < 1; numbers out of their RFC 5545
    ranges; ``BYMONTH``/``BYMONTHDAY`` pairs that never meet; and rules whose
    estimated work from DTSTART to the window's end (or UNTIL) exceeds
    :data:`MAX_RULE_STEPS`.
    """
    parts: dict[str, str] = {}
    for part in text.strip().split(";"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            return f"malformed rule part {quote(part, 40)}"
        parts[key.strip().upper()] = value.strip()
    freq = parts.get("FREQ", "").upper()
    if freq in ("SECONDLY", "MINUTELY"):
        return f"FREQ={freq} is not supported"
    if freq not in _FREQ_SECONDS:
        return f"unknown FREQ {quote(freq, 40)}" if freq else "no FREQ"
    try:
        interval = int(parts.get("INTERVAL", "1"))
        count = int(parts["COUNT"]) if "COUNT" in parts else None
    except ValueError:
        return "INTERVAL or COUNT is not a number"
    if not 1 <= interval <= 1000:
        return f"INTERVAL={quote(interval, 20)} is out of range (1 to 1000)"
    if count is not None and count < 1:
        return f"COUNT={quote(count, 20)} is below 1"
    values: dict[str, list[int]] = {}
    for key, (low, high, signed) in _NUMERIC_RANGES.items():
        if key not in parts:
            continue
        items = parts[key].split(",")
        if len(items) > 400:
            return f"{key} has {len(items)} values"
        try:
            numbers = [int(item) for item in items]
        except ValueError:
            return f"{key} is not a list of numbers"
        for number in numbers:
            size = -number if signed and number < 0 else number
            if not low <= size <= high or (signed and number == 0):
                return f"{key}={quote(number, 20)} is out of range"
        values[key] = numbers
    if "BYDAY" in parts:
        days = parts["BYDAY"].upper().split(",")
        if len(days) > 400 or not all(_BYDAY.match(day.strip()) for day in days):
            return "BYDAY is malformed"
        values["BYDAY"] = [0] * len(days)
    months = values.get("BYMONTH")
    month_days = [d for d in values.get("BYMONTHDAY", []) if d > 0]
    if (
        months
        and month_days
        and len(month_days) == len(values["BYMONTHDAY"])
        and all(day > _MONTH_DAYS[month - 1] for month in months for day in month_days)
    ):
        return "BYMONTH and BYMONTHDAY never meet"
    until = re.match(r"\s*(\d{4})", parts.get("UNTIL", ""))
    last_year = min(window_end.year, int(until.group(1))) if until else window_end.year
    if dtstart_year is not None:
        span = (last_year - dtstart_year + 1) * _FREQ_SECONDS["YEARLY"]
        steps = max(span, 0) / (_FREQ_SECONDS[freq] * interval)
        steps *= _per_period(freq, values)
        if steps > MAX_RULE_STEPS:
            return f"expanding it would take about {steps:.0f} steps"
    return None


# ---------------------------------------------------------------------- budgets


class _OverBudgetError(BaseException):
    """The per-series timer fired (a BaseException, so library code cannot swallow it)."""


def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
    raise _OverBudgetError


@contextlib.contextmanager
def _time_budget(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` where a timer can (a free main thread)."""
    usable = (
        threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None, _on_alarm)
    )
    if not usable:
        yield
        return
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------------- parsing


class _Skip(Exception):
    """One component or series cannot be used; the reason is the message."""


class _Reporter:
    """Warnings of one feed: the first :data:`MAX_WARNINGS` logged, the rest counted."""

    def __init__(self, source: str):
        self.source = source
        self.logged = 0
        self.silenced = 0

    def warn(self, message: str) -> None:
        if self.logged < MAX_WARNINGS:
            self.logged += 1
            logger.warning("%s: %s", self.source, message)
        else:
            self.silenced += 1

    def close(self) -> None:
        if self.silenced:
            logger.warning("%s: %d more warning(s) not shown", self.source, self.silenced)


def _year_of(line: bytes) -> int | None:
    digits = re.match(rb"\s*(\d{4})", _value(line))
    return int(digits.group(1)) if digits else None


def _date_of(line: bytes) -> date | None:
    found = re.match(rb"\s*(\d{4})(\d{2})(\d{2})", _value(line))
    if not found:
        return None
    try:
        return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError:
        return None


#: Slack, in days, around every date read from the bytes: time zones (at most
#: a day either way) and the end of a date-only day.
_WINDOW_MARGIN = timedelta(days=2)
_DURATION = re.compile(
    rb"\s*\+?P(?:(\d{1,6})W)?(?:(\d{1,6})D)?(?:T(?:(\d{1,7})H)?(?:(\d{1,9})M)?(?:(\d{1,10})S)?)?\s*$",
    re.IGNORECASE,
)
_PLAIN_DAY = re.compile(r"^(MO|TU|WE|TH|FR|SA|SU)$")


def _duration_of(line: bytes) -> timedelta | None:
    """A non-negative DURATION value (``None``: negative, unusual or unreadable)."""
    found = _DURATION.match(_value(line))
    if not found or not any(found.groups()):
        return None
    weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in found.groups())
    try:
        return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        return None


def _last_rule_start(rule: str, first: date) -> date | None:
    """The latest date an occurrence of ``rule`` from ``first`` can start on.

    ``None`` when that is not provable from the text: an open-ended rule, a
    ``COUNT`` whose occurrences BY-rules or skipped dates (the 31st of a
    month, the 29th of February) could spread further, or anything unusual.
    ``UNTIL`` bounds every rule; ``COUNT`` only rules without BY-parts (and
    ``WEEKLY`` with plain ``BYDAY`` days, which meet every week).
    """
    parts: dict[str, str] = {}
    for part in rule.strip().split(";"):
        key, sep, value = part.partition("=")
        if not sep:
            return None
        parts[key.strip().upper()] = value.strip().upper()
    until = parts.get("UNTIL")
    if until is not None:
        found = re.match(r"(\d{4})(\d{2})(\d{2})", until)
        if not found:
            return None
        try:
            return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
        except ValueError:
            return None
    if "COUNT" not in parts:
        return None
    try:
        count = int(parts["COUNT"])
        interval = int(parts.get("INTERVAL", "1"))
    except ValueError:
        return None
    if count < 1 or interval < 1:
        return None
    freq = parts.get("FREQ")
    by_parts = {key for key in parts if key.startswith("BY")}
    steps = count - 1
    try:
        if by_parts == {"BYDAY"} and freq == "WEEKLY":
            if not all(_PLAIN_DAY.match(day.strip()) for day in parts["BYDAY"].split(",")):
                return None
            # Every week meets a plain weekday; the first (partial) one may not.
            span = timedelta(weeks=(steps + 2) * interval)
        elif by_parts:
            return None
        elif freq == "HOURLY":
            span = timedelta(hours=steps * interval)
        elif freq == "DAILY":
            span = timedelta(days=steps * interval)
        elif freq == "WEEKLY":
            span = timedelta(weeks=steps * interval)
        elif freq == "MONTHLY" and first.day <= 28:
            span = timedelta(days=31 * steps * interval)
        elif freq == "YEARLY" and (first.month, first.day) != (2, 29):
            span = timedelta(days=366 * steps * interval)
        else:
            return None
        return first + span
    except OverflowError:
        return None


def _rdate_reach(line: bytes, length: timedelta) -> tuple[date, date] | None:
    """The first start and last end of an RDATE line's occurrences (``None``: not provable)."""
    first: date | None = None
    last: date | None = None
    for item in _value(line).split(b","):
        begin, _, finish = item.partition(b"/")
        start = _date_of(b":" + begin)
        if start is None:
            return None
        if finish:
            stop = _date_of(b":" + finish) if finish.strip()[:1].isdigit() else None
            if stop is None:  # a period given by a duration
                return None
        else:
            try:
                stop = start + length
            except OverflowError:
                return None
        first = start if first is None else min(first, start)
        last = stop if last is None else max(last, stop)
    if first is None or last is None:
        return None
    return first, last


def _reach(component: RawComponent) -> tuple[date, date] | None:
    """The first date a component's occurrences can start on and the last they can end on.

    Read from the DTSTART/DTEND/DURATION/RRULE/RDATE bytes alone; ``None``
    when anything about it is unusual (no or several DTSTARTs, an unreadable
    date, an open-ended or unprovable rule, a ``RANGE`` on RECURRENCE-ID), so
    it is parsed in full. Dates are not shifted by time zones: callers add
    :data:`_WINDOW_MARGIN`.
    """
    if component.problem is not None or component.dropped:
        return None
    starts = component.props.get("DTSTART") or []
    first = _date_of(starts[0]) if len(starts) == 1 else None
    if first is None:
        return None
    for line in component.props.get("RECURRENCE-ID", []):
        if b"RANGE" in line.split(b":", 1)[0].upper():
            return None  # THISANDFUTURE moves the later instances too
    ends = component.props.get("DTEND") or []
    durations = component.props.get("DURATION") or []
    if (ends and durations) or len(ends) > 1 or len(durations) > 1:
        return None
    if ends:
        stop = _date_of(ends[0])
        if stop is None or stop < first:
            return None
        length = stop - first
    elif durations:
        found = _duration_of(durations[0])
        if found is None:
            return None
        length = timedelta(days=found.days + 1)
    else:
        length = timedelta(days=1)
    try:
        last = first + length
        for line in component.props.get("RRULE", []):
            rule_last = _last_rule_start(_value(line).decode("ascii", "replace"), first)
            if rule_last is None:
                return None
            last = max(last, rule_last + length)
    except OverflowError:
        return None
    for line in component.props.get("RDATE", []):
        found_reach = _rdate_reach(line, length)
        if found_reach is None:
            return None
        first, last = min(first, found_reach[0]), max(last, found_reach[1])
    return first, last


def _cannot_reach(parts: list[RawComponent], start: date, end: date) -> bool:
    """True when no component of a series can have an occurrence in ``[start, end]``.

    One-off events outside the window, series whose rules end (by ``UNTIL``
    or a provable ``COUNT``) before it or begin after it, with every changed
    instance outside it too. Such a series would yield no event, so it is not
    parsed at all: most of a long history costs no parse. Anything that
    cannot be decided from the bytes is parsed as usual.
    """
    for part in parts:
        reach = _reach(part)
        if reach is None:
            return False
        first, last = reach
        if last >= start - _WINDOW_MARGIN and first <= end + _WINDOW_MARGIN:
            return False
    return True


_TEXT_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)


def _tzinfo_named(value: Any) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None


def _check_dates(component: Any, uid: str) -> None:
    """Raise :class:`_Skip` when a VEVENT's dates cannot be used."""
    if "DTSTART" not in component:
        raise _Skip("no DTSTART")
    broken = {str(name).upper() for name, *_ in getattr(component, "errors", [])}
    for name in ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"):
        if name in broken:
            raise _Skip(f"unreadable {name}")
    for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
        if name not in component:
            continue
        prop = component[name]
        if isinstance(prop, list):
            raise _Skip(f"more than one {name}")
        value = component.decoded(name)
        if not isinstance(value, date):
            raise _Skip(f"{name} is not a date or date-time")
        tzid = prop.params.get("TZID") if hasattr(prop, "params") else None
        if tzid and not _tzinfo_named(value):
            raise _Skip(f"unknown time zone {quote(tzid, 80)} in {name}")
    start = component.decoded("DTSTART")
    for name in ("RDATE", "EXDATE"):
        if name not in component:
            continue
        props = component[name] if isinstance(component[name], list) else [component[name]]
        for prop in props:
            tzid = prop.params.get("TZID") if hasattr(prop, "params") else None
            for leaf in getattr(prop, "dts", []):
                value = leaf.dt
                when = value[0] if isinstance(value, tuple) else value
                if not isinstance(when, date):
                    raise _Skip(f"{name} holds a {type(when).__name__}, not a date")
                if tzid and not _tzinfo_named(when):
                    raise _Skip(f"unknown time zone {quote(tzid, 80)} in {name}")
                if isinstance(when, datetime) != isinstance(start, datetime):
                    raise _Skip(f"{name} and DTSTART mix dates and date-times")
    if "DTEND" in component:
        end = component.decoded("DTEND")
        if isinstance(end, datetime) != isinstance(start, datetime):
            raise _Skip("DTSTART and DTEND mix a date and a date-time")
        if _compare_key(end) < _compare_key(start):
            raise _Skip("DTEND is before DTSTART")
    elif "DURATION" in component:
        duration = component.decoded("DURATION")
        if not isinstance(duration, timedelta) or duration < timedelta(0):
            raise _Skip("DURATION is negative or unreadable")


def _compare_key(value: date) -> datetime:
    """A value to order dates and date-times by (floating times as UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


#: How far icalendar expands a VTIMEZONE's rules.
_ZONE_RULES_END = datetime(9999, 12, 31, tzinfo=UTC)


class _Parser:
    """One feed's parse (in whichever process runs it)."""

    def __init__(self, request: FeedRequest, window_first: bool = True):
        self.request = request
        self.window_first = window_first
        self.limits = request.limits
        self.report = _Reporter(request.source)
        self.stats = ParseStats()
        self.deadline = time.monotonic() + self.limits.max_parse_seconds

    # -- helpers

    def _over_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise SourceError(
                f"{self.request.source}: parsing took longer than "
                f"{self.limits.max_parse_seconds:g} s (the source's max_parse_seconds)"
            )

    def _wrap(self, header: list[bytes], parts: list[bytes]) -> bytes:
        return (
            b"BEGIN:VCALENDAR\r\n"
            + b"".join(h + b"\r\n" for h in header)
            + b"".join(parts)
            + b"END:VCALENDAR\r\n"
        )

    def _header(self, split: SplitFeed) -> list[bytes]:
        """The calendar properties each series is parsed with (X-WR-TIMEZONE, CALSCALE)."""
        kept = []
        for line in split.header:
            name = _name_of(line)
            if name == "X-WR-TIMEZONE":
                zone = _value(line).decode("utf-8", "replace").strip()
                try:
                    ZoneInfo(zone)
                except (KeyError, ValueError, OSError, TypeError):  # unknown or malformed key
                    self.report.warn(f"ignoring the unknown X-WR-TIMEZONE {quote(zone, 80)}")
                    continue
                kept.append(line)
            elif name == "CALSCALE":
                kept.append(line)
        return kept

    # -- time zones

    def _load_timezones(self, header: list[bytes], zones: list[RawComponent]) -> None:
        """Parse each VTIMEZONE on its own; icalendar caches it for the series that use it."""
        import icalendar

        for zone in zones:
            tzid = quote(
                _value((zone.props.get("TZID") or [b":?"])[0]).decode("utf-8", "replace"), 80
            )
            problem = zone.problem
            for line in zone.lines if problem is None else []:
                if _name_of(line) != "RRULE":
                    continue
                rule = _value(line).decode("utf-8", "replace")
                # icalendar lists every transition of a zone's rule up to the year 9999.
                problem = (
                    check_rule(rule, 1, _ZONE_RULES_END)
                    if re.search(r"FREQ=YEARLY", rule, re.IGNORECASE)
                    else "a time zone rule that is not yearly"
                )
                if problem is not None:
                    break
            if problem is not None:
                self.report.warn(f"ignoring the time zone {tzid}: {problem}")
                continue
            self._over_time()
            try:
                with _time_budget(self.limits.max_series_seconds):
                    icalendar.Calendar.from_ical(self._wrap([], [zone.bytes()]))
            except _OverBudgetError:
                self.report.warn(f"ignoring the time zone {tzid}: it took too long to read")
            except Exception as err:
                self.report.warn(f"ignoring the time zone {tzid}: {quote(err, 120)}")

    # -- series

    def _series(self, header: list[bytes], uid: str, parts: list[RawComponent]) -> list[Event]:
        import icalendar
        import recurring_ical_events  # type: ignore[import-untyped]
        import x_wr_timezone  # type: ignore[import-untyped]

        from calsync.sources.ical import component_to_event

        request, limits = self.request, self.limits
        for part in parts:
            if part.problem is not None:
                raise _Skip(part.problem)
            starts = part.props.get("DTSTART") or []
            year = _year_of(starts[0]) if starts else None
            for name in ("RRULE", "EXRULE"):
                for line in part.props.get(name, []):
                    problem = check_rule(_value(line).decode("utf-8", "replace"), year, request.end)
                    if problem is not None:
                        raise _Skip(f"{name}: {problem}")
        calendar = icalendar.Calendar.from_ical(self._wrap(header, [p.bytes() for p in parts]))
        calendar = x_wr_timezone.to_standard(calendar)
        events = [c for c in calendar.subcomponents if c.name == "VEVENT"]
        if not events:
            raise _Skip("no VEVENT in the component")
        masters = [c for c in events if "RECURRENCE-ID" not in c]
        good = []
        for component in events:
            try:
                _check_dates(component, uid)
            except _Skip as why:
                if component in masters or not masters:
                    raise
                self.report.warn(f"skipping a changed instance of {quote(uid)}: {why}")
                continue
            good.append(component)
        calendar.subcomponents = [c for c in calendar.subcomponents if c.name != "VEVENT"] + good
        recurring = (
            {uid}
            if any(k in c for c in good for k in ("RRULE", "RDATE", "RECURRENCE-ID"))
            else set()
        )
        query = recurring_ical_events.of(calendar)
        cap = limits.max_occurrences_per_series
        occurrences: list[Any] = []
        for series in query.series:
            occurrences += list(
                islice(series.between(request.start, request.end), cap + 1 - len(occurrences))
            )
            if len(occurrences) > cap:
                break
        if len(occurrences) > cap:
            occurrences = occurrences[:cap]
            self.stats.cut += 1
            self.report.warn(
                f"the series {quote(uid)} has more than {cap} occurrences in the window; "
                f"keeping the first {cap} (the source's max_occurrences_per_series)"
            )
        out = []
        longest = timedelta(days=limits.max_event_days)
        for occurrence in occurrences:
            event = component_to_event(
                occurrence.as_component(False),
                source=request.source,
                calendar=request.calendar,
                tz=request.tz,
                recurring=recurring,
            )
            if event is None:
                continue
            if _compare_key(event.end) - _compare_key(event.start) > longest:
                raise _Skip(f"an occurrence lasts over {limits.max_event_days} days")
            out.append(event)
        return out

    # -- the feed

    def run(self) -> ParseResult:
        started = time.monotonic()
        request = self.request
        split = split_feed(request.body, self.limits.max_components)
        self.stats.components = len(split.components)
        if split.components and all(c.problem for c in split.components):
            # Nothing in it is well-formed: an unreadable container, not a feed of bad events.
            raise SourceError(
                f"malformed ICS feed: no component is well-formed "
                f"(the first: {split.components[0].problem})"
            )
        for warning in split.warnings:
            self.report.warn(warning)
        header = self._header(split)
        self._load_timezones(header, [c for c in split.components if c.name == "VTIMEZONE"])
        window_start = request.start.date()
        window_end = request.end.date()
        groups: dict[str, list[RawComponent]] = {}
        for number, component in enumerate(split.components, 1):
            if component.name != "VEVENT":
                continue
            key = component.uid
            groups.setdefault(key if key is not None else f"without UID #{number}", []).append(
                component
            )
            for name in component.dropped:
                self.report.warn(
                    f"dropped an over-long {quote(name, 40)} property of "
                    f"{quote(key or 'an event without UID')}"
                )
        events: list[Event] = []
        for uid, parts in groups.items():
            if self.window_first and _cannot_reach(parts, window_start, window_end):
                self.stats.outside += 1
                continue
            self._over_time()
            self.stats.series += 1
            try:
                with _time_budget(self.limits.max_series_seconds):
                    found = self._series(header, uid, parts)
            except _OverBudgetError:
                reason = (
                    f"it took longer than {self.limits.max_series_seconds:g} s "
                    "(the source's max_series_seconds)"
                )
            except _Skip as why:
                reason = str(why)
            except CalsyncError:
                raise
            except MemoryError:
                raise
            except Exception as err:
                reason = quote(f"{type(err).__name__}: {err}", 200)
            else:
                events += found
                continue
            self.stats.skipped += 1
            self.report.warn(f"skipping the broken series {quote(uid)}: {reason}")
        self.report.close()
        self.stats.occurrences = len(events)
        self.stats.seconds = time.monotonic() - started
        return ParseResult(events, self.stats)


def parse_feed(request: FeedRequest, *, window_first: bool = True) -> ParseResult:
    """Parse and expand a feed in this process (bounded, but not isolated).

    ``window_first`` (the default) skips, before parsing, every series that
    provably has no occurrence in the window (see :func:`_cannot_reach`);
    ``False`` parses every series (the reference the tests compare with).

    Raises:
        SourceError: the body is not a usable iCalendar container, or a
            feed-wide limit was exceeded.

    """
    try:
        return _Parser(request, window_first).run()
    except SourceError as err:
        message = str(err)
        if not message.startswith(f"{request.source}:"):
            message = f"{request.source}: {message}"
        raise SourceError(message) from err
    except MemoryError as err:
        raise SourceError(f"{request.source}: the feed needs too much memory") from err
    except RecursionError as err:
        raise SourceError(f"{request.source}: the feed is nested too deeply") from err


# ---------------------------------------------------------------------- isolation


class _Collect(logging.Handler):
    """Keeps the child's log records, to be re-emitted by the parent."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.records) < 4 * MAX_WARNINGS:
            self.records.append((record.name, record.levelno, record.getMessage()))


def _portable(event: Event) -> Event:
    """``event`` with time zones the parent can unpickle (fixed offsets if need be)."""
    try:
        pickle.loads(pickle.dumps(event))  # noqa: S301 - bytes this process just made
    except Exception:
        changes: dict[str, Any] = {}
        for name in ("start", "end"):
            value = getattr(event, name)
            if isinstance(value, datetime) and value.tzinfo is not None:
                offset = value.utcoffset() or timedelta(0)
                changes[name] = value.astimezone(timezone(offset))
        return replace(event, **changes)
    return event


def _child(connection: Connection, request: FeedRequest) -> None:
    """The child process: cap memory, parse, send the outcome back."""
    memory = request.limits.max_parse_memory_mb * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    seconds = int(request.limits.max_parse_seconds + CHILD_GRACE_SECONDS) + 1
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    collect = _Collect()
    root = logging.getLogger("calsync")
    root.handlers[:] = [collect]
    root.propagate = False
    root.setLevel(logging.DEBUG)
    try:
        result = parse_feed(request)
        result.events = [_portable(e) for e in result.events]
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result.stats.peak_rss_kib = usage.ru_maxrss
        result.stats.cpu_seconds = usage.ru_utime + usage.ru_stime
        outcome: tuple[str, Any, list[tuple[str, int, str]]] = ("ok", result, collect.records)
    except CalsyncError as err:
        outcome = ("error", str(err), collect.records)
    except MemoryError:
        outcome = ("error", f"{request.source}: the feed needs too much memory", [])
    except BaseException as err:
        outcome = ("error", f"{request.source}: the parser failed: {quote(repr(err), 200)}", [])
    try:
        connection.send(outcome)
    except MemoryError:
        connection.send(("error", f"{request.source}: the feed needs too much memory", []))
    finally:
        connection.close()


_PRELOADED = False
#: Imported once by the forkserver, so each child starts warm (``calsync.cli``:
#: the console script's main module, which every child imports again).
_PRELOAD = (
    "calsync.sources.ics_parse",
    "calsync.sources.ical",
    "icalendar",
    "recurring_ical_events",
    "x_wr_timezone",
    "calsync.cli",
)


def _context() -> Any:
    """The forkserver context, preloaded with this module (cheap children)."""
    global _PRELOADED
    context = multiprocessing.get_context("forkserver")
    if not _PRELOADED:
        context.set_forkserver_preload(list(_PRELOAD))
        _PRELOADED = True
    return context


def _stop(process: Any) -> None:
    if process.is_alive():
        process.kill()
    process.join(timeout=5)


def parse_isolated(request: FeedRequest, cancel: threading.Event | None = None) -> ParseResult:
    """Parse a feed in a child process with a wall deadline and a memory cap.

    The child is killed when ``max_parse_seconds`` (plus a short grace for
    start-up) pass, when ``cancel`` (default: the module's shutdown event, see
    :func:`cancel_parsing`) is set, or when this call is interrupted.

    Raises:
        SourceError: as :func:`parse_feed`, and when the child runs out of
            time or memory, dies, or the parse is cancelled.

    """
    cancel = cancel if cancel is not None else _CANCEL
    name = request.source
    if cancel.is_set():
        raise SourceCancelledError(f"{name}: not parsed: calsync is stopping")
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, request), daemon=True)
    limit = request.limits.max_parse_seconds + CHILD_GRACE_SECONDS
    started = time.monotonic()
    try:
        process.start()
        sender.close()
        logger.debug("%s: parsing in process %s", name, process.pid)
        while True:
            if receiver.poll(POLL_SECONDS):
                try:
                    outcome = receiver.recv()
                except (EOFError, OSError, pickle.UnpicklingError) as err:
                    if cancel.is_set():  # a shutdown signal reached the child too
                        raise SourceCancelledError(
                            f"{name}: parsing stopped: calsync is stopping"
                        ) from err
                    raise SourceError(
                        f"{name}: the parser process died (exit code {process.exitcode}); "
                        f"the feed may need more than {request.limits.max_parse_memory_mb} MB "
                        "(the source's max_parse_memory_mb)"
                    ) from err
                break
            if cancel.is_set():
                raise SourceCancelledError(f"{name}: parsing stopped: calsync is stopping")
            if time.monotonic() - started > limit:
                raise SourceError(
                    f"{name}: parsing took longer than "
                    f"{request.limits.max_parse_seconds:g} s (the source's max_parse_seconds)"
                )
    finally:
        _stop(process)
        receiver.close()
    kind, payload, records = outcome
    for logger_name, level, message in records:
        logging.getLogger(logger_name).log(level, "%s", message)
    if kind != "ok":
        if cancel.is_set():  # e.g. SIGINT reached the child with the rest of the group
            raise SourceCancelledError(f"{name}: parsing stopped: calsync is stopping")
        raise SourceError(str(payload))
    result: ParseResult = payload
    logger.debug(
        "%s: parsed in %.2f s, child peak memory %s KiB",
        name,
        time.monotonic() - started,
        result.stats.peak_rss_kib,
    )
    return result
