"""The worker's metrics helpers: lag, readiness, batch bookkeeping, the metered sink, the scrape."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from schemas.errors import SinkError
from stream_app.worker.metrics import (
    Lag,
    MeteredSink,
    ScrapeCollector,
    WorkerMetrics,
    not_ready_reason,
    partition_lag,
)


def samples(metrics: WorkerMetrics) -> dict[tuple[str, tuple], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.parametrize(
    ("highwater", "position", "frontier", "want"),
    [
        (10, 10, None, Lag(0, 0.0)),  # caught up: 0 s even without a frontier
        (10, 12, 5_000, Lag(0, 0.0)),  # position past a stale high-water mark
        (10, 4, 7_000, Lag(6, 3.0)),
        (10, 4, 12_000, Lag(6, 0.0)),  # clocks disagree: never negative
        (10, 4, None, Lag(6, None)),
        (None, 4, 1, None),
        (10, None, 1, None),
    ],
)
def test_partition_lag(highwater, position, frontier, want) -> None:
    assert partition_lag(highwater, position, frontier, 10_000) == want


def test_not_ready_reason_names_the_first_missing_condition() -> None:
    ok = dict(started=True, assigned=2, recovered=True, rebalancing=False, consuming=True)
    assert not_ready_reason(**ok) is None
    assert not_ready_reason(**{**ok, "started": False, "assigned": 0}) == "starting"
    assert not_ready_reason(**{**ok, "rebalancing": True, "recovered": False}) == "rebalancing"
    assert not_ready_reason(**{**ok, "recovered": False}) == "table recovery not done"
    assert not_ready_reason(**{**ok, "assigned": 0}) == "no input partitions assigned"
    assert not_ready_reason(**{**ok, "consuming": False}) == "not consuming"


def test_batch_done_counts_topics_reasons_sizes_and_delays() -> None:
    m = WorkerMetrics()
    msgs = [SimpleNamespace(topic=t) for t in ("adds", "adds", "searches")]
    letter = SimpleNamespace(stage="decode", reason="malformed_json")
    m.batch_done(msgs, [letter], [1_000, None, 500], 1_500, 2, {"rank": 0.003, "total": 0.01})
    got = samples(m)
    assert got[("stream_app_events_consumed_total", (("topic", "adds"),))] == 2
    assert got[("stream_app_events_consumed_total", (("topic", "searches"),))] == 1
    reason = (("reason", "malformed_json"), ("stage", "decode"))
    assert got[("stream_app_dead_letters_total", reason)] == 1
    assert got[("stream_app_batch_size_count", ())] == 1
    assert got[("stream_app_batch_size_sum", ())] == 3
    assert got[("stream_app_event_to_answer_seconds_count", ())] == 2
    assert got[("stream_app_event_to_answer_seconds_sum", ())] == pytest.approx(1.5)
    assert got[("stream_app_event_to_answer_seconds_bucket", (("le", "0.5"),))] == 1
    assert got[("stream_app_rescore_seconds_count", ())] == 1
    assert got[("stream_app_rescored_shoppers_total", ())] == 2


class FlakySink:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.kept_newer = 7

    async def write(self, batch) -> None:
        if self.failures:
            self.failures -= 1
            raise SinkError("down")


def test_metered_sink_counts_failures_and_retries_and_passes_attributes() -> None:
    from stream_app.worker.sinks import write_until_done

    m = WorkerMetrics()
    sink = MeteredSink(FlakySink(2), m)
    attempts = asyncio.run(write_until_done(sink, [], first_delay_s=0.001))
    got = samples(m)
    assert attempts == 3 and sink.kept_newer == 7
    assert got[("stream_app_redis_write_failures_total", ())] == 2
    assert got[("stream_app_redis_write_retries_total", ())] == 2
    assert got[("stream_app_redis_write_seconds_count", ())] == 1
    asyncio.run(sink.write([]))  # a first attempt after a success is no retry
    assert samples(m)[("stream_app_redis_write_retries_total", ())] == 2


def test_scrape_collector_reads_lag_table_readiness_and_stats() -> None:
    m = WorkerMetrics()
    lags = [("adds", 0, Lag(3, 1.5)), ("adds", 1, Lag(2, None))]
    m.registry.register(ScrapeCollector(lambda: lags, lambda: 42, lambda: False, {"answers": 9}))
    got = samples(m)
    p0, p1 = (("partition", "0"), ("topic", "adds")), (("partition", "1"), ("topic", "adds"))
    assert got[("stream_app_consumer_lag_records", p0)] == 3
    assert got[("stream_app_consumer_lag_records", p1)] == 2
    assert got[("stream_app_consumer_lag_seconds", p0)] == 1.5
    assert ("stream_app_consumer_lag_seconds", p1) not in got  # unknown: no sample
    assert got[("stream_app_table_shoppers", ())] == 42
    assert got[("stream_app_ready", ())] == 0
    assert got[("stream_app_answers_written_total", ())] == 9
    assert got[("stream_app_late_events_total", ())] == 0
