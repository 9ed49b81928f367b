"""A worker's Prometheus metrics and readiness, collected at the edges of the pipeline.

:class:`WorkerMetrics` owns one :class:`~prometheus_client.CollectorRegistry` per app (tests
make several apps in one process, and the default registry is global). Three kinds of values:

* **observed by the app** as a batch is handled (:mod:`stream_app.worker.app` calls
  :meth:`WorkerMetrics.batch_done`): events per topic, dead letters per reason, batch size, step
  and rescoring times, event-to-answer delay (broker append time → Redis write);
* **observed by wrappers**: :class:`MeteredSink` (Redis write failures, retries, write time) and
  :class:`RebalanceSensor`, a Faust sensor (rebalances, time until recovery is done);
* **read at scrape time** by :class:`ScrapeCollector`: consumer lag per input partition
  (:func:`partition_lag`), shoppers in the table, readiness, and the running totals the pure
  :class:`~stream_app.worker.pipeline.Pipeline` keeps in ``Pipeline.stats`` (answers, late and
  redelivered events, answers fenced off, Redis losses): the pipeline imports nothing of this.

Every name starts with ``stream_app_``; docs/design.md lists them and docs/grafana/stream-app.json
plots them.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from schemas.errors import SinkError
from schemas.recommendation import Recommendation

__all__ = [
    "STATS_COUNTERS",
    "Lag",
    "MeteredSink",
    "RebalanceSensor",
    "ScrapeCollector",
    "WorkerMetrics",
    "not_ready_reason",
    "partition_lag",
]

SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
DELAY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
RECOVERY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

STATS_COUNTERS: Mapping[str, tuple[str, str]] = {
    "answers": (
        "stream_app_answers_written",
        "Answers written to Redis (batches, timer, rebuilds)",
    ),
    "late_events": ("stream_app_late_events", "Events that arrived after a later-stamped one"),
    "redelivered": ("stream_app_redelivered_events", "Redelivered events recognised and dropped"),
    "kept_newer": ("stream_app_answers_kept_newer", "Answers fenced off: Redis had a newer one"),
    "redis_lost": ("stream_app_redis_losses", "Times Redis was found to have lost answers"),
    "redis_outages": ("stream_app_redis_outages", "Redis outages seen by the loss check"),
}
"""``Pipeline.stats`` keys exported as counters (``_total`` is added by the client)."""


@dataclass(frozen=True, slots=True)
class Lag:
    """How far one input partition is behind: records, and seconds (None: not known yet)."""

    records: int
    seconds: float | None


def partition_lag(
    highwater: int | None, position: int | None, frontier_ms: int | None, now_ms: int
) -> Lag | None:
    """The lag of a partition whose end is ``highwater`` and whose next offset to process is
    ``position``; ``frontier_ms``: every record appended before it has been processed
    (:meth:`~stream_app.worker.frontier.Frontier.mark`). None when either offset is unknown.

    Seconds are 0 when caught up, else how long ago the frontier is: an upper bound of the
    age of the oldest record not processed yet.

    >>> partition_lag(120, 100, 9_000, 10_500)
    Lag(records=20, seconds=1.5)
    >>> partition_lag(100, 100, 1_000, 10_500), partition_lag(None, 3, None, 0)
    (Lag(records=0, seconds=0.0), None)
    >>> partition_lag(5, 2, None, 10_000)
    Lag(records=3, seconds=None)
    """
    if highwater is None or position is None:
        return None
    records = max(0, highwater - position)
    if records == 0:
        return Lag(0, 0.0)
    if frontier_ms is None:
        return Lag(records, None)
    return Lag(records, max(0.0, (now_ms - frontier_ms) / 1000))


def not_ready_reason(
    *, started: bool, assigned: int, recovered: bool, rebalancing: bool, consuming: bool
) -> str | None:
    """Why a worker is not ready (``/readyz`` answers 503 with it), or None when it is.

    >>> not_ready_reason(started=True, assigned=4, recovered=True, rebalancing=False,
    ...                  consuming=True) is None
    True
    >>> not_ready_reason(started=True, assigned=0, recovered=True, rebalancing=False,
    ...                  consuming=True)
    'no input partitions assigned'
    """
    if not started:
        return "starting"
    if rebalancing:
        return "rebalancing"
    if not recovered:
        return "table recovery not done"
    if assigned == 0:
        return "no input partitions assigned"
    if not consuming:
        return "not consuming"
    return None


class WorkerMetrics:
    """The metrics one worker updates, in a registry of its own (``registry``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry if registry is not None else CollectorRegistry()
        self.events = Counter(
            "stream_app_events_consumed", "Input records taken, per topic", ["topic"], registry=r
        )
        self.dead_letters = Counter(
            "stream_app_dead_letters",
            "Records sent to the dead-letter topic, per stage and reason",
            ["stage", "reason"],
            registry=r,
        )
        self.batch_size = Histogram(
            "stream_app_batch_size",
            "Records per batch (one fetch)",
            buckets=SIZE_BUCKETS,
            registry=r,
        )
        self.steps = Histogram(
            "stream_app_batch_step_seconds",
            "Seconds per batch step: fold, rank, sink, confirm, total",
            ["step"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.rescore = Histogram(
            "stream_app_rescore_seconds",
            "Seconds to rescore the shoppers a batch touched (one observation per batch)",
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.rescored = Counter(
            "stream_app_rescored_shoppers", "Shoppers rescored by batches", registry=r
        )
        self.delay = Histogram(
            "stream_app_event_to_answer_seconds",
            "From a record's append time at the broker to its answer's write to Redis",
            buckets=DELAY_BUCKETS,
            registry=r,
        )
        self.redis_failures = Counter(
            "stream_app_redis_write_failures",
            "Redis writes that failed (each is retried)",
            registry=r,
        )
        self.redis_retries = Counter(
            "stream_app_redis_write_retries", "Redis writes made again after a failure", registry=r
        )
        self.redis_write = Histogram(
            "stream_app_redis_write_seconds",
            "Seconds per successful Redis write (one pipelined round trip)",
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.rebalances = Counter(
            "stream_app_rebalances",
            "Consumer group rebalances this worker took part in",
            registry=r,
        )
        self.recovery = Histogram(
            "stream_app_rebalance_seconds",
            "From a rebalance's start to the end of its table recovery",
            buckets=RECOVERY_BUCKETS,
            registry=r,
        )
        self.last_recovery = Gauge(
            "stream_app_last_rebalance_seconds",
            "Duration of the latest rebalance, table recovery included",
            registry=r,
        )

    def batch_done(
        self,
        messages: Sequence[Any],
        dead_letters: Iterable[Any],
        appended_ms: Iterable[int | None],
        written_ms: int,
        rescored: int,
        steps: Mapping[str, float],
    ) -> None:
        """Record one handled batch: its ``messages`` (anything with ``.topic``), its dead
        letters (``.stage``, ``.reason``), the append times of its valid events and when their
        answers were written, how many shoppers were rescored and each step's seconds."""
        for topic, n in Tally(m.topic for m in messages).items():
            self.events.labels(topic).inc(n)
        for letter in dead_letters:
            self.dead_letters.labels(letter.stage, letter.reason).inc()
        self.batch_size.observe(len(messages))
        for ms in appended_ms:
            if ms is not None:
                self.delay.observe(max(0.0, (written_ms - ms) / 1000))
        self.rescored.inc(rescored)
        for step, seconds in steps.items():
            self.steps.labels(step).observe(seconds)
        if "rank" in steps:
            self.rescore.observe(steps["rank"])


class MeteredSink:
    """A sink counting its failures and retries (a write after a failed one) and timing writes;
    every other attribute (``kept_newer``, ``close``, ...) is the wrapped sink's."""

    def __init__(self, sink: Any, metrics: WorkerMetrics) -> None:
        self.sink = sink
        self.metrics = metrics
        self._failed = False

    async def write(self, batch: Sequence[Recommendation]) -> None:
        if self._failed:
            self.metrics.redis_retries.inc()
        started = time.perf_counter()
        try:
            await self.sink.write(batch)
        except SinkError:
            self._failed = True
            self.metrics.redis_failures.inc()
            raise
        self._failed = False
        self.metrics.redis_write.observe(time.perf_counter() - started)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sink, name)


class RebalanceSensor(faust.Sensor):
    """Counts rebalances and times each from its start to the end of table recovery; knows
    whether the latest one has ended (``recovered``)."""

    def __init__(self, metrics: WorkerMetrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics
        self.recovered = False

    def on_rebalance_start(self, app: Any) -> dict:
        self.recovered = False
        self.metrics.rebalances.inc()
        return {"started": time.monotonic()}

    def on_rebalance_end(self, app: Any, state: dict) -> None:
        seconds = time.monotonic() - state.get("started", time.monotonic())
        self.metrics.recovery.observe(seconds)
        self.metrics.last_recovery.set(seconds)
        self.recovered = True


class ScrapeCollector(Collector):
    """Values read when ``/metrics`` is scraped: lag per input partition, shoppers in the table,
    readiness, and the totals of ``stats`` (``Pipeline.stats``) named in :data:`STATS_COUNTERS`."""

    def __init__(
        self,
        lags: Callable[[], Iterable[tuple[str, int, Lag]]],
        shoppers: Callable[[], int],
        ready: Callable[[], bool],
        stats: Mapping[str, int],
    ) -> None:
        self.lags = lags
        self.shoppers = shoppers
        self.ready = ready
        self.stats = stats

    def describe(self) -> list:
        return []  # values exist only at scrape time; nothing to check at registration

    def collect(self) -> Iterable[Any]:
        records = GaugeMetricFamily(
            "stream_app_consumer_lag_records",
            "Records of an assigned input partition not processed yet",
            labels=["topic", "partition"],
        )
        seconds = GaugeMetricFamily(
            "stream_app_consumer_lag_seconds",
            "How long ago the processed frontier of an assigned input partition is (0: caught up)",
            labels=["topic", "partition"],
        )
        for topic, partition, lag in self.lags():
            records.add_metric([topic, str(partition)], lag.records)
            if lag.seconds is not None:
                seconds.add_metric([topic, str(partition)], lag.seconds)
        yield records
        yield seconds
        yield GaugeMetricFamily(
            "stream_app_table_shoppers", "Shoppers in this worker's state table", self.shoppers()
        )
        yield GaugeMetricFamily(
            "stream_app_ready", "1 when /readyz answers 200", 1 if self.ready() else 0
        )
        for key, (name, doc) in STATS_COUNTERS.items():
            yield CounterMetricFamily(name, doc, self.stats.get(key, 0))
        yield from surface_counters(self.stats)


def surface_counters(stats: Mapping[str, int]) -> Iterable[CounterMetricFamily]:
    """Per surface (``surface`` label): answers ranked and seconds its model took, from the
    ``rescored_{surface}`` and ``rank_us_{surface}`` totals of ``Pipeline.stats``.

    >>> stats = {"rescored_basket": 3, "rank_us_basket": 1500, "answers": 1}
    >>> [(s.name, s.labels, s.value) for m in surface_counters(stats) for s in m.samples]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('stream_app_surface_rescores_total', {'surface': 'basket'}, 3),
     ('stream_app_surface_rank_seconds_total', {'surface': 'basket'}, 0.0015)]
    """
    rescored = CounterMetricFamily(
        "stream_app_surface_rescores",
        "Answers ranked per surface (batches, the fading timer, rebuilds)",
        labels=["surface"],
    )
    seconds = CounterMetricFamily(
        "stream_app_surface_rank_seconds",
        "Seconds the surface's model spent ranking",
        labels=["surface"],
    )
    for key, value in stats.items():
        if key.startswith("rescored_"):
            rescored.add_metric([key.removeprefix("rescored_")], value)
        elif key.startswith("rank_us_"):
            seconds.add_metric([key.removeprefix("rank_us_")], value / 1e6)
    return [rescored, seconds]
