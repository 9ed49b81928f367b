"""Where answers go: a one-method interface, ``await sink.write(batch)``.

* :class:`RedisSink` — one pipelined round trip per batch (``SET`` of every answer, no
  transaction), values :meth:`Recommendation.to_bytes`, keys :func:`reco_key`;
* :class:`MemorySink` — a dict, for unit tests and offline replay.

Both stamp ``updated_at`` (wall-clock epoch ms) at the edge: the core leaves it 0 so that the
same inputs give the same answer. Redis errors become :class:`SinkError` here;
:func:`write_until_done` is the retry loop the worker uses (see :mod:`stream_app.deadletter`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from schemas.errors import SinkError
from schemas.recommendation import Recommendation, reco_key

__all__ = ["MemorySink", "RedisSink", "Sink", "stamp", "wall_ms", "write_until_done"]

log = logging.getLogger(__name__)


def wall_ms() -> int:
    """Wall-clock epoch milliseconds."""
    return int(time.time() * 1000)


def stamp(batch: Sequence[Recommendation], now_ms: int) -> list[Recommendation]:
    """Copies of ``batch`` with ``updated_at`` set to ``now_ms``.

    >>> from schemas.recommendation import RecoItem
    >>> stamp([Recommendation(1, (RecoItem(5, 1.0),), "m")], 42)[0].updated_at
    42
    """
    return [replace(r, updated_at=now_ms) for r in batch]


class Sink(Protocol):
    """Anything answers can be written to."""

    async def write(self, batch: Sequence[Recommendation]) -> None:
        """Store every answer of ``batch`` (stamping ``updated_at``); SinkError on failure."""
        ...


class MemorySink:
    """An in-memory sink: ``data`` maps Redis keys to stored bytes, ``batches`` counts writes."""

    def __init__(self, prefix: str = "reco") -> None:
        self.prefix = prefix
        self.data: dict[str, bytes] = {}
        self.batches = 0

    async def write(self, batch: Sequence[Recommendation]) -> None:
        """Store the stamped answers."""
        now = wall_ms()
        for reco in stamp(batch, now):
            self.data[reco_key(reco.user_id, self.prefix)] = reco.to_bytes()
        self.batches += 1

    def get(self, user_id: int | None) -> Recommendation | None:
        """The stored answer of ``user_id`` (None: the fallback), if any."""
        raw = self.data.get(reco_key(user_id, self.prefix))
        return None if raw is None else Recommendation.from_bytes(raw)


class RedisSink:
    """Writes a batch of answers to Redis in ONE pipelined round trip."""

    def __init__(self, client: aioredis.Redis, prefix: str = "reco") -> None:
        self.client = client
        self.prefix = prefix
        self.round_trips = 0

    @classmethod
    def from_url(cls, url: str, prefix: str = "reco") -> RedisSink:
        """A sink with its own connection pool to ``url``."""
        return cls(aioredis.Redis.from_url(url), prefix)

    async def write(self, batch: Sequence[Recommendation]) -> None:
        """``SET`` every stamped answer in one pipeline; :class:`SinkError` if Redis fails."""
        if not batch:
            return
        pipe = self.client.pipeline(transaction=False)
        for reco in stamp(batch, wall_ms()):
            pipe.set(reco_key(reco.user_id, self.prefix), reco.to_bytes())
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            raise SinkError(f"writing {len(batch)} answers to Redis failed: {exc}") from exc
        self.round_trips += 1

    async def close(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()


async def write_until_done(
    sink: Sink,
    batch: Sequence[Recommendation],
    *,
    first_delay_s: float = 0.1,
    max_delay_s: float = 5.0,
    max_attempts: int | None = None,
) -> int:
    """Write ``batch``, retrying on :class:`SinkError` with capped exponential backoff.

    Returns the number of attempts. With ``max_attempts=None`` it retries until the write
    succeeds (or the task is cancelled): the worker must not ack events whose answers are
    not in Redis, so while Redis is down the stream stalls and Kafka keeps the events.
    """
    delay = first_delay_s
    attempt = 0
    while True:
        attempt += 1
        try:
            await sink.write(batch)
            if attempt > 1:
                log.warning("sink write succeeded after %d attempts", attempt)
            return attempt
        except SinkError as exc:
            if max_attempts is not None and attempt >= max_attempts:
                raise
            log.error("sink write failed (attempt %d), retrying in %.1fs: %s", attempt, delay, exc)
            await asyncio.sleep(delay)
            delay = min(max_delay_s, delay * 2)
