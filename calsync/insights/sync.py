"""Insights and the periodic interpreter ("LLM") sync.

Behaviour says *when* someone works well; their own words say *why*. This
service keeps the user's words and the patterns found in their behaviour in a
memory store, and every ``insights.sync_hours`` (6) turns them into slot
adjustments:

1. only users with behavioural updates or notes of their own since their last
   sync are synced — no new data, no interpreter call (a note counts so that
   what a new user says shapes the arrays before anything is learned);
2. the memory store is searched for the user's insights (topped up with the
   most recent ones);
3. the interpreter (offline ``rules`` by default, or an OpenAI-compatible
   model) gets them as quoted data, with the current peaks and valleys of the
   user's energy array — **one call per user per sync**;
4. the validated, clamped adjustments are merged into the user's energy
   array (70 % behaviour, 30 % interpreter), which every task type's score
   uses; a failed or invalid answer changes nothing and is retried next sync.
   Whatever the number of adjustments, one sync moves a slot by at most
   ``merge.max_sync_change`` (±50 %) of its value.
   With the evidence learner (the default) they shape the energy array's
   prior, and each sync's answer replaces the previous one — it was computed
   from all the insights — so repeated syncs do not compound, and the
   user's words yield to behaviour as ratings accumulate (see
   :meth:`calsync.service.Calsync.apply_adjustments`).

Each run is recorded: users synced, adjustments applied, calls, tokens, cost
and duration.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from calsync.errors import CalsyncError, InputError, InterpreterError, MemoryStoreError
from calsync.insights.rules import generate_insights
from calsync.insights.types import (
    Interpreter,
    MemoryHit,
    MemoryStore,
    Profile,
    SlotSummary,
    Usage,
)
from calsync.learning.slots import slot_label
from calsync.service import Calsync
from calsync.text import quote

logger = logging.getLogger(__name__)

#: Insight kinds that are the user's own words (``calsync note``, ``note:`` lines
#: in events); a new one is new data for the sync, a generated pattern is not.
OWN_WORDS = frozenset({"user", "feedback"})

#: Words that find scheduling insights in a memory store.
SEARCH_QUERY = (
    "morning afternoon evening night weekday weekend monday tuesday wednesday thursday "
    "friday saturday sunday energy focus productive tired best worst"
)


@dataclass
class SyncReport:
    """What one interpreter sync did."""

    users_synced: int = 0
    users_skipped: int = 0
    adjustments_applied: int = 0
    usage: Usage = field(default_factory=Usage)
    duration_ms: float = 0.0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people."""
        line = (
            f"interpreter sync: {self.users_synced} user(s) synced, {self.users_skipped} without "
            f"new data; {self.adjustments_applied} adjustment(s) applied; {self.usage.calls} "
            f"call(s), {self.usage.prompt_tokens}+{self.usage.completion_tokens} tokens, "
            f"cost {self.usage.cost:.4f}; {self.duration_ms:.0f} ms"
        )
        return line + (f"; errors: {'; '.join(self.errors)}" if self.errors else "")


def _add_usage(total: Usage, more: Usage) -> Usage:
    return Usage(
        calls=total.calls + more.calls,
        prompt_tokens=total.prompt_tokens + more.prompt_tokens,
        completion_tokens=total.completion_tokens + more.completion_tokens,
        cost=total.cost + more.cost,
    )


def energy_profile(values: np.ndarray, completions: int, count: int = 3) -> Profile:
    """The peaks and valleys of an energy array, for the interpreter's prompt."""
    order = np.argsort(-values, kind="stable")
    peaks = tuple(
        SlotSummary(slot_label(int(i)), round(float(values[i]), 3)) for i in order[:count]
    )
    valleys = tuple(
        SlotSummary(slot_label(int(i)), round(float(values[i]), 3)) for i in order[::-1][:count]
    )
    return Profile(task_type=None, peaks=peaks, valleys=valleys, completions=completions)


