"""Benchmark of the planner (issue: write-back).

Planning a week for 20 task types on a calendar with 500 busy events: under
50 ms. Measured here: busy time from 500 normalized events (buffers, merge)
plus :func:`calsync.learning.schedule.plan_blocks`, the pure planner the
write-back cycle calls, with the settings :func:`calsync.planning.plan_params`
makes of a configuration (its defaults, an 8-hour day cap) — median and p95
over repeated runs, seeded.

Run: ``python benchmarks/bench_plan.py [--repeats 30]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import numpy as np

from calsync.config import Config
from calsync.inference import busy_periods
from calsync.learning.schedule import TaskSpec, plan_blocks
from calsync.learning.windows import Window
from calsync.model import Event
from calsync.planning import plan_params

TZ = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 23, 7, tzinfo=TZ)


def make_inputs(seed: int = 11) -> tuple[list[TaskSpec], np.ndarray, list[Event]]:
    rng = random.Random(seed)
    arrays = np.random.default_rng(seed)
    weekdays = Window((1, 2, 3, 4, 5), clock_time(8), clock_time(18))
    evenings = Window((1, 2, 3, 4, 5), clock_time(18), clock_time(21))
    weekend = Window((0, 6), clock_time(9), clock_time(17))
    tasks = [
        TaskSpec(
            name=f"Task {i}",
            block_minutes=rng.choice([30, 45, 60, 90, 120]),
            sessions=rng.randint(1, 5),
            windows=rng.choice([[weekdays], [weekdays, evenings], [weekend, evenings]]),
            habit=arrays.random(168),
            max_per_day=rng.choice([None, 1, 2]),
        )
        for i in range(20)
    ]
    # 500 busy events over four weeks around now (a real mirror holds past weeks too).
    events = []
    for i in range(500):
        start = NOW - timedelta(days=14) + timedelta(minutes=15 * rng.randrange(0, 28 * 96))
        length = timedelta(minutes=rng.choice([15, 30, 30, 60, 60, 90]))
        events.append(Event("bench", f"e{i}", start, start + length, summary="Meeting"))
    return tasks, arrays.random(168), events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    tasks, energy, events = make_inputs()
    params = plan_params(
        Config.model_validate({"planning": {"max_suggested_minutes_per_day": 480}})
    )
    samples, planned = [], 0
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        busy = busy_periods(events, params.buffer, TZ)
        plan = plan_blocks(tasks, energy, busy, NOW, TZ, params)
        samples.append((time.perf_counter() - t0) * 1000)
        planned = len(plan)
    wanted = sum(t.sessions for t in tasks)
    median = statistics.median(samples)
    p95 = float(np.percentile(samples, 95))
    ok = median < 50
    print(
        f"plan a week: 20 task types ({wanted} sessions wanted, {planned} placed), "
        f"500 busy events: median {median:.1f} ms, p95 {p95:.1f} ms, max {max(samples):.1f} ms "
        f"-> {'PASS' if ok else 'FAIL'} (target < 50 ms)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
