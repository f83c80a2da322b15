r"""Command line of the learning benchmark.

Run from the repository root::

    python -m benchmarks.learning.run                      # 200 users × 12 weeks
    python -m benchmarks.learning.run --quick              # 6 users × 5 weeks, seconds
    python -m benchmarks.learning.run --users 80 --weeks 12 --seed 3 \\
        --learners seed_ema,random,oracle --json out.json

It prints, per period and metric, the mean over users with its 95 % interval
for every learner; ``--json`` writes the same figures (and nothing that varies
between runs: no timings, no paths) so that the same seed gives the same file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.learning.metrics import (
    METRICS,
    aggregate,
    learning_curve,
    paired_difference,
    recovery,
)
from benchmarks.learning.simulate import LEARNER_NAMES, LEARNERS, REPLANS, run_user

DEFAULT_USERS, DEFAULT_WEEKS = 200, 12
#: The learner every other one is compared with, user by user.
BASELINE = "seed_ema"
#: The bound every learner's excess regret is measured against.
REFERENCE = "oracle"
QUICK_USERS, QUICK_WEEKS = 6, 5


def run_benchmark(
    users: int,
    weeks: int,
    seed: int,
    learners: Sequence[str],
    jobs: int = 1,
    replan: str = "daily",
) -> dict[str, Any]:
    """Simulate ``users`` users for ``weeks`` weeks under every learner and aggregate.

    Users are independent, so ``jobs`` > 1 spreads them over processes; the
    result does not depend on ``jobs``.

    Returns:
        A JSON-ready dict: ``settings``, ``users`` (zone, chronotypes, shift
        week of each), ``outcomes`` (counts per learner), ``results``
        (``{learner: {period: {metric: {mean, low, high, n}}}}``),
        ``paired_regret`` (against the seed EMA, and hybrid against plain),
        ``above_oracle`` (each learner's regret minus the oracle's, user by
        user), ``learning_curve`` (regret week by week in the first routine)
        and ``recovery`` (after a change of routine).

    """
    unknown = [name for name in learners if name not in LEARNERS]
    if unknown:
        raise ValueError(f"unknown learner(s) {unknown}; known: {', '.join(LEARNERS)}")
    if replan not in REPLANS:
        raise ValueError(f"unknown replan {replan!r}; known: {', '.join(REPLANS)}")
    work = partial(run_user, seed, weeks=weeks, learners=list(learners), replan=replan)
    if jobs > 1 and users > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            per_user = list(pool.map(work, range(users)))
    else:
        per_user = [work(index) for index in range(users)]
    results = {}
    outcomes = {}
    recoveries = {}
    paired = {}
    above = {}
    curves = {}
    for name in learners:
        records = [u["learners"][name] for u in per_user]
        results[name] = aggregate(records)
        recoveries[name] = recovery(records)
        curves[name] = learning_curve(records)
        if BASELINE in learners and name != BASELINE:
            paired[name] = paired_difference(records, [u["learners"][BASELINE] for u in per_user])
        if REFERENCE in learners and name != REFERENCE:
            # Regret above the planner with the truth in the same week: the part
            # a learner could still remove (the oracle's own regret is the floor).
            above[name] = paired_difference(records, [u["learners"][REFERENCE] for u in per_user])
        base = name.replace("_insights", "")
        if name != base and base in learners:
            # The hybrid against the same learner without the interpreter's adjustments.
            paired[f"{name} − {base}"] = paired_difference(
                records, [u["learners"][base] for u in per_user]
            )
        counts: dict[str, int] = {}
        for record in records:
            for block in record["blocks"]:
                counts[block["outcome"]] = counts.get(block["outcome"], 0) + 1
        outcomes[name] = dict(sorted(counts.items()))
    return {
        "settings": {
            "users": users,
            "weeks": weeks,
            "seed": seed,
            "learners": list(learners),
            "replan": replan,
        },
        "users": [u["user"] for u in per_user],
        "outcomes": outcomes,
        "results": results,
        "paired_regret": paired,
        "above_oracle": above,
        "learning_curve": curves,
        "recovery": recoveries,
    }


def _cell(stat: dict[str, Any]) -> str:
    if stat["mean"] is None:
        return "—"
    if stat["low"] is None:
        return f"{stat['mean']:.3f}"
    return f"{stat['mean']:.3f} ± {(stat['high'] - stat['low']) / 2:.3f}"


def _by_period(intro: str, columns: dict[str, dict[str, Any]], periods: Sequence[str]) -> list[str]:
    """A titled Markdown table of per-period figures, one column per entry (none if empty)."""
    if not columns:
        return []
    names = list(columns)
    lines = ["", intro, ""]
    lines += ["| period | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for period in periods:
        cells = [_cell(columns[n][period]) if period in columns[n] else "—" for n in names]
        lines.append(f"| {period} | " + " | ".join(cells) + " |")
    return lines


def format_table(report: dict[str, Any]) -> str:
    """The report as a Markdown table: one row per period and metric, one column per learner."""
    learners = report["settings"]["learners"]
    periods: list[str] = []
    for name in learners:
        periods += [p for p in report["results"][name] if p not in periods]
    header = ["period", "metric", *learners]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for period in periods:
        for metric in METRICS:
            cells = []
            for name in learners:
                row = report["results"][name].get(period)
                cells.append(_cell(row[metric]) if row else "—")
            lines.append(f"| {period} | {metric} | " + " | ".join(cells) + " |")
    lines += _by_period(
        f"Paired regret differences, user by user: a learner minus {BASELINE}, and "
        "a hybrid (`_insights`) minus the same learner without the insight pass "
        "(mean ± 95 % CI; negative is better):",
        report.get("paired_regret") or {},
        periods,
    )
    lines += _by_period(
        f"Regret above the {REFERENCE}'s, user by user (the learner's regret minus the "
        f"{REFERENCE}'s in the same weeks: what is left to learn; mean ± 95 % CI):",
        report.get("above_oracle") or {},
        periods,
    )
    curves = report.get("learning_curve") or {}
    if any(curves.values()):
        lines += [
            "",
            "Regret week by week while the routine has not changed (users count until "
            "their shift):",
            "",
        ]
        lines += ["| week | " + " | ".join(learners) + " |", "|" + "---|" * (len(learners) + 1)]
        depth = max(len(c) for c in curves.values())
        for week in range(depth):
            cells = []
            for name in learners:
                row = next((r for r in curves.get(name, []) if r["week"] == week), None)
                cells.append(_cell(row) if row else "—")
            lines.append(f"| {week + 1} | " + " | ".join(cells) + " |")
    recoveries = report.get("recovery") or {}
    if any(r["weeks"] for r in recoveries.values()):
        lines += [
            "",
            "After a change of routine (shifted users): regret in the 3 weeks before "
            "(pre) and in week +k of the new routine, and week +k minus pre, user by user:",
            "",
        ]
        lines += ["| week | " + " | ".join(learners) + " |", "|" + "---|" * (len(learners) + 1)]
        lines.append("| pre | " + " | ".join(_cell(recoveries[n]["pre"]) for n in learners) + " |")
        depth = max(len(r["weeks"]) for r in recoveries.values())
        for k in range(depth):
            for label, field in ((f"+{k}", "regret"), (f"+{k} − pre", "minus_pre")):
                cells = []
                for name in learners:
                    weeks = recoveries[name]["weeks"]
                    cells.append(_cell(weeks[k][field]) if k < len(weeks) else "—")
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
    shifted = sum(1 for u in report["users"] if u["shift_week"] is not None)
    lines.append("")
    lines.append(
        f"{report['settings']['users']} users ({shifted} with a regime shift) × "
        f"{report['settings']['weeks']} weeks, seed {report['settings']['seed']}, "
        f"re-planning {report['settings']['replan']}; "
        "mean over users ± half-width of the 95 % CI."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run, print the table, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=None, help=f"default {DEFAULT_USERS}")
    parser.add_argument("--weeks", type=int, default=None, help=f"default {DEFAULT_WEEKS}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--learners",
        default=",".join(LEARNER_NAMES),
        help=f"comma-separated, from: {', '.join(LEARNERS)}",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_USERS} users × {QUICK_WEEKS} weeks"
    )
    parser.add_argument(
        "--replan",
        choices=REPLANS,
        default="daily",
        help="how often calsync re-plans: every local midnight (default) or Mondays only",
    )
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    users = args.users or (QUICK_USERS if args.quick else DEFAULT_USERS)
    weeks = args.weeks or (QUICK_WEEKS if args.quick else DEFAULT_WEEKS)
    learners = [name.strip() for name in args.learners.split(",") if name.strip()]
    began = time.perf_counter()
    try:
        report = run_benchmark(
            users, weeks, args.seed, learners, jobs=args.jobs, replan=args.replan
        )
    except ValueError as err:
        parser.error(str(err))
    print(format_table(report))
    print(f"(ran in {time.perf_counter() - began:.1f} s with {args.jobs} job(s))", file=sys.stderr)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
