"""Topic provisioning: input topics exist, co-partitioned, before any worker subscribes.

Faust does not create the topics an agent consumes, and a broker's auto-creation would give
them ``num.partitions`` each whenever a producer or consumer first asks: so the topics are
created up front with one partition count, and an existing topic with another count is an
error (co-partitioning by user id would silently break).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from schemas.errors import ConfigError, ServiceError

__all__ = ["ensure_topics", "topic_partitions"]


def _admin(bootstrap: str, timeout_s: float):
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        return KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="stream-app-topics",
            request_timeout_ms=int(timeout_s * 1000),
        )
    except KafkaError as exc:
        raise ServiceError(
            f"Kafka does not answer at {bootstrap} ({exc}); run `stream-app services up`"
        ) from exc


def topic_partitions(bootstrap: str, timeout_s: float = 10.0) -> dict[str, int]:
    """Partition count of every (non-internal) topic on the cluster."""
    from kafka.errors import KafkaError

    admin = _admin(bootstrap, timeout_s)
    try:
        names = [n for n in admin.list_topics() if not n.startswith("__")]
        if not names:
            return {}
        # kafka-python 3 names the topic "name", 2.x "topic"
        described = admin.describe_topics(names)
        return {t.get("name", t.get("topic")): len(t["partitions"]) for t in described}
    except KafkaError as exc:
        raise ServiceError(f"cannot list topics at {bootstrap}: {exc}") from exc
    finally:
        admin.close()


def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int,
    *,
    replication: int = 1,
    timeout_s: float = 30.0,
    configs: Mapping[str, str] | None = None,
) -> list[str]:
    """Create the missing topics with ``partitions`` partitions; return the created names.

    ``configs`` (e.g. ``Settings.topic_configs()``) are set on the topics created here; topics
    that already exist keep theirs.

    Raises :class:`ConfigError` if a topic exists with another partition count, and
    :class:`ServiceError` if Kafka cannot be reached. Returns once every topic is visible in
    the cluster metadata with the right partition count, so a consumer may subscribe at once.
    """
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    wanted = list(dict.fromkeys(names))
    if partitions < 1:
        raise ConfigError(f"partitions must be >= 1, got {partitions}")
    existing = topic_partitions(bootstrap, timeout_s)
    wrong = {n: existing[n] for n in wanted if n in existing and existing[n] != partitions}
    if wrong:
        listing = ", ".join(f"{n!r} has {p}" for n, p in sorted(wrong.items()))
        raise ConfigError(
            f"topics must have {partitions} partitions (co-partitioned inputs) but {listing}; "
            "delete them or set STREAM_APP_PARTITIONS to match"
        )
    missing = [n for n in wanted if n not in existing]
    created: list[str] = []
    if missing:
        admin = _admin(bootstrap, timeout_s)
        try:
            for name in missing:
                try:
                    admin.create_topics(
                        [NewTopic(name, partitions, replication, topic_configs=dict(configs or {}))]
                    )
                    created.append(name)
                except TopicAlreadyExistsError:
                    pass  # created concurrently (another worker or test); checked below
        except KafkaError as exc:
            raise ServiceError(f"cannot create topics {missing} at {bootstrap}: {exc}") from exc
        finally:
            admin.close()
    deadline = time.monotonic() + timeout_s
    while True:
        seen = topic_partitions(bootstrap, timeout_s)
        other = {n: seen[n] for n in wanted if seen.get(n, partitions) != partitions}
        if other:
            raise ConfigError(f"topics created concurrently with other partition counts: {other}")
        bad = [n for n in wanted if n not in seen]
        if not bad:
            return created
        if time.monotonic() > deadline:
            raise ServiceError(
                f"topics {bad} did not show up with {partitions} partitions within {timeout_s} s"
            )
        time.sleep(0.2)
