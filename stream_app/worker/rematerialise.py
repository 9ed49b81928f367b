"""Answers rebuilt when Redis loses them: the worker's table is the truth, Redis is a view.

Detection, on a timer (``STREAM_APP_REDIS_CHECK_INTERVAL_S``): one pipelined round trip reads
Redis's ``run_id`` (``INFO server``) and a marker hash, ``{prefix}:materialised``::

    run_id  the run_id of the Redis the marker was made in
    epoch   a random token naming this marker
    p{N}    the epoch in which every answer of partition N was last written

A missing marker (``FLUSHDB``, a restart without persistence, eviction) or another ``run_id``
(a restart, even from its files, or a failover: the last second or so of writes may be gone)
means Redis lost or may have lost answers. The first worker to see it replaces the marker with
a new epoch (a script, so that several workers make one epoch between them); then each worker
rebuilds the partitions it actively owns whose ``p{N}`` is not the current epoch, and marks
them done, only if the epoch is still current (a flush during the rebuild: the next check starts
over). The marker lives in Redis, not in the worker: a worker killed mid-rebuild, or partitions
moved before their rebuild finished, are rebuilt by whoever owns them next. A Redis that does
not answer is logged once per outage; the check never stops the worker.

Re-materialisation (:func:`rebuild`): the fallback is restored if it is missing (from the
artifacts, as ``stream-app build`` wrote it), then every owned user (table keys and known users
whose partition, by the producers' murmur2 partitioner, this worker actively owns; standby data
is skipped) gets, in chunks under ``pipeline.lock``, what the worker would write, on every
surface (:mod:`scorers.surfaces`): users with state :meth:`Pipeline.rank` at their event time
(when the fading-search timer runs, users whose search still fades at the timer's time, so they
keep fading), users without state the batch answers of ``stream-app build``. They go through
:meth:`Pipeline.write`, so through the stale-writer fence: an answer the stream wrote meanwhile
is never replaced by an older one.

A surface rescored only on some events (``search``, ``basket``, ``buy_again``:
:mod:`scorers.surfaces`) comes back ranked from the user's state *now*, which may reflect more
than its last streamed answer did (e.g. a ``search`` answer last rescored at the search, rebuilt
after the checkout that followed): the table keeps states, not the state each surface was last
ranked at. ``default``, rescored on every event, comes back exactly as it was.

Not covered: a user whose search had *finished* fading (the timer forgot them) gets the answer
at event time, with the search, which then fades again from the rebuild on; an ``allkeys-*``
eviction of answers that leaves the marker (see :mod:`stream_app.stack.redis`).

On a Redis Cluster (``redis+cluster://``) the marker is one key, so each script touches one
slot; the run_id compared is that of every master together (:func:`cluster_run_id`), so a
restart or failover of any of them rebuilds every owned partition. Not covered there: a
``FLUSHALL`` of a master that does not hold the marker's slot.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Set
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from schemas.errors import ServiceError
from schemas.keys import user_key
from schemas.recommendation import reco_key
from scorers import fallback
from scorers.surfaces import batch_answers
from stream_app.clock import wall_ms
from stream_app.redisconn import is_cluster_client
from stream_app.worker.pipeline import Pipeline
from stream_app.worker.sinks import stamp
from stream_app.worker.store import partition_of

__all__ = [
    "CHUNK",
    "MARKER_SUFFIX",
    "STATS",
    "Marker",
    "Ownership",
    "Rematerialiser",
    "cluster_run_id",
    "marker_key",
    "owned_users",
    "partition_of",
    "rebuild",
    "why_lost",
    "write_answers",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

MARKER_SUFFIX = "materialised"
CHUNK = 100
"""Users rebuilt per pipelined write, under one hold of ``pipeline.lock``: a rebuilt user's
view is rarely in the scorer's cache, so rescoring costs ~1.5-3 ms a user (not the 0.3-0.5 ms
of a streamed event), and 100 users stall the stream for at most ~0.3 s at a time."""
STATS = ("redis_lost", "redis_outages", "rebuilds", "rebuilt_users", "rebuild_ms")
"""Counters added to ``pipeline.stats``: losses detected, outages seen, rebuilds finished,
users and milliseconds of the last rebuild."""

NEW_EPOCH = """
if redis.call('HGET', KEYS[1], 'run_id') ~= ARGV[1] then
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[1], 'run_id', ARGV[1], 'epoch', ARGV[2])
end
return redis.call('HGETALL', KEYS[1])
"""
"""A new marker (run_id ARGV[1], epoch ARGV[2]) unless one of this run_id exists; the marker."""

MARK_DONE = """
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
    return 0
