"""The learners: how the update log becomes the 168-slot arrays.

:class:`~calsync.service.Calsync` validates input and owns the update log
(idempotency keys, corrections, the adjustment audit trail); a learner,
chosen by ``learning.learner``, keeps the stored habit and energy arrays in
step with that log inside the same transaction:

* :class:`EmaLearner` (``"ema"``) — the original exponential moving average
  of completions (:func:`calsync.learning.habits.behavioural_update`);
  interpreter adjustments are merged into the current array, each on top of
  the previous ones.
* :class:`EvidenceLearner` (``"evidence"``, the default) — smoothed, fading
  Beta–Bernoulli evidence (:mod:`calsync.learning.evidence`), stored per user
  and stream (task type or energy) so every array can be recomputed at once.
  Interpreter adjustments shape the **prior** of their target, and the newest
  adjustment row of a target replaces the earlier ones: a stated preference
  decides while evidence is thin and yields to behaviour as evidence
  accumulates, and repeated syncs of the same insights do not compound.

Both are deterministic functions of the log, so :meth:`Learner.rebuild`
recomputes a user's arrays from it; the service does so at start-up when the
:meth:`Learner.fingerprint` stored with the user's arrays differs from the
configured one. Completion counts (what maturity uses) are kept the same way
by both: one per completion of a task type, one per energy rating.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any, Protocol

from calsync.config import Config
from calsync.learning.evidence import (
    SlotEvidence,
    add_outcome,
    energy_array,
    evidence_from,
    population_prior,
    posterior_arrays,
)
from calsync.learning.habits import (
    Adjustment,
    WeeklyArray,
    apply_adjustments,
    behavioural_update,
    neutral_array,
)
from calsync.store.store import StoreTx, UpdateRow


class Learner(Protocol):
    """What the service asks of a learner; every method runs inside a write transaction."""

    def fingerprint(self) -> str:
        """The learner kind and every parameter the arrays depend on, as canonical JSON."""
        ...

    def habit_default(self) -> WeeklyArray:
        """A habit array before anything is stored for it."""
        ...

    def record(
        self,
        tx: StoreTx,
        user_id: str,
        task_id: int,
        slot: int,
        success: float,
        energy_after: float | None,
        start: datetime,
        now: datetime,
    ) -> None:
        """Learn one new completion (its log row is written by the service)."""
        ...

    def replay(
        self, tx: StoreTx, user_id: str, task_ids: Collection[int], energy: bool, now: datetime
    ) -> None:
        """Recompute some arrays from the log after a completion was corrected.

        Args:
            tx: The open write transaction.
            user_id: Whose arrays.
            task_ids: Task types whose habit arrays the correction touched.
            energy: Whether it touched the energy array.
            now: The time to stamp the arrays with.

        """
        ...

    def adjust(
        self,
        tx: StoreTx,
        user_id: str,
        task_id: int | None,
        adjustments: Sequence[Adjustment],
        now: datetime,
    ) -> None:
        """Apply interpreter adjustments whose log row the service has just written.

        ``task_id`` ``None`` adjusts the energy array.
        """
        ...

    def rebuild(self, tx: StoreTx, user_id: str, now: datetime) -> None:
        """Recompute every array of a user from the update log."""
        ...


def _canonical(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def build_learner(config: Config) -> Learner:
    """The learner ``config.learning.learner`` names."""
    if config.learning.learner == "ema":
        return EmaLearner(config)
    return EvidenceLearner(config)


class EmaLearner:
    """The original EMA learner: each completion moves its slot toward its rating.

    Args:
        config: The configuration (``[learning]`` and ``[merge]``).

    """

    def __init__(self, config: Config):
        self._params = config.learning.params()
        self._merge = config.merge.params()
        self._neutral = config.learning.neutral_value

    def fingerprint(self) -> str:
        """``learner``, the learning rates, the neutral value and the merge parameters."""
        return _canonical(
            {
                "learner": "ema",
                "ema": asdict(self._params),
                "neutral_value": self._neutral,
                "merge": asdict(self._merge),
            }
        )

    def habit_default(self) -> WeeklyArray:
        """The neutral array."""
        return neutral_array(self._neutral)

    def record(
        self,
        tx: StoreTx,
        user_id: str,
        task_id: int,
        slot: int,
        success: float,
        energy_after: float | None,
        start: datetime,
        now: datetime,
    ) -> None:
        """One EMA step of the task type's habit array (and of the energy array)."""
        habit, count = tx.load_habit(user_id, task_id, self._neutral)
        habit, count = behavioural_update(habit, slot, success, count, self._params)
        tx.save_habit(user_id, task_id, habit, count, now)
        if energy_after is not None:
            energy, energy_count = tx.load_energy(user_id, self._neutral)
            energy, energy_count = behavioural_update(
                energy, slot, energy_after, energy_count, self._params
            )
            tx.save_energy(user_id, energy, energy_count, now)

    def replay(
        self, tx: StoreTx, user_id: str, task_ids: Collection[int], energy: bool, now: datetime
    ) -> None:
        """Replay the touched arrays' log rows (completions and adjustments) in order."""
        for task_id in task_ids:
            self._replay_habit(tx, user_id, task_id, now)
        if energy:
            self._replay_energy(tx, user_id, now)

    def adjust(
        self,
        tx: StoreTx,
        user_id: str,
        task_id: int | None,
        adjustments: Sequence[Adjustment],
        now: datetime,
    ) -> None:
        """Merge the adjustments into the current array (70/30), on top of earlier ones."""
        if task_id is None:
            energy, count = tx.load_energy(user_id, self._neutral)
            tx.save_energy(user_id, apply_adjustments(energy, adjustments, self._merge), count, now)
        else:
            habit, count = tx.load_habit(user_id, task_id, self._neutral)
            tx.save_habit(
                user_id, task_id, apply_adjustments(habit, adjustments, self._merge), count, now
            )

    def rebuild(self, tx: StoreTx, user_id: str, now: datetime) -> None:
        """Replay the log of every task type's habit array and of the energy array."""
        for task_id in tx.task_type_names():
            self._replay_habit(tx, user_id, task_id, now)
        self._replay_energy(tx, user_id, now)

    def _replay(self, rows: Iterable[UpdateRow], energy: bool) -> tuple[WeeklyArray, int]:
        array, count = neutral_array(self._neutral), 0
        for row in rows:
            if row.kind == "completion":
                value = row.energy_after if energy else row.success
                assert row.slot is not None
                assert value is not None
                array, count = behavioural_update(array, row.slot, value, count, self._params)
            else:
                array = apply_adjustments(array, row.adjustments or [], self._merge)
        return array, count

    def _replay_habit(self, tx: StoreTx, user_id: str, task_id: int, now: datetime) -> None:
        array, count = self._replay(tx.updates_for_habit(user_id, task_id), energy=False)
        tx.save_habit(user_id, task_id, array, count, now)

    def _replay_energy(self, tx: StoreTx, user_id: str, now: datetime) -> None:
        array, count = self._replay(tx.updates_for_energy(user_id), energy=True)
        tx.save_energy(user_id, array, count, now)


