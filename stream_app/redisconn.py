"""Redis clients for a single Redis (the default) or a Redis Cluster, chosen by the URL.

``STREAM_APP_REDIS_URL=redis://HOST:PORT/DB`` is one Redis (``redis.Redis``);
``redis+cluster://HOST:PORT`` (or ``rediss+cluster://`` with TLS) is a Redis Cluster reached
through any of its nodes (redis-py's ``RedisCluster``, which learns the other nodes and the
slot map from it). A cluster has database 0 only: a ``/DB`` path other than ``/0`` is an error.

The key scheme is the same on both, and needs no hash tags: every script call and every
command touches ONE key (``reco:{user_id}`` via :func:`schemas.recommendation.reco_key`, the
fallback ``reco:fallback``, the rematerialise marker ``reco:materialised``), so each goes to
the slot of its key. The one read of two keys (a user's answer and the fallback) is an
``MGET`` on one Redis and, on a cluster, a non-transactional pipeline of two ``GET`` s (the keys
are in different slots; redis-py sends each to its node, in parallel on asyncio): hash-tagging
every answer with the fallback would put all answers in one slot, on one node.

>>> is_cluster_url("redis+cluster://localhost:17001"), is_cluster_url("redis://localhost:6379/0")
(True, False)
>>> plain_url("redis+cluster://localhost:17001/0"), plain_url("rediss+cluster://u:p@h:7000")
('redis://localhost:17001', 'rediss://u:p@h:7000')
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from schemas.errors import ConfigError

__all__ = [
    "CLUSTER_SCHEMES",
    "async_client",
    "cluster_url",
    "is_cluster_client",
    "is_cluster_url",
    "plain_url",
    "sync_client",
]

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""URL schemes naming a Redis Cluster, and the scheme redis-py is given for them."""


def is_cluster_url(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://`` / ``rediss+cluster://``)."""
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def plain_url(url: str) -> str:
    """The URL redis-py's ``RedisCluster.from_url`` takes for a cluster URL (no ``+cluster``,
    no database path); any other URL unchanged.

    >>> plain_url("redis://localhost:6379/3")
    'redis://localhost:6379/3'
    >>> plain_url("redis+cluster://localhost:17001/2")
    Traceback (most recent call last):
    ...
    schemas.errors.ConfigError: a Redis Cluster has database 0 only, got 'redis+cluster://localhost:17001/2'
    """
    parts = urlsplit(url)
    if parts.scheme not in CLUSTER_SCHEMES:
        return url
    if parts.path.strip("/") not in {"", "0"}:
        raise ConfigError(f"a Redis Cluster has database 0 only, got {url!r}")
    return urlunsplit(parts._replace(scheme=CLUSTER_SCHEMES[parts.scheme], path=""))


def cluster_url(host: str, port: int) -> str:
    """The URL of a local cluster reached through its node at ``host:port``.

    >>> cluster_url("localhost", 17001)
    'redis+cluster://localhost:17001'
    """
    return f"redis+cluster://{host}:{port}"


def sync_client(url: str, **kwargs: Any) -> Any:
    """A blocking client: ``redis.Redis`` or, for a cluster URL, ``redis.cluster.RedisCluster``
    (``retry``/``retry_on_error`` are dropped for a cluster, which retries on its own: a moved
    slot or a failed node refreshes its slot map)."""
    if is_cluster_url(url):
        from redis.cluster import RedisCluster

        return RedisCluster.from_url(plain_url(url), **_cluster_kwargs(kwargs))
    import redis

    return redis.Redis.from_url(url, **kwargs)


def async_client(url: str, **kwargs: Any) -> Any:
    """An asyncio client: ``redis.asyncio.Redis`` or ``redis.asyncio.cluster.RedisCluster``."""
    if is_cluster_url(url):
        from redis.asyncio.cluster import RedisCluster

        return RedisCluster.from_url(plain_url(url), **_cluster_kwargs(kwargs))
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(url, **kwargs)


def _cluster_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` without what a cluster client takes differently (see :func:`sync_client`).

    >>> _cluster_kwargs({"retry": 1, "retry_on_error": [], "socket_timeout": 5})
    {'socket_timeout': 5}
    """
    return {k: v for k, v in kwargs.items() if k not in {"retry", "retry_on_error"}}


def is_cluster_client(client: object) -> bool:
    """Whether ``client`` is a (blocking or asyncio) ``RedisCluster``."""
    from redis.asyncio.cluster import RedisCluster as AsyncCluster
    from redis.cluster import RedisCluster

    return isinstance(client, RedisCluster | AsyncCluster)
