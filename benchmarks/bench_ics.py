"""Benchmark of the ICS source (issue: sources).

* An unchanged 3 MB feed costs under 10 ms per poll: measured for a server
  answering 304 to ``If-None-Match`` and for one without validators, where
  calsync downloads the body and compares its SHA-256 (no parse either way).
* A changed feed (issue 14 item 1): calsync's parse + expansion +
  normalisation of the 3 MB feed (about 12,000 components) at most 0.25 × the
  CPU time of icalendar + recurring-ical-events alone on the same bytes, same
  run; the 12 MB feed (about 50,000 components) at most 2 × the 3 MB one.
  calsync's CPU is this process's plus the parsing child's (which reports its
  own ``getrusage``); the in-process parse is shown beside it.

Run: ``python benchmarks/bench_ics.py [--mb 3] [--big-mb 12] [--repeats 20]``. The feed is
synthetic and seeded (single events, daily and weekly series with EXDATEs and
moved instances, all-day events), served by an HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
import x_wr_timezone

from calsync.clock import FixedClock
from calsync.sources.ics import IcsSource, UrlPolicy

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def make_feed(target_bytes: int, seed: int = 3) -> bytes:
    """A seeded synthetic feed of about ``target_bytes``: a history ending 2026-11-16.

    Single events, weekly series with an EXDATE (COUNT=60) and moved
    instances, all-day events, as dense as 3 MB over 1,050 days (from
    2024-01-01): a larger feed is a longer history, not a busier window.
    """
    days = max(round(1050 * target_bytes / 3_000_000), 1)
    rng = random.Random(seed)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calsync bench//EN"]
    size = sum(len(x) + 2 for x in lines)

    def add(*items: str) -> None:
        nonlocal size
        lines.extend(items)
        size += sum(len(x) + 2 for x in items)

    start = datetime(2024, 1, 1, 8, tzinfo=UTC) + timedelta(days=1050 - days)
    i = 0
    while size < target_bytes:
        i += 1
        begin = start + timedelta(hours=rng.randrange(0, 24 * days))
        stamp = begin.strftime("%Y%m%dT%H%M%SZ")
        end = (begin + timedelta(minutes=rng.choice([30, 60, 90]))).strftime("%Y%m%dT%H%M%SZ")
        kind = rng.random()
        add("BEGIN:VEVENT", f"UID:ev-{i}@bench", f"DTSTAMP:{stamp}")
        if kind < 0.05:
            add(f"DTSTART;VALUE=DATE:{begin:%Y%m%d}", f"SUMMARY:Holiday {i}")
        else:
            add(f"DTSTART:{stamp}", f"DTEND:{end}", f"SUMMARY:Meeting {i} about things")
            add("DESCRIPTION:" + "Agenda item. " * rng.randrange(1, 12))
        if 0.05 <= kind < 0.08:
            add("RRULE:FREQ=WEEKLY;COUNT=60")
            add(f"EXDATE:{(begin + timedelta(weeks=2)).strftime('%Y%m%dT%H%M%SZ')}")
        add("END:VEVENT")
        if 0.05 <= kind < 0.065:
            moved = begin + timedelta(weeks=3)
            add(
                "BEGIN:VEVENT",
                f"UID:ev-{i}@bench",
                f"RECURRENCE-ID:{moved:%Y%m%dT%H%M%SZ}",
                f"DTSTART:{(moved + timedelta(hours=2)):%Y%m%dT%H%M%SZ}",
                f"DTEND:{(moved + timedelta(hours=3)):%Y%m%dT%H%M%SZ}",
                f"SUMMARY:Moved meeting {i}",
                "END:VEVENT",
            )
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def serve(body: bytes, etag: bool) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            if etag and self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            if etag:
                self.send_header("ETag", '"v1"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


def timed(fn, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=3.0)
    parser.add_argument("--big-mb", type=float, default=12.0)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--parse-repeats", type=int, default=3)
    args = parser.parse_args()
    body = make_feed(int(args.mb * 1_000_000))
    tz = ZoneInfo("Europe/Berlin")
    clock = FixedClock(NOW)
    print(f"feed: {len(body) / 1e6:.2f} MB, {body.count(b'BEGIN:VEVENT')} VEVENTs")
    ok = True

    for label, etag in (("304 Not Modified (ETag)", True), ("unchanged body (SHA-256)", False)):
        server = serve(body, etag)
        url = f"http://127.0.0.1:{server.server_address[1]}/feed.ics"
        source = IcsSource(
            "bench", tz, clock, url=url, policy=UrlPolicy(allow_private_network=True)
        )
        cursor = source.fetch(None).cursor
        samples = timed(lambda: source.fetch(cursor), args.repeats)  # noqa: B023
        median = statistics.median(samples)
        ok &= median < 10.0
        print(
            f"unchanged poll, {label}: median {median:.2f} ms, max {max(samples):.2f} ms "
            f"-> {'PASS' if median < 10 else 'FAIL'} (target < 10 ms)"
        )
        server.shutdown()
        server.server_close()

    start, end = NOW - timedelta(days=60), NOW + timedelta(days=14)
    isolated = IcsSource("bench", tz, clock, path=None, url="http://unused.invalid/")
    in_process = IcsSource(
        "bench", tz, clock, path=None, url="http://unused.invalid/", isolate=False
    )

    def baseline(feed: bytes) -> float:
        """CPU seconds of icalendar + recurring-ical-events on ``feed``, in this process."""
        c0 = time.process_time()
        calendar = x_wr_timezone.to_standard(icalendar.Calendar.from_ical(feed))
        recurring_ical_events.of(calendar, skip_bad_series=True).between(start, end)
        return time.process_time() - c0

    def ours(feed: bytes, source: IcsSource) -> float:
        """CPU seconds of calsync's parse: this process plus its parsing child."""
        c0 = time.process_time()
        source.parse(feed)
        child = source.last_parse.cpu_seconds if source.last_parse else None
        return time.process_time() - c0 + (child or 0.0)

    big = make_feed(int(args.big_mb * 1_000_000))
    counts = {
        "small": (body.count(b"BEGIN:"), len(in_process.parse(body))),
        "big": (big.count(b"BEGIN:"), len(in_process.parse(big))),
    }
    ours(body, isolated)  # start the forkserver (once per service)
    # Interleaved, so machine noise hits each alike; medians of CPU time.
    samples: dict[str, list[float]] = {"base": [], "iso": [], "inproc": [], "big": []}
    for _ in range(args.parse_repeats):
        samples["base"].append(baseline(body))
        samples["iso"].append(ours(body, isolated))
        samples["inproc"].append(ours(body, in_process))
        samples["big"].append(ours(big, isolated))
    base, iso, inproc, large = (statistics.median(samples[k]) for k in samples)
    ratio, growth = iso / base, large / iso
    ok &= ratio <= 0.25 and growth <= 2.0
    print(
        f"changed feed, {len(body) / 1e6:.1f} MB, {counts['small'][0]} components, "
        f"{counts['small'][1]} occurrences in the window:"
    )
    print(f"  icalendar + recurring-ical-events: {base * 1000:.0f} ms CPU")
    print(
        f"  calsync (isolated child, its CPU included): {iso * 1000:.0f} ms CPU "
        f"(in process: {inproc * 1000:.0f} ms) -> ratio {ratio:.3f} "
        f"{'PASS' if ratio <= 0.25 else 'FAIL'} (target <= 0.25)"
    )
    print(
        f"changed feed, {len(big) / 1e6:.1f} MB, {counts['big'][0]} components, "
        f"{counts['big'][1]} occurrences: calsync {large * 1000:.0f} ms CPU -> "
        f"{growth:.2f} x the small feed {'PASS' if growth <= 2.0 else 'FAIL'} (target <= 2)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