_NOTHING = SlotEvidence()


class EvidenceLearner:
    """The default learner: per-stream slot evidence behind every array.

    Every change — a completion, a correction, an adjustment — updates the
    stored evidence and recomputes the user's arrays from it: all habit
    arrays at once (task types pool each other's evidence), the energy array
    when the energy stream or its adjustments changed.

    Args:
        config: The configuration (``[learning]``, ``[merge]`` and the task types).

    """

    def __init__(self, config: Config):
        self._params = config.learning.evidence_params()
        self._merge = config.merge.params()
        self._neutral = config.learning.neutral_value
        self._tasks = [task.name for task in config.task_types]
        self._prior = population_prior(self._neutral)
        self._ids: dict[str, int] | None = None

    def fingerprint(self) -> str:
        """``learner``, its parameters, the neutral value, the merge and the task types.

        The configured task types are part of it because they pool each
        other's evidence: adding one changes the others' arrays.
        """
        return _canonical(
            {
                "learner": "evidence",
                "evidence": asdict(self._params),
                "neutral_value": self._neutral,
                "merge": asdict(self._merge),
                "task_types": sorted(self._tasks),
            }
        )

    def habit_default(self) -> WeeklyArray:
        """The posterior of no evidence: the population prior."""
        return posterior_arrays({"": _NOTHING}, self._params, prior=self._prior)[""]

    def record(
        self,
        tx: StoreTx,
        user_id: str,
        task_id: int,
        slot: int,
        success: float,
        energy_after: float | None,
        start: datetime,
        now: datetime,
    ) -> None:
        """Add the outcome (and the energy rating) at ``start``; recompute the arrays."""
        evidence = tx.evidence(user_id)
        evidence[task_id] = add_outcome(
            evidence.get(task_id, _NOTHING), slot, success, start, self._params
        )
        changed: dict[int | None, SlotEvidence] = {task_id: evidence[task_id]}
        counts = tx.habit_counts(user_id)
        counts[task_id] = counts.get(task_id, 0) + 1
        energy_count = None
        if energy_after is not None:
            evidence[None] = add_outcome(
                evidence.get(None, _NOTHING), slot, energy_after, start, self._params
            )
            changed[None] = evidence[None]
            energy_count = tx.load_energy(user_id, self._neutral)[1] + 1
        tx.save_evidence_streams(user_id, changed, now)  # one statement for both streams
        self._refresh(tx, user_id, evidence, counts, energy_count, now)

    def replay(
        self, tx: StoreTx, user_id: str, task_ids: Collection[int], energy: bool, now: datetime
    ) -> None:
        """Recompute the touched streams' evidence from their completions; then the arrays."""
        evidence = tx.evidence(user_id)
        counts = tx.habit_counts(user_id)
        for task_id in task_ids:
            rows = [r for r in tx.updates_for_habit(user_id, task_id) if r.kind == "completion"]
            evidence[task_id] = self._from_rows(rows, energy=False)
            tx.save_evidence(user_id, task_id, evidence[task_id], now)
            counts[task_id] = len(rows)
        energy_count = None
        if energy:
            rows = [r for r in tx.updates_for_energy(user_id) if r.kind == "completion"]
            evidence[None] = self._from_rows(rows, energy=True)
            tx.save_evidence(user_id, None, evidence[None], now)
            energy_count = len(rows)
        self._refresh(tx, user_id, evidence, counts, energy_count, now)

    def adjust(
        self,
        tx: StoreTx,
        user_id: str,
        task_id: int | None,
        adjustments: Sequence[Adjustment],
        now: datetime,
    ) -> None:
        """Recompute the target's array with the newest adjustment row merged into its prior.

        The row the service has just logged is the newest, so ``adjustments``
        replace whatever earlier rows said about the same target; the evidence
        is unchanged, and a prior is worth ``prior_weight`` outcomes per slot,
        so the adjustment matters most where little is known.
        """
        evidence = tx.evidence(user_id)
        if task_id is None:
            energy_count = tx.load_energy(user_id, self._neutral)[1]
            self._refresh(tx, user_id, evidence, None, energy_count, now)
        else:
            self._refresh(tx, user_id, evidence, tx.habit_counts(user_id), None, now)

    def rebuild(self, tx: StoreTx, user_id: str, now: datetime) -> None:
        """Recompute every evidence stream from the user's completions; then every array."""
        by_task: dict[int, list[UpdateRow]] = {}
        energy_rows: list[UpdateRow] = []
        for row in tx.completions(user_id):
            if row.task_type_id is not None:
                by_task.setdefault(row.task_type_id, []).append(row)
            if row.energy_after is not None:
                energy_rows.append(row)
        tx.delete_evidence(user_id)
        evidence: dict[int | None, SlotEvidence] = {}
        for task_id, rows in by_task.items():
            evidence[task_id] = self._from_rows(rows, energy=False)
            tx.save_evidence(user_id, task_id, evidence[task_id], now)
        if energy_rows:
            evidence[None] = self._from_rows(energy_rows, energy=True)
            tx.save_evidence(user_id, None, evidence[None], now)
        counts = {task_id: len(rows) for task_id, rows in by_task.items()}
        self._refresh(tx, user_id, evidence, counts, len(energy_rows), now)

    # ------------------------------------------------------------------ helpers

    def _task_ids(self, tx: StoreTx) -> dict[str, int]:
        # Configured task types are created at start-up and never renumbered.
        if self._ids is None:
            ids = {name: tx.task_type_id(name) for name in self._tasks}
            assert None not in ids.values(), "configured task types are created at start-up"
            self._ids = {name: task_id for name, task_id in ids.items() if task_id is not None}
        return self._ids

    def _from_rows(self, rows: Iterable[UpdateRow], energy: bool) -> SlotEvidence:
        outcomes = []
        for row in rows:
            value = row.energy_after if energy else row.success
            assert row.slot is not None
            assert value is not None
            assert row.occurred_at is not None, "completions are logged with their start"
            outcomes.append((row.slot, value, row.occurred_at))
        return evidence_from(outcomes, self._params)

    def _refresh(
        self,
        tx: StoreTx,
        user_id: str,
        evidence: Mapping[int | None, SlotEvidence],
        habit_counts: Mapping[int, int] | None,
        energy_count: int | None,
        now: datetime,
    ) -> None:
        """Save arrays computed from ``evidence`` and each target's newest adjustments.

        Every configured habit array when ``habit_counts`` is given; the energy
        array when ``energy_count`` is.
        """
        adjustments = {
            target: [Adjustment.from_mapping(item) for item in items]
            for target, items in tx.latest_adjustments(user_id).items()
        }
        if habit_counts is not None:
            ids = self._task_ids(tx)
            arrays = posterior_arrays(
                {name: evidence.get(task_id, _NOTHING) for name, task_id in ids.items()},
                self._params,
                prior=self._prior,
                adjustments={name: adjustments.get(task_id, []) for name, task_id in ids.items()},
                merge=self._merge,
            )
            tx.save_habits(
                user_id,
                {
                    task_id: (arrays[name], habit_counts.get(task_id, 0))
                    for name, task_id in ids.items()
                },
                now,
            )
        if energy_count is not None:
            energy = energy_array(
                evidence.get(None, _NOTHING),
                self._params,
                neutral=self._neutral,
                adjustments=adjustments.get(None, []),
                merge=self._merge,
            )
            tx.save_energy(user_id, energy, energy_count, now)
