"""The streaming pipeline against real Kafka and Redis: a `stream-app worker` subprocess.

One worker serves the whole module (own app id, topics, Redis prefix, web port). Artifacts
come from the fixture users' orders except each user's last ``RECENT`` orders; those recent
orders (as events) are the replay log of the parity test. Users are split so tests do not
touch each other: PARITY users are replayed, the others are left for the single-event tests.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import orjson
import pytest

from loaders.catalog import Catalog, load_catalog
from loaders.instacart import read_orders, split_test_orders
from schemas.errors import ServiceError
from schemas.events import CartAdd, Checkout, Event, Search, encode
from schemas.recommendation import Recommendation
from scorers import Artifacts, recommend
from scorers.surfaces import load_surfaces
from stream_app.serving import Reader
from stream_app.settings import Settings
from stream_app.stack.workerproc import WorkerProcess, remove_run
from stream_app.tools.replay import Pace, publish, recent_events
from stream_app.worker.deadletter import DeadLetter
from stream_app.worker.pipeline import feature_config, replay_offline, replay_surfaces

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "instacart"
RECENT = 5
N_SPARE = 5  # known users kept out of the replay, for the single-event tests


@dataclass
class Env:
    settings: Settings
    catalog: Catalog
    artifacts: Artifacts
    parity_users: list[int]
    spare_users: list[int]
    recent: list[Event]
    reader: Reader
    worker: WorkerProcess

    def offline(self, events: list[Event]) -> dict[int, Recommendation]:
        config = feature_config(self.artifacts, self.settings.session_gap_ms)
        return replay_offline(events, self.artifacts, config=config, k=self.settings.k)

    def produce_raw(self, topic: str, key: bytes | None, value: bytes, ts: int) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap)
        try:
            producer.send(topic, key=key, value=value, timestamp_ms=ts)
            producer.flush()
        finally:
            producer.close()

    def log_starts(self) -> dict[str, int]:
        """First offset still on the broker of every input partition (> 0: records deleted)."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap)
        try:
            tps = [
                TopicPartition(t, p)
                for t in self.settings.input_topics()
                for p in range(self.settings.partitions)
            ]
            starts = consumer.beginning_offsets(tps)
            return {f"{tp.topic}[{tp.partition}]": o for tp, o in starts.items()}
        finally:
            consumer.close()

    def consumed(self) -> int:
        stats = self.worker.stats()
        return stats["events"] + stats["dead_letters"]

    def wait_for(self, user: int, event_ts: int, timeout_s: float = 30.0) -> Recommendation:
        deadline = time.monotonic() + timeout_s
        while True:
            served = self.reader.get(user)
            if not served.is_fallback and served.recommendation.event_ts >= event_ts:
                return served.recommendation
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no answer for user {user} reflecting ts={event_ts} after {timeout_s}s "
                    f"(have {served.recommendation}); worker log: {self.worker.log_path}"
                )
            assert self.worker.alive(), f"worker exited: {self.worker.log_path}"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def env(
    pipeline_settings: Callable[..., Settings],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Env]:
    from stream_app.batch import build_and_seed

    run = f"tp-{os.getpid()}-{int(time.time())}"
    tmp = tmp_path_factory.mktemp("pipeline")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = pipeline_settings(run, tmp / "artifacts", web_port=port)
    catalog = load_catalog(FIXTURE)
    orders = read_orders(FIXTURE / "orders.csv")
    train, test = split_test_orders(orders, RECENT)
    build_and_seed(train, catalog, settings, progress=False)
    artifacts = Artifacts.load(settings.artifacts_dir)
    users = sorted({o.user_id for o in train})
    spare, parity = users[:N_SPARE], users[N_SPARE:]
    recent = [
        e
        for e in recent_events(orders, test, catalog, search_rate=0.3, seed=1)
        if e.user_id in set(parity)
    ]
    reader = Reader.from_url(settings.redis_url, settings.reco_prefix)
    # STREAM_APP_TEST_WORKER_LOGLEVEL=info keeps Faust's INFO log in the worker log (quiet by
    # default); the log is under pytest's --basetemp
    loglevel = os.environ.get("STREAM_APP_TEST_WORKER_LOGLEVEL", "warning")
    worker = WorkerProcess(settings, tmp / "worker.log", loglevel=loglevel)
    try:
        worker.start()
        worker.wait_ready()
        yield Env(settings, catalog, artifacts, parity, spare, recent, reader, worker)
    finally:
        worker.stop()
        reader.client.delete(*(reader.client.keys(f"{settings.reco_prefix}:*") or ["-"]))
        reader.close()
        remove_run(settings)


