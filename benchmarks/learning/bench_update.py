"""Update latency of the adaptive learner, commit included (target: p99 under 5 ms).

One update is what the daemon would do per outcome with
:mod:`calsync.learning.adaptive`: :func:`~calsync.learning.adaptive.observe`
the outcome, recompute every habit array
(:func:`~calsync.learning.adaptive.adaptive_arrays`), and write the touched
task type's two memories, the scores and every array to SQLite (a file in a
temporary directory, WAL, ``synchronous=NORMAL`` as calsync's store opens it)
in one committed transaction.

Run from the repository root::

    python -m benchmarks.learning.bench_update [--updates N] [--tasks N]

It prints percentiles in milliseconds and PASS/FAIL against the target.
``benchmarks/bench_core.py`` measures today's daemon path (the evidence
learner through :class:`calsync.service.Calsync`).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from calsync.learning.adaptive import AdaptiveParams, AdaptiveState, adaptive_arrays, observe

#: The latency target (ms, p99).
TARGET_MS = 5.0


def bench(updates: int, tasks: int, seed: int = 1) -> list[float]:
    """Latencies (ms) of ``updates`` adaptive updates for a user with ``tasks`` task types."""
    rng = random.Random(seed)
    names = [f"task {i}" for i in range(tasks)]
    params = AdaptiveParams()
    state = AdaptiveState()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "bench.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE memories (stream TEXT PRIMARY KEY, long BLOB, short BLOB)")
        db.execute("CREATE TABLE arrays (task TEXT PRIMARY KEY, value BLOB)")
        db.execute("CREATE TABLE scores (user TEXT PRIMARY KEY, value TEXT)")
        for i in range(updates):
            task = names[i % tasks]
            start = base + timedelta(minutes=37 * i)
            slot = rng.randrange(168)
            success = rng.random()
            began = time.perf_counter()
            state = observe(state, task, slot, success, start, params)
            arrays = adaptive_arrays(state, names, params)
            memories = state.streams[task]
            db.execute("BEGIN")
            db.execute(
                "INSERT OR REPLACE INTO memories VALUES (?, ?, ?)",
                (
                    task,
                    np.concatenate([memories.long.positive, memories.long.negative]).tobytes(),
                    np.concatenate([memories.short.positive, memories.short.negative]).tobytes(),
                ),
            )
            for name, values in arrays.items():
                db.execute("INSERT OR REPLACE INTO arrays VALUES (?, ?)", (name, values.tobytes()))
            scores = {"change": state.change, "gains": [[*k, v] for k, v in state.gains.items()]}
            db.execute("INSERT OR REPLACE INTO scores VALUES ('me', ?)", (json.dumps(scores),))
            db.execute("COMMIT")
            samples.append((time.perf_counter() - began) * 1000)
        db.close()
    return samples


def main(argv: list[str] | None = None) -> int:
    """Run for 3 and 8 task types; print percentiles; exit 1 if a p99 misses the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--tasks", type=int, nargs="*", default=[3, 8])
    args = parser.parse_args(argv)
    ok = True
    for tasks in args.tasks:
        samples = np.array(bench(args.updates, tasks))
        p50, p95, p99 = (float(np.percentile(samples, q)) for q in (50, 95, 99))
        passed = p99 < TARGET_MS
        ok &= passed
        print(
            f"adaptive update + arrays + SQLite commit, {tasks} task types: n={len(samples)} "
            f"p50={p50:.3f} ms p95={p95:.3f} ms p99={p99:.3f} ms max={samples.max():.3f} ms "
            f"-> {'PASS' if passed else 'FAIL'} (target p99 < {TARGET_MS} ms)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
