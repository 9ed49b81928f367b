"""Answers rebuilt when Redis loses them: a real worker, real Kafka and Redis.

The Redis is shared with other tests, so "Redis lost everything" is simulated by deleting
every key of this run's prefix (answers, fallback and the worker's marker), and "Redis
restarted" by deleting the answers while the marker says another ``run_id`` made it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from loaders.catalog import load_catalog
from loaders.instacart import read_orders, split_test_orders
from schemas.recommendation import DEFAULT_SURFACE, Recommendation, reco_key
from scorers import Artifacts
from stream_app.settings import Settings
from stream_app.stack.procs import free_port
from stream_app.stack.workerproc import PROBE_USER, WorkerProcess, remove_run
from stream_app.tools.replay import Pace, publish, recent_events
from stream_app.worker.app import internal_topics
from stream_app.worker.rematerialise import Marker, marker_key, partition_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "instacart"
RECENT = 3
N_SPARE = 4  # known users without events: their answer is the batch one


@dataclass
class Env:
    settings: Settings
    artifacts: Artifacts
    client: object  # redis.Redis
    worker: WorkerProcess

    @property
    def marker(self) -> str:
        return marker_key(self.settings.reco_prefix)

    def answers(self) -> dict[str, Recommendation]:
        """Every answer under the run's prefix (the fallback too), without the wall-clock stamp;
        not the probe user's (deleted by the readiness check, maybe rebuilt since).

        A surface other than the default is rescored on some events only, so its last write
        may be at an earlier stream position (``seq``, the fence's tie-break) than a rebuild
        writes it at: its ``seq`` is left out, the answer itself is compared."""
        keys = sorted(
            k.decode()
            for k in self.client.keys(f"{self.settings.reco_prefix}:*")
            if k.decode() not in {self.marker, reco_key(PROBE_USER, self.settings.reco_prefix)}
        )
        values = self.client.mget(keys) if keys else []
        out = {}
        for k, v in zip(keys, values, strict=True):
            if v is not None:
                reco = replace(Recommendation.from_bytes(v), updated_at=0)
                out[k] = reco if reco.surface == DEFAULT_SURFACE else replace(reco, seq=0)
        return out

    def settled(self, timeout_s: float = 60.0) -> Marker:
        """Wait until the marker says every partition's answers are written under this Redis."""
        deadline = time.monotonic() + timeout_s
        run_id = str(self.client.info("server")["run_id"])
        while True:
            marker = Marker.parse(self.client.hgetall(self.marker))
            if marker and marker.run_id == run_id and marker.pending(self.partitions) == set():
                return marker
            assert time.monotonic() < deadline, f"marker never complete: {marker}"
            assert self.worker.alive(), f"worker exited: {self.worker.log_path}"
            time.sleep(0.1)

    @property
    def partitions(self) -> set[int]:
        return set(range(self.settings.partitions))

    def back(
        self,
        before: dict[str, Recommendation],
        timeout_s: float = 60.0,
        ignore: Collection[str] = (),
    ) -> None:
        """Wait until every answer of ``before`` is in Redis again, equal to what it was, and
        the keys of ``ignore`` are back (whatever their value)."""
        deadline = time.monotonic() + timeout_s
        while True:
            answers = self.answers()
            now = {k: v for k, v in answers.items() if k not in ignore}
            if now == before and set(ignore) <= answers.keys():
                return
            if time.monotonic() > deadline:
                missing = sorted(set(before) - set(now))
                differ = [k for k in before if k in now and now[k] != before[k]]
                raise AssertionError(
                    f"{len(missing)} answers missing (first {missing[:3]}), {len(differ)} differ "
                    f"(first {differ[:1]}: {_changed(before, now, differ[:1])}); "
                    f"worker log: {self.worker.log_path}"
                )
            assert self.worker.alive(), f"worker exited: {self.worker.log_path}"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def env(
    pipeline_settings: Callable[..., Settings],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Env]:
    import redis

    from stream_app.batch import build_and_seed

    run = f"trm-{os.getpid()}-{int(time.time())}"
    tmp = tmp_path_factory.mktemp("rematerialise")
    settings = pipeline_settings(
        run, tmp / "artifacts", web_port=free_port(), redis_check_interval_s=0.5
    )
    catalog = load_catalog(FIXTURE)
    orders = read_orders(FIXTURE / "orders.csv")
    train, test = split_test_orders(orders, RECENT)
    build_and_seed(train, catalog, settings, progress=False)
    artifacts = Artifacts.load(settings.artifacts_dir)
    spare = set(artifacts.known_users()[:N_SPARE])
    events = [
        e
        for e in recent_events(orders, test, catalog, search_rate=0.3, seed=2)
        if e.user_id not in spare
    ]
    client = redis.Redis.from_url(settings.redis_url)
    worker = WorkerProcess(settings, tmp / "worker.log")
    try:
        worker.start()
        worker.wait_ready()
        stats = worker.stats()
        publish(events, settings, pace=Pace(), progress=False)
        worker.wait_consumed(stats["events"] + stats["dead_letters"] + len(events))
        e = Env(settings, artifacts, client, worker)
        last_ts = {ev.user_id: ev.ts for ev in events}
        deadline = time.monotonic() + 60
        while any(
            (a := e.answers().get(reco_key(u, run))) is None or a.event_ts < ts
            for u, ts in last_ts.items()
        ):
            assert time.monotonic() < deadline, "the replayed users' answers never arrived"
            time.sleep(0.1)
        e.settled()  # the worker's first check: no marker for a new prefix, so it made one
        yield e
    finally:
        worker.stop()
        client.delete(*(client.keys(f"{settings.reco_prefix}:*") or ["-"]))
        client.close()
        remove_run(settings)


def test_every_answer_and_the_fallback_come_back_as_they_were_after_redis_lost_them(
    env: Env,
) -> None:
    before = env.answers()
    sources = {r.source for r in before.values()}
    assert sources == {"stream", "batch", "fallback"}, sources
    assert len(before) >= len(env.artifacts.known_users()) + 1
    rebuilds = env.worker.stats()["rebuilds"]

    everything = env.client.keys(f"{env.settings.reco_prefix}:*")
    assert env.marker.encode() in everything
    env.client.delete(*everything)  # FLUSHDB, as far as this run can tell
    assert env.answers() == {}

    # every surface is rebuilt from its view of the state now: what its last rescore saw,
    # so each answer comes back exactly (search, basket and buy_again included)
    assert {k.rsplit(":", 1)[-1] for k in before} >= {"search", "basket", "buy_again"}
    env.back(before)
    env.settled()
    stats = env.worker.stats()
    assert stats["rebuilds"] == rebuilds + 1
    # every known user, and the readiness probe's user (state, but no batch history)
    assert stats["rebuilt_users"] == len(env.artifacts.known_users()) + 1


def test_a_restarted_redis_is_noticed_by_its_run_id_with_the_marker_still_there(
    env: Env,
) -> None:
    env.settled()
    before = env.answers()
    lost = env.worker.stats()["redis_lost"]
    with env.client.pipeline(transaction=True) as tx:  # one step, as a restart would be
        tx.delete(*before)
        tx.hset(env.marker, "run_id", "a-redis-that-was-restarted")
        tx.execute()
    assert env.client.exists(env.marker) and env.answers() == {}

    env.back(before)
    assert env.settled().run_id == str(env.client.info("server")["run_id"])
    assert env.worker.stats()["redis_lost"] == lost + 1


def test_the_worker_keeps_each_user_in_the_changelog_partition_partition_of_names(
    env: Env,
) -> None:
    """Ownership is decided with ``partition_of``: it must be where Faust's producer put the
    user's state (and the replay producer the user's events)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=env.settings.kafka_bootstrap, consumer_timeout_ms=3000
    )
    try:
        changelog = internal_topics(env.settings)[0]
        tps = [TopicPartition(changelog, p) for p in range(env.settings.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records = list(consumer)
    finally:
        consumer.close()
    assert len({r.key for r in records}) > len(env.artifacts.known_users()) - N_SPARE
    assert len({r.partition for r in records}) == env.settings.partitions
    misplaced = [
        (r.key, r.partition)
        for r in records
        if r.partition != partition_of(r.key, env.settings.partitions)
    ]
    assert misplaced == []


def _changed(
    before: dict[str, Recommendation], now: dict[str, Recommendation], keys: list[str]
) -> list[dict[str, tuple[object, object]]]:
    """The fields that differ, per key (for failure messages)."""
    out = []
    for k in keys:
        a, b = before[k].to_dict(), now[k].to_dict()
        out.append({f: (a[f], b.get(f)) for f in a if a[f] != b.get(f)})
    return out
