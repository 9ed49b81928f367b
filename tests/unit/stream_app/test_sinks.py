"""Sinks: the in-memory sink and the retry loop (RedisSink is covered by integration tests)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from schemas.errors import SinkError
from schemas.recommendation import RecoItem, Recommendation
from stream_app.worker.sinks import MemorySink, write_until_done


def _reco(user: int | None, product: int = 5) -> Recommendation:
    return Recommendation(user, (RecoItem(product, 1.0, "because"),), "m", event_ts=10)


async def test_memory_sink_stamps_updated_at_and_stores_under_reco_keys() -> None:
    sink = MemorySink(prefix="t1")
    await sink.write([_reco(1), _reco(None, 9)])
    assert set(sink.data) == {"t1:1", "t1:fallback"}
    stored = sink.get(1)
    assert stored is not None and stored.updated_at > 1_700_000_000_000
    assert stored.items == (RecoItem(5, 1.0, "because"),) and stored.event_ts == 10
    assert sink.batches == 1


class FlakySink:
    """Fails ``failures`` times, then stores like a MemorySink."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.inner = MemorySink()
        self.attempts = 0

    async def write(self, batch: Sequence[Recommendation]) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise SinkError("redis down")
        await self.inner.write(batch)


async def test_write_until_done_retries_sink_errors_until_the_batch_is_written() -> None:
    sink = FlakySink(failures=3)
    attempts = await write_until_done(sink, [_reco(1)], first_delay_s=0.001)
    assert attempts == 4
    assert sink.inner.get(1) is not None


async def test_write_until_done_gives_up_after_max_attempts_with_sink_error() -> None:
    sink = FlakySink(failures=10)
    with pytest.raises(SinkError):
        await write_until_done(sink, [_reco(1)], first_delay_s=0.001, max_attempts=2)
    assert sink.attempts == 2


async def test_fenced_memory_sink_keeps_a_newer_answer_like_the_redis_script() -> None:
    sink = MemorySink(fenced=True)
    newer = Recommendation(1, (RecoItem(7, 1.0, "new"),), "m", event_ts=200)
    await sink.write([newer])
    await sink.write([Recommendation(1, (RecoItem(8, 1.0, "stale"),), "m", event_ts=100)])
    assert sink.get(1).items[0].product_id == 7 and sink.kept_newer == 1
    await sink.write([Recommendation(1, (RecoItem(9, 1.0, "same"),), "m", event_ts=200)])
    assert sink.get(1).items[0].product_id == 9  # same event time: written
    plain = MemorySink()
    await plain.write([newer])
    await plain.write([_reco(1)])
    assert plain.get(1).event_ts == 10  # unfenced: last write wins