def _comparable(reco: Recommendation) -> Recommendation:
    """As stored (scores rounded by to_dict), without the edge's stamps (wall clock, seq)."""
    return replace(Recommendation.from_bytes(reco.to_bytes()), updated_at=0)


def test_unknown_user_gets_the_fallback_instantly(env: Env) -> None:
    started = time.perf_counter()
    served = env.reader.get(987_654_321)
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert served.is_fallback and served.recommendation.source == "fallback"
    assert len(served.recommendation.items) == env.settings.k
    assert elapsed_ms < 50
    url = f"http://127.0.0.1:{env.settings.web_port}/recommendations/987654321"
    body = orjson.loads(urllib.request.urlopen(url, timeout=5).read())
    assert body["fallback"] is True and body["items"][0]["name"]


def test_http_bad_user_id_is_a_400_json_error(env: Env) -> None:
    url = f"http://127.0.0.1:{env.settings.web_port}/recommendations/abc"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=5)
    assert info.value.code == 400
    assert orjson.loads(info.value.read())["error"] == "bad_user_id"


def test_known_user_without_events_gets_the_batch_answer(env: Env) -> None:
    user = env.spare_users[0]
    served = env.reader.get(user)
    assert not served.is_fallback
    assert served.recommendation.source == "batch"
    expected = replace(
        recommend(env.artifacts.seed_state(user), env.artifacts, env.settings.k), source="batch"
    )
    assert replace(served.recommendation, updated_at=0, seq=0) == _comparable(expected)


def test_cart_add_changes_the_answer_and_reflects_the_basket(env: Env) -> None:
    user = env.spare_users[1]
    before = env.reader.get(user).recommendation
    seed = env.artifacts.seed_state(user)
    assert seed is not None
    product = before.items[0].product_id  # their top repurchase goes into the cart
    ts = seed.last_ts + 3 * 86_400_000
    event = CartAdd("t-cart-1", user, product, ts)
    env.produce_raw(env.settings.topic_cart_adds, str(user).encode(), encode(event), ts)
    after = env.wait_for(user, ts)
    assert after.source == "stream"
    assert product not in {i.product_id for i in after.items}  # basket items never recommended
    assert [i.product_id for i in after.items] != [i.product_id for i in before.items]
    assert replace(after, updated_at=0, seq=0) == _comparable(env.offline([event])[user])


