"""Benchmark of the foundation's performance targets (issue: foundation).

* A behavioural update including its SQLite commit: p99 under 5 ms.
* ``find_optimal_slot`` for a 2-hour block over a fully free week: under 5 ms.

Run: ``python benchmarks/bench_core.py [--updates N] [--repeats N]``. It uses a
real SQLite file (WAL, ``synchronous=NORMAL``) in a temporary directory, the
same :class:`calsync.service.Calsync` API the daemon uses, and prints
percentiles in milliseconds plus PASS/FAIL against each target.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from calsync.clock import FixedClock
from calsync.config import embedded_default
from calsync.learning.habits import neutral_array
from calsync.learning.planner import Period, find_optimal_slot
from calsync.service import open as open_calsync


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples), q))


def report(name: str, samples_ms: list[float], target_ms: float, gate: str) -> bool:
    p50, p95, p99 = (percentile(samples_ms, q) for q in (50, 95, 99))
    value = p99 if gate == "p99" else statistics.median(samples_ms)
    ok = value < target_ms
    print(
        f"{name}: n={len(samples_ms)} p50={p50:.3f} ms p95={p95:.3f} ms p99={p99:.3f} ms "
        f"max={max(samples_ms):.3f} ms -> {gate} {value:.3f} ms "
        f"{'PASS' if ok else 'FAIL'} (target < {target_ms} ms)"
    )
    return ok


def bench_updates(n: int) -> bool:
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        config = embedded_default()
        clock = FixedClock(datetime(2026, 11, 24, 12, tzinfo=UTC))
        cs = open_calsync(config, store_url=f"sqlite:///{Path(tmp) / 'bench.db'}", clock=clock)
        tasks = [t.name for t in config.task_types]
        base = datetime(2026, 1, 1, tzinfo=UTC)
        samples = []
        for i in range(n):
            start = base + timedelta(minutes=15 * i)
            task = tasks[i % len(tasks)]
            success, energy = rng.random(), rng.random()
            t0 = time.perf_counter()
            cs.record_completion(task, start, success, energy)
            samples.append((time.perf_counter() - t0) * 1000)
        cs.close()
    return report("behavioural update + SQLite commit", samples, 5.0, "p99")


def bench_slot(repeats: int) -> bool:
    tz = ZoneInfo("Europe/Berlin")
    rng = np.random.default_rng(2)
    habit, energy = rng.random(168), neutral_array()
    start = datetime(2026, 11, 23, tzinfo=tz)
    week = [Period(start, start + timedelta(days=7))]
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        choice = find_optimal_slot(habit, energy, timedelta(hours=2), week, tz)
        samples.append((time.perf_counter() - t0) * 1000)
        assert choice is not None
    return report("find_optimal_slot, 2 h block, free week", samples, 5.0, "p99")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=500)
    args = parser.parse_args()
    ok = bench_updates(args.updates) & bench_slot(args.repeats)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
