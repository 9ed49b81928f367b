"""One settings object, read once from the environment.

Nothing else in the project reads ``os.environ``: the CLI builds a :class:`Settings` with
:meth:`Settings.from_env` (command-line flags override it with :func:`dataclasses.replace`)
and passes plain values down. Every variable is ``STREAM_APP_`` + the field name in upper case,
e.g. ``STREAM_APP_REDIS_URL=redis://localhost:6380/0``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from schemas.errors import ConfigError

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "STREAM_APP_"


@dataclass(frozen=True)
class Settings:
    """Every knob of the worker, the services and the CLI, with its default."""

    # --- where things run ---------------------------------------------------------------
    kafka_bootstrap: str = "localhost:9092"
    """Kafka bootstrap servers, ``host:port[,host:port]``."""
    redis_url: str = "redis://localhost:6379/0"
    state_dir: Path = Path(".state")
    """Local data, logs and pid files of services started by ``stream-app services up``."""
    kafka_version: str = "4.1.1"
    """Apache Kafka release resolved from Maven Central (``kafka_2.13``)."""
    kafka_home: str = ""
    """An unpacked Kafka distribution whose ``libs/`` to use instead of Maven (``KAFKA_HOME``)."""
    service_timeout_s: float = 90.0
    kafka_controller_port: int = 0
    """KRaft controller port of the local broker; 0 means the broker port + 1 (9093)."""
    cache_dir: Path = Path("~/.cache/stream-app")
    """Downloaded Kafka jars (outside the repository, reused by later runs)."""

    # --- topics -------------------------------------------------------------------------
    topic_cart_adds: str = "cart-adds"
    topic_searches: str = "searches"
    topic_checkouts: str = "checkouts"
    topic_dead_letters: str = "dead-letters"
    partitions: int = 8
    """Partitions of every input topic (all co-partitioned, keyed by user id)."""
    topic_retention_ms: int = -1
    """``retention.ms`` of the topics stream-app creates; -1 keeps records until deleted.

    The topics stamp ``LogAppendTime``, so retention counts from when a record was published;
    topics created elsewhere with producer (``CreateTime``) timestamps carry the *event* time,
    and a replayed 2017 log there would be deleted at the broker's next retention check."""

    def topic_configs(self) -> dict[str, str]:
        """Configs of the topics stream-app creates (``ensure_topics(configs=...)``).

        ``LogAppendTime``: records carry the time the broker appended them, which is what
        tells the worker how far it has read every input partition
        (:mod:`stream_app.worker.frontier`);
        the event's own time is in its JSON."""
        return {
            "retention.ms": str(self.topic_retention_ms),
            "message.timestamp.type": "LogAppendTime",
        }

    # --- the worker ---------------------------------------------------------------------
    app_id: str = "stream-app"
    artifacts_dir: Path = Path(".state/artifacts")
    """Batch artifacts written by ``stream-app build`` and loaded by the worker."""
    model_path: Path | None = None
    """Re-ranker weights (``stream-app train``); None means the artifacts' model or defaults."""
    k: int = 10
    surfaces_path: Path | None = None
    """The surfaces declaration (``scorers/surfaces.toml`` form); None: the shipped one."""
    session_gap_ms: int = 60 * 60 * 1000
    """Inactivity after which a new session (and an empty basket) starts."""
    max_event_bytes: int = 16 * 1024
    batch_max: int = 2000
    """At most this many events are fetched, applied and rescored together (the consumer's
    ``max_poll_records``). A batch is what one fetch returns: the one event that just arrived
    on a quiet stream, up to this many under a backlog, where larger batches coalesce more
    events per rescore."""
    batch_within_s: float = 0.05
    """The batch window of the bench's minimal Faust floor (``take_events(batch_max,
    within=...)``); the worker has none: it takes what each fetch returns."""
    fetch_max_wait_ms: int = 100
    """How long the broker may hold a consumer fetch for partitions with no new data (Faust
    fixes 1500 ms; aiokafka sends one fetch per broker at a time, so a long-held fetch for idle
    partitions stalls busy ones: see :mod:`stream_app.worker.fetchguard`)."""
    decay_rescore_interval_s: float = 30.0
    """How often the timer rescores users whose search context has faded since their answer."""
    redis_check_interval_s: float = 1.0
    """How often the worker checks whether Redis lost its answers (a marker hash under the key
    prefix gone, or Redis's ``run_id`` changed: FLUSHDB, restart, failover, eviction) and then
    writes every answer it owns again, and the fallback (:mod:`stream_app.worker.rematerialise`);
    so a
    rebuild starts at most this long after Redis answers again. 0 = off."""
    reco_prefix: str = "reco"
    table_store: str = "rocksdb"
    """Where a worker keeps the state table: ``rocksdb`` (on local disk under ``state_dir``, one
    database per partition; a restart reads back only the changelog's tail) or ``memory``
    (every restart reads the whole changelog; for tests and small stores)."""
    rocksdb_block_cache_mb: int = 32
    """RocksDB block cache per partition database (the hot shoppers' states)."""
    rocksdb_write_buffer_mb: int = 16
    """RocksDB memtable size per partition database (two per database at most)."""
    standby_replicas: int = 1
    """Standby copies of each table partition, kept up to date by other workers from the
    changelog, so a partition moving to one of them after a crash needs no full recovery."""
    reorder_hold_ms: int = 2_000
    """How much later (Kafka append time) a producer may publish an event than a later-stamped
    event of the same user and still have it applied in event-time order. Consumer lag, restarts
    and broker outages need no allowance: held events settle only once every input partition
    has been read past them (:mod:`features.reorder`)."""
    session_timeout_s: float = 10.0
    """Consumer group session timeout: how long a worker that stopped heartbeating (killed, hung)
    keeps its partitions before the group gives them to others. Faust's default is 60 s."""
    heartbeat_interval_s: float = 1.0
    rebalance_timeout_s: float = 30.0
    """How long the group waits for members to rejoin during a rebalance."""
    group_instance_id: str = "auto"
    """Static group membership (KIP-345): a worker restarted under the same id gets its
    partitions back at once, without a rebalance or waiting out the session of the killed one.
    ``auto`` = ``{app_id}@{host}:{web_port}`` (stable across restarts, distinct for workers on
    one host, which need distinct web ports); an empty value turns static membership off. Two
    running workers must never share an id (the newer fences the older out)."""
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    log_level: str = "info"

    def isolated(self, run: str, artifacts_dir: Path) -> Settings:
        """These settings on a namespace of ``run``'s own (app id = consumer group, Redis key
        prefix, the four topics) with its artifacts, and the fading-search timer off so that
        answers depend on the events only: for benches and chaos runs beside real traffic.

        >>> s = Settings().isolated("bench-x", Path("a"))
        >>> s.app_id, s.reco_prefix, s.topic_dead_letters, s.decay_rescore_interval_s
        ('bench-x', 'bench-x', 'bench-x-dead-letters', 0.0)
        """
        from dataclasses import replace

        return replace(
            self,
            app_id=run,
            reco_prefix=run,
            artifacts_dir=artifacts_dir,
            topic_cart_adds=f"{run}-cart-adds",
            topic_searches=f"{run}-searches",
            topic_checkouts=f"{run}-checkouts",
            topic_dead_letters=f"{run}-dead-letters",
            decay_rescore_interval_s=0.0,
        )

    def input_topics(self) -> list[str]:
        """The three co-partitioned input topics, in the order cart adds, searches, checkouts.

        >>> Settings().input_topics()
        ['cart-adds', 'searches', 'checkouts']
        """
        return [self.topic_cart_adds, self.topic_searches, self.topic_checkouts]

    def topic_for(self, event_type: str) -> str:
        """The input topic of an event type (``cart_add``, ``search``, ``checkout``).

        >>> Settings().topic_for("search")
        'searches'
        """
        return dict(zip(("cart_add", "search", "checkout"), self.input_topics(), strict=True))[
            event_type
        ]

    def provisioned_topics(self) -> list[str]:
        """What ``stream-app services up`` and a worker create: the inputs and the dead letters,
        all co-partitioned."""
        return [*self.input_topics(), self.topic_dead_letters]

    def instance_id(self) -> str | None:
        """The consumer's ``group.instance.id`` (None: dynamic membership).

        >>> Settings(app_id="a", web_port=7000).instance_id().endswith(":7000")
        True
        >>> Settings(group_instance_id="").instance_id() is None
        True
        """
        if not self.group_instance_id:
            return None
        if self.group_instance_id == "auto":
            import socket

            return f"{self.app_id}@{socket.gethostname()}:{self.web_port}"
        return self.group_instance_id

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``STREAM_APP_*`` variables (and ``KAFKA_HOME``).

        >>> Settings.from_env({"STREAM_APP_PARTITIONS": "4"}).partitions
        4
        >>> Settings.from_env({"STREAM_APP_K": "ten"})
        Traceback (most recent call last):
        ...
        schemas.errors.ConfigError: STREAM_APP_K='ten' is not a valid int
        >>> Settings.from_env({"STREAM_APP_REDIS_URL": "localhost:6379"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        schemas.errors.ConfigError: STREAM_APP_REDIS_URL='localhost:6379' is not a Redis URL: ...
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            name = ENV_PREFIX + f.name.upper()
            raw = env.get(name)
            if raw is None and f.name == "kafka_home":
                raw = env.get("KAFKA_HOME")
            if raw is None:
                continue
            values[f.name] = _parse(name, raw, f.default)
        store = values.get("table_store")
        if store is not None and store not in ("rocksdb", "memory"):
            raise ConfigError(
                f"{ENV_PREFIX}TABLE_STORE={store!r} is not a table store: "
                "expected rocksdb or memory"
            )
        url = values.get("redis_url")
        if isinstance(url, str) and not url.startswith(
            ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
        ):
            raise ConfigError(
                f"{ENV_PREFIX}REDIS_URL={url!r} is not a Redis URL: expected "
                "redis://HOST:PORT/DB (or rediss://..., unix://..., redis+cluster://HOST:PORT "
                "for a Redis Cluster)"
            )
        return cls(**values)  # type: ignore[arg-type]


def _parse(name: str, raw: str, default: object) -> object:
    kind = type(default)
    try:
        if default is None or isinstance(default, Path):
            return Path(raw) if raw else None
        if kind is bool:
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        return kind(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}") from exc
