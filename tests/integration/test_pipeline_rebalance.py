"""Two workers share the partitions; when one dies, the other recovers its users' state.

This is the check on the table's changelog partitioning: state is written from inside
``take_events()`` through the producer's partitioner (``use_partitioner=True``), so a user's
changelog record must land in the partition of the user's input events, or the survivor would
recover it into the wrong place and the user's next answer would start from a stale state.
The second half of the events is published while the worker dies and the survivor rebalances
and recovers, so events fetched around the rebalance must be neither lost nor applied twice
(``stream_app/worker/fetchguard.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from loaders.catalog import load_catalog
from loaders.instacart import read_orders, split_test_orders
from schemas.events import Checkout
from schemas.recommendation import Recommendation
from scorers import Artifacts
from stream_app.batch import build_and_seed
from stream_app.serving import Reader
from stream_app.settings import Settings
from stream_app.stack.procs import free_port
from stream_app.stack.workerproc import WorkerProcess, remove_run
from stream_app.tools.replay import Pace, publish, recent_events
from stream_app.worker.pipeline import feature_config, replay_offline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "instacart"


def _wait(reader: Reader, last_ts: dict[int, int], timeout_s: float) -> dict[int, Recommendation]:
    deadline = time.monotonic() + timeout_s
    got: dict[int, Recommendation] = {}
    while time.monotonic() < deadline:
        for user, ts in last_ts.items():
            served = reader.get(user)
            if not served.is_fallback and served.recommendation.event_ts >= ts:
                got[user] = served.recommendation
        if len(got) == len(last_ts):
            break
        time.sleep(0.2)
    return got


def _until_both_consume(settings: Settings, a: WorkerProcess, b: WorkerProcess) -> None:
    """Probe checkouts of many users (all partitions) until each worker has taken some."""
    from urllib.error import URLError

    deadline = time.monotonic() + 90
    n = 0
    while time.monotonic() < deadline:
        probes = [Checkout(f"probe-{n}-{u}", 900_000 + u, 1_600_000_000_000 + n) for u in range(16)]
        publish(probes, settings, pace=Pace(), progress=False)
        n += 1
        time.sleep(1.0)
        try:
            sa, sb = a.stats(), b.stats()
        except URLError:  # b's web server is not up yet
            continue
        if sa["events"] > 0 and sb["events"] > 0 and sa["generation"] == sb["generation"]:
            _settled([a, b])
            return
    raise AssertionError("the second worker never got partitions")


def _settled(workers: list[WorkerProcess], quiet_s: float = 3.0) -> None:
    """Until no rebalance happened and no message was taken for ``quiet_s``."""

    def snapshot() -> list[tuple[int, int]]:
        return [
            (s["generation"], s["events"] + s["dead_letters"]) for s in (w.stats() for w in workers)
        ]

    deadline = time.monotonic() + 90
    last, since = snapshot(), time.monotonic()
    while time.monotonic() - since < quiet_s:
        assert time.monotonic() < deadline, "the workers never settled"
        time.sleep(0.25)
        now = snapshot()
        if now != last:
            last, since = now, time.monotonic()


def _consumed(worker: WorkerProcess) -> int:
    stats = worker.stats()
    return stats["events"] + stats["dead_letters"]


def _until(condition, why, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out: {why()}"
        time.sleep(0.2)


def _same(got: Recommendation, want: Recommendation) -> bool:
    return replace(got, updated_at=0, seq=0) == Recommendation.from_bytes(want.to_bytes())


def test_state_survives_a_worker_dying_and_its_partitions_moving(
    pipeline_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    run = f"tr-{os.getpid()}-{int(time.time())}"
    settings = pipeline_settings(run, tmp_path / "artifacts")
    catalog = load_catalog(FIXTURE)
    orders = read_orders(FIXTURE / "orders.csv")
    rest, last = split_test_orders(orders, 1)
    history, second_last = split_test_orders(rest, 1)
    build_and_seed(history, catalog, settings, progress=False)
    artifacts = Artifacts.load(settings.artifacts_dir)
    first = recent_events(orders, second_last, catalog, search_rate=0.3, seed=1)
    then = recent_events(orders, last, catalog, search_rate=0.3, seed=2)
    config = feature_config(artifacts, settings.session_gap_ms)

    reader = Reader.from_url(settings.redis_url, settings.reco_prefix)
    loglevel = os.environ.get("STREAM_APP_TEST_WORKER_LOGLEVEL", "warning")
    a = WorkerProcess(
        replace(settings, web_port=free_port()), tmp_path / "a.log", loglevel=loglevel
    )
    b = WorkerProcess(
        replace(settings, web_port=free_port()), tmp_path / "b.log", loglevel=loglevel
    )
    try:
        a.start()
        a.wait_ready()
        b.start()
        _until_both_consume(settings, a, b)
        before = _consumed(a) + _consumed(b)
        stats = publish(first, settings, pace=Pace(), progress=False)
        _until(
            lambda: _consumed(a) + _consumed(b) >= before + len(first),
            lambda: (before, len(first), a.stats(), b.stats()),
        )
        _settled([a, b])  # redeliveries after a rebalance would count twice
        got = _wait(reader, stats.last_ts_by_user, timeout_s=60)
        want = replay_offline(first, artifacts, config=config, k=settings.k)
        wrong = sorted(u for u in want if u not in got or not _same(got[u], want[u]))
        assert not wrong, f"users {wrong} differ before the rebalance; logs in {tmp_path}"

        # b takes over a's partitions, recovering them from the changelog, while the next
        # events arrive (about 4 s of them): during a's shutdown, b's rebalance and b's
        # recovery, where Faust's fetch raced the rebalance (stream_app/worker/fetchguard.py). The
        # answers are awaited, not b's counters: a may take some events before it stops.
        with ThreadPoolExecutor(1) as pool:
            sending = pool.submit(publish, then, settings, pace=Pace(rate=100), progress=False)
            assert a.stop() == 0
            stats = sending.result(timeout=60)
        got = _wait(reader, stats.last_ts_by_user, timeout_s=90)
        _settled([b])
        got = _wait(reader, stats.last_ts_by_user, timeout_s=10)
        want = replay_offline(first + then, artifacts, config=config, k=settings.k)
        wrong = sorted(u for u in want if u not in got or not _same(got[u], want[u]))
        assert not wrong, f"users {wrong} differ after the rebalance; logs in {tmp_path}"
    finally:
        a.stop()
        b.stop()
        reader.client.delete(*(reader.client.keys(f"{run}:*") or ["-"]))  # probes too
        reader.close()
        remove_run(settings)
