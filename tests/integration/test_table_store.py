"""The RocksDB table store against real Kafka and Redis: a `stream-app worker` subprocess.

The local database must always be a prefix of the changelog (values and the changelog offset
they reach written together, after Kafka confirmed them), and a restarted worker must resume
from it instead of reading the changelog again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from loaders.catalog import load_catalog
from loaders.instacart import read_orders, split_test_orders
from schemas.recommendation import Recommendation
from scorers import Artifacts
from stream_app.serving import Reader
from stream_app.settings import Settings
from stream_app.stack.workerproc import WorkerProcess, remove_run
from stream_app.tools.replay import Pace, publish, recent_events
from stream_app.worker.app import internal_topics, tabledir
from stream_app.worker.pipeline import feature_config, replay_offline
from stream_app.worker.store import read_stopped

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "instacart"
RECENT = 3


def _local_tables(settings: Settings) -> dict[int, tuple[int | None, dict[bytes, bytes]]]:
    """Each partition database of a stopped worker: (persisted changelog offset, values)."""
    return {p: tuple(part) for p, part in read_stopped(tabledir(settings)).items()}


def _changelog(settings: Settings) -> dict[int, tuple[int, dict[bytes, bytes]]]:
    """Each changelog partition: (end offset, the latest value of every key)."""
    from kafka import KafkaConsumer, TopicPartition

    topic = internal_topics(settings)[0]
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(tps)
        latest: dict[int, dict[bytes, bytes]] = {p: {} for p in range(settings.partitions)}
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, "could not read the changelog back"
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    latest[tp.partition][r.key] = r.value
        return {tp.partition: (ends[tp], latest[tp.partition]) for tp in tps}
    finally:
        consumer.close()


def _delete_changelog(settings: Settings, ends: dict[int, int]) -> None:
    """Delete every changelog record: only the local databases hold the states now."""
    from kafka import KafkaAdminClient, TopicPartition
    from kafka.admin import ConfigResource, ConfigResourceType

    topic = internal_topics(settings)[0]
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)

    def policy(value: str) -> None:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, {"cleanup.policy": value})
        admin.alter_configs([resource])

    try:
        policy("compact,delete")  # a compacted-only topic refuses record deletion
        deadline = time.monotonic() + 30
        while True:
            try:
                admin.delete_records(
                    {TopicPartition(topic, p): end for p, end in ends.items() if end}
                )
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        policy("compact")
    finally:
        admin.close()


def test_local_state_is_the_changelog_and_a_restart_resumes_from_it(
    pipeline_settings: Callable[..., Settings], free_port: Callable[[], int], tmp_path: Path
) -> None:
    from stream_app.batch import build_and_seed

    run = f"ts-{os.getpid()}-{int(time.time())}"
    settings = pipeline_settings(run, tmp_path / "artifacts", web_port=free_port())
    assert settings.table_store == "rocksdb"  # the production default
    catalog = load_catalog(FIXTURE)
    orders = read_orders(FIXTURE / "orders.csv")
    train, test = split_test_orders(orders, RECENT)
    build_and_seed(train, catalog, settings, progress=False)
    artifacts = Artifacts.load(settings.artifacts_dir)
    events = recent_events(orders, test, catalog, search_rate=0.3, seed=3)
    cut = len(events) * 2 // 3
    first, rest = events[:cut], events[cut:]
    reader = Reader.from_url(settings.redis_url, settings.reco_prefix)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    try:
        worker.start().wait_ready()
        publish(first, settings, pace=Pace(), progress=False)
        worker.wait_consumed(len(first))
        assert worker.stop() == 0

        # stopped cleanly: every partition database holds exactly the changelog's latest values,
        # up to the changelog's last offset
        local, changelog = _local_tables(settings), _changelog(settings)
        keys = {k for _, values in local.values() for k in values}
        assert {str(e.user_id).encode() for e in first} <= keys
        for p, (end, latest) in changelog.items():
            if not latest:
                continue
            offset, values = local[p]
            assert offset == end - 1, f"partition {p}: persisted {offset}, changelog end {end}"
            assert values == latest, f"partition {p}: local values differ from the changelog"

        # without the changelog, a restarted worker still knows every shopper's state
        _delete_changelog(settings, {p: end for p, (end, _) in changelog.items()})
        worker = WorkerProcess(settings, tmp_path / "worker2.log")
        worker.start().wait_ready()
        stats = publish(rest, settings, pace=Pace(), progress=False)
        worker.wait_consumed(len(rest))
        config = feature_config(artifacts, settings.session_gap_ms)
        expected = replay_offline(events, artifacts, config=config, k=settings.k)
        differing = []
        for user in sorted({e.user_id for e in rest}):
            deadline = time.monotonic() + 30
            while (got := reader.get(user).recommendation).event_ts < stats.last_ts_by_user[user]:
                assert time.monotonic() < deadline, f"user {user}: no current answer"
                time.sleep(0.1)
            want = Recommendation.from_bytes(expected[user].to_bytes())
            if replace(got, updated_at=0, seq=0) != replace(want, updated_at=0, seq=0):
                differing.append(user)
        assert not differing, f"{len(differing)} users differ, e.g. {differing[:5]}"
    finally:
        worker.stop()
        reader.client.delete(*(reader.client.keys(f"{settings.reco_prefix}:*") or ["-"]))
        reader.close()
        remove_run(settings)


def test_with_two_workers_each_keeps_a_standby_copy_of_the_others_partitions(
    pipeline_settings: Callable[..., Settings], free_port: Callable[[], int], tmp_path: Path
) -> None:
    from stream_app.batch import build_and_seed

    run = f"tsb-{os.getpid()}-{int(time.time())}"
    base = pipeline_settings(run, tmp_path / "artifacts")
    assert base.standby_replicas == 1
    catalog = load_catalog(FIXTURE)
    orders = read_orders(FIXTURE / "orders.csv")
    train, test = split_test_orders(orders, RECENT)
    build_and_seed(train, catalog, base, progress=False)
    events = recent_events(orders, test, catalog, search_rate=0.3, seed=4)
    settings = [replace(base, web_port=free_port()) for _ in range(2)]
    workers = [WorkerProcess(s, tmp_path / f"worker{i}.log") for i, s in enumerate(settings)]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.wait_ready()
        publish(events, base, pace=Pace(), progress=False)
        deadline = time.monotonic() + 120
        while sum(w.stats()["events"] for w in workers) < len(events):
            assert time.monotonic() < deadline, "the two workers did not take every event"
            time.sleep(0.2)
        time.sleep(3)  # standbys read the changelog as it is written
        for w in workers:
            assert w.stop() == 0
        changelog = _changelog(base)
        written = {p for p, (_, latest) in changelog.items() if latest}
        for s in settings:
            local = _local_tables(s)
            assert written <= set(local), f"worker {s.web_port} lacks partitions"
            for p in written:
                offset, values = local[p]
                end, latest = changelog[p]
                assert (offset, values) == (end - 1, latest), f"worker {s.web_port}, partition {p}"
    finally:
        for w in workers:
            w.stop()
        remove_run(base)
