"""The shared local stack works with every client the project uses: kafka-python, aiokafka,
Faust (a real worker process) and redis-py, against the real Kafka and Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schemas.errors import ConfigError, ServiceError
from stream_app.stack import ensure_topics, services_up, topic_partitions

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

HERE = Path(__file__).parent


def test_kafka_python_round_trip_keeps_per_key_order(kafka_bootstrap, unique_name):
    from kafka import KafkaConsumer, KafkaProducer

    topic = unique_name("kp")
    ensure_topics(kafka_bootstrap, [topic], 4)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    sent = [(f"user-{i % 5}".encode(), f"event-{i}".encode()) for i in range(50)]
    for key, value in sent:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=unique_name("group"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=20_000,
    )
    got = []
    for msg in consumer:
        got.append((msg.key, msg.value))
        if len(got) == len(sent):
            break
    consumer.commit()
    consumer.close()

    assert sorted(got) == sorted(sent)
    for user in {k for k, _ in sent}:  # same key -> same partition -> order kept
        assert [v for k, v in got if k == user] == [v for k, v in sent if k == user]


async def test_aiokafka_round_trip_with_group_commit(kafka_bootstrap, unique_name):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition

    topic, group = unique_name("aio"), unique_name("group")
    ensure_topics(kafka_bootstrap, [topic], 2)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(20):
            await producer.send_and_wait(topic, f"v{i}".encode(), key=f"k{i % 3}".encode())
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        values = []
        while len(values) < 20:
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, f"no records after {len(values)} of 20"
            values += [m.value for msgs in batch.values() for m in msgs]
        await consumer.commit()
        committed = {p: await consumer.committed(TopicPartition(topic, p)) for p in range(2)}
    finally:
        await consumer.stop()
    assert sorted(values) == sorted(f"v{i}".encode() for i in range(20))
    assert sum(committed.values()) == 20  # the group's offsets are stored by the broker


def test_faust_worker_agent_writes_each_event_to_redis(
    kafka_bootstrap, redis_url, redis_client, unique_name, free_port, tmp_path
):
    from kafka import KafkaProducer

    topic, app_id = unique_name("faust"), unique_name("app")
    ensure_topics(kafka_bootstrap, [topic], 2)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    events = {f"u{i}".encode(): f'{{"n": {i}}}'.encode() for i in range(10)}
    for key, value in events.items():
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()

    env = {
        **os.environ,
        "STACK_TEST_BROKER": kafka_bootstrap,
        "STACK_TEST_REDIS_URL": redis_url,
        "STACK_TEST_TOPIC": topic,
        "STACK_TEST_APP_ID": app_id,
        "STACK_TEST_DATADIR": str(tmp_path / "faust"),
        "STACK_TEST_WEB_PORT": str(free_port()),
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, str(HERE / "stack_faust_app.py")],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        keys = [f"{app_id}:{k.decode()}" for k in events]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and worker.poll() is None:
            if redis_client.exists(*keys) == len(keys):
                break
            time.sleep(0.5)
        assert worker.poll() is None, f"worker died: {log.read_text()[-2000:]}"
        assert redis_client.mget(keys) == list(events.values()), log.read_text()[-2000:]
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        redis_client.delete(*[f"{app_id}:{k.decode()}" for k in events])


def test_services_up_twice_second_call_reuses(live_services):
    first_lines: list[str] = []
    second_lines: list[str] = []
    first = services_up(live_services, say=first_lines.append)
    second = services_up(live_services, say=second_lines.append)
    assert [r.state for r in second] != ["started", "started"]
    assert all(r.state in {"running", "reused"} for r in second), second_lines
    assert [r.pid for r in second] == [r.pid for r in first]
    assert not any("starting" in line for line in second_lines), second_lines
    assert any(line.startswith("topics: present") for line in second_lines), second_lines


def test_ensure_topics_is_idempotent_and_refuses_other_partition_counts(
    kafka_bootstrap, unique_name
):
    a, b = unique_name("a"), unique_name("b")
    assert ensure_topics(kafka_bootstrap, [a, b], 3) == [a, b]
    assert ensure_topics(kafka_bootstrap, [a, b], 3) == []
    parts = topic_partitions(kafka_bootstrap)
    assert (parts[a], parts[b]) == (3, 3)
    with pytest.raises(ConfigError, match=f"'{a}' has 3"):
        ensure_topics(kafka_bootstrap, [a], 8)


def test_created_topics_keep_records_with_old_event_timestamps(kafka_bootstrap, unique_name):
    """Records carry their event time: a replayed 2017 log must not fall to time retention."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    from stream_app.settings import Settings

    kept, custom = unique_name("kept"), unique_name("custom")
    ensure_topics(kafka_bootstrap, [kept], 2, configs=Settings().topic_configs())
    ensure_topics(kafka_bootstrap, [custom], 2, configs={"retention.ms": "3600000"})
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        got = admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, t, configs=["retention.ms"])
                for t in (kept, custom)
            ]
        )["topic"]
    finally:
        admin.close()
    assert got[kept]["retention.ms"]["value"] == "-1"
    assert got[custom]["retention.ms"]["value"] == "3600000"


def test_services_up_provisions_co_partitioned_input_topics(live_services):
    services_up(live_services, say=lambda _line: None)
    parts = topic_partitions(live_services.kafka_bootstrap)
    inputs = [
        live_services.topic_cart_adds,
        live_services.topic_searches,
        live_services.topic_checkouts,
        live_services.topic_dead_letters,
    ]
    assert [parts.get(t) for t in inputs] == [live_services.partitions] * 4


def test_replay_publish_reports_events_kafka_refused(live_services, unique_name):
    """The broker refuses the cart adds (their topic takes no record that large); the replay
    must say so instead of returning as if everything landed."""
    from dataclasses import replace

    from schemas.events import CartAdd, Search
    from stream_app.tools.replay import Pace, publish

    settings = replace(
        live_services,
        topic_cart_adds=unique_name("tiny"),
        topic_searches=unique_name("ok"),
        topic_checkouts=unique_name("ok"),
    )
    ensure_topics(
        settings.kafka_bootstrap, [settings.topic_cart_adds], 1, configs={"max.message.bytes": "16"}
    )
    ensure_topics(settings.kafka_bootstrap, [settings.topic_searches, settings.topic_checkouts], 1)
    events = [
        Search("s-1", 7, "milk", 1_700_000_000_000),
        CartAdd("c-1", 7, 24852, 1_700_000_030_000),
        CartAdd("c-2", 7, 13176, 1_700_000_060_000),
    ]
    with pytest.raises(ServiceError, match=r"Kafka refused 2 of 3 events; the first: cart_add c-1"):
        publish(events, settings, pace=Pace(), progress=False)
