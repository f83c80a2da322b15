"""Benchmark of the web view (issue 17): a page for a user with 20 task types in < 50 ms.

A seeded user with 20 task types, eight weeks of history (1,600 completions,
so the evidence learner has arrays to show), 40 notes and a memory target
with a week of suggestions written by a real write-back cycle (approval mode
off). Each page is requested in-process through the ASGI app (Starlette's
test client: no network, so the time is the server's — routing, store
reads, the view's computations and the template) and timed from request to
full answer; median and p95 over repeated requests after one warm-up.

The Plan page is reported too, but it runs a dry-run write-back cycle per
target (listing the target and the planner over the horizon), so its time
is the planner's plus the target's.

Run: ``python benchmarks/bench_web.py [--repeats 30]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from starlette.testclient import TestClient

from calsync.clock import FixedClock
from calsync.config import parse_config
from calsync.service import open as open_calsync
from calsync.targets.memory import MemoryTarget
from calsync.web.app import WebState, create_app
from calsync.writeback import run_cycle

TZ = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 25, 12, tzinfo=TZ)
LIMIT_MS = 50.0
PAGES = ("/week", "/week?why=", "/notes", "/health", "/metrics", "/plan")


def build(state: Path, seed: int = 17) -> tuple[TestClient, list[str]]:
    """The user, their history and one write-back cycle; the client and the block keys."""
    rng = random.Random(seed)
    config = parse_config(
        {
            "state_dir": str(state),
            "user": {"timezone": "Europe/Berlin"},
            "planning": {"max_suggested_minutes_per_day": 600},
            "task_types": [
                {
                    "name": f"Task {i:02d}",
                    "keywords": [f"task{i:02d}"],
                    "block_minutes": rng.choice([30, 45, 60]),
                    "weekly_target": {"sessions": rng.randint(1, 3)},
                    "max_per_day": 1,
                }
                for i in range(20)
            ],
        }
    )
    clock = FixedClock(NOW)
    cs = open_calsync(config, store_url=f"sqlite:///{state / 'bench.db'}", clock=clock)
    for n in range(1600):
        task = f"Task {n % 20:02d}"
        start = NOW - timedelta(days=rng.randint(1, 56), hours=rng.randint(0, 12))
        cs.record_completion(task, start.replace(minute=0), rng.random())
    with cs.store.write() as tx:
        for n in range(40):
            tx.add_insight(
                config.user.id, "user", f"note {n}: Tuesday mornings, task{n % 20:02d}", NOW
            )
    target = MemoryTarget("bench")
    run_cycle(cs, target)
    client = TestClient(create_app(WebState(cs, targets=[target])), base_url="http://127.0.0.1")
    with cs.store.read() as tx:
        keys = [r.id for r in tx.suggestions(config.user.id)]
    return client, keys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="calsync-bench-web-") as scratch:
        client, keys = build(Path(scratch))
        print(f"20 task types, 1600 completions, 40 notes, {len(keys)} suggestions")
        print(f"{'page':<14} {'median ms':>10} {'p95 ms':>8}  (limit {LIMIT_MS:g} ms)")
        worst = 0.0
        for page in PAGES:
            url = page + keys[0] if page.endswith("=") else page
            assert client.get(url).status_code == 200, url  # warm-up (templates compiled)
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            times.sort()
            median = statistics.median(times)
            p95 = times[max(0, int(len(times) * 0.95) - 1)]
            if page != "/plan":
                worst = max(worst, median)
            print(f"{page:<14} {median:>10.1f} {p95:>8.1f}")
    ok = worst < LIMIT_MS
    print(f"slowest page median (Plan aside): {worst:.1f} ms -> {'OK' if ok else 'TOO SLOW'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
