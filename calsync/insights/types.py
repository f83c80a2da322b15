"""Values shared by the memory stores, the interpreters and the sync.

Everything here is a plain frozen value: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from calsync.learning.habits import Adjustment


@dataclass(frozen=True)
class MemoryHit:
    """One stored memory, as a store returns it.

    Attributes:
        id: The store's id for it.
        text: The words.
        metadata: What was stored with it (kind, confidence, source…).
        score: Relevance to the query (higher is better; 0 for plain listings).

    """

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0


@runtime_checkable
class MemoryStore(Protocol):
    """Where qualitative insights live, searchable by meaning or words.

    Every method is scoped to one user: a store never returns another user's memories.
    """

    def add(self, text: str, user_id: str, metadata: dict[str, Any] | None = None) -> str:
        """Store ``text`` for ``user_id``; return its id."""
        ...

    def search(self, query: str, user_id: str, limit: int = 10) -> list[MemoryHit]:
        """The user's memories most relevant to ``query``, best first."""
        ...

    def list(self, user_id: str) -> list[MemoryHit]:
        """Every memory of the user, oldest first."""
        ...

    def delete(self, memory_id: str, user_id: str) -> bool:
        """Delete one of the user's memories; ``False`` when it does not exist."""
        ...

    def close(self) -> None:
        """Release the store (its database connection); a no-op for some."""
        ...


@dataclass(frozen=True)
class SlotSummary:
    """A peak or valley shown to an interpreter: ``"Tuesday 09:00"`` and its value."""

    label: str
    value: float


@dataclass(frozen=True)
class Profile:
    """What an interpreter is told about the user besides the insights.

    Attributes:
        task_type: The task type being adjusted (``None``: the energy array).
        peaks: Its best slots now.
        valleys: Its worst slots now.
        completions: How many completions the array learned from.

    """

    task_type: str | None
    peaks: tuple[SlotSummary, ...] = ()
    valleys: tuple[SlotSummary, ...] = ()
    completions: int = 0


@dataclass(frozen=True)
class Usage:
    """What one interpretation cost."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0


@dataclass(frozen=True)
class Interpretation:
    """An interpreter's answer: validated adjustments, what it cost, and what it dropped."""

    adjustments: tuple[Adjustment, ...]
    usage: Usage = Usage()
    rejected: tuple[str, ...] = ()


@runtime_checkable
class Interpreter(Protocol):
    """Turns insights (quoted data, never instructions) into slot adjustments."""

    def interpret(self, insights: list[str], profile: Profile) -> Interpretation:
        """Adjustments ``{day_pattern, hour_range, modifier, reason}`` for the profile's array.

        Never raises for bad model output: invalid items are dropped (listed
        in ``rejected``); a failed call raises
        :class:`~calsync.errors.InterpreterError` and changes nothing.
        """
        ...
