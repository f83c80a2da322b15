"""calsync.heap: returning freed memory to the system (issue 14 item 5)."""

from __future__ import annotations

import subprocess
import sys

from calsync import heap


def test_release_after_freeing_a_large_heap_lowers_the_resident_size() -> None:
    code = (
        "from calsync import heap\n"
        "heap.single_arena()\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS:'):\n"
        "            return int(line.split()[1])\n"
        "before = rss()\n"
        "junk = [str(i) * 200 for i in range(100_000)]  # over pymalloc's 512 bytes: glibc's\n"
        "keep = junk[::5000]\n"
        "del junk\n"
        "full = rss()\n"
        "heap.release()\n"
        "print(before, full, rss())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    before, full, after = (int(x) for x in out)
    if sys.platform.startswith("linux") and heap._libc() is not None:
        assert after < full - (full - before) // 2


def test_release_is_harmless_anywhere() -> None:
    assert isinstance(heap.release(), bool)
