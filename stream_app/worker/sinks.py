"""Where answers go: a one-method interface, ``await sink.write(batch)``.

* :class:`RedisSink` — one pipelined round trip per batch (``SET`` of every answer, no
  transaction), values :meth:`Recommendation.to_bytes`, keys :func:`reco_key` of each answer's
  user and surface (a batch holds every surface's answers of the batch's shoppers);
* :class:`MemorySink` — a dict, for unit tests and offline replay.

With ``fenced=True`` (the worker's sinks) an answer is written only if it reflects at least
as much as the stored one: ``(event_ts, seq)`` at least the stored pair, compared in that
order. One user's ``event_ts`` never goes back in a worker, and a late event, which does not
move it, moves ``seq`` (how far into its source partitions the user's state is, see
:func:`features.reorder.stream_position`). So this only turns away *stale* writers: a worker
finishing a batch after its partitions moved to another (even one that folded fewer late
events than the new owner), or a timer rescore that lost a race with a rebalance. In Redis it
is a small server-side script per key (still one pipelined round trip, and each key on its
own, so it works per slot on a cluster too). ``stream-app build`` writes unfenced: a rebuild
replaces every answer.

Both stamp ``updated_at`` (wall-clock epoch ms) at the edge: the core leaves it 0 so that the
same inputs give the same answer. Redis errors become :class:`SinkError` here;
:func:`write_until_done` is the retry loop the worker uses (see
:mod:`stream_app.worker.deadletter`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import orjson
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.exceptions import NoScriptError, RedisError

from schemas.errors import SinkError
from schemas.recommendation import DEFAULT_SURFACE, Recommendation, reco_key
from stream_app.clock import wall_ms

__all__ = [
    "FENCED_SET",
    "MemorySink",
    "RedisSink",
    "Sink",
    "fence_keeps",
    "stamp",
    "stored_fence",
    "write_until_done",
]

log = logging.getLogger(__name__)


FENCED_SET = """
local old = redis.call('GET', KEYS[1])
if old then
    local ok, value = pcall(cjson.decode, old)
    if ok and type(value) == 'table' and type(value['event_ts']) == 'number' then
        local ts, new_ts = value['event_ts'], tonumber(ARGV[2])
        if ts > new_ts then
            return 0
        end
        local seq = value['seq']
        if ts == new_ts and type(seq) == 'number' and seq > tonumber(ARGV[3]) then
            return 0
        end
    end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""
"""``SET KEYS[1] ARGV[1]`` unless the stored JSON's ``(event_ts, seq)`` is greater than
``(ARGV[2], ARGV[3])`` (a value that is not such JSON is replaced; no ``seq`` counts as -1);
1 if written, 0 if the stored answer was kept. :func:`stored_fence` is its Python twin."""


def stored_fence(raw: bytes | None) -> tuple[int, int]:
    r"""The ``(event_ts, seq)`` of a stored answer as ``FENCED_SET`` reads it: ``(-1, -1)``
    when there is none, ``seq`` -1 when it is missing.

    >>> stored_fence(b'{"user_id":1,"items":[],"event_ts":1500000000000,"seq":42}')
    (1500000000000, 42)
    >>> stored_fence(b'{"event_ts":7,"items":[[1,0.5,"\\"event_ts\\":9"]]}'), stored_fence(None)
    ((7, -1), (-1, -1))
    >>> stored_fence(b"not json"), stored_fence(b'[1]'), stored_fence(b'{"event_ts":"9"}')
    ((-1, -1), (-1, -1), (-1, -1))
    """
    if not raw:
        return -1, -1
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return -1, -1
    if not isinstance(value, dict) or not _is_number(ts := value.get("event_ts")):
        return -1, -1
    seq = value.get("seq")
    return int(ts), int(seq) if _is_number(seq) else -1


def _is_number(x: object) -> bool:
    """A JSON number (cjson's ``'number'``): an int or float, not a bool."""
    return isinstance(x, int | float) and not isinstance(x, bool)


