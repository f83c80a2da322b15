"""The one exception tree of calsync.

Every error calsync raises on purpose derives from :class:`CalsyncError`.
Adapters (store, sources, LLM, memory) translate library exceptions into
these at their boundary with ``raise ... from err``; the command line turns
them into a message and an exit code in exactly one place
(:func:`calsync.cli.main`), using :attr:`CalsyncError.exit_code`.
"""

from __future__ import annotations

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
