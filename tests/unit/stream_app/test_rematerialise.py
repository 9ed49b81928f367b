"""Rebuilding the answers Redis lost: detection, ownership, and answers equal to the stream's."""

from __future__ import annotations

import logging
from dataclasses import replace

import redis.asyncio as aioredis
from aiokafka.partitioner import DefaultPartitioner

from features import DEFAULT_CONFIG
from loaders.instacart import split_test_orders
from schemas.events import Search, encode
from schemas.keys import user_key
from schemas.recommendation import Recommendation, reco_key
from scorers import recommend
from scorers.surface_models import MODELS
from scorers.surfaces import batch_answers
from stream_app.stack.procs import free_port
from stream_app.tools.replay import recent_events
from stream_app.worker import pipeline as pipeline_module
from stream_app.worker import rematerialise
from stream_app.worker.pipeline import Incoming, Pipeline
from stream_app.worker.rematerialise import (
    Marker,
    Ownership,
    Rematerialiser,
    owned_users,
    partition_of,
    rebuild,
    why_lost,
)
from stream_app.worker.sinks import MemorySink

PARTITIONS = 4


def _messages(events) -> list[Incoming]:
    """Messages as the topics hold them: each user's in its murmur2 partition, offsets rising."""
    out = []
    for offset, event in enumerate(events):
        key = user_key(event.user_id)
        out.append(
            Incoming(f"{event.type}s", partition_of(key, PARTITIONS), offset, key, encode(event))
        )
    return out


async def _stream(pipeline: Pipeline, table: dict, messages: list[Incoming]) -> None:
    """The score agent's steps (app.py), batch by batch."""
    for i in range(0, len(messages), 50):
        decoded, _ = pipeline.decode(messages[i : i + 50])
        touched, _ = pipeline.update(table, decoded)
        pipeline.write_back(table, touched)
        await pipeline.write(pipeline.rank(touched), touched)


def _as_stored(data: dict[str, bytes]) -> dict[str, Recommendation]:
    """Stored answers without the wall-clock stamp."""
    return {k: replace(Recommendation.from_bytes(v), updated_at=0) for k, v in data.items()}


def test_partition_of_is_kafkas_murmur2_partitioner() -> None:
    # Kafka's own murmur2 test vectors (UtilsTest.testMurmur2), as signed Java ints
    vectors = {b"21": -973932308, b"foobar": -790332482, b"abc": 479470107}
    for key, java in vectors.items():
        assert partition_of(key, 7) == (java & 0x7FFFFFFF) % 7
    partitioner = DefaultPartitioner()
    for n in (1, 4, 8, 12):
        everyone = list(range(n))
        for user in range(0, 5000, 7):
            key = user_key(user)
            assert partition_of(key, n) == partitioner(key, everyone, everyone)


def test_owned_users_skip_standby_data_and_include_known_users_without_state() -> None:
    keys = [user_key(u) for u in range(40)]  # the table: active and standby partitions alike
    active = {0, 2}
    got = owned_users(keys, [1000, 1001, 1002, 5], active, PARTITIONS)
    assert got == sorted(
        u for u in [*range(40), 1000, 1001, 1002] if partition_of(user_key(u), 4) in active
    )
    assert 0 < len(got) < 43  # both kinds of user, and some left to other workers
    assert owned_users(keys, [], set(), PARTITIONS) == []


def test_a_marker_made_under_another_run_id_means_redis_may_have_lost_answers() -> None:
    fields = {b"run_id": b"r-before", b"epoch": b"e1", b"p0": b"e1", b"p1": b"e1", b"p2": b"e0"}
    marker = Marker.parse(fields)
    assert marker is not None and marker.done == {0, 1}  # p2 is of an older epoch
    assert why_lost(marker, "r-before") is None
    assert why_lost(marker, "r-after") == "run_id changed (r-before -> r-after)"
    assert why_lost(Marker.parse({}), "r-after") == "marker missing"
    assert Marker.parse({b"run_id": b"r"}) is None  # half a marker is no marker
    assert marker.pending({0, 1, 2, 3}) == {2, 3}