end
for i = 2, #ARGV do
    redis.call('HSET', KEYS[1], 'p' .. ARGV[i], ARGV[1])
end
return 1
"""
"""Mark partitions ARGV[2..] done in epoch ARGV[1] if it is still the marker's; 1 if marked."""


def marker_key(prefix: str) -> str:
    """The Redis key of the marker hash (never a user's: user keys end in a number).

    >>> marker_key("reco")
    'reco:materialised'
    """
    return f"{prefix}:{MARKER_SUFFIX}"


def owned_users(
    table_keys: Iterable[bytes], known: Iterable[int], active: Set[int], partitions: int
) -> list[int]:
    """Users (ascending) whose partition is in ``active``: keys of the state table (which may
    also hold standby partitions' data) and users known to the artifacts. Non-numeric keys are
    no users.

    >>> owned_users([b"1", b"42", b"x"], [206209, 2], {7}, 8), owned_users([b"1"], [], {0}, 8)
    ([1, 206209], [])
    """
    users = {int(k) for k in table_keys if k.isdigit()} | set(known)
    return sorted(u for u in users if partition_of(user_key(u), partitions) in active)


@dataclass(frozen=True)
class Marker:
    """The marker hash, parsed."""

    run_id: str
    epoch: str
    done: frozenset[int]
    """Partitions whose answers were all written in this epoch."""

    @classmethod
    def parse(cls, fields: Mapping[bytes, bytes]) -> Marker | None:
        """The marker of an ``HGETALL`` reply; None when missing or incomplete.

        >>> Marker.parse({b"run_id": b"r1", b"epoch": b"e", b"p0": b"e", b"p3": b"old"})
        Marker(run_id='r1', epoch='e', done=frozenset({0}))
        >>> Marker.parse({}) is None
        True
        """
        text = {k.decode(): v.decode() for k, v in fields.items()}
        if "run_id" not in text or "epoch" not in text:
            return None
        done = {
            int(name[1:])
            for name, epoch in text.items()
            if name[:1] == "p" and name[1:].isdigit() and epoch == text["epoch"]
        }
        return cls(text["run_id"], text["epoch"], frozenset(done))

    def lost(self, run_id: str) -> bool:
        """Whether Redis (now ``run_id``) may have lost answers since this marker was made."""
        return self.run_id != run_id

    def pending(self, owned: Set[int]) -> frozenset[int]:
        """The ``owned`` partitions whose answers are not all written in this epoch."""
        return frozenset(owned) - self.done


def why_lost(marker: Marker | None, run_id: str) -> str | None:
    """Why Redis lost or may have lost answers, None when it did not.

    >>> m = Marker("r1", "e", frozenset())
    >>> why_lost(None, "r1"), why_lost(m, "r2"), why_lost(m, "r1")
    ('marker missing', 'run_id changed (r1 -> r2)', None)
    """
    if marker is None:
        return "marker missing"
    if marker.lost(run_id):
        return f"run_id changed ({marker.run_id[:12]} -> {run_id[:12]})"
    return None


class Ownership:
    """The table partitions this worker actively owns, known from a completed recovery (Faust's
    ``on_rebalance_complete``) until the next revocation; None while unknown."""

    def __init__(self) -> None:
        self.partitions: frozenset[int] | None = None
        self.generation = 0
        """Bumped at every revocation: a rebuild that saw it change stops."""

    def revoke(self) -> None:
        """Partitions are being revoked: ownership unknown until the next recovery completes."""
        self.partitions = None
        self.generation += 1

    def settle(self, partitions: Iterable[int]) -> None:
        """Recovery completed: these partitions' state is in the table and ours to write."""
        self.partitions = frozenset(partitions)


