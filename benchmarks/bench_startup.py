"""Start-up cost of the command line (issue 14 item 4), side by side with bare Python.

Targets: ``calsync --help`` at most 6 × the CPU time of ``python -c pass``;
``calsync status`` (the embedded default, its database already current) at
most 10 ×. Every command runs as a child process; its CPU time (user +
system) and peak resident memory come from ``os.wait4``. The commands are
interleaved round by round, so machine noise hits each alike, and the median
of the rounds is reported.

Bytecode: calsync's own modules are compiled once into a scratch
``PYTHONPYCACHEPREFIX`` before the rounds (what an installed calsync has:
pip writes ``.pyc`` files). ``--cold`` also measures with
``PYTHONDONTWRITEBYTECODE=1`` and no cache, where every start compiles them.

Run: ``python benchmarks/bench_startup.py [--rounds 15] [--cold]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HELP_TARGET = 6.0
STATUS_TARGET = 10.0


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds and peak RSS (MiB) of one child running ``argv``."""
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{argv} exited with {process.returncode}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def calsync_argv(*args: str) -> list[str]:
    """The console script's own entry point, run by this interpreter."""
    return [
        sys.executable,
        "-c",
        "import sys; from calsync.cli import main; sys.exit(main())",
        *args,
    ]


def measure(env: dict[str, str], rounds: int) -> dict[str, tuple[float, float]]:
    """Median CPU seconds and median peak RSS of each command over ``rounds``."""
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "calsync --help": calsync_argv("--help"),
        "calsync status": calsync_argv("status"),
    }
    for argv in commands.values():  # warm: bytecode, the database, the page cache
        run_once(argv, env)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            samples[name].append(run_once(argv, env))
    return {
        name: (
            statistics.median(cpu for cpu, _ in values),
            statistics.median(rss for _, rss in values),
        )
        for name, values in samples.items()
    }


def report(label: str, results: dict[str, tuple[float, float]]) -> bool:
    """Print one table; return whether both targets hold."""
    bare = results["python -c pass"][0]
    print(f"\n{label}")
    print(f"{'command':<18} {'CPU ms':>8} {'× bare':>7} {'peak RSS MiB':>13}  target")
    ok = True
    for name, (cpu, rss) in results.items():
        ratio = cpu / bare
        target = {"calsync --help": HELP_TARGET, "calsync status": STATUS_TARGET}.get(name)
        verdict = ""
        if target is not None:
            passed = ratio <= target
            ok &= passed
            verdict = f"<= {target:g}x {'PASS' if passed else 'FAIL'}"
        print(f"{name:<18} {cpu * 1000:>8.0f} {ratio:>7.2f} {rss:>13.1f}  {verdict}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--cold", action="store_true", help="also measure without bytecode")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="calsync-bench-startup-"))
    try:
        base = {
            **os.environ,
            "XDG_CONFIG_HOME": str(scratch / "config"),  # no file: the embedded default
            "XDG_STATE_HOME": str(scratch / "state"),
            "NO_COLOR": "1",
        }
        base.pop("CALSYNC_CONFIG", None)
        warm = {**base, "PYTHONPYCACHEPREFIX": str(scratch / "pycache")}
        warm.pop("PYTHONDONTWRITEBYTECODE", None)
        ok = report("bytecode cached (an installed calsync)", measure(warm, args.rounds))
        if args.cold:
            cold = {**base, "PYTHONDONTWRITEBYTECODE": "1"}
            cold.pop("PYTHONPYCACHEPREFIX", None)
            report(
                "no bytecode cache (calsync's modules compiled at every start)",
                measure(cold, args.rounds),
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
