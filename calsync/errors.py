"""The one exception tree of calsync.

Every error calsync raises on purpose derives from :class:`CalsyncError`.
Adapters (store, sources, LLM, memory) translate library exceptions into
these at their boundary with ``raise ... from err``; the command line turns
them into a message and an exit code in exactly one place
(:func:`calsync.cli.main`), using :attr:`CalsyncError.exit_code`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class CalsyncError(Exception):
    """Root of every error calsync raises deliberately."""

    #: Process exit code used by the command line for this kind of error.
    exit_code: int = 1


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found in a configuration file.

    Attributes:
        key: Dotted path of the offending key, e.g. ``task_types[0].block_minutes``
            (``<file>`` for problems with the file as a whole).
        message: Why the value is wrong, in words a user can act on.

    """

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(CalsyncError):
    """The configuration cannot be used; carries every problem found at once."""

    exit_code = 3

    def __init__(self, source: str, problems: list[ConfigProblem]):
        self.source = source
        self.problems = list(problems)
        lines = [f"invalid configuration in {source} ({len(problems)} problem(s)):"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


class InputError(CalsyncError):
    """A value handed to calsync (by the API or the command line) is invalid."""

    exit_code = 2


class UnknownTaskTypeError(InputError):
    """A task type name that the configuration does not define."""


class UnknownUserError(InputError):
    """A user id the store does not know."""


class AdjustmentError(InputError):
    """An LLM adjustment that cannot be applied (unknown day pattern, bad hour)."""


class StoreError(CalsyncError):
    """The database cannot be opened, migrated, read or written."""

    exit_code = 4


class SchemaTooNewError(StoreError):
    """The database was written by a newer calsync than this one."""


class TargetError(CalsyncError):
    """Writing suggestions to a calendar failed; the next cycle resumes."""

    exit_code = 6


class TargetOwnershipError(TargetError):
    """calsync was about to change an event it does not own, and refused."""


class InterpreterError(CalsyncError):
    """An interpreter (the LLM) failed; the arrays stay as they were, retried next sync."""

    exit_code = 7


class MemoryStoreError(CalsyncError):
    """The insight memory store failed."""

    exit_code = 8


class SourceError(CalsyncError):
    """A calendar source failed; other sources go on."""

    exit_code = 5


class AuthError(SourceError):
    """A source needs the user to (re-)authorize calsync."""


class TransientSourceError(SourceError):
    """A source failed in a way that may pass (network, rate limit, 5xx)."""


class SourceCancelledError(SourceError):
    """A source's work was stopped because calsync is stopping; not a failure of the source."""


#: A library object's repr inside a message (``<urllib3….HTTPConnection object at 0x…>``).
_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>:?\s*")
_CAUSED_BY = re.compile(r"Caused by \w+\((['\"])(.*)\1\)\)?$")


def network_reason(err: BaseException) -> str:
    """What went wrong on the network, in words, without library reprs.

    Walks the chain a library wraps an operating-system error in (requests →
    urllib3 → ``ConnectionRefusedError``) and returns its own words
    ("Connection refused", "Name or service not known"); without one, the
    error's text with every ``<… object at 0x…>`` removed. Adapters use it
    when they translate a connection error into a :class:`SourceError` or
    :class:`TargetError`.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [err]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror and current.errno is not None:
            return str(current.strerror)
        pending += [a for a in current.args if isinstance(a, BaseException)]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            pending.append(reason)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    text = str(err)
    if caused := _CAUSED_BY.search(text):  # urllib3's "… (Caused by NewConnectionError('…'))"
        text = caused.group(2)
    return _REPR.sub("", text).strip() or type(err).__name__