def test_bad_event_goes_to_dead_letters_with_reason(env: Env) -> None:
    from kafka import KafkaConsumer

    user = env.spare_users[2]
    key = str(user).encode()
    seed = env.artifacts.seed_state(user)
    assert seed is not None
    t0 = seed.last_ts + 86_400_000
    known = next(iter(sorted(p for p in env.catalog.products)))
    good1 = CartAdd("t-dl-good-1", user, known, t0)
    good2 = Checkout("t-dl-good-2", user, t0 + 60_000)
    topic = env.settings.topic_cart_adds
    bad = [
        (key, b'{"type":"cart_add","event_id":', "malformed_json"),
        (
            key,
            orjson.dumps({"type": "cart_add", "event_id": "x1", "user_id": user, "ts": t0}),
            "missing_field",
        ),
        (
            key,
            orjson.dumps(
                {
                    "type": "cart_add",
                    "event_id": "x2",
                    "user_id": user,
                    "product_id": 999_999_999,
                    "ts": t0,
                }
            ),
            "unknown_product",
        ),
        (key, b"{" + b" " * 20_000 + b"}", "oversized"),
        (b"12345", encode(CartAdd("x3", user, known, t0)), "key_mismatch"),
    ]
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=env.settings.kafka_bootstrap)
    producer.send(topic, key=key, value=encode(good1), timestamp_ms=t0)
    for k, value, _ in bad:
        producer.send(topic, key=k, value=value, timestamp_ms=t0)
    producer.send(
        env.settings.topic_checkouts, key=key, value=encode(good2), timestamp_ms=t0 + 60_000
    )
    producer.flush()
    producer.close()

    answer = env.wait_for(user, good2.ts)
    assert replace(answer, updated_at=0, seq=0) == _comparable(env.offline([good1, good2])[user])

    consumer = KafkaConsumer(
        env.settings.topic_dead_letters,
        bootstrap_servers=env.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    letters = [DeadLetter.from_bytes(m.value) for m in consumer]
    consumer.close()
    mine = [d for d in letters if d.topic == topic]
    assert sorted(d.reason for d in mine) == sorted(reason for _, _, reason in bad)
    by_reason = {d.reason: d for d in mine}
    for k, value, reason in bad:
        record = by_reason[reason]
        assert record.raw == value and record.key == k.decode()
        assert record.stage == "decode" and record.offset >= 0 and record.detail


def test_input_topics_keep_records_and_stamp_append_time(env: Env) -> None:
    """No time-based retention (a replayed log must stay until read), and LogAppendTime: the
    worker's frontier (when held events may settle) reads the append time of records."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=env.settings.kafka_bootstrap)
    try:
        got = admin.describe_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    t,
                    configs=["retention.ms", "message.timestamp.type"],
                )
                for t in env.settings.input_topics()
            ]
        )["topic"]
    finally:
        admin.close()
    assert {t: c["retention.ms"]["value"] for t, c in got.items()} == dict.fromkeys(
        env.settings.input_topics(), "-1"
    )
    assert {t: c["message.timestamp.type"]["value"] for t, c in got.items()} == dict.fromkeys(
        env.settings.input_topics(), "LogAppendTime"
    )


def test_online_answers_equal_offline_replay_of_the_same_log(env: Env) -> None:
    """ONLINE/OFFLINE PARITY: what users get in Redis is what the pure core computes."""
    assert len(env.recent) >= 1000
    # every other user's stream ends on a search and a cart add, not on the checkout that
    # rescores every surface: then search and buy_again keep answers of earlier events
    last = {e.user_id: e.ts for e in env.recent}
    product = int(env.artifacts.popular[0])
    tail: list[Event] = []
    for user in env.parity_users[::2]:
        tail += [
            Search(f"t-tail-s-{user}", user, "organic bananas", last[user] + 60_000),
            CartAdd(f"t-tail-a-{user}", user, product, last[user] + 90_000),
        ]
    events = [*env.recent, *tail]
    before = env.consumed()
    stats = publish(events, env.settings, pace=Pace(), progress=False)
    try:
        env.worker.wait_consumed(before + len(events))
    except ServiceError as exc:
        raise AssertionError(f"{exc}; log start offsets: {env.log_starts()}") from exc
    expected = env.offline(events)
    assert set(expected) == set(env.parity_users)
    mismatched = []
    for user, want in sorted(expected.items()):
        got = env.wait_for(user, stats.last_ts_by_user[user], timeout_s=60)
        if replace(got, updated_at=0, seq=0) != _comparable(want):
            mismatched.append((user, got, want))
    assert not mismatched, (
        f"{len(mismatched)} users differ (worker stats {env.worker.stats()}), "
        f"first: {mismatched[0]}"
    )
    # every surface: reco:{user}:{surface} is the twin's (rescoring per event what each event
    # triggers), whatever batches the worker cut; build's answer where no event rescored it
    config = feature_config(env.artifacts, env.settings.session_gap_ms)
    twin = replay_surfaces(events, env.artifacts, config=config, k=env.settings.k, seeded=True)
    assert {name for _, name in twin} == {s.name for s in load_surfaces()}
    differ = []
    for user in env.parity_users:
        for surface in load_surfaces():
            want = twin.get((user, surface.name))
            served = env.reader.get(user, surface.name)
            if want is None:
                if not served.is_fallback:
                    differ.append((user, surface.name, served.recommendation, None))
            elif served.is_fallback or replace(
                served.recommendation, updated_at=0, seq=0
            ) != _comparable(want):
                differ.append((user, surface.name, served.recommendation, want))
    assert not differ, f"{len(differ)} surface answers differ from the twin, first: {differ[0]}"


def test_record_dumps_the_topics_back_to_a_log_in_event_time_order(env: Env, tmp_path) -> None:
    from loaders.eventlog import read_event_log
    from stream_app.tools.replay import record

    user = env.spare_users[3]
    t0 = env.artifacts.seed_state(user).last_ts + 86_400_000
    product = int(env.artifacts.popular[0])
    mine = [Checkout("t-rec-c", user, t0 + 90_000), CartAdd("t-rec-a", user, product, t0)]
    publish(mine, env.settings, pace=Pace(), progress=False)  # checkout first, on purpose
    env.wait_for(user, t0 + 90_000)
    n, _skipped = record(env.settings, tmp_path / "rec.jsonl", timeout_s=3)
    got = list(read_event_log(tmp_path / "rec.jsonl"))
    assert n == len(got) and [e.ts for e in got] == sorted(e.ts for e in got)
    assert [e.event_id for e in got if e.user_id == user] == ["t-rec-a", "t-rec-c"]


def test_replay_publishes_events_from_the_future(env: Env) -> None:
    # Kafka 4 brokers refuse record times over an hour ahead (log.message.timestamp.after.max.ms);
    # replay caps the record time at the wall clock and the event keeps its own ts
    user = env.spare_users[4]
    ts = int(time.time() * 1000) + 3 * 86_400_000
    event = Search("t-future-1", user, "chocolate", ts)
    stats = publish([event], env.settings, pace=Pace(), progress=False)
    assert stats.events == 1
    after = env.wait_for(user, ts)
    assert after.event_ts == ts and after.source == "stream"