async def test_a_rebuild_writes_exactly_what_the_stream_wrote(artifacts, orders, catalog) -> None:
    spare = set(artifacts.known_users()[:5])  # no events: they keep their batch answer
    events = [
        e
        for e in recent_events(orders, _last_orders(orders), catalog, search_rate=0.3, seed=1)
        if e.user_id not in spare
    ]
    sink = MemorySink(fenced=True)
    pipeline = Pipeline(artifacts, sink, config=DEFAULT_CONFIG)
    table: dict[bytes, bytes] = {}
    await _stream(pipeline, table, _messages(events))
    for reco in batch_answers(artifacts, sorted(spare), pipeline.surfaces, 10, MODELS):
        # what `stream-app build` wrote for them: default and buy_again
        sink.data[reco_key(reco.user_id, surface=reco.surface)] = reco.to_bytes()
    before = _as_stored(sink.data)
    assert {r.source for r in before.values()} == {"stream", "batch"}
    assert {r.surface for r in before.values()} == {s.name for s in pipeline.surfaces}
    assert any(e.type == "search" for e in events)

    sink.data.clear()  # Redis lost everything
    owned = owned_users(table, artifacts.known_users(), set(range(PARTITIONS)), PARTITIONS)
    assert await rebuild(pipeline, table, owned, lambda: True, chunk=7)
    assert _as_stored(sink.data) == before
    assert sink.batches > len(owned) // 7  # chunked


async def test_a_rebuild_goes_through_the_fence(artifacts, orders, catalog) -> None:
    events = recent_events(orders, _last_orders(orders), catalog, seed=1)
    sink = MemorySink(fenced=True)
    pipeline = Pipeline(artifacts, sink, config=DEFAULT_CONFIG)
    table: dict[bytes, bytes] = {}
    await _stream(pipeline, table, _messages(events))
    user = events[0].user_id
    newer = replace(Recommendation.from_bytes(sink.data[reco_key(user)]), event_ts=2**50)
    sink.data[reco_key(user)] = newer.to_bytes()  # another owner's newer answer
    await rebuild(pipeline, table, [user], lambda: True)
    assert Recommendation.from_bytes(sink.data[reco_key(user)]).event_ts == 2**50
    assert sink.kept_newer == 1


async def test_a_rebuild_stops_when_the_partitions_are_revoked(artifacts) -> None:
    sink = MemorySink(fenced=True)
    pipeline = Pipeline(artifacts, sink, config=DEFAULT_CONFIG)
    users = artifacts.known_users()
    owner = Ownership()
    owner.settle(range(PARTITIONS))
    generation = owner.generation
    calls = []

    def still_owned() -> bool:
        calls.append(1)
        if len(calls) == 2:
            owner.revoke()  # a rebalance after the first chunk
        return owner.generation == generation

    assert not await rebuild(pipeline, {}, users, still_owned, chunk=5)
    assert sink.batches == 1 and len(sink.data) == 5 * 2  # default and buy_again answers
    assert owner.partitions is None


async def test_a_fading_search_keeps_fading_through_a_rebuild(artifacts, monkeypatch) -> None:
    clock = [1_800_000_000_000]  # the worker's wall clock, moved by the test
    monkeypatch.setattr(pipeline_module, "wall_ms", lambda: clock[0])
    monkeypatch.setattr(rematerialise, "wall_ms", lambda: clock[0])
    sink = MemorySink(fenced=True)
    pipeline = Pipeline(artifacts, sink, config=DEFAULT_CONFIG)
    user = artifacts.known_users()[0]
    ts = artifacts.seed_state(user).last_ts + 1
    table: dict[bytes, bytes] = {}
    await _stream(pipeline, table, _messages([Search("s1", user, "chocolate", ts)]))
    assert pipeline.notes.due(clock[0], 10) == [(user, ts)]

    clock[0] += 20 * 60_000  # 20 minutes later Redis loses the answer
    sink.data.clear()
    await rebuild(pipeline, table, [user], lambda: True, fading=True)
    state = pipeline.load(table, user).current
    got = Recommendation.from_bytes(sink.data[reco_key(user)]).items
    assert got == _stored_items(recommend(state, artifacts, now_ms=ts + 20 * 60_000))
    assert got != _stored_items(recommend(state, artifacts))  # not the answer at event time
    assert pipeline.notes.due(clock[0], 10) == [(user, ts + 20 * 60_000)]  # clock kept


async def test_an_unanswering_redis_is_logged_once_and_never_raises(artifacts, caplog) -> None:
    client = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1.0
    )
    pipeline = Pipeline(artifacts, MemorySink(), config=DEFAULT_CONFIG)
    owner = Ownership()
    owner.settle(range(PARTITIONS))
    watch = Rematerialiser(pipeline, {}, client, prefix="t", partitions=PARTITIONS, ownership=owner)
    with caplog.at_level(logging.WARNING, logger=rematerialise.__name__):
        for _ in range(3):
            assert await watch.check() is None
    await client.aclose()
    logged = [r.message for r in caplog.records if r.name == rematerialise.__name__]
    assert len(logged) == 1 and "did not answer" in logged[0]
    assert pipeline.stats["redis_outages"] == 1 and pipeline.stats["rebuilds"] == 0


def _last_orders(orders):
    return split_test_orders(orders, 1)[1]


def _stored_items(reco: Recommendation):
    """The items as Redis stores them (scores rounded)."""
    return Recommendation.from_bytes(reco.to_bytes()).items
