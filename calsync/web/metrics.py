"""``/metrics`` in the Prometheus text format, read from the store at every scrape.

The web view and the service may be two processes, so nothing is counted in
memory: a collector reads the database (suggestions, the update log, sync
state, interpreter runs) and ``cycles.json`` (cycles, their durations,
polls, blocks written; see :mod:`calsync.cyclelog`) when Prometheus scrapes,
so the values always match what the store says. A private registry: no
``process_*``/``python_*`` series, no ``*_created`` samples.

Series (single-user mode; no per-user labels):

* ``calsync_cycles_total``, ``calsync_cycles_failed_total``,
  ``calsync_cycle_duration_seconds`` (histogram);
* ``calsync_source_polls_total{source}``, ``calsync_source_failures_total{source}``,
  ``calsync_source_consecutive_failures{source}``, ``calsync_source_backoff_seconds{source}``,
  ``calsync_source_last_success_timestamp_seconds{source}``;
* ``calsync_blocks_written_total{action="created|moved|deleted"}`` (the service's cycles and
  ``calsync apply``),
  ``calsync_suggestions{status}``;
* ``calsync_outcomes_learned_total{outcome="done|skip|moved"}``, ``calsync_completions``;
* ``calsync_acceptance_ratio`` (kept where calsync put them / decided; absent before the
  first decision), ``calsync_proposals_open``;
* ``calsync_interpreter_calls_total``, ``calsync_interpreter_tokens_total{kind}``,
  ``calsync_interpreter_cost_total``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from calsync import cyclelog
from calsync.service import Calsync
from calsync.web.views import Health, health

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StoreCollector(Collector):
    """Collects calsync's series from the store and ``cycles.json`` at scrape time."""

    def __init__(self, cs: Callable[[], Calsync]):
        self._cs = cs

    def collect(self) -> Iterator[Metric]:
        """Yield every family (see the module docstring)."""
        cs = self._cs()
        data: Health = health(cs, progress=False)
        cycles = data.cycles
        yield _counter("calsync_cycles", "Service cycles run.", cycles["cycles"])
        yield _counter(
            "calsync_cycles_failed",
            "Cycles with a failing source or target.",
            cycles["failed_cycles"],
        )
        cumulative = [
            (str(b), float(n)) for b, n in zip(cyclelog.BUCKETS, cycles["buckets"], strict=True)
        ]
        cumulative.append(("+Inf", float(cycles["cycles"])))
        yield HistogramMetricFamily(
            "calsync_cycle_duration_seconds",
            "Duration of a service cycle.",
            buckets=cumulative,
            sum_value=float(cycles["duration_sum"]),
        )
        polls = CounterMetricFamily("calsync_source_polls", "Polls of a source.", labels=["source"])
        failures = CounterMetricFamily(
            "calsync_source_failures", "Failed polls of a source.", labels=["source"]
        )
        consecutive = GaugeMetricFamily(
            "calsync_source_consecutive_failures", "Failures in a row.", labels=["source"]
        )
        backoff = GaugeMetricFamily(
            "calsync_source_backoff_seconds",
            "Wait before a failing source is polled again.",
            labels=["source"],
        )
        success = GaugeMetricFamily(
            "calsync_source_last_success_timestamp_seconds",
            "When a source was last read.",
            labels=["source"],
        )
        recorded = cycles.get("sources", {})
        for source in data.sources:
            counts = recorded.get(source.name, {})
            polls.add_metric([source.name], float(counts.get("polls", 0)))
            failures.add_metric([source.name], float(counts.get("failures", 0)))
            consecutive.add_metric([source.name], float(source.failures))
            backoff.add_metric([source.name], source.backoff_minutes * 60)
            if source.last_success is not None:
                success.add_metric([source.name], source.last_success.timestamp())
        yield from (polls, failures, consecutive, backoff, success)
        written = CounterMetricFamily(
            "calsync_blocks_written", "Blocks written to targets.", labels=["action"]
        )
        for action in ("created", "moved", "deleted"):
            written.add_metric([action], float(cycles["blocks"].get(action, 0)))
        yield written
        statuses = GaugeMetricFamily(
            "calsync_suggestions", "Suggestions in the store by status.", labels=["status"]
        )
        for status, count in sorted(data.suggestions.items()):
            statuses.add_metric([status], float(count))
        yield statuses
        learned = CounterMetricFamily(
            "calsync_outcomes_learned",
            "Outcomes learned from suggestions (kept, deleted, moved).",
            labels=["outcome"],
        )
        learned.add_metric(["done"], float(data.outcomes.done))
        learned.add_metric(["skip"], float(data.outcomes.skip))
        learned.add_metric(["moved"], float(data.outcomes.moved))
        yield learned
        yield GaugeMetricFamily(
            "calsync_completions",
            "Completions learned from (every source).",
            value=float(data.completions),
        )
        kept = sum(w.kept for w in data.acceptance)
        decided = sum(w.decided for w in data.acceptance)
        if decided:  # no decision yet: no ratio (absent, not a misleading 0)
            yield GaugeMetricFamily(
                "calsync_acceptance_ratio",
                "Suggestions kept where calsync put them, of those the user decided on.",
                value=kept / decided,
            )
        yield GaugeMetricFamily(
            "calsync_proposals_open",
            "Proposals waiting for approval.",
            value=float(data.suggestions.get("proposed", 0)),
        )
        llm = data.interpreter
        yield _counter("calsync_interpreter_calls", "Interpreter (LLM) calls.", llm.calls)
        tokens = CounterMetricFamily(
            "calsync_interpreter_tokens", "Interpreter tokens.", labels=["kind"]
        )
        tokens.add_metric(["prompt"], float(llm.prompt_tokens))
        tokens.add_metric(["completion"], float(llm.completion_tokens))
        yield tokens
        yield _counter(
            "calsync_interpreter_cost", "Interpreter cost (configured prices).", llm.cost
        )


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=float(value))


def registry_for(cs: Callable[[], Calsync]) -> CollectorRegistry:
    """A private registry with calsync's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(cs))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(registry)
