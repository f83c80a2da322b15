"""Resident memory of the service (issue 14 item 5): idle, and after parsing a large feed.

A real ``calsync run`` is started: its own process, a scratch state
directory whose database an earlier ``calsync status`` created (a service
restarted, as systemd does; ``--fresh`` starts on no database, where the
first migration leaves Alembic loaded), one ICS source read from a file
every 6 s, the default ICS-file target. Once its first cycle on a small feed
is done and it has settled, its **idle** RSS is sampled. Then the file is
replaced by a ``--mb`` (12) MB feed (the ICS benchmark's generator: a long
history of meetings, series, moved instances) and the RSS is sampled while
the service parses it (in its forkserver's child) and stores the window's
events, and then for ``--wait`` (60) seconds.

Reported: the service process's own RSS (``VmRSS``) and, beside it, the RSS
of its forkserver (the parent of every parsing child, which keeps the parse
libraries preloaded); the targets are on the service process: idle at most
60 MB, and at most 1.5 × idle ``--wait`` seconds after the parse.

Run: ``python benchmarks/bench_memory.py [--mb 12] [--wait 60] [--fresh]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ics import make_feed

IDLE_TARGET_MB = 60.0
AFTER_TARGET = 1.5

CONFIG = """
[user]
timezone = "Europe/Berlin"

[daemon]
poll_minutes = 0.1

[[task_types]]
name = "Deep Coding"
keywords = ["meeting"]
block_minutes = 60
weekly_target = {{ sessions = 3 }}

[[sources]]
type = "ics"
name = "big"
path = "{feed}"
poll_minutes = 0.1
max_bytes = 50_000_000
"""


def rss_mb(pid: int) -> float | None:
    """``VmRSS`` of a process in MiB (``None`` once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    """The direct children of a process."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def cycles(state: Path) -> int:
    """How many cycles the service has recorded so far."""
    try:
        data = json.loads((state / "cycles.json").read_text())
    except (OSError, ValueError):
        return 0
    return int(data.get("cycles", 0)) if isinstance(data, dict) else 0


def wait_for(condition, seconds: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("the service did not get there in time")
        time.sleep(0.1)


def sample(pid: int, seconds: float, every: float = 0.25) -> tuple[list[float], list[float]]:
    """RSS of the service and of its forkserver (largest child) over ``seconds``."""
    own: list[float] = []
    server: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = rss_mb(pid)
        if value is not None:
            own.append(value)
        kids = [r for r in (rss_mb(c) for c in children(pid)) if r is not None]
        server.append(max(kids, default=0.0))
        time.sleep(every)
    return own, server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=12.0)
    parser.add_argument("--wait", type=float, default=60.0)
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start on no database (the first start: the migration loads Alembic)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="calsync-bench-memory-") as scratch:
        root = Path(scratch)
        feed, state = root / "feed.ics", root / "state"
        feed.write_bytes(make_feed(20_000))
        big = make_feed(int(args.mb * 1_000_000))
        (root / "config.toml").write_text(CONFIG.format(feed=feed))
        env = {**os.environ, "XDG_CONFIG_HOME": str(root), "XDG_STATE_HOME": str(root)}
        command = [
            sys.executable,
            "-c",
            "import sys; from calsync.cli import main; sys.exit(main())",
            "--config",
            str(root / "config.toml"),
            "--state-dir",
            str(state),
        ]
        if not args.fresh:  # a service restarted on its database (no migration to run)
            subprocess.run([*command, "status"], env=env, check=True, capture_output=True)
        service = subprocess.Popen(
            [*command, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for(lambda: cycles(state) >= 1, 120)
            time.sleep(3)
            idle, idle_server = sample(service.pid, 5)
            idle_mb = sorted(idle)[len(idle) // 2]
            done = cycles(state)
            started = time.monotonic()
            feed.write_bytes(big)
            during, during_server = [], []
            while cycles(state) <= done:
                own, server = sample(service.pid, 0.5, 0.1)
                during += own
                during_server += server
                if time.monotonic() - started > 300:
                    raise SystemExit("the large feed was not parsed within 300 s")
            parsed_in = time.monotonic() - started
            after, after_server = sample(service.pid, args.wait)
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=30)
    tail = after[-max(len(after) // 10, 1) :]
    after_mb = sorted(tail)[len(tail) // 2]
    ok_idle = idle_mb <= IDLE_TARGET_MB
    ok_after = after_mb <= AFTER_TARGET * idle_mb
    print(f"feed: {len(big) / 1e6:.1f} MB; parsed and stored in {parsed_in:.1f} s (wall)")
    print(f"{'':34} {'service':>9} {'forkserver':>11}")
    print(f"{'idle RSS (median)':34} {idle_mb:>7.1f}MB {max(idle_server):>9.1f}MB")
    print(
        f"{'peak RSS while parsing':34} {max(during, default=0):>7.1f}MB "
        f"{max(during_server, default=0):>9.1f}MB"
    )
    print(
        f"{f'RSS {args.wait:g} s after the parse':34} {after_mb:>7.1f}MB {after_server[-1]:>9.1f}MB"
    )
    print(
        f"idle {idle_mb:.1f} MB -> {'PASS' if ok_idle else 'FAIL'} (target <= {IDLE_TARGET_MB:g}); "
        f"after {after_mb / idle_mb:.2f} x idle -> {'PASS' if ok_after else 'FAIL'} "
        f"(target <= {AFTER_TARGET:g} x)"
    )
    return 0 if ok_idle and ok_after else 1


if __name__ == "__main__":
    raise SystemExit(main())
