"""RedisSink and the serving readers against the real Redis."""

from __future__ import annotations

from dataclasses import replace

import pytest

from schemas.errors import ServiceError, SinkError
from schemas.recommendation import RecoItem, Recommendation
from stream_app.serving import AsyncReader, Reader
from stream_app.worker.sinks import RedisSink, fence_keeps

pytestmark = pytest.mark.integration


def _reco(user: int | None, event_ts: int = 5) -> Recommendation:
    return Recommendation(user, (RecoItem(42, 0.5, "because"),), "m", "stream", 0, event_ts)


async def test_redis_sink_writes_a_batch_in_one_round_trip_and_readers_serve_it(
    redis_url: str, unique_name
) -> None:
    prefix = unique_name("reco")
    sink = RedisSink.from_url(redis_url, prefix)
    reader = Reader.from_url(redis_url, prefix)
    areader = AsyncReader.from_url(redis_url, prefix)
    try:
        await sink.write([_reco(u) for u in range(1, 301)] + [_reco(None, 0)])
        assert sink.round_trips == 1
        own = reader.get(7)
        assert not own.is_fallback and own.recommendation.items[0].product_id == 42
        assert own.recommendation.updated_at > 0 and 0 <= own.age_ms < 60_000
        unknown = await areader.get(10_000)
        assert unknown.is_fallback and unknown.recommendation.user_id is None
        assert len(_reco(7).to_bytes()) < 1024
    finally:
        reader.client.delete(*(reader.client.keys(f"{prefix}:*") or ["-"]))
        reader.close()
        await areader.close()
        await sink.close()


async def test_redis_failures_become_sink_and_service_errors(free_port) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    sink = RedisSink.from_url(url, "x")
    with pytest.raises(SinkError, match="writing 1 answers to Redis failed"):
        await sink.write([_reco(1)])
    await sink.close()
    reader = Reader.from_url(url, "x")
    with pytest.raises(ServiceError, match="reading x:1 from Redis failed"):
        reader.get(1)
    reader.close()


async def test_fenced_sink_keeps_a_newer_answer_and_survives_a_script_flush(
    redis_url: str, unique_name
) -> None:
    prefix = unique_name("fenced")
    sink = RedisSink.from_url(redis_url, prefix, fenced=True)
    reader = Reader.from_url(redis_url, prefix)
    try:
        await sink.write([_reco(1, event_ts=200), _reco(2, event_ts=200)])
        # a stale writer (older event_ts) is turned away for user 1; user 2 moves forward;
        # user 3 had nothing stored
        await sink.write([_reco(1, event_ts=100), _reco(2, event_ts=300), _reco(3, event_ts=1)])
        assert sink.round_trips == 2 and sink.kept_newer == 1
        assert [reader.get(u).recommendation.event_ts for u in (1, 2, 3)] == [200, 300, 1]
        # the same event time is written (a timer rescore of the same events)
        newer = Recommendation(1, (RecoItem(7, 0.9, "again"),), "m", "stream", 0, 200)
        await sink.write([newer])
        assert reader.get(1).recommendation.items[0].product_id == 7
        # Redis forgot its scripts (a restart): the sink loads it again, nothing is lost
        reader.client.script_flush()
        await sink.write([_reco(1, event_ts=150), _reco(4, event_ts=5)])
        assert reader.get(1).recommendation.items[0].product_id == 7
        assert reader.get(4).recommendation.event_ts == 5 and sink.kept_newer == 2
        # unfenced (stream-app build): a rebuild replaces whatever is there
        plain = RedisSink.from_url(redis_url, prefix)
        await plain.write([_reco(1, event_ts=0)])
        assert reader.get(1).recommendation.event_ts == 0
        await plain.close()
    finally:
        reader.client.delete(*(reader.client.keys(f"{prefix}:*") or ["-"]))
        reader.close()
        await sink.close()


@pytest.mark.parametrize(
    ("stored", "event_ts", "seq", "written"),
    [
        (b'{"user_id":5,"items":[[1,0.5,"\\"event_ts\\":99999"]],"event_ts":10}', 20, 0, True),
        (b'{"event_ts":30,"x":1}', 20, 0, False),  # key order does not matter
        (b"garbage", 20, 0, True),  # not an answer: replaced
        (b'{"event_ts":20}', 20, 0, True),  # same event time, no seq stored: written
        (b'{"event_ts":4102444800001}', 4102444800000, 0, False),  # 13 digits, 1 ms apart
        (b'{"event_ts":4102444800000}', 4102444800001, 0, True),
        (b'{"event_ts":"30"}', 20, 0, True),  # a string is not an event time
        (b'{"event_ts":20,"seq":7}', 20, 6, False),  # a tie: the larger seq stays
        (b'{"event_ts":20,"seq":7}', 20, 7, True),  # the same events again (a timer rescore)
        (b'{"event_ts":20,"seq":7}', 20, 8, True),
        (b'{"event_ts":20,"seq":9007199254740}', 21, 0, True),  # a newer event time wins
        (b'{"event_ts":20,"seq":"9"}', 20, 0, True),  # a string is not a seq
    ],
)
async def test_fence_script_and_its_python_twin_agree(
    redis_url: str, unique_name, stored: bytes, event_ts: int, seq: int, written: bool
) -> None:
    prefix = unique_name("fence")
    sink = RedisSink.from_url(redis_url, prefix, fenced=True)
    reader = Reader.from_url(redis_url, prefix)
    try:
        reader.client.set(f"{prefix}:1", stored)
        reco = replace(_reco(1, event_ts=event_ts), seq=seq)
        await sink.write([reco])
        assert (reader.client.get(f"{prefix}:1") != stored) is written
        assert fence_keeps(stored, reco) is not written
    finally:
        reader.client.delete(f"{prefix}:1")
        reader.close()
        await sink.close()
