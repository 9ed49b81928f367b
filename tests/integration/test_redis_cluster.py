"""The pipeline against a real three-master Redis Cluster (``redis+cluster://``).

The module starts its own cluster (three ``redis-server`` with ``cluster-enabled yes`` on ports
17001-17003, :mod:`stream_app.stack.rediscluster`, files under pytest's tmp dir) and stops it
at the end. ``build`` seeds both the cluster and the single Redis of the other tests: the
answers are equal and spread over the three masters; the fence script, the readers and the
rematerialise marker work there; a worker replays a few shoppers' events into the cluster and
their answers equal the offline replay (what the single-Redis path is checked against in
test_pipeline.py).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from loaders.catalog import load_catalog
from loaders.instacart import read_orders, split_test_orders
from schemas.recommendation import RecoItem, Recommendation, reco_key
from scorers import Artifacts
from stream_app.redisconn import cluster_url, sync_client
from stream_app.serving import Reader
from stream_app.serving.reader import AsyncReader
from stream_app.settings import Settings
from stream_app.stack.procs import Address, port_open
from stream_app.stack.rediscluster import (
    ClusterLayout,
    form_cluster,
    node_ports,
    start_cluster_nodes,
    stop_cluster,
)
from stream_app.stack.workerproc import WorkerProcess, remove_run
from stream_app.tools.replay import Pace, publish, recent_events
from stream_app.worker.pipeline import feature_config, replay_offline
from stream_app.worker.sinks import RedisSink

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "instacart"
FIRST_PORT = int(os.environ.get("STREAM_APP_TEST_CLUSTER_PORT", "17001"))
RECENT = 3
REPLAYED_USERS = 8


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a fresh local three-master cluster (stopped after the module)."""
    ports = node_ports(FIRST_PORT)
    taken = [p for p in ports if port_open(Address("localhost", p))]
    if taken:
        pytest.fail(f"ports {taken} are taken; set STREAM_APP_TEST_CLUSTER_PORT", pytrace=False)
    layout = ClusterLayout(tmp_path_factory.mktemp("redis-cluster"))
    started = time.monotonic()
    try:
        start_cluster_nodes(layout, "localhost", ports)
        form_cluster("localhost", ports, timeout_s=30)
        print(f"cluster on {ports} formed in {time.monotonic() - started:.1f} s")
        yield cluster_url("localhost", FIRST_PORT)
    finally:
        stop_cluster(layout)


@pytest.fixture(scope="module")
def built(
    cluster: str,
    pipeline_settings: Callable[..., Settings],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Settings, Settings, list]]:
    """``stream-app build`` into the cluster and into the single Redis (same run, same
    artifacts); (cluster settings, single settings, the held-back recent orders' events)."""
    from stream_app.batch import build_and_seed

    run = f"tc-{os.getpid()}-{int(time.time())}"
    tmp = tmp_path_factory.mktemp("cluster-pipeline")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    single = pipeline_settings(run, tmp / "artifacts", web_port=port)
    on_cluster = replace(single, redis_url=cluster)
    catalog = load_catalog(FIXTURE)
    orders = read_orders(FIXTURE / "orders.csv")
    train, test = split_test_orders(orders, RECENT)
    build_and_seed(train, catalog, on_cluster, progress=False)
    from stream_app.batch import seed_answers

    seed_answers(Artifacts.load(on_cluster.artifacts_dir), single, progress=False)
    users = sorted({o.user_id for o in train})[:REPLAYED_USERS]
    recent = [
        e
        for e in recent_events(orders, test, catalog, search_rate=0.3, seed=1)
        if e.user_id in set(users)
    ]
    try:
        yield on_cluster, single, recent
    finally:
        client = sync_client(single.redis_url)
        client.delete(*(client.keys(f"{single.reco_prefix}:*") or ["-"]))
        client.close()
        remove_run(single)


def _plain(reco: Recommendation) -> Recommendation:
    return replace(reco, updated_at=0)