def fence_keeps(stored: bytes | None, reco: Recommendation) -> bool:
    """True when the stored answer reflects more than ``reco`` (``FENCED_SET`` keeps it).

    >>> from schemas.recommendation import RecoItem
    >>> a = Recommendation(1, (RecoItem(5, 1.0),), "m", event_ts=10, seq=3)
    >>> fence_keeps(a.to_bytes(), replace(a, seq=2)), fence_keeps(a.to_bytes(), a)
    (True, False)
    >>> fence_keeps(a.to_bytes(), replace(a, event_ts=11, seq=0))
    False
    """
    return stored_fence(stored) > (reco.event_ts, reco.seq)


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
    """An in-memory sink: ``data`` maps Redis keys to stored bytes, ``batches`` counts writes;
    ``fenced`` and ``kept_newer`` as in :class:`RedisSink`."""

    def __init__(self, prefix: str = "reco", *, fenced: bool = False) -> None:
        self.prefix = prefix
        self.fenced = fenced
        self.data: dict[str, bytes] = {}
        self.batches = 0
        self.kept_newer = 0

    async def write(self, batch: Sequence[Recommendation]) -> None:
        """Store the stamped answers (fenced: unless the stored one is newer)."""
        now = wall_ms()
        for reco in stamp(batch, now):
            key = reco_key(reco.user_id, self.prefix, reco.surface)
            if self.fenced and fence_keeps(self.data.get(key), reco):
                self.kept_newer += 1
                continue
            self.data[key] = reco.to_bytes()
        self.batches += 1

    def get(self, user_id: int | None, surface: str = DEFAULT_SURFACE) -> Recommendation | None:
        """The stored answer of ``user_id`` (None: the fallback) for ``surface``, if any."""
        raw = self.data.get(reco_key(user_id, self.prefix, surface))
        return None if raw is None else Recommendation.from_bytes(raw)


class RedisSink:
    """Writes a batch of answers to Redis in ONE pipelined round trip (``fenced``: see the
    module docstring; ``kept_newer`` counts answers turned away because Redis had a newer one)."""

    def __init__(
        self,
        client: aioredis.Redis | AsyncRedisCluster,
        prefix: str = "reco",
        *,
        fenced: bool = False,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.fenced = fenced
        self.round_trips = 0
        self.kept_newer = 0
        self._sha: str | None = None  # of FENCED_SET, loaded on the first fenced write

    @classmethod
    def from_url(cls, url: str, prefix: str = "reco", *, fenced: bool = False) -> RedisSink:
        """A sink with its own connection pool to ``url``; a pooled connection found dead (Redis
        restarted) is retried once at once, before :func:`write_until_done`'s backoff. A
        ``redis+cluster://`` URL gives a ``RedisCluster`` client (:mod:`stream_app.redisconn`):
        the pipeline is split by node, each ``SET``/fence script on its key's slot."""
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError

        from stream_app.redisconn import async_client

        client = async_client(
            url, retry=Retry(NoBackoff(), 1), retry_on_error=[RedisConnectionError]
        )
        return cls(client, prefix, fenced=fenced)

    async def write(self, batch: Sequence[Recommendation]) -> None:
        """``SET`` every stamped answer in one pipeline; :class:`SinkError` if Redis fails."""
        if not batch:
            return
        stamped = stamp(batch, wall_ms())
        try:
            if self.fenced and self._sha is None:
                self._sha = await self.client.script_load(FENCED_SET)
            try:
                results = await self._pipeline(stamped).execute()
            except NoScriptError:  # Redis restarted and forgot the script: load it again
                self._sha = await self.client.script_load(FENCED_SET)
                results = await self._pipeline(stamped).execute()
        except (RedisError, OSError) as exc:
            raise SinkError(f"writing {len(batch)} answers to Redis failed: {exc}") from exc
        self.round_trips += 1
        if self.fenced:
            kept = sum(1 for r in results if r == 0)
            if kept:
                self.kept_newer += kept
                log.info("kept %d newer answers already in Redis (a stale writer)", kept)

    def _pipeline(self, stamped: Sequence[Recommendation]) -> aioredis.client.Pipeline:
        pipe = self.client.pipeline(transaction=False)
        for reco in stamped:
            key = reco_key(reco.user_id, self.prefix, reco.surface)
            if self._sha is None:
                pipe.set(key, reco.to_bytes())
            else:
                pipe.evalsha(self._sha, 1, key, reco.to_bytes(), reco.event_ts, reco.seq)
        return pipe

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
