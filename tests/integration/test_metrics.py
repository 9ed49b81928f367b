"""A worker's /metrics, /healthz and /readyz against real Kafka and Redis: a replay moves the
counters and the lag returns to zero; the scrape is read with prometheus_client's own parser."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loaders.instacart import read_orders, split_test_orders
from stream_app.settings import Settings
from stream_app.stack import procs
from stream_app.stack.workerproc import WorkerProcess, remove_run
from stream_app.tools.replay import Pace, publish, recent_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "instacart"
RECENT = 3

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Env:
    settings: Settings
    worker: WorkerProcess
    events: list

    def get(self, path: str) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.settings.web_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def scrape(self) -> Samples:
        status, body = self.get("/metrics")
        assert status == 200
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples
        }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


@pytest.fixture(scope="module")
def env(
    pipeline_settings: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    from loaders.catalog import load_catalog
    from stream_app.batch import build_and_seed

    run = f"tm-{os.getpid()}-{int(time.time())}"
    tmp = tmp_path_factory.mktemp("metrics")
    settings = pipeline_settings(run, tmp / "artifacts", web_port=procs.free_port())
    catalog = load_catalog(FIXTURE)
    orders = read_orders(FIXTURE / "orders.csv")
    train, test = split_test_orders(orders, RECENT)
    build_and_seed(train, catalog, settings, progress=False)
    events = list(recent_events(orders, test, catalog, search_rate=0.3, seed=2))
    worker = WorkerProcess(settings, tmp / "worker.log")
    try:
        worker.start()
        worker.wait_ready()
        yield Env(settings, worker, events)
    finally:
        worker.stop()
        remove_run(settings, say=lambda *a, **k: None)


def wait_until(check: Callable[[], bool], what: str, env: Env, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert env.worker.alive(), f"worker exited: {env.worker.log_path}"
        assert time.monotonic() < deadline, f"{what} after {timeout_s}s: {env.worker.log_path}"
        time.sleep(0.2)


def test_healthz_and_readyz(env: Env) -> None:
    status, body = env.get("/healthz")
    assert (status, orjson.loads(body)) == (200, {"ok": True})
    wait_until(lambda: env.get("/readyz")[0] == 200, "/readyz not 200", env, timeout_s=30)
    assert orjson.loads(env.get("/readyz")[1]) == {"ready": True}
    assert total(env.scrape(), "stream_app_ready") == 1


def test_replay_moves_the_counters_and_the_lag_returns_to_zero(env: Env) -> None:
    s = env.settings
    before = env.scrape()
    assert total(before, "stream_app_rebalances_total") >= 1
    assert total(before, "stream_app_rebalance_seconds_count") >= 1
    consumed = env.worker.stats()
    stats = publish(env.events, s, pace=Pace(), progress=False)
    assert stats.events == len(env.events) >= 300
    env.worker.wait_consumed(consumed["events"] + consumed["dead_letters"] + len(env.events))

    def caught_up() -> bool:
        now = env.scrape()
        lags = [v for (n, _), v in now.items() if n == "stream_app_consumer_lag_records"]
        return len(lags) == s.partitions * 3 and not any(lags)

    wait_until(caught_up, "lag not back to zero", env)

    def moved() -> float:  # a batch's metrics are recorded when it ends, after its stats
        return total(env.scrape(), "stream_app_events_consumed_total") - total(
            before, "stream_app_events_consumed_total"
        )

    wait_until(lambda: moved() >= len(env.events), "events consumed not counted", env)
    after = env.scrape()
    per_topic = Counter(s.topic_for(e.type) for e in env.events)
    assert moved() == len(env.events)
    for topic, n in per_topic.items():
        got = total(after, "stream_app_events_consumed_total", topic=topic) - total(
            before, "stream_app_events_consumed_total", topic=topic
        )
        assert got == n, topic
    for name in (
        "stream_app_answers_written_total",
        "stream_app_rescore_seconds_count",
        "stream_app_batch_size_count",
        "stream_app_event_to_answer_seconds_count",
        "stream_app_redis_write_seconds_count",
    ):
        assert total(after, name) > total(before, name), name
    delays = total(after, "stream_app_event_to_answer_seconds_count") - total(
        before, "stream_app_event_to_answer_seconds_count"
    )
    assert delays == len(env.events)  # every replayed record carries its append time
    assert total(after, "stream_app_table_shoppers") >= len({e.user_id for e in env.events})
    lag_s = [v for (n, _), v in after.items() if n == "stream_app_consumer_lag_seconds"]
    assert lag_s and not any(lag_s)
    assert total(after, "stream_app_redis_write_failures_total") == 0
    assert total(after, "stream_app_dead_letters_total") == 0