async def rebuild(
    pipeline: Pipeline,
    table: MutableMapping[bytes, bytes],
    users: list[int],
    still_owned: Callable[[], bool],
    chunk: int = CHUNK,
    *,
    fading: bool = False,
) -> bool:
    """Write every user's current answer again, ``chunk`` users per write under
    ``pipeline.lock``, yielding between chunks so the stream is not stalled (``fading``: see
    :func:`write_answers`). False (stopped) when ``still_owned()`` turns false (a rebalance):
    the caller does not mark anything."""
    generation = pipeline.notes.generation
    for i in range(0, len(users), chunk):
        if not still_owned():
            return False
        async with pipeline.lock:
            await write_answers(pipeline, table, users[i : i + chunk], generation, fading)
        await asyncio.sleep(0)
    return True


async def write_answers(
    pipeline: Pipeline,
    table: MutableMapping[bytes, bytes],
    users: list[int],
    generation: int,
    fading: bool = False,
) -> None:
    """What the worker would write for ``users`` now, in one (fenced) write, on every surface:
    a user with state is ranked from it at its event time or, with ``fading`` (the
    fading-search timer runs), at the timer's time while the user's search fades (so it keeps
    fading); a user without state gets the batch answers ``stream-app build`` wrote (none if
    unknown)."""
    states = {u: pipeline.load(table, u) for u in users if user_key(u) in table}
    now_ms = {}
    if fading and len(pipeline.notes):  # the timer's "now" of users it still rescores
        now_ms = {
            u: t for u, t in pipeline.notes.due(wall_ms(), len(pipeline.notes)) if u in states
        }
    answers = pipeline.rank(states, now_ms)
    seeded = batch_answers(
        pipeline.artifacts,
        [u for u in users if u not in states],
        pipeline.surfaces,
        pipeline.k,
        pipeline.models,
    )
    for reco in seeded:
        assert reco.user_id is not None
        if reco.user_id not in states:
            states[reco.user_id] = pipeline.load(table, reco.user_id)  # the seed, for the notes
    await pipeline.write(answers + seeded, states, now_ms, generation=generation)


