"""Reading answers: the user's own, or the fallback, with its age, in ONE Redis round trip.

A read never computes anything: it is one ``MGET reco:{user} reco:fallback`` and the first
present value wins (on a Redis Cluster, ``redis+cluster://``, the two keys are in different
slots: one non-transactional pipeline of two ``GET`` s, see :mod:`stream_app.redisconn`).
A read of another surface (``get(user, "basket")``) reads ``reco:{user}:basket`` the same way,
with the same fallback; a surface that is not declared (:mod:`scorers.surfaces`) is an
:class:`InvalidEvent` ``unknown_surface``, never a silent fallback.
:class:`Reader` is the blocking variant (CLI, scripts), :class:`AsyncReader` the asyncio one
(the worker's web endpoint, async services).

>>> parse_user_id("42")
42
>>> parse_user_id("-1")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
schemas.errors.InvalidEvent: bad_user_id: user id must be an integer from 1 to ..., got '-1'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.exceptions import RedisError

from schemas.errors import InvalidData, InvalidEvent, ServiceError
from schemas.events import MAX_USER_ID
from schemas.recommendation import DEFAULT_SURFACE, Recommendation, reco_key
from stream_app.clock import wall_ms
from stream_app.redisconn import async_client, is_cluster_client, sync_client

log = logging.getLogger(__name__)

__all__ = [
    "AsyncReader",
    "Reader",
    "Served",
    "choose",
    "parse_user_id",
    "read_keys",
    "redacted",
    "surface_names",
    "unreachable",
]

_USER_ID_TEXT = re.compile(rf"[0-9]{{1,{len(str(MAX_USER_ID))}}}")
"""ASCII digits only (``str.isdigit`` also takes '²' and '٤٢'), no sign, no surrounding spaces."""


def parse_user_id(text: str) -> int:
    """A user id from text (URL, command line); :class:`InvalidEvent` ``bad_user_id``.

    Only ASCII digits, between 1 and :data:`schemas.events.MAX_USER_ID` (the ids intake accepts).
    """
    if _USER_ID_TEXT.fullmatch(text) is None or not 0 < int(text) <= MAX_USER_ID:
        raise InvalidEvent(
            "bad_user_id",
            f"user id must be an integer from 1 to {MAX_USER_ID}, got {text!r}"[:120],
        )
    return int(text)


@dataclass(frozen=True, slots=True)
class Served:
    """An answer as served: the recommendation, how old it is, and whether it is the fallback."""

    recommendation: Recommendation
    age_ms: int
    is_fallback: bool
    user_id: int
    surface: str = DEFAULT_SURFACE

    def to_dict(self, names: Mapping[int, str] | Callable[[int], str] | None = None) -> dict:
        """JSON-ready dict; with ``names`` each item also carries the product name."""
        reco = self.recommendation
        lookup = names.get if isinstance(names, Mapping) else names
        items: list[dict[str, Any]] = []
        for item in reco.items:
            row: dict[str, Any] = {
                "product_id": item.product_id,
                "score": round(float(item.score), 4),
                "reason": item.reason,
            }
            if lookup is not None:
                row["name"] = lookup(item.product_id)
            items.append(row)
        return {
            "user_id": self.user_id,
            "surface": self.surface,
            "source": reco.source,
            "fallback": self.is_fallback,
            "model": reco.model,
            "updated_at": reco.updated_at,
            "event_ts": reco.event_ts,
            "age_ms": self.age_ms,
            "items": items,
        }


def choose(
    user_id: int, values: list[bytes | None], now_ms: int, surface: str = DEFAULT_SURFACE
) -> Served:
    """Pick the user's own answer of ``surface``, else the fallback, from ``MGET`` results.

    An own answer that cannot be parsed (corrupt, written by something else) is logged and
    the fallback is served instead: a read is best effort and never a 500.
    :class:`ServiceError` when there is nothing to serve (``stream-app build`` has not run, or
    the fallback itself is unreadable).
    """
    own, fallback = values
    if own is not None:
        try:
            reco = Recommendation.from_bytes(own)
        except InvalidData as exc:
            log.warning(
                "user %d: stored answer is unreadable (%s); serving the fallback", user_id, exc
            )
        else:
            return Served(reco, max(0, now_ms - reco.updated_at), False, user_id, surface)
    if fallback is None:
        raise ServiceError(
            f"no answer for user {user_id} and no fallback in Redis; run `stream-app build`"
        )
    try:
        reco = Recommendation.from_bytes(fallback)
    except InvalidData as exc:
        raise ServiceError(
            f"the fallback in Redis is unreadable ({exc}); run `stream-app build`"
        ) from exc
    return Served(reco, max(0, now_ms - reco.updated_at), True, user_id, surface)


def surface_names(path: Path | None = None) -> frozenset[str]:
    """The names of the declared surfaces (:func:`scorers.surfaces.load_surfaces` of ``path``).

    >>> sorted(surface_names())
    ['basket', 'buy_again', 'default', 'search']
    """
    from scorers.surfaces import load_surfaces

    return frozenset(s.name for s in load_surfaces(path))


def read_keys(
    user_id: int, prefix: str, surface: str, surfaces: Collection[str]
) -> tuple[str, str]:
    """The keys a read of ``surface`` fetches: the user's answer, then the fallback;
    :class:`InvalidEvent` ``unknown_surface`` when ``surface`` is not one of ``surfaces``.

    >>> read_keys(7, "reco", "basket", {"default", "basket"})
    ('reco:7:basket', 'reco:fallback')
    >>> read_keys(7, "reco", "nope", {"default", "basket"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidEvent: unknown_surface: unknown surface 'nope'; known: basket, default
    """
    if surface not in surfaces:
        raise InvalidEvent(
            "unknown_surface",
            f"unknown surface {surface[:40]!r}; known: {', '.join(sorted(surfaces))}",
        )
    return reco_key(user_id, prefix, surface), reco_key(None, prefix)


class Reader:
    """Blocking reader: ``Reader.from_url(url).get(user_id[, surface]) -> Served``."""

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        prefix: str = "reco",
        surfaces: Collection[str] | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.cluster = is_cluster_client(client)
        self.surfaces = frozenset(surface_names() if surfaces is None else surfaces)
        """The surfaces it reads (None: the shipped declaration's)."""

    @classmethod
    def from_url(
        cls, url: str, prefix: str = "reco", surfaces: Collection[str] | None = None
    ) -> Reader:
        """A reader with its own connection pool."""
        return cls(sync_client(url), prefix, surfaces)

    def get(self, user_id: int, surface: str = DEFAULT_SURFACE) -> Served:
        """The user's answer of ``surface`` or the fallback, in one round trip."""
        keys = read_keys(user_id, self.prefix, surface, self.surfaces)
        try:
            if self.cluster:
                pipe = self.client.pipeline(transaction=False)
                for key in keys:
                    pipe.get(key)
                values = pipe.execute()
            else:
                values = self.client.mget(keys)
        except (RedisError, OSError) as exc:
            raise ServiceError(f"reading {keys[0]} from Redis failed: {exc}") from exc
        return choose(user_id, values, wall_ms(), surface)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


class AsyncReader:
    """Asyncio reader: ``await AsyncReader.from_url(url).get(user_id[, surface]) -> Served``."""

    def __init__(
        self,
        client: aioredis.Redis | AsyncRedisCluster,
        prefix: str = "reco",
        surfaces: Collection[str] | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.cluster = is_cluster_client(client)
        self.surfaces = frozenset(surface_names() if surfaces is None else surfaces)
        """The surfaces it reads (None: the shipped declaration's)."""

    @classmethod
    def from_url(
        cls, url: str, prefix: str = "reco", surfaces: Collection[str] | None = None
    ) -> AsyncReader:
        """A reader with its own connection pool."""
        return cls(async_client(url), prefix, surfaces)

    async def get(self, user_id: int, surface: str = DEFAULT_SURFACE) -> Served:
        """The user's answer of ``surface`` or the fallback, in one round trip."""
        keys = read_keys(user_id, self.prefix, surface, self.surfaces)
        try:
            if self.cluster:
                pipe = self.client.pipeline(transaction=False)
                for key in keys:
                    pipe.get(key)
                values = await pipe.execute()
            else:
                values = await self.client.mget(keys)
        except (RedisError, OSError) as exc:
            raise ServiceError(f"reading {keys[0]} from Redis failed: {exc}") from exc
        return choose(user_id, values, wall_ms(), surface)

    async def close(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()


def redacted(url: str) -> str:
    """A Redis URL fit for a message: any password replaced by ``***``.

    >>> redacted("redis://localhost:6379/0")
    'redis://localhost:6379/0'
    >>> redacted("redis://user:secret@cache:6380/1")
    'redis://user:***@cache:6380/1'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def unreachable(url: str, cause: BaseException) -> str:
    """The one-line message for a Redis that does not answer, with what to do about it.

    >>> msg = unreachable("redis://localhost:1/0", ConnectionError("Connection\\nrefused."))
    >>> msg.split(";")[0]
    'Redis does not answer at redis://localhost:1/0 (Connection refused.)'
    """
    why = " ".join(str(cause).split()) or type(cause).__name__
    return (
        f"Redis does not answer at {redacted(url)} ({why}); start the services with "
        "`.venv/bin/stream-app services up` or check STREAM_APP_REDIS_URL"
    )