def test_build_answers_on_the_cluster_equal_the_single_redis(built) -> None:
    on_cluster, single, _ = built
    artifacts = Artifacts.load(on_cluster.artifacts_dir)
    users = artifacts.known_users()
    creader = Reader.from_url(on_cluster.redis_url, on_cluster.reco_prefix)
    sreader = Reader.from_url(single.redis_url, single.reco_prefix)
    try:
        for user in [*users, 987_654_321]:
            for surface in ("default", "buy_again"):  # the surfaces build seeds
                got, want = creader.get(user, surface), sreader.get(user, surface)
                assert got.is_fallback == want.is_fallback == (user == 987_654_321)
                assert _plain(got.recommendation) == _plain(want.recommendation), user
        # the answers are spread over the three masters, each on its key's slot
        per_node = {
            node.name: node.redis_connection.dbsize() for node in creader.client.get_primaries()
        }
        assert len(per_node) == 3 and all(n > 0 for n in per_node.values()), per_node
        assert sum(per_node.values()) >= 2 * len(users) + 1
    finally:
        creader.close()
        sreader.close()

    async def read_async() -> bool:
        reader = AsyncReader.from_url(on_cluster.redis_url, on_cluster.reco_prefix)
        try:
            served = await reader.get(users[0])
            return not served.is_fallback and served.recommendation.source == "batch"
        finally:
            await reader.close()

    assert asyncio.run(read_async())


def test_fence_on_the_cluster_keeps_the_newer_answer(cluster: str) -> None:
    prefix = f"tf-{os.getpid()}-{int(time.time())}"
    newer = [Recommendation(u, (RecoItem(1, 1.0),), "m", event_ts=20, seq=5) for u in range(1, 31)]
    stale = [replace(r, items=(RecoItem(2, 1.0),), event_ts=10) for r in newer]

    async def write() -> int:
        sink = RedisSink.from_url(cluster, prefix, fenced=True)
        try:
            await sink.write(newer)
            await sink.write(stale)
            return sink.kept_newer
        finally:
            await sink.close()

    assert asyncio.run(write()) == len(newer)
    reader = Reader.from_url(cluster, prefix)
    try:
        for reco in newer:
            assert reader.client.get(reco_key(reco.user_id, prefix)) is not None
            assert reader.get(reco.user_id).recommendation.items == reco.items
        reader.client.delete(*[reco_key(r.user_id, prefix) for r in newer])
    finally:
        reader.close()


def test_rematerialise_marker_on_the_cluster(cluster: str) -> None:
    from stream_app.worker.rematerialise import Ownership, Rematerialiser, marker_key

    prefix = f"tm-{os.getpid()}-{int(time.time())}"
    ownership = Ownership()
    ownership.settle([])  # owns nothing: the check makes the marker and has nothing to rebuild

    async def check() -> int | None:
        pipeline = SimpleNamespace(stats={})
        rem = Rematerialiser.from_url(
            cluster, pipeline, {}, prefix=prefix, partitions=4, ownership=ownership
        )
        try:
            return await rem.check()
        finally:
            await rem.client.aclose()

    assert asyncio.run(check()) is None
    client = sync_client(cluster)
    try:
        marker = client.hgetall(marker_key(prefix))
        assert marker[b"run_id"].count(b",") == 2  # the three masters' run_ids
        assert marker[b"epoch"]
        client.delete(marker_key(prefix))
    finally:
        client.close()


def test_worker_replay_into_the_cluster_equals_offline(built, tmp_path: Path) -> None:
    on_cluster, _, recent = built
    assert recent
    artifacts = Artifacts.load(on_cluster.artifacts_dir)
    config = feature_config(artifacts, on_cluster.session_gap_ms)
    expected = replay_offline(recent, artifacts, config=config, k=on_cluster.k)
    reader = Reader.from_url(on_cluster.redis_url, on_cluster.reco_prefix)
    started = time.monotonic()
    with WorkerProcess(on_cluster, tmp_path / "worker.log") as worker:
        worker.wait_ready()
        ready = time.monotonic() - started
        stats = publish(recent, on_cluster, pace=Pace(), progress=False)
        worker.wait_consumed(len(recent), timeout_s=60)
        deadline = time.monotonic() + 30
        for user, want in sorted(expected.items()):
            while True:
                served = reader.get(user)
                got = served.recommendation
                if not served.is_fallback and got.event_ts >= stats.last_ts_by_user[user]:
                    break
                assert time.monotonic() < deadline, f"user {user}: {got}; {worker.log_path}"
                time.sleep(0.1)
            want = Recommendation.from_bytes(want.to_bytes())
            assert replace(got, updated_at=0, seq=0) == replace(want, updated_at=0, seq=0)
    reader.close()
    print(
        f"worker ready on the cluster in {ready:.1f} s; {len(recent)} events of "
        f"{len(expected)} users replayed, answers equal the offline replay"
    )