class Rematerialiser:
    """The timer's state: Redis client, marker, ownership and outage bookkeeping of one worker."""

    def __init__(
        self,
        pipeline: Pipeline,
        table: MutableMapping[bytes, bytes],
        client: aioredis.Redis | AsyncRedisCluster,
        *,
        prefix: str,
        partitions: int,
        ownership: Ownership,
        fading: bool = False,
        chunk: int = CHUNK,
    ) -> None:
        self.pipeline = pipeline
        self.table = table
        self.client = client
        self.prefix = prefix
        self.partitions = partitions
        self.ownership = ownership
        self.fading = fading
        """Whether the fading-search timer runs (see :func:`write_answers`)."""
        self.chunk = chunk
        self.down = False
        self.key = marker_key(prefix)
        self._new_epoch = client.register_script(NEW_EPOCH)
        self._mark_done = client.register_script(MARK_DONE)
        for name in STATS:
            pipeline.stats.setdefault(name, 0)

    @classmethod
    def from_url(
        cls, url: str, pipeline: Pipeline, table: MutableMapping[bytes, bytes], **kwargs: Any
    ) -> Rematerialiser:
        """One with its own connection to ``url``, whose calls give up after a few seconds: a
        Redis that does not answer is an outage to log, not a timer stuck forever. A call that
        meets a dead pooled connection (Redis restarted) is retried once on a new one, or the
        first check after every restart would report an outage that is already over."""
        from stream_app.redisconn import async_client

        client = async_client(
            url,
            socket_timeout=5.0,
            socket_connect_timeout=2.0,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
        return cls(pipeline, table, client, **kwargs)

    async def check(self) -> int | None:
        """One tick: if Redis lost or may have lost answers of partitions this worker owns,
        rebuild them; the number of users rebuilt, None when there was nothing to do (or
        Redis did not answer, or ownership is unsettled or changed meanwhile)."""
        try:
            run_id, fields = await self._probe()
            self._answering()
            owned, generation = self.ownership.partitions, self.ownership.generation
            if owned is None:
                return None
            marker = Marker.parse(fields)
            reason = why_lost(marker, run_id)
            if reason is not None:
                self.pipeline.stats["redis_lost"] += 1
                new = self._new_epoch(keys=[self.key], args=[run_id, uuid.uuid4().hex])
                flat = await _answered(new)  # a script's HGETALL: [field, value, ...]
                marker = Marker.parse(dict(zip(flat[::2], flat[1::2], strict=True)))
                log.warning(
                    "Redis lost or may have lost the answers under %s:* (%s): rebuilding them",
                    self.prefix,
                    reason,
                )
            if marker is None:  # flushed again between the two calls: next tick
                return None
            todo = marker.pending(owned)
            if not todo:
                return None
            return await self._rebuild(todo, marker.epoch, generation)
        except ServiceError as exc:
            self._unanswered(exc)
            return None

    async def _rebuild(self, todo: frozenset[int], epoch: str, generation: int) -> int | None:
        started = time.perf_counter()
        popular = stamp([fallback(self.pipeline.artifacts, self.pipeline.k)], wall_ms())[0]
        restored = await _answered(
            self.client.set(reco_key(None, self.prefix), popular.to_bytes(), nx=True)
        )
        users = owned_users(
            list(self.table.keys()), self.pipeline.artifacts.known_users(), todo, self.partitions
        )
        done = await rebuild(
            self.pipeline,
            self.table,
            users,
            lambda: self.ownership.generation == generation,
            self.chunk,
            fading=self.fading,
        )
        if not done:
            log.info("rebuild of %d partitions stopped by a rebalance; next tick", len(todo))
            return None
        marked = await _answered(self._mark_done(keys=[self.key], args=[epoch, *sorted(todo)]))
        ms = round((time.perf_counter() - started) * 1000)
        stats = self.pipeline.stats
        stats["rebuilds"] += 1
        stats["rebuilt_users"] = len(users)
        stats["rebuild_ms"] = ms
        log.warning(
            "rebuilt %d answers of partitions %s%s in %d ms (%.0f users/s)%s",
            len(users),
            sorted(todo),
            " and the fallback" if restored else "",
            ms,
            len(users) / max(ms, 1) * 1000,
            "" if marked else "; Redis lost them again meanwhile: next tick starts over",
        )
        return len(users)

    async def _probe(self) -> tuple[str, Mapping[bytes, bytes]]:
        """Redis's run_id and the marker's fields, in one round trip (on a cluster two, and
        the run_id is :func:`cluster_run_id` of every master's)."""
        if is_cluster_client(self.client):
            infos = await _answered(self.client.info("server", target_nodes=self.client.PRIMARIES))
            fields = await _answered(self.client.hgetall(self.key))
            return cluster_run_id(infos), fields
        pipe = self.client.pipeline(transaction=False)
        pipe.info("server")
        pipe.hgetall(self.key)
        info, fields = await _answered(pipe.execute())
        return str(info["run_id"]), fields

    def _answering(self) -> None:
        if self.down:
            self.down = False
            log.warning("Redis answers again; checking whether it lost answers")

    def _unanswered(self, exc: ServiceError) -> None:
        if not self.down:  # once per outage, not once per tick
            self.down = True
            self.pipeline.stats["redis_outages"] += 1
            log.warning("%s (logged once until it answers again)", exc)


def cluster_run_id(infos: Mapping[str, Mapping[str, Any]]) -> str:
    """One run_id for a cluster: its masters' run_ids, sorted and joined, so that a restart or
    a failover of any master changes it (``infos``: ``INFO server`` per node).

    >>> cluster_run_id({"b:2": {"run_id": "bb"}, "a:1": {"run_id": "aa"}})
    'aa,bb'
    """
    return ",".join(sorted(str(info["run_id"]) for info in infos.values()))


async def _answered(pending: Awaitable[T]) -> T:
    """``await pending``, a failure of Redis translated to :class:`ServiceError`."""
    try:
        return await pending
    except (RedisError, OSError) as exc:
        raise ServiceError(f"Redis did not answer the rebuild check: {exc}") from exc