class InsightService:
    """Insights for the users of one :class:`~calsync.service.Calsync`.

    Args:
        cs: The learning API (store, config, clock).
        memory: Where insights are searched.
        interpreter: Turns insights into adjustments.
        timer: Monotonic seconds (injected in tests).

    """

    def __init__(
        self,
        cs: Calsync,
        memory: MemoryStore,
        interpreter: Interpreter,
        timer: Callable[[], float] = time.perf_counter,
    ):
        self.cs = cs
        self.memory = memory
        self.interpreter = interpreter
        self._timer = timer

    @classmethod
    def from_config(cls, cs: Calsync) -> InsightService:
        """Build the configured memory store and interpreter."""
        from calsync.insights.interpret import build_interpreter
        from calsync.insights.memory import open_memory_store

        settings = cs.config.insights
        memory = open_memory_store(
            settings.memory, cs.config.resolved_state_dir(), settings.mem0 or None
        )
        options: dict[str, Any] = {}
        if settings.interpreter == "openai":
            o = settings.openai
            options = {
                "base_url": o.base_url,
                "model": o.model,
                "api_key_env": o.api_key_env,
                "timeout": o.timeout_seconds,
                "max_retries": o.max_retries,
                "price_per_1k_prompt": o.price_per_1k_prompt,
                "price_per_1k_completion": o.price_per_1k_completion,
                "modifier_range": (cs.config.merge.modifier_min, cs.config.merge.modifier_max),
            }
        return cls(cs, memory, build_interpreter(settings.interpreter, **options))

    def close(self) -> None:
        """Close the memory store (the daemon keeps one service open while it runs)."""
        self.memory.close()

    def __enter__(self) -> InsightService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ storing

    def _store(
        self, user: str, kind: str, text: str, confidence: str, meta: dict[str, Any]
    ) -> bool:
        """Keep an insight once: in the database (by fingerprint) and the memory store."""
        now = self.cs.clock.now()
        with self.cs.store.write() as tx:
            if not tx.add_insight(user, kind, text, now, confidence=confidence, meta=meta):
                return False
        self._mirror(user)
        return True

    def _mirror(self, user: str) -> None:
        """Copy insights the memory store has not seen yet (e.g. notes from events)."""
        with self.cs.store.read() as tx:
            pending = [i for i in tx.insights(user) if not (i.meta or {}).get("memory_id")]
        for insight in pending:
            meta = dict(insight.meta or {})
            try:
                memory_id = self.memory.add(
                    insight.text,
                    user,
                    {**meta, "kind": insight.kind, "confidence": insight.confidence},
                )
            except MemoryStoreError as err:
                logger.warning("memory store refused an insight: %s", err)
                return
            with self.cs.store.write() as tx:
                tx.set_insight_meta(insight.id, {**meta, "memory_id": memory_id})

    def add_note(self, text: str, user: str | None = None) -> bool:
        """The user's own words ("Tuesday mornings are my sweet spot"); ``False`` if known."""
        text = " ".join(text.split())
        if not text:
            raise InputError("a note needs some words")
        return self._store(user or self.cs.config.user.id, "user", text, "high", {"source": "note"})

    def generate(self, user: str | None = None) -> int:
        """Store the insights the seed's rules find in behaviour; return how many were new.

        The rules read the user's own outcomes per slot, not the smoothed and
        pooled arrays (see :mod:`calsync.insights.rules`).
        """
        user = user or self.cs.config.user.id
        configured = {t.name for t in self.cs.config.task_types}
        outcomes = {n: v for n, v in self.cs.outcomes(user).items() if n in configured}
        new = 0
        for insight in generate_insights(outcomes):
            new += self._store(user, insight.kind, insight.text, insight.confidence, {})
        return new

    def search(self, user: str, limit: int) -> list[MemoryHit]:
        """The user's insights for a sync: the best matches, topped up with the newest."""
        self._mirror(user)
        hits = self.memory.search(SEARCH_QUERY, user, limit)
        seen = {h.id for h in hits}
        for hit in reversed(self.memory.list(user)):
            if len(hits) >= limit:
                break
            if hit.id not in seen:
                hits.append(hit)
                seen.add(hit.id)
        return hits

    # ------------------------------------------------------------------ the sync

    def sync(self) -> SyncReport:
        """Run the interpreter sync for every user with new behaviour."""
        started = self._timer()
        report = SyncReport()
        now = self.cs.clock.now()
        with self.cs.store.read() as tx:
            users = sorted(tx.users())
        for user in users:
            with self.cs.store.read() as tx:
                last = tx.last_llm_sync(user)
                stamps = [tx.last_update_at(user)]
                stamps += [i.created_at for i in tx.insights(user) if i.kind in OWN_WORDS]
            fresh = [stamp for stamp in stamps if stamp is not None]
            if not fresh or (last is not None and max(fresh) <= last):
                report.users_skipped += 1
                continue
            try:
                applied, usage = self._sync_user(user)
            except (InterpreterError, MemoryStoreError) as err:
                # The message may quote a model's or a server's words: bounded, printable.
                report.errors.append(f"{user}: {quote(err)}")
                with self.cs.store.write() as tx:
                    tx.save_llm_sync(user, None, quote(err))
                continue
            report.users_synced += 1
            report.adjustments_applied += applied
            report.usage = _add_usage(report.usage, usage)
            with self.cs.store.write() as tx:
                tx.save_llm_sync(user, now, None)
        report.duration_ms = (self._timer() - started) * 1000
        with self.cs.store.write() as tx:
            tx.add_llm_run(
                started_at=now,
                duration_ms=report.duration_ms,
                users_synced=report.users_synced,
                adjustments_applied=report.adjustments_applied,
                llm_calls=report.usage.calls,
                prompt_tokens=report.usage.prompt_tokens,
                completion_tokens=report.usage.completion_tokens,
                cost=report.usage.cost,
                errors="; ".join(report.errors) or None,
            )
        logger.info("%s", report.summary())
        return report

    def _sync_user(self, user: str) -> tuple[int, Usage]:
        hits = self.search(user, self.cs.config.insights.search_limit)
        if not hits:
            return 0, Usage()
        energy = self.cs.energy(user)
        profile = energy_profile(energy.values, energy.count)
        try:
            answer = self.interpreter.interpret([h.text for h in hits], profile)
        except CalsyncError:
            raise
        except (ValueError, TypeError, ArithmeticError, RecursionError) as err:
            # A third-party interpreter (or client) that let a bad answer escape.
            raise InterpreterError(
                f"the interpreter failed on its answer: {type(err).__name__}"
            ) from err
        if answer.rejected:
            logger.info("%s: %d interpreter item(s) rejected", user, len(answer.rejected))
        if answer.adjustments:
            key = f"llm-sync:{user}:{self.cs.clock.now().isoformat()}"
            self.cs.apply_adjustments(list(answer.adjustments), None, user=user, key=key)
        return len(answer.adjustments), answer.usage

    def due(self) -> bool:
        """True when the last run is older than ``insights.sync_hours``."""
        with self.cs.store.read() as tx:
            runs = tx.llm_runs(limit=1)
        if not runs:
            return True
        interval = timedelta(hours=self.cs.config.insights.sync_hours)
        started: datetime = runs[0]["started_at"]
        return self.cs.clock.now() - started >= interval
